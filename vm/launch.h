/* Running the VMs the boot configuration describes. */
#ifndef VM_LAUNCH_H
#define VM_LAUNCH_H

#include "boot/mb2.h"

/* Parse the VM configurations from the GRUB modules; the number of VMs that will run. `runners`: how many CPUs will
 * call vm_launch_run_this_cpu with virtualization enabled (a VM with more vCPUs than that is refused). */
u32 vm_launch_prepare(const struct boot_info *bi, u32 runners);
/* Every CPU calls this once: lead VMs from the shared queue, or run the vCPUs other CPUs' VMs give it, until the
 * queue is empty and nobody needs this CPU. */
void vm_launch_run_this_cpu(void);

#endif
