/* The hypervisor monitor: a command line on the serial console, reached with Ctrl-A x3 (vm/conmux.h). Its commands
 * (help, list, stats NAME, end NAME, ws NAME) are parsed strictly by vm/monitor_parse.c. It runs under the
 * multiplexer's lock, on whichever running VM's vCPU 0 polled the line (vm/conmux.h says why). */
#ifndef VM_MONITOR_H
#define VM_MONITOR_H

#include "hv/types.h"

/* The input just came to the monitor: a hint and the prompt. */
void monitor_enter(void);
/* One typed byte. */
void monitor_key(u8 c);

#endif
