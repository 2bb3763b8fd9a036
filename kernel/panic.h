/* Fatal errors in the hypervisor itself. Nothing a guest or a GRUB module does may lead here. */
#ifndef KERNEL_PANIC_H
#define KERNEL_PANIC_H

#include "hv/compiler.h"

struct irq_frame;

enum panic_action { PANIC_HALT, PANIC_POWEROFF, PANIC_REBOOT };
extern int panic_action; /* from hv.panic= on the command line */

__noreturn void panic(const char *fmt, ...) __printf(1, 2);
/* An exception taken in hypervisor context: print the frame and stop, as panic() does. */
__noreturn void panic_exception(const struct irq_frame *f);
/* True once any CPU has begun to panic; NMIs then mean "stop". */
bool panic_in_progress(void);
/* The hook SMP bring-up installs so panic can stop the other CPUs. */
extern void (*panic_stop_others)(void);

void dump_backtrace(u64 rbp);

#endif
