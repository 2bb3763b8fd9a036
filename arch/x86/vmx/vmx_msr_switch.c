/* EFER and PAT for the guest and the host. Where the CPU has the VM-entry/exit controls that load and save them, they
 * live in the VMCS; where it lacks them (Core 2: no "load IA32_EFER", no "load/save IA32_PAT"), they travel through
 * the VM-entry MSR-load list (the guest's values), the VM-exit MSR-store list (the guest's PAT, which the guest
 * writes without an exit) and the VM-exit MSR-load list (the host's), as KVM's add_atomic_switch_msr does. One page
 * holds both lists.
 *
 * The list load of EFER is checked like a WRMSR after the guest state is loaded (SDM 26.4): VM entry has already set
 * LME and LMA from the "IA-32e mode guest" control, and with CR0.PG on a changed LME would #GP and fail the entry.
 * The hardware EFER this backend computes always has LME == LMA == that control, so the load never changes LME. */
#include "arch/x86/cpu.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/vmx/vmx.h"
#include "hv/errno.h"
#include "hv/layout.h"
#include "hv/platform.h"
#include "hv/string.h"

struct vmx_msr_entry {
	u32 index;
	u32 reserved;
	u64 value;
};

#define HOST_LIST_OFFSET 2048 /* the exit-load list, after the guest's entry-load/exit-store list */

static struct vmx_msr_entry *guest_list(struct vmx_vcpu *x)
{
	return phys_to_virt(x->msr_area);
}

static int add(struct vmx_vcpu *x, u32 index, u64 guest, u64 host)
{
	struct vmx_msr_entry *g = guest_list(x), *h = (void *)((u8 *)g + HOST_LIST_OFFSET);
	int slot = x->nr_switched++;

	g[slot] = (struct vmx_msr_entry){ .index = index, .value = guest };
	h[slot] = (struct vmx_msr_entry){ .index = index, .value = host };
	return slot;
}

int vmx_msr_switch_setup(struct vmx_vcpu *x)
{
	bool efer_ctl = (x->entry & ENTRY_CTL_LOAD_EFER) && (x->exit & EXIT_CTL_LOAD_EFER);
	bool pat_ctl = (x->entry & ENTRY_CTL_LOAD_PAT) && (x->exit & EXIT_CTL_LOAD_PAT) && (x->exit & EXIT_CTL_SAVE_PAT);

	x->efer_slot = x->pat_slot = -1;
	if (efer_ctl && pat_ctl)
		return 0;
	x->msr_area = frame_alloc(0);
	if (x->msr_area == INVALID_HPA)
		return -ENOMEM;
	memset(phys_to_virt(x->msr_area), 0, PAGE_SIZE);
	/* Half a switch is worse than none: a control without its partner is dropped, and the list does the work. */
	if (!efer_ctl) {
		x->entry &= ~ENTRY_CTL_LOAD_EFER;
		x->exit &= ~(EXIT_CTL_LOAD_EFER | EXIT_CTL_SAVE_EFER);
		x->efer_slot = add(x, MSR_EFER, 0, rdmsr(MSR_EFER));
	}
	if (!pat_ctl) {
		x->entry &= ~ENTRY_CTL_LOAD_PAT;
		x->exit &= ~(EXIT_CTL_LOAD_PAT | EXIT_CTL_SAVE_PAT);
		x->pat_slot = add(x, MSR_IA32_PAT, 0x0007040600070406ULL, rdmsr(MSR_IA32_PAT));
	}
	return 0;
}

/* After VMPTRLD: point the VMCS at the lists. Every guest entry is also stored at exit: the guest's PAT changes
 * without an exit, and storing EFER back (it cannot change without one) costs nothing. */
void vmx_msr_switch_load(struct vmx_vcpu *x)
{
	vmcs_write(VM_ENTRY_MSR_LOAD_COUNT, x->nr_switched);
	vmcs_write(VM_EXIT_MSR_STORE_COUNT, x->nr_switched);
	vmcs_write(VM_EXIT_MSR_LOAD_COUNT, x->nr_switched);
	if (!x->nr_switched)
		return;
	vmcs_write(VM_ENTRY_MSR_LOAD_ADDR, x->msr_area);
	vmcs_write(VM_EXIT_MSR_STORE_ADDR, x->msr_area);
	vmcs_write(VM_EXIT_MSR_LOAD_ADDR, x->msr_area + HOST_LIST_OFFSET);
}

void vmx_msr_switch_free(struct vmx_vcpu *x)
{
	if (x->msr_area && x->msr_area != INVALID_HPA)
		frame_free(x->msr_area, 0);
	x->msr_area = 0;
}

void vmx_write_guest_efer(struct vmx_vcpu *x, u64 efer)
{
	if (x->efer_slot >= 0)
		guest_list(x)[x->efer_slot].value = efer;
	else
		vmcs_write(GUEST_IA32_EFER, efer);
}

void vmx_write_guest_pat(struct vmx_vcpu *x, u64 pat)
{
	if (x->pat_slot >= 0)
		guest_list(x)[x->pat_slot].value = pat;
	else
		vmcs_write(GUEST_IA32_PAT, pat);
}

u64 vmx_read_guest_efer(struct vmx_vcpu *x)
{
	return x->efer_slot >= 0 ? guest_list(x)[x->efer_slot].value : vmcs_read(GUEST_IA32_EFER);
}

u64 vmx_read_guest_pat(struct vmx_vcpu *x)
{
	return x->pat_slot >= 0 ? guest_list(x)[x->pat_slot].value : vmcs_read(GUEST_IA32_PAT);
}
