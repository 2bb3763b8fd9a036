/* msrs: the architectural MSRs a guest finds under this hypervisor, read, written and checked for #GP one by one from
 * a table, per the guest's CPU vendor (the host's). Each row says what the hardware does (SDM Vol. 4 and Vol. 3B ch.
 * 16-17; APM Vol. 2 ch. 13 and App. A) or, where the manuals leave room, what KVM does for a guest with the same
 * CPUID (the README's MSR table is the same list). Then IA32_TSC_ADJUST's architectural effect (SDM Vol. 3B
 * 17.17.3): a write to it moves the TSC (RDTSC as well as the MSR) by the same amount, a write to the TSC moves it;
 * an armed TSC-deadline keeps its value across such a move. And the CPUID bits that go with them.
 * Phases: msrs_cpuid, msrs_table, msrs_tsc; each a TEST line. */
#include "guest.h"

const char test_name[] = "msrs";

#define GP (13 + 1) /* the probes' result for #GP */

static int rdmsr_try(u32 msr, u64 *v)
{
	u32 lo = 0, hi = 0;

	fault_clear();
	asm volatile(FIXUP("rdmsr") : "+a"(lo), "+d"(hi) : "c"(msr) : "memory");
	*v = (u64)hi << 32 | lo;
	return (int)fault.taken;
}

static unsigned int failures;

