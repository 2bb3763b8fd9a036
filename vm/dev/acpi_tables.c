/* The guest's static ACPI tables: RSDP, XSDT/RSDT, FADT (with FACS), MADT and a DSDT of hand-assembled AML, staged in
 * one host buffer and copied into guest memory in a single write. They describe exactly the platform the VM emulates
 * (the PM block and reset port of acpi_pm.c, one IOAPIC, xAPIC vCPUs), so an unmodified Linux boots with ACPI on. */
#include "vm/dev/acpi_tables.h"
#include "drivers/acpi.h"
#include "hv/errno.h"
#include "hv/platform.h"
#include "hv/string.h"

#define ACPI_OEM_ID	  "HVMICR"
#define ACPI_OEM_TABLE_ID "MICROHV "
#define ACPI_OEM_REV	  1
#define ACPI_CREATOR_ID	  "MHV "
#define ACPI_CREATOR_REV  1

/* ---- HPET description table (IA-PC HPET specification 1.0a, 3.2.4), 56 bytes ---- */
#define ACPI_SIG_HPET	     "HPET"
#define HPET_TABLE_REVISION  1
#define HPET_TABLE_LEN	     56
#define HPET_TABLE_BLOCK_ID  36 /* the low 32 bits of the block's GCAP_ID */
#define HPET_TABLE_BASE	     40 /* GAS */
#define HPET_TABLE_NUMBER    52
#define HPET_TABLE_MIN_TICK  53
#define HPET_TABLE_PAGE_PROT 55
#define HPET_PAGE_PROT_4K    1 /* nothing else decodes in the HPET's 4 KiB page */

/* Tables for ACPI_MAX_VCPUS take about 10 KiB; the cap bounds the staging allocation whatever the area's size. */
#define ACPI_STAGE_MAX	 (64u << 10)
#define ACPI_TABLE_ALIGN 16
#define ACPI_FACS_ALIGN	 64 /* the spec requires it */

/* ---- FADT (revision 6.0, 276 bytes): offsets per the ACPI specification, table 5.34 ---- */
#define FADT_REVISION	    6
#define FADT_MINOR_REVISION 0
#define FADT_LEN	    276
#define FADT_FIRMWARE_CTRL  36
#define FADT_DSDT	    40
#define FADT_SCI_INT	    46
#define FADT_PM1A_EVT_BLK   56
#define FADT_PM1A_CNT_BLK   64
#define FADT_PM_TMR_BLK	    76
#define FADT_PM1_EVT_LEN    88
#define FADT_PM1_CNT_LEN    89
#define FADT_PM_TMR_LEN	    91
#define FADT_P_LVL2_LAT	    96
#define FADT_P_LVL3_LAT	    98
#define FADT_IAPC_BOOT_ARCH 109
#define FADT_FLAGS	    112
#define FADT_RESET_REG	    116
#define FADT_RESET_VALUE    128
#define FADT_MINOR_VERSION  131
#define FADT_X_DSDT	    140
#define FADT_X_PM1A_EVT_BLK 148
#define FADT_X_PM1A_CNT_BLK 172
#define FADT_X_PM_TMR_BLK   208
#define FADT_HYPERVISOR_ID  268

/* P_LVLx_LAT above these limits means "C2/C3 not supported": the vCPU only has C1 (HLT). */
#define FADT_NO_C2 101
#define FADT_NO_C3 1001

#define FADT_F_WBINVD	     BIT(0)
#define FADT_F_PROC_C1	     BIT(2)
#define FADT_F_PWR_BUTTON    BIT(4) /* set: no fixed-feature power button */
#define FADT_F_SLP_BUTTON    BIT(5) /* set: no fixed-feature sleep button */
#define FADT_F_FIX_RTC	     BIT(6) /* set: no RTC_STS/RTC_EN in PM1 */
#define FADT_F_TMR_VAL_EXT   BIT(8)
#define FADT_F_RESET_REG_SUP BIT(10)

/*
 * WBINVD works (it is intercepted and emulated), C1 is HLT, the power button is the fixed-feature one acpi_pm.c
 * implements (PWR_BUTTON clear), there is no sleep button and no RTC wake status, the PM timer is 32 bits and the
 * reset register is the RCR port.
 */
#define FADT_FLAGS_VALUE                                                                                               \
	(FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_SLP_BUTTON | FADT_F_FIX_RTC | FADT_F_TMR_VAL_EXT |                    \
	 FADT_F_RESET_REG_SUP)

