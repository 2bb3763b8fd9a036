/* MADT parsing: the CPUs (local APIC and x2APIC entries), IOAPICs, interrupt source overrides and the local APIC
 * address. Entries are variable-length records that firmware gets wrong in practice, so each one is framed against
 * the table's length before anything in it is read, and a record too short for its type is skipped. */
#include "drivers/acpi_internal.h"
#include "hv/errno.h"
#include "hv/log.h"
#include "hv/string.h"

#define MADT_HDR_LEN 44 /* acpi_header, u32 local APIC address, u32 flags */

enum madt_type {
	MADT_LAPIC = 0,
	MADT_IOAPIC = 1,
	MADT_ISO = 2,
	MADT_LAPIC_NMI = 4,
	MADT_LAPIC_OVERRIDE = 5,
	MADT_X2APIC = 9,
	MADT_X2APIC_NMI = 0xa,
};

/* Smallest valid record of each type we read; longer ones (later spec revisions) are fine. */
static const u8 madt_min_len[] = {
    [MADT_LAPIC] = 8,		[MADT_IOAPIC] = 12, [MADT_ISO] = 10,	    [MADT_LAPIC_NMI] = 6,
    [MADT_LAPIC_OVERRIDE] = 12, [MADT_X2APIC] = 16, [MADT_X2APIC_NMI] = 12,
};

#define LAPIC_ENABLED	     BIT(0)
#define LAPIC_ONLINE_CAPABLE BIT(1)

static void add_cpu(struct acpi_madt_info *out, u32 apic_id, u32 uid, u32 flags, bool x2apic)
{
	struct acpi_madt_cpu *cpu;

	if (!(flags & (LAPIC_ENABLED | LAPIC_ONLINE_CAPABLE))) {
		out->nr_cpus_unusable++;
		return;
	}
	for (u32 i = 0; i < out->nr_cpus; i++) {
		if (out->cpus[i].apic_id == apic_id) {
			pr_warn("ACPI: MADT lists APIC ID %#x twice, the second (UID %u) is ignored\n", apic_id, uid);
			return;
		}
	}
	if (out->nr_cpus == ACPI_MAX_CPUS) {
		out->nr_cpus_dropped++;
		return;
	}
	cpu = &out->cpus[out->nr_cpus++];
	cpu->apic_id = apic_id;
	cpu->acpi_uid = uid;
	cpu->enabled = flags & LAPIC_ENABLED;
	cpu->online_capable = flags & LAPIC_ONLINE_CAPABLE;
	cpu->x2apic = x2apic;
}

static void parse_entry(struct acpi_madt_info *out, u8 type, const u8 *e)
{
	switch (type) {
	case MADT_LAPIC:
		add_cpu(out, e[3], e[2], acpi_rd32(e + 4), false);
		break;
	case MADT_X2APIC:
		add_cpu(out, acpi_rd32(e + 4), acpi_rd32(e + 12), acpi_rd32(e + 8), true);
		break;
	case MADT_IOAPIC:
		if (out->nr_ioapics == ACPI_MAX_IOAPICS) {
			pr_warn("ACPI: MADT: more than %u IOAPICs, IOAPIC %u ignored\n", ACPI_MAX_IOAPICS, e[2]);
			break;
		}
		out->ioapics[out->nr_ioapics++] = (struct acpi_madt_ioapic){
		    .id = e[2],
		    .address = acpi_rd32(e + 4),
		    .gsi_base = acpi_rd32(e + 8),
		};
		break;
	case MADT_ISO:
		if (out->nr_isos == ACPI_MAX_ISOS) {
			pr_warn("ACPI: MADT: more than %u interrupt overrides, IRQ %u ignored\n", ACPI_MAX_ISOS, e[3]);
			break;
		}
		out->isos[out->nr_isos++] = (struct acpi_madt_iso){
		    .bus = e[2],
		    .source_irq = e[3],
		    .gsi = acpi_rd32(e + 4),
		    .flags = acpi_rd16(e + 8),
		};
		break;
	case MADT_LAPIC_NMI:
	case MADT_X2APIC_NMI:
		out->nr_lapic_nmis++;
		break;
	case MADT_LAPIC_OVERRIDE:
		out->lapic_base = acpi_rd64(e + 4);
		break;
	}
}

int acpi_parse_madt(struct acpi_madt_info *out)
{
	const struct acpi_header *h;
	const u8 *t;
	u32 len, off, n;

	memset(out, 0, sizeof(*out));
	h = acpi_find_table(ACPI_SIG_MADT, 0);
	if (!h)
		return -ENOENT;
	t = (const u8 *)h;
	len = h->length;
	if (len < MADT_HDR_LEN) {
		pr_warn("ACPI: MADT is %u bytes, too short\n", len);
		return -EINVAL;
	}
	out->lapic_base = acpi_rd32(t + 36);
	out->flags = acpi_rd32(t + 40);

	for (off = MADT_HDR_LEN, n = 0; off < len; off += t[off + 1], n++) {
		u8 type, elen;

		/* Entries are at least 2 bytes, so the walk ends anyway; the cap bounds the time spent on garbage. */
		if (n == ACPI_MAX_MADT_ENTRIES) {
			pr_warn("ACPI: MADT has more than %u entries, the rest are ignored\n", ACPI_MAX_MADT_ENTRIES);
			break;
		}
		if (len - off < 2) {
			pr_warn("ACPI: MADT entry at offset %u is truncated, parsing stopped\n", off);
			break;
		}
		type = t[off];
		elen = t[off + 1];
		if (elen < 2 || elen > len - off) {
			pr_warn("ACPI: MADT entry at offset %u (type %u) has bad length %u, parsing stopped\n", off,
				type, elen);
			break;
		}
		if (type < ARRAY_SIZE(madt_min_len) && madt_min_len[type]) {
			if (elen < madt_min_len[type])
				pr_warn("ACPI: MADT entry at offset %u (type %u) is %u bytes, too short, skipped\n",
					off, type, elen);
			else
				parse_entry(out, type, t + off);
		}
	}

	if (out->nr_cpus_dropped)
		pr_warn("ACPI: MADT lists %u usable CPUs, only the first %u are used\n",
			out->nr_cpus + out->nr_cpus_dropped, ACPI_MAX_CPUS);
	return 0;
}
