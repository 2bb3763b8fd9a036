/* The vCPU run loop: handle requests, deliver pending interrupts, sleep while halted, enter the guest, dispatch the
 * exit. The loop runs on the physical CPU the vCPU is pinned to until the VM ends. */
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/virt.h"
#include "hv/errno.h"
#include "hv/log.h"
#include "drivers/timer.h"
#include "kernel/console.h"
#include "vm/dev/dev.h"
#include "vm/dev/vlapic.h"
#include "vm/vtimer.h"
#include "vm/vcpu.h"
#include "vm/vm.h"

static int handle_requests(struct vcpu *v)
{
	struct tdp_mmu *mmu = &v->vm->mmu;

	if (!__atomic_load_n(&v->requests, __ATOMIC_ACQUIRE) && v->roots.current)
		return 0;
	vcpu_test_and_clear_request(v, VCPU_REQ_KICK);
	if (vcpu_test_and_clear_request(v, VCPU_REQ_FREE_OBSOLETE_ROOTS) &&
	    tdp_vcpu_free_obsolete_roots(mmu, &v->roots))
		vcpu_request(v, VCPU_REQ_LOAD_ROOT);
	if (vcpu_test_and_clear_request(v, VCPU_REQ_LOAD_ROOT) || !v->roots.current) {
		union tdp_role role = { .word = 0 };
		role.levels = 4;
		role.ad_disabled = !mmu->fmt->ad_enabled;
		int r = tdp_vcpu_load_root(mmu, &v->roots, role);
		if (r)
			return r;
		virt_ops->set_tdp_root(v, v->roots.current);
		/* Loading a root flushed this context already. */
		vcpu_test_and_clear_request(v, VCPU_REQ_TLB_FLUSH);
	}
	if (vcpu_test_and_clear_request(v, VCPU_REQ_TLB_FLUSH))
		virt_ops->flush_guest_tlb(v);
	return 0;
}

/* Queue a hardware exception for the next entry (exit handlers use this for #GP, #UD, #PF). */
void vcpu_queue_exception(struct vcpu *v, u8 vector, bool has_error, u32 error_code)
{
	struct vcpu_event ev = { .type = EVENT_EXCEPTION, .vector = vector, .has_error = has_error,
				 .error_code = error_code };
	/* Real mode pushes no error code; VMX refuses an entry that asks for one there (SDM 26.2.1.3). */
	if (!(virt_ops->get_cr(v, 0) & CR0_PE))
		ev.has_error = false;
	virt_ops->inject_event(v, &ev);
}

/* The PIC's INTR reaches the vCPU through LINT0 in ExtINT mode (or with the LAPIC disabled), on vCPU 0 only. */
static bool pic_intr_pending(struct vcpu *v)
{
	return v->id == 0 && v->vm->devices[VM_DEV_PIC] &&
	       (vlapic_accepts_pic_intr(v->lapic) || v->extint_pending) && pic_dev_has_intr(v->vm);
}

/* Deliver the highest-priority pending interrupt (LAPIC first, then the PIC) if the guest can take it now;
 * otherwise ask for an exit as soon as it can. */
static void deliver_interrupts(struct vcpu *v, u64 now)
{
	struct vcpu_event ev = { .type = EVENT_EXTINT };

	vm_timers_run(v->vm, now);
	vlapic_tick(v->lapic, now);
	int vec = vlapic_pending_vector(v->lapic);
	bool pic = vec < 0 && pic_intr_pending(v);
	if (vec < 0 && !pic) {
		virt_ops->set_intr_window(v, false);
		return;
	}
	if (!virt_ops->interrupt_allowed(v)) {
		virt_ops->set_intr_window(v, true);
		return;
	}
	if (pic) {
		v->extint_pending = false;
		vec = pic_dev_intack(v->vm);
		if (vec < 0)
			return; /* the PIC withdrew it (spurious): nothing to deliver */
	} else {
		vlapic_accept(v->lapic, (u8)vec);
	}
	ev.vector = (u8)vec;
	virt_ops->inject_event(v, &ev);
	v->halted = false;
	v->stats[VM_STAT_INTR_INJECTED]++;
	virt_ops->set_intr_window(v, false);
}

/* The earliest moment something may need the vCPU: its LAPIC timer or a device timer. */
static u64 next_deadline(struct vcpu *v)
{
	return MIN(vlapic_next_deadline(v->lapic), vm_timers_next(v->vm));
}

/* Keys typed on the host serial line go to the VM that owns the console. Polled, at most every
 * CONSOLE_POLL_CYCLES of TSC, so a busy guest does not pay for it on every exit. */
#define CONSOLE_POLL_CYCLES (tsc_hz / 1000)
static void poll_console_input(struct vcpu *v, u64 now)
{
	int c;

	if (!v->vm->console_input || now - v->console_polled < CONSOLE_POLL_CYCLES)
		return;
	v->console_polled = now;
	while ((c = console_getc()) >= 0)
		if (uart_dev_push_rx(v->vm, (u8)c))
			break; /* FIFO full: the byte is lost, as on a real UART overrun */
}

/* HLT: sleep until the LAPIC has something for the guest. With interrupts disabled, or with nothing that could ever
 * raise one, the guest has stopped for good and the VM ends (a physical machine would hang there). */
static void wait_while_halted(struct vcpu *v)
{
	if (!(virt_ops->get_rflags(v) & RFLAGS_IF)) {
		vm_log(v->vm, LOG_INFO, "vcpu %u halted with interrupts disabled\n", v->id);
		vm_end(v->vm, VM_END_HALTED, 0);
		return;
	}
	u64 deadline = next_deadline(v);
	if (v->vm->console_input) {
		/* Typed input can wake it too: sleep in short slices and look at the serial line in between. */
		deadline = MIN(deadline, rdtsc() + CONSOLE_POLL_CYCLES);
	} else if (deadline == ~0ULL) {
		vm_log(v->vm, LOG_INFO, "vcpu %u halted with no timer armed and no interrupt source\n", v->id);
		vm_end(v->vm, VM_END_HALTED, 0);
		return;
	}
	host_timer_wait_until(deadline);
}

int vcpu_run_loop(struct vcpu *v)
{
	struct vm *vm = v->vm;

	while (!__atomic_load_n(&vm->ended, __ATOMIC_ACQUIRE)) {
		int r = handle_requests(v);
		if (r) {
			vm_log(vm, LOG_ERR, "cannot load a TDP root (%d)\n", r);
			vm_end(vm, VM_END_INTERNAL_ERROR, (u64)r);
			break;
		}
		u64 now = rdtsc();
		poll_console_input(v, now);
		deliver_interrupts(v, now);
		if (v->halted) {
			wait_while_halted(v);
			continue;
		}
		host_timer_arm(next_deadline(v));
		r = virt_ops->vcpu_run(v);
		if (r) {
			vm_log(vm, LOG_ERR, "vcpu %u: backend failure %d\n", v->id, r);
			vm_end(vm, VM_END_INTERNAL_ERROR, (u64)r);
			break;
		}
		v->stats[VM_STAT_EXITS]++;
		r = exit_dispatch(v);
		if (r < 0 && !vm->ended) {
			vm_log(vm, LOG_ERR, "vcpu %u: exit handler failed (%d)\n", v->id, r);
			vm_end(vm, VM_END_INTERNAL_ERROR, (u64)r);
		}
	}
	host_timer_arm(~0ULL);
	vm_console_flush(vm);
	return 0;
}
