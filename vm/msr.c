/* MSR policy for the MSRs that exit. The LAPIC's and EFER go to their owners; a few identification and
 * machine-check MSRs read as a plain CPU with nothing to report; everything else raises #GP, as on a CPU that lacks
 * the MSR, and is logged once per index so a guest's expectations show up in the log. */
#include "arch/x86/cpu.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/virt.h"
#include "hv/errno.h"
#include "hv/log.h"
#include "vm/dev/vlapic.h"
#include "mm/shadow/gwalk.h"
#include "vm/protect.h"
#include "vm/vcpu.h"

#define MSR_IA32_PLATFORM_ID 0x17
#define MSR_IA32_BIOS_SIGN_ID 0x8b
#define MSR_IA32_MCG_CAP 0x179
#define MSR_IA32_MCG_STATUS 0x17a
#define MSR_K8_INT_PENDING_MSG 0xc0010055 /* family 0Fh C1E probing reads it unguarded */

const u32 msr_passthrough_list[] = {
	MSR_FS_BASE, MSR_GS_BASE, MSR_KERNEL_GS_BASE, MSR_IA32_SYSENTER_CS, MSR_IA32_SYSENTER_ESP,
	MSR_IA32_SYSENTER_EIP, MSR_STAR, MSR_LSTAR, MSR_CSTAR, MSR_SFMASK, MSR_IA32_PAT,
};
const u32 msr_passthrough_count = ARRAY_SIZE(msr_passthrough_list);

static void log_unknown(struct vcpu *v, u32 index, bool write)
{
	if (vcpu_may_log(v))
		vm_log(v->vm, LOG_INFO, "%s of unknown MSR 0x%x: #GP\n", write ? "wrmsr" : "rdmsr", index);
}

int msr_read(struct vcpu *v, u32 index, u64 *val)
{
	if (index == MSR_IA32_APIC_BASE) {
		*val = vlapic_get_apic_base(v->lapic);
		return 0;
	}
	if (vlapic_is_msr(index))
		return vlapic_msr_read(v->lapic, index, val, rdtsc());
	switch (index) {
	case MSR_EFER:
		*val = virt_ops->get_efer(v);
		return 0;
	case MSR_IA32_TSC:
		*val = rdtsc();
		return 0;
	case MSR_IA32_MISC_ENABLE:
		*val = BIT(0) | BIT(11) | BIT(12); /* fast strings; BTS and PEBS unavailable */
		return 0;
	case MSR_IA32_FEATURE_CONTROL:
		*val = FEATURE_CONTROL_LOCKED; /* locked with VMX off: no nested virtualization */
		return 0;
	case MSR_MTRRcap:
		*val = 0;
		return 0;
	case MSR_MTRRdefType:
		*val = v->mtrr_def_type;
		return 0;
	case MSR_IA32_PLATFORM_ID:
	case MSR_IA32_BIOS_SIGN_ID:
	case MSR_K8_INT_PENDING_MSG:
	case MSR_IA32_MCG_CAP:
	case MSR_IA32_MCG_STATUS:
		*val = 0;
		return 0;
	}
	log_unknown(v, index, false);
	return -EINVAL;
}

int msr_write(struct vcpu *v, u32 index, u64 val)
{
	if (index == MSR_IA32_APIC_BASE)
		return vlapic_set_apic_base(v->lapic, val, rdtsc());
	if (vlapic_is_msr(index))
		return vlapic_msr_write(v->lapic, index, val, rdtsc());
	switch (index) {
	case MSR_EFER: {
		int r = virt_ops->set_efer(v, val);
		/* NXE is part of a shadow root's role. */
		if (!r && v->vm->mmu.shadow.enabled)
			vcpu_request(v, VCPU_REQ_LOAD_ROOT);
		return r;
	}
	case MSR_IA32_TSC:
	case MSR_IA32_MISC_ENABLE:
	case MSR_IA32_BIOS_SIGN_ID: /* microcode revision probing writes 0 first */
		return 0;
	case MSR_MTRRdefType:
		if (val & ~0xcffULL)
			return -EINVAL;
		v->mtrr_def_type = val;
		return 0;
	case MSR_IA32_MCG_STATUS:
		return val ? -EINVAL : 0;
	case MSR_LSTAR:
		/* Passed through, and intercepted only while protect= ranges wait for the guest kernel (vm/protect.c). */
		if (!gwalk_is_canonical(val))
			return -EINVAL;
		virt_ops->set_passthrough_msr(v, index, val);
		virt_ops->intercept_msr_write(v, index, false);
		protect_lstar_written(v, val);
		return 0;
	}
	log_unknown(v, index, true);
	return -EINVAL;
}