#define BOOT_ARCH_LEGACY_DEVICES BIT(0)
#define BOOT_ARCH_8042		 BIT(1)
#define BOOT_ARCH_NO_VGA	 BIT(2)
#define BOOT_ARCH_NO_CMOS_RTC	 BIT(5)

#define GAS_ACCESS_UNDEFINED 0 /* as QEMU and most firmware publish the PM blocks: the width is the bit width */
#define GAS_ACCESS_BYTE	     1

/* ---- FACS ---- */
#define FACS_LEN     64
#define FACS_VERSION 2

/* ---- MADT (revision 4, ACPI 6.0) ---- */
#define MADT_REVISION	    4
#define MADT_HDR_LEN	    44
#define MADT_LAPIC_ADDR	    0xfee00000u
#define MADT_PCAT_COMPAT    BIT(0)
#define MADT_LAPIC	    0
#define MADT_IOAPIC	    1
#define MADT_ISO	    2
#define MADT_LAPIC_NMI	    4
#define MADT_LAPIC_LEN	    8
#define MADT_IOAPIC_LEN	    12
#define MADT_ISO_LEN	    10
#define MADT_LAPIC_NMI_LEN  6
#define MADT_LAPIC_ENABLED  BIT(0)
#define MADT_ALL_PROCESSORS 0xff
#define MADT_NR_ISOS	    2
/* MPS INTI flags: polarity bits 1:0, trigger mode bits 3:2; 0 means "conforms to the bus" (ISA: edge, high). */
#define MPS_INTI_CONFORMS    0
#define MPS_INTI_ACTIVE_HIGH 0x1
#define MPS_INTI_LEVEL	     0xc

/* ---- DSDT ---- */
#define DSDT_REVISION 2 /* 64-bit AML integers */

/* AML opcodes and prefixes (ACPI specification, chapter 20). */
#define AML_ZERO_OP	  0x00
#define AML_ONE_OP	  0x01
#define AML_NAME_OP	  0x08
#define AML_BYTE_PREFIX	  0x0a
#define AML_WORD_PREFIX	  0x0b
#define AML_DWORD_PREFIX  0x0c
#define AML_STRING_PREFIX 0x0d
#define AML_QWORD_PREFIX  0x0e
#define AML_SCOPE_OP	  0x10
#define AML_BUFFER_OP	  0x11
#define AML_PACKAGE_OP	  0x12
#define AML_EXT_OP_PREFIX 0x5b
#define AML_DEVICE_OP	  0x82 /* after AML_EXT_OP_PREFIX */
#define AML_ROOT_CHAR	  '\\'
/* A PkgLength is reserved at its widest that a 64 KiB stage needs (3 bytes: 20 bits) and shrunk once the body is
 * known, so nested packages need no size pre-pass. Until then each open package (four at most: \_SB, a Device, the
 * _PRT package and one of its entries) holds up to 2 bytes more than it will, which the stage's slack absorbs so an
 * exact-fit area still works. */
#define AML_PKGLEN_RESERVE 3
#define AML_SLACK	   16

static_assert(ACPI_STAGE_MAX < (1u << 20), "a 3-byte PkgLength covers any package in the stage");

int acpi_build_cfg_check(const struct acpi_build_cfg *cfg)
{
	if (!cfg || cfg->nr_vcpus == 0 || cfg->nr_vcpus > ACPI_MAX_VCPUS)
		return -EINVAL;
	if (cfg->sci_irq == 0 || cfg->sci_irq == 2 || cfg->sci_irq >= 16)
		return -EINVAL; /* IRQ0 is the timer's override, IRQ2 the cascade, the rest are not ISA lines */
	if (!cfg->ioapic_addr || !(cfg->reset_value & ACPI_RESET_RST_CPU))
		return -EINVAL; /* a reset value without RST_CPU would make the FADT promise a reset that does nothing
				 */
	if (!cfg->pm_port || (u32)cfg->pm_port + ACPI_PM_PORTS > 0x10000 || !cfg->reset_port)
		return -EINVAL;
	if (cfg->reset_port >= cfg->pm_port && cfg->reset_port < cfg->pm_port + ACPI_PM_PORTS)
		return -EINVAL;
	return 0;
}

