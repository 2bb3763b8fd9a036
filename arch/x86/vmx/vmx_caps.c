/* Decoding, reporting and checking of the VMX capability MSRs (SDM Vol. 3 Appendix A, and 25.6/26.2 for what the
 * controls mean). Pure functions of the raw values the caller read; see vmx_caps.h for the order to read them in. */
#include "arch/x86/vmx/vmx_caps.h"

#include "arch/x86/caps_text.h"
#include "arch/x86/cpu.h"
#include "arch/x86/msr_index.h"
#include "hv/errno.h"
#include "hv/log.h"
#include "hv/string.h"

/* Control bit positions this file decodes. The VMX backend names the controls it programs in its own header; these
 * stay private so the two sets of names cannot collide. */
#define PIN_VIRTUAL_NMIS     5
#define PIN_PREEMPTION_TIMER 6
#define PIN_POSTED_INTR	     7

#define PROC_TPR_SHADOW	 21
#define PROC_IO_BITMAPS	 25
#define PROC_MTF	 27
#define PROC_MSR_BITMAPS 28

#define PROC2_VIRT_APIC_ACCESS	 0
#define PROC2_EPT		 1
#define PROC2_RDTSCP		 3
#define PROC2_X2APIC_VIRT	 4
#define PROC2_VPID		 5
#define PROC2_UNRESTRICTED_GUEST 7
#define PROC2_APIC_REG_VIRT	 8
#define PROC2_VIRT_INTR_DELIVERY 9
#define PROC2_INVPCID		 12
#define PROC2_VMFUNC		 13
#define PROC2_VMCS_SHADOWING	 14
#define PROC2_PML		 17
#define PROC2_EPT_VIOLATION_VE	 18
#define PROC2_XSAVES		 20
#define PROC2_TSC_SCALING	 25

#define EXIT_HOST_64BIT 9
#define EXIT_SAVE_PAT	18
#define EXIT_LOAD_PAT	19
#define EXIT_SAVE_EFER	20
#define EXIT_LOAD_EFER	21

#define ENTRY_IA32E_GUEST 9
#define ENTRY_LOAD_PAT	  14
#define ENTRY_LOAD_EFER	  15

static bool may1(struct vmx_ctl ctl, unsigned int bit)
{
	return ctl.allowed1 & (1u << bit);
}

static struct vmx_ctl split_ctl(u64 msr)
{
	return (struct vmx_ctl){.allowed0 = (u32)msr, .allowed1 = (u32)(msr >> 32)};
}

static void decode_ept_vpid(u64 cap, struct vmx_caps *c)
{
	if (c->ept) {
		c->ept_exec_only = cap & BIT(0);
		c->ept_pwl4 = cap & BIT(6);
		c->ept_pwl5 = cap & BIT(7);
		c->ept_uc = cap & BIT(8);
		c->ept_wb = cap & BIT(14);
		c->ept_2m = cap & BIT(16);
		c->ept_1g = cap & BIT(17);
		c->invept = cap & BIT(20);
		c->ept_ad = cap & BIT(21);
		c->ept_adv_exit_info = cap & BIT(22);
		c->ept_sss = cap & BIT(23);
		/* The INVEPT types mean nothing without the instruction itself. */
		c->invept_single = c->invept && (cap & BIT(25));
		c->invept_all = c->invept && (cap & BIT(26));
	}
	if (c->vpid) {
		c->invvpid = cap & BIT(32);
		c->invvpid_addr = c->invvpid && (cap & BIT(40));
		c->invvpid_single = c->invvpid && (cap & BIT(41));
		c->invvpid_all = c->invvpid && (cap & BIT(42));
		c->invvpid_single_global = c->invvpid && (cap & BIT(43));
	}
}

static void decode_misc(u64 misc, struct vmx_caps *c)
{
	c->preemption_timer_rate = misc & GENMASK_ULL(4, 0);
	c->exit_stores_lma = misc & BIT(5);
	c->activity_hlt = misc & BIT(6);
	c->activity_shutdown = misc & BIT(7);
	c->activity_wait_sipi = misc & BIT(8);
	c->cr3_target_count = (misc & GENMASK_ULL(24, 16)) >> 16;
	c->max_msr_list = 512 * (((misc & GENMASK_ULL(27, 25)) >> 25) + 1);
	c->vmwrite_any_field = misc & BIT(29);
}

