/* The VMX backend's private state and the pieces its files share. */
#ifndef ARCH_X86_VMX_VMX_H
#define ARCH_X86_VMX_VMX_H

#include "arch/x86/cpu.h"
#include "arch/x86/vmx/vmcs.h"
#include "arch/x86/virt.h"
#include "arch/x86/vmx/vmx_caps.h"

/* The hooks of the VMCS field cache (vmcs_cache.h): the real VMCS. */
static inline u64 vmcs_cache_hw_read(u32 f)
{
	return vmcs_read((enum vmcs_field)f);
}

static inline void vmcs_cache_hw_write(u32 f, u64 val)
{
	vmcs_write((enum vmcs_field)f, val);
}

#include "arch/x86/vmx/vmcs_cache.h"

#include "vm/vm.h"

struct vmx_vcpu {
	hpa_t vmcs;           /* constant */
	hpa_t msr_bitmap;     /* constant */
	hpa_t io_bitmap_a, io_bitmap_b; /* constant */
	u16 vpid;             /* constant; 0 when VPID is not in use */
	bool launched;        /* VMLAUNCH done since the last VMCLEAR */
	u32 pin, exec, exec2, entry, exit; /* current control values */
	u64 cr0;              /* the guest's view of CR0 (the read shadow) */
	u64 cr4;              /* the guest's view of CR4 */
	u64 cr2;              /* the guest's CR2, which the CPU holds while the guest runs */
	u64 efer;             /* the guest's EFER (also in the VMCS) */
	u64 rsp_cache;        /* GUEST_RSP as last read or written, to skip redundant VMWRITEs */
	u64 host_rsp;         /* HOST_RSP as vmx_enter last wrote it (0: never) */
	/* RIP, RFLAGS, the interruptibility state and the IDT-vectoring information since the last exit, read on
	 * first use; writes reach the VMCS at entry (vmcs_cache.h). The vCPU's CPU only. */
	struct vmcs_cache vc;
	u64 eptp;
	struct vcpu *vcpu;     /* constant: the vCPU this state belongs to */
	/* Shadow paging (the VM's MMU is the shadow MMU): the guest's CR0/CR4/EFER above are virtual, and the CPU
	 * runs with the values vmx_sync_paging() derives from them; GUEST_CR3 holds the shadow root. */
	bool shadow;          /* constant */
	u64 g_cr3;            /* shadow: the guest's CR3 */
	bool vm86;            /* shadow: the guest is in real mode, which the CPU runs in virtual-8086 mode */
	struct vcpu_segment rm_tr; /* vm86: the guest's TR while the CPU's holds the vm86 TSS */
	u64 rm_iopl;          /* vm86: the guest's RFLAGS.IOPL while the CPU's is 3 */
	/* vm86: the hidden limit and attributes (G, D/B) of ES, CS, SS, DS, FS, GS when real mode was entered, which a
	 * real-mode segment load keeps (unreal mode) while vm86 runs with 64 KiB (vmx_rmode.c). */
	u32 rm_limit[6];
	u16 rm_attr[6];
	u64 cr0_guest_owned;  /* constant: CR0 bits the guest writes without an exit (the rest are in the mask) */
	/* EFER/PAT switching through the MSR lists (vmx_msr_switch.c) where the controls are missing. */
	hpa_t msr_area;       /* constant: 0 when the controls do it all */
	u32 nr_switched;      /* constant */
	int efer_slot, pat_slot; /* constant: index in the lists, or -1 */
	/* APIC virtualization (vmx_apicv.c; on when vcpu->apicv): the EOI-exit bitmap as last written to the VMCS,
	 * and the APIC-access page's gfn (the xAPIC default base). */
	u64 eoi_exit[4];
	gfn_t apic_access_gfn; /* constant */
	bool x2apic_open;      /* the x2APIC MSRs are the CPU's (virtualize x2APIC mode, vmx_apicv.c) */
};

extern struct vmx_caps vmx_caps;
extern struct vmx_msrs vmx_msrs;

