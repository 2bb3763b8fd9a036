/* VMX bring-up: read and decode the capability MSRs, and VMXON on each CPU with IA32_FEATURE_CONTROL and the
 * CR0/CR4 fixed bits honoured. */
#include "arch/x86/cpu.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/virt.h"
#include "arch/x86/vmx/vmx_caps.h"
#include "kernel/percpu.h"
#include "hv/errno.h"
#include "hv/log.h"
#include "hv/platform.h"

struct vmx_msrs vmx_msrs; /* read once by the BSP in vmx_probe */
struct vmx_caps vmx_caps;

static void read_msrs(struct vmx_msrs *m)
{
	m->basic = rdmsr(MSR_IA32_VMX_BASIC);
	m->pinbased = rdmsr(MSR_IA32_VMX_PINBASED_CTLS);
	m->procbased = rdmsr(MSR_IA32_VMX_PROCBASED_CTLS);
	m->exit = rdmsr(MSR_IA32_VMX_EXIT_CTLS);
	m->entry = rdmsr(MSR_IA32_VMX_ENTRY_CTLS);
	m->misc = rdmsr(MSR_IA32_VMX_MISC);
	m->cr0_fixed0 = rdmsr(MSR_IA32_VMX_CR0_FIXED0);
	m->cr0_fixed1 = rdmsr(MSR_IA32_VMX_CR0_FIXED1);
	m->cr4_fixed0 = rdmsr(MSR_IA32_VMX_CR4_FIXED0);
	m->cr4_fixed1 = rdmsr(MSR_IA32_VMX_CR4_FIXED1);
	m->vmcs_enum = rdmsr(MSR_IA32_VMX_VMCS_ENUM);
	if (vmx_msrs_has_true_ctls(m)) {
		m->true_pinbased = rdmsr(MSR_IA32_VMX_TRUE_PINBASED_CTLS);
		m->true_procbased = rdmsr(MSR_IA32_VMX_TRUE_PROCBASED_CTLS);
		m->true_exit = rdmsr(MSR_IA32_VMX_TRUE_EXIT_CTLS);
		m->true_entry = rdmsr(MSR_IA32_VMX_TRUE_ENTRY_CTLS);
	}
	if (vmx_msrs_has_procbased2(m))
		m->procbased2 = rdmsr(MSR_IA32_VMX_PROCBASED_CTLS2);
	if (vmx_msrs_has_ept_vpid_cap(m))
		m->ept_vpid_cap = rdmsr(MSR_IA32_VMX_EPT_VPID_CAP);
	if (vmx_msrs_has_vmfunc(m))
		m->vmfunc = rdmsr(MSR_IA32_VMX_VMFUNC);
}

int vmx_probe(bool *tdp, const char **why)
{
	u64 fc = rdmsr(MSR_IA32_FEATURE_CONTROL), unused;

	if (vmx_feature_control_action(fc, &unused) == VMX_FC_LOCKED_OFF) {
		pr_err("hv: vmx: VMX is disabled by the firmware (IA32_FEATURE_CONTROL locked without VMXON outside "
		       "SMX); enable Intel VT-x in the firmware setup\n");
		return -EOPNOTSUPP;
	}
	read_msrs(&vmx_msrs);
	vmx_caps_decode(&vmx_msrs, &vmx_caps);
	vmx_caps_report(&vmx_caps);
	if (*tdp && !vmx_caps_tdp_usable(&vmx_caps, why))
		*tdp = false;
	return vmx_caps_check_minimum(&vmx_caps, *tdp);
}

int vmx_hardware_enable(struct percpu *cpu)
{
	u64 fc = rdmsr(MSR_IA32_FEATURE_CONTROL), new_fc;
	u8 failed;

	switch (vmx_feature_control_action(fc, &new_fc)) {
	case VMX_FC_LOCKED_OFF:
		pr_err("hv: vmx: CPU %u: VMX disabled by the firmware\n", cpu->cpu_id);
		return -EOPNOTSUPP;
	case VMX_FC_WRITE:
		wrmsr(MSR_IA32_FEATURE_CONTROL, new_fc);
		break;
	case VMX_FC_READY:
		break;
	}
	if (read_cr4() & CR4_VMXE) {
		pr_err("hv: vmx: CPU %u: CR4.VMXE is already set; someone else owns VMX\n", cpu->cpu_id);
		return -EBUSY;
	}

	if (cpu->virt_region == 0) {
		hpa_t region = frame_alloc(0);
		if (region == INVALID_HPA)
			return -ENOMEM;
		*(u32 *)phys_to_virt(region) = vmx_caps.revision_id;
		cpu->virt_region = region;
	}
	write_cr0(vmx_fixed_bits(read_cr0(), vmx_msrs.cr0_fixed0, vmx_msrs.cr0_fixed1));
	write_cr4(vmx_fixed_bits(read_cr4() | CR4_VMXE, vmx_msrs.cr4_fixed0, vmx_msrs.cr4_fixed1));

	/* VMXON signals failure through CF (VMfailInvalid); there is no current VMCS yet, so ZF cannot be set. */
	__asm__ __volatile__("vmxon %1; setna %0" : "=q"(failed) : "m"(cpu->virt_region) : "cc", "memory");
	if (failed) {
		write_cr4(read_cr4() & ~CR4_VMXE);
		pr_err("hv: vmx: CPU %u: VMXON failed\n", cpu->cpu_id);
		return -EIO;
	}
	cpu->virt_enabled = true;
	return 0;
}

void vmx_hardware_disable(struct percpu *cpu)
{
	if (!cpu->virt_enabled)
		return;
	__asm__ __volatile__("vmxoff" ::: "cc", "memory");
	write_cr4(read_cr4() & ~CR4_VMXE);
	cpu->virt_enabled = false;
}

DEFINE_VIRT_OPS(vmx, "vmx");
