/* Test doubles for the VM core (vm/vm.c, vm/irq.c) that device models and loaders call: guest RAM is one host buffer
 * starting at gpa 0, console output lands in a capture buffer, vm_end records its arguments, vm_stat returns test
 * values, IRQ lines are recorded (and routed on to the VM's interrupt controllers as vm/irq.c does), and the TSC the
 * device models read is a variable the test advances. */
#ifndef FAKE_VM_H
#define FAKE_VM_H

#include "vm/vm.h"
#include "vm/vtimer.h"

struct fake_vm_state {
	u8 *ram; /* guest RAM [0, ram_bytes) */
	u64 ram_bytes;
	char console[8192]; /* every vm_console_putc byte, NUL-terminated */
	u32 console_len;
	u32 notify_calls, kick_calls, post_calls; /* vcpu_notify / vcpu_kick / vcpu_post */
	struct vcpu *kicked[8];			  /* the first vCPUs vcpu_kick was called for, in order */
	u32 end_calls;	/* vm_end calls (each one recorded, not only the first) */
	int end_reason; /* of the last call */
	u64 end_status;
	u64 stats[NR_VM_STATS];
	u32 stat_calls;
	u64 tsc; /* dev_tsc_now() */
	/* Recorded by the fake vm_set_irq, unless the test links the real vm/irq.c. */
	int irq_level[VM_NR_IRQS]; /* the last level each line was driven to */
	u32 irq_rises[VM_NR_IRQS]; /* rising edges per line (a vm_pulse_irq is one) */
	u32 irq_calls;		   /* vm_set_irq calls, pulses counting two */
	u32 msis;		   /* interrupt messages sent (ioapic_send_msi), the last one's address and data */
	u32 msi_addr, msi_data;
};

extern struct fake_vm_state fake_vm;

/* Zero *vm and the fake state, and give the VM ram_bytes of zeroed guest RAM (0 for none). */
void fake_vm_init(struct vm *vm, u64 ram_bytes);
/* Free the guest RAM and every device state in vm->devices[]. */
void fake_vm_destroy(struct vm *vm);
/* Guest RAM at gpa, for tests that read back what a loader wrote; NULL if [gpa, gpa+len) is not RAM. */
void *fake_vm_gpa(u64 gpa, u64 len);

/* What the vCPU run loop does with device timers while time passes: advance the TSC to `tsc`, firing every vtimer due
 * on the way at its own deadline (a perfectly punctual host). Tests that use it link vm/vtimer.c. Returns how many
 * timer runs happened, so a test can bound the host's work. */
static inline u64 fake_vm_run_until(struct vm *vm, u64 tsc)
{
	u64 runs = 0;

	for (u64 next = vm_timers_next(vm); next <= tsc && runs < (1u << 24); next = vm_timers_next(vm)) {
		if (next > fake_vm.tsc)
			fake_vm.tsc = next;
		vm_timers_run(vm, fake_vm.tsc);
		runs++; /* bounded: a model that re-arms in the past forever shows up as a huge count, not a hang */
	}
	if (tsc > fake_vm.tsc)
		fake_vm.tsc = tsc;
	return runs;
}

/* The same with a late host: one timer run at `tsc` for everything that fell due before it. */
static inline void fake_vm_run_late(struct vm *vm, u64 tsc)
{
	if (tsc > fake_vm.tsc)
		fake_vm.tsc = tsc;
	vm_timers_run(vm, fake_vm.tsc);
}

/* The first half of what vm_timers_run does with the earliest timer: take it off the list, as vCPU 0 does just
 * before it calls the callback without any lock held. A test runs other vCPUs' accesses in that window, then calls
 * t->fire(t, now) itself, to check that the device copes with whatever changed in between. NULL if none is armed. */
static inline struct vtimer *fake_vm_timer_take(struct vm *vm)
{
	struct vtimer *t = vm->timers;

	if (t)
		vtimer_disarm(vm, t);
	return t;
}

#endif
