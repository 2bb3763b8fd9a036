/* SVM bring-up: decode CPUID Fn8000_000A and VM_CR, then set EFER.SVME and a host save area on each CPU. */
#include "arch/x86/cpu.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/svm/svm_caps.h"
#include "arch/x86/svm/svm_tcg_quirk.h"
#include "arch/x86/virt.h"
#include "kernel/percpu.h"
#include "hv/errno.h"
#include "hv/log.h"
#include "hv/platform.h"

struct svm_caps svm_caps;

int svm_probe(bool *tdp, const char **why)
{
	struct cpuid_regs r = cpuid(0x8000000a);
	struct svm_cpuid leaf = { r.eax, r.ebx, r.ecx, r.edx };

	svm_caps_decode(&leaf, true, rdmsr(MSR_VM_CR), &svm_caps);
	svm_caps_report(&svm_caps);
	if (cpuid(1).ecx & BIT(31)) {
		struct cpuid_regs hv = cpuid(0x40000000);
		svm_tcg_redelivery_quirk = svm_cpu_is_qemu_tcg(true, hv.ebx, hv.ecx, hv.edx);
	}
	if (svm_tcg_redelivery_quirk)
		pr_info("svm: QEMU TCG: a VMRUN that injects an interrupt exits right after it (QEMU may deliver it "
			"twice)\n");
	if (*tdp && svm_caps.supported && !svm_caps.npt) {
		*tdp = false;
		*why = "the CPU has no NPT";
	}
	return svm_caps_check_minimum(&svm_caps, *tdp);
}

int svm_hardware_enable(struct percpu *cpu)
{
	if (rdmsr(MSR_VM_CR) & VM_CR_SVMDIS) {
		pr_err("hv: svm: CPU %u: SVM is disabled by the firmware (VM_CR.SVMDIS)\n", cpu->cpu_id);
		return -EOPNOTSUPP;
	}
	if (cpu->virt_region == 0) {
		hpa_t hsave = frame_alloc(0);
		if (hsave == INVALID_HPA)
			return -ENOMEM;
		cpu->virt_region = hsave;
	}
	if (cpu->svm_host_save == 0) {
		hpa_t save = frame_alloc(0);
		if (save == INVALID_HPA)
			return -ENOMEM;
		cpu->svm_host_save = save;
	}
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);
	wrmsr(MSR_VM_HSAVE_PA, cpu->virt_region);
	if (!(rdmsr(MSR_EFER) & EFER_SVME)) {
		pr_err("hv: svm: CPU %u: EFER.SVME did not stick\n", cpu->cpu_id);
		return -EIO;
	}
	/* The host's FS/GS/TR/LDTR and syscall MSRs, which VMRUN leaves to VMSAVE/VMLOAD: restored after each exit. */
	__asm__ __volatile__("vmsave %%rax" ::"a"(cpu->svm_host_save) : "memory");
	cpu->virt_enabled = true;
	return 0;
}

void svm_hardware_disable(struct percpu *cpu)
{
	if (!cpu->virt_enabled)
		return;
	wrmsr(MSR_VM_HSAVE_PA, 0);
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) & ~EFER_SVME);
	cpu->virt_enabled = false;
}

/* No AVIC here (neither QEMU nor Bochs has it): vcpu->apicv stays false, and the xAPIC EOI takes the decode-free
 * MMIO path (vm/lapic_eoi.c) instead. */
void svm_apicv_load(struct vcpu *v, const struct vlapic_apicv_state *st)
{
	(void)v;
	(void)st;
}

DEFINE_VIRT_OPS(svm, "svm");
