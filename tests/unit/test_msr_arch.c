/* The architectural MSRs kept in software (vm/msr_arch.c): the TSC/TSC_ADJUST arithmetic of SDM Vol. 3B 17.17.3,
 * the machine-check bank range MCG_CAP gives and the values each bank MSR takes, MISC_ENABLE's read-only and
 * reserved bits, DEBUGCTL, the legacy performance counters of each vendor, and #GP (-EINVAL) for what hardware
 * refuses; -ENOENT for MSRs that are not these. */
#include "arch/x86/msr_index.h"
#include "hv/errno.h"
#include "test.h"
#include "vm/msr_arch.h"

static struct msr_arch intel, amd;

static void setup(void)
{
	msr_arch_init(&intel, false);
	msr_arch_init(&amd, true);
}

static u64 rd(struct msr_arch *m, u32 index, u64 host_tsc)
{
	u64 v = 0xdeadbeef;
	CHECK_EQ(msr_arch_read(m, index, host_tsc, &v), 0);
	return v;
}

/* A write to TSC_ADJUST moves the TSC by the same delta; a write to the TSC moves TSC_ADJUST by how far the TSC
 * moved. The guest's TSC keeps counting with the host's in between. */
TEST(msr_tsc_adjust_arithmetic)
{
	setup();
	CHECK_EQ(rd(&intel, MSR_IA32_TSC, 1000), 1000);
	CHECK_EQ(rd(&intel, MSR_IA32_TSC_ADJUST, 1000), 0);

	CHECK_EQ(msr_arch_write(&intel, MSR_IA32_TSC_ADJUST, 500, 1000), 0);
	CHECK_EQ(rd(&intel, MSR_IA32_TSC, 1000), 1500);
	CHECK_EQ(rd(&intel, MSR_IA32_TSC, 3000), 3500);
	CHECK_EQ(intel.tsc_offset, 500);

	/* TSC 3500 -> 10000 at host 3000: +6500, so TSC_ADJUST 500 -> 7000. */
	CHECK_EQ(msr_arch_write(&intel, MSR_IA32_TSC, 10000, 3000), 0);
	CHECK_EQ(rd(&intel, MSR_IA32_TSC, 3000), 10000);
	CHECK_EQ(rd(&intel, MSR_IA32_TSC_ADJUST, 3000), 7000);

	/* Backwards, below zero: TSC_ADJUST is a signed 64-bit count. */
	CHECK_EQ(msr_arch_write(&intel, MSR_IA32_TSC, 0, 3000), 0);
	CHECK_EQ(rd(&intel, MSR_IA32_TSC, 3000), 0);
	CHECK_EQ(rd(&intel, MSR_IA32_TSC_ADJUST, 3000), (u64)(7000 - 10000));
	CHECK_EQ(rd(&intel, MSR_IA32_TSC, 3001), 1);

	/* TSC_ADJUST back to 0 undoes every move. */
	CHECK_EQ(msr_arch_write(&intel, MSR_IA32_TSC_ADJUST, 0, 5000), 0);
	CHECK_EQ(rd(&intel, MSR_IA32_TSC, 5000), 5000);
	CHECK_EQ(intel.tsc_offset, 0);

	/* The same on AMD, where KVM offers TSC_ADJUST too. */
	CHECK_EQ(msr_arch_write(&amd, MSR_IA32_TSC_ADJUST, ~0ULL, 100), 0);
	CHECK_EQ(rd(&amd, MSR_IA32_TSC, 100), 99);
}

TEST(msr_tsc_deadline_conversion)
{
	CHECK_EQ(msr_tsc_deadline_to_host(0, 123), 0);
	CHECK_EQ(msr_tsc_deadline_to_host(1000, 300), 700);
	CHECK_EQ(msr_tsc_deadline_to_host(200, 300), 1);		      /* before the host's zero: expired */
	CHECK_EQ(msr_tsc_deadline_to_host(~0ULL - 5, (u64)-100), ~0ULL);     /* past the host's end: never */
	CHECK_EQ(msr_tsc_deadline_to_host(1000, (u64)-100), 1100);
	CHECK_EQ(msr_tsc_deadline_to_guest(700, 300), 1000);
	CHECK_EQ(msr_tsc_deadline_to_guest(0, 300), 0);
	CHECK_EQ(msr_tsc_deadline_to_guest(100, (u64)-100), 1); /* armed stays armed */
}

