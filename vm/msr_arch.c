/* The architectural MSRs kept in software (see vm/msr_arch.h). Where the SDM or the APM leaves room, what KVM does
 * for a guest with the same CPUID: the performance-counter MSRs of a CPU whose PMU is hidden read as zero and drop
 * writes; MCi_CTL takes 0 or all ones (bit 10 and bit 0 may be clear, for the Linux K8 GART and UnixWare
 * workarounds); DEBUGCTL's LBR and BTF are accepted and dropped. Where the vendors differ, the guest's vendor
 * decides (it sees the host's CPUID vendor): an MSR its CPUs lack raises #GP as on them. */
#include "vm/msr_arch.h"

#include "arch/x86/msr_index.h"
#include "hv/errno.h"

void msr_arch_init(struct msr_arch *m, bool amd)
{
	*m = (struct msr_arch){ .amd = amd, .misc_enable = MISC_RESET, .mcg_ctl = ~0ULL, .hwcr = HWCR_TSCFREQSEL };
	for (int i = 0; i < MSR_BANKS; i++)
		m->mc_bank[4 * i] = ~0ULL; /* every error reporting enabled, as KVM's MCE setup leaves it */
}

static bool is_mc_bank(u32 index)
{
	return index >= MSR_IA32_MC0_CTL && index < MSR_IA32_MC0_CTL + 4 * MSR_BANKS;
}

/* The legacy counters of the guest's vendor: AMD's four at 0xc0010000 (every AMD CPU has them, perfctr-core or
 * not), Intel's first two architectural ones (CPUID.0AH, which is hidden, would report them). */
static bool is_legacy_perf(const struct msr_arch *m, u32 index)
{
	if (m->amd)
		return index >= MSR_K7_EVNTSEL0 && index <= MSR_K7_PERFCTR3;
	return index == MSR_IA32_PMC0 || index == MSR_IA32_PMC1 || index == MSR_IA32_PERFEVTSEL0 ||
	       index == MSR_IA32_PERFEVTSEL1;
}

int msr_arch_read(const struct msr_arch *m, u32 index, u64 host_tsc, u64 *val)
{
	if (is_mc_bank(index)) {
		*val = m->mc_bank[index - MSR_IA32_MC0_CTL];
		return 0;
	}
	if (is_legacy_perf(m, index)) {
		*val = 0;
		return 0;
	}
	switch (index) {
	case MSR_IA32_TSC:
		*val = host_tsc + m->tsc_offset;
		return 0;
	case MSR_IA32_TSC_ADJUST:
		*val = m->tsc_adjust;
		return 0;
	case MSR_IA32_MCG_CAP:
		*val = MCG_CAP_VALUE;
		return 0;
	case MSR_IA32_MCG_STATUS:
		*val = m->mcg_status;
		return 0;
	case MSR_IA32_MCG_CTL:
		*val = m->mcg_ctl;
		return 0;
	case MSR_IA32_DEBUGCTL:
		*val = 0; /* no LBR or BTF: what was written is dropped */
		return 0;
	case MSR_MTRRcap:
		*val = 0; /* no variable or fixed MTRRs, no WC */
		return 0;
	case MSR_MTRRdefType:
		*val = m->mtrr_def_type;
		return 0;
	case MSR_IA32_BIOS_SIGN_ID:
		*val = 0; /* no microcode revision */
		return 0;
	}
	if (m->amd) {
		if (index == MSR_K8_INT_PENDING_MSG) {
			*val = 0;
			return 0;
		}
		if (index == MSR_K7_HWCR) {
			*val = m->hwcr;
			return 0;
		}
		return -ENOENT;
	}
	switch (index) {
	case MSR_IA32_MISC_ENABLE:
		*val = m->misc_enable;
		return 0;
	case MSR_IA32_FEATURE_CONTROL:
		*val = FEATURE_CONTROL_LOCKED; /* locked with VMX off: no nested virtualization */
		return 0;
	case MSR_IA32_PLATFORM_ID:
		*val = 0;
		return 0;
	}
	return -ENOENT;
}

/* MCi_CTL, MCi_STATUS, MCi_ADDR, MCi_MISC. STATUS takes only 0 from software: Intel's always #GP otherwise, AMD's
 * unless HWCR.McStatusWrEn is set. */
