/* The host's legacy 8259 PICs. Firmware leaves them at vectors 8-15, on top of the CPU exceptions, with IRQ0 (the
 * PIT) often unmasked. The hypervisor uses the LAPIC only: remap the PICs out of the way and mask every line, so
 * the first STI cannot deliver a timer tick that looks like a double fault. */
#include "arch/x86/cpu.h"
#include "drivers/i8259.h"

#define PIC1_CMD 0x20
#define PIC1_DATA 0x21
#define PIC2_CMD 0xa0
#define PIC2_DATA 0xa1

void i8259_disable(void)
{
	outb(PIC1_CMD, 0x11); /* ICW1: init, ICW4 follows */
	outb(PIC2_CMD, 0x11);
	outb(PIC1_DATA, 0x20); /* ICW2: vectors 0x20-0x27 */
	outb(PIC2_DATA, 0x28); /* and 0x28-0x2f */
	outb(PIC1_DATA, 0x04); /* ICW3: slave on IRQ2 */
	outb(PIC2_DATA, 0x02);
	outb(PIC1_DATA, 0x01); /* ICW4: 8086 mode */
	outb(PIC2_DATA, 0x01);
	outb(PIC1_DATA, 0xff); /* mask everything */
	outb(PIC2_DATA, 0xff);
}
