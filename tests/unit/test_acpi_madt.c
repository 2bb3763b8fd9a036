/* Unit tests of the MADT parser (drivers/acpi_madt.c): CPUs, x2APICs, IOAPICs and overrides from tables built entry
 * by entry, then broken the ways firmware breaks them: disabled and duplicate CPUs, too many of everything,
 * truncated and zero-length entries. */
#include <string.h>

#include "acpi_fixture.h"

struct madt_buf {
	u8 b[4096];
	size_t len;
};

static void madt_start(struct madt_buf *m, u32 lapic, u32 flags)
{
	m->len = 8;
	memcpy(m->b, &lapic, 4);
	memcpy(m->b + 4, &flags, 4);
}

static void madt_raw(struct madt_buf *m, const void *e, size_t len)
{
	CHECK(m->len + len <= sizeof(m->b));
	memcpy(m->b + m->len, e, len);
	m->len += len;
}

static void madt_lapic(struct madt_buf *m, u8 uid, u8 apic_id, u32 flags)
{
	u8 e[8] = {0, 8, uid, apic_id};
	memcpy(e + 4, &flags, 4);
	madt_raw(m, e, sizeof(e));
}

static void madt_x2apic(struct madt_buf *m, u32 x2apic_id, u32 flags, u32 uid)
{
	u8 e[16] = {9, 16};
	memcpy(e + 4, &x2apic_id, 4);
	memcpy(e + 8, &flags, 4);
	memcpy(e + 12, &uid, 4);
	madt_raw(m, e, sizeof(e));
}

static void madt_ioapic(struct madt_buf *m, u8 id, u32 addr, u32 gsi_base)
{
	u8 e[12] = {1, 12, id};
	memcpy(e + 4, &addr, 4);
	memcpy(e + 8, &gsi_base, 4);
	madt_raw(m, e, sizeof(e));
}

static void madt_iso(struct madt_buf *m, u8 irq, u32 gsi, u16 flags)
{
	u8 e[10] = {2, 10, 0, irq};
	memcpy(e + 4, &gsi, 4);
	memcpy(e + 8, &flags, 2);
	madt_raw(m, e, sizeof(e));
}

static void madt_lapic_override(struct madt_buf *m, u64 addr)
{
	u8 e[12] = {5, 12};
	memcpy(e + 4, &addr, 8);
	madt_raw(m, e, sizeof(e));
}

static void init_with_madt(const struct madt_buf *m)
{
	u64 t = put_table(ACPI_SIG_MADT, 5, m->b, m->len);
	init_with(&t, 1);
}

/* ---- MADT ---- */

TEST(acpi_madt_basic)
{
	struct madt_buf m;
	struct acpi_madt_info info;

	setup();
	madt_start(&m, 0xfee00000, ACPI_MADT_PCAT_COMPAT);
	madt_lapic(&m, 0, 0, 1);
	madt_lapic(&m, 1, 2, 1);
	madt_ioapic(&m, 4, 0xfec00000, 0);
	madt_iso(&m, 0, 2, 0);
	madt_iso(&m, 9, 9, 0xd);
	madt_raw(&m, (u8[]){4, 6, 0xff, 5, 0, 1}, 6);				     /* LAPIC NMI */
	madt_raw(&m, (u8[]){0x7f, 4, 0xaa, 0xbb}, 4);				     /* unknown type: ignored */
	madt_raw(&m, (u8[]){0xa, 12, 0, 0, 0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0}, 12); /* x2APIC NMI */
	init_with_madt(&m);

	CHECK_EQ(acpi_parse_madt(&info), 0);
	CHECK_EQ(info.lapic_base, 0xfee00000);
	CHECK_EQ(info.flags, ACPI_MADT_PCAT_COMPAT);
	CHECK_EQ(info.nr_cpus, 2);
	CHECK_EQ(info.cpus[1].apic_id, 2);
	CHECK_EQ(info.cpus[1].acpi_uid, 1);
	CHECK(info.cpus[1].enabled && !info.cpus[1].online_capable && !info.cpus[1].x2apic);
	CHECK_EQ(info.nr_ioapics, 1);
	CHECK_EQ(info.ioapics[0].id, 4);
	CHECK_EQ(info.ioapics[0].address, 0xfec00000);
	CHECK_EQ(info.ioapics[0].gsi_base, 0);
	CHECK_EQ(info.nr_isos, 2);
	CHECK_EQ(info.isos[0].source_irq, 0);
	CHECK_EQ(info.isos[0].gsi, 2);
	CHECK_EQ(info.isos[1].source_irq, 9);
	CHECK_EQ(info.isos[1].flags, 0xd);
	CHECK_EQ(info.nr_lapic_nmis, 2);
}

