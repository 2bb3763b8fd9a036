/* The C side of every interrupt vector: exceptions in hypervisor context are fatal; NMIs during a panic stop this
 * CPU; the LAPIC spurious vector is ignored. The hypervisor enables no device interrupts of its own yet, so any
 * other vector is unexpected and is reported once per vector. */
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/desc.h"
#include "arch/x86/tlb.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "hv/log.h"
#include "hv/platform.h"

void interrupt_dispatch(struct irq_frame *f);

void interrupt_dispatch(struct irq_frame *f)
{
	static u8 reported[256];

	if (f->vector == 2) {
		if (panic_in_progress())
			cpu_halt_forever();
		/* A kick: its work (leaving the guest) is done by the time this runs; a host TLB shootdown's is the
		 * flush, done here. */
		if (__atomic_exchange_n(&this_cpu()->nmi_kick, false, __ATOMIC_ACQ_REL)) {
			host_tlb_shootdown_ack();
			return;
		}
		/* An NMI nobody sent on purpose (watchdog, hardware error): report it, the hypervisor goes on. */
		pr_warn("hv: NMI on CPU %u\n", this_cpu_id());
		return;
	}
	if (f->vector < 32)
		panic_exception(f);
	if (f->vector == VEC_SPURIOUS)
		return;
	if (f->vector == VEC_HOST_TIMER)
		this_cpu()->host_timer_deadline = 0; /* fired: the next host_timer_arm must program it again */
	if (f->vector == VEC_HOST_TIMER || f->vector == VEC_WAKE) {
		lapic_eoi();
		return;
	}
	if (!__atomic_exchange_n(&reported[f->vector], 1, __ATOMIC_RELAXED))
		pr_warn("hv: unexpected interrupt vector %llu on CPU\n", (unsigned long long)f->vector);
	lapic_eoi();
}
