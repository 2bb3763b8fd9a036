/* Unit tests of the FADT parser (drivers/acpi_fadt.c): legacy and X_ fields across revisions and lengths, and the
 * _S5_ sleep type found in the DSDT's AML, well-formed, malformed, and cut off at the very end of fake memory. */
#include <string.h>

#include "acpi_fixture.h"

/* fake_platform.c's memory size: a table placed flush against it makes any over-read an ASan error. */
#define FAKE_MEM_END (256ULL << 20)

/* ---- FADT builder: a whole table image, so fields go at their spec offsets ---- */

static u8 fadt[276];

static void fadt_put(u32 off, const void *v, size_t n)
{
	memcpy(fadt + off, v, n);
}

static void fadt_put32(u32 off, u32 v)
{
	fadt_put(off, &v, 4);
}

static void fadt_put_gas(u32 off, u8 space, u64 addr)
{
	struct acpi_gas g = {.space_id = space, .bit_width = 32, .address = addr};
	fadt_put(off, &g, sizeof(g));
}

/* The FADT image cut to len bytes, plus an XSDT listing it; returns the FADT's address. */
static u64 install_fadt(u32 len, u8 rev)
{
	u64 pa = put_table(ACPI_SIG_FADT, rev, fadt + sizeof(struct acpi_header), len - sizeof(struct acpi_header));
	init_with(&pa, 1);
	return pa;
}

static u64 put_dsdt(const u8 *aml, size_t n)
{
	return put_table(ACPI_SIG_DSDT, 2, aml, n);
}

/* A FADT (revision 6, full length) whose X_DSDT points at a DSDT holding the given AML. */
static void install_dsdt(const u8 *aml, size_t n)
{
	memset(fadt, 0, sizeof(fadt));
	u64 dsdt = put_dsdt(aml, n);
	fadt_put(140, &dsdt, 8);
	install_fadt(sizeof(fadt), 6);
}

/* ---- FADT ---- */

/* A full revision-6 FADT with both legacy and X_ fields. */
static void fill_fadt_v6(void)
{
	memset(fadt, 0, sizeof(fadt));
	fadt_put32(40, 0x1000);
	fadt_put32(48, 0xb2);
	fadt[52] = 0xf0;
	fadt[53] = 0xf1;
	fadt_put32(56, 0x600);
	fadt_put32(60, 0);
	fadt_put32(64, 0x604);
	fadt_put32(68, 0);
	fadt_put32(76, 0x608);
	fadt[89] = 2;
	fadt_put(109, &(u16){ACPI_BOOT_ARCH_8042 | ACPI_BOOT_ARCH_LEGACY_DEVICES}, 2);
	fadt_put32(112, ACPI_FADT_TMR_VAL_EXT | ACPI_FADT_RESET_REG_SUP);
	fadt_put_gas(116, ACPI_GAS_SYSTEM_IO, 0xcf9);
	fadt[128] = 0x06;
	fadt_put(140, &(u64){0x2000}, 8);
	fadt_put_gas(148, ACPI_GAS_SYSTEM_IO, 0xb000);
	fadt_put_gas(160, ACPI_GAS_SYSTEM_IO, 0xb100);
	fadt_put_gas(172, ACPI_GAS_SYSTEM_IO, 0xb004);
	fadt_put_gas(184, ACPI_GAS_SYSTEM_IO, 0);
	fadt_put_gas(208, ACPI_GAS_SYSTEM_IO, 0xb008);
}

TEST(acpi_fadt_full_prefers_x_fields)
{
	struct acpi_fadt_info f;

	setup();
	fill_fadt_v6();
	install_fadt(sizeof(fadt), 6);
	CHECK_EQ(acpi_parse_fadt(&f), 0);
	CHECK_EQ(f.revision, 6);
	CHECK_EQ(f.dsdt, 0x2000);
	CHECK_EQ(f.smi_cmd, 0xb2);
	CHECK_EQ(f.acpi_enable, 0xf0);
	CHECK_EQ(f.acpi_disable, 0xf1);
	CHECK_EQ(f.pm1a_evt, 0xb000);
	CHECK_EQ(f.pm1b_evt, 0xb100);
	CHECK_EQ(f.pm1a_cnt, 0xb004);
	CHECK_EQ(f.pm1b_cnt, 0); /* X_ zero: the (zero) legacy field stands */
	CHECK_EQ(f.pm1_cnt_len, 2);
	CHECK_EQ(f.pm_tmr, 0xb008);
	CHECK(f.pm_tmr_32bit);
	CHECK(f.has_boot_arch);
	CHECK(f.boot_arch & ACPI_BOOT_ARCH_8042);
	CHECK(f.reset_supported);
	CHECK_EQ(f.reset_reg.space_id, ACPI_GAS_SYSTEM_IO);
	CHECK_EQ(f.reset_reg.address, 0xcf9);
	CHECK_EQ(f.reset_value, 6);
}

