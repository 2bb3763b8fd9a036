/* The run loop's inner part: enter the guest, dispatch the exit, and enter again at once while may_reenter_fast says
 * the loop's full pass (vm/vcpu.c: vcpu_run_loop) would do nothing. Each backend instantiates it once, as its
 * vcpu_run op, with its own entry and exit decode inlined as `enter`: a re-entry then costs no return to the loop, no
 * call back through virt_ops and no second save of the callee-saved registers (KVM's fastpath re-entry loop, without
 * its indirect call). The logic is this file's alone; the backends only name their entry. */
#ifndef VM_RUN_INNER_H
#define VM_RUN_INNER_H

#include "arch/x86/cpu.h"
#include "arch/x86/virt.h"
#include "hv/compiler.h"
#include "vm/stall.h"
#include "vm/vm.h"

int exit_dispatch(struct vcpu *v);
/* vm/vcpu.c, out of line: a handler's failure ends the VM with a report; a simple exit that moved the vLAPIC timer
 * re-arms the host timer and fast_until. */
void vcpu_exit_failed(struct vcpu *v, int r);
void vcpu_fast_rearm(struct vcpu *v);

/* fast_word when the fast re-entry may go: a simple exit, nothing pending at the last pass and nothing changed since. */
#define VCPU_FAST_WORD(simple, idle, changed, timer) ((simple) | (idle) << 8 | (changed) << 16 | (u32)(timer) << 24)
static_assert(offsetof(struct vcpu, irq_idle) == offsetof(struct vcpu, fast_word) + 1 &&
		      offsetof(struct vcpu, irq_changed) == offsetof(struct vcpu, fast_word) + 2 &&
		      offsetof(struct vcpu, timer_moved) == offsetof(struct vcpu, fast_word) + 3,
	      "VCPU_FAST_WORD's byte order");

/*
 * Whether the exit just handled may go straight back into the guest, past the loop's pass over requests, deadlines
 * and interrupt delivery (KVM's EXIT_FASTPATH_REENTER_GUEST). That pass would do nothing when:
 *   - the handler vouches it touched no vLAPIC, halt or NMI state (exit_simple: CPUID, port I/O, a plain hypercall,
 *     a TDP fault fixed or found spurious, a cached MMIO move to anything but the vLAPIC's page), so the vCPU is
 *     still not halted and has no NMI pending, as at the pass;
 *     or it only moved the vLAPIC timer (timer_moved: WRMSR TSC_DEADLINE), whose deadline is armed here as the
 *     pass would;
 *   - nothing was pending at the last pass (irq_idle, which includes no NMI pending) and nothing changed since
 *     (irq_changed: a new IRR bit, a PIC output raised by this CPU, an earlier device timer). A PIC port write is a
 *     simple exit: one that raises the PIC's output (an unmask, an EOI that lets the next request through) kicks
 *     vCPU 0 and the writer (vm/dev/pic.c: pic_write), which is irq_changed on the writer's own CPU. A TPR or
 *     vLAPIC EOI change comes only from an exit that is not simple (a cached MMIO move to the vLAPIC's page
 *     clears exit_simple: vm/mmio.c);
 *   - no request or VM end arrived (the inbox, kicks, root loads, TLB flushes all come as requests): the entry
 *     looks, after its mode store, and returns 1 for the full pass;
 *   - no deadline the pass serves has come (fast_until: vm/vcpu.c's set_fast_until says why nothing moves it
 *     earlier).
 * The exit's cost is counted here then, as the pass would have.
 */
static __always_inline bool may_reenter_fast(struct vcpu *v, u64 exited_at)
{
	u32 w = v->fast_word;

	if (w != VCPU_FAST_WORD(1, 1, 0, 0)) {
		if (w != VCPU_FAST_WORD(1, 1, 0, 1))
			return false;
		vcpu_fast_rearm(v);
	}
	u64 now = rdtsc();
	if (now >= v->fast_until)
		return false;
	v->exit_cycles[v->exit.reason] += now - exited_at;
	return true;
}

static __always_inline void vcpu_set_mode(struct vcpu *v, enum vcpu_mode m)
{
	u64 s = (v->run_state & ~VCPU_MODE_MASK) + (m == VCPU_IN_GUEST ? VCPU_ENTRY_ONE : 0);
	__atomic_store_n(&v->run_state, s | m, __ATOMIC_SEQ_CST);
}

/* Enter and handle exits until one needs the full pass: 0 then (*exited_at: that exit's TSC, for the pass to count
 * its cost), 1 when it did not enter because a request arrived, or enter's negative errno (a backend failure); in
 * those two, every exit's cost is counted already (*exited_at 0). The loop is outside the guest here (mode bits 0),
 * so the mode and the entry count go in with one add: vcpu_set_mode's masking is for the sleeps. */
static __always_inline int vcpu_run_inner(struct vcpu *v, u64 *exited_at, int (*enter)(struct vcpu *v))
{
	static_assert(VCPU_OUTSIDE_GUEST == 0, "vcpu_run_inner adds the mode to a run_state outside the guest");
	struct vm *vm = v->vm;
	u64 at;

	do {
		__atomic_store_n(&v->run_state, v->run_state + VCPU_ENTRY_ONE + VCPU_IN_GUEST, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&v->requests, __ATOMIC_SEQ_CST)) {
			vcpu_set_mode(v, VCPU_OUTSIDE_GUEST);
			*exited_at = 0;
			return 1;
		}
		int r = enter(v);
		vcpu_set_mode(v, VCPU_OUTSIDE_GUEST);
		if (r) {
			*exited_at = 0;
			return r;
		}
		at = rdtsc();
		if (unlikely(vm->stall_cycles))
			vcpu_stall_record_exit(v, virt_ops->get_rip(v));
		r = exit_dispatch(v);
		if (unlikely(r < 0)) {
			vcpu_exit_failed(v, r);
			break;
		}
	} while (may_reenter_fast(v, at));
	*exited_at = at;
	return 0;
}

#endif