static inline struct vmx_vcpu *to_vmx(struct vcpu *v)
{
	return v->arch;
}

/* The cached fields: every access while the vCPU runs goes through these (see vmcs_cache.h). */
static inline u64 vmx_vc_read(struct vmx_vcpu *x, enum vmcs_cached f)
{
	return vmcs_cache_read(&x->vc, f);
}

static inline void vmx_vc_write(struct vmx_vcpu *x, enum vmcs_cached f, u64 val)
{
	vmcs_cache_write(&x->vc, f, val);
}

/* vmx_entry.S: enter the guest with the GPRs in regs; 0 after a VM exit, 1 when VMLAUNCH/VMRESUME failed. */
int vmx_enter(u64 *regs, bool launched, u64 *host_rsp);
void vmx_exit_point(void);

/* vmx_task.c: the task-switch exit, and the event it delivers taken out of re-injection. */
enum exit_reason vmx_decode_task_switch(struct vcpu *v, u64 qual);

/* vmx_msr_switch.c: x->entry/exit are the chosen controls; setup drops the EFER/PAT ones the lists replace. */
int vmx_msr_switch_setup(struct vmx_vcpu *x);
void vmx_msr_switch_load(struct vmx_vcpu *x);
void vmx_msr_switch_free(struct vmx_vcpu *x);
void vmx_write_guest_efer(struct vmx_vcpu *x, u64 efer);
void vmx_write_guest_pat(struct vmx_vcpu *x, u64 pat);
u64 vmx_read_guest_efer(struct vmx_vcpu *x);
u64 vmx_read_guest_pat(struct vmx_vcpu *x);

/* vmx_rmode.c: real mode in virtual-8086 mode (vm86 set while it runs so) */
int vmx_rmode_enter(struct vcpu *v);
void vmx_rmode_leave(struct vcpu *v);
/* Forget vm86 for a new state that the caller writes whole (INIT/SIPI, a loader's). */
void vmx_rmode_reset(struct vcpu *v);
void vmx_rmode_get_segment(struct vcpu *v, int seg, struct vcpu_segment *s);
/* RFLAGS between the guest's view and the vm86 the CPU runs (VM and IOPL 3 are ours; the guest's IOPL is kept). Inline:
 * every skipped instruction may need the first, and the skip is a leaf then. */
static inline u64 vmx_rmode_rflags_in(struct vmx_vcpu *x, u64 hw)
{
	return (hw & ~(RFLAGS_VM | RFLAGS_IOPL)) | x->rm_iopl;
}

static inline u64 vmx_rmode_rflags_out(struct vmx_vcpu *x, u64 guest)
{
	x->rm_iopl = guest & RFLAGS_IOPL;
	return guest | RFLAGS_VM | RFLAGS_IOPL;
}
void vmx_rmode_deliver(struct vcpu *v, u8 vector, u32 ret_len);

/* vmx_apicv.c: choose the APICv controls after the others (before they are written), set up the VMCS fields after
 * VMPTRLD, and decode an APIC-access exit (fault-like: the access is emulated as MMIO at the page's gpa). */
void vmx_apicv_choose(struct vmx_vcpu *x);
void vmx_apicv_setup(struct vmx_vcpu *x);
enum exit_reason vmx_apicv_access_exit(struct vcpu *v, u64 qual);

/* vmx_shadow.c */
void vmx_shadow_setup(struct vmx_vcpu *x);
/* After VMPTRLD: which exceptions exit under shadow paging (all, in vm86; else #DB/#AC/#MC and every #PF but the
 * guest's own protection faults on reads). */
void vmx_shadow_intercepts(bool all);
/* Write the CR0, CR4 and EFER the CPU runs the guest with, and the IA-32e entry control, from the guest's view. */
void vmx_sync_paging(struct vcpu *v);
void vmx_update_exec_controls(struct vmx_vcpu *x);
/* Convert between the vendor-neutral segment attributes and VMX access rights. */
u32 vmx_ar_from_attr(u16 attr);
u16 vmx_attr_from_ar(u32 ar);

#endif