/* The staging image of [gpa, gpa + cap) of guest memory; used grows as tables are placed. buf has AML_SLACK bytes
 * more than cap, for the DSDT's transient PkgLength reserves only. */
struct stage {
	u8 *buf;
	gpa_t gpa;
	u32 cap, used;
};

/* Room for len bytes at an address aligned to align (a power of two), or -ENOSPC. */
static int stage_alloc(struct stage *s, u32 len, u32 align, u32 *off)
{
	u64 o = ALIGN_UP(s->gpa + s->used, (u64)align) - s->gpa;

	if (o > s->cap || len > s->cap - o)
		return -ENOSPC;
	*off = (u32)o;
	s->used = (u32)o + len;
	return 0;
}

static u64 stage_gpa(const struct stage *s, u32 off)
{
	return s->gpa + off;
}

static void put16(u8 *p, u16 v)
{
	memcpy(p, &v, sizeof(v));
}

static void put32(u8 *p, u32 v)
{
	memcpy(p, &v, sizeof(v));
}

static void put64(u8 *p, u64 v)
{
	memcpy(p, &v, sizeof(v));
}

static void put_gas(u8 *p, u8 space, u8 bit_width, u8 access, u64 addr)
{
	struct acpi_gas g = {.space_id = space, .bit_width = bit_width, .access_size = access, .address = addr};

	memcpy(p, &g, sizeof(g));
}

static u8 checksum(const u8 *p, u32 len)
{
	u8 sum = 0;

	while (len--)
		sum += *p++;
	return (u8)-sum;
}

static void put_header(u8 *t, const char *sig, u32 len, u8 rev)
{
	struct acpi_header h = {.length = len, .revision = rev, .oem_revision = ACPI_OEM_REV};

	memcpy(h.signature, sig, 4);
	memcpy(h.oem_id, ACPI_OEM_ID, 6);
	memcpy(h.oem_table_id, ACPI_OEM_TABLE_ID, 8);
	memcpy(&h.creator_id, ACPI_CREATOR_ID, 4);
	h.creator_revision = ACPI_CREATOR_REV;
	memcpy(t, &h, sizeof(h));
}

/* Last step for a table: every byte is final, so the checksum can make them sum to zero. */
static void seal_table(u8 *t)
{
	struct acpi_header *h = (struct acpi_header *)t;

	h->checksum = 0;
	h->checksum = checksum(t, h->length);
}

/* ---- AML writer ---- */

struct aml {
	u8 *p;
	u32 cap, pos;
	bool overflow; /* sticky: once set, nothing more is written and the DSDT is not used */
};

static void aml_bytes(struct aml *a, const void *src, u32 n)
{
	if (a->overflow || n > a->cap - a->pos) {
		a->overflow = true;
		return;
	}
	memcpy(a->p + a->pos, src, n);
	a->pos += n;
}

static void aml_byte(struct aml *a, u8 b)
{
	aml_bytes(a, &b, 1);
}

static void aml_nameseg(struct aml *a, const char seg[4])
{
	aml_bytes(a, seg, 4);
}

/* The shortest ComputationalData encoding of v, as iasl emits it. */
static void aml_integer(struct aml *a, u64 v)
{
	u8 prefix;
	u32 n;

	if (v == 0 || v == 1) {
		aml_byte(a, v ? AML_ONE_OP : AML_ZERO_OP);
		return;
	}
	if (v <= 0xff) {
		prefix = AML_BYTE_PREFIX;
		n = 1;
	} else if (v <= 0xffff) {
		prefix = AML_WORD_PREFIX;
		n = 2;
	} else if (v <= 0xffffffffu) {
		prefix = AML_DWORD_PREFIX;
		n = 4;
	} else {
		prefix = AML_QWORD_PREFIX;
		n = 8;
	}
	aml_byte(a, prefix);
	for (u32 i = 0; i < n; i++)
		aml_byte(a, (u8)(v >> (8 * i)));
}

static void aml_string(struct aml *a, const char *s)
{
	aml_byte(a, AML_STRING_PREFIX);
	aml_bytes(a, s, (u32)strlen(s) + 1);
}

/* Open a package: reserve its PkgLength; the body follows. Returns the PkgLength's offset for aml_pkg_end. */
static u32 aml_pkg_begin(struct aml *a)
{
	static const u8 zeros[AML_PKGLEN_RESERVE];
	u32 start = a->pos;

	aml_bytes(a, zeros, sizeof(zeros));
	return start;
}