/* MCG_CAP gives the bank count and MCG_CTL_P; banks 0..N-1 answer at 0x400 + 4i .. + 3, the next MSR is not one. */
TEST(msr_mce_banks)
{
	setup();
	u64 cap = rd(&intel, MSR_IA32_MCG_CAP, 0);
	u32 n = cap & 0xff;
	CHECK_EQ(n, MSR_BANKS);
	CHECK(cap & MCG_CTL_P);
	for (u32 i = 0; i < n; i++) {
		CHECK_EQ(rd(&intel, MSR_IA32_MC0_CTL + 4 * i, 0), ~0ULL);
		CHECK_EQ(rd(&intel, MSR_IA32_MC0_CTL + 4 * i + 1, 0), 0);
		CHECK_EQ(rd(&amd, MSR_IA32_MC0_CTL + 4 * i + 2, 0), 0);
		CHECK_EQ(rd(&amd, MSR_IA32_MC0_CTL + 4 * i + 3, 0), 0);
	}
	u64 v;
	CHECK_EQ(msr_arch_read(&intel, MSR_IA32_MC0_CTL + 4 * n, 0, &v), -ENOENT);
	CHECK_EQ(msr_arch_write(&intel, MSR_IA32_MC0_CTL + 4 * n + 1, 0, 0), -ENOENT);
	CHECK_EQ(msr_arch_read(&intel, MSR_IA32_MC0_CTL - 1, 0, &v), -ENOENT);
	CHECK_EQ(msr_arch_read(&intel, 0x280, 0, &v), -ENOENT); /* MCi_CTL2: no CMCI */

	/* MCi_CTL: 0 or all ones, bits 10 and 0 may be clear. */
	u32 ctl3 = MSR_IA32_MC0_CTL + 12;
	CHECK_EQ(msr_arch_write(&intel, ctl3, 0, 0), 0);
	CHECK_EQ(rd(&intel, ctl3, 0), 0);
	CHECK_EQ(msr_arch_write(&intel, ctl3, ~0ULL & ~BIT(10), 0), 0);
	CHECK_EQ(msr_arch_write(&intel, ctl3, ~0ULL & ~BIT(0), 0), 0);
	CHECK_EQ(rd(&intel, ctl3, 0), ~0ULL & ~BIT(0));
	CHECK_EQ(msr_arch_write(&intel, ctl3, 0xff, 0), -EINVAL);
	CHECK_EQ(rd(&intel, ctl3, 0), ~0ULL & ~BIT(0));
	/* MCi_STATUS: only 0; ADDR and MISC: anything. */
	CHECK_EQ(msr_arch_write(&amd, MSR_IA32_MC0_CTL + 1, 0, 0), 0);
	CHECK_EQ(msr_arch_write(&amd, MSR_IA32_MC0_CTL + 1, BIT(63), 0), -EINVAL);
	CHECK_EQ(msr_arch_write(&intel, MSR_IA32_MC0_CTL + 1, 1, 0), -EINVAL);
	CHECK_EQ(msr_arch_write(&intel, MSR_IA32_MC0_CTL + 4 * (n - 1) + 2, 0x1234, 0), 0);
	CHECK_EQ(rd(&intel, MSR_IA32_MC0_CTL + 4 * (n - 1) + 2, 0), 0x1234);

	/* MCG_CAP is read-only; MCG_STATUS takes RIPV/EIPV/MCIP only; MCG_CTL 0 or all ones. */
	CHECK_EQ(msr_arch_write(&intel, MSR_IA32_MCG_CAP, cap, 0), -EINVAL);
	CHECK_EQ(msr_arch_write(&intel, MSR_IA32_MCG_STATUS, 7, 0), 0);
	CHECK_EQ(rd(&intel, MSR_IA32_MCG_STATUS, 0), 7);
	CHECK_EQ(msr_arch_write(&intel, MSR_IA32_MCG_STATUS, 8, 0), -EINVAL);
	CHECK_EQ(rd(&intel, MSR_IA32_MCG_STATUS, 0), 7);
	CHECK_EQ(rd(&intel, MSR_IA32_MCG_CTL, 0), ~0ULL);
	CHECK_EQ(msr_arch_write(&intel, MSR_IA32_MCG_CTL, 0, 0), 0);
	CHECK_EQ(msr_arch_write(&intel, MSR_IA32_MCG_CTL, 1, 0), -EINVAL);
	CHECK_EQ(rd(&intel, MSR_IA32_MCG_CTL, 0), 0);
}

