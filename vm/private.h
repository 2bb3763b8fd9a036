/* Private VMs (`private=on`): the VM's half of private memory. mm/private.h keeps the mirror root and refuses the
 * hypervisor's accesses; this file seals the VM after its loader ran, gives the MMU its external table (the
 * hypervisor's direct map), reports to the guest what the hypervisor will not do for it (#VE, vm/private_abi.h),
 * and serves the guest's hypercalls for it. */
#ifndef VM_PRIVATE_H
#define VM_PRIVATE_H

#include "hv/types.h"
#include "vm/private_abi.h"

struct vm;
struct vcpu;

/* Seal a VM whose RAM is loaded: its RAM becomes private. 0, -EINVAL (the CPU's MAXPHYADDR leaves no shared bit
 * below 48, or RAM reaches it), -ENOMEM. Logged either way. */
int vm_private_seal(struct vm *vm);
/* The shared bit of a private VM (0: not private): for CPUID 0x40000001. */
unsigned int vm_private_shared_bit(const struct vm *vm);
/* Tell the guest the hypervisor will not complete an access: inject #VE with reason/gpa/access for HC_VE_INFO. A
 * #VE whose information the guest has not read yet ends the VM instead. Returns 0 (the exit is handled). */
int vcpu_private_ve(struct vcpu *v, u32 reason, u64 gpa, u32 access);
/* The hypercalls (vm/private_abi.h): the value for RAX; HC_MMIO also sets RBX. */
u64 vcpu_hc_map_gpa(struct vcpu *v, u64 gpa, u64 len);
u64 vcpu_hc_ve_info(struct vcpu *v);
u64 vcpu_hc_mmio(struct vcpu *v, u64 gpa, u64 size_flags, u64 value);

#endif
