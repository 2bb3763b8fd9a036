/* Interrupt lines of the VM's platform: devices drive ISA IRQ lines; the VM routes each line to the i8259 pair and
 * to the IOAPIC, as the PC does (IRQ0 reaches IOAPIC pin 2, the others pin = irq). */
#ifndef VM_IRQ_H
#define VM_IRQ_H

#include "hv/types.h"

struct vm;

#define VM_NR_IRQS 24 /* ISA 0-15, PCI/IOAPIC-only pins 16-23 */

/* Drive line irq to level (0 or 1). Edge-triggered consumers latch a rising edge. */
void vm_set_irq(struct vm *vm, unsigned int irq, int level);
/* The same whatever vm->irq_cut says: for the device that took a line over (the HPET in legacy replacement). */
void vm_drive_irq(struct vm *vm, unsigned int irq, int level);
/* A rising then falling edge, for devices that signal one event (PIT channel 0, RTC). */
void vm_pulse_irq(struct vm *vm, unsigned int irq);

/* The routing targets, registered by the interrupt controllers when they are created (NULL: absent). */
struct vm_irq_chip {
	void (*set_irq)(struct vm *vm, unsigned int pin, int level);
};

#endif
