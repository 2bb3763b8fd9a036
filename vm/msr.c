/* MSR policy for the MSRs that exit. The LAPIC's and EFER go to their owners; the architectural ones a vCPU keeps in
 * software (TSC and TSC_ADJUST, MISC_ENABLE, DEBUGCTL, machine check, the legacy performance counters, MTRR and
 * identification MSRs) to vm/msr_arch.c; everything else raises #GP, as on a CPU that lacks the MSR, and is logged
 * (within the vCPU's log budget) so a guest's expectations show up in the log. README.md has the table. */
#include "arch/x86/cpu.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/virt.h"
#include "hv/errno.h"
#include "hv/log.h"
#include "vm/crcheck.h"
#include "vm/dev/vlapic.h"
#include "vm/protect.h"
#include "vm/vcpu.h"

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

/* The guest's TSC moved against the host's (a write to the TSC or to TSC_ADJUST): the hardware offset follows, and
 * an armed TSC-deadline timer keeps its guest-TSC deadline, which is now a different host time. */
static void tsc_offset_changed(struct vcpu *v, u64 old_offset, u64 now)
{
	u64 host_deadline = 0;

	virt_ops->set_tsc_offset(v, v->msrs.tsc_offset);
	if (!vlapic_msr_read(v->lapic, MSR_IA32_TSC_DEADLINE, &host_deadline, now) && host_deadline) {
		u64 guest = msr_tsc_deadline_to_guest(host_deadline, old_offset);
		vlapic_msr_write(v->lapic, MSR_IA32_TSC_DEADLINE, msr_tsc_deadline_to_host(guest, v->msrs.tsc_offset),
				 now);
	}
}

/* Whether val is a memory type PAT may hold in each byte: UC, WC, WT, WP, WB, UC- (SDM Vol. 3A 12.12.2). */
static bool is_valid_pat(u64 val)
{
	for (int i = 0; i < 8; i++) {
		u8 t = (u8)(val >> (8 * i));
		if (t == 2 || t == 3 || t > 7)
			return false;
	}
	return true;
}

/* The MSRs the guest owns in the CPU (msr_passthrough_list, and TSC_AUX where the CPU has RDTSCP) reach here only
 * when its WRMSR did not run on the CPU: the emulator's (real mode in vm86 on VMX) or while one is intercepted. They go
 * into the guest state VM entry checks (SDM Vol. 3C 28.3.1: canonical bases and SYSENTER addresses, a valid PAT), so
 * they get the checks WRMSR makes: a non-canonical FS/GS/KERNEL_GS_BASE, LSTAR or CSTAR is #GP (SDM Vol. 4 2-2,
 * APM 4.5.3). SYSENTER_ESP/EIP are #GP on Intel but only 32 bits on AMD (no 64-bit SYSENTER): made canonical, as KVM
 * does, so that neither vendor's guest sees a #GP its CPU would not raise and entry never fails. */
static int write_passthrough(struct vcpu *v, u32 index, u64 val)
{
	switch (index) {
	case MSR_FS_BASE:
	case MSR_GS_BASE:
	case MSR_KERNEL_GS_BASE:
	case MSR_CSTAR:
		if (!cr_is_canonical(val, vcpu_vaddr_bits(v)))
			return -EINVAL;
		break;
	case MSR_IA32_SYSENTER_ESP:
	case MSR_IA32_SYSENTER_EIP:
		val = cr_canonicalize(val, vcpu_vaddr_bits(v));
		break;
	case MSR_IA32_PAT:
		if (!is_valid_pat(val))
			return -EINVAL;
		break;
	case MSR_IA32_SYSENTER_CS:
	case MSR_STAR:
	case MSR_SFMASK:
		break;
	case MSR_TSC_AUX:
		/* Bits 63:32 are reserved on Intel (#GP) and dropped on AMD (KVM, for the same CPUID). */
		if (val >> 32 && !v->msrs.amd)
			return -EINVAL;
		val = (u32)val;
		break;
	default:
		return -ENOENT;
	}
	return virt_ops->set_passthrough_msr(v, index, val) ? -EINVAL : 0;
}

int msr_read(struct vcpu *v, u32 index, u64 *val)
{
	u64 now = rdtsc();
	int r;

	if (index == MSR_IA32_APIC_BASE) {
		*val = vlapic_get_apic_base(v->lapic);
		return 0;
	}
	if (vlapic_is_msr(index)) {
		r = vlapic_msr_read(v->lapic, index, val, now);
		/* The vLAPIC keeps the deadline in host TSC; the guest reads its own. */
		if (!r && index == MSR_IA32_TSC_DEADLINE)
			*val = msr_tsc_deadline_to_guest(*val, v->msrs.tsc_offset);
		return r;
	}
	if (index == MSR_EFER) {
		*val = virt_ops->get_efer(v);
		return 0;
	}
	/* The emulator's RDMSR (real mode in vm86 on VMX) or one intercepted for a while: the value the CPU holds. */
	if (!virt_ops->get_passthrough_msr(v, index, val))
		return 0;
	r = msr_arch_read(&v->msrs, index, now, val);
	if (r == -ENOENT)
		log_unknown(v, index, false);
	return r ? -EINVAL : 0;
}

int msr_write(struct vcpu *v, u32 index, u64 val)
{
	u64 now = rdtsc(), old_offset = v->msrs.tsc_offset;
	int r;

	if (index == MSR_IA32_APIC_BASE)
		return vlapic_set_apic_base(v->lapic, val, now);
	if (index == MSR_IA32_TSC_DEADLINE)
		val = msr_tsc_deadline_to_host(val, v->msrs.tsc_offset);
	if (vlapic_is_msr(index))
		return vlapic_msr_write(v->lapic, index, val, now);
	switch (index) {
	case MSR_EFER:
		r = vcpu_check_efer(v, val) ? -EINVAL : virt_ops->set_efer(v, val);
		/* NXE is part of a shadow root's role. */
		if (!r && v->vm->mmu.shadow.enabled)
			vcpu_request(v, VCPU_REQ_LOAD_ROOT);
		return r;
	case MSR_LSTAR:
		/* Passed through, and intercepted only while protect= ranges wait for the guest kernel (vm/protect.c). */
		if (!cr_is_canonical(val, vcpu_vaddr_bits(v)))
			return -EINVAL;
		virt_ops->set_passthrough_msr(v, index, val);
		virt_ops->intercept_msr_write(v, index, false);
		protect_lstar_written(v, val);
		return 0;
	}
	r = write_passthrough(v, index, val);
	if (r != -ENOENT)
		return r;
	r = msr_arch_write(&v->msrs, index, val, now);
	if (r == -ENOENT)
		log_unknown(v, index, true);
	if (r)
		return -EINVAL;
	if (v->msrs.tsc_offset != old_offset)
		tsc_offset_changed(v, old_offset, now);
	return 0;
}