/*
 * Close the package opened at start: encode PkgLength (which counts itself and the body) in as few bytes as it needs
 * and slide the body down over the unused reserve. Encodings: one byte, bits 5:0, up to 63; otherwise bits 7:6 hold
 * the count of following bytes, bits 3:0 the low nibble, and each following byte 8 more bits.
 */
static void aml_pkg_end(struct aml *a, u32 start)
{
	u32 body, n, len;
	u8 *p;

	if (a->overflow)
		return;
	p = a->p + start;
	body = a->pos - start - AML_PKGLEN_RESERVE;
	n = body + 1 <= 0x3f ? 1 : body + 2 <= 0xfff ? 2 : 3;
	len = body + n;
	if (n == 1) {
		p[0] = (u8)len;
	} else {
		p[0] = (u8)(((n - 1) << 6) | (len & 0xf));
		for (u32 i = 1; i < n; i++)
			p[i] = (u8)(len >> (4 + 8 * (i - 1)));
	}
	memmove(p + n, p + AML_PKGLEN_RESERVE, body);
	a->pos -= AML_PKGLEN_RESERVE - n;
}

/* Name (Cxxx, ...) for processor i: three upper-case hex digits keep every name a valid NameSeg up to 0xfff. */
static void processor_name(char seg[4], u32 i)
{
	static const char hex[] = "0123456789ABCDEF";

	seg[0] = 'C';
	seg[1] = hex[(i >> 8) & 0xf];
	seg[2] = hex[(i >> 4) & 0xf];
	seg[3] = hex[i & 0xf];
}

/*
 * The DSDT body, equivalent to this ASL:
 *
 *   Scope (\_SB) {
 *       Device (C000) { Name (_HID, "ACPI0007") Name (_UID, 0) }      one per vCPU; _UID = the MADT processor UID
 *       ...
 *       Device (PCI0) { ... }                                           with cfg->pci_mmio_end (build_pci0_aml)
 *   }
 *   Name (_S5, Package (4) { 5, 5, 0, 0 })                           SLP_TYPa, SLP_TYPb = ACPI_SLP_TYP_S5
 *
 * The processor devices let Linux's ACPI processor driver bind to each CPU; only the MADT decides which CPUs exist.
 * No other sleep state is declared, so an OS never tries S1-S4, which the VM cannot do.
 */
/* Name (seg, v): an integer object. */
static void aml_name_int(struct aml *a, const char seg[4], u64 v)
{
	aml_byte(a, AML_NAME_OP);
	aml_nameseg(a, seg);
	aml_integer(a, v);
}

static void put_le(u8 *p, u64 v, u32 n)
{
	for (u32 i = 0; i < n; i++)
		p[i] = (u8)(v >> (8 * i));
}

/* A Word Address Space Descriptor (ACPI 6.4.3.5.3), producer, fixed min and max: bus numbers or I/O ports. */
static void aml_word_space(struct aml *a, u8 type, u8 type_flags, u16 min, u16 max)
{
	u8 d[16] = { 0x88, 13, 0, type, 0x0c, type_flags };
	put_le(d + 8, min, 2);
	put_le(d + 10, max, 2);
	put_le(d + 14, (u32)max - min + 1, 2);
	aml_bytes(a, d, sizeof(d));
}

/*
 * Device (PCI0) {
 *     Name (_HID, EisaId ("PNP0A03")) Name (_UID, 0) Name (_ADR, 0) Name (_BBN, 0)
 *     Name (_CRS, ResourceTemplate () {
 *         WordBusNumber (0, 0), IO (Decode16, 0xcf8, 0xcf8, 1, 8), WordIO (0-0xcf7), WordIO (0xd00-0xffff),
 *         DWordMemory (NonCacheable, ReadWrite, pci_mmio_base, pci_mmio_end - 1) })
 *     Name (_PRT, Package () { Package () { 0x0001ffff, 0, 0, gsi(1) }, ... slots 1-31, INTA })
 * }
 * Linux's PCI root driver takes the bus, the windows and the routing from it; mechanism 1 needs no MCFG.
 */
