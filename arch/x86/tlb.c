/*
 * Host TLB shootdown by NMI. The initiator bumps a global generation, flushes itself, raises each other online CPU's
 * kick flag and sends it an NMI (unless a kick NMI is already on its way: NMIs merge, and the flag answers any
 * number of senders), then waits until each has recorded that generation. An NMI reaches a CPU whatever it does:
 * in a guest it exits (NMI exiting on VMX, the NMI intercept on SVM) and the host handler runs it, idle it wakes
 * from HLT, spinning on a lock the initiator holds it is interrupted. So the wait needs no lock to be dropped, and
 * two initiators waiting on each other each answer the other's NMI. The handler reads the generation after it took
 * the flag, so a generation bumped before the flag was found raised is seen by the NMI already on its way.
 */
#include "arch/x86/tlb.h"
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "kernel/percpu.h"

static u64 host_tlb_gen; /* atomic: shootdowns asked for */

static void flush_local(void)
{
	/* The direct map has no global pages: a CR3 reload drops every translation of it. */
	write_cr3(read_cr3());
}

void host_tlb_shootdown_ack(void)
{
	struct percpu *c = this_cpu();
	u64 g = __atomic_load_n(&host_tlb_gen, __ATOMIC_SEQ_CST);

	if (__atomic_load_n(&c->tlb_gen_seen, __ATOMIC_RELAXED) >= g)
		return;
	flush_local();
	__atomic_store_n(&c->tlb_gen_seen, g, __ATOMIC_RELEASE);
}

void host_tlb_shootdown(void)
{
	struct percpu *self = this_cpu();
	u64 g = __atomic_add_fetch(&host_tlb_gen, 1, __ATOMIC_SEQ_CST);

	flush_local();
	for (u32 i = 0; i < nr_cpus; i++) {
		struct percpu *c = cpus[i];

		if (!c || c == self || !c->online)
			continue;
		if (!__atomic_exchange_n(&c->nmi_kick, true, __ATOMIC_SEQ_CST))
			lapic_send_nmi(c->apic_id);
	}
	for (u32 i = 0; i < nr_cpus; i++) {
		struct percpu *c = cpus[i];

		if (!c || c == self || !c->online)
			continue;
		while (__atomic_load_n(&c->tlb_gen_seen, __ATOMIC_ACQUIRE) < g)
			cpu_relax();
	}
}
