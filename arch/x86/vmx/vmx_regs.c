/* Guest register access for the vendor-neutral core: RIP/RFLAGS/CPL, and the control registers and EFER. A guest's
 * write comes here after the architectural checks (vm/crcheck.c, shared with SVM); what is left here is what VMX
 * itself cannot run (the caller injects #GP on -EINVAL). CR0 and CR4 writes exit because the
 * host owns most of their bits: the guest sees its own value through the read shadow while the hardware runs with
 * the bits VMX requires (NE, VMXE), and long-mode activation (EFER.LMA, the IA-32e entry control) follows PG. */
#include "arch/x86/cpu.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/virt.h"
#include "arch/x86/vmx/vmx.h"
#include "hv/errno.h"
#include "vm/vcpu.h"

u64 vmx_get_rip(struct vcpu *v)
{
	return vmx_vc_read(to_vmx(v), VMCS_C_RIP);
}

void vmx_set_rip(struct vcpu *v, u64 rip)
{
	struct vmx_vcpu *x = to_vmx(v);
	u32 intr = (u32)vmx_vc_read(x, VMCS_C_INTR_STATE);

	vmx_vc_write(x, VMCS_C_RIP, rip);
	/* virt.h: the shadowed instruction is over (as vmx_skip_instruction). */
	if (intr & (GUEST_INTR_STI | GUEST_INTR_MOV_SS))
		vmx_vc_write(x, VMCS_C_INTR_STATE, intr & ~(GUEST_INTR_STI | GUEST_INTR_MOV_SS));
}

u64 vmx_get_rflags(struct vcpu *v)
{
	struct vmx_vcpu *x = to_vmx(v);
	u64 rflags = vmx_vc_read(x, VMCS_C_RFLAGS);

	return x->vm86 ? vmx_rmode_rflags_in(x, rflags) : rflags;
}

void vmx_set_rflags(struct vcpu *v, u64 rflags)
{
	struct vmx_vcpu *x = to_vmx(v);

	rflags |= BIT(1);
	vmx_vc_write(x, VMCS_C_RFLAGS, x->vm86 ? vmx_rmode_rflags_out(x, rflags) : rflags);
}

int vmx_get_cpl(struct vcpu *v)
{
	/* SS.DPL is the CPL (SDM 24.4.1); in real mode it reads 0, and in the vm86 that runs it the CPU's is 3. */
	if (to_vmx(v)->vm86)
		return 0;
	return (vmcs_read32(GUEST_SS_AR_BYTES) >> 5) & 3;
}

/* DR7 travels in the VMCS (the "load/save debug controls" entry and exit controls); DR0-DR3 and DR6 are not
 * switched by VMX transitions (SDM Vol. 3C 26.3.2.1, 27.3.1: only DR7 is loaded and saved) and stay the guest's in
 * the CPU. */
u64 vmx_get_dr(struct vcpu *v, int dr)
{
	return dr == 7 ? vmcs_read(GUEST_DR7) : read_dr(dr);
}

void vmx_set_dr(struct vcpu *v, int dr, u64 val)
{
	if (dr == 7)
		vmcs_write(GUEST_DR7, val);
	else
		write_dr(dr, val);
}

static __always_inline u64 skip_instruction(struct vcpu *v)
{
	struct vmx_vcpu *x = to_vmx(v);
	/* Stepping over an instruction ends any STI or MOV-SS interrupt shadow it was in. */
	u64 rflags = vmcs_cache_skip(&x->vc, v->exit.insn_len, GUEST_INTR_STI | GUEST_INTR_MOV_SS);

	return unlikely(x->vm86) ? vmx_rmode_rflags_in(x, rflags) : rflags;
}

u64 vmx_skip_instruction(struct vcpu *v)
{
	return skip_instruction(v);
}

u64 vmx_skip_io_instruction(struct vcpu *v)
{
	u64 rflags = skip_instruction(v);

	return (vmcs_read(GUEST_DR7) & DR7_ENABLE_BITS) ? rflags | VIRT_RFLAGS_DR7_ENABLED : rflags;
}

u64 vmx_get_efer(struct vcpu *v)
{
	return to_vmx(v)->efer;
}

/* LMA follows LME and PG; the CPU's view of all three follows the guest's. */
static void update_long_mode(struct vcpu *v)
{
	struct vmx_vcpu *x = to_vmx(v);
	bool lma = (x->efer & EFER_LME) && (x->cr0 & CR0_PG);

	x->efer = lma ? x->efer | EFER_LMA : x->efer & ~(u64)EFER_LMA;
	vmx_sync_paging(v);
}

/* x->cr0 with the bits the guest owns as the CPU holds them now, before anything rewrites GUEST_CR0. */
static void refresh_cr0(struct vcpu *v)
{
	to_vmx(v)->cr0 = vmx_get_cr(v, 0);
}

