/* NMI blocking on SVM without vNMI (arch/x86/svm/svm_nmi.c): the IRET intercept, the single step over the IRET when
 * an NMI waits, and which #DB exits are the step's own (hidden) or the guest's (reflected), on a VMCB in memory.
 * this_cpu() reads %gs:0, so GS points at a fake struct percpu (arch_prctl), for the host-timer poll. */
#include <asm/prctl.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "arch/x86/svm/svm.h"
#include "arch/x86/virt.h"
#include "kernel/percpu.h"
#include "test.h"

u64 tsc_hz = 1000000000;
static int polls, kicks;
void host_timer_arm(u64 deadline)
{
	(void)deadline;
	polls++;
}
/* The immediate exit's self-IPI. */
void lapic_send_wake_self(void)
{
	kicks++;
}
static struct percpu fake_cpu;

#define TF	 (1ULL << 8)
#define IF	 (1ULL << 9)
#define DR6_BS	 (1ULL << 14)
#define DR6_INIT 0xffff0ff0ULL
#define IRET_AT	 0x1000
#define RET_TO	 0x2000

static struct vmcb vmcb;
static struct svm_vcpu svm;
static struct vcpu vcpu;

static struct vcpu *setup(void)
{
	memset(&vmcb, 0, sizeof(vmcb));
	memset(&svm, 0, sizeof(svm));
	memset(&vcpu, 0, sizeof(vcpu));
	svm.vmcb = &vmcb;
	vcpu.arch = &svm;
	vmcb.save.dr6 = DR6_INIT;
	vmcb.save.rflags = 0x2;
	polls = kicks = 0;
	fake_cpu.self = &fake_cpu;
	fake_cpu.host_timer_deadline = ~0ULL;
	CHECK_EQ(syscall(SYS_arch_prctl, ARCH_SET_GS, &fake_cpu), 0);
	return &vcpu;
}

/* What svm_inject_event does for an NMI; the guest then runs its handler up to the IRET. */
static void nmi_injected(struct vcpu *v)
{
	svm.nmi_masked = true;
	svm.awaiting_iret = false;
	svm_set_intercept_misc1(&svm, SVM_INTERCEPT_IRET, true);
}

static bool exit_at(struct vcpu *v, u64 code, u64 rip)
{
	vmcb.control.exit_code = code;
	vmcb.save.rip = rip;
	return svm_nmi_after_exit(v);
}

/* The handler's IRET with a second NMI held: the IRET is stepped, its #DB is hidden and NMIs open right there. */
TEST(nmi_held_comes_right_after_iret)
{
	struct vcpu *v = setup();

	nmi_injected(v);
	CHECK(vmcb.control.intercept_misc1 & SVM_INTERCEPT_IRET);
	CHECK(!svm_nmi_allowed(v));
	svm_set_nmi_window(v, true); /* the second NMI arrived inside the handler */
	svm_nmi_before_entry(v);
	CHECK(!(vmcb.save.rflags & TF)); /* nothing to step before the IRET is reached */
	CHECK(!exit_at(v, SVM_EXIT_IRET, IRET_AT));
	CHECK(!(vmcb.control.intercept_misc1 & SVM_INTERCEPT_IRET));
	CHECK(!svm_nmi_allowed(v)); /* the IRET has not run */
	svm_nmi_before_entry(v);
	CHECK(vmcb.save.rflags & TF);
	CHECK_EQ(polls, 0);
	/* The IRET ran: RFLAGS popped (IF=1, TF=0), DR6.BS set by the trap. */
	vmcb.save.rflags = IF | 0x2;
	vmcb.save.dr6 = DR6_INIT | DR6_BS;
	CHECK(exit_at(v, SVM_EXIT_EXCP_BASE + 1, RET_TO));
	CHECK_EQ(vmcb.save.dr6, DR6_INIT);
	CHECK_EQ(vmcb.save.rflags, IF | 0x2);
	CHECK(svm_nmi_allowed(v));
	CHECK(!svm.nmi_singlestep);
}

