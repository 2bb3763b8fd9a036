/* Unit tests for vm/dev/acpi_tables.c. The tables are built into fake guest RAM, mirrored to the same addresses of
 * fake physical memory, and read back the way a guest would find them: the RSDP by scanning 0xe0000-0xfffff, every
 * table through the hypervisor's own ACPI parser (drivers/acpi*.c), and the DSDT by a strict walker of its AML. */
#include <stdlib.h>
#include <string.h>

#include "drivers/acpi.h"
#include "fake_platform.h"
#include "fake_vm.h"
#include "hv/errno.h"
#include "hv/platform.h"
#include "test.h"
#include "vm/dev/acpi_tables.h"

#define AREA_BASE 0xe0000ULL
#define AREA_END  0x100000ULL
#define RAM_BYTES (2ULL << 20)

static struct vm vm;

static struct acpi_build_cfg default_cfg(u32 nr_vcpus)
{
	return (struct acpi_build_cfg){
	    .base = AREA_BASE,
	    .len = AREA_END - AREA_BASE,
	    .nr_vcpus = nr_vcpus,
	    .ioapic_addr = 0xfec00000,
	    .ioapic_id = 0,
	    .pm_port = 0x600,
	    .sci_irq = 9,
	    .reset_port = 0xcf9,
	    .reset_value = 0x06,
	    .has_i8042 = true,
	    .has_rtc = true,
	    .has_vga = false,
	};
}

static void setup(void)
{
	fake_vm_destroy(&vm);
	fake_vm_init(&vm, RAM_BYTES);
	acpi_reset();
	test_last_log[0] = '\0';
}

/* Guest RAM [0, RAM_BYTES) becomes fake physical memory at the same addresses, where the host parser reads. */
static void mirror(void)
{
	memcpy(phys_to_virt(0), fake_vm_gpa(0, RAM_BYTES), RAM_BYTES);
}

static u8 *pa(u64 addr)
{
	return phys_to_virt(addr);
}

static u64 build(const struct acpi_build_cfg *cfg)
{
	u64 rsdp = 0;

	CHECK_EQ(acpi_tables_build(&vm, cfg, &rsdp), 0);
	mirror();
	return rsdp;
}

static u8 sum(const u8 *p, size_t len)
{
	u8 s = 0;

	while (len--)
		s += *p++;
	return s;
}

static u16 rd16(const u8 *p)
{
	u16 v;

	memcpy(&v, p, 2);
	return v;
}

static u32 rd32(const u8 *p)
{
	u32 v;

	memcpy(&v, p, 4);
	return v;
}

static u64 rd64(const u8 *p)
{
	u64 v;

	memcpy(&v, p, 8);
	return v;
}

/* Linux's search (acpi_find_root_pointer): 16-byte steps over 0xe0000-0xfffff, signature and both checksums. */
static u64 scan_rsdp(void)
{
	for (u64 a = AREA_BASE; a + 36 <= AREA_END; a += 16) {
		const u8 *p = pa(a);

		if (memcmp(p, "RSD PTR ", 8) == 0 && sum(p, 20) == 0 && (p[15] < 2 || sum(p, rd32(p + 20)) == 0))
			return a;
	}
	return 0;
}

static void init_host_parser(u64 rsdp)
{
	CHECK_EQ(acpi_init(pa(rsdp), sizeof(struct acpi_rsdp)), 0);
}

static const u8 *fadt_raw(void)
{
	const struct acpi_header *h = acpi_find_table(ACPI_SIG_FADT, 0);

	CHECK(h);
	return (const u8 *)h;
}

static void check_oem(const u8 *t)
{
	const struct acpi_header *h = (const struct acpi_header *)t;

	CHECK(memcmp(h->oem_id, "HVMICR", 6) == 0);
	CHECK(memcmp(h->oem_table_id, "MICROHV ", 8) == 0);
}

/* ---- strict reader of the DSDT's AML: only the shapes the builder emits, every length checked ---- */

struct aml_rd {
	const u8 *p;
	u32 pos, end;
};

static u8 aml_u8(struct aml_rd *r)
{
	CHECK(r->pos < r->end);
	return r->p[r->pos++];
}

static void aml_expect(struct aml_rd *r, const void *bytes, u32 n)
{
	CHECK(r->pos + n <= r->end);
	CHECK(memcmp(r->p + r->pos, bytes, n) == 0);
	r->pos += n;
}

