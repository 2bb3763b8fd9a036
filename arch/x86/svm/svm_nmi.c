/* NMI blocking on SVM. The CPU blocks NMIs from the delivery of one to the next IRET, but without vNMI the VMCB does
 * not show that state, so it is tracked here (as KVM does): injecting an NMI masks further ones and turns on the IRET
 * intercept; the intercepted IRET has not run yet, so NMIs unmask at the first exit whose RIP has moved past it. A
 * pending NMI waiting for that asks for an early exit with the host timer, bounding its latency without
 * single-stepping the guest. */
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/svm/svm.h"
#include "arch/x86/svm/vmcb.h"
#include "arch/x86/virt.h"
#include "drivers/timer.h"
#include "kernel/percpu.h"
#include "vm/vm.h"

#define IRET_POLL_US 20 /* how soon after an intercepted IRET a pending NMI looks again */

void svm_set_intercept_misc1(struct svm_vcpu *s, u32 bit, bool on)
{
	struct vmcb_control *c = &s->vmcb->control;
	u32 misc1 = on ? c->intercept_misc1 | bit : c->intercept_misc1 & ~bit;

	if (misc1 != c->intercept_misc1) {
		c->intercept_misc1 = misc1;
		c->clean &= ~VMCB_CLEAN_INTERCEPTS;
	}
}

/* After every exit, before anything is injected: an NMI whose delivery the exit interrupted is still masked. */
void svm_nmi_after_exit(struct vcpu *v)
{
	struct svm_vcpu *s = to_svm(v);

	if (s->vmcb->control.exit_code == SVM_EXIT_IRET) {
		svm_set_intercept_misc1(s, SVM_INTERCEPT_IRET, false);
		s->awaiting_iret = true;
		s->iret_rip = s->vmcb->save.rip;
		return;
	}
	if (s->awaiting_iret && s->vmcb->save.rip != s->iret_rip) {
		s->awaiting_iret = false;
		s->nmi_masked = false;
	}
}

void svm_nmi_before_entry(struct vcpu *v)
{
	struct svm_vcpu *s = to_svm(v);

	/* Blocked by the IRET still to run, by an interrupt shadow, or by an event being injected: all end within a
	 * few guest instructions, but nothing would make the guest exit then. */
	if (s->nmi_window && (s->awaiting_iret || !s->nmi_masked))
		host_timer_arm(MIN(this_cpu()->host_timer_deadline, rdtsc() + tsc_hz / 1000000 * IRET_POLL_US));
}

void svm_nmi_reset(struct vcpu *v)
{
	struct svm_vcpu *s = to_svm(v);

	s->nmi_masked = s->awaiting_iret = s->nmi_window = false;
	svm_set_intercept_misc1(s, SVM_INTERCEPT_IRET, false);
}

bool svm_nmi_allowed(struct vcpu *v)
{
	struct svm_vcpu *s = to_svm(v);

	if (s->vmcb->control.event_inj & SVM_EVTINJ_VALID)
		return false;
	return !s->nmi_masked && !(s->vmcb->control.int_state & SVM_INTERRUPT_SHADOW);
}

void svm_set_nmi_window(struct vcpu *v, bool on)
{
	to_svm(v)->nmi_window = on;
}