TEST(msr_misc_enable)
{
	setup();
	u64 v = rd(&intel, MSR_IA32_MISC_ENABLE, 0);
	CHECK_EQ(v, MISC_FAST_STRING | MISC_BTS_UNAVAIL | MISC_PEBS_UNAVAIL);
	/* Writable bits stick; EMON is ignored; BTS/PEBS unavailable may not change; reserved bits #GP. */
	CHECK_EQ(msr_arch_write(&intel, MSR_IA32_MISC_ENABLE, v | MISC_LIMIT_CPUID | MISC_EMON, 0), 0);
	CHECK_EQ(rd(&intel, MSR_IA32_MISC_ENABLE, 0), v | MISC_LIMIT_CPUID);
	CHECK_EQ(msr_arch_write(&intel, MSR_IA32_MISC_ENABLE, v & ~MISC_BTS_UNAVAIL, 0), -EINVAL);
	CHECK_EQ(msr_arch_write(&intel, MSR_IA32_MISC_ENABLE, v | BIT(1), 0), -EINVAL);
	CHECK_EQ(msr_arch_write(&intel, MSR_IA32_MISC_ENABLE, v | BIT(40), 0), -EINVAL);
	CHECK_EQ(rd(&intel, MSR_IA32_MISC_ENABLE, 0), v | MISC_LIMIT_CPUID);
	CHECK_EQ(msr_arch_write(&intel, MSR_IA32_MISC_ENABLE, v, 0), 0);
	CHECK_EQ(rd(&intel, MSR_IA32_MISC_ENABLE, 0), v);
	/* An Intel MSR: AMD CPUs do not have it. */
	CHECK_EQ(msr_arch_read(&amd, MSR_IA32_MISC_ENABLE, 0, &v), -ENOENT);
	CHECK_EQ(msr_arch_write(&amd, MSR_IA32_MISC_ENABLE, 1, 0), -ENOENT);
}

TEST(msr_debugctl)
{
	setup();
	CHECK_EQ(msr_arch_write(&intel, MSR_IA32_DEBUGCTL, 3, 0), 0); /* LBR and BTF: accepted, dropped */
	CHECK_EQ(rd(&intel, MSR_IA32_DEBUGCTL, 0), 0);
	CHECK_EQ(msr_arch_write(&intel, MSR_IA32_DEBUGCTL, BIT(2), 0), -EINVAL);
	CHECK_EQ(msr_arch_write(&intel, MSR_IA32_DEBUGCTL, BIT(6), 0), -EINVAL);
	CHECK_EQ(msr_arch_write(&amd, MSR_IA32_DEBUGCTL, 0x3f, 0), 0);	/* LBR BTF PB0-3 */
	CHECK_EQ(msr_arch_write(&amd, MSR_IA32_DEBUGCTL, BIT(6), 0), -EINVAL); /* MBZ */
	CHECK_EQ(rd(&amd, MSR_IA32_DEBUGCTL, 0), 0);
}

/* The legacy counters: read 0, writes of anything dropped, on the vendor that has them; -ENOENT on the other. */
TEST(msr_legacy_perf_counters)
{
	setup();
	u64 v;
	for (u32 i = MSR_K7_EVNTSEL0; i <= MSR_K7_PERFCTR3; i++) {
		CHECK_EQ(msr_arch_write(&amd, i, 0x530076, 0), 0);
		CHECK_EQ(rd(&amd, i, 0), 0);
		CHECK_EQ(msr_arch_read(&intel, i, 0, &v), -ENOENT);
	}
	CHECK_EQ(msr_arch_read(&amd, MSR_K7_PERFCTR3 + 1, 0, &v), -ENOENT);
	CHECK_EQ(msr_arch_read(&amd, 0xc0010200, 0, &v), -ENOENT); /* perfctr-core MSRs: the CPUID bit is hidden */
	static const u32 p6[] = {MSR_IA32_PMC0, MSR_IA32_PMC1, MSR_IA32_PERFEVTSEL0, MSR_IA32_PERFEVTSEL1};
	for (unsigned int i = 0; i < 4; i++) {
		CHECK_EQ(msr_arch_write(&intel, p6[i], 0x41003c, 0), 0);
		CHECK_EQ(rd(&intel, p6[i], 0), 0);
		CHECK_EQ(msr_arch_write(&amd, p6[i], 0, 0), -ENOENT);
	}
}