/* A PkgLength at pos; returns where its package ends. Also requires the shortest encoding, as iasl emits. */
static u32 aml_pkglen(struct aml_rd *r)
{
	static const u32 max_len[] = {0x3f, 0xfff, 0xfffff, 0xfffffff};
	u32 start = r->pos, lead = aml_u8(r), n = lead >> 6, len;

	if (n == 0) {
		len = lead & 0x3f;
	} else {
		CHECK((lead & 0x30) == 0);
		len = lead & 0xf;
		for (u32 i = 0; i < n; i++)
			len |= (u32)aml_u8(r) << (4 + 8 * i);
		CHECK(len - 1 > max_len[n - 1]);
	}
	CHECK(len <= max_len[n]);
	CHECK(start + len <= r->end);
	return start + len;
}

static u64 aml_int(struct aml_rd *r)
{
	u8 op = aml_u8(r);

	switch (op) {
	case 0x00:
		return 0;
	case 0x01:
		return 1;
	case 0x0a:
		return aml_u8(r);
	case 0x0b: {
		u64 v = aml_u8(r);
		return v | (u64)aml_u8(r) << 8;
	}
	case 0x0c: {
		u64 v = 0;
		for (int i = 0; i < 4; i++)
			v |= (u64)aml_u8(r) << (8 * i);
		CHECK(v > 0xffff);
		return v;
	}
	default:
		test_fail(__FILE__, __LINE__, "unexpected integer opcode %#x", op);
	}
}

/* Device (PCI0) { _HID PNP0A03, _UID 0, _ADR 0, _BBN 0, _CRS (bus 0, 0xcf8, two I/O windows, the MMIO window),
 * _PRT (slots 1-31, INTA to GSI 16 + slot % 8) } as build_pci0_aml writes it for the window [0xc0000000, 0xfec00000) */
static u32 pci0_seen;
static void check_pci0(struct aml_rd *r, u32 dev_end)
{
	aml_expect(r, "PCI0", 4);
	aml_expect(r, "\x08_HID", 5);
	CHECK_EQ(aml_int(r), 0x030ad041);
	aml_expect(r, "\x08_UID", 5);
	CHECK_EQ(aml_int(r), 0);
	aml_expect(r, "\x08_ADR", 5);
	CHECK_EQ(aml_int(r), 0);
	aml_expect(r, "\x08_BBN", 5);
	CHECK_EQ(aml_int(r), 0);
	aml_expect(r, "\x08_CRS\x11", 6);
	u32 buf_end = aml_pkglen(r);
	CHECK_EQ(aml_int(r), 84);
	CHECK_EQ(buf_end - r->pos, 84);
	static const u8 crs[84] = {
		0x88, 13, 0, 2, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0,		    /* bus 0-0 */
		0x47, 1, 0xf8, 0x0c, 0xf8, 0x0c, 1, 8,				    /* 0xcf8-0xcff */
		0x88, 13, 0, 1, 0x0c, 3, 0, 0, 0, 0, 0xf7, 0x0c, 0, 0, 0xf8, 0x0c, /* I/O 0-0xcf7 */
		0x88, 13, 0, 1, 0x0c, 3, 0, 0, 0, 0x0d, 0xff, 0xff, 0, 0, 0, 0xf3, /* I/O 0xd00-0xffff */
		0x87, 23, 0, 0, 0x0c, 1, 0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff, 0xbf, 0xfe, 0, 0, 0, 0, 0, 0, 0xc0, 0x3e,
		0x79, 0 };
	aml_expect(r, crs, sizeof(crs));
	aml_expect(r, "\x08_PRT\x12", 6);
	u32 prt_end = aml_pkglen(r);
	CHECK_EQ(aml_u8(r), 31);
	for (u32 slot = 1; slot < 32; slot++) {
		aml_expect(r, "\x12", 1);
		u32 e_end = aml_pkglen(r);
		CHECK_EQ(aml_u8(r), 4);
		CHECK_EQ(aml_int(r), (slot << 16) | 0xffff);
		CHECK_EQ(aml_int(r), 0);
		CHECK_EQ(aml_int(r), 0);
		CHECK_EQ(aml_int(r), 16 + slot % 8);
		CHECK_EQ(r->pos, e_end);
	}
	CHECK_EQ(r->pos, prt_end);
	CHECK_EQ(r->pos, dev_end);
	pci0_seen++;
}