static int write_mc_bank(struct msr_arch *m, u32 index, u64 val)
{
	u32 off = index - MSR_IA32_MC0_CTL;

	if ((off & 3) == 0 && val != 0 && (val | BIT(10) | BIT(0)) != ~0ULL)
		return -EINVAL;
	if ((off & 3) == 1 && val != 0 && !(m->amd && (m->hwcr & HWCR_MCSTATUSWREN)))
		return -EINVAL;
	m->mc_bank[off] = val;
	return 0;
}

static int write_misc_enable(struct msr_arch *m, u64 val)
{
	if ((val ^ m->misc_enable) & (MISC_BTS_UNAVAIL | MISC_PEBS_UNAVAIL))
		return -EINVAL; /* read-only bits changed (KVM: #GP) */
	val = (val & ~MISC_EMON) | (m->misc_enable & MISC_EMON); /* read-only, writes ignored */
	if (val & ~(MISC_WRITABLE | MISC_EMON | MISC_BTS_UNAVAIL | MISC_PEBS_UNAVAIL))
		return -EINVAL; /* reserved */
	m->misc_enable = val;
	return 0;
}

int msr_arch_write(struct msr_arch *m, u32 index, u64 val, u64 host_tsc)
{
	if (is_mc_bank(index))
		return write_mc_bank(m, index, val);
	if (is_legacy_perf(m, index))
		return 0;
	switch (index) {
	case MSR_IA32_TSC: {
		/* SDM Vol. 3B 17.17.3: a write that moves the TSC by X adds X to IA32_TSC_ADJUST too. */
		u64 now = host_tsc + m->tsc_offset;
		m->tsc_adjust += val - now;
		m->tsc_offset = val - host_tsc;
		return 0;
	}
	case MSR_IA32_TSC_ADJUST:
		/* ... and a write that moves IA32_TSC_ADJUST by X adds X to the TSC. */
		m->tsc_offset += val - m->tsc_adjust;
		m->tsc_adjust = val;
		return 0;
	case MSR_IA32_MCG_CAP:
		return -EINVAL; /* read-only */
	case MSR_IA32_MCG_STATUS:
		if (val & ~(u64)MCG_STATUS_RW)
			return -EINVAL;
		m->mcg_status = val;
		return 0;
	case MSR_IA32_MCG_CTL:
		if (val != 0 && val != ~0ULL)
			return -EINVAL;
		m->mcg_ctl = val;
		return 0;
	case MSR_IA32_DEBUGCTL:
		/* LBR and BTF are accepted and dropped (KVM); AMD's PB0-PB3 too; the rest is reserved (#GP). */
		return val & ~(m->amd ? 0x3fULL : 0x3ULL) ? -EINVAL : 0;
	case MSR_MTRRdefType:
		if (val & ~0xcffULL)
			return -EINVAL;
		m->mtrr_def_type = val;
		return 0;
	case MSR_IA32_BIOS_SIGN_ID:
		return 0; /* microcode revision probing writes 0 first */
	}
	if (m->amd) {
		if (index != MSR_K7_HWCR)
			return -ENOENT;
		val &= ~(u64)HWCR_IGNORED;
		if (val & ~(u64)(HWCR_MCSTATUSWREN | HWCR_TSCFREQSEL))
			return -EINVAL;
		m->hwcr = val;
		return 0;
	}
	if (index == MSR_IA32_MISC_ENABLE)
		return write_misc_enable(m, val);
	if (index == MSR_IA32_FEATURE_CONTROL || index == MSR_IA32_PLATFORM_ID)
		return -EINVAL; /* locked; read-only */
	return -ENOENT;
}

u64 msr_tsc_deadline_to_host(u64 guest, u64 offset)
{
	u64 host = guest - offset;

	if (!guest)
		return 0;
	if ((s64)offset > 0 && guest < offset)
		return 1;
	if ((s64)offset < 0 && host < guest)
		return ~0ULL;
	return host ? host : 1;
}

u64 msr_tsc_deadline_to_guest(u64 host, u64 offset)
{
	u64 guest = host + offset;

	return host && guest ? guest : host ? 1 : 0;
}
