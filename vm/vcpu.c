/* The vCPU run loop: take what other CPUs posted, handle requests, deliver pending interrupts, sleep while halted or
 * waiting for SIPI, enter the guest, dispatch the exit. The loop runs on the physical CPU the vCPU is pinned to
 * until the VM ends; other CPUs reach it only through its requests and inbox, and the wake IPI (vcpu_notify). */
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/virt.h"
#include "hv/errno.h"
#include "hv/log.h"
#include "hv/string.h"
#include "drivers/timer.h"
#include "kernel/console.h"
#include "kernel/percpu.h"
#include "vm/dev/dev.h"
#include "vm/debug.h"
#include "vm/dev/vlapic.h"
#include "vm/conmux.h"
#include "vm/dr.h"
#include "vm/stall.h"
#include "vm/vtimer.h"
#include "vm/run_inner.h"
#include "vm/vcpu.h"
#include "vm/vm.h"
#include "vm/ws.h"

/* ---- other CPUs' side: notify, kick, post, requests to all ---- */

void vcpu_notify(struct vcpu *v)
{
	struct percpu *cpu = __atomic_load_n(&v->cpu, __ATOMIC_ACQUIRE);

	/* Not started yet: it looks at everything before it first runs. On this CPU: it is the caller's own vCPU,
	 * running hypervisor code that returns to the run loop before the guest runs again. */
	if (!cpu || cpu == this_cpu())
		return;
	/* SEQ_CST against the vCPU's mode store (vcpu_set_mode): it sees the post, or we see it in the guest or asleep. */
	if ((__atomic_load_n(&v->run_state, __ATOMIC_SEQ_CST) & VCPU_MODE_MASK) != VCPU_OUTSIDE_GUEST)
		lapic_send_wake(cpu->apic_id);
}

void vcpu_kick(struct vcpu *v)
{
	/* The caller is v's own exit handler or loop pass: the pass looks again before the next entry (irq_changed
	 * keeps a fast re-entry from skipping it). */
	if (this_cpu()->vcpu == v) {
		v->irq_changed = true;
		return;
	}
	vcpu_request(v, VCPU_REQ_KICK);
	vcpu_notify(v);
}

/* An NMI for a vCPU in the guest forces it out with a host NMI (NMI exiting) rather than the wake IPI. Whether it
 * is held or lost depends on the guest's NMI blocking when it arrives (vcpu.c: take_lapic_events), so the vCPU must
 * look at once: Bochs 2.7 loses the wake IPI while the guest runs with IF = 0, as an NMI handler does, and the NMI
 * would be seen only after the handler's IRET (see vcpu_kick_nmi). Guest NMIs are rare; the cost is one host NMI. */
static void notify_nmi(struct vcpu *v)
{
	struct percpu *cpu = __atomic_load_n(&v->cpu, __ATOMIC_ACQUIRE);

	if (!cpu || cpu == this_cpu())
		return;
	if ((__atomic_load_n(&v->run_state, __ATOMIC_SEQ_CST) & VCPU_MODE_MASK) != VCPU_IN_GUEST) {
		vcpu_notify(v);
		return;
	}
	/* A kick NMI already raised for that CPU makes it leave too, before it drains the inbox. */
	if (!__atomic_exchange_n(&cpu->nmi_kick, true, __ATOMIC_ACQ_REL))
		lapic_send_nmi(cpu->apic_id);
}

void vcpu_post(struct vcpu *v, u32 icr_lo)
{
	/* The request after the post: a vCPU that sees it drains the inbox, so has_work need not scan the inbox. */
	if (inbox_post(&v->inbox, icr_lo)) {
		vcpu_request(v, VCPU_REQ_KICK);
		if (((icr_lo & VLAPIC_ICR_DM) >> VLAPIC_ICR_DM_SHIFT) == VLAPIC_DM_NMI)
			notify_nmi(v);
		else
			vcpu_notify(v);
	}
}

/* How long a vCPU may stay in the guest after its wake IPI before it is kicked out with an NMI. */
#define KICK_NMI_AFTER (tsc_hz / 100)