TEST(acpi_madt_x2apic_and_override)
{
	struct madt_buf m;
	struct acpi_madt_info info;

	setup();
	madt_start(&m, 0xfee00000, 0);
	madt_lapic(&m, 0, 0, 1);
	madt_x2apic(&m, 0x100, 1, 7);
	madt_x2apic(&m, 0x12345678, 2, 8);
	madt_lapic_override(&m, 0x1fee00000ULL);
	init_with_madt(&m);

	CHECK_EQ(acpi_parse_madt(&info), 0);
	CHECK_EQ(info.lapic_base, 0x1fee00000ULL);
	CHECK_EQ(info.nr_cpus, 3);
	CHECK(!info.cpus[0].x2apic);
	CHECK_EQ(info.cpus[1].apic_id, 0x100);
	CHECK_EQ(info.cpus[1].acpi_uid, 7);
	CHECK(info.cpus[1].x2apic && info.cpus[1].enabled);
	CHECK_EQ(info.cpus[2].apic_id, 0x12345678);
	CHECK(info.cpus[2].x2apic && !info.cpus[2].enabled && info.cpus[2].online_capable);
}

TEST(acpi_madt_disabled_cpus)
{
	struct madt_buf m;
	struct acpi_madt_info info;

	setup();
	madt_start(&m, 0xfee00000, 0);
	madt_lapic(&m, 0, 0, 1);
	madt_lapic(&m, 1, 1, 0);	   /* can never run: counted only */
	madt_lapic(&m, 2, 0xff, 0);	   /* placeholder, same ID as the next one: not a duplicate */
	madt_x2apic(&m, 0xffffffff, 0, 3); /* placeholder */
	madt_lapic(&m, 3, 3, 2);	   /* online-capable: kept, not enabled */
	init_with_madt(&m);

	CHECK_EQ(acpi_parse_madt(&info), 0);
	CHECK_EQ(info.nr_cpus, 2);
	CHECK_EQ(info.nr_cpus_unusable, 3);
	CHECK_EQ(info.cpus[1].apic_id, 3);
	CHECK(!info.cpus[1].enabled && info.cpus[1].online_capable);
}

TEST(acpi_madt_duplicate_apic_ids)
{
	struct madt_buf m;
	struct acpi_madt_info info;

	setup();
	madt_start(&m, 0xfee00000, 0);
	madt_lapic(&m, 0, 0, 1);
	madt_lapic(&m, 1, 1, 1);
	madt_lapic(&m, 2, 1, 1);
	madt_x2apic(&m, 0, 1, 9); /* the same CPU listed again as x2APIC */
	madt_lapic(&m, 4, 4, 1);
	init_with_madt(&m);

	CHECK_EQ(acpi_parse_madt(&info), 0);
	CHECK_EQ(info.nr_cpus, 3);
	CHECK_EQ(info.cpus[1].acpi_uid, 1); /* the first one is kept */
	CHECK_EQ(info.cpus[2].apic_id, 4);
	CHECK(!info.cpus[0].x2apic);
	CHECK_LAST_LOG("twice");
}

TEST(acpi_madt_too_many_cpus)
{
	struct madt_buf m;
	struct acpi_madt_info info;

	setup();
	madt_start(&m, 0xfee00000, 0);
	for (u32 i = 0; i < 100; i++)
		madt_x2apic(&m, i * 2, 1, i);
	madt_ioapic(&m, 1, 0xfec00000, 0); /* entries after the overflow are still parsed */
	init_with_madt(&m);

	CHECK_EQ(acpi_parse_madt(&info), 0);
	CHECK_EQ(info.nr_cpus, ACPI_MAX_CPUS);
	CHECK_EQ(info.nr_cpus_dropped, 36);
	CHECK_EQ(info.cpus[63].apic_id, 126);
	CHECK_EQ(info.nr_ioapics, 1);
	CHECK_LAST_LOG("only the first 64");
}

