/* NMI blocking on SVM. The CPU blocks NMIs from the delivery of one to the next IRET (SDM Vol. 3 6.7.1, APM Vol. 2
 * 8.2.3), but without vNMI the VMCB does not show that state, so it is tracked here, as KVM does: injecting an NMI
 * masks further ones and turns on the IRET intercept. The intercepted IRET has not run yet, and NMIs unmask only
 * once it has. When an NMI is waiting for that, the guest is single-stepped over the IRET (RFLAGS.TF, #DB is always
 * intercepted): the step's #DB exit comes right after the IRET, before any instruction of the code it returns to,
 * so the held NMI is delivered exactly where hardware would deliver it. Without a waiting NMI nothing is stepped,
 * and the first exit whose RIP has moved past the IRET unmasks.
 *
 * Our TF is in the guest's RFLAGS only while the guest runs, and only at the IRET: every exit with RIP still at
 * the IRET takes it out again (an exit in between, such as an NPF on the IRET's stack read, then sees the guest's
 * flags), and the IRET itself replaces RFLAGS with the popped image, so nothing of it survives the step. What still
 * differs from hardware, as in KVM: an IRET that faults delivers its fault with our TF in the pushed RFLAGS, and the
 * next exit from that handler unmasks NMIs early.
 *
 * Blocking by an interrupt shadow with IF = 1 (every STI shadow, and a MOV-SS one with interrupts on) ends exactly
 * where a virtual interrupt could be taken: V_IRQ with the VINTR intercept exits at that boundary, before the next
 * instruction, and the NMI goes in there, as on hardware.
 *
 * Blocking by an event being injected ends once it is delivered: the NMI comes at the first instruction boundary of
 * its handler, before the handler's first instruction (SDM Vol. 3 6.9: the NMI is recognised at the next boundary;
 * an exception or trap of the instruction before, or an injected event, goes first). Stepping there would push TF
 * with the event, so the exit is made as KVM's immediate exit makes it: a self-IPI sent with interrupts off is
 * pending at VMRUN, and the INTR intercept exits at the first boundary where the CPU takes interrupts, which is
 * right after the injected event's delivery (the IPI itself is taken by the extint exit). A MOV-SS shadow with
 * IF = 0 gets the same immediate exit: where the CPU holds physical interrupts across the guest's shadow, the exit
 * comes right after the instruction the shadow covers, where hardware takes the NMI. Where it does not (the APM
 * leaves it open), the exit comes before that instruction and would come again at each entry: the first such exit shows it, and from then on that
 * case falls back to an exit the host timer forces within IRET_POLL_US (so does the event case, should a CPU take
 * the interrupt before delivering the event), which may let the guest run on a few instructions (as does the NT
 * IRET, whose step a switch the CPU makes itself would save in a TSS). KVM single-steps that shadow instead, which
 * pushes TF wherever the covered instruction pushes RFLAGS. Bochs' SVM also lets the guest's IF = 0 hold back the
 * host interrupt (V_INTR_MASKING should leave it to the host's IF): there the exit waits for IF = 1. */
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/svm/svm.h"
#include "arch/x86/svm/vmcb.h"
#include "arch/x86/virt.h"
#include "drivers/timer.h"
#include "hv/log.h"
#include "kernel/percpu.h"
#include "vm/vm.h"

#define IRET_POLL_US 20 /* how soon after an injection or a shadow a pending NMI looks again */
#define RFLAGS_TF    BIT(8)
#define RFLAGS_NT    BIT(14)
#define DR6_BS	     BIT(14)
#define DR6_B0_3     0xfULL

/* The CPU exits for a pending interrupt before an injected event is delivered (event), or before the instruction a
 * guest interrupt shadow covers (shadow): each set at the first exit that shows it, on any CPU (all of one model). */
static bool kick_early_event, kick_early_shadow;

void svm_set_intercept_misc1(struct svm_vcpu *s, u32 bit, bool on)
{
	struct vmcb_control *c = &s->vmcb->control;
	u32 misc1 = on ? c->intercept_misc1 | bit : c->intercept_misc1 & ~bit;

	if (misc1 != c->intercept_misc1) {
		c->intercept_misc1 = misc1;
		c->clean &= ~VMCB_CLEAN_INTERCEPTS;
	}
}

