/* The hypervisor console: log lines go to COM1 when a UART answers there; without one, output is dropped. */
#ifndef KERNEL_CONSOLE_H
#define KERNEL_CONSOLE_H

#include "hv/types.h"

extern u64 console_loglevel; /* messages with a level above this are dropped; loglevel= on the command line */

void console_init(void);
void console_write(const char *s, size_t n);
/* From now on write without taking the console lock: the CPU that held it may be stopped. */
void console_enter_panic(void);
bool console_has_uart(void);
/* A byte typed on the console's serial line, or -1. */
int console_getc(void);

#endif