/* Scope (\_SB) { Device (Cnnn) { Name (_HID, "ACPI0007") Name (_UID, n) }... } Name (_S5, Package (4) {5, 5, 0, 0}) */
static void check_dsdt(const struct acpi_header *dsdt, u32 nr_vcpus)
{
	struct aml_rd r = {.p = (const u8 *)dsdt, .pos = sizeof(*dsdt), .end = dsdt->length};
	u32 scope_end, n = 0;

	CHECK_EQ(dsdt->revision, 2);
	aml_expect(&r, "\x10", 1);
	scope_end = aml_pkglen(&r);
	aml_expect(&r, "\\_SB_", 5);
	while (r.pos < scope_end) {
		char name[5];
		u32 dev_end;

		aml_expect(&r, "\x5b\x82", 2);
		dev_end = aml_pkglen(&r);
		if (n == nr_vcpus && r.pos + 4 <= r.end && !memcmp(r.p + r.pos, "PCI0", 4)) {
			check_pci0(&r, dev_end);
			continue;
		}
		snprintf(name, sizeof(name), "C%03X", n);
		aml_expect(&r, name, 4);
		aml_expect(&r, "\x08_HID\x0d", 6);
		aml_expect(&r, "ACPI0007", 9); /* with the NUL that ends an AML string */
		aml_expect(&r, "\x08_UID", 5);
		CHECK_EQ(aml_int(&r), n);
		CHECK_EQ(r.pos, dev_end);
		n++;
	}
	CHECK_EQ(r.pos, scope_end);
	CHECK_EQ(n, nr_vcpus);

	aml_expect(&r, "\x08_S5_\x12", 6);
	r.end = aml_pkglen(&r);
	CHECK_EQ(r.end, dsdt->length);
	CHECK_EQ(aml_u8(&r), 4);
	CHECK_EQ(aml_int(&r), ACPI_SLP_TYP_S5);
	CHECK_EQ(aml_int(&r), ACPI_SLP_TYP_S5);
	CHECK_EQ(aml_int(&r), 0);
	CHECK_EQ(aml_int(&r), 0);
	CHECK_EQ(r.pos, dsdt->length);
}

static const struct acpi_header *find_dsdt(void)
{
	struct acpi_fadt_info f;
	const struct acpi_header *h;

	CHECK_EQ(acpi_parse_fadt(&f), 0);
	h = acpi_map_table(f.dsdt, ACPI_SIG_DSDT);
	CHECK(h);
	return h;
}

/* ---- tests ---- */

TEST(rsdp_at_area_base_found_by_scan)
{
	struct acpi_build_cfg cfg = default_cfg(1);
	const struct acpi_rsdp *r;
	u64 rsdp;

	setup();
	rsdp = build(&cfg);
	CHECK_EQ(rsdp, AREA_BASE);
	CHECK_EQ(scan_rsdp(), rsdp);
	r = (const struct acpi_rsdp *)pa(rsdp);
	CHECK_EQ(r->revision, 2);
	CHECK_EQ(r->length, 36);
	CHECK(memcmp(r->oem_id, "HVMICR", 6) == 0);
	CHECK_EQ(sum(pa(rsdp), 20), 0);
	CHECK_EQ(sum(pa(rsdp), 36), 0);
	CHECK(r->xsdt_address && r->rsdt_address);
	CHECK_EQ(r->xsdt_address, rd64(pa(rsdp) + 24)); /* the packed layout is the spec's */
}

TEST(unaligned_base_puts_rsdp_on_16_bytes)
{
	struct acpi_build_cfg cfg = default_cfg(1);
	u64 rsdp;

	setup();
	cfg.base = AREA_BASE + 1;
	cfg.len = AREA_END - cfg.base;
	rsdp = build(&cfg);
	CHECK_EQ(rsdp, AREA_BASE + 16);
	CHECK_EQ(scan_rsdp(), rsdp);
	CHECK_EQ(*pa(AREA_BASE), 0); /* the byte before the aligned start is untouched */
}