void svm_apply_vintr(struct svm_vcpu *s)
{
	struct vmcb_control *c = &s->vmcb->control;
	bool on = s->intr_window || s->nmi_vintr;
	u32 misc1 = on ? c->intercept_misc1 | SVM_INTERCEPT_VINTR : c->intercept_misc1 & ~SVM_INTERCEPT_VINTR;
	u32 ctl = on ? c->int_ctl | V_IRQ | V_IGN_TPR : c->int_ctl & ~(V_IRQ | V_IGN_TPR);

	if (misc1 != c->intercept_misc1) {
		c->intercept_misc1 = misc1;
		c->clean &= ~VMCB_CLEAN_INTERCEPTS;
	}
	if (ctl != c->int_ctl) {
		c->int_ctl = ctl;
		c->clean &= ~VMCB_CLEAN_INTR;
	}
}

static void unmask(struct svm_vcpu *s)
{
	s->awaiting_iret = false;
	s->nmi_masked = false;
}

/* The first exit after the step began. Returns true when it is the step's own #DB, which the guest must not see. */
static bool end_singlestep(struct svm_vcpu *s)
{
	struct vmcb_save *sv = &s->vmcb->save;
	bool db = s->vmcb->control.exit_code == SVM_EXIT_EXCP_BASE + 1;

	s->nmi_singlestep = false;
	/* The IRET ran if RIP moved, or if the trap set BS (an IRET may return to itself). */
	if (sv->rip == s->iret_rip && !(db && (sv->dr6 & ~s->nmi_step_dr6 & DR6_BS))) {
		/* The IRET has not run (an exit before it): the flags are still the guest's plus our TF. */
		if (!s->nmi_step_guest_tf)
			sv->rflags &= ~RFLAGS_TF;
		return false;
	}
	/* The IRET ran and loaded RFLAGS from its stack: our TF went with it. */
	unmask(s);
	if (!db)
		return false;
	/* A breakpoint the IRET hit, or the guest's own single-step, is the guest's #DB: reflect it, with BS only if
	 * the guest's TF asked for it. Else the trap is ours alone, and DR6 goes back to what the guest left there. */
	if (s->nmi_step_guest_tf || (sv->dr6 & ~s->nmi_step_dr6 & DR6_B0_3)) {
		if (!s->nmi_step_guest_tf)
			sv->dr6 = (sv->dr6 & ~DR6_BS) | (s->nmi_step_dr6 & DR6_BS);
		return false;
	}
	sv->dr6 = s->nmi_step_dr6;
	return true;
}

/* The exit after an immediate exit was asked for, seen at the next entry (the VMCB still holds it; an INTR exit moves
 * neither RIP nor the shadow), out of line: the common entry pays one load and a branch. If it is an interrupt's (our self-IPI's, or another one, as
 * good a witness) and the guest made no progress, the event is still to be delivered, or RIP is still at the
 * instruction the shadow covers, in the shadow: this CPU exits too early for that case, which polls from now on. */
static __attribute__((noinline, cold)) void check_kick(struct svm_vcpu *s)
{
	const struct vmcb_control *c = &s->vmcb->control;
	bool *early = NULL;

	s->nmi_kicked = false;
	if (c->exit_code != SVM_EXIT_INTR)
		return;
	if (c->exit_int_info & SVM_EVTINJ_VALID)
		early = &kick_early_event;
	else if (s->vmcb->save.rip == s->nmi_kick_rip && (c->int_state & SVM_INTERRUPT_SHADOW))
		early = &kick_early_shadow;
	if (early && !__atomic_exchange_n(early, true, __ATOMIC_RELAXED))
		pr_info("hv: svm: this CPU exits for an interrupt before %s: an NMI held there waits up to %u us for the "
			"host timer\n",
			early == &kick_early_event ? "an injected event is delivered" : "a guest interrupt shadow ends",
			IRET_POLL_US);
}

/* After every exit, before anything is injected: an NMI whose delivery the exit interrupted is still masked.
 * Returns true when the exit was the single-step trap over the IRET: the caller treats it as an NMI window. */
bool svm_nmi_after_exit(struct vcpu *v)
{
	struct svm_vcpu *s = to_svm(v);

	if (s->nmi_singlestep && end_singlestep(s))
		return true;
	if (s->vmcb->control.exit_code == SVM_EXIT_IRET) {
		svm_set_intercept_misc1(s, SVM_INTERCEPT_IRET, false);
		s->awaiting_iret = true;
		s->iret_rip = s->vmcb->save.rip;
		return false;
	}
	if (s->awaiting_iret && s->vmcb->save.rip != s->iret_rip)
		unmask(s);
	return false;
}

