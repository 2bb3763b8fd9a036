/* The VMX backend's private state and the pieces its files share. */
#ifndef ARCH_X86_VMX_VMX_H
#define ARCH_X86_VMX_VMX_H

#include "arch/x86/vmx/vmcs.h"
#include "arch/x86/vmx/vmx_caps.h"

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
	u64 eptp;
	struct vcpu *vcpu;     /* constant: the vCPU this state belongs to */
};

extern struct vmx_caps vmx_caps;
extern struct vmx_msrs vmx_msrs;

static inline struct vmx_vcpu *to_vmx(struct vcpu *v)
{
	return v->arch;
}

/* vmx_entry.S: enter the guest with the GPRs in regs; 0 after a VM exit, 1 when VMLAUNCH/VMRESUME failed. */
int vmx_enter(u64 *regs, bool launched);
void vmx_exit_point(void);

void vmx_decode_exit(struct vcpu *v);
void vmx_update_exec_controls(struct vmx_vcpu *x);
/* Convert between the vendor-neutral segment attributes and VMX access rights. */
u32 vmx_ar_from_attr(u16 attr);
u16 vmx_attr_from_ar(u32 ar);

#endif