/*
 * Force t out of the guest with an NMI, which exits whatever the guest's IF and interrupt state (NMI exiting), for
 * the waits below once the wake IPI has not done it in KICK_NMI_AFTER. On hardware it always does. Bochs 2.7 can lose
 * it: a guest re-entered with IF=0 after an exit for a host interrupt takes no host interrupt at all until it changes
 * IF itself. Seen with Linux under shadow paging: the wake and timer vectors pending in the target CPU's IRR, its ISR
 * empty and PPR 0, its guest spinning with IF=0 on a lock held by the waiter's own guest, forever.
 */
void vcpu_kick_nmi(struct vcpu *t)
{
	struct percpu *cpu = __atomic_load_n(&t->cpu, __ATOMIC_ACQUIRE);

	if (!cpu || cpu == this_cpu())
		return;
	/* One NMI per raised flag: a second kicker finding it raised sends none, so every NMI that arrives finds
	 * the flag of its own kick (an unexpected NMI would be reported from the NMI handler). */
	if (__atomic_exchange_n(&cpu->nmi_kick, true, __ATOMIC_ACQ_REL))
		return;
	lapic_send_nmi(cpu->apic_id);
	if (!__atomic_fetch_add(&t->vm->nmi_kicks, 1, __ATOMIC_RELAXED))
		vm_log(t->vm, LOG_INFO, "vcpu %u stayed in the guest after the wake IPI: kicked out with an NMI\n", t->id);
}

/* Until t's run_state is no longer seen: it left the guest (or slept, or its loop returned). */
static void wait_run_state_changed(struct vcpu *t, u64 seen)
{
	u64 kick_at = rdtsc() + KICK_NMI_AFTER;

	while (__atomic_load_n(&t->run_state, __ATOMIC_ACQUIRE) == seen) {
		cpu_relax();
		if (rdtsc() >= kick_at) {
			vcpu_kick_nmi(t);
			kick_at = rdtsc() + KICK_NMI_AFTER;
		}
	}
}

/* The VM ended: the other vCPUs left the guest on vm_end's kick, or are still in it if the kick was lost (see
 * vcpu_kick_nmi). Make sure of each before this CPU moves on: no guest runs on after its VM's end. The others never
 * wait for the caller, which is out of the guest for good. */
static void wait_others_left_guest(struct vcpu *v)
{
	struct vm *vm = v->vm;

	for (u32 i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *t = vm->vcpus[i];
		if (!t || t == v)
			continue;
		u64 st = __atomic_load_n(&t->run_state, __ATOMIC_SEQ_CST);
		if ((st & VCPU_MODE_MASK) == VCPU_IN_GUEST)
			wait_run_state_changed(t, st);
	}
}

void vm_make_all_vcpus_request(struct vm *vm, enum vcpu_request r, bool wait)
{
	u64 seen[VM_MAX_VCPUS];

	for (u32 i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *t = vm->vcpus[i];
		seen[i] = 0;
		if (!t)
			continue; /* not built yet, or torn down (vm_destroy) */
		vcpu_request(t, r);
		seen[i] = __atomic_load_n(&t->run_state, __ATOMIC_SEQ_CST);
		vcpu_notify(t);
	}
	if (!wait)
		return;
	/* A vCPU that was in the guest has left it once run_state changes: it exits on the wake IPI whatever the guest
	 * does, and honours the request before it enters again. The target never waits for us, so this cannot deadlock,
	 * even with both CPUs waiting for each other (neither is then in the guest). A guest that keeps its CPU
	 * despite the IPI is kicked out with an NMI (vcpu_kick_nmi). */
	for (u32 i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *t = vm->vcpus[i];
		if (!t || (seen[i] & VCPU_MODE_MASK) != VCPU_IN_GUEST || this_cpu()->vcpu == t)
			continue;
		wait_run_state_changed(t, seen[i]);
	}
}

/* ---- the vCPU's own side ---- */

/* Whether something arrived that the loop must look at before entering or sleeping (the VM's end too: it comes as
 * VCPU_REQ_VM_END). */
static bool has_work(struct vcpu *v)
{
	return __atomic_load_n(&v->requests, __ATOMIC_SEQ_CST);
}