void vmx_caps_decode(const struct vmx_msrs *m, struct vmx_caps *c)
{
	memset(c, 0, sizeof(*c));

	c->revision_id = m->basic & GENMASK_ULL(30, 0);
	c->vmcs_size = (m->basic & GENMASK_ULL(44, 32)) >> 32;
	c->addr_32bit = m->basic & BIT(48);
	c->vmcs_memtype = (m->basic & GENMASK_ULL(53, 50)) >> 50;
	c->vmcs_wb = c->vmcs_memtype == 6;
	c->ins_outs_info = m->basic & BIT(54);
	c->true_ctls = vmx_msrs_has_true_ctls(m);

	/* The TRUE MSRs differ only in clearing some default1 bits of the low word: they are a superset of freedom. */
	c->pin = split_ctl(c->true_ctls ? m->true_pinbased : m->pinbased);
	c->proc = split_ctl(c->true_ctls ? m->true_procbased : m->procbased);
	c->exit = split_ctl(c->true_ctls ? m->true_exit : m->exit);
	c->entry = split_ctl(c->true_ctls ? m->true_entry : m->entry);
	c->has_secondary = vmx_msrs_has_procbased2(m);
	if (c->has_secondary)
		c->proc2 = split_ctl(m->procbased2);

	c->virtual_nmis = may1(c->pin, PIN_VIRTUAL_NMIS);
	c->preemption_timer = may1(c->pin, PIN_PREEMPTION_TIMER);
	c->posted_intr = may1(c->pin, PIN_POSTED_INTR);

	c->tpr_shadow = may1(c->proc, PROC_TPR_SHADOW);
	c->io_bitmaps = may1(c->proc, PROC_IO_BITMAPS);
	c->msr_bitmaps = may1(c->proc, PROC_MSR_BITMAPS);
	c->monitor_trap_flag = may1(c->proc, PROC_MTF);

	c->virt_apic_access = may1(c->proc2, PROC2_VIRT_APIC_ACCESS);
	c->ept = may1(c->proc2, PROC2_EPT);
	c->rdtscp = may1(c->proc2, PROC2_RDTSCP);
	c->x2apic_virt = may1(c->proc2, PROC2_X2APIC_VIRT);
	c->vpid = may1(c->proc2, PROC2_VPID);
	/* VM entry fails if "unrestricted guest" is 1 while "enable EPT" is 0 (SDM 26.2.1.1). */
	c->unrestricted_guest = c->ept && may1(c->proc2, PROC2_UNRESTRICTED_GUEST);
	c->apic_reg_virt = may1(c->proc2, PROC2_APIC_REG_VIRT);
	c->virt_intr_delivery = may1(c->proc2, PROC2_VIRT_INTR_DELIVERY);
	c->invpcid = may1(c->proc2, PROC2_INVPCID);
	c->vmfunc = may1(c->proc2, PROC2_VMFUNC);
	c->vmcs_shadowing = may1(c->proc2, PROC2_VMCS_SHADOWING);
	c->pml = c->ept && may1(c->proc2, PROC2_PML);
	c->ept_violation_ve = c->ept && may1(c->proc2, PROC2_EPT_VIOLATION_VE);
	c->xsaves = may1(c->proc2, PROC2_XSAVES);
	c->tsc_scaling = may1(c->proc2, PROC2_TSC_SCALING);

	c->exit_host_64bit = may1(c->exit, EXIT_HOST_64BIT);
	c->exit_save_pat = may1(c->exit, EXIT_SAVE_PAT);
	c->exit_load_pat = may1(c->exit, EXIT_LOAD_PAT);
	c->exit_save_efer = may1(c->exit, EXIT_SAVE_EFER);
	c->exit_load_efer = may1(c->exit, EXIT_LOAD_EFER);

	c->entry_ia32e_guest = may1(c->entry, ENTRY_IA32E_GUEST);
	c->entry_load_pat = may1(c->entry, ENTRY_LOAD_PAT);
	c->entry_load_efer = may1(c->entry, ENTRY_LOAD_EFER);

	decode_misc(m->misc, c);
	c->max_vmcs_index = (m->vmcs_enum & GENMASK_ULL(9, 1)) >> 1;

	if (vmx_msrs_has_ept_vpid_cap(m))
		decode_ept_vpid(m->ept_vpid_cap, c);
	if (c->vmfunc)
		c->vmfunc_eptp_switching = c->ept && (m->vmfunc & BIT(0));

	c->cr0_fixed0 = m->cr0_fixed0;
	c->cr0_fixed1 = m->cr0_fixed1;
	c->cr4_fixed0 = m->cr4_fixed0;
	c->cr4_fixed1 = m->cr4_fixed1;
	c->cr0_fixed0_ug = c->cr0_fixed0;
	if (c->unrestricted_guest)
		c->cr0_fixed0_ug &= ~(CR0_PE | CR0_PG);
}

