/* VMX without EPT: the CPU walks the shadow MMU's tables (mm/shadow/), so the guest's CR3 is virtual (CR3 loads and
 * stores exit), the guest's CR0, CR4 and EFER are what it reads, and the CPU runs with values derived from them:
 *   - CR0: PE and PG forced on by VMX itself (no unrestricted guest without EPT): protected mode without paging runs
 *     on the shadow MMU's direct root, real mode in virtual-8086 mode (vmx_rmode.c); WP always on, so read-only
 *     shadow entries of write-tracked frames also bind the guest's supervisor code;
 *   - CR4: PAE always on (the shadow tables are PAE or 4-level, whatever the guest's format); SMEP/SMAP/PKE off while
 *     the guest's paging is off (the direct root's leaves are user pages);
 *   - EFER: NXE always on, so the CPU reports instruction fetches in the #PF error code whatever the guest's NXE
 *     (SMAP applies to data accesses only; the shadow leaves follow the guest's NXE); LME/LMA off while the guest's
 *     paging is off, since the CPU must not be in long mode then.
 * As KVM's vmx.c does with enable_ept=0. */
#include "arch/x86/cpu.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/vmx/vmx.h"
#include "kernel/options.h"
#include "mm/shadow/gwalk.h"


void vmx_shadow_setup(struct vmx_vcpu *x)
{
	x->shadow = true;
	x->exec |= CPU_CR3_LOAD_EXITING | CPU_CR3_STORE_EXITING;
	/* INVLPG (and INVPCID, which exits with it) is where unsync tables are synced; with every guest table
	 * write-protected the shadow is never stale, and INVLPG runs in the guest. */
	if (hv_opts.shadow_unsync)
		x->exec |= CPU_INVLPG_EXITING;
	x->exec2 &= ~(CPU2_ENABLE_EPT | CPU2_UNRESTRICTED_GUEST);
	x->cr0_guest_owned = CR0_TS | CR0_MP | CR0_EM | CR0_AM;
}

/*
 * Which #PFs exit. A read that faults on a present shadow entry (P=1, W=0, I/D=0, RSVD=0) can only be a user/
 * supervisor, SMAP or protection-key violation, and the shadow leaves copy those bits from the guest's entries: it is
 * the guest's own fault, so the CPU delivers it directly. Everything else (not present, writes to write-protected
 * tables, MMIO entries with reserved bits, fetches) exits. With bit 14 clear in the exception bitmap, a #PF whose
 * error code masked by MASK equals MATCH does not exit, and every other one does (SDM 25.2). all: bit 14 set and
 * MASK = MATCH = 0, so that every #PF exits (vm86, where the guest has no protected-mode IDT to take one).
 *
 * Only while every guest table is write-protected (hv.shadow_unsync=0): a leaf of an unsync table may keep U/S clear
 * after the guest set it without a flush, which the SDM allows (4.10.4.3) because the CPU's fault drops the stale
 * TLB entry and the guest's retry walks again; the stale shadow leaf would instead fault the retry forever. With
 * unsync tables every #PF exits, as under KVM, and the shadow MMU re-walks.
 */
void vmx_shadow_intercepts(bool all)
{
	u32 bitmap = BIT(1) | BIT(17) | BIT(18); /* vmx_vcpu_create's: #DB, #AC, #MC */

	if (hv_opts.shadow_unsync) {
		vmcs_write(EXCEPTION_BITMAP, all ? ~0u : bitmap | BIT(14));
		vmcs_write(PAGE_FAULT_ERROR_CODE_MASK, 0);
		vmcs_write(PAGE_FAULT_ERROR_CODE_MATCH, 0);
		return;
	}

	vmcs_write(EXCEPTION_BITMAP, all ? ~0u : bitmap);
	vmcs_write(PAGE_FAULT_ERROR_CODE_MASK, all ? 0 : PFERR_PRESENT | PFERR_WRITE | PFERR_RSVD | PFERR_FETCH);
	vmcs_write(PAGE_FAULT_ERROR_CODE_MATCH, all ? 0 : PFERR_PRESENT);
}

void vmx_sync_paging(struct vcpu *v)
{
	struct vmx_vcpu *x = to_vmx(v);
	u64 cr0 = x->cr0 & ~(u64)(CR0_CD | CR0_NW), cr4 = x->cr4, efer = x->efer;
	u64 cr0_fixed0 = (vmx_caps.unrestricted_guest && !x->shadow) ? vmx_caps.cr0_fixed0_ug : vmx_caps.cr0_fixed0;

	/* With EPT the host ignores the guest's cache-disable bits, as KVM does: the guest sees them, the hardware keeps
	 * caching. Under shadow paging the same holds (the guest's memory types are not honoured in either case). */
	if (x->shadow) {
		cr0 |= CR0_WP;
		cr4 |= CR4_PAE;
		efer |= EFER_NXE;
		if (!(x->cr0 & CR0_PG)) {
			cr4 &= ~(u64)(CR4_SMEP | CR4_SMAP | CR4_PKE);
			efer &= ~(u64)(EFER_LME | EFER_LMA);
		}
		if (x->vm86)
			cr4 |= CR4_VME;
	}
	vmcs_write(GUEST_CR0, vmx_fixed_bits(cr0, cr0_fixed0, vmx_caps.cr0_fixed1));
	vmcs_write(GUEST_CR4, vmx_fixed_bits(cr4, vmx_caps.cr4_fixed0, vmx_caps.cr4_fixed1));
	x->entry = (efer & EFER_LMA) ? x->entry | ENTRY_CTL_IA32E_GUEST : x->entry & ~ENTRY_CTL_IA32E_GUEST;
	vmcs_write(VM_ENTRY_CONTROLS, x->entry);
	vmx_write_guest_efer(x, efer);
}
