/* Model-specific register numbers and the bits of them the hypervisor names (Intel SDM Vol. 4, AMD APM Vol. 2).
 * Plain integer constants without casts or includes, so the boot assembly can use them as well as C. */
#ifndef ARCH_X86_MSR_INDEX_H
#define ARCH_X86_MSR_INDEX_H

/* Architectural (Intel and AMD) */
#define MSR_IA32_TSC		 0x10
#define MSR_IA32_APIC_BASE	 0x1b
#define MSR_IA32_FEATURE_CONTROL 0x3a
#define MSR_MTRRcap		 0xfe
#define MSR_IA32_SYSENTER_CS	 0x174
#define MSR_IA32_SYSENTER_ESP	 0x175
#define MSR_IA32_SYSENTER_EIP	 0x176
#define MSR_IA32_MISC_ENABLE	 0x1a0
#define MSR_IA32_DEBUGCTL	 0x1d9
#define MSR_IA32_PAT		 0x277
#define MSR_MTRRdefType		 0x2ff
#define MSR_IA32_TSC_DEADLINE	 0x6e0

/* VMX capability reporting (SDM Vol. 3 Appendix A). The TRUE_* MSRs exist only if IA32_VMX_BASIC bit 55 is set. */
#define MSR_IA32_VMX_BASIC		 0x480
#define MSR_IA32_VMX_PINBASED_CTLS	 0x481
#define MSR_IA32_VMX_PROCBASED_CTLS	 0x482
#define MSR_IA32_VMX_EXIT_CTLS		 0x483
#define MSR_IA32_VMX_ENTRY_CTLS		 0x484
#define MSR_IA32_VMX_MISC		 0x485
#define MSR_IA32_VMX_CR0_FIXED0		 0x486
#define MSR_IA32_VMX_CR0_FIXED1		 0x487
#define MSR_IA32_VMX_CR4_FIXED0		 0x488
#define MSR_IA32_VMX_CR4_FIXED1		 0x489
#define MSR_IA32_VMX_VMCS_ENUM		 0x48a
#define MSR_IA32_VMX_PROCBASED_CTLS2	 0x48b
#define MSR_IA32_VMX_EPT_VPID_CAP	 0x48c
#define MSR_IA32_VMX_TRUE_PINBASED_CTLS	 0x48d
#define MSR_IA32_VMX_TRUE_PROCBASED_CTLS 0x48e
#define MSR_IA32_VMX_TRUE_EXIT_CTLS	 0x48f
#define MSR_IA32_VMX_TRUE_ENTRY_CTLS	 0x490
#define MSR_IA32_VMX_VMFUNC		 0x491

/* Long mode and SYSCALL (AMD64 architectural, also on Intel) */
#define MSR_EFER	   0xc0000080
#define MSR_STAR	   0xc0000081
#define MSR_LSTAR	   0xc0000082
#define MSR_CSTAR	   0xc0000083
#define MSR_SFMASK	   0xc0000084
#define MSR_FS_BASE	   0xc0000100
#define MSR_GS_BASE	   0xc0000101
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_TSC_AUX	   0xc0000103

/* AMD SVM (APM Vol. 2 15.30) */
#define MSR_VM_CR	0xc0010114
#define MSR_VM_HSAVE_PA 0xc0010117

/* EFER bits. SVME is AMD only; setting it while VM_CR.SVMDIS is set raises #GP. */
#define EFER_SCE  (1 << 0)
#define EFER_LME  (1 << 8)
#define EFER_LMA  (1 << 10)
#define EFER_NXE  (1 << 11)
#define EFER_SVME (1 << 12)

/* IA32_FEATURE_CONTROL. Once LOCKED is set, the register cannot change until reset: firmware that locks it with
 * VMXON_OUTSIDE_SMX clear has switched VMX off for good. */
#define FEATURE_CONTROL_LOCKED		  (1 << 0)
#define FEATURE_CONTROL_VMXON_INSIDE_SMX  (1 << 1)
#define FEATURE_CONTROL_VMXON_OUTSIDE_SMX (1 << 2)

/* IA32_APIC_BASE */
#define APIC_BASE_BSP	    (1 << 8)
#define APIC_BASE_X2APIC    (1 << 10)
#define APIC_BASE_ENABLE    (1 << 11)
#define APIC_BASE_ADDR_MASK 0x000ffffffffff000

/* VM_CR. While LOCK is set, writes to LOCK and SVMDIS are ignored, so a set SVMDIS is then final until reset. */
#define VM_CR_DPD      (1 << 0)
#define VM_CR_R_INIT   (1 << 1)
#define VM_CR_DIS_A20M (1 << 2)
#define VM_CR_LOCK     (1 << 3)
#define VM_CR_SVMDIS   (1 << 4)

#endif