static void put_flag(struct text *t, bool on, const char *name)
{
	put_str(t, on ? " +" : " -");
	put_str(t, name);
}

static void line_basic(const struct vmx_caps *c, struct text *t)
{
	put_str(t, "vmx: rev ");
	put_num(t, c->revision_id, 16);
	put_str(t, ", vmcs ");
	put_num(t, c->vmcs_size, 10);
	put_str(t, "B ");
	if (c->vmcs_wb) {
		put_str(t, "WB");
	} else {
		put_str(t, "memtype ");
		put_num(t, c->vmcs_memtype, 10);
	}
	if (c->addr_32bit)
		put_str(t, " below-4G");
	put_str(t, ",");
	put_flag(t, c->true_ctls, "true-ctls");
	put_flag(t, c->ins_outs_info, "ins/outs-info");
	put_str(t, ", cr3-targets ");
	put_num(t, c->cr3_target_count, 10);
	put_str(t, ", msr-list ");
	put_num(t, c->max_msr_list, 10);
	put_str(t, ", activity");
	put_flag(t, c->activity_hlt, "hlt");
	put_flag(t, c->activity_shutdown, "shutdown");
	put_flag(t, c->activity_wait_sipi, "wait-sipi");
	put_str(t, ",");
	put_flag(t, c->exit_stores_lma, "exit-stores-LMA");
	put_flag(t, c->vmwrite_any_field, "vmwrite-any");
}

static void line_ept(const struct vmx_caps *c, struct text *t)
{
	if (!c->ept) {
		put_str(t, c->has_secondary ? "vmx: EPT unsupported" : "vmx: EPT unsupported (no secondary controls)");
		return;
	}
	put_str(t, "vmx: EPT");
	put_flag(t, c->ept_pwl4, "4-level");
	put_flag(t, c->ept_pwl5, "5-level");
	put_flag(t, c->ept_wb, "WB");
	put_flag(t, c->ept_uc, "UC");
	put_flag(t, c->ept_2m, "2M");
	put_flag(t, c->ept_1g, "1G");
	put_flag(t, c->ept_ad, "A/D");
	put_flag(t, c->ept_exec_only, "exec-only");
	put_flag(t, c->ept_adv_exit_info, "adv-exit-info");
	put_flag(t, c->ept_sss, "SSS");
	if (c->invept) {
		put_str(t, ", INVEPT");
		put_flag(t, c->invept_single, "single");
		put_flag(t, c->invept_all, "all");
	} else {
		put_str(t, ", -INVEPT");
	}
}

static void line_vpid(const struct vmx_caps *c, struct text *t)
{
	if (!c->vpid) {
		put_str(t,
			c->has_secondary ? "vmx: VPID unsupported" : "vmx: VPID unsupported (no secondary controls)");
		return;
	}
	if (c->invvpid) {
		put_str(t, "vmx: VPID, INVVPID");
		put_flag(t, c->invvpid_addr, "addr");
		put_flag(t, c->invvpid_single, "single");
		put_flag(t, c->invvpid_all, "all");
		put_flag(t, c->invvpid_single_global, "single-global");
	} else {
		put_str(t, "vmx: VPID, -INVVPID");
	}
}