/* The NMI waits only for an interrupt shadow with interrupts on: the VINTR window marks its end. */
static bool shadow_window(const struct svm_vcpu *s)
{
	return !s->nmi_masked && !s->awaiting_iret && !(s->vmcb->control.event_inj & SVM_EVTINJ_VALID) &&
	       (s->vmcb->control.int_state & SVM_INTERRUPT_SHADOW) && (s->vmcb->save.rflags & RFLAGS_IF);
}

/* An NMI is pending and no VINTR window will bring it: step over the IRET, or ask for the immediate exit, or poll. */
static __attribute__((noinline)) void nmi_blocked_entry(struct svm_vcpu *s)
{
	struct vmcb_save *sv = &s->vmcb->save;

	if (unlikely(s->nmi_kicked))
		check_kick(s);
	/* Not over an IRET with NT set: it switches tasks (or faults, in long mode), and a switch the CPU performs
	 * itself (QEMU's TCG does) saves our TF in the outgoing task's TSS, to trap when that task next runs. */
	if (s->awaiting_iret && !(s->vmcb->control.event_inj & SVM_EVTINJ_VALID) && !(sv->rflags & RFLAGS_NT)) {
		/* Step over the IRET: its #DB trap exits right after it (SDM 17.3.1.4, APM 13.1.1.4). */
		s->nmi_singlestep = true;
		s->nmi_step_guest_tf = sv->rflags & RFLAGS_TF;
		s->nmi_step_dr6 = sv->dr6;
		sv->rflags |= RFLAGS_TF;
		return;
	}
	if (s->nmi_masked && !s->awaiting_iret)
		return; /* the handler runs: its IRET exits */
	/* Blocked by an event being injected or a MOV-SS shadow with IF = 0 (NMIs unmasked): the immediate exit. */
	bool *early = (s->vmcb->control.event_inj & SVM_EVTINJ_VALID) ? &kick_early_event : &kick_early_shadow;
	if (!s->awaiting_iret && !__atomic_load_n(early, __ATOMIC_RELAXED)) {
		s->nmi_kicked = true;
		s->nmi_kick_rip = sv->rip;
		lapic_send_wake_self();
		return;
	}
	/* The IRET waits behind an event being injected, or is a task switch; or the immediate exit would come too
	 * early on this CPU: each ends within a few guest instructions, but nothing would make the guest exit then. */
	host_timer_arm(MIN(this_cpu()->host_timer_deadline, rdtsc() + tsc_hz / 1000000 * IRET_POLL_US));
}

void svm_nmi_before_entry(struct vcpu *v)
{
	struct svm_vcpu *s = to_svm(v);
	bool vintr = s->nmi_window && shadow_window(s);

	if (vintr != s->nmi_vintr) {
		s->nmi_vintr = vintr;
		svm_apply_vintr(s);
	}
	/* The rest out of line, as tail calls: the common entry (no NMI pending) pays two tests and keeps no frame. */
	if (s->nmi_window && !vintr)
		nmi_blocked_entry(s);
	else if (unlikely(s->nmi_kicked))
		check_kick(s);
}

void svm_nmi_reset(struct vcpu *v)
{
	struct svm_vcpu *s = to_svm(v);

	s->nmi_masked = s->awaiting_iret = s->nmi_window = s->nmi_singlestep = s->nmi_kicked = false;
	svm_set_intercept_misc1(s, SVM_INTERCEPT_IRET, false);
	if (s->nmi_vintr) {
		s->nmi_vintr = false;
		svm_apply_vintr(s);
	}
}

bool svm_nmi_allowed(struct vcpu *v)
{
	struct svm_vcpu *s = to_svm(v);

	/* The hypervisor itself completed the IRET (an emulated task switch moved RIP). */
	if (s->awaiting_iret && s->vmcb->save.rip != s->iret_rip)
		unmask(s);
	if (s->vmcb->control.event_inj & SVM_EVTINJ_VALID)
		return false;
	return !s->nmi_masked && !(s->vmcb->control.int_state & SVM_INTERRUPT_SHADOW);
}

void svm_set_nmi_window(struct vcpu *v, bool on)
{
	to_svm(v)->nmi_window = on;
}
