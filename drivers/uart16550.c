/* 16550 UART driver for the console: polled transmit, polled receive. The port is probed rather than assumed,
 * because many bare-metal machines have no COM1 and a write to an absent port would spin forever on LSR. */
#include "drivers/uart16550.h"
#include "arch/x86/cpu.h"
#include "hv/errno.h"

enum { RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, FCR = 2, LCR = 3, MCR = 4, LSR = 5, SCR = 7 };
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define MCR_LOOP 0x10

int uart_init(u16 base)
{
	outb(base + SCR, 0x5a);
	if (inb(base + SCR) != 0x5a)
		return -ENODEV;
	outb(base + SCR, 0xa5);
	if (inb(base + SCR) != 0xa5)
		return -ENODEV;

	outb(base + IER, 0);
	outb(base + LCR, 0x80); /* DLAB */
	outb(base + DLL, 1);    /* 115200 baud */
	outb(base + DLM, 0);
	outb(base + LCR, 0x03); /* 8N1 */
	outb(base + FCR, 0xc7); /* enable and clear FIFOs, 14-byte threshold */

	/* Loopback: a byte sent must come back, or this is not a working UART. */
	outb(base + MCR, MCR_LOOP | 0x0b);
	outb(base + THR, 0xae);
	for (int i = 0; i < 100000 && !(inb(base + LSR) & LSR_DR); i++)
		cpu_relax();
	bool ok = (inb(base + LSR) & LSR_DR) && inb(base + RBR) == 0xae;
	outb(base + MCR, 0x0b); /* DTR, RTS, OUT2; loopback off */
	return ok ? 0 : -ENODEV;
}

void uart_putc(u16 base, char c)
{
	/* Bounded wait: a wedged UART must not hang the hypervisor. */
	for (int i = 0; i < 1000000 && !(inb(base + LSR) & LSR_THRE); i++)
		cpu_relax();
	outb(base + THR, (u8)c);
}

int uart_getc(u16 base)
{
	if (!(inb(base + LSR) & LSR_DR))
		return -1;
	return inb(base + RBR);
}
