/* Unit tests for drivers/acpi*.c. Each test lays out RSDP, root tables, MADT, FADT and DSDT in fake physical memory,
 * deliberately at odd addresses so unaligned reads are exercised, with helpers that fix the checksums; then breaks
 * them in the ways firmware does and checks what the parsers report. */
#include <stdlib.h>
#include <string.h>

#include "drivers/acpi.h"
#include "fake_platform.h"
#include "hv/errno.h"
#include "hv/platform.h"
#include "test.h"

/* fake_platform.c's memory size: a table placed flush against it makes any over-read an ASan error. */
#define FAKE_MEM_END (256ULL << 20)

static hpa_t arena; /* 2 MiB of fake physical memory for tables, cleared by every test */
static u64 arena_next;

static void setup(void)
{
	if (!arena) {
		arena = frame_alloc(9);
		CHECK(arena != INVALID_HPA);
	}
	memset(phys_to_virt(arena), 0, 2 << 20);
	arena_next = arena + 0x1000;
	acpi_reset();
	test_last_log[0] = '\0';
}

static u8 *va(u64 pa)
{
	return phys_to_virt(pa);
}

/* Room for len bytes at an odd address. */
static u64 alloc_pa(size_t len)
{
	u64 pa = arena_next + 3;

	arena_next = (pa + len + 0x40) & ~0xfULL;
	CHECK(arena_next < arena + (2 << 20));
	return pa;
}

static u8 sum(const u8 *p, size_t len)
{
	u8 s = 0;
	while (len--)
		s += *p++;
	return s;
}

static void fix_checksum(u64 pa)
{
	struct acpi_header *h = (struct acpi_header *)va(pa);
	h->checksum = 0;
	h->checksum = (u8)-sum(va(pa), h->length);
}

/* A table with a standard header and the given body, at pa (or a fresh address if pa is 0). */
static u64 put_table_at(u64 pa, const char *sig, u8 rev, const void *body, size_t body_len)
{
	struct acpi_header h = {.length = (u32)(sizeof(h) + body_len), .revision = rev};

	if (!pa)
		pa = alloc_pa(h.length);
	memcpy(h.signature, sig, 4);
	memcpy(h.oem_id, "HVTEST", 6);
	memcpy(va(pa), &h, sizeof(h));
	memcpy(va(pa) + sizeof(h), body, body_len);
	fix_checksum(pa);
	return pa;
}

static u64 put_table(const char *sig, u8 rev, const void *body, size_t body_len)
{
	return put_table_at(0, sig, rev, body, body_len);
}

static u64 put_xsdt(const u64 *entries, size_t n)
{
	return put_table(ACPI_SIG_XSDT, 1, entries, n * 8);
}

static u64 put_rsdt(const u32 *entries, size_t n)
{
	return put_table(ACPI_SIG_RSDT, 1, entries, n * 4);
}

static struct acpi_rsdp make_rsdp(u8 rev, u64 rsdt, u64 xsdt)
{
	struct acpi_rsdp r = {.revision = rev, .rsdt_address = (u32)rsdt, .length = 36, .xsdt_address = xsdt};

	memcpy(r.signature, ACPI_SIG_RSDP, 8);
	memcpy(r.oem_id, "HVTEST", 6);
	r.checksum = (u8)-sum((const u8 *)&r, 20);
	r.ext_checksum = (u8)-sum((const u8 *)&r, 36);
	return r;
}

/* acpi_init over an RSDP v2 whose XSDT lists the given tables. */
static void init_with(const u64 *tables, size_t n)
{
	struct acpi_rsdp r = make_rsdp(2, 0, put_xsdt(tables, n));
	CHECK_EQ(acpi_init((const u8 *)&r, sizeof(r)), 0);
}

/* ---- MADT builder ---- */

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

#define CHECK_LOG_HAS(s)                                                                                               \
	do {                                                                                                           \
		if (!strstr(test_last_log, (s)))                                                                       \
			test_fail(__FILE__, __LINE__, "log \"%s\" lacks \"%s\"", test_last_log, (s));                  \
	} while (0)

/* ---- RSDP and root tables ---- */

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
	CHECK_LOG_HAS("checksum");
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
	CHECK_LOG_HAS("extended checksum");
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
	CHECK_LOG_HAS("bad checksum");
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
	CHECK_LOG_HAS("bad length");
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
	CHECK_LOG_HAS("twice");
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
	CHECK_LOG_HAS("only the first 64");
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
	CHECK_LOG_HAS("bad length");

	/* One stray byte at the end. */
	setup();
	madt_start(&m, 0xfee00000, 0);
	madt_lapic(&m, 0, 0, 1);
	madt_raw(&m, (u8[]){0}, 1);
	init_with_madt(&m);
	CHECK_EQ(acpi_parse_madt(&info), 0);
	CHECK_EQ(info.nr_cpus, 1);
	CHECK_LOG_HAS("truncated");
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
	CHECK_LOG_HAS("bad length 0");
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
	CHECK_LOG_HAS("PM_TMR_BLK");
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
	CHECK_LOG_HAS("bad checksum");

	/* A DSDT pointer to something that is not a DSDT. */
	setup();
	memset(fadt, 0, sizeof(fadt));
	u64 ssdt = put_table("SSDT", 2, aml_s5_byte, sizeof(aml_s5_byte));
	fadt_put32(40, (u32)ssdt);
	install_fadt(sizeof(fadt), 6);
	CHECK_EQ(acpi_find_s5(&a, &b), -EINVAL);
	CHECK_LOG_HAS("wrong signature");
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