static void build_pci0_aml(struct aml *a, const struct acpi_build_cfg *cfg)
{
	u32 dev, buf, prt, ent;

	aml_byte(a, AML_EXT_OP_PREFIX);
	aml_byte(a, AML_DEVICE_OP);
	dev = aml_pkg_begin(a);
	aml_nameseg(a, "PCI0");
	aml_name_int(a, "_HID", 0x030ad041); /* EisaId ("PNP0A03") */
	aml_name_int(a, "_UID", 0);
	aml_name_int(a, "_ADR", 0);
	aml_name_int(a, "_BBN", 0);

	aml_byte(a, AML_NAME_OP);
	aml_nameseg(a, "_CRS");
	aml_byte(a, AML_BUFFER_OP);
	buf = aml_pkg_begin(a);
	aml_integer(a, 16 + 8 + 16 + 16 + 26 + 2); /* BufferSize: the descriptors below */
	aml_word_space(a, 2, 0, 0, 0);		    /* bus 0 */
	static const u8 io_cf8[8] = { 0x47, 0x01, 0xf8, 0x0c, 0xf8, 0x0c, 0x01, 0x08 };
	aml_bytes(a, io_cf8, sizeof(io_cf8));
	aml_word_space(a, 1, 3, 0x0000, 0x0cf7); /* I/O, EntireRange */
	aml_word_space(a, 1, 3, 0x0d00, 0xffff);
	u8 mem[26] = { 0x87, 23, 0, 0, 0x0c, 0x01 }; /* memory, producer, fixed, read-write, non-cacheable */
	put_le(mem + 10, cfg->pci_mmio_base, 4);
	put_le(mem + 14, cfg->pci_mmio_end - 1, 4);
	put_le(mem + 22, cfg->pci_mmio_end - cfg->pci_mmio_base, 4);
	aml_bytes(a, mem, sizeof(mem));
	static const u8 end_tag[2] = { 0x79, 0x00 };
	aml_bytes(a, end_tag, sizeof(end_tag));
	aml_pkg_end(a, buf);

	aml_byte(a, AML_NAME_OP);
	aml_nameseg(a, "_PRT");
	aml_byte(a, AML_PACKAGE_OP);
	prt = aml_pkg_begin(a);
	aml_byte(a, 31); /* NumElements: slots 1-31 */
	for (u32 slot = 1; slot < 32; slot++) {
		aml_byte(a, AML_PACKAGE_OP);
		ent = aml_pkg_begin(a);
		aml_byte(a, 4);
		aml_integer(a, (slot << 16) | 0xffff); /* _ADR: any function of the slot */
		aml_integer(a, 0);		       /* INTA */
		aml_integer(a, 0);		       /* no link device: the next field is a GSI */
		aml_integer(a, cfg->pci_gsi_base + slot % 8);
		aml_pkg_end(a, ent);
	}
	aml_pkg_end(a, prt);
	aml_pkg_end(a, dev);
}

static void build_dsdt_aml(struct aml *a, const struct acpi_build_cfg *cfg)
{
	u32 nr_vcpus = cfg->nr_vcpus;
	u32 scope, dev, pkg;

	aml_byte(a, AML_SCOPE_OP);
	scope = aml_pkg_begin(a);
	aml_byte(a, AML_ROOT_CHAR);
	aml_nameseg(a, "_SB_");
	for (u32 i = 0; i < nr_vcpus; i++) {
		char name[4];

		processor_name(name, i);
		aml_byte(a, AML_EXT_OP_PREFIX);
		aml_byte(a, AML_DEVICE_OP);
		dev = aml_pkg_begin(a);
		aml_nameseg(a, name);
		aml_byte(a, AML_NAME_OP);
		aml_nameseg(a, "_HID");
		aml_string(a, "ACPI0007");
		aml_byte(a, AML_NAME_OP);
		aml_nameseg(a, "_UID");
		aml_integer(a, i);
		aml_pkg_end(a, dev);
	}
	if (cfg->pci_mmio_end)
		build_pci0_aml(a, cfg);
	aml_pkg_end(a, scope);

	aml_byte(a, AML_NAME_OP);
	aml_nameseg(a, "_S5_");
	aml_byte(a, AML_PACKAGE_OP);
	pkg = aml_pkg_begin(a);
	aml_byte(a, 4); /* NumElements */
	aml_integer(a, ACPI_SLP_TYP_S5);
	aml_integer(a, ACPI_SLP_TYP_S5);
	aml_integer(a, 0);
	aml_integer(a, 0);
	aml_pkg_end(a, pkg);
}