static void bad(const char *fmt, ...) __printf(1, 2);
static void bad(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("msrs: FAIL: ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	failures++;
}

static void expect_read(u32 msr, u64 want)
{
	u64 v;
	int r = rdmsr_try(msr, &v);

	if (r)
		bad("rdmsr 0x%x: vector %d, want 0x%lx", msr, r - 1, want);
	else if (v != want)
		bad("rdmsr 0x%x: 0x%lx, want 0x%lx", msr, v, want);
}

static void expect_read_gp(u32 msr)
{
	u64 v;
	if (rdmsr_try(msr, &v) != GP)
		bad("rdmsr 0x%x: no #GP (read 0x%lx)", msr, v);
}

/* A write that must succeed, then read back as `back`. */
static void expect_write(u32 msr, u64 val, u64 back)
{
	int r = wrmsr_try(msr, val);

	if (r)
		bad("wrmsr 0x%x <- 0x%lx: vector %d", msr, val, r - 1);
	else
		expect_read(msr, back);
}

static void expect_write_gp(u32 msr, u64 val)
{
	if (wrmsr_try(msr, val) != GP)
		bad("wrmsr 0x%x <- 0x%lx: no #GP", msr, val);
}

#define INTEL 1
#define AMD   2
#define BOTH  3
#define NONE  0

/* One row: on the vendors in `has`, reads give `reset`; each write of `ok` is accepted and reads back `ok_back`;
 * a write of `bad` (when bad_valid) raises #GP and changes nothing. Elsewhere both directions raise #GP. */
struct row {
	u32 msr;
	u8 has;
	u64 reset;
	bool writable;
	u64 ok, ok_back;
	bool bad_valid;
	u64 bad;
	const char *what;
	bool vendor_row; /* one vendor's row of an MSR both have: nothing to check on the other */
};

static const struct row rows[] = {
	{0x3b, BOTH, 0, true, 0, 0, false, 0, "IA32_TSC_ADJUST (CPUID.7.0:EBX[1])", false},
	{0x17, INTEL, 0, false, 0, 0, true, 0, "IA32_PLATFORM_ID: read-only", false},
	{0x3a, INTEL, 1, false, 0, 0, true, 5, "IA32_FEATURE_CONTROL: locked, VMX off", false},
	{0x8b, BOTH, 0, true, 0, 0, false, 0, "IA32_BIOS_SIGN_ID / AMD PATCH_LEVEL", false},
	{0xfe, BOTH, 0, false, 0, 0, true, 0, "IA32_MTRRCAP: no MTRRs", false},
	{0x2ff, BOTH, 0, true, 0xc06, 0xc06, true, 0x100, "IA32_MTRR_DEF_TYPE: reserved bit 8", false},
	{0x179, BOTH, 10 | (1 << 8), false, 0, 0, true, 10 | (1 << 8), "IA32_MCG_CAP: 10 banks, MCG_CTL_P; read-only", false},
	{0x17a, BOTH, 0, true, 5, 5, true, 8, "IA32_MCG_STATUS: RIPV EIPV MCIP; reserved from bit 3", false},
	{0x17b, BOTH, ~0ULL, true, 0, 0, true, 0x55, "IA32_MCG_CTL: 0 or all ones", false},
	{0x1a0, INTEL, 0x1801, true, 0x401801, 0x401801, true, 0x1803, "IA32_MISC_ENABLE: reserved bit 1", false},
	{0x1d9, INTEL, 0, true, 3, 0, true, 0x40, "IA32_DEBUGCTL: LBR/BTF dropped, others #GP (KVM)", true},
	{0x1d9, AMD, 0, true, 0x3f, 0, true, 0x40, "DebugCtl: LBR BTF PB0-3 dropped, MBZ from bit 6", true},
	{0x277, BOTH, 0x0007040600070406ULL, true, 0x0107040600070406ULL, 0x0107040600070406ULL, true,
	 0x0007040600070402ULL, "IA32_PAT: type 2 reserved, #GP (SDM Vol. 3A 12.12.2, APM Vol. 2 7.8.1)", false},
	{0x277, BOTH, 0x0007040600070406ULL, false, 0, 0, true, 0x0807040600070406ULL, "IA32_PAT: types from 8 reserved",
	 false},
	{0xc1, INTEL, 0, true, 0x1234, 0, false, 0, "IA32_PMC0: no PMU (KVM: read 0, writes dropped)", false},
	{0xc2, INTEL, 0, true, 0x1234, 0, false, 0, "IA32_PMC1", false},
	{0x186, INTEL, 0, true, 0x41003c, 0, false, 0, "IA32_PERFEVTSEL0", false},
	{0x187, INTEL, 0, true, 0x41003c, 0, false, 0, "IA32_PERFEVTSEL1", false},
	{0xc0010000, AMD, 0, true, 0x530076, 0, false, 0, "PerfEvtSel0 (legacy, every AMD CPU)", false},
	{0xc0010001, AMD, 0, true, 0x530076, 0, false, 0, "PerfEvtSel1", false},
	{0xc0010002, AMD, 0, true, 0x530076, 0, false, 0, "PerfEvtSel2", false},
	{0xc0010003, AMD, 0, true, 0x530076, 0, false, 0, "PerfEvtSel3", false},
	{0xc0010004, AMD, 0, true, 0xffff, 0, false, 0, "PerfCtr0", false},
	{0xc0010005, AMD, 0, true, 0xffff, 0, false, 0, "PerfCtr1", false},
	{0xc0010006, AMD, 0, true, 0xffff, 0, false, 0, "PerfCtr2", false},
	{0xc0010007, AMD, 0, true, 0xffff, 0, false, 0, "PerfCtr3", false},
	{0xc0010055, AMD, 0, false, 0, 0, false, 0, "IntPendingMsg: read as zero", false},
	{0xc0010015, AMD, 1 << 24, true, (1 << 24) | (1 << 18), (1 << 24) | (1 << 18), true, 1,
	 "HWCR: TscFreqSel, McStatusWrEn (KVM's writable bits)", false},
	{0xc0010200, NONE, 0, false, 0, 0, false, 0, "PerfCtl core 0: perfctr-core hidden", false},
	{0x428, NONE, 0, false, 0, 0, false, 0, "MC10_CTL: past MCG_CAP's 10 banks", false},
	{0x280, NONE, 0, false, 0, 0, false, 0, "MC0_CTL2: no CMCI", false},
	{0x40000000, NONE, 0, false, 0, 0, false, 0, "nothing there", false},
};

static void check_row(const struct row *w, u8 vendor)
{
	u64 v;

	if (!(w->has & vendor) && w->vendor_row)
		return;
	if (!(w->has & vendor)) {
		expect_read_gp(w->msr);
		expect_write_gp(w->msr, w->reset);
		return;
	}
	expect_read(w->msr, w->reset);
	if (w->bad_valid) {
		expect_write_gp(w->msr, w->bad);
		expect_read(w->msr, w->reset);
	}
	if (w->writable) {
		expect_write(w->msr, w->ok, w->ok_back);
		/* Back to where it was (a write of the reset value is always allowed for these). */
		if (wrmsr_try(w->msr, w->reset))
			bad("wrmsr 0x%x <- 0x%lx (its reset value): vector %d", w->msr, w->reset, (int)fault.taken - 1);
	} else if (!w->bad_valid && wrmsr_try(w->msr, 0) != GP && rdmsr_try(w->msr, &v) == 0 && v != w->reset) {
		bad("wrmsr 0x%x changed a read-only MSR", w->msr);
	}
}

/* The machine-check banks MCG_CAP announces: MCi_CTL 0 or all ones (bits 10 and 0 may be clear, KVM), MCi_STATUS
 * only 0, MCi_ADDR and MCi_MISC anything. */
static void check_banks(void)
{
	for (u32 i = 0; i < 10; i++) {
		u32 ctl = 0x400 + 4 * i;
		expect_read(ctl, ~0ULL);
		expect_write(ctl, 0, 0);
		expect_write_gp(ctl, 0xff);
		expect_write(ctl, ~0ULL & ~(1ULL << 10), ~0ULL & ~(1ULL << 10));
		expect_write(ctl, ~0ULL, ~0ULL);
		expect_read(ctl + 1, 0);
		expect_write_gp(ctl + 1, 1ULL << 63);
		expect_write(ctl + 1, 0, 0);
		expect_write(ctl + 2, 0x123450 + i, 0x123450 + i);
		expect_write(ctl + 3, 0xabc00 + i, 0xabc00 + i);
	}
	expect_read_gp(0x400 + 40);
	expect_write_gp(0x400 + 41, 0);
}

static void phase_cpuid(void)
{
	u32 a, b, c, d;

	cpuid(7, 0, &a, &b, &c, &d);
	if (!(b & (1u << 1)))
		test_fail("CPUID.(7,0):EBX[1] (TSC_ADJUST) is clear, but the hypervisor emulates IA32_TSC_ADJUST");
	cpuid(1, 0, &a, &b, &c, &d);
	if (!(d & (1u << 7)) || !(d & (1u << 14)))
		test_fail("CPUID.1:EDX MCE %u MCA %u: both must be set with MCG_CAP and the banks", (d >> 7) & 1,
			  (d >> 14) & 1);
	if (!(c & (1u << 24)))
		test_fail("CPUID.1:ECX[24] (TSC-deadline) is clear");
	printf("TEST msrs_cpuid PASS\n");
}

static void phase_table(void)
{
	u8 vendor = cpu.is_amd ? AMD : INTEL;

	for (unsigned int i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		unsigned int before = failures;
		check_row(&rows[i], vendor);
		if (failures != before)
			printf("msrs: ... in row 0x%x %s\n", rows[i].msr, rows[i].what);
	}
	check_banks();
	if (failures)
		test_fail("msrs_table: %u wrong", failures);
	printf("TEST msrs_table PASS\n");
}

#define MSR_TSC		 0x10
#define MSR_TSC_ADJUST	 0x3b
#define MSR_TSC_DEADLINE 0x6e0
#define SLACK		 (1ULL << 32) /* cycles a few exits may take under an emulator */
#define LAPIC		 0xfee00000ULL

static void phase_tsc(void)
{
	u64 step = 1ULL << 40;
	u64 t0 = rdtsc();

	/* TSC_ADJUST += X moves the TSC by X. */
	wrmsr(MSR_TSC_ADJUST, step);
	u64 t1 = rdtsc(), m1 = rdmsr(MSR_TSC);
	if (t1 - t0 < step || t1 - t0 > step + SLACK || m1 < t1 || m1 - t1 > SLACK)
		test_fail("tsc: TSC_ADJUST += 2^40 moved RDTSC by 0x%lx (MSR 0x%lx)", t1 - t0, m1 - t1);
	if (rdmsr(MSR_TSC_ADJUST) != step)
		test_fail("tsc: TSC_ADJUST reads 0x%lx after writing 2^40", rdmsr(MSR_TSC_ADJUST));

	/* A TSC write of V moves TSC_ADJUST by V minus the TSC it replaced. */
	u64 target = 1000000;
	u64 t2 = rdtsc();
	wrmsr(MSR_TSC, target);
	u64 t3 = rdtsc();
	u64 adj = rdmsr(MSR_TSC_ADJUST);
	u64 hi = step + target - t2; /* the TSC replaced was at least t2 */
	if (t3 < target || t3 - target > SLACK)
		test_fail("tsc: RDTSC 0x%lx after writing the TSC to 0x%lx", t3, target);
	if (adj > hi || hi - adj > SLACK)
		test_fail("tsc: TSC_ADJUST 0x%lx after the TSC write, want a little under 0x%lx", adj, hi);

	/* An armed TSC deadline (LVT timer in TSC-deadline mode, masked) is a guest TSC value: it reads back the
	 * same after the TSC moves. */
	volatile u32 *lvt = (volatile u32 *)(LAPIC + 0x320), *svr = (volatile u32 *)(LAPIC + 0xf0);
	u32 old_lvt = *lvt, old_svr = *svr;
	*svr = old_svr | 0x100; /* software-enabled, so the LVT takes the mode */
	*lvt = (2u << 17) | (1u << 16) | 0x40;
	u64 dl = rdtsc() + (1ULL << 50);
	wrmsr(MSR_TSC_DEADLINE, dl);
	wrmsr(MSR_TSC_ADJUST, adj + (1ULL << 36));
	u64 back = rdmsr(MSR_TSC_DEADLINE);
	wrmsr(MSR_TSC_DEADLINE, 0);
	*lvt = old_lvt;
	*svr = old_svr;
	if (back != dl)
		test_fail("tsc: TSC_DEADLINE 0x%lx written, 0x%lx read after a TSC_ADJUST write", dl, back);

	/* TSC_ADJUST back to 0: the TSC is the one it would have been, still counting up. */
	wrmsr(MSR_TSC_ADJUST, 0);
	u64 t4 = rdtsc();
	if (t4 < t1 - step || t4 - t0 > 4 * SLACK)
		test_fail("tsc: RDTSC 0x%lx after TSC_ADJUST = 0 (started at 0x%lx)", t4, t0);
	printf("TEST msrs_tsc PASS\n");
}

int test_main(void)
{
	printf("msrs: %s CPU\n", cpu.is_amd ? "AMD" : "Intel");
	phase_cpuid();
	phase_table();
	phase_tsc();
	test_pass();
}
