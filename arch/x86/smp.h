/* Application-processor bring-up. */
#ifndef ARCH_X86_SMP_H
#define ARCH_X86_SMP_H

#include "hv/types.h"

struct percpu;

/* Called on every AP once it runs C code on its own stack and the kernel page tables, and on the BSP by kmain; the
 * per-CPU work (LAPIC, virtualization) happens here. */
typedef void (*cpu_online_fn)(struct percpu *cpu);

/* Start each CPU listed in the MADT (other than the BSP), one at a time; returns how many came online. */
u32 smp_boot_aps(cpu_online_fn fn, u32 max_cpus);

#endif
