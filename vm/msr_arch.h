/* The architectural MSRs a vCPU keeps in software: the TSC and IA32_TSC_ADJUST (as an offset on the host's TSC),
 * IA32_MISC_ENABLE, IA32_DEBUGCTL, machine-check architecture (MCG_CAP, MCG_STATUS, MCG_CTL and MSR_BANKS banks
 * from 0x400), the legacy performance counters with no PMU behind them, and the identification MSRs. Pure logic,
 * with the host TSC passed in, so the host unit tests hold it to the SDM and the APM; vm/msr.c puts it behind the
 * RDMSR/WRMSR exits and applies a TSC offset change to the hardware. The table of what each does is in README.md. */
#ifndef VM_MSR_ARCH_H
#define VM_MSR_ARCH_H

#include "hv/compiler.h"
#include "hv/types.h"

#define MSR_IA32_TSC_ADJUST	  0x3b
#define MSR_IA32_PLATFORM_ID	  0x17
#define MSR_IA32_BIOS_SIGN_ID	  0x8b /* AMD: PATCH_LEVEL, the same index */
#define MSR_IA32_PMC0		  0xc1
#define MSR_IA32_PMC1		  0xc2
#define MSR_IA32_MCG_CAP	  0x179
#define MSR_IA32_MCG_STATUS	  0x17a
#define MSR_IA32_MCG_CTL	  0x17b
#define MSR_IA32_PERFEVTSEL0	  0x186
#define MSR_IA32_PERFEVTSEL1	  0x187
#define MSR_IA32_MC0_CTL	  0x400
#define MSR_K7_EVNTSEL0		  0xc0010000
#define MSR_K7_PERFCTR3		  0xc0010007
#define MSR_K7_HWCR		  0xc0010015
#define MSR_K8_INT_PENDING_MSG	  0xc0010055 /* family 0Fh C1E probing reads it unguarded */

/* AMD HWCR: McStatusWrEn (software may write MCi_STATUS) and TscFreqSel (the TSC counts at the P0 frequency: true of
 * the invariant TSC guests see) are kept; SmmLock-free bits KVM ignores (TLB cache disable, flush filter disable,
 * IGNNE emulation) are dropped; any other bit is #GP, as in KVM. */
#define HWCR_MCSTATUSWREN BIT(18)
#define HWCR_TSCFREQSEL	  BIT(24)
#define HWCR_IGNORED	  (BIT(3) | BIT(6) | BIT(8))

#define MSR_BANKS     10 /* machine-check banks, as QEMU's default gives a KVM guest */
#define MCG_CTL_P     BIT(8)
#define MCG_CAP_VALUE (MSR_BANKS | MCG_CTL_P)
#define MCG_STATUS_RW (BIT(0) | BIT(1) | BIT(2)) /* RIPV EIPV MCIP; LMCE_S needs MCG_LMCE_P */

/* IA32_MISC_ENABLE (SDM Vol. 4 table 2-2) */
#define MISC_FAST_STRING      BIT(0)
#define MISC_EMON	      BIT(7)  /* performance monitoring available: read-only */
#define MISC_BTS_UNAVAIL      BIT(11) /* read-only */
#define MISC_PEBS_UNAVAIL     BIT(12) /* read-only */
#define MISC_LIMIT_CPUID      BIT(22) /* CPUID.0:EAX reports at most 2 */
#define MISC_XD_DISABLE	      BIT(34) /* CPUID.80000001H:EDX.NX reads 0 */
#define MISC_WRITABLE                                                                                                  \
	(MISC_FAST_STRING | BIT(3) | BIT(16) | BIT(18) | MISC_LIMIT_CPUID | BIT(23) | MISC_XD_DISABLE)
#define MISC_RESET (MISC_FAST_STRING | MISC_BTS_UNAVAIL | MISC_PEBS_UNAVAIL)

struct msr_arch {
	bool amd;		       /* the guest's CPUID vendor: AMD (or Hygon), else Intel */
	u64 tsc_offset;		       /* guest TSC = host TSC + tsc_offset (mod 2^64) */
	u64 tsc_adjust;		       /* IA32_TSC_ADJUST */
	u64 misc_enable;	       /* Intel only */
	u64 mcg_status, mcg_ctl;
	u64 mc_bank[MSR_BANKS * 4];    /* CTL, STATUS, ADDR, MISC of bank i at [4i .. 4i + 3] */
	u64 mtrr_def_type;	       /* stored only: MTRRs are not emulated */
	u64 hwcr;		       /* AMD only */
};

void msr_arch_init(struct msr_arch *m, bool amd);
/* RDMSR/WRMSR of index: 0 done; -EINVAL when the CPU raises #GP (a reserved bit, a read-only MSR, an MSR this
 * guest's CPU does not have); -ENOENT when the MSR is not one of these (the caller knows others, or #GP). A write
 * may change tsc_offset: the caller gives the new offset to the hardware. */
int msr_arch_read(const struct msr_arch *m, u32 index, u64 host_tsc, u64 *val);
int msr_arch_write(struct msr_arch *m, u32 index, u64 val, u64 host_tsc);

/* A TSC-deadline value between the guest's TSC and the host's, for an offset: 0 (disarmed) stays 0; a guest
 * deadline already behind the host's zero becomes 1 (expired), one past the host's end ~0 (never). */
u64 msr_tsc_deadline_to_host(u64 guest, u64 offset);
u64 msr_tsc_deadline_to_guest(u64 host, u64 offset);

#endif