static void line_primary(const struct vmx_caps *c, struct text *t)
{
	put_str(t, "vmx: ctls");
	put_flag(t, c->unrestricted_guest, "unrestricted-guest");
	put_flag(t, c->pml, "PML");
	put_flag(t, c->vmcs_shadowing, "VMCS-shadowing");
	put_flag(t, c->preemption_timer, "preemption-timer");
	if (c->preemption_timer) {
		put_str(t, "(rate ");
		put_num(t, c->preemption_timer_rate, 10);
		put_str(t, ")");
	}
	put_flag(t, c->posted_intr, "posted-intr");
	put_flag(t, c->virtual_nmis, "virtual-NMIs");
	put_flag(t, c->msr_bitmaps, "MSR-bitmaps");
	put_flag(t, c->io_bitmaps, "IO-bitmaps");
	put_flag(t, c->tpr_shadow, "TPR-shadow");
	put_flag(t, c->monitor_trap_flag, "MTF");
}

static void line_secondary(const struct vmx_caps *c, struct text *t)
{
	if (!c->has_secondary) {
		put_str(t, "vmx: secondary controls unsupported");
		return;
	}
	put_str(t, "vmx: secondary");
	put_flag(t, c->virt_apic_access, "APIC-access");
	put_flag(t, c->x2apic_virt, "x2APIC-virt");
	put_flag(t, c->apic_reg_virt, "APIC-reg-virt");
	put_flag(t, c->virt_intr_delivery, "virt-intr-delivery");
	put_flag(t, c->ept_violation_ve, "EPT-#VE");
	put_flag(t, c->xsaves, "XSAVES");
	put_flag(t, c->tsc_scaling, "TSC-scaling");
	put_flag(t, c->rdtscp, "RDTSCP");
	put_flag(t, c->invpcid, "INVPCID");
	put_flag(t, c->vmfunc, "VMFUNC");
	put_flag(t, c->vmfunc_eptp_switching, "EPTP-switching");
}

static void line_entry_exit(const struct vmx_caps *c, struct text *t)
{
	put_str(t, "vmx: entry");
	put_flag(t, c->entry_ia32e_guest, "ia32e-guest");
	put_flag(t, c->entry_load_efer, "load-EFER");
	put_flag(t, c->entry_load_pat, "load-PAT");
	put_str(t, ", exit");
	put_flag(t, c->exit_host_64bit, "host-64bit");
	put_flag(t, c->exit_save_efer, "save-EFER");
	put_flag(t, c->exit_load_efer, "load-EFER");
	put_flag(t, c->exit_save_pat, "save-PAT");
	put_flag(t, c->exit_load_pat, "load-PAT");
}

static void line_fixed(const struct vmx_caps *c, struct text *t)
{
	put_str(t, "vmx: cr0 fixed0 ");
	put_num(t, c->cr0_fixed0, 16);
	put_str(t, " fixed1 ");
	put_num(t, c->cr0_fixed1, 16);
	put_str(t, ", cr4 fixed0 ");
	put_num(t, c->cr4_fixed0, 16);
	put_str(t, " fixed1 ");
	put_num(t, c->cr4_fixed1, 16);
}

static void (*const report_lines[])(const struct vmx_caps *c, struct text *t) = {
    line_basic, line_ept, line_vpid, line_primary, line_secondary, line_entry_exit, line_fixed,
};

/* The longest line is about 150 characters; the slack leaves room for more flags before one would be cut short. */
#define REPORT_LINE_MAX 256

size_t vmx_caps_format(const struct vmx_caps *c, char *buf, size_t len)
{
	struct text t = {.buf = buf, .len = len};

	put_str(&t, "");
	for (size_t i = 0; i < ARRAY_SIZE(report_lines); i++) {
		report_lines[i](c, &t);
		put_str(&t, "\n");
	}
	return t.pos;
}

void vmx_caps_report(const struct vmx_caps *c)
{
	char line[REPORT_LINE_MAX];

	for (size_t i = 0; i < ARRAY_SIZE(report_lines); i++) {
		struct text t = {.buf = line, .len = sizeof(line)};

		report_lines[i](c, &t);
		pr_info("%s\n", line);
	}
}