TEST(every_table_checksums_and_lies_in_area)
{
	struct acpi_build_cfg cfg = default_cfg(4);
	const struct acpi_header *x, *rt;
	u64 rsdp;
	u32 n;

	setup();
	rsdp = build(&cfg);
	x = (const struct acpi_header *)pa(((const struct acpi_rsdp *)pa(rsdp))->xsdt_address);
	rt = (const struct acpi_header *)pa(((const struct acpi_rsdp *)pa(rsdp))->rsdt_address);
	CHECK(memcmp(x->signature, "XSDT", 4) == 0 && memcmp(rt->signature, "RSDT", 4) == 0);
	CHECK_EQ(sum((const u8 *)x, x->length), 0);
	CHECK_EQ(sum((const u8 *)rt, rt->length), 0);
	check_oem((const u8 *)x);
	check_oem((const u8 *)rt);
	n = (x->length - 36) / 8;
	CHECK_EQ(n, 2);
	CHECK_EQ((rt->length - 36) / 4, n);
	for (u32 i = 0; i < n; i++) {
		u64 t = rd64((const u8 *)x + 36 + 8 * i);
		const struct acpi_header *h = (const struct acpi_header *)pa(t);

		CHECK_EQ(rd32((const u8 *)rt + 36 + 4 * i), t); /* RSDT and XSDT list the same tables */
		CHECK(t >= AREA_BASE && t + h->length <= AREA_END);
		CHECK_EQ(t % 16, 0);
		CHECK_EQ(sum((const u8 *)h, h->length), 0);
		check_oem((const u8 *)h);
	}
	init_host_parser(rsdp);
	check_oem((const u8 *)find_dsdt());
	/* Only the area was written. */
	for (u64 a = 0; a < RAM_BYTES; a++)
		if (a < AREA_BASE || a >= AREA_END)
			CHECK_EQ(*(u8 *)fake_vm_gpa(a, 1), 0);
}

TEST(rsdt_alone_is_usable)
{
	struct acpi_build_cfg cfg = default_cfg(2);
	struct acpi_madt_info m;
	struct acpi_fadt_info f;
	u64 rsdp;

	setup();
	rsdp = build(&cfg);
	/* Break the XSDT: the host parser (like an ACPI 1.0 OS) must manage with the RSDT. */
	pa(((const struct acpi_rsdp *)pa(rsdp))->xsdt_address)[0] = 'Y';
	init_host_parser(rsdp);
	CHECK_EQ(acpi_parse_madt(&m), 0);
	CHECK_EQ(m.nr_cpus, 2);
	CHECK_EQ(acpi_parse_fadt(&f), 0);
	CHECK_EQ(f.pm1a_cnt, 0x604);
}

TEST(madt_round_trips_through_host_parser)
{
	struct acpi_build_cfg cfg = default_cfg(4);
	struct acpi_madt_info m;
	const u8 *t, *nmi;

	setup();
	cfg.ioapic_id = 4;
	init_host_parser(build(&cfg));
	CHECK_EQ(acpi_parse_madt(&m), 0);
	CHECK_EQ(m.lapic_base, 0xfee00000);
	CHECK_EQ(m.flags, ACPI_MADT_PCAT_COMPAT);
	CHECK_EQ(m.nr_cpus, 4);
	CHECK_EQ(m.nr_cpus_unusable, 0);
	for (u32 i = 0; i < 4; i++) {
		CHECK_EQ(m.cpus[i].apic_id, i);
		CHECK_EQ(m.cpus[i].acpi_uid, i);
		CHECK(m.cpus[i].enabled);
		CHECK(!m.cpus[i].x2apic);
	}
	CHECK_EQ(m.nr_ioapics, 1);
	CHECK_EQ(m.ioapics[0].id, 4);
	CHECK_EQ(m.ioapics[0].address, 0xfec00000);
	CHECK_EQ(m.ioapics[0].gsi_base, 0);
	CHECK_EQ(m.nr_isos, 2);
	CHECK_EQ(m.isos[0].bus, 0);
	CHECK_EQ(m.isos[0].source_irq, 0);
	CHECK_EQ(m.isos[0].gsi, 2);
	CHECK_EQ(m.isos[0].flags, 0); /* conforms to ISA: edge, active high */
	CHECK_EQ(m.isos[1].bus, 0);
	CHECK_EQ(m.isos[1].source_irq, 9);
	CHECK_EQ(m.isos[1].gsi, 9);
	CHECK_EQ(m.isos[1].flags, 0xd); /* level, active high */
	CHECK_EQ(m.nr_lapic_nmis, 1);
	/* The host parser only counts NMI entries; the fields are checked raw. The entry is the table's last. */
	t = (const u8 *)acpi_find_table(ACPI_SIG_MADT, 0);
	nmi = t + ((const struct acpi_header *)t)->length - 6;
	CHECK_EQ(nmi[0], 4);
	CHECK_EQ(nmi[1], 6);
	CHECK_EQ(nmi[2], 0xff);
	CHECK_EQ(rd16(nmi + 3), 0);
	CHECK_EQ(nmi[5], 1);
	CHECK_EQ(((const struct acpi_header *)t)->revision, 4);
}

