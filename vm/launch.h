/* Running the VMs the boot configuration describes: building them (vm/launch.c) and placing them on CPUs
 * (vm/sched.c). */
#ifndef VM_LAUNCH_H
#define VM_LAUNCH_H

#include "boot/mb2.h"

struct vm;
struct vm_config;

/* What can be checked of a VM before it has memory, from its configuration and its kernel image: that the kernel's
 * boot protocol takes everything the VM was given (vm_config_check_kernel), and for a Linux kernel, that the image
 * holds what its header promises (linux_check_image). Returns the number of errors reported; a VM with any must not
 * be built. */
u32 vm_check_config(const struct vm_config *cfg);
/* Build a VM from its configuration in zeroed memory, on the CPU that will run vCPU 0 (which it creates; the other
 * vCPUs' backend state is made on their own CPUs). 0, -ENOMEM without a word when memory ran short (the caller knows whether other VMs hold it: vm/sched.c
 * makes the VM wait), or another negative errno after saying what failed; either way vm_destroy undoes what was
 * done. */
int vm_build(struct vm *vm, const struct vm_config *cfg);
/* Free everything of a VM whose vCPUs have all stopped, and the struct vm itself. */
void vm_destroy(struct vm *vm);

/* Parse the VM configurations from the GRUB modules and check what can be checked before any VM runs
 * (vm_check_config); the number of VMs that will run. `runners`: how many CPUs will call vm_launch_run_this_cpu with
 * virtualization enabled (a VM with more vCPUs than that, or more RAM than is free now, is refused). */
u32 vm_launch_prepare(const struct boot_info *bi, u32 runners);
/* Every CPU calls this once: lead VMs from the shared queue, or run the vCPUs other CPUs' VMs give it, until the
 * queue is empty and nobody needs this CPU. */
void vm_launch_run_this_cpu(void);

#endif
