/* Test doubles for vm/vm.c (see fake_vm.h). The real vm_read_gpa walks memslots; here guest RAM is a single host
 * buffer, which is all the loaders and device models need to be tested against, and bounds are checked exactly the
 * same way: any byte outside RAM fails the whole access with -EFAULT. */
#include <stdlib.h>
#include <string.h>

#include "fake_vm.h"
#include "hv/errno.h"

struct fake_vm_state fake_vm;

void fake_vm_init(struct vm *vm, u64 ram_bytes)
{
	free(fake_vm.ram);
	memset(&fake_vm, 0, sizeof(fake_vm));
	memset(vm, 0, sizeof(*vm));
	strcpy(vm->name, "test");
	vm->mem_bytes = ram_bytes;
	vm->nr_vcpus = 1;
	if (ram_bytes) {
		fake_vm.ram = calloc(1, ram_bytes);
		if (!fake_vm.ram)
			abort();
		fake_vm.ram_bytes = ram_bytes;
	}
}

void fake_vm_destroy(struct vm *vm)
{
	for (size_t i = 0; i < ARRAY_SIZE(vm->devices); i++) {
		free(vm->devices[i]);
		vm->devices[i] = NULL;
	}
	free(fake_vm.ram);
	fake_vm.ram = NULL;
	fake_vm.ram_bytes = 0;
}

void *fake_vm_gpa(u64 gpa, u64 len)
{
	if (gpa > fake_vm.ram_bytes || len > fake_vm.ram_bytes - gpa)
		return NULL;
	return fake_vm.ram + gpa;
}

int vm_read_gpa(struct vm *vm, gpa_t gpa, void *buf, u64 len)
{
	void *p = fake_vm_gpa(gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(buf, p, len);
	return 0;
}

int vm_write_gpa(struct vm *vm, gpa_t gpa, const void *buf, u64 len)
{
	void *p = fake_vm_gpa(gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(p, buf, len);
	return 0;
}

void vm_console_putc(struct vm *vm, char c)
{
	if (fake_vm.console_len + 1 < sizeof(fake_vm.console)) {
		fake_vm.console[fake_vm.console_len++] = c;
		fake_vm.console[fake_vm.console_len] = '\0';
	}
}

void vm_console_flush(struct vm *vm) {}

void vm_end(struct vm *vm, int reason, u64 status)
{
	fake_vm.end_calls++;
	fake_vm.end_reason = reason;
	fake_vm.end_status = status;
	if (!vm->ended) {
		vm->ended = true;
		vm->end_reason = reason;
		vm->end_status = status;
	}
}

/* vCPU notifications (vm/vcpu.c): recorded, nothing runs. */
void vcpu_notify(struct vcpu *v)
{
	fake_vm.notify_calls++;
}

void vcpu_kick(struct vcpu *v)
{
	if (fake_vm.kick_calls < ARRAY_SIZE(fake_vm.kicked))
		fake_vm.kicked[fake_vm.kick_calls] = v;
	fake_vm.kick_calls++;
}

void vcpu_post(struct vcpu *v, u32 icr_lo)
{
	fake_vm.post_calls++;
}

u64 vm_stat(struct vm *vm, enum vm_stat s)
{
	fake_vm.stat_calls++;
	return (unsigned int)s < NR_VM_STATS ? fake_vm.stats[s] : 0;
}

u64 dev_tsc_now(void)
{
	return fake_vm.tsc;
}

/* vm/irq.c's routing (ISA lines to the PIC, every line to the IOAPIC with IRQ0 on pin 2), recorded on the way. Weak:
 * a test that links the real vm/irq.c gets that one (and observes lines at the chips instead). */
__weak void vm_set_irq(struct vm *vm, unsigned int irq, int level)
{
	if (irq < 32 && (vm->irq_cut & BIT(irq))) /* as vm/irq.c: a line the HPET took over */
		return;
	vm_drive_irq(vm, irq, level);
}

__weak int ioapic_send_msi(struct vm *vm, u32 addr, u32 data)
{
	fake_vm.msis++;
	fake_vm.msi_addr = addr;
	fake_vm.msi_data = data;
	return 1;
}

__weak void vm_drive_irq(struct vm *vm, unsigned int irq, int level)
{
	if (irq >= VM_NR_IRQS)
		return;
	fake_vm.irq_calls++;
	if (level && !fake_vm.irq_level[irq])
		fake_vm.irq_rises[irq]++;
	fake_vm.irq_level[irq] = level;
	if (irq < 16 && vm->pic_chip.set_irq)
		vm->pic_chip.set_irq(vm, irq, level);
	if (vm->ioapic_chip.set_irq)
		vm->ioapic_chip.set_irq(vm, irq == 0 ? 2 : irq, level);
}

__weak void vm_pulse_irq(struct vm *vm, unsigned int irq)
{
	vm_set_irq(vm, irq, 1);
	vm_set_irq(vm, irq, 0);
}