int vmx_set_efer(struct vcpu *v, u64 efer)
{
	struct vmx_vcpu *x = to_vmx(v);
	u64 allowed = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;

	if (efer & ~allowed)
		return -EINVAL;
	/* LMA is read-only: keep the current value. */
	refresh_cr0(v);
	x->efer = (efer & ~(u64)EFER_LMA) | (x->efer & EFER_LMA);
	update_long_mode(v);
	return 0;
}

/* With EPT, VM entry takes the PAE PDPTEs from the VMCS, not from memory (SDM 26.3.2.4): when an emulated CR0 or
 * CR4 write turns PAE paging on, load them as MOV to CR3 would have, with its reserved-bit check (#GP). */
static int load_pdptrs(struct vcpu *v, u64 cr0, u64 cr4, u64 efer)
{
	static const enum vmcs_field f[4] = { GUEST_PDPTR0, GUEST_PDPTR1, GUEST_PDPTR2, GUEST_PDPTR3 };
	u64 pdpte[4];

	if (!(cr0 & CR0_PG) || !(cr4 & CR4_PAE) || (efer & EFER_LMA))
		return 0;
	/* Under shadow paging the vCPU holds them (vm/pdptes.c) for the shadow MMU; the CPU reads the shadow root's. */
	if (to_vmx(v)->shadow)
		return vcpu_load_pdptes(v, vmx_get_cr(v, 3));
	if (vm_read_gpa(v->vm, vmx_get_cr(v, 3) & ~0x1fULL & 0xffffffffULL, pdpte, sizeof(pdpte)))
		return -EINVAL;
	for (int i = 0; i < 4; i++)
		if ((pdpte[i] & 1) && (pdpte[i] & (GENMASK_ULL(63, 52) | BIT(1) | BIT(2) | GENMASK_ULL(8, 5))))
			return -EINVAL;
	for (int i = 0; i < 4; i++)
		vmcs_write(f[i], pdpte[i]);
	return 0;
}

static int set_cr0(struct vcpu *v, u64 val)
{
	struct vmx_vcpu *x = to_vmx(v);

	val |= CR0_ET; /* hardwired to 1 since the 486 */
	/* LMA as it will be after this write decides whether PAE PDPTEs are needed. A MOV to CR0 that changes CD, NW or
	 * PG loads them from memory (SDM Vol. 3A 4.4.1), so a guest that edited a PDPTE sees it after toggling CD. */
	u64 efer = ((x->efer & EFER_LME) && (val & CR0_PG)) ? x->efer | EFER_LMA : x->efer & ~(u64)EFER_LMA;
	if (((val ^ x->cr0) & (CR0_PG | CR0_PE | CR0_CD | CR0_NW)) && load_pdptrs(v, val, x->cr4, efer))
		return -EINVAL;
	/* Without unrestricted guest, real mode runs in vm86 (vmx_rmode.c). */
	if (x->shadow && !(val & CR0_PE) && !x->vm86) {
		int r = vmx_rmode_enter(v);
		if (r) {
			vm_end(v->vm, VM_END_INTERNAL_ERROR, r);
			return 0;
		}
	} else if (x->vm86 && (val & CR0_PE)) {
		vmx_rmode_leave(v);
	}
	x->cr0 = val;
	vmcs_write(CR0_READ_SHADOW, val);
	update_long_mode(v);
	return 0;
}

/* CR4 bits a guest may set: what the host CPU allows in VMX operation minus what this hypervisor hides (PKE where the
 * CPU has no protection keys, LA57 where it has no 5-level paging: CPUID then shows none either). LA57 is passed on
 * in GUEST_CR4 (vmx_sync_paging), under shadow paging too, where the MMU builds a 5-level root for it. */
static u64 cr4_guest_allowed(void)
{
	u64 hidden = CR4_VMXE | CR4_SMXE | CR4_OSXSAVE | BIT(23) /* CET */ | (cpu_has_pku() ? 0 : CR4_PKE) |
		     (cpu_has_la57() ? 0 : CR4_LA57);
	return vmx_caps.cr4_fixed1 & ~hidden;
}

static int set_cr4(struct vcpu *v, u64 val)
{
	struct vmx_vcpu *x = to_vmx(v);

	if (val & ~cr4_guest_allowed())
		return -EINVAL;
	if (((val ^ x->cr4) & (CR4_PAE | CR4_PSE | CR4_PGE | CR4_SMEP)) && load_pdptrs(v, x->cr0, val, x->efer))
		return -EINVAL;
	refresh_cr0(v);
	x->cr4 = val;
	vmcs_write(CR4_READ_SHADOW, val);
	vmx_sync_paging(v);
	return 0;
}

u64 vmx_get_cr(struct vcpu *v, int cr)
{
	struct vmx_vcpu *x = to_vmx(v);

	switch (cr) {
	case 0:
		/* Guest-owned bits come from the hardware value, the rest from the shadow. */
		return (x->cr0 & ~x->cr0_guest_owned) | (vmcs_read(GUEST_CR0) & x->cr0_guest_owned);
	case 2:
		return x->cr2;
	case 3:
		return x->shadow ? x->g_cr3 : vmcs_read(GUEST_CR3);
	case 4:
		return x->cr4;
	default:
		return 0;
	}
}

