/* The host's 16550 serial port, used as the hypervisor console. */
#ifndef DRIVERS_UART16550_H
#define DRIVERS_UART16550_H

#include "hv/types.h"

#define COM1_BASE 0x3f8

/* Probe for a 16550 at `base` (scratch register and loopback tests) and program it for 115200 8N1 with FIFOs.
 * Returns 0, or -ENODEV when nothing answers there. */
int uart_init(u16 base);
void uart_putc(u16 base, char c);
/* A received byte, or -1 when none is waiting. */
int uart_getc(u16 base);

#endif