TEST(madt_many_vcpus)
{
	struct acpi_build_cfg cfg = default_cfg(ACPI_MAX_VCPUS);
	struct acpi_madt_info m;

	setup();
	init_host_parser(build(&cfg));
	CHECK_EQ(acpi_parse_madt(&m), 0);
	/* The host parser keeps ACPI_MAX_CPUS and counts the rest: all 255 entries were well-formed. */
	CHECK_EQ(m.nr_cpus, ACPI_MAX_CPUS);
	CHECK_EQ(m.nr_cpus_dropped, ACPI_MAX_VCPUS - ACPI_MAX_CPUS);
	CHECK_EQ(m.cpus[ACPI_MAX_CPUS - 1].apic_id, ACPI_MAX_CPUS - 1);
	CHECK_EQ(m.nr_ioapics, 1);
	CHECK_EQ(m.nr_isos, 2);
	CHECK_EQ(m.nr_lapic_nmis, 1);
	check_dsdt(find_dsdt(), ACPI_MAX_VCPUS);
}

TEST(sci_irq_and_gsi_base_follow_cfg)
{
	struct acpi_build_cfg cfg = default_cfg(1);
	struct acpi_madt_info m;

	setup();
	cfg.sci_irq = 10;
	cfg.ioapic_gsi_base = 24;
	init_host_parser(build(&cfg));
	CHECK_EQ(acpi_parse_madt(&m), 0);
	CHECK_EQ(m.ioapics[0].gsi_base, 24);
	CHECK_EQ(m.isos[0].gsi, 26);
	CHECK_EQ(m.isos[1].source_irq, 10);
	CHECK_EQ(m.isos[1].gsi, 34);
	CHECK_EQ(rd16(fadt_raw() + 46), 10);
}

TEST(fadt_round_trips_through_host_parser)
{
	struct acpi_build_cfg cfg = default_cfg(1);
	struct acpi_fadt_info f;

	setup();
	init_host_parser(build(&cfg));
	CHECK_EQ(acpi_parse_fadt(&f), 0);
	CHECK_EQ(f.revision, 6);
	CHECK_EQ(f.flags, BIT(0) | BIT(2) | BIT(5) | BIT(6) | BIT(8) | BIT(10));
	CHECK(!(f.flags & BIT(4)));  /* PWR_BUTTON clear: the fixed power button exists */
	CHECK(!(f.flags & BIT(20))); /* not hardware-reduced */
	CHECK_EQ(f.smi_cmd, 0);
	CHECK_EQ(f.acpi_enable, 0);
	CHECK_EQ(f.acpi_disable, 0);
	CHECK_EQ(f.pm1a_evt, 0x600);
	CHECK_EQ(f.pm1b_evt, 0);
	CHECK_EQ(f.pm1a_cnt, 0x604);
	CHECK_EQ(f.pm1b_cnt, 0);
	CHECK_EQ(f.pm1_cnt_len, 2);
	CHECK_EQ(f.pm_tmr, 0x608);
	CHECK(f.pm_tmr_32bit);
	CHECK(f.has_boot_arch);
	CHECK_EQ(f.boot_arch, ACPI_BOOT_ARCH_LEGACY_DEVICES | ACPI_BOOT_ARCH_8042 | BIT(2));
	CHECK(f.reset_supported);
	CHECK_EQ(f.reset_reg.space_id, ACPI_GAS_SYSTEM_IO);
	CHECK_EQ(f.reset_reg.bit_width, 8);
	CHECK_EQ(f.reset_reg.bit_offset, 0);
	CHECK_EQ(f.reset_reg.access_size, 1);
	CHECK_EQ(f.reset_reg.address, 0xcf9);
	CHECK_EQ(f.reset_value, 6);
	CHECK(f.dsdt >= AREA_BASE && f.dsdt < AREA_END);
}

