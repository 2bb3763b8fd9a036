/* Unit tests of the CR0/CR3/CR4/EFER/XCR0 validity rules (vm/crcheck.c): tables of (state, value, expected) cases,
 * each row naming the SDM/APM rule it checks, for the rules both backends share; and the reserved-bit masks from a
 * guest CPUID. */
#include "test.h"
#include "arch/x86/cpu.h"
#include "arch/x86/msr_index.h"
#include "hv/errno.h"
#include "vm/crcheck.h"

#define PE  CR0_PE
#define PG  CR0_PG
#define LME EFER_LME
#define LMA EFER_LMA

/* States: real mode, protected mode without paging, 32-bit paging, PAE paging, compatibility mode, 64-bit mode. */
static const struct cr_state REAL = {.cr0 = CR0_ET};
static const struct cr_state PROT = {.cr0 = CR0_ET | PE};
static const struct cr_state PROT_LME = {.cr0 = CR0_ET | PE, .efer = LME};
static const struct cr_state PROT_LME_PAE = {.cr0 = CR0_ET | PE, .cr4 = CR4_PAE, .efer = LME};
static const struct cr_state PROT_LME_PAE_CSL = {.cr0 = CR0_ET | PE, .cr4 = CR4_PAE, .efer = LME, .cs_l = true};
static const struct cr_state PAGED32 = {.cr0 = CR0_ET | PE | PG, .cr3 = 0x1000};
static const struct cr_state COMPAT = {.cr0 = CR0_ET | PE | PG, .cr3 = 0x1000, .cr4 = CR4_PAE, .efer = LME | LMA};
static const struct cr_state LONG64 = {
    .cr0 = CR0_ET | PE | PG, .cr3 = 0x1000, .cr4 = CR4_PAE, .efer = LME | LMA, .cs_l = true};
static const struct cr_state LONG64_PCID = {
    .cr0 = CR0_ET | PE | PG, .cr3 = 0x1005, .cr4 = CR4_PAE | CR4_PCIDE, .efer = LME | LMA, .cs_l = true};
static const struct cr_state COMPAT_PCID = {
    .cr0 = CR0_ET | PE | PG, .cr3 = 0x1000, .cr4 = CR4_PAE | CR4_PCIDE, .efer = LME | LMA};
static const struct cr_state LONG64_LA57 = {
    .cr0 = CR0_ET | PE | PG, .cr3 = 0x1000, .cr4 = CR4_PAE | CR4_LA57, .efer = LME | LMA, .cs_l = true};

struct row {
	const char *why;
	const struct cr_state *s;
	u64 val;
	int want;
};

static void run(const char *what, const struct row *t, unsigned int n, int (*check)(const struct cr_state *, u64))
{
	for (unsigned int i = 0; i < n; i++) {
		int got = check(t[i].s, t[i].val);
		if (got != t[i].want)
			test_fail(__FILE__, __LINE__, "%s row %u (%s): val 0x%llx got %d want %d", what, i, t[i].why,
				  (unsigned long long)t[i].val, got, t[i].want);
	}
}

static int cr0(const struct cr_state *s, u64 v)
{
	return cr_check_cr0(s, v);
}
static int cr3_m36(const struct cr_state *s, u64 v)
{
	return cr_check_cr3(s, v, 36);
}
static int cr3_m52(const struct cr_state *s, u64 v)
{
	return cr_check_cr3(s, v, 52);
}