TEST(acpi_fadt_x_fields_not_io_or_zero_use_legacy)
{
	struct acpi_fadt_info f;

	setup();
	fill_fadt_v6();
	fadt_put_gas(148, ACPI_GAS_SYSTEM_MEMORY, 0xfed80000); /* MMIO: not a port */
	fadt_put_gas(172, ACPI_GAS_SYSTEM_IO, 0);
	fadt_put(140, &(u64){0}, 8); /* X_DSDT zero: DSDT stands */
	fadt_put32(112, 0);	     /* no RESET_REG_SUP, 24-bit timer */
	fadt_put32(76, 0x12345);     /* not an I/O port, and X_PM_TMR_BLK overrides it anyway */
	install_fadt(sizeof(fadt), 6);
	CHECK_EQ(acpi_parse_fadt(&f), 0);
	CHECK_EQ(f.pm1a_evt, 0x600);
	CHECK_EQ(f.pm1a_cnt, 0x604);
	CHECK_EQ(f.pm_tmr, 0xb008);
	CHECK_EQ(f.dsdt, 0x1000);
	CHECK(!f.pm_tmr_32bit);
	CHECK(!f.reset_supported);

	/* A legacy port that cannot be one, with no X_ field to rescue it. */
	fadt_put_gas(208, ACPI_GAS_SYSTEM_IO, 0);
	install_fadt(sizeof(fadt), 6);
	CHECK_EQ(acpi_parse_fadt(&f), 0);
	CHECK_EQ(f.pm_tmr, 0);
	CHECK_LAST_LOG("PM_TMR_BLK");
}

TEST(acpi_fadt_revision1_short)
{
	struct acpi_fadt_info f;

	setup();
	fill_fadt_v6();
	/* The bytes beyond 116 are still in memory right after the table: they must not be read. */
	install_fadt(116, 1);
	CHECK_EQ(acpi_parse_fadt(&f), 0);
	CHECK_EQ(f.dsdt, 0x1000);
	CHECK_EQ(f.pm1a_evt, 0x600);
	CHECK_EQ(f.pm1a_cnt, 0x604);
	CHECK_EQ(f.pm_tmr, 0x608);
	CHECK(f.pm_tmr_32bit);
	CHECK(!f.has_boot_arch);
	CHECK(!f.reset_supported); /* flag set, but the register is beyond the table */

	/* Cut inside the PM1 blocks: what is covered is read, the rest stays zero. */
	setup();
	fill_fadt_v6();
	install_fadt(66, 1);
	CHECK_EQ(acpi_parse_fadt(&f), 0);
	CHECK_EQ(f.pm1a_evt, 0x600);
	CHECK_EQ(f.pm1a_cnt, 0);
	CHECK_EQ(f.pm_tmr, 0);
	CHECK_EQ(f.flags, 0);

	/* Header only. */
	setup();
	install_fadt(36, 1);
	CHECK_EQ(acpi_parse_fadt(&f), 0);
	CHECK_EQ(f.dsdt, 0);
}

TEST(acpi_fadt_revision3_without_later_x_fields)
{
	struct acpi_fadt_info f;

	setup();
	fill_fadt_v6();
	/* 160 bytes hold X_DSDT and X_PM1a_EVT_BLK but stop before X_PM1b_EVT_BLK. */
	install_fadt(160, 3);
	CHECK_EQ(acpi_parse_fadt(&f), 0);
	CHECK_EQ(f.dsdt, 0x2000);
	CHECK_EQ(f.pm1a_evt, 0xb000);
	CHECK_EQ(f.pm1b_evt, 0);
	CHECK_EQ(f.pm1a_cnt, 0x604);
	CHECK_EQ(f.pm_tmr, 0x608);
	CHECK(f.reset_supported);
	CHECK(f.has_boot_arch);
}

/* ---- _S5_ ---- */