static int handle_requests(struct vcpu *v)
{
	struct mmu *mmu = &v->vm->mmu;

	if (!__atomic_load_n(&v->requests, __ATOMIC_ACQUIRE) && v->mmu.current)
		return 0;
	if (vcpu_test_and_clear_request(v, VCPU_REQ_FREE_OBSOLETE_ROOTS) && mmu_vcpu_free_obsolete_roots(mmu, &v->mmu))
		vcpu_request(v, VCPU_REQ_LOAD_ROOT);
	if (vcpu_test_and_clear_request(v, VCPU_REQ_LOAD_ROOT) || !v->mmu.current) {
		struct shadow_paging p = { .who = v };
		if (mmu->shadow.enabled) {
			vcpu_paging_mode(v, &p.mode);
			p.cr3 = virt_ops->get_cr(v, 3);
		}
		int r = mmu_load_root(mmu, &v->mmu, mmu->shadow.enabled ? &p : NULL);
		if (r)
			return r;
		/* A private VM's hardware root is the table joining its mirror and shared roots (mm/private.h). */
		virt_ops->load_mmu_root(v, mmu_hw_root(mmu, &v->mmu), v->mmu.current->role.level);
		/* Loading a root flushed this context already. */
		vcpu_test_and_clear_request(v, VCPU_REQ_TLB_FLUSH);
	}
	/* After the load: the root to sync is the one the CR3 load made current. A sync that zapped leaves asked for
	 * the flush itself (through the MMU's remote flush, which reaches this vCPU too). */
	if (vcpu_test_and_clear_request(v, VCPU_REQ_MMU_SYNC))
		mmu_shadow_sync_current(mmu, &v->mmu);
	if (vcpu_test_and_clear_request(v, VCPU_REQ_TLB_FLUSH))
		virt_ops->flush_guest_tlb(v);
	if (vcpu_test_and_clear_request(v, VCPU_REQ_STALL_REPORT))
		vcpu_stall_report(v);
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
	/* A fault pushes RFLAGS with RF set, so that the instruction it restarts is not stopped again by an
	 * instruction breakpoint (SDM Vol. 3B 18.3.1.1); VMX and SVM injection push RFLAGS as the guest state holds
	 * it, so the hypervisor sets it, as KVM does. (Real mode's 16-bit FLAGS image has no RF.) */
	else if (exc_is_fault(vector))
		virt_ops->set_rflags(v, virt_ops->get_rflags(v) | RFLAGS_RF);
	virt_ops->inject_event(v, &ev);
}

/* A vCPU is parked while nothing but another vCPU can wake it: waiting for SIPI, halted with interrupts off, or
 * halted with no timer of its own and no device timer armed. Once every vCPU is parked the VM has stopped for good
 * and ends, as a lone vCPU in that state always did. Not before: a vCPU halted with IF = 0 can still be woken by
 * another's NMI or INIT, so it just stays halted, as KVM keeps it (KVM never ends the VM; its userspace may). This
 * is vendor-neutral: both backends' HLT exits (and the emulator's HLT) come here alike. The VM's word counts parked vCPUs in its low half and every
 * unpark in its high half: the vCPU whose park makes the count complete looks for work any vCPU still has to take
 * (a post, a request such as the kick a device line raised), and ends the VM only if nobody unparked meanwhile.
 * Unparking comes before a vCPU takes anything (vcpu_run_loop), so an unchanged word means nothing was taken. */
#define PARK_COUNT_MASK 0xffffffffULL
#define PARK_UNPARK	((1ULL << 32) - 1) /* count - 1, generation + 1 */

static void unpark(struct vcpu *v)
{
	if (!v->parked)
		return;
	v->parked = false;
	__atomic_fetch_add(&v->vm->parked_vcpus, PARK_UNPARK, __ATOMIC_SEQ_CST);
}