int vmx_set_cr(struct vcpu *v, int cr, u64 val)
{
	switch (cr) {
	case 0:
		/* Merge the guest-owned bits first, so a write changing only those is not lost. */
		return set_cr0(v, val);
	case 2:
		/* CR2 is not in the VMCS: the guest's lives in the CPU while it runs, loaded by vmx_vcpu_run. */
		to_vmx(v)->cr2 = val;
		return 0;
	case 3:
		/* With PCIDE, bit 63 asks not to flush; it is not part of CR3. */
		if (to_vmx(v)->cr4 & CR4_PCIDE)
			val &= ~BIT(63);
		if (val & GENMASK_ULL(63, 52))
			return -EINVAL;
		/* Under shadow paging the caller loads the root for the new CR3; with PAE paging the MOV loads the
		 * PDPTEs (a reserved bit in one is #GP). */
		if (to_vmx(v)->shadow) {
			struct vmx_vcpu *x = to_vmx(v);
			if (vcpu_cr_write_pdptes(v, 3, x->g_cr3, x->cr0, val, x->cr4, x->efer))
				return -EINVAL;
			x->g_cr3 = val;
		} else {
			/* With EPT a guest's own MOV to CR3 never exits, but an emulated one (a task switch) must load
			 * the PDPTEs as it would: VM entry takes them from the VMCS, not from the new CR3. */
			struct vmx_vcpu *x = to_vmx(v);
			u64 old = vmcs_read(GUEST_CR3);
			vmcs_write(GUEST_CR3, val);
			if (load_pdptrs(v, x->cr0, x->cr4, x->efer)) {
				vmcs_write(GUEST_CR3, old);
				return -EINVAL;
			}
		}
		return 0;
	case 4:
		return set_cr4(v, val);
	default:
		return -EINVAL;
	}
}

/* The syscall MSRs, KERNEL_GS_BASE and TSC_AUX (with RDTSCP: vmx_vcpu.c passes it through) stay in the CPU while
 * the vCPU is on it (the host never uses them); the rest are VMCS guest state. Without RDTSCP, TSC_AUX does not
 * exist: -ENOENT, and the caller's #GP. */
int vmx_set_passthrough_msr(struct vcpu *v, u32 index, u64 val)
{
	switch (index) {
	case MSR_TSC_AUX:
		if (!vmx_caps.rdtscp)
			return -ENOENT;
		wrmsr(index, val);
		return 0;
	case MSR_KERNEL_GS_BASE:
	case MSR_STAR:
	case MSR_LSTAR:
	case MSR_CSTAR:
	case MSR_SFMASK:
		wrmsr(index, val);
		return 0;
	case MSR_FS_BASE:
		vmcs_write(GUEST_FS_BASE, val);
		return 0;
	case MSR_GS_BASE:
		vmcs_write(GUEST_GS_BASE, val);
		return 0;
	case MSR_IA32_SYSENTER_CS:
		vmcs_write(GUEST_SYSENTER_CS, val);
		return 0;
	case MSR_IA32_SYSENTER_ESP:
		vmcs_write(GUEST_SYSENTER_ESP, val);
		return 0;
	case MSR_IA32_SYSENTER_EIP:
		vmcs_write(GUEST_SYSENTER_EIP, val);
		return 0;
	case MSR_IA32_PAT:
		vmx_write_guest_pat(to_vmx(v), val);
		return 0;
	default:
		return -ENOENT;
	}
}

int vmx_get_passthrough_msr(struct vcpu *v, u32 index, u64 *val)
{
	switch (index) {
	case MSR_TSC_AUX:
		if (!vmx_caps.rdtscp)
			return -ENOENT;
		*val = rdmsr(index);
		return 0;
	case MSR_KERNEL_GS_BASE:
	case MSR_STAR:
	case MSR_LSTAR:
	case MSR_CSTAR:
	case MSR_SFMASK:
		*val = rdmsr(index);
		return 0;
	case MSR_FS_BASE:
		*val = vmcs_read(GUEST_FS_BASE);
		return 0;
	case MSR_GS_BASE:
		*val = vmcs_read(GUEST_GS_BASE);
		return 0;
	case MSR_IA32_SYSENTER_CS:
		*val = vmcs_read(GUEST_SYSENTER_CS);
		return 0;
	case MSR_IA32_SYSENTER_ESP:
		*val = vmcs_read(GUEST_SYSENTER_ESP);
		return 0;
	case MSR_IA32_SYSENTER_EIP:
		*val = vmcs_read(GUEST_SYSENTER_EIP);
		return 0;
	case MSR_IA32_PAT:
		*val = vmx_read_guest_pat(to_vmx(v));
		return 0;
	default:
		return -ENOENT;
	}
}

void vmx_set_tsc_offset(struct vcpu *v, u64 offset)
{
	vmcs_write(TSC_OFFSET, offset);
}