/* The DSDT goes last: its size is known only once the AML is written into the rest of the stage. */
static int build_dsdt(struct stage *s, const struct acpi_build_cfg *cfg, u32 *off)
{
	u32 hdr = sizeof(struct acpi_header);
	struct aml a;
	int r;

	r = stage_alloc(s, hdr, ACPI_TABLE_ALIGN, off);
	if (r)
		return r;
	a = (struct aml){.p = s->buf + *off + hdr, .cap = s->cap + AML_SLACK - (*off + hdr)};
	build_dsdt_aml(&a, cfg);
	if (a.overflow || a.pos > s->cap - s->used)
		return -ENOSPC;
	s->used += a.pos;
	put_header(s->buf + *off, ACPI_SIG_DSDT, hdr + a.pos, DSDT_REVISION);
	seal_table(s->buf + *off);
	return 0;
}

static void build_fadt(u8 *t, const struct acpi_build_cfg *cfg, u64 facs, u64 dsdt)
{
	u16 boot_arch = BOOT_ARCH_LEGACY_DEVICES;
	u16 pm = cfg->pm_port;

	if (cfg->has_i8042)
		boot_arch |= BOOT_ARCH_8042;
	if (!cfg->has_vga)
		boot_arch |= BOOT_ARCH_NO_VGA;
	if (!cfg->has_rtc)
		boot_arch |= BOOT_ARCH_NO_CMOS_RTC;

	put_header(t, ACPI_SIG_FADT, FADT_LEN, FADT_REVISION);
	/* Both tables sit below 4 GiB, so the 32-bit pointers are set; X_FIRMWARE_CTRL stays 0 as the spec wants when
	 * FIRMWARE_CTRL is used, and X_DSDT repeats DSDT (ACPICA accepts equal values without a warning). */
	put32(t + FADT_FIRMWARE_CTRL, (u32)facs);
	put32(t + FADT_DSDT, (u32)dsdt);
	put16(t + FADT_SCI_INT, cfg->sci_irq);
	/* SMI_CMD, ACPI_ENABLE and ACPI_DISABLE stay 0: the machine is always in ACPI mode (SCI_EN reads 1). */
	put32(t + FADT_PM1A_EVT_BLK, pm + ACPI_PM1_STS);
	put32(t + FADT_PM1A_CNT_BLK, pm + ACPI_PM1_CNT);
	put32(t + FADT_PM_TMR_BLK, pm + ACPI_PM_TMR);
	t[FADT_PM1_EVT_LEN] = ACPI_PM1_EVT_LEN;
	t[FADT_PM1_CNT_LEN] = ACPI_PM1_CNT_LEN;
	t[FADT_PM_TMR_LEN] = ACPI_PM_TMR_LEN;
	put16(t + FADT_P_LVL2_LAT, FADT_NO_C2);
	put16(t + FADT_P_LVL3_LAT, FADT_NO_C3);
	put16(t + FADT_IAPC_BOOT_ARCH, boot_arch);
	put32(t + FADT_FLAGS, FADT_FLAGS_VALUE);
	put_gas(t + FADT_RESET_REG, ACPI_GAS_SYSTEM_IO, 8, GAS_ACCESS_BYTE, cfg->reset_port);
	t[FADT_RESET_VALUE] = cfg->reset_value;
	t[FADT_MINOR_VERSION] = FADT_MINOR_REVISION;
	put64(t + FADT_X_DSDT, dsdt);
	/* The X_ blocks must agree with the legacy ones, bit widths included, or ACPICA warns and picks one. */
	put_gas(t + FADT_X_PM1A_EVT_BLK, ACPI_GAS_SYSTEM_IO, ACPI_PM1_EVT_LEN * 8, GAS_ACCESS_UNDEFINED,
		pm + ACPI_PM1_STS);
	put_gas(t + FADT_X_PM1A_CNT_BLK, ACPI_GAS_SYSTEM_IO, ACPI_PM1_CNT_LEN * 8, GAS_ACCESS_UNDEFINED,
		pm + ACPI_PM1_CNT);
	put_gas(t + FADT_X_PM_TMR_BLK, ACPI_GAS_SYSTEM_IO, ACPI_PM_TMR_LEN * 8, GAS_ACCESS_UNDEFINED, pm + ACPI_PM_TMR);
	memcpy(t + FADT_HYPERVISOR_ID, ACPI_OEM_TABLE_ID, 8);
	seal_table(t);
}