TEST(acpi_madt_truncated_entry)
{
	struct madt_buf m;
	struct acpi_madt_info info;

	setup();
	madt_start(&m, 0xfee00000, 0);
	madt_lapic(&m, 0, 0, 1);
	madt_lapic(&m, 1, 1, 1);
	/* An IOAPIC entry claiming 12 bytes with only 6 left in the table. */
	madt_raw(&m, (u8[]){1, 12, 3, 0, 0, 0}, 6);
	init_with_madt(&m);

	CHECK_EQ(acpi_parse_madt(&info), 0);
	CHECK_EQ(info.nr_cpus, 2);
	CHECK_EQ(info.nr_ioapics, 0);
	CHECK_LAST_LOG("bad length");

	/* One stray byte at the end. */
	setup();
	madt_start(&m, 0xfee00000, 0);
	madt_lapic(&m, 0, 0, 1);
	madt_raw(&m, (u8[]){0}, 1);
	init_with_madt(&m);
	CHECK_EQ(acpi_parse_madt(&info), 0);
	CHECK_EQ(info.nr_cpus, 1);
	CHECK_LAST_LOG("truncated");
}

TEST(acpi_madt_zero_length_entry_stops)
{
	struct madt_buf m;
	struct acpi_madt_info info;

	setup();
	madt_start(&m, 0xfee00000, 0);
	madt_lapic(&m, 0, 0, 1);
	madt_raw(&m, (u8[]){0, 0, 0, 0}, 4); /* length 0 would loop forever */
	madt_lapic(&m, 1, 1, 1);
	init_with_madt(&m);
	CHECK_EQ(acpi_parse_madt(&info), 0);
	CHECK_EQ(info.nr_cpus, 1);
	CHECK_LAST_LOG("bad length 0");
}

TEST(acpi_madt_short_entry_for_type_is_skipped)
{
	struct madt_buf m;
	struct acpi_madt_info info;

	setup();
	madt_start(&m, 0xfee00000, 0);
	madt_raw(&m, (u8[]){0, 4, 0, 0}, 4);			 /* LAPIC needs 8 */
	madt_raw(&m, (u8[]){5, 6, 0, 0, 0, 0}, 6);		 /* override needs 12 */
	madt_raw(&m, (u8[]){9, 10, 0, 0, 1, 0, 0, 0, 1, 0}, 10); /* x2APIC needs 16 */
	madt_lapic(&m, 1, 1, 1);
	init_with_madt(&m);
	CHECK_EQ(acpi_parse_madt(&info), 0);
	CHECK_EQ(info.nr_cpus, 1);
	CHECK_EQ(info.cpus[0].apic_id, 1);
	CHECK_EQ(info.lapic_base, 0xfee00000);
}

TEST(acpi_madt_too_many_ioapics_and_overrides)
{
	struct madt_buf m;
	struct acpi_madt_info info;

	setup();
	madt_start(&m, 0xfee00000, 0);
	for (u32 i = 0; i < 10; i++)
		madt_ioapic(&m, (u8)i, 0xfec00000 + i * 0x1000, i * 24);
	for (u32 i = 0; i < 20; i++)
		madt_iso(&m, (u8)i, i, 0);
	init_with_madt(&m);
	CHECK_EQ(acpi_parse_madt(&info), 0);
	CHECK_EQ(info.nr_ioapics, ACPI_MAX_IOAPICS);
	CHECK_EQ(info.ioapics[7].gsi_base, 7 * 24);
	CHECK_EQ(info.nr_isos, ACPI_MAX_ISOS);
	CHECK_EQ(info.isos[15].source_irq, 15);
}

TEST(acpi_madt_missing_or_too_short)
{
	struct acpi_madt_info info;

	setup();
	u64 other = put_table("SSDT", 1, "", 0);
	init_with(&other, 1);
	CHECK_EQ(acpi_parse_madt(&info), -ENOENT);

	setup();
	u64 t = put_table(ACPI_SIG_MADT, 1, "\0\0\xe0\xfe", 4);
	init_with(&t, 1);
	CHECK_EQ(acpi_parse_madt(&info), -EINVAL);
}