/* A frame that returns to the IRET itself: RIP does not move, but the trap's BS says the IRET ran. */
TEST(nmi_step_iret_to_itself)
{
	struct vcpu *v = setup();

	nmi_injected(v);
	svm_set_nmi_window(v, true);
	exit_at(v, SVM_EXIT_IRET, IRET_AT);
	svm_nmi_before_entry(v);
	vmcb.save.rflags = 0x2;
	vmcb.save.dr6 = DR6_INIT | DR6_BS;
	CHECK(exit_at(v, SVM_EXIT_EXCP_BASE + 1, IRET_AT));
	CHECK_EQ(vmcb.save.dr6, DR6_INIT);
	CHECK(svm_nmi_allowed(v));
}

/* An exit before the IRET runs (an NPF on its stack read) sees the guest's flags, and the step starts again. */
TEST(nmi_step_interrupted_before_iret)
{
	struct vcpu *v = setup();

	nmi_injected(v);
	svm_set_nmi_window(v, true);
	exit_at(v, SVM_EXIT_IRET, IRET_AT);
	svm_nmi_before_entry(v);
	CHECK(vmcb.save.rflags & TF);
	CHECK(!exit_at(v, SVM_EXIT_NPF, IRET_AT));
	CHECK(!(vmcb.save.rflags & TF));
	CHECK(!svm_nmi_allowed(v));
	svm_nmi_before_entry(v);
	CHECK(vmcb.save.rflags & TF);
	vmcb.save.rflags = 0x2;
	CHECK(exit_at(v, SVM_EXIT_EXCP_BASE + 1, RET_TO));
	CHECK(svm_nmi_allowed(v));
}

/* The guest single-steps its own handler: the #DB after the IRET is its own and keeps BS. */
TEST(nmi_step_guest_tf_reflected)
{
	struct vcpu *v = setup();

	nmi_injected(v);
	svm_set_nmi_window(v, true);
	vmcb.save.rflags = TF | 0x2;
	exit_at(v, SVM_EXIT_IRET, IRET_AT);
	svm_nmi_before_entry(v);
	vmcb.save.dr6 = DR6_INIT | DR6_BS;
	CHECK(!exit_at(v, SVM_EXIT_EXCP_BASE + 1, RET_TO));
	CHECK(vmcb.save.dr6 & DR6_BS);
	CHECK(svm_nmi_allowed(v));
}

/* A data breakpoint the IRET's stack read hit is reported to the guest, without the BS our step added. */
TEST(nmi_step_breakpoint_reflected)
{
	struct vcpu *v = setup();

	nmi_injected(v);
	svm_set_nmi_window(v, true);
	exit_at(v, SVM_EXIT_IRET, IRET_AT);
	svm_nmi_before_entry(v);
	vmcb.save.rflags = 0x2;
	vmcb.save.dr6 = DR6_INIT | DR6_BS | 0x2;
	CHECK(!exit_at(v, SVM_EXIT_EXCP_BASE + 1, RET_TO));
	CHECK_EQ(vmcb.save.dr6, DR6_INIT | 0x2);
	CHECK(svm_nmi_allowed(v));
}

/* No NMI waiting: nothing is stepped, and the first exit past the IRET unmasks. */
TEST(nmi_no_step_without_pending)
{
	struct vcpu *v = setup();

	nmi_injected(v);
	exit_at(v, SVM_EXIT_IRET, IRET_AT);
	svm_nmi_before_entry(v);
	CHECK(!(vmcb.save.rflags & TF));
	CHECK(!exit_at(v, SVM_EXIT_INTR, IRET_AT));
	CHECK(!svm_nmi_allowed(v));
	CHECK(!exit_at(v, SVM_EXIT_HLT, RET_TO + 5));
	CHECK(svm_nmi_allowed(v));
}

/* An event being injected at the IRET would push our TF, and an IRET with NT set switches tasks (a CPU that does it
 * itself saves TF in the old TSS): no step then, the host timer polls instead. */