TEST(crcheck_cr0_rules)
{
	static const struct row t[] = {
	    {"enable protection", &REAL, CR0_ET | PE, 0},
	    {"enable 32-bit paging", &PROT, CR0_ET | PE | PG, 0},
	    {"PG without PE (SDM MOV CR)", &REAL, CR0_ET | PG, -EINVAL},
	    {"PG without PE, from PE", &PROT, CR0_ET | PG, -EINVAL},
	    {"NW without CD (SDM MOV CR)", &PROT, CR0_ET | PE | CR0_NW, -EINVAL},
	    {"CD and NW together", &PROT, CR0_ET | PE | CR0_NW | CR0_CD, 0},
	    {"CD alone", &PROT, CR0_ET | PE | CR0_CD, 0},
	    {"bit 32 set (SDM 2.5: 63:32 reserved)", &LONG64, CR0_ET | PE | PG | BIT(32), -EINVAL},
	    {"bit 63 set", &LONG64, CR0_ET | PE | PG | BIT(63), -EINVAL},
	    {"IA-32e activation without PAE (SDM 10.8.5)", &PROT_LME, CR0_ET | PE | PG, -EINVAL},
	    {"IA-32e activation with PAE", &PROT_LME_PAE, CR0_ET | PE | PG, 0},
	    {"IA-32e activation with CS.L = 1 (SDM MOV CR)", &PROT_LME_PAE_CSL, CR0_ET | PE | PG, -EINVAL},
	    {"clear PG in 64-bit mode (SDM 10.8.5.4)", &LONG64, CR0_ET | PE, -EINVAL},
	    {"clear PG and PE in 64-bit mode", &LONG64, CR0_ET, -EINVAL},
	    {"clear PG in compatibility mode", &COMPAT, CR0_ET | PE, 0},
	    {"clear PG with CR4.PCIDE (SDM MOV CR)", &COMPAT_PCID, CR0_ET | PE, -EINVAL},
	    {"leave PG on in 64-bit mode, toggle WP", &LONG64, CR0_ET | PE | PG | CR0_WP, 0},
	    {"clear PG under 32-bit paging", &PAGED32, CR0_ET | PE, 0},
	    {"TS/MP/EM/NE/AM", &PAGED32, CR0_ET | PE | PG | CR0_TS | CR0_MP | CR0_EM | CR0_NE | CR0_AM, 0},
	    {"back to real mode", &PROT, CR0_ET, 0},
	};
	run("cr0", t, sizeof(t) / sizeof(t[0]), cr0);
}

TEST(crcheck_cr3_rules)
{
	static const struct row t36[] = {
	    {"legacy: any 32-bit value", &PAGED32, 0xfffff018, 0},
	    {"legacy protected, no paging", &PROT, 0xffffffff, 0},
	    {"long: below MAXPHYADDR", &LONG64, 0xfffff000, 0},
	    {"long: bit 36 at MAXPHYADDR 36 (SDM 4.5)", &LONG64, BIT(36) | 0x1000, -EINVAL},
	    {"long: bit 51", &LONG64, BIT(51), -EINVAL},
	    {"long: bit 63 without PCIDE", &LONG64, BIT(63) | 0x1000, -EINVAL},
	    {"long: bit 63 with PCIDE is no-flush (SDM 4.10.4.1)", &LONG64_PCID, BIT(63) | 0x2003, 0},
	    {"long: bit 62 with PCIDE", &LONG64_PCID, BIT(62) | 0x2003, -EINVAL},
	    {"compatibility mode checks too", &COMPAT, BIT(40), -EINVAL},
	};
	static const struct row t52[] = {
	    {"long: bit 51 at MAXPHYADDR 52", &LONG64, BIT(51) | 0x1000, 0},
	    {"long: bit 52", &LONG64, BIT(52), -EINVAL},
	};
	run("cr3/36", t36, sizeof(t36) / sizeof(t36[0]), cr3_m36);
	run("cr3/52", t52, sizeof(t52) / sizeof(t52[0]), cr3_m52);
}

/* A CPU that has everything the masks know about. */
static const struct cr_cpuid ALL = {
    .l1_ecx = BIT(5) | BIT(17) | BIT(26),
    .l1_edx = ~0u,
    .l7_ebx = BIT(0) | BIT(7) | BIT(20),
    .l7_ecx = BIT(2) | BIT(3) | BIT(7) | BIT(16),
    .l7_edx = BIT(20),
    .l7_1_eax = BIT(26),
    .x1_edx = BIT(20) | BIT(25) | BIT(29),
    .maxphyaddr = 52,
};
/* What this hypervisor's guests see on a typical host: no VMX, XSAVE, UMIP, LA57, PKU, CET, LAM; PCID, SMEP, SMAP,
 * FSGSBASE, NX and LM kept. */
static const struct cr_cpuid GUEST = {
    .l1_ecx = BIT(17),
    .l1_edx = ~0u,
    .l7_ebx = BIT(0) | BIT(7) | BIT(20),
    .x1_edx = BIT(20) | BIT(29),
    .maxphyaddr = 40,
};
static u64 cr4_rsvd_guest;

static int cr4_guest(const struct cr_state *s, u64 v)
{
	return cr_check_cr4(s, v, cr4_rsvd_guest);
}