static void park(struct vcpu *v, const char *why)
{
	struct vm *vm = v->vm;

	if (v->parked)
		return;
	v->parked = true;
	u64 w = __atomic_add_fetch(&vm->parked_vcpus, 1, __ATOMIC_SEQ_CST);
	if ((w & PARK_COUNT_MASK) != vm->nr_vcpus)
		return;
	for (u32 i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *t = vm->vcpus[i];
		if (inbox_pending(&t->inbox) || __atomic_load_n(&t->requests, __ATOMIC_SEQ_CST))
			return; /* it will wake, unpark, and park again if that was all */
	}
	if (__atomic_load_n(&vm->parked_vcpus, __ATOMIC_SEQ_CST) != w)
		return;
	if (vm->nr_vcpus == 1)
		vm_log(vm, LOG_INFO, "vcpu %u halted %s\n", v->id, why);
	else
		vm_log(vm, LOG_INFO, "all %u vCPUs stopped; the last, vcpu %u, halted %s\n", vm->nr_vcpus, v->id, why);
	vm_end(vm, VM_END_HALTED, 0);
}

/* Sleep until the wake IPI or deadline, unless something arrived meanwhile. */
static void sleep_until(struct vcpu *v, u64 deadline)
{
	vcpu_set_mode(v, VCPU_SLEEPING);
	if (!has_work(v))
		host_idle(deadline);
	vcpu_set_mode(v, VCPU_OUTSIDE_GUEST);
}

/* Real mode at the SIPI's start page, as a waiting AP starts (SDM 9.4.4; "INIT state" values, table 9-1). CR0 has
 * CD and NW clear, unlike the hardware's 0x60000010: caches stay on for guests, and one that turned them off would
 * only slow itself down. */
static void start_at_sipi(struct vcpu *v, u8 vector)
{
	struct vcpu_boot_state st = { 0 };

	for (int i = 0; i < NR_SEGS; i++)
		st.seg[i] = (struct vcpu_segment){ .limit = 0xffff, .attr = 0x93 };
	st.seg[SEG_CS] = (struct vcpu_segment){ .selector = (u16)(vector << 8), .base = (u64)vector << 12,
						.limit = 0xffff, .attr = 0x9b };
	st.seg[SEG_LDTR] = (struct vcpu_segment){ .limit = 0xffff, .attr = 0x82 };
	st.seg[SEG_TR] = (struct vcpu_segment){ .limit = 0xffff, .attr = 0x8b };
	st.gdt.limit = 0xffff;
	st.idt.limit = 0xffff;
	st.cr0 = CR0_ET;
	st.rflags = BIT(1);
	memset(v->regs, 0, sizeof(v->regs));
	v->regs[VCPU_RDX] = cpuid(1).eax; /* the processor signature, as after RESET/INIT */
	virt_ops->vcpu_set_state(v, &st);
	vcpu_request(v, VCPU_REQ_LOAD_ROOT); /* under shadow paging the root follows the guest's mode */
	v->wait_sipi = false;
	v->halted = false;
	v->extint_pending = false;
}

/* INIT, SIPI and NMI, as the inbox handed them to the vLAPIC. */
static void take_lapic_events(struct vcpu *v)
{
	u8 vector;

	if (vlapic_take_init(v->lapic)) {
		/* Every CPU, the BSP too, waits for SIPI after INIT; its old state is gone with the next SIPI. */
		v->wait_sipi = true;
		v->halted = false;
		v->hlt_step = false;
		v->nmi_pending = 0;
	}
	if (vlapic_take_sipi(v->lapic, &vector) && v->wait_sipi)
		start_at_sipi(v, vector);
	/* NMIs that find the vCPU waiting for SIPI are blocked there (SDM 9.4.1), and gone with the INIT that put it
	 * there. Otherwise one NMI may start its delivery and one more be held behind it; while NMIs are blocked (a
	 * handler runs, one is being injected, or a shadow holds them) only the held one: the CPU latches one NMI
	 * (SDM Vol. 3 6.7.1). Those beyond are lost, as on hardware. KVM's process_nmi keeps the same two. */
	unsigned int n = vlapic_take_nmi(v->lapic);
	if (n && !v->wait_sipi) {
		unsigned int limit = virt_ops->nmi_allowed(v) ? 2 : 1;
		v->nmi_pending = (u8)MIN(v->nmi_pending + n, limit);
	}
}

/* The PIC's INTR reaches vCPU 0 through LINT0 in ExtINT mode (or with the LAPIC disabled), and whichever vCPU an
 * IOAPIC pin in ExtINT mode names. */
