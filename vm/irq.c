/* IRQ routing: every line goes to the i8259 pair (ISA lines 0-15) and to the IOAPIC, when the VM has them. Any
 * vCPU may drive a line (with its device's lock held); the chips lock themselves. */
#include "vm/irq.h"
#include "vm/vm.h"

void vm_set_irq(struct vm *vm, unsigned int irq, int level)
{
	/* In the HPET's legacy replacement the PIT's IRQ0 and the RTC's IRQ8 reach nothing: the HPET drives those
	 * lines itself (vm/dev/hpet.c). */
	if (irq < 32 && (__atomic_load_n(&vm->irq_cut, __ATOMIC_RELAXED) & BIT(irq)))
		return;
	vm_drive_irq(vm, irq, level);
}

void vm_drive_irq(struct vm *vm, unsigned int irq, int level)
{
	if (irq >= VM_NR_IRQS)
		return;
	if (irq < 16 && vm->pic_chip.set_irq)
		vm->pic_chip.set_irq(vm, irq, level);
	/* The ISA timer (IRQ0) is wired to IOAPIC pin 2 on PCs; the MADT says so with an interrupt source override. */
	if (vm->ioapic_chip.set_irq)
		vm->ioapic_chip.set_irq(vm, irq == 0 ? 2 : irq, level);
	/* The PIC's output reaches vCPU 0 only (LINT0); IOAPIC messages notify their targets as they are posted. */
	if (irq < 16 && vm->pic_chip.set_irq && vm->nr_vcpus && vm->vcpus[0])
		vcpu_kick(vm->vcpus[0]);
}

void vm_pulse_irq(struct vm *vm, unsigned int irq)
{
	vm_set_irq(vm, irq, 1);
	vm_set_irq(vm, irq, 0);
}
