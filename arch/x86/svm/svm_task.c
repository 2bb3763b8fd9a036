/* The TASK_SWITCH intercept on SVM (APM Vol. 2 chapter 15, "Task Switch Intercept"): EXITINFO1 holds the new TSS's
 * selector; EXITINFO2 bit 36 says IRET, bit 38 JMP, bit 44 that an error code goes with the exception being
 * delivered, in bits 31:0. Neither bit with EXITINTINFO valid is a task gate the event went
 * through; neither bit without it is a CALL. The intercept has fault semantics and no next RIP: RIP is still at the
 * switching instruction, whose length the generic side decodes. The event in EXITINTINFO is delivered by the
 * emulated switch, so it is not re-injected (svm_run.c), as in KVM's task_switch_interception. */
#include "arch/x86/svm/svm.h"
#include "vm/emulate/task_switch.h"

#define TS_EXITINFO2_IRET      BIT(36)
#define TS_EXITINFO2_JMP       BIT(38)
#define TS_EXITINFO2_HAS_ERROR BIT(44)

void svm_decode_task_switch(struct vcpu *v)
{
	struct svm_vcpu *s = to_svm(v);
	struct vmcb_control *c = &s->vmcb->control;
	struct vm_exit *e = &v->exit;
	u32 info = c->exit_int_info, type = info & SVM_EVTINJ_TYPE_MASK, vec = info & 0xff;
	bool gate = info & SVM_EVTINJ_VALID;

	e->reason = EXIT_TASK_SWITCH;
	e->task.sel = (u16)c->exit_info_1;
	e->task.soft_vector = -1;
	e->task.exc_vector = -1;
	e->task.skip = true;
	if (c->exit_info_2 & TS_EXITINFO2_IRET)
		e->task.source = TS_IRET;
	else if (c->exit_info_2 & TS_EXITINFO2_JMP)
		e->task.source = TS_JMP;
	else
		e->task.source = gate ? TS_GATE : TS_CALL;
	if (e->task.source == TS_GATE) {
		switch (type) {
		case SVM_EVTINJ_TYPE_NMI:
			/* Injected by us, which masked NMIs until the IRET (svm_nmi.c); the switch delivers it. */
			e->task.skip = false;
			break;
		case SVM_EVTINJ_TYPE_EXEPT:
			e->task.has_error = c->exit_info_2 & TS_EXITINFO2_HAS_ERROR;
			e->task.error_code = (u32)c->exit_info_2;
			/* INT3 and INTO are exceptions here, but the old task resumes after them. */
			e->task.skip = vec == 3 || vec == 4;
			e->task.exc_vector = (int)vec;
			break;
		case SVM_EVTINJ_TYPE_SOFT:
			e->task.soft_vector = (int)vec;
			break;
		default:
			e->task.skip = false;
			break;
		}
	}
	/* IRET unblocks NMIs, a task-returning one too (SDM Vol. 3A 6.7.1): no need to wait for RIP to move. */
	if (e->task.source == TS_IRET && s->nmi_masked) {
		s->nmi_masked = s->awaiting_iret = false;
		svm_set_intercept_misc1(s, SVM_INTERCEPT_IRET, false);
	}
}
