/* Which values a guest may put into CR0, CR3, CR4, EFER and XCR0, and which addresses the canonical-address MSRs
 * take: the checks the CPU makes before it raises #GP (SDM Vol. 3A 2.5, 2.2.1, 4.1.1 and 4.10.1, the MOV CR and
 * WRMSR pages of Vol. 2; SDM Vol. 1 13.3 for XSETBV; APM Vol. 2 3.1), against the CPUID the guest sees, as KVM's
 * kvm_is_valid_cr4/kvm_set_cr0/__kvm_valid_efer do. Vendor-neutral and pure: both backends reach it through the
 * common intercept paths (vm/crcheck_vcpu.c), and a guest that passes it never makes a VM entry fail; the host unit
 * tests hold it to the manuals' rules case by case. The backends add only what is theirs (VMX's fixed bits, what
 * shadow paging cannot run, the PDPTE loads). */
#ifndef VM_CRCHECK_H
#define VM_CRCHECK_H

#include "hv/compiler.h"
#include "hv/types.h"

/* The guest's state the rules depend on, before the write. */
struct cr_state {
	u64 cr0, cr3, cr4, efer;
	bool cs_l; /* CS.L: with EFER.LMA, the guest runs 64-bit code (not compatibility mode) */
};

/* The guest's CPUID words that decide which CR4 and EFER bits exist. */
struct cr_cpuid {
	u32 l1_ecx, l1_edx;	    /* leaf 1 */
	u32 l7_ebx, l7_ecx, l7_edx; /* leaf 7, subleaf 0 */
	u32 l7_1_eax;		    /* leaf 7, subleaf 1 */
	u32 x1_edx;		    /* leaf 0x80000001 */
	u8 maxphyaddr;		    /* leaf 0x80000008 EAX[7:0], 36 without it */
};

#define EFER_FFXSR BIT(14) /* AMD fast FXSAVE/FXRSTOR, CPUID 0x80000001:EDX[25] */

/* XCR0 components (SDM Vol. 1 13.1) */
#define XCR0_X87       BIT(0)
#define XCR0_SSE_BIT   BIT(1)
#define XCR0_AVX       BIT(2)
#define XCR0_BNDREGS   BIT(3)
#define XCR0_BNDCSR    BIT(4)
#define XCR0_OPMASK    BIT(5)
#define XCR0_ZMM_HI256 BIT(6)
#define XCR0_HI16_ZMM  BIT(7)
#define XCR0_AVX512    (XCR0_OPMASK | XCR0_ZMM_HI256 | XCR0_HI16_ZMM)
#define XCR0_TILECFG   BIT(17)
#define XCR0_TILEDATA  BIT(18)

/* The CR4 and EFER bits that are reserved for a guest with this CPUID (a write setting one raises #GP). */
u64 cr_cr4_reserved(const struct cr_cpuid *id);
u64 cr_efer_reserved(const struct cr_cpuid *id);

/* Each: 0 if the CPU accepts the write of val with the state s, -EINVAL if it raises #GP(0). val is the register as
 * the instruction writes it (outside long mode, MOV CR takes only the low 32 bits: the caller truncates). */
int cr_check_cr0(const struct cr_state *s, u64 val);
int cr_check_cr3(const struct cr_state *s, u64 val, u8 maxphyaddr);
int cr_check_cr4(const struct cr_state *s, u64 val, u64 reserved);
int cr_check_efer(const struct cr_state *s, u64 val, u64 reserved);

/* XSETBV of XCR0 (ECX = 0) to val, with `supported` the components the guest's CPUID.(EAX=0DH,ECX=0) reports. */
int cr_check_xcr0(u64 val, u64 supported);

/* Whether va is canonical for a CPU with vaddr_bits linear-address bits (48, or 57 with 5-level paging), and va made
 * canonical (bits 63:vaddr_bits copies of the bit below them). */
bool cr_is_canonical(u64 va, unsigned int vaddr_bits);
u64 cr_canonicalize(u64 va, unsigned int vaddr_bits);

/* The same rules for a vCPU, from its current state and its CPUID (vm/crcheck_vcpu.c): the common intercept paths
 * (MOV CR and the emulator's CR writes through vcpu_write_cr, WRMSR through msr_write, XSETBV) call these before the
 * backend sees the value. */
struct vcpu;
int vcpu_check_cr(struct vcpu *v, int cr, u64 val);
int vcpu_check_efer(struct vcpu *v, u64 val);
unsigned int vcpu_vaddr_bits(struct vcpu *v);
int vcpu_handle_xsetbv(struct vcpu *v);

#endif
