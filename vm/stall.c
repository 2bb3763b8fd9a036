/* The stall report (vm/stall.h). */
#include "arch/x86/cpu.h"
#include "arch/x86/virt.h"
#include "hv/log.h"
#include "kernel/options.h"
#include "vm/dev/vlapic.h"
#include "vm/stall.h"
#include "vm/vcpu.h"

void vm_stall_init(struct vm *vm)
{
	vm->stall_cycles = hv_opts.stall * vm->tsc_hz;
	vm->last_output = rdtsc();
	vm->stall_next = vm->stall_cycles ? vm->last_output + vm->stall_cycles : ~0ULL;
}

void vm_stall_check(struct vcpu *v, u64 now)
{
	struct vm *vm = v->vm;
	u64 next = __atomic_load_n(&vm->stall_next, __ATOMIC_RELAXED);
	u64 last = __atomic_load_n(&vm->last_output, __ATOMIC_RELAXED), quiet_end = last + vm->stall_cycles;

	if (now < next)
		return;
	/* The console spoke since: the next look is when this silence would be long enough. */
	if (quiet_end > now) {
		__atomic_compare_exchange_n(&vm->stall_next, &next, quiet_end, false, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED);
		return;
	}
	u32 n = __atomic_load_n(&vm->stall_reports, __ATOMIC_RELAXED);
	u64 again = n + 1 < STALL_REPORTS ? now + vm->stall_cycles : ~0ULL;
	/* One vCPU wins each report. */
	if (!__atomic_compare_exchange_n(&vm->stall_next, &next, again, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return;
	__atomic_store_n(&vm->stall_reports, n + 1, __ATOMIC_RELAXED);
	vm_log(vm, LOG_WARN, "stall report %u of %u: no console output for %llu s; vCPU states follow\n", n + 1,
	       STALL_REPORTS, (unsigned long long)((now - last) / vm->tsc_hz));
	vm_make_all_vcpus_request(vm, VCPU_REQ_STALL_REPORT, false);
	/* A vCPU that stays in the guest on the wake IPI (vm/vcpu.c: vcpu_kick_nmi) is the one a hang is about. */
	for (u32 i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i] && (__atomic_load_n(&vm->vcpus[i]->run_state, __ATOMIC_ACQUIRE) & VCPU_MODE_MASK) ==
					    VCPU_IN_GUEST)
			vcpu_kick_nmi(vm->vcpus[i]);
}

/* The highest vector set in one of the vLAPIC's 256-bit registers (ISR, IRR), or -1. */
static int highest_vector(const struct vlapic *lapic, u32 reg)
{
	for (int i = 7; i >= 0; i--) {
		u32 w = lapic->regs[(reg + i * 0x10) / 4];
		if (w)
			return i * 32 + 31 - __builtin_clz(w);
	}
	return -1;
}

void vcpu_stall_report(struct vcpu *v)
{
	struct vm *vm = v->vm;
	struct vcpu_segment cs;
	u64 now = rdtsc();
	u64 timer = vlapic_next_deadline(v->lapic);

	if (!(v->run_state / VCPU_ENTRY_ONE)) {
		vm_log(vm, LOG_WARN, "stall: vcpu %u has not run yet%s\n", v->id, v->wait_sipi ? ": waiting for SIPI" : "");
		return;
	}
	virt_ops->get_segment(v, SEG_CS, &cs);
	vm_log(vm, LOG_WARN,
	       "stall: vcpu %u rip %04x:%llx cpl %d rflags %llx cr0 %llx cr3 %llx cr4 %llx efer %llx\n",
	       v->id, cs.selector, (unsigned long long)virt_ops->get_rip(v), virt_ops->get_cpl(v),
	       (unsigned long long)virt_ops->get_rflags(v), (unsigned long long)virt_ops->get_cr(v, 0),
	       (unsigned long long)virt_ops->get_cr(v, 3), (unsigned long long)virt_ops->get_cr(v, 4),
	       (unsigned long long)virt_ops->get_efer(v));
	vm_log(vm, LOG_WARN,
	       "stall: vcpu %u rax %llx rbx %llx rcx %llx rdx %llx rsi %llx rdi %llx rbp %llx rsp %llx\n", v->id,
	       (unsigned long long)v->regs[VCPU_RAX], (unsigned long long)v->regs[VCPU_RBX],
	       (unsigned long long)v->regs[VCPU_RCX], (unsigned long long)v->regs[VCPU_RDX],
	       (unsigned long long)v->regs[VCPU_RSI], (unsigned long long)v->regs[VCPU_RDI],
	       (unsigned long long)v->regs[VCPU_RBP], (unsigned long long)v->regs[VCPU_RSP]);
	vm_log(vm, LOG_WARN,
	       "stall: vcpu %u %s%s%s%sintr %s, nmi %s; lapic tpr %x isr %d irr %d pending %d timer %s%lld ms; "
	       "%llu entries, %llu exits, %llu injected\n",
	       v->id, v->halted ? "halted, " : "", v->wait_sipi ? "waiting for SIPI, " : "", v->parked ? "parked, " : "",
	       inbox_pending(&v->inbox) ? "inbox pending, " : "",
	       virt_ops->interrupt_allowed(v) ? "allowed" : "blocked", v->nmi_pending ? "pending" : "none",
	       vlapic_get_tpr(v->lapic), highest_vector(v->lapic, VLAPIC_REG_ISR),
	       highest_vector(v->lapic, VLAPIC_REG_IRR), vlapic_pending_vector(v->lapic),
	       timer == ~0ULL ? "off " : "in ", timer == ~0ULL ? 0LL : (long long)(timer - now) / (long long)(vm->tsc_hz / 1000),
	       (unsigned long long)(v->run_state / VCPU_ENTRY_ONE), (unsigned long long)vcpu_stat(v, VM_STAT_EXITS),
	       (unsigned long long)v->stats[VM_STAT_INTR_INJECTED]);
	/* Oldest first. */
	u32 n = MIN(v->exit_ring_pos, (u32)VCPU_EXIT_RING);
	for (u32 i = v->exit_ring_pos - n; i != v->exit_ring_pos; i++) {
		const struct vcpu_exit_trace *t = &v->exit_ring[i % VCPU_EXIT_RING];
		vm_log(vm, LOG_WARN, "stall: vcpu %u exit -%u: %s (hw %u) at %llx, %llx\n", v->id, v->exit_ring_pos - i,
		       exit_reason_name(t->reason), t->hw_reason, (unsigned long long)t->rip,
		       (unsigned long long)t->qual);
	}
}