/* What the rest do, and what is not here. */
TEST(msr_identification_and_unknown)
{
	setup();
	u64 v;
	CHECK_EQ(rd(&intel, MSR_IA32_FEATURE_CONTROL, 0), FEATURE_CONTROL_LOCKED);
	CHECK_EQ(msr_arch_write(&intel, MSR_IA32_FEATURE_CONTROL, 5, 0), -EINVAL);
	CHECK_EQ(msr_arch_read(&amd, MSR_IA32_FEATURE_CONTROL, 0, &v), -ENOENT);
	CHECK_EQ(rd(&intel, MSR_IA32_PLATFORM_ID, 0), 0);
	CHECK_EQ(msr_arch_read(&amd, MSR_IA32_PLATFORM_ID, 0, &v), -ENOENT);
	CHECK_EQ(rd(&amd, MSR_K8_INT_PENDING_MSG, 0), 0);
	CHECK_EQ(msr_arch_read(&intel, MSR_K8_INT_PENDING_MSG, 0, &v), -ENOENT);
	CHECK_EQ(msr_arch_write(&amd, MSR_IA32_BIOS_SIGN_ID, 0, 0), 0);
	CHECK_EQ(rd(&amd, MSR_IA32_BIOS_SIGN_ID, 0), 0);
	CHECK_EQ(rd(&amd, MSR_MTRRcap, 0), 0);
	CHECK_EQ(msr_arch_write(&amd, MSR_MTRRdefType, 0xc06, 0), 0);
	CHECK_EQ(rd(&amd, MSR_MTRRdefType, 0), 0xc06);
	CHECK_EQ(msr_arch_write(&amd, MSR_MTRRdefType, 0x100, 0), -EINVAL);
	CHECK_EQ(msr_arch_read(&intel, 0x12345678, 0, &v), -ENOENT);
	CHECK_EQ(msr_arch_write(&amd, 0xc0011234, 0, 0), -ENOENT);
}

/* AMD HWCR: TscFreqSel set at start; McStatusWrEn lets MCi_STATUS take any value; KVM's ignored bits are dropped,
 * the rest #GP. */
TEST(msr_amd_hwcr)
{
	setup();
	u64 v;
	CHECK_EQ(rd(&amd, MSR_K7_HWCR, 0), HWCR_TSCFREQSEL);
	CHECK_EQ(msr_arch_read(&intel, MSR_K7_HWCR, 0, &v), -ENOENT);
	CHECK_EQ(msr_arch_write(&amd, MSR_IA32_MC0_CTL + 5, 0x8000000000000001ULL, 0), -EINVAL);
	CHECK_EQ(msr_arch_write(&amd, MSR_K7_HWCR, HWCR_TSCFREQSEL | HWCR_MCSTATUSWREN | BIT(3), 0), 0);
	CHECK_EQ(rd(&amd, MSR_K7_HWCR, 0), HWCR_TSCFREQSEL | HWCR_MCSTATUSWREN);
	CHECK_EQ(msr_arch_write(&amd, MSR_IA32_MC0_CTL + 5, 0x8000000000000001ULL, 0), 0);
	CHECK_EQ(rd(&amd, MSR_IA32_MC0_CTL + 5, 0), 0x8000000000000001ULL);
	CHECK_EQ(msr_arch_write(&amd, MSR_K7_HWCR, BIT(0), 0), -EINVAL);
	CHECK_EQ(rd(&amd, MSR_K7_HWCR, 0), HWCR_TSCFREQSEL | HWCR_MCSTATUSWREN);
	CHECK_EQ(msr_arch_write(&amd, MSR_K7_HWCR, 0, 0), 0);
	CHECK_EQ(msr_arch_write(&amd, MSR_IA32_MC0_CTL + 5, 1, 0), -EINVAL);
}