TEST(fadt_raw_fields_and_facs)
{
	struct acpi_build_cfg cfg = default_cfg(1);
	const u8 *t, *facs;
	u32 facs_pa;

	setup();
	init_host_parser(build(&cfg));
	t = fadt_raw();
	CHECK_EQ(((const struct acpi_header *)t)->length, 276);
	CHECK_EQ(rd16(t + 46), 9);	       /* SCI_INT */
	CHECK_EQ(t[88], 4);		       /* PM1_EVT_LEN */
	CHECK_EQ(t[89], 2);		       /* PM1_CNT_LEN */
	CHECK_EQ(t[91], 4);		       /* PM_TMR_LEN */
	CHECK_EQ(rd32(t + 80), 0);	       /* no GPE0 block */
	CHECK_EQ(rd16(t + 96), 101);	       /* C2 unsupported */
	CHECK_EQ(rd16(t + 98), 1001);	       /* C3 unsupported */
	CHECK_EQ(rd64(t + 140), rd32(t + 40)); /* X_DSDT == DSDT */
	/* X_ blocks: system I/O, the legacy address, bit width = length * 8. */
	CHECK_EQ(t[148], 1);
	CHECK_EQ(t[149], 32);
	CHECK_EQ(rd64(t + 152), 0x600);
	CHECK_EQ(t[172], 1);
	CHECK_EQ(t[173], 16);
	CHECK_EQ(rd64(t + 176), 0x604);
	CHECK_EQ(t[208], 1);
	CHECK_EQ(t[209], 32);
	CHECK_EQ(rd64(t + 212), 0x608);
	CHECK_EQ(rd64(t + 160), 0); /* no PM1b */

	facs_pa = rd32(t + 36);
	CHECK_EQ(rd64(t + 132), 0); /* X_FIRMWARE_CTRL unused */
	CHECK_EQ(facs_pa % 64, 0);
	CHECK(facs_pa >= AREA_BASE && facs_pa + 64 <= AREA_END);
	facs = pa(facs_pa);
	CHECK(memcmp(facs, "FACS", 4) == 0);
	CHECK_EQ(rd32(facs + 4), 64);
	CHECK_EQ(facs[32], 2);
	CHECK_EQ(rd32(facs + 16), 0); /* global lock free */
}

TEST(fadt_x_fields_alone_give_the_same_ports)
{
	struct acpi_build_cfg cfg = default_cfg(1);
	struct acpi_fadt_info a, b;
	u8 *t;

	setup();
	init_host_parser(build(&cfg));
	CHECK_EQ(acpi_parse_fadt(&a), 0);
	/* An OS that prefers the 64-bit fields must see the same platform: clear the 32-bit ones and compare. */
	t = (u8 *)fadt_raw();
	memset(t + 40, 0, 4);
	memset(t + 56, 0, 4);
	memset(t + 64, 0, 4);
	memset(t + 76, 0, 4);
	((struct acpi_header *)t)->checksum = 0;
	((struct acpi_header *)t)->checksum = (u8)-sum(t, 276);
	CHECK_EQ(acpi_parse_fadt(&b), 0);
	CHECK_EQ(b.dsdt, a.dsdt);
	CHECK_EQ(b.pm1a_evt, a.pm1a_evt);
	CHECK_EQ(b.pm1a_cnt, a.pm1a_cnt);
	CHECK_EQ(b.pm_tmr, a.pm_tmr);
}

TEST(boot_arch_follows_cfg)
{
	struct acpi_build_cfg cfg = default_cfg(1);
	struct acpi_fadt_info f;

	setup();
	cfg.has_i8042 = false;
	cfg.has_rtc = false;
	cfg.has_vga = true;
	init_host_parser(build(&cfg));
	CHECK_EQ(acpi_parse_fadt(&f), 0);
	CHECK_EQ(f.boot_arch, ACPI_BOOT_ARCH_LEGACY_DEVICES | BIT(5)); /* no 8042, VGA present, no CMOS RTC */
}