static bool pic_intr_pending(struct vcpu *v)
{
	return v->vm->devices[VM_DEV_PIC] &&
	       ((v->id == 0 && vlapic_accepts_pic_intr(v->lapic)) ||
		__atomic_load_n(&v->extint_pending, __ATOMIC_ACQUIRE)) &&
	       pic_dev_has_intr(v->vm);
}

/* An NMI goes first, whatever IF says; it wakes a halted vCPU. True if one was injected (nothing else can be). */
static bool deliver_nmi(struct vcpu *v)
{
	if (!v->nmi_pending)
		return false;
	if (!virt_ops->nmi_allowed(v)) {
		virt_ops->set_nmi_window(v, true);
		return false;
	}
	if (vcpu_take_hlt_step(v)) {
		virt_ops->set_nmi_window(v, true); /* the NMI follows the HLT's #DB */
		return false;
	}
	struct vcpu_event ev = { .type = EVENT_NMI, .vector = 2 };
	virt_ops->inject_event(v, &ev);
	/* One more held: it comes once this one's handler has returned (the window follows the IRET). */
	v->nmi_pending--;
	virt_ops->set_nmi_window(v, v->nmi_pending != 0);
	v->halted = false;
	v->stats[VM_STAT_INTR_INJECTED]++;
	return true;
}

/* Under APIC virtualization the CPU delivers the vLAPIC's interrupts itself, at entry or as soon as the guest
 * unblocks them (SDM Vol. 3 30.2), so the loop neither injects them nor asks for window exits: it wakes a halted vCPU
 * that has one to take (HLT exits; the CPU would deliver it to a HLT it ran itself) and loads what the CPU needs. */
static void apicv_prepare(struct vcpu *v)
{
	struct vlapic_apicv_state st;

	if (v->halted && vlapic_pending_vector(v->lapic) >= 0 && virt_ops->interrupt_allowed(v) &&
	    !vcpu_take_hlt_step(v))
		v->halted = false;
	if (!v->lapic->apicv_dirty)
		return; /* what the CPU holds is still what the page says: it changed both together */
	vlapic_apicv_state(v->lapic, &st);
	virt_ops->apicv_load(v, &st);
}

/* Deliver the highest-priority pending interrupt (LAPIC first, then the PIC) if the guest can take it now;
 * otherwise ask for an exit as soon as it can. */
