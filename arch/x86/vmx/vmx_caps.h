/* The VMX capability MSRs (SDM Vol. 3 Appendix A) decoded into one struct, which the boot log reports and the VMX
 * backend consults when it chooses VM-execution controls. Nothing here executes RDMSR: the caller reads the MSRs and
 * passes the raw values in, so all of it is pure and unit-tested on the host. */
#ifndef ARCH_X86_VMX_VMX_CAPS_H
#define ARCH_X86_VMX_VMX_CAPS_H

#include "hv/compiler.h"
#include "hv/types.h"

/*
 * Raw MSR values, as read by the caller. Several MSRs exist only when an earlier one says so, and reading a missing
 * one raises #GP, so read them in this order and leave the others zero:
 *   basic, pinbased, procbased, exit, entry, misc, cr0/cr4 fixed, vmcs_enum    always
 *   true_pinbased, true_procbased, true_exit, true_entry                      if vmx_msrs_has_true_ctls()
 *   procbased2                                                                if vmx_msrs_has_procbased2()
 *   ept_vpid_cap                                                              if vmx_msrs_has_ept_vpid_cap()
 *   vmfunc                                                                    if vmx_msrs_has_vmfunc()
 * The decoder applies the same conditions, so a stale or garbage value in a field that should not have been read is
 * ignored rather than believed.
 */
struct vmx_msrs {
	u64 basic;
	u64 pinbased;
	u64 procbased;
	u64 exit;
	u64 entry;
	u64 misc;
	u64 cr0_fixed0, cr0_fixed1;
	u64 cr4_fixed0, cr4_fixed1;
	u64 vmcs_enum;
	u64 procbased2;
	u64 ept_vpid_cap;
	u64 true_pinbased, true_procbased, true_exit, true_entry;
	u64 vmfunc;
};

static inline bool vmx_msrs_has_true_ctls(const struct vmx_msrs *m)
{
	return m->basic & BIT(55);
}

/* Allowed-1 half of the primary processor-based controls, bit 31 "activate secondary controls". */
static inline bool vmx_msrs_has_procbased2(const struct vmx_msrs *m)
{
	return m->procbased & BIT(32 + 31);
}

/* IA32_VMX_EPT_VPID_CAP exists if either "enable EPT" (bit 1) or "enable VPID" (bit 5) may be 1. */
static inline bool vmx_msrs_has_ept_vpid_cap(const struct vmx_msrs *m)
{
	return vmx_msrs_has_procbased2(m) && (m->procbased2 & (BIT(32 + 1) | BIT(32 + 5)));
}

/* IA32_VMX_VMFUNC exists if "enable VM functions" (secondary bit 13) may be 1. */
static inline bool vmx_msrs_has_vmfunc(const struct vmx_msrs *m)
{
	return vmx_msrs_has_procbased2(m) && (m->procbased2 & BIT(32 + 13));
}

/*
 * One VM-execution/exit/entry control field's constraints. A bit set in allowed0 must be 1 (the MSR's low word, the
 * "allowed 0-settings": a 1 there means 0 is not allowed); a bit set in allowed1 may be 1 (the high word). A bit in
 * neither must be 0.
 */
struct vmx_ctl {
	u32 allowed0;
	u32 allowed1;
};

/* Back to the MSR layout vmx_adjust_controls() takes. */
static inline u64 vmx_ctl_msr(struct vmx_ctl c)
{
	return (u64)c.allowed1 << 32 | c.allowed0;
}

struct vmx_caps {
	/* IA32_VMX_BASIC */
	u32 revision_id;
	u32 vmcs_size;	 /* bytes to allocate for the VMXON region and each VMCS (at most 4096) */
	u8 vmcs_memtype; /* memory type the CPU uses for VMCS accesses; 6 = WB on every CPU we know */
	bool vmcs_wb;
	bool addr_32bit; /* VMXON/VMCS/bitmap addresses must lie below 4 GiB (bit 48, never set on 64-bit CPUs) */
	bool ins_outs_info;
	bool true_ctls;

	/* Effective control constraints: the TRUE_* MSRs when true_ctls, else the legacy ones. */
	struct vmx_ctl pin, proc, proc2, exit, entry;
	bool has_secondary;

	/* Pin-based */
	bool virtual_nmis;
	bool preemption_timer;
	bool posted_intr;

	/* Primary processor-based */
	bool tpr_shadow;
	bool io_bitmaps;
	bool msr_bitmaps;
	bool monitor_trap_flag;

	/* Secondary processor-based (all false without has_secondary) */
	bool virt_apic_access;
	bool ept;
	bool rdtscp;
	bool x2apic_virt;
	bool vpid;
	bool unrestricted_guest; /* only set together with ept: the control requires "enable EPT" */
	bool apic_reg_virt;
	bool virt_intr_delivery;
	bool invpcid;
	bool vmfunc;
	bool vmcs_shadowing;
	bool pml;
	bool ept_violation_ve;
	bool xsaves;
	bool tsc_scaling;

