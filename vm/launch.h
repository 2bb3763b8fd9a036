/* Running the VMs the boot configuration describes. */
#ifndef VM_LAUNCH_H
#define VM_LAUNCH_H

#include "boot/mb2.h"

/* Parse the VM configurations from the GRUB modules; the number of VMs that will run. */
u32 vm_launch_prepare(const struct boot_info *bi);
/* Run VMs from the shared queue on this CPU until the queue is empty. */
void vm_launch_run_this_cpu(void);

#endif