TEST(s5_found_by_host_scanner)
{
	struct acpi_build_cfg cfg = default_cfg(2);
	u8 a = 0xee, b = 0xee;

	setup();
	init_host_parser(build(&cfg));
	CHECK_EQ(acpi_find_s5(&a, &b), 0);
	CHECK_EQ(a, ACPI_SLP_TYP_S5);
	CHECK_EQ(b, ACPI_SLP_TYP_S5);
	CHECK_EQ(ACPI_SLP_TYP_S5, 5);
}

TEST(dsdt_aml_is_well_formed)
{
	/* 1 and 2 vCPUs give one-byte PkgLengths for \_SB, 64 two bytes, 255 three bytes. */
	static const u32 counts[] = {1, 2, 3, 64, 140, 255};

	for (size_t i = 0; i < ARRAY_SIZE(counts); i++) {
		struct acpi_build_cfg cfg = default_cfg(counts[i]);
		u8 a, b;

		setup();
		init_host_parser(build(&cfg));
		check_dsdt(find_dsdt(), counts[i]);
		CHECK_EQ(acpi_find_s5(&a, &b), 0);
		CHECK_EQ(a, 5);
	}
}

TEST(dsdt_bytes_for_one_vcpu)
{
	/* What `iasl -oa` emits for the ASL in acpi_tables.c with one vCPU, byte for byte. */
	static const char expect[] = "\x10\x22\\_SB_" /* Scope (\_SB) */
				     "\x5b\x82\x1a"
				     "C000" /* Device (C000) */
				     "\x08_HID\x0d"
				     "ACPI0007\0"				     /* Name (_HID, "ACPI0007") */
				     "\x08_UID\x00"				     /* Name (_UID, Zero) */
				     "\x08_S5_\x12\x08\x04\x0a\x05\x0a\x05\x00\x00"; /* Name (_S5, Package...) */
	struct acpi_build_cfg cfg = default_cfg(1);
	const struct acpi_header *d;

	setup();
	init_host_parser(build(&cfg));
	d = find_dsdt();
	CHECK_EQ(d->length, 36 + sizeof(expect) - 1);
	CHECK(memcmp((const u8 *)d + 36, expect, sizeof(expect) - 1) == 0);
}

TEST(bad_cfg_is_rejected_and_writes_nothing)
{
	struct acpi_build_cfg good = default_cfg(1), cfg;
	u64 rsdp = 0x1234;

	setup();
#define REJECT(field, value, err)                                                                                      \
	do {                                                                                                           \
		cfg = good;                                                                                            \
		cfg.field = value;                                                                                     \
		CHECK_EQ(acpi_tables_build(&vm, &cfg, &rsdp), (u64)(s64)(err));                                        \
	} while (0)
	REJECT(nr_vcpus, 0, -EINVAL);
	REJECT(nr_vcpus, ACPI_MAX_VCPUS + 1, -EINVAL);
	REJECT(sci_irq, 0, -EINVAL);
	REJECT(sci_irq, 2, -EINVAL);
	REJECT(sci_irq, 16, -EINVAL);
	REJECT(reset_value, 0x02, -EINVAL);
	REJECT(ioapic_addr, 0, -EINVAL);
	REJECT(pm_port, 0, -EINVAL);
	REJECT(pm_port, 0xfff8, -EINVAL);
	REJECT(reset_port, 0x60b, -EINVAL);
	REJECT(reset_port, 0x600, -EINVAL);
	REJECT(reset_port, 0, -EINVAL);
	REJECT(base, 0xfffff000ULL, -EINVAL); /* above 4 GiB at its end: the RSDT could not point there */
	REJECT(len, 0, -ENOSPC);
	REJECT(len, 0x100, -ENOSPC);
	REJECT(base, RAM_BYTES, -EFAULT); /* not guest RAM */
#undef REJECT
	CHECK_EQ(acpi_tables_build(&vm, NULL, &rsdp), (u64)-EINVAL);
	CHECK_EQ(acpi_tables_build(&vm, &good, NULL), (u64)-EINVAL);
	CHECK_EQ(rsdp, 0x1234);
	for (u64 a = 0; a < RAM_BYTES; a++)
		CHECK_EQ(*(u8 *)fake_vm_gpa(a, 1), 0);
}