	/* VM-exit controls */
	bool exit_host_64bit; /* "host address-space size": returning to a 64-bit host */
	bool exit_save_pat, exit_load_pat;
	bool exit_save_efer, exit_load_efer;

	/* VM-entry controls */
	bool entry_ia32e_guest;
	bool entry_load_pat;
	bool entry_load_efer;

	/* IA32_VMX_MISC */
	u8 preemption_timer_rate; /* the timer counts down every 2^rate TSC ticks; meaningful with preemption_timer */
	bool exit_stores_lma;	  /* VM exit copies EFER.LMA into the "IA-32e mode guest" entry control */
	bool activity_hlt, activity_shutdown, activity_wait_sipi;
	bool vmwrite_any_field; /* VMWRITE may write VM-exit information fields (matters for VMCS shadowing) */
	u16 cr3_target_count;
	u32 max_msr_list; /* recommended maximum entries in each VM-exit/entry MSR list */

	/* IA32_VMX_VMCS_ENUM */
	u16 max_vmcs_index;

	/* IA32_VMX_EPT_VPID_CAP, EPT half (all false without ept) */
	bool ept_exec_only;
	bool ept_pwl4, ept_pwl5;
	bool ept_uc, ept_wb;
	bool ept_2m, ept_1g;
	bool ept_ad;
	bool ept_adv_exit_info;
	bool ept_sss;
	bool invept, invept_single, invept_all;

	/* IA32_VMX_EPT_VPID_CAP, VPID half (all false without vpid) */
	bool invvpid, invvpid_addr, invvpid_single, invvpid_all, invvpid_single_global;

	/* IA32_VMX_VMFUNC */
	bool vmfunc_eptp_switching;

	/* CR0/CR4 while in VMX operation (host and guest): a bit set in fixed0 must be 1, a bit clear in fixed1 must be
	 * 0. cr0_fixed0_ug is fixed0 for a guest run with "unrestricted guest", which lifts the PE and PG requirement.
	 */
	u64 cr0_fixed0, cr0_fixed1;
	u64 cr4_fixed0, cr4_fixed1;
	u64 cr0_fixed0_ug;
};

void vmx_caps_decode(const struct vmx_msrs *m, struct vmx_caps *c);

/*
 * Choose a control field value: every `required` and `optional` bit the CPU allows, plus every bit it forces to 1.
 * Returns 0, or -EOPNOTSUPP (with *out still set, and a warning naming the bits) if a required bit may not be 1.
 * ctl_msr is a control MSR value or vmx_ctl_msr() of a decoded one.
 */
int vmx_adjust_controls(u64 ctl_msr, u32 required, u32 optional, u32 *out);

/* Force value into the CR0/CR4 fixed constraints, and check whether it already meets them. */
u64 vmx_fixed_bits(u64 value, u64 fixed0, u64 fixed1);
bool vmx_cr_ok(u64 value, u64 fixed0, u64 fixed1);

/*
 * The report as lines separated by '\n', NUL-terminated when len > 0. Returns the length the whole report would have,
 * so a result >= len means it was cut short (snprintf semantics). One line begins "vmx: EPT", one "vmx: VPID"; every
 * feature is printed as +name or -name so an absent one is never just silently missing.
 */
size_t vmx_caps_format(const struct vmx_caps *c, char *buf, size_t len);
void vmx_caps_report(const struct vmx_caps *c);

/* 0 if the CPU has everything this hypervisor needs, else -EOPNOTSUPP and one error line naming each missing feature.
 * need_ept = false is for the shadow-paging fallback, which also drops unrestricted guest (it requires EPT). */
int vmx_caps_check_minimum(const struct vmx_caps *c, bool need_ept);
/* Whether the TDP MMU can run on EPT here; if not, *why names the first thing missing. */
bool vmx_caps_tdp_usable(const struct vmx_caps *c, const char **why);

/* What IA32_FEATURE_CONTROL allows before VMXON outside SMX. */
enum vmx_feature_control_action {
	VMX_FC_READY,	   /* locked with VMXON outside SMX enabled */
	VMX_FC_WRITE,	   /* unlocked: write *new_value (enable + lock), then VMXON */
	VMX_FC_LOCKED_OFF, /* locked with VMXON outside SMX disabled: only a firmware setting can change that */
};
enum vmx_feature_control_action vmx_feature_control_action(u64 feature_control, u64 *new_value);

/* The EPT pointer for a root table (SDM 25.6.11): bits 2:0 the paging-structures' memory type (6 = WB), 5:3 the
 * walk length - 1, 6 A/D enable, 51:12 the root. */
#define EPTP_MT_WB 6ULL
#define EPTP_WALK_SHIFT 3
#define EPTP_AD BIT(6)

static inline u64 vmx_eptp(hpa_t root, int level, bool ad)
{
	return root | EPTP_MT_WB | ((u64)(level - 1) << EPTP_WALK_SHIFT) | (ad ? EPTP_AD : 0);
}

#endif
