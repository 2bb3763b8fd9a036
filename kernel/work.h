/* Running the VM queue on every CPU: the BSP releases the APs, works the queue itself, then waits for the APs. */
#ifndef KERNEL_WORK_H
#define KERNEL_WORK_H

/* On an AP once it is online: sleep until released, work the queue, report done, and sleep for good. */
__attribute__((noreturn)) void work_ap_loop(void);
/* On the BSP: release the APs, work the queue, wait until every AP is done. */
void work_run_all_cpus(void);

#endif