/* The smallest area that holds the tables works, one byte less fails without writing anything. */
TEST(tables_fit_exactly_or_fail_cleanly)
{
	static const u32 counts[] = {1, 8, 255};

	for (size_t i = 0; i < ARRAY_SIZE(counts); i++) {
		struct acpi_build_cfg cfg = default_cfg(counts[i]);
		const struct acpi_header *madt;
		u64 rsdp, end = AREA_BASE;

		setup();
		rsdp = build(&cfg);
		init_host_parser(rsdp);
		madt = acpi_find_table(ACPI_SIG_MADT, 0);
		end = MAX(end, virt_to_phys(find_dsdt()) + find_dsdt()->length);
		end = MAX(end, virt_to_phys(fadt_raw()) + 276);
		end = MAX(end, virt_to_phys(madt) + madt->length);
		CHECK(end > rsdp && end - AREA_BASE < 16384);

		setup();
		cfg.len = end - AREA_BASE;
		CHECK_EQ(acpi_tables_build(&vm, &cfg, &rsdp), 0);
		setup();
		cfg.len = end - AREA_BASE - 1;
		CHECK_EQ(acpi_tables_build(&vm, &cfg, &rsdp), (u64)-ENOSPC);
		for (u64 a = AREA_BASE; a < AREA_END; a++)
			CHECK_EQ(*(u8 *)fake_vm_gpa(a, 1), 0);
	}
}

/* The HPET table (IA-PC HPET 1.0a, 3.2.4): listed in both root tables after the MADT, 56 bytes, checksummed, with the
 * block ID, the address as a system-memory GAS, the minimum periodic tick and 4K page protection; absent without
 * hpet_addr. */
TEST(hpet_table_describes_the_block)
{
	struct acpi_build_cfg cfg = default_cfg(2);
	const struct acpi_header *h;
	const u8 *t;

	setup();
	init_host_parser(build(&cfg));
	CHECK(acpi_find_table("HPET", 0) == NULL);

	cfg.hpet_addr = 0xfed00000;
	cfg.hpet_block_id = 0x8086a201;
	cfg.hpet_min_tick = 10000;
	setup();
	u64 rsdp = build(&cfg);
	init_host_parser(rsdp);
	h = acpi_find_table("HPET", 0);
	CHECK(h != NULL);
	t = (const u8 *)h;
	CHECK_EQ(h->length, 56);
	CHECK_EQ(h->revision, 1);
	CHECK_EQ(sum(t, h->length), 0);
	check_oem(t);
	CHECK_EQ(rd32(t + 36), 0x8086a201);
	CHECK_EQ(t[40], 0);  /* system memory */
	CHECK_EQ(t[41], 64); /* register width */
	CHECK_EQ(t[42], 0);
	CHECK_EQ(rd64(t + 44), 0xfed00000);
	CHECK_EQ(t[52], 0); /* HPET number */
	CHECK_EQ(rd16(t + 53), 10000);
	CHECK_EQ(t[55], 1); /* 4K page protection */
	const struct acpi_header *x = (const struct acpi_header *)pa(((const struct acpi_rsdp *)pa(rsdp))->xsdt_address);
	const struct acpi_header *rt = (const struct acpi_header *)pa(((const struct acpi_rsdp *)pa(rsdp))->rsdt_address);
	CHECK_EQ((x->length - 36) / 8, 3);
	CHECK_EQ((rt->length - 36) / 4, 3);
	CHECK_EQ(rd64((const u8 *)x + 36 + 16), virt_to_phys(h));
	CHECK_EQ(rd32((const u8 *)rt + 36 + 8), virt_to_phys(h));
	/* The other tables are still there. */
	CHECK(acpi_find_table(ACPI_SIG_MADT, 0) != NULL);
	CHECK(fadt_raw() != NULL);
}

TEST(dsdt_pci0_host_bridge)
{
	setup();
	struct acpi_build_cfg cfg = default_cfg(3);
	cfg.pci_mmio_base = 0xc0000000;
	cfg.pci_mmio_end = 0xfec00000;
	cfg.pci_gsi_base = 16;
	init_host_parser(build(&cfg));
	pci0_seen = 0;
	check_dsdt(find_dsdt(), 3);
	CHECK_EQ(pci0_seen, 1);
	/* Without a window, no PCI0 (the checker would have called check_pci0). */
	setup();
	cfg = default_cfg(3);
	init_host_parser(build(&cfg));
	pci0_seen = 0;
	check_dsdt(find_dsdt(), 3);
	CHECK_EQ(pci0_seen, 0);
}