static void deliver_interrupts(struct vcpu *v, u64 now)
{
	struct vcpu_event ev = { .type = EVENT_EXTINT };

	if (v->id == 0 && vm_timers_next(v->vm) <= now)
		vm_timers_run(v->vm, now);
	vlapic_tick(v->lapic, now);
	/* What raised lines and IRR bits up to here is looked at below. */
	v->irq_changed = false;
	v->irq_idle = false;
	if (v->apicv)
		apicv_prepare(v);
	if (deliver_nmi(v)) {
		/* The interrupt waits for the next entry; the window exit comes once the NMI is delivered. Under APICv a
		 * vector waits there too, held as below, while the guest could not take it. */
		bool lapic = vlapic_pending_vector(v->lapic) >= 0 && (!v->apicv || !virt_ops->interrupt_allowed(v));
		if (lapic || pic_intr_pending(v))
			virt_ops->set_intr_window(v, true);
		return;
	}
	int vec = v->apicv ? -1 : vlapic_pending_vector(v->lapic);
	bool pic = vec < 0 && pic_intr_pending(v);
	if (vec < 0 && !pic) {
		/* Under APIC virtualization a vector the guest cannot take yet (IF = 0, an STI or MOV-SS shadow) waits
		 * behind an interrupt-window exit, not in RVI alone. On hardware RVI would do; Bochs 2.7 delivers a
		 * pending virtual interrupt whatever IF says once a host interrupt is pending too (event.cc:
		 * InterruptAcknowledge tests is_pending, not the IF mask, for VMX_VIRTUAL_INTR), and a Linux guest
		 * then takes its timer tick inside an IRQs-off rq-lock section and deadlocks on that lock. With the
		 * window on Bochs signals no virtual interrupt (VMX_Evaluate_Pending_Virtual_Interrupts); the window
		 * exit comes once IF = 1 and the next pass turns it off, so the CPU delivers at that entry. */
		bool hold = v->apicv && !virt_ops->interrupt_allowed(v) && vlapic_pending_vector(v->lapic) >= 0;
		virt_ops->set_intr_window(v, hold);
		v->irq_idle = !v->nmi_pending && !hold;
		return;
	}
	if (!virt_ops->interrupt_allowed(v) || vcpu_take_hlt_step(v)) {
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

/* The earliest moment something may need the vCPU: its LAPIC timer, and on vCPU 0 the device timers and the
 * working-set scan. */
static __always_inline u64 next_deadline(struct vcpu *v)
{
	u64 d = vlapic_next_deadline(v->lapic);

	if (v->id == 0) { /* MIN evaluates its arguments twice: each call once */
		u64 timers = vm_timers_next(v->vm), scan = __atomic_load_n(&v->vm->ws_next, __ATOMIC_RELAXED);
		u64 stall = __atomic_load_n(&v->vm->stall_next, __ATOMIC_RELAXED);
		d = MIN(d, MIN(timers, MIN(scan, stall)));
	}
	return d;
}

/* Keys typed on the host serial line go to the VM that holds the input, through its vCPU 0, or to the monitor
 * (vm/conmux.h). Polled, at most every CONSOLE_POLL_CYCLES of TSC, so a busy guest does not pay for it on every
 * exit; a byte the guest's FIFO had no room for waits in the multiplexer, and the rest in the host UART, until the
 * guest reads: pasted text arrives whole instead of overrunning a 16-byte FIFO. */
#define CONSOLE_POLL_CYCLES (tsc_hz / 1000)
static __always_inline bool polls_console(struct vcpu *v)
{
	return v->id == 0 && conmux_polls(v->vm);
}

static void poll_console_input(struct vcpu *v, u64 now)
{
	if (!polls_console(v) || now - v->console_polled < CONSOLE_POLL_CYCLES)
		return;
	v->console_polled = now;
	conmux_poll(v->vm);
}

/* HLT: sleep until an interrupt could be delivered. With interrupts off only INIT (or an NMI) would wake it; with
 * no timer and no other source nothing would; either way it parks. vCPU 0 still fires the device timers, which
 * may interrupt the other vCPUs, and still polls the console. */
static void wait_while_halted(struct vcpu *v)
{
	struct vm *vm = v->vm;
	/* Blocked by an NMI in progress, a pending NMI still counts: it comes once that one's IRET has run. */
	bool intr_off = !(virt_ops->get_rflags(v) & RFLAGS_IF) && !v->nmi_pending;
	u64 own = intr_off ? ~0ULL : vlapic_next_deadline(v->lapic), deadline = own;
	bool devices = vm_timers_next(vm) != ~0ULL; /* a device timer may interrupt any vCPU (IOAPIC routing) */

	/* vCPU 0 fires the device timers whatever its own state, while another vCPU may need them. */
	if (v->id == 0 && (!intr_off || vm->nr_vcpus > 1)) {
		/* Once each: MIN evaluates its arguments twice. */
		u64 timers = vm_timers_next(vm), scan = __atomic_load_n(&vm->ws_next, __ATOMIC_RELAXED);
		u64 stall = __atomic_load_n(&vm->stall_next, __ATOMIC_RELAXED);
		deadline = MIN(deadline, MIN(timers, MIN(scan, stall)));
	}
	if (polls_console(v) && !intr_off)
		deadline = MIN(deadline, rdtsc() + CONSOLE_POLL_CYCLES);
	if (intr_off)
		park(v, "with interrupts disabled");
	else if (own == ~0ULL && !devices && !polls_console(v))
		park(v, "with no timer armed and no interrupt source");
	sleep_until(v, deadline);
}

/* After INIT: only a SIPI makes it run. vCPU 0 (the guest may INIT its BSP too) still fires the device timers,
 * which other vCPUs may depend on. */
static void wait_for_sipi(struct vcpu *v, u64 now)
{
	u64 deadline = ~0ULL;

	if (v->id == 0 && v->vm->nr_vcpus > 1)
		deadline = vm_timers_run(v->vm, now);
	park(v, "waiting for SIPI");
	sleep_until(v, deadline);
}

/* The deadline may_reenter_fast checks, as this pass leaves them: the host timer's (next_deadline, which has vCPU 0's
 * device timers, scan and stall check), the console poll, and the stall check every vCPU makes. None of them can come
 * earlier behind the vCPU's back: the scan's and the stall check's deadlines only ever move later, and a device
 * timer armed earlier than the rest kicks vCPU 0 (vtimer_arm), on its own CPU through irq_changed. */
static __always_inline void set_fast_until(struct vcpu *v, u64 deadline)
{
	if (polls_console(v))
		deadline = MIN(deadline, v->console_polled + CONSOLE_POLL_CYCLES);
	v->fast_until = MIN(deadline, __atomic_load_n(&v->vm->stall_next, __ATOMIC_RELAXED));
}

/* vm/run_inner.h: a simple exit that moved the vLAPIC timer: armed as the full pass would. */
void vcpu_fast_rearm(struct vcpu *v)
{
	u64 deadline = next_deadline(v);

	host_timer_arm(deadline);
	set_fast_until(v, deadline);
	v->timer_moved = false;
}

void vcpu_exit_failed(struct vcpu *v, int r)
{
	if (!v->vm->ended) {
		vm_log(v->vm, LOG_ERR, "vcpu %u: exit handler failed (%d)\n", v->id, r);
		vm_end(v->vm, VM_END_INTERNAL_ERROR, (u64)r);
	}
}

int vcpu_run_loop(struct vcpu *v)
{
	struct vm *vm = v->vm;
	u64 exited_at = 0; /* the TSC when the guest last exited, until that exit's cost is counted */

	__atomic_store_n(&v->cpu, this_cpu(), __ATOMIC_RELEASE);
	this_cpu()->vcpu = v;
	while (!__atomic_load_n(&vm->ended, __ATOMIC_ACQUIRE)) {
		unpark(v);
		if (vcpu_test_and_clear_request(v, VCPU_REQ_KICK))
			vcpu_lapic_drain_inbox(v);
		if (vlapic_core_events(v->lapic))
			take_lapic_events(v);
		int r = handle_requests(v);
		if (r) {
			vm_log(vm, LOG_ERR, "vcpu %u: cannot load an MMU root (%d)\n", v->id, r);
			vm_end(vm, VM_END_INTERNAL_ERROR, (u64)r);
			break;
		}
		u64 now = rdtsc();
		/* An exit's cost: its handler and what it asked for (a root load, a sync) above, two TSC reads apart. */
		if (exited_at) {
			v->exit_cycles[v->exit.reason] += now - exited_at;
			exited_at = 0;
		}
		if (v->wait_sipi) {
			wait_for_sipi(v, now);
			continue;
		}
		poll_console_input(v, now);
		if (v->id == 0 && now >= __atomic_load_n(&vm->ws_next, __ATOMIC_RELAXED))
			ws_run(vm); /* the working-set scan */
		if (unlikely(now >= __atomic_load_n(&vm->stall_next, __ATOMIC_RELAXED)))
			vm_stall_check(v, now);
		deliver_interrupts(v, now);
		if (v->halted) {
			wait_while_halted(v);
			continue;
		}
		u64 deadline = next_deadline(v);
		host_timer_arm(deadline);
		set_fast_until(v, deadline);
		v->timer_moved = false;
		/* The backend's instance of vm/run_inner.h: back here for the next exit that needs this pass. */
		r = virt_ops->vcpu_run(v, &exited_at);
		if (r > 0)
			continue;
		if (r) {
			vm_log(vm, LOG_ERR, "vcpu %u: backend failure %d\n", v->id, r);
			vm_end(vm, VM_END_INTERNAL_ERROR, (u64)r);
			break;
		}
	}
	unpark(v);
	wait_others_left_guest(v);
	host_timer_arm(~0ULL);
	this_cpu()->vcpu = NULL;
	__atomic_store_n(&v->cpu, NULL, __ATOMIC_RELEASE);
	vm_console_flush(vm);
	return 0;
}