/* Name(_S5_, Package(4){5, 7, 0, 0}) with BytePrefix elements, inside some unrelated AML. */
static const u8 aml_s5_byte[] = {0x10, 0x05, '\\', '_',	 'S',  'B',  '_',  0x08, '_',  'S',  '4',  '_',
				 0x12, 0x06, 0x02, 0x0a, 0x06, 0x0a, 0x06, 0x08, '_',  'S',  '5',  '_',
				 0x12, 0x0a, 0x04, 0x0a, 0x05, 0x0a, 0x07, 0x00, 0x00, 0x14, 0x02, 0x00};

TEST(acpi_s5_byte_prefix)
{
	u8 a = 0xee, b = 0xee;

	setup();
	install_dsdt(aml_s5_byte, sizeof(aml_s5_byte));
	CHECK_EQ(acpi_find_s5(&a, &b), 0);
	CHECK_EQ(a, 5);
	CHECK_EQ(b, 7);
}

TEST(acpi_s5_zero_one_ops_and_root_prefix)
{
	static const u8 aml[] = {0x08, '\\', '_', 'S', '5', '_', 0x12, 0x04, 0x02, 0x00, 0x01};
	static const u8 aml2[] = {0x08, '_', 'S', '5', '_', 0x12, 0x05, 0x04, 0x01, 0x0a, 0x03, 0, 0};
	u8 a = 0xee, b = 0xee;

	setup();
	install_dsdt(aml, sizeof(aml));
	CHECK_EQ(acpi_find_s5(&a, &b), 0);
	CHECK_EQ(a, 0);
	CHECK_EQ(b, 1);

	setup();
	install_dsdt(aml2, sizeof(aml2));
	CHECK_EQ(acpi_find_s5(&a, &b), 0);
	CHECK_EQ(a, 1);
	CHECK_EQ(b, 3);
}

TEST(acpi_s5_multibyte_pkglength)
{
	/* Two-byte PkgLength: lead 0x4a says one more byte and gives bits 3:0 (0xa), the next byte bits 11:4 (0x01). */
	u8 aml[64] = {0x08, '_', 'S', '5', '_', 0x12, 0x4a, 0x01, 0x04, 0x0a, 0x02, 0x0a, 0x03};
	/* Three-byte form of the same length 0x1a, with Word and DWord prefixed elements. */
	u8 aml3[64] = {0x08, '_', 'S', '5', '_', 0x12, 0x8a, 0x01, 0x00, 0x04, 0x0b, 0x04, 0x00, 0x0c, 0x05, 0, 0, 0};
	u8 a = 0, b = 0;

	setup();
	install_dsdt(aml, sizeof(aml));
	CHECK_EQ(acpi_find_s5(&a, &b), 0);
	CHECK_EQ(a, 2);
	CHECK_EQ(b, 3);

	setup();
	install_dsdt(aml3, sizeof(aml3));
	CHECK_EQ(acpi_find_s5(&a, &b), 0);
	CHECK_EQ(a, 4);
	CHECK_EQ(b, 5);

	/* Reserved bits 5:4 of a multi-byte lead must be zero. */
	aml[6] = 0x5a;
	setup();
	install_dsdt(aml, sizeof(aml));
	CHECK_EQ(acpi_find_s5(&a, &b), -EINVAL);
}

TEST(acpi_s5_missing)
{
	static const u8 aml[] = {0x08, '_',  'S', '4', '_', 0x12, 0x04, 0x02, 0x00,
				 0x01, 0x70, '_', 'S', '5', '_',  0x60 /* a use of the name, not its definition */};
	u8 a, b;

	setup();
	install_dsdt(aml, sizeof(aml));
	CHECK_EQ(acpi_find_s5(&a, &b), -ENOENT);

	/* A FADT without any DSDT address. */
	setup();
	memset(fadt, 0, sizeof(fadt));
	install_fadt(sizeof(fadt), 6);
	CHECK_EQ(acpi_find_s5(&a, &b), -ENOENT);
}