TEST(nmi_no_step_under_injection_or_nt)
{
	struct vcpu *v = setup();

	nmi_injected(v);
	svm_set_nmi_window(v, true);
	exit_at(v, SVM_EXIT_IRET, IRET_AT);
	vmcb.control.event_inj = SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | 13;
	svm_nmi_before_entry(v);
	CHECK(!svm.nmi_singlestep && !(vmcb.save.rflags & TF));
	CHECK_EQ(polls, 1);
	vmcb.control.event_inj = 0;
	vmcb.save.rflags |= 1ULL << 14; /* NT */
	svm_nmi_before_entry(v);
	CHECK(!svm.nmi_singlestep && !(vmcb.save.rflags & TF));
	CHECK_EQ(polls, 2);
	vmcb.save.rflags &= ~(1ULL << 14);
	svm_nmi_before_entry(v);
	CHECK(svm.nmi_singlestep && (vmcb.save.rflags & TF));
	CHECK_EQ(polls, 2);
}

/* Blocked only by an interrupt shadow with IF = 0 (MOV SS): no step, the immediate exit. Nothing pending: neither. */
TEST(nmi_shadow_kicks)
{
	struct vcpu *v = setup();

	svm_nmi_before_entry(v);
	CHECK_EQ(polls + kicks, 0);
	vmcb.control.int_state = SVM_INTERRUPT_SHADOW;
	CHECK(!svm_nmi_allowed(v));
	svm_set_nmi_window(v, true);
	svm_nmi_before_entry(v);
	CHECK_EQ(kicks, 1);
	CHECK_EQ(polls, 0);
	CHECK(!(vmcb.save.rflags & TF));
	CHECK(!(vmcb.control.int_ctl & V_IRQ));
}

/* Blocked by a shadow with IF = 1 (STI's): the VINTR window exits where the shadow ends, no poll; once the NMI is
 * in, V_IRQ goes unless the core wants its own interrupt window, which it keeps. */
TEST(nmi_sti_shadow_vintr_window)
{
	struct vcpu *v = setup();

	vmcb.save.rflags |= IF;
	vmcb.control.int_state = SVM_INTERRUPT_SHADOW;
	svm_set_nmi_window(v, true);
	svm_nmi_before_entry(v);
	CHECK_EQ(polls, 0);
	CHECK(vmcb.control.int_ctl & V_IRQ);
	CHECK(vmcb.control.intercept_misc1 & SVM_INTERCEPT_VINTR);
	svm.intr_window = false; /* svm_set_intr_window(v, false): the core has no interrupt; the NMI's window stays */
	svm_apply_vintr(&svm);
	CHECK(vmcb.control.int_ctl & V_IRQ);
	/* The VINTR exit: the shadow is over, the NMI goes in and nothing more is pending. */
	vmcb.control.int_state = 0;
	CHECK(svm_nmi_allowed(v));
	svm_set_nmi_window(v, false);
	svm_nmi_before_entry(v);
	CHECK(!(vmcb.control.int_ctl & V_IRQ));
	CHECK(!(vmcb.control.intercept_misc1 & SVM_INTERCEPT_VINTR));
	/* With the core's own window asked for, V_IRQ stays after the NMI's ends. */
	vmcb.control.int_state = SVM_INTERRUPT_SHADOW;
	svm_set_nmi_window(v, true);
	svm_nmi_before_entry(v);
	svm.intr_window = true;
	svm_apply_vintr(&svm);
	vmcb.control.int_state = 0;
	svm_set_nmi_window(v, false);
	svm_nmi_before_entry(v);
	CHECK(vmcb.control.int_ctl & V_IRQ);
	/* A shadow while an event is being injected: the immediate exit, not the window. */
	svm.intr_window = false;
	svm_apply_vintr(&svm);
	vmcb.control.int_state = SVM_INTERRUPT_SHADOW;
	vmcb.control.event_inj = SVM_EVTINJ_VALID;
	svm_set_nmi_window(v, true);
	svm_nmi_before_entry(v);
	CHECK_EQ(kicks, 1);
	CHECK_EQ(polls, 0);
	CHECK(!(vmcb.control.int_ctl & V_IRQ));
}