static void build_facs(u8 *t)
{
	/* No checksum: the OS writes to the FACS (waking vector, global lock). */
	memcpy(t, "FACS", 4);
	put32(t + 4, FACS_LEN);
	t[32] = FACS_VERSION;
}

static u32 madt_len(u32 nr_vcpus)
{
	return MADT_HDR_LEN + nr_vcpus * MADT_LAPIC_LEN + MADT_IOAPIC_LEN + MADT_NR_ISOS * MADT_ISO_LEN +
	       MADT_LAPIC_NMI_LEN;
}

static u8 *madt_iso(u8 *e, u8 irq, u32 gsi, u16 flags)
{
	e[0] = MADT_ISO;
	e[1] = MADT_ISO_LEN;
	e[2] = 0; /* bus: ISA */
	e[3] = irq;
	put32(e + 4, gsi);
	put16(e + 8, flags);
	return e + MADT_ISO_LEN;
}

static void build_madt(u8 *t, const struct acpi_build_cfg *cfg)
{
	u8 *e = t + MADT_HDR_LEN;

	put_header(t, ACPI_SIG_MADT, madt_len(cfg->nr_vcpus), MADT_REVISION);
	put32(t + 36, MADT_LAPIC_ADDR);
	put32(t + 40, MADT_PCAT_COMPAT); /* the PIC pair exists: an OS using the IOAPIC masks it */
	/* The boot processor comes first, as the spec asks: vCPU 0 is the BSP. */
	for (u32 i = 0; i < cfg->nr_vcpus; i++, e += MADT_LAPIC_LEN) {
		e[0] = MADT_LAPIC;
		e[1] = MADT_LAPIC_LEN;
		e[2] = (u8)i; /* ACPI processor UID, = the DSDT device's _UID */
		e[3] = (u8)i; /* APIC ID */
		put32(e + 4, MADT_LAPIC_ENABLED);
	}
	e[0] = MADT_IOAPIC;
	e[1] = MADT_IOAPIC_LEN;
	e[2] = cfg->ioapic_id;
	e[3] = 0;
	put32(e + 4, cfg->ioapic_addr);
	put32(e + 8, cfg->ioapic_gsi_base);
	e += MADT_IOAPIC_LEN;
	/* The routing vm_set_irq implements: IRQ0 on pin 2 (edge, like every ISA line), and the SCI level-triggered,
	 * active high, on its own pin. Without the second override an OS would program the SCI pin edge-triggered. */
	e = madt_iso(e, 0, cfg->ioapic_gsi_base + 2, MPS_INTI_CONFORMS);
	e = madt_iso(e, cfg->sci_irq, cfg->ioapic_gsi_base + cfg->sci_irq, MPS_INTI_ACTIVE_HIGH | MPS_INTI_LEVEL);
	/* LINT1 of every local APIC is the NMI input, as on a PC. */
	e[0] = MADT_LAPIC_NMI;
	e[1] = MADT_LAPIC_NMI_LEN;
	e[2] = MADT_ALL_PROCESSORS;
	put16(e + 3, MPS_INTI_CONFORMS);
	e[5] = 1; /* LINT1 */
	seal_table(t);
}

static void build_root(u8 *t, bool xsdt, const u64 *entries, u32 n)
{
	u32 esize = xsdt ? 8 : 4;

	put_header(t, xsdt ? ACPI_SIG_XSDT : ACPI_SIG_RSDT, (u32)sizeof(struct acpi_header) + n * esize, 1);
	for (u32 i = 0; i < n; i++) {
		u8 *e = t + sizeof(struct acpi_header) + i * esize;

		if (xsdt)
			put64(e, entries[i]);
		else
			put32(e, (u32)entries[i]);
	}
	seal_table(t);
}

static void build_rsdp(u8 *t, u64 rsdt, u64 xsdt)
{
	struct acpi_rsdp r = {
	    .revision = 2,
	    .rsdt_address = (u32)rsdt,
	    .length = sizeof(r),
	    .xsdt_address = xsdt,
	};

	memcpy(r.signature, ACPI_SIG_RSDP, 8);
	memcpy(r.oem_id, ACPI_OEM_ID, 6);
	r.checksum = checksum((const u8 *)&r, 20);
	r.ext_checksum = checksum((const u8 *)&r, sizeof(r));
	memcpy(t, &r, sizeof(r));
}