TEST(crcheck_cr4_reserved_from_cpuid)
{
	u64 all = cr_cr4_reserved(&ALL), g = cr_cr4_reserved(&GUEST);

	/* Always reserved: SMXE, bit 15, KL (19), PKS (24), 25-27, 29 and above (SDM 2.5). */
	CHECK(all & CR4_SMXE);
	CHECK(all & BIT(15));
	CHECK(all & BIT(19));
	CHECK(all & BIT(24));
	CHECK(all & BIT(32));
	CHECK(all & BIT(63));
	CHECK_EQ(all & (CR4_VMXE | CR4_PCIDE | CR4_OSXSAVE | CR4_SMEP | CR4_SMAP | CR4_UMIP | CR4_PKE | CR4_LA57 |
			BIT(16) | BIT(23) | BIT(28)),
		 0);
	CHECK_EQ(all & 0x7ff, 0);
	/* Each CPUID-hidden feature's bit is reserved: the examples of the issue, OSXSAVE without XSAVE first. */
	CHECK(g & CR4_OSXSAVE);
	CHECK(g & CR4_VMXE);
	CHECK(g & CR4_UMIP);
	CHECK(g & CR4_LA57);
	CHECK(g & CR4_PKE);
	CHECK(g & BIT(23));
	CHECK(g & BIT(28));
	CHECK_EQ(g & (CR4_PCIDE | CR4_SMEP | CR4_SMAP | BIT(16) | 0x7ff), 0);
	struct cr_cpuid one = {0};
	one.l7_ecx = BIT(7); /* CET shadow stacks alone make CR4.CET exist */
	CHECK_EQ(cr_cr4_reserved(&one) & BIT(23), 0);
}

TEST(crcheck_cr4_rules)
{
	cr4_rsvd_guest = cr_cr4_reserved(&GUEST);
	static const struct row t[] = {
	    {"PAE on in protected mode", &PROT, CR4_PAE, 0},
	    {"PSE PGE OSFXSR", &PAGED32, CR4_PSE | CR4_PGE | CR4_OSFXSR, 0},
	    {"OSXSAVE without XSAVE in CPUID", &PAGED32, CR4_OSXSAVE, -EINVAL},
	    {"UMIP hidden", &LONG64, CR4_PAE | CR4_UMIP, -EINVAL},
	    {"VMXE hidden", &LONG64, CR4_PAE | CR4_VMXE, -EINVAL},
	    {"SMXE reserved", &LONG64, CR4_PAE | CR4_SMXE, -EINVAL},
	    {"bit 15 reserved", &PAGED32, BIT(15), -EINVAL},
	    {"bit 32 reserved", &LONG64, CR4_PAE | BIT(32), -EINVAL},
	    {"SMEP SMAP FSGSBASE offered", &LONG64, CR4_PAE | CR4_SMEP | CR4_SMAP | BIT(16), 0},
	    {"clear PAE in IA-32e mode (SDM 10.8.5.4)", &LONG64, 0, -EINVAL},
	    {"clear PAE in compatibility mode", &COMPAT, CR4_PGE, -EINVAL},
	    {"clear PAE outside IA-32e mode", &PROT_LME_PAE, 0, 0},
	    {"PCIDE in IA-32e mode, CR3[11:0] = 0 (SDM 4.10.1)", &LONG64, CR4_PAE | CR4_PCIDE, 0},
	    {"PCIDE with CR3[11:0] != 0", &LONG64_PCID, CR4_PAE | CR4_PCIDE, 0 /* already set: no check */},
	    {"PCIDE outside IA-32e mode", &PAGED32, CR4_PCIDE, -EINVAL},
	    {"PCIDE outside paging", &PROT, CR4_PCIDE, -EINVAL},
	    {"clear PCIDE any time", &LONG64_PCID, CR4_PAE, 0},
	};
	run("cr4", t, sizeof(t) / sizeof(t[0]), cr4_guest);
	struct cr_state pcid_cr3 = LONG64;
	pcid_cr3.cr3 = 0x1001;
	CHECK_EQ(cr_check_cr4(&pcid_cr3, CR4_PAE | CR4_PCIDE, cr4_rsvd_guest), -EINVAL);
	/* LA57 on a CPU that has it: changes only outside IA-32e mode (SDM 4.1.1). */
	u64 all = cr_cr4_reserved(&ALL);
	CHECK_EQ(cr_check_cr4(&LONG64, CR4_PAE | CR4_LA57, all), -EINVAL);
	CHECK_EQ(cr_check_cr4(&LONG64_LA57, CR4_PAE, all), -EINVAL);
	CHECK_EQ(cr_check_cr4(&LONG64_LA57, CR4_PAE | CR4_LA57 | CR4_PGE, all), 0);
	CHECK_EQ(cr_check_cr4(&PROT_LME_PAE, CR4_PAE | CR4_LA57, all), 0);
	CHECK_EQ(cr_check_cr4(&PAGED32, CR4_OSXSAVE | CR4_UMIP | CR4_VMXE, all), 0);
}