/* An emulated task switch completed the IRET (RIP moved without an exit): NMIs open at the next look. */
TEST(nmi_iret_completed_by_hypervisor)
{
	struct vcpu *v = setup();

	nmi_injected(v);
	exit_at(v, SVM_EXIT_TASK_SWITCH, IRET_AT);
	CHECK(!svm_nmi_allowed(v));
	exit_at(v, SVM_EXIT_IRET, IRET_AT);
	vmcb.save.rip = RET_TO;
	CHECK(svm_nmi_allowed(v));
}

/* Interrupt shadow and pending injection block an NMI whatever the mask. */
TEST(nmi_blocked_by_shadow_and_injection)
{
	struct vcpu *v = setup();

	CHECK(svm_nmi_allowed(v));
	vmcb.control.int_state = SVM_INTERRUPT_SHADOW;
	CHECK(!svm_nmi_allowed(v));
	vmcb.control.int_state = 0;
	vmcb.control.event_inj = SVM_EVTINJ_VALID;
	CHECK(!svm_nmi_allowed(v));
}

/* An NMI held behind an event being injected (NMIs unmasked): the self-IPI, whose INTR exit comes at the handler's
 * first instruction, where the NMI then goes in. The last two tests: a CPU that exits before it delivers the event,
 * or before the instruction a shadow covers, turns that case to the poll for good (state shared by all vCPUs). */
TEST(nmi_behind_injection_kicks)
{
	struct vcpu *v = setup();

	vmcb.save.rip = RET_TO;
	vmcb.control.event_inj = SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | 1;
	CHECK(!svm_nmi_allowed(v));
	svm_set_nmi_window(v, true);
	svm_nmi_before_entry(v);
	CHECK_EQ(kicks, 1);
	CHECK_EQ(polls, 0);
	CHECK(!(vmcb.save.rflags & TF));
	/* The exit: the event delivered (EVENTINJ consumed), RIP at its handler. */
	vmcb.control.event_inj = 0;
	CHECK(!exit_at(v, SVM_EXIT_INTR, 0x3000));
	CHECK(svm_nmi_allowed(v));
	/* Again: still the immediate exit. */
	vmcb.control.event_inj = SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | 1;
	svm_nmi_before_entry(v);
	CHECK_EQ(kicks, 2);
	CHECK_EQ(polls, 0);
}

TEST(nmi_kick_before_delivery_falls_back)
{
	struct vcpu *v = setup();

	vmcb.save.rip = RET_TO;
	vmcb.control.event_inj = SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | 1;
	svm_set_nmi_window(v, true);
	svm_nmi_before_entry(v);
	CHECK_EQ(kicks, 1);
	/* This CPU took the interrupt first: the event comes back in EXITINTINFO, RIP unmoved. */
	vmcb.control.exit_int_info = SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | 1;
	exit_at(v, SVM_EXIT_INTR, RET_TO);
	svm_nmi_before_entry(v); /* the VMCB still holds the exit: the next entry looks at it */
	vmcb.control.exit_int_info = 0;
	CHECK_EQ(kicks, 1);
	CHECK_EQ(polls, 1);
	/* The shadow case is told apart: it still kicks. */
	vmcb.control.event_inj = 0;
	vmcb.control.int_state = SVM_INTERRUPT_SHADOW;
	svm_nmi_before_entry(v);
	CHECK_EQ(kicks, 2);
}

TEST(nmi_kick_before_shadow_falls_back)
{
	struct vcpu *v = setup();

	vmcb.save.rip = RET_TO;
	vmcb.control.int_state = SVM_INTERRUPT_SHADOW;
	svm_set_nmi_window(v, true);
	svm_nmi_before_entry(v);
	CHECK_EQ(kicks, 1);
	/* The exit came before the covered instruction: RIP unmoved, still in the shadow (QEMU's TCG). */
	exit_at(v, SVM_EXIT_INTR, RET_TO);
	svm_nmi_before_entry(v);
	CHECK_EQ(kicks, 1);
	CHECK_EQ(polls, 1);
}
