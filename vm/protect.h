/* Guest memory protection: the first user of write tracking inside the hypervisor (after Bitdefender's HVMI and the
 * "Heki" proposals for KVM). Ranges of a VM's RAM are write-protected from the hypervisor, from the module line
 * (`protect=START-END[:MODE]`, vm/config.h) and by the guest itself (HC_MEM_LOCK, Heki-style: a locked range stays
 * locked for the VM's life). Every write to a protected page, by the guest (emulated after the MMU refused it) or by
 * the hypervisor's devices and loaders, reaches protect_pre_write through the tracking notifier, and is logged and
 * let through (log), dropped and counted (deny), or ends the VM (kill). */
#ifndef VM_PROTECT_H
#define VM_PROTECT_H

#include "hv/types.h"

struct vcpu;
struct vm;
struct vm_config;

#define PROTECT_MAX_RANGES 64 /* per VM, module-line ranges included */
#define PROTECT_MAX_TEST_REFS 64

/* Hypercall numbers (the ABI tests/guests/lib/guest.h copies). */
#define HC_MEM_LOCK 2   /* RBX gpa, RCX length, RDX mode (HC_LOCK_*): 0 or -EINVAL/-EFAULT/-EEXIST/-ENOSPC/-ENOMEM */
#define HC_TRACK_TEST 3 /* RBX gfn, RCX 1 (add) or 0 (remove) a test reference on the write tracker */
#define HC_LOCK_DENY 0
#define HC_LOCK_KILL 1

/* Create the VM's protection state, register its notifier and install the configuration's ranges (before the vCPUs
 * run). 0, or a negative errno with a message naming the range (the VM does not start). */
int protect_init(struct vm *vm, const struct vm_config *cfg);
void protect_destroy(struct vm *vm);

/* The hypercalls, for vCPU v's guest: the value for RAX (0 or a negative errno). */
u64 protect_hc_mem_lock(struct vm *vm, gpa_t gpa, u64 len, u64 mode);
u64 protect_hc_track_test(struct vm *vm, gfn_t gfn, u64 op);

/* A vCPU was created: while late ranges wait, its IA32_LSTAR writes exit. */
void protect_vcpu_init(struct vcpu *v);
/* The guest wrote IA32_LSTAR (intercepted, already applied): arm the late ranges if they still wait. */
void protect_lstar_written(struct vcpu *v, u64 lstar);

/* Counters for the test device and the VM's end report. */
u64 protect_logged(const struct vm *vm);
u64 protect_denied(const struct vm *vm);

#endif