/* The HPET the VM has (vm/dev/hpet.c): its block ID is the low half of GCAP_ID, which the caller gives, so that the
 * table and the device cannot disagree. */
static void build_hpet(u8 *t, const struct acpi_build_cfg *cfg)
{
	put_header(t, ACPI_SIG_HPET, HPET_TABLE_LEN, HPET_TABLE_REVISION);
	put32(t + HPET_TABLE_BLOCK_ID, cfg->hpet_block_id);
	put_gas(t + HPET_TABLE_BASE, 0 /* system memory */, 64, 0, cfg->hpet_addr);
	t[HPET_TABLE_NUMBER] = 0;
	put16(t + HPET_TABLE_MIN_TICK, cfg->hpet_min_tick);
	t[HPET_TABLE_PAGE_PROT] = HPET_PAGE_PROT_4K;
	seal_table(t);
}

/* Place and fill every table in the stage; s->used ends up as the image's size. */
static int build_all(struct stage *s, const struct acpi_build_cfg *cfg)
{
	enum { ROOT_FADT, ROOT_MADT, ROOT_HPET, MAX_ROOT };
	u32 rsdp, xsdt, rsdt, fadt, facs, madt, dsdt, hpet = 0;
	u32 nr_root = cfg->hpet_addr ? 3 : 2;
	u64 roots[MAX_ROOT];
	int r;

	if ((r = stage_alloc(s, sizeof(struct acpi_rsdp), ACPI_TABLE_ALIGN, &rsdp)) ||
	    (r = stage_alloc(s, sizeof(struct acpi_header) + nr_root * 8, ACPI_TABLE_ALIGN, &xsdt)) ||
	    (r = stage_alloc(s, sizeof(struct acpi_header) + nr_root * 4, ACPI_TABLE_ALIGN, &rsdt)) ||
	    (r = stage_alloc(s, FADT_LEN, ACPI_TABLE_ALIGN, &fadt)) ||
	    (r = stage_alloc(s, FACS_LEN, ACPI_FACS_ALIGN, &facs)) ||
	    (r = stage_alloc(s, madt_len(cfg->nr_vcpus), ACPI_TABLE_ALIGN, &madt)) ||
	    (r = build_dsdt(s, cfg, &dsdt)) ||
	    (cfg->hpet_addr && (r = stage_alloc(s, HPET_TABLE_LEN, ACPI_TABLE_ALIGN, &hpet))))
		return r;

	build_facs(s->buf + facs);
	build_madt(s->buf + madt, cfg);
	build_fadt(s->buf + fadt, cfg, stage_gpa(s, facs), stage_gpa(s, dsdt));
	roots[ROOT_FADT] = stage_gpa(s, fadt);
	roots[ROOT_MADT] = stage_gpa(s, madt);
	if (cfg->hpet_addr) {
		build_hpet(s->buf + hpet, cfg);
		roots[ROOT_HPET] = stage_gpa(s, hpet);
	}
	build_root(s->buf + xsdt, true, roots, nr_root);
	build_root(s->buf + rsdt, false, roots, nr_root);
	build_rsdp(s->buf + rsdp, stage_gpa(s, rsdt), stage_gpa(s, xsdt));
	return 0;
}

int acpi_tables_build(struct vm *vm, const struct acpi_build_cfg *cfg, u64 *rsdp_gpa)
{
	struct stage s;
	gpa_t start;
	int r;

	if (!vm || !rsdp_gpa || acpi_build_cfg_check(cfg))
		return -EINVAL;
	/* The RSDT and the FADT's 32-bit pointers must reach every table. */
	if (cfg->base + cfg->len < cfg->base || cfg->base + cfg->len > (1ULL << 32))
		return -EINVAL;
	start = ALIGN_UP(cfg->base, (u64)ACPI_TABLE_ALIGN);
	if (start >= cfg->base + cfg->len)
		return -ENOSPC;

	s = (struct stage){.gpa = start, .cap = (u32)MIN(cfg->base + cfg->len - start, (u64)ACPI_STAGE_MAX)};
	s.buf = kzalloc(s.cap + AML_SLACK);
	if (!s.buf)
		return -ENOMEM;
	r = build_all(&s, cfg);
	if (!r)
		r = vm_write_gpa(vm, start, s.buf, s.used);
	kfree(s.buf);
	if (r)
		return r;
	*rsdp_gpa = start;
	return 0;
}
