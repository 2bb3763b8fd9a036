/* ACPI root: RSDP validation, the root table (XSDT or RSDT), and checked lookup of the tables it lists. The MADT and
 * FADT/DSDT parsers (acpi_madt.c, acpi_fadt.c) reach their tables only through acpi_find_table/acpi_map_table, so
 * every table they see has passed the signature, length and checksum checks here. */
#include "drivers/acpi_internal.h"
#include "hv/errno.h"
#include "hv/log.h"
#include "hv/platform.h"
#include "hv/string.h"

/* No x86 CPU addresses more; a table "above" this is garbage, and the limit keeps pa + length from wrapping. */
#define ACPI_MAX_PHYS (1ULL << 52)

#define RSDP_V1_LEN 20

/* Written once by acpi_init at boot (single CPU, before any other user); read-only afterwards, except for the
 * warned-once bitmap, which only ever gains bits. */
static struct acpi_state {
	u64 root_pa;			      /* validated XSDT or RSDT, 0 before acpi_init succeeds */
	bool root_is_xsdt;		      /* entries are u64, not u32 */
	u32 nr_entries;			      /* capped at ACPI_MAX_ROOT_ENTRIES */
	u8 warned[ACPI_MAX_ROOT_ENTRIES / 8]; /* root entries already reported invalid */
} acpi;

static u8 checksum(const u8 *p, size_t len)
{
	u8 sum = 0;

	while (len--)
		sum += *p++;
	return sum;
}

void acpi_reset(void)
{
	memset(&acpi, 0, sizeof(acpi));
}

const struct acpi_header *acpi_check_table(u64 pa, const char *sig, const char **why)
{
	const struct acpi_header *h;
	u32 len;

	if (!pa || pa > ACPI_MAX_PHYS - sizeof(*h) || !phys_range_mapped(pa, sizeof(*h))) {
		*why = "bad address";
		return NULL;
	}
	h = phys_to_virt(pa);
	if (sig && memcmp(h->signature, sig, 4) != 0) {
		*why = "wrong signature";
		return NULL;
	}
	len = h->length;
	if (len < sizeof(*h) || len > ACPI_MAX_TABLE_LEN || pa + len > ACPI_MAX_PHYS || !phys_range_mapped(pa, len)) {
		*why = "bad length";
		return NULL;
	}
	if (checksum((const u8 *)h, len) != 0) {
		*why = "bad checksum";
		return NULL;
	}
	return h;
}

const struct acpi_header *acpi_map_table(u64 pa, const char *sig)
{
	const struct acpi_header *h;
	const char *why;

	h = acpi_check_table(pa, sig, &why);
	if (!h)
		pr_warn("ACPI: %.4s table at %#llx: %s, ignored\n", sig ? sig : "", (unsigned long long)pa, why);
	return h;
}

static int set_root(u64 pa, bool xsdt)
{
	const char *sig = xsdt ? ACPI_SIG_XSDT : ACPI_SIG_RSDT;
	const struct acpi_header *h = acpi_map_table(pa, sig);
	u32 n;

	if (!h)
		return -EINVAL;
	n = (h->length - (u32)sizeof(*h)) / (xsdt ? 8 : 4);
	if (n > ACPI_MAX_ROOT_ENTRIES) {
		pr_warn("ACPI: %s lists %u tables, only the first %u are used\n", sig, n, ACPI_MAX_ROOT_ENTRIES);
		n = ACPI_MAX_ROOT_ENTRIES;
	}
	acpi.root_pa = pa;
	acpi.root_is_xsdt = xsdt;
	acpi.nr_entries = n;
	return 0;
}

int acpi_init(const u8 *rsdp, size_t len)
{
	u64 xsdt = 0;
	u32 rsdt;

	acpi_reset();
	if (!rsdp || len < RSDP_V1_LEN || memcmp(rsdp, ACPI_SIG_RSDP, 8) != 0) {
		pr_warn("ACPI: no RSDP signature\n");
		return -EINVAL;
	}
	if (checksum(rsdp, RSDP_V1_LEN) != 0) {
		pr_warn("ACPI: RSDP checksum is bad\n");
		return -EINVAL;
	}
	rsdt = acpi_rd32(rsdp + offsetof(struct acpi_rsdp, rsdt_address));

	if (rsdp[offsetof(struct acpi_rsdp, revision)] >= 2) {
		u32 xlen = len >= sizeof(struct acpi_rsdp) ? acpi_rd32(rsdp + offsetof(struct acpi_rsdp, length)) : 0;

		/* A broken extension loses only the XSDT: the ACPI 1.0 part has been verified on its own. */
		if (xlen < sizeof(struct acpi_rsdp) || xlen > len)
			pr_warn("ACPI: RSDP v2 length %u is bad, using the RSDT\n", xlen);
		else if (checksum(rsdp, xlen) != 0)
			pr_warn("ACPI: RSDP extended checksum is bad, using the RSDT\n");
		else
			xsdt = acpi_rd64(rsdp + offsetof(struct acpi_rsdp, xsdt_address));
	}

	if (xsdt && set_root(xsdt, true) == 0)
		return 0;
	if (rsdt && set_root(rsdt, false) == 0)
		return 0;
	pr_warn("ACPI: no valid RSDT or XSDT\n");
	return -ENOENT;
}

static u64 root_entry(u32 i)
{
	const u8 *e = (const u8 *)phys_to_virt(acpi.root_pa) + sizeof(struct acpi_header);

	return acpi.root_is_xsdt ? acpi_rd64(e + 8 * i) : acpi_rd32(e + 4 * i);
}

const struct acpi_header *acpi_find_table(const char sig[4], unsigned int instance)
{
	if (!acpi.root_pa)
		return NULL;

	for (u32 i = 0; i < acpi.nr_entries; i++) {
		u64 pa = root_entry(i);
		const struct acpi_header *h;
		const char *why;

		/* Match the signature before judging the table, so one broken table is not blamed on every lookup. */
		if (!pa || pa > ACPI_MAX_PHYS - sizeof(*h) || !phys_range_mapped(pa, sizeof(*h)))
			continue;
		if (memcmp(((const struct acpi_header *)phys_to_virt(pa))->signature, sig, 4) != 0)
			continue;
		h = acpi_check_table(pa, sig, &why);
		if (!h) {
			if (!(acpi.warned[i / 8] & (1u << (i % 8)))) {
				acpi.warned[i / 8] |= (u8)(1u << (i % 8));
				pr_warn("ACPI: %.4s at %#llx: %s, skipped\n", sig, (unsigned long long)pa, why);
			}
			continue;
		}
		if (instance-- == 0)
			return h;
	}
	return NULL;
}
