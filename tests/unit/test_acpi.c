/* Unit tests of how drivers/acpi.c finds the tables: the RSDP in both revisions, the XSDT and RSDT, and tables with
 * bad checksums, lengths or signatures skipped the way firmware breaks them. The MADT and the FADT with its DSDT are
 * test_acpi_madt.c and test_acpi_fadt.c. */
#include <string.h>

#include "acpi_fixture.h"

TEST(acpi_rsdp_v1_uses_rsdt)
{
	setup();
	u64 a = put_table("SSDT", 1, "x", 1), b = put_table("TEST", 1, "yy", 2);
	u32 entries[] = {(u32)a, (u32)b};
	struct acpi_rsdp r = make_rsdp(0, put_rsdt(entries, 2), 0);

	/* An ACPI 1.0 RSDP is only 20 bytes long. */
	CHECK_EQ(acpi_init((const u8 *)&r, 20), 0);
	CHECK(acpi_find_table("TEST", 0) == (void *)va(b));
	CHECK(acpi_find_table("SSDT", 0) == (void *)va(a));
	CHECK(acpi_find_table("SSDT", 1) == NULL);
	CHECK(acpi_find_table("APIC", 0) == NULL);
}

TEST(acpi_rsdp_v2_prefers_xsdt)
{
	setup();
	u64 old = put_table("TEST", 1, "r", 1), new = put_table("TEST", 1, "x", 1);
	u32 rentries[] = {(u32)old};
	struct acpi_rsdp r = make_rsdp(2, put_rsdt(rentries, 1), put_xsdt(&new, 1));

	CHECK_EQ(acpi_init((const u8 *)&r, sizeof(r)), 0);
	CHECK(acpi_find_table("TEST", 0) == (void *)va(new));
}

TEST(acpi_rsdp_bad_checksum_or_signature)
{
	setup();
	u64 t = put_table("TEST", 1, "x", 1);
	struct acpi_rsdp r = make_rsdp(2, 0, put_xsdt(&t, 1));

	r.checksum++;
	CHECK_EQ(acpi_init((const u8 *)&r, sizeof(r)), -EINVAL);
	CHECK_LAST_LOG("checksum");
	CHECK(acpi_find_table("TEST", 0) == NULL);

	r = make_rsdp(2, 0, put_xsdt(&t, 1));
	r.signature[0] = 'r';
	CHECK_EQ(acpi_init((const u8 *)&r, sizeof(r)), -EINVAL);
	r = make_rsdp(2, 0, put_xsdt(&t, 1));
	CHECK_EQ(acpi_init((const u8 *)&r, 19), -EINVAL);
	CHECK_EQ(acpi_init(NULL, 0), -EINVAL);
	CHECK(acpi_find_table("TEST", 0) == NULL);
}

TEST(acpi_rsdp_v2_bad_extension_falls_back_to_rsdt)
{
	setup();
	u64 old = put_table("TEST", 1, "r", 1), new = put_table("TEST", 1, "x", 1);
	u32 rentries[] = {(u32)old};
	u64 rsdt = put_rsdt(rentries, 1), xsdt = put_xsdt(&new, 1);
	struct acpi_rsdp r = make_rsdp(2, rsdt, xsdt);

	r.ext_checksum ^= 0x55;
	CHECK_EQ(acpi_init((const u8 *)&r, sizeof(r)), 0);
	CHECK_LAST_LOG("extended checksum");
	CHECK(acpi_find_table("TEST", 0) == (void *)va(old));

	/* The v2 part claims more bytes than the copy holds. */
	r = make_rsdp(2, rsdt, xsdt);
	CHECK_EQ(acpi_init((const u8 *)&r, 30), 0);
	CHECK(acpi_find_table("TEST", 0) == (void *)va(old));

	/* A corrupt XSDT loses to a good RSDT too. */
	r = make_rsdp(2, rsdt, xsdt);
	va(xsdt)[40]++;
	CHECK_EQ(acpi_init((const u8 *)&r, sizeof(r)), 0);
	CHECK(acpi_find_table("TEST", 0) == (void *)va(old));

	/* And with no RSDT either, there is nothing. */
	r = make_rsdp(2, 0, xsdt);
	CHECK_EQ(acpi_init((const u8 *)&r, sizeof(r)), -ENOENT);
	CHECK(acpi_find_table("TEST", 0) == NULL);
}

TEST(acpi_bad_table_checksum_is_skipped_and_warned_once)
{
	setup();
	u64 bad = put_table("SSDT", 1, "bad", 3), good = put_table("SSDT", 1, "good", 4);
	u64 entries[] = {bad, good};

	va(bad)[37] ^= 1;
	init_with(entries, 2);
	CHECK(acpi_find_table("SSDT", 0) == (void *)va(good));
	CHECK_LAST_LOG("bad checksum");
	test_last_log[0] = '\0';
	CHECK(acpi_find_table("SSDT", 0) == (void *)va(good));
	CHECK(acpi_find_table("SSDT", 1) == NULL);
	CHECK_EQ(test_last_log[0], '\0');
}

TEST(acpi_bad_table_lengths_and_null_entries)
{
	setup();
	u64 shortt = put_table("SSDT", 1, "", 0), huge = put_table("SSDT", 1, "", 0), ok = put_table("SSDT", 1, "", 0);
	u64 entries[] = {0, shortt, huge, ok};

	((struct acpi_header *)va(shortt))->length = 35;
	fix_checksum(shortt);
	((struct acpi_header *)va(huge))->length = 0xfffffff0u;
	init_with(entries, 4);
	CHECK(acpi_find_table("SSDT", 0) == (void *)va(ok));
	CHECK(acpi_find_table("SSDT", 1) == NULL);
	CHECK_LAST_LOG("bad length");
}

TEST(acpi_find_table_before_init)
{
	setup();
	struct acpi_madt_info m;
	struct acpi_fadt_info f;
	u8 a, b;
	CHECK(acpi_find_table("APIC", 0) == NULL);
	CHECK_EQ(acpi_parse_madt(&m), -ENOENT);
	CHECK_EQ(acpi_parse_fadt(&f), -ENOENT);
	CHECK_EQ(acpi_find_s5(&a, &b), -ENOENT);
}