TEST(acpi_s5_malformed_package)
{
	static const u8 too_long[] = {0x08, '_', 'S', '5', '_', 0x12, 0x30, 0x02, 0x0a, 0x05, 0x0a, 0x05};
	static const u8 one_elem[] = {0x08, '_', 'S', '5', '_', 0x12, 0x04, 0x01, 0x0a, 0x05};
	static const u8 not_int[] = {0x08, '_', 'S', '5', '_', 0x12, 0x05, 0x02, 0x0d, 'a', 0x00};
	static const u8 big_int[] = {0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x02, 0x0b, 0x00, 0x01, 0x00};
	static const u8 not_pkg[] = {0x08, '_', 'S', '5', '_', 0x0a, 0x05};
	/* The package claims 4 bytes, so its second element lies outside it though inside the table. */
	static const u8 elem_out[] = {0x08, '_', 'S', '5', '_', 0x12, 0x04, 0x02, 0x0a, 0x05, 0x0a, 0x05};
	const u8 *cases[] = {too_long, one_elem, not_int, big_int, not_pkg, elem_out};
	size_t lens[] = {sizeof(too_long), sizeof(one_elem), sizeof(not_int),
			 sizeof(big_int),  sizeof(not_pkg),  sizeof(elem_out)};
	u8 a, b;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		setup();
		install_dsdt(cases[i], lens[i]);
		if (acpi_find_s5(&a, &b) != -EINVAL)
			test_fail(__FILE__, __LINE__, "case %zu not rejected", i);
	}
}

TEST(acpi_s5_truncated_at_end_of_dsdt)
{
	/* Each prefix of a good definition, as the last bytes of a DSDT that ends exactly at the end of fake memory,
	 * so reading one byte further is an ASan error. The bytes that would complete it are never there. */
	static const u8 full[] = {0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04, 0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00};
	u8 a, b;

	for (size_t cut = 5; cut < sizeof(full); cut++) {
		u64 dsdt_pa = FAKE_MEM_END - sizeof(struct acpi_header) - cut;

		setup();
		put_table_at(dsdt_pa, ACPI_SIG_DSDT, 2, full, cut);
		memset(fadt, 0, sizeof(fadt));
		fadt_put(140, &dsdt_pa, 8);
		install_fadt(sizeof(fadt), 6);
		int ret = acpi_find_s5(&a, &b);
		if (ret != -EINVAL)
			test_fail(__FILE__, __LINE__, "cut at %zu: %d", cut, ret);
	}
	/* The complete definition in the same place parses. */
	setup();
	u64 dsdt_pa = FAKE_MEM_END - sizeof(struct acpi_header) - sizeof(full);
	put_table_at(dsdt_pa, ACPI_SIG_DSDT, 2, full, sizeof(full));
	memset(fadt, 0, sizeof(fadt));
	fadt_put(140, &dsdt_pa, 8);
	install_fadt(sizeof(fadt), 6);
	CHECK_EQ(acpi_find_s5(&a, &b), 0);
	CHECK_EQ(a, 5);
}

TEST(acpi_s5_ignores_bytes_past_dsdt_length)
{
	/* The package continues in memory after the DSDT's declared end: the parser must not follow it. */
	static const u8 aml[] = {0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04, 0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00};
	u8 a, b;

	setup();
	u64 pa = put_dsdt(aml, sizeof(aml));
	((struct acpi_header *)va(pa))->length -= 5;
	fix_checksum(pa);
	memset(fadt, 0, sizeof(fadt));
	fadt_put(140, &pa, 8);
	install_fadt(sizeof(fadt), 6);
	CHECK_EQ(acpi_find_s5(&a, &b), -EINVAL);
}

TEST(acpi_s5_bad_dsdt)
{
	u8 a, b;

	setup();
	install_dsdt(aml_s5_byte, sizeof(aml_s5_byte));
	/* Corrupt the DSDT after the fact: the checksum no longer matches. */
	u64 dsdt;
	memcpy(&dsdt, fadt + 140, 8);
	va(dsdt)[40] ^= 0xff;
	CHECK_EQ(acpi_find_s5(&a, &b), -EINVAL);
	CHECK_LAST_LOG("bad checksum");

	/* A DSDT pointer to something that is not a DSDT. */
	setup();
	memset(fadt, 0, sizeof(fadt));
	u64 ssdt = put_table("SSDT", 2, aml_s5_byte, sizeof(aml_s5_byte));
	fadt_put32(40, (u32)ssdt);
	install_fadt(sizeof(fadt), 6);
	CHECK_EQ(acpi_find_s5(&a, &b), -EINVAL);
	CHECK_LAST_LOG("wrong signature");
}

TEST(acpi_s5_via_legacy_dsdt_in_short_fadt)
{
	u8 a, b;

	setup();
	memset(fadt, 0, sizeof(fadt));
	u64 dsdt = put_dsdt(aml_s5_byte, sizeof(aml_s5_byte));
	fadt_put32(40, (u32)dsdt);
	install_fadt(116, 1);
	CHECK_EQ(acpi_find_s5(&a, &b), 0);
	CHECK_EQ(a, 5);
	CHECK_EQ(b, 7);
}