static u64 efer_rsvd;
static int efer(const struct cr_state *s, u64 v)
{
	return cr_check_efer(s, v, efer_rsvd);
}

TEST(crcheck_efer_rules)
{
	efer_rsvd = cr_efer_reserved(&GUEST);
	static const struct row t[] = {
	    {"SCE NXE LME with paging off", &PROT, EFER_SCE | EFER_NXE | LME, 0},
	    {"LME set while paging on (SDM 10.8.5)", &PAGED32, LME, -EINVAL},
	    {"LME cleared while paging on (64-bit)", &LONG64, LMA, -EINVAL},
	    {"LME kept while paging on, NXE toggled", &LONG64, LME | LMA | EFER_NXE, 0},
	    {"LMA written as 0 in long mode: ignored", &LONG64, LME, 0},
	    {"SVME reserved for guests", &PROT, EFER_SVME, -EINVAL},
	    {"FFXSR without CPUID", &PROT, EFER_FFXSR, -EINVAL},
	    {"bit 1 reserved", &PROT, BIT(1), -EINVAL},
	    {"bit 9 reserved", &PROT, BIT(9), -EINVAL},
	    {"bit 63 reserved", &PROT, BIT(63), -EINVAL},
	};
	run("efer", t, sizeof(t) / sizeof(t[0]), efer);
	struct cr_cpuid nolm = GUEST;
	nolm.x1_edx = 0;
	u64 r = cr_efer_reserved(&nolm);
	CHECK_EQ(cr_check_efer(&PROT, LME, r), -EINVAL);
	CHECK_EQ(cr_check_efer(&PROT, EFER_NXE, r), -EINVAL);
	CHECK_EQ(cr_check_efer(&PROT, EFER_SCE, r), 0);
	CHECK_EQ(cr_check_efer(&PROT, EFER_FFXSR, cr_efer_reserved(&ALL)), 0);
}

TEST(crcheck_xcr0_rules)
{
	static const struct {
		const char *why;
		u64 val, supported;
		int want;
	} t[] = {
	    {"x87 only", XCR0_X87, 0x7, 0},
	    {"x87 clear (SDM Vol. 1 13.3)", XCR0_SSE_BIT, 0x7, -EINVAL},
	    {"zero", 0, 0x7, -EINVAL},
	    {"x87 SSE AVX", 0x7, 0x7, 0},
	    {"AVX without SSE", XCR0_X87 | XCR0_AVX, 0x7, -EINVAL},
	    {"unsupported component", 0x3 | BIT(9), 0x7, -EINVAL},
	    {"nothing supported (XSAVE hidden)", XCR0_X87, 0, -EINVAL},
	    {"MPX both", 0x1f, 0x1f, 0},
	    {"MPX BNDREGS alone", 0x0f, 0x1f, -EINVAL},
	    {"MPX BNDCSR alone", 0x17, 0x1f, -EINVAL},
	    {"AVX-512 all", 0xe7, 0xe7, 0},
	    {"AVX-512 opmask alone", 0x27, 0xe7, -EINVAL},
	    {"AVX-512 without AVX", 0xe3, 0xe7, -EINVAL},
	    {"AMX both", 0x3 | XCR0_TILECFG | XCR0_TILEDATA, 0x60003, 0},
	    {"AMX TILECFG alone", 0x3 | XCR0_TILECFG, 0x60003, -EINVAL},
	};
	for (unsigned int i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int got = cr_check_xcr0(t[i].val, t[i].supported);
		if (got != t[i].want)
			test_fail(__FILE__, __LINE__, "xcr0 row %u (%s): got %d want %d", i, t[i].why, got, t[i].want);
	}
}

TEST(crcheck_canonical)
{
	CHECK(cr_is_canonical(0, 48));
	CHECK(cr_is_canonical(0x00007fffffffffffULL, 48));
	CHECK(!cr_is_canonical(0x0000800000000000ULL, 48));
	CHECK(cr_is_canonical(0xffff800000000000ULL, 48));
	CHECK(!cr_is_canonical(0xfff0800000000000ULL, 48));
	CHECK(cr_is_canonical(0x0000800000000000ULL, 57));
	CHECK(!cr_is_canonical(0x0100000000000000ULL, 57));
	CHECK(cr_is_canonical(0xff00000000000000ULL, 57));
	CHECK_EQ(cr_canonicalize(0x0000800000000000ULL, 48), 0xffff800000000000ULL);
	CHECK_EQ(cr_canonicalize(0x1234567812345678ULL, 48), 0x0000567812345678ULL);
	CHECK_EQ(cr_canonicalize(0xdead00000000beefULL, 48), 0x000000000000beefULL);
}