int vmx_adjust_controls(u64 ctl_msr, u32 required, u32 optional, u32 *out)
{
	u32 must_be_1 = (u32)ctl_msr, may_be_1 = (u32)(ctl_msr >> 32);
	u32 missing = required & ~may_be_1;
	char msg[160];
	struct text t = {.buf = msg, .len = sizeof(msg)};

	*out = ((required | optional) & may_be_1) | must_be_1;
	if (!missing)
		return 0;

	put_str(&t, "vmx: required controls ");
	put_num(&t, missing, 16);
	put_str(&t, " not allowed by the CPU: bits");
	for (unsigned int bit = 0; bit < 32; bit++) {
		if (missing & (1u << bit)) {
			put_str(&t, " ");
			put_num(&t, bit, 10);
		}
	}
	pr_warn("%s\n", msg);
	return -EOPNOTSUPP;
}

u64 vmx_fixed_bits(u64 value, u64 fixed0, u64 fixed1)
{
	return (value | fixed0) & fixed1;
}

bool vmx_cr_ok(u64 value, u64 fixed0, u64 fixed1)
{
	return (value & fixed0) == fixed0 && !(value & ~fixed1);
}

bool vmx_caps_tdp_usable(const struct vmx_caps *c, const char **why)
{
	/* EPT is only worth having with what the TDP MMU builds on; and without unrestricted guest (which needs EPT)
	 * the shadow MMU's vm86 real mode is the better path than a half-usable EPT. */
	const struct {
		bool ok;
		const char *why;
	} need[] = {
	    {c->has_secondary && c->ept, "the CPU has no EPT"},
	    {c->ept_pwl4, "EPT lacks 4-level walks"},
	    {c->ept_wb, "EPT lacks the WB memory type"},
	    {c->invept && (c->invept_single || c->invept_all), "the CPU has no INVEPT"},
	    {c->unrestricted_guest, "the CPU has no unrestricted guest"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(need); i++) {
		if (!need[i].ok) {
			*why = need[i].why;
			return false;
		}
	}
	return true;
}

int vmx_caps_check_minimum(const struct vmx_caps *c, bool need_ept)
{
	/*
	 * Secondary controls matter only as the home of EPT and unrestricted guest, so the shadow-paging fallback does
	 * not ask for them. The EPT sub-features are checked only once EPT itself is there, so a CPU without EPT gets
	 * one clear "EPT" rather than a list of its consequences. INVEPT is not optional in practice: without it there
	 * is no way to drop stale translations after changing an EPT entry. EFER and PAT switch through the VM-entry
	 * and VM-exit MSR lists where their load/save controls are missing (Core 2), as KVM does.
	 */
	const struct cap_need need[] = {
	    {!need_ept || c->has_secondary, "secondary-controls"},
	    {!need_ept || c->ept, "EPT"},
	    {!need_ept || !c->ept || c->ept_pwl4, "EPT-4-level"},
	    {!need_ept || !c->ept || c->ept_wb, "EPT-WB"},
	    {!need_ept || !c->ept || (c->invept && (c->invept_single || c->invept_all)), "INVEPT"},
	    {!need_ept || c->unrestricted_guest, "unrestricted-guest"},
	    {c->msr_bitmaps, "MSR-bitmaps"},
	    {c->io_bitmaps, "IO-bitmaps"},
	    {c->entry_ia32e_guest, "entry-ia32e-guest"},
	    {c->exit_host_64bit, "exit-host-64bit"},
	};
	return caps_check_needs("vmx", need, ARRAY_SIZE(need));
}

enum vmx_feature_control_action vmx_feature_control_action(u64 feature_control, u64 *new_value)
{
	*new_value = feature_control;
	if (feature_control & FEATURE_CONTROL_LOCKED)
		return (feature_control & FEATURE_CONTROL_VMXON_OUTSIDE_SMX) ? VMX_FC_READY : VMX_FC_LOCKED_OFF;
	/* Lock it too: VMXON raises #GP while the register is unlocked. */
	*new_value |= FEATURE_CONTROL_LOCKED | FEATURE_CONTROL_VMXON_OUTSIDE_SMX;
	return VMX_FC_WRITE;
}
