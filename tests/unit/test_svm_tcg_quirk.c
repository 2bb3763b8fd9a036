/* Tests of the QEMU TCG double-delivery workaround's decisions (arch/x86/svm/svm_tcg_quirk.c): which CPU gets it,
 * which injections it guards, and which EXITINTINFO shows that a second delivery happened anyway. The values are the
 * ones QEMU 7.2 produced in the reproduction (issue 14). */
#include "test.h"
#include "arch/x86/svm/svm_tcg_quirk.h"

/* CPUID 0x40000000 as QEMU TCG returns it ("TCGTCGTCGTCG") and as KVM does ("KVMKVMKVM\0\0\0"). */
#define TCG_EBX 0x54474354u
#define TCG_ECX 0x43544743u
#define TCG_EDX 0x47435447u

TEST(qemu_tcg_is_recognised_by_its_hypervisor_leaf)
{
	CHECK(svm_cpu_is_qemu_tcg(true, TCG_EBX, TCG_ECX, TCG_EDX));
	/* Without CPUID.1:ECX.hypervisor the leaf is not a hypervisor's (real CPUs return other data there). */
	CHECK(!svm_cpu_is_qemu_tcg(false, TCG_EBX, TCG_ECX, TCG_EDX));
	CHECK(!svm_cpu_is_qemu_tcg(true, 0x4b4d564b, 0x564b4d56, 0x0000004d)); /* KVM: its VMRUN is the CPU's */
	CHECK(!svm_cpu_is_qemu_tcg(true, TCG_EBX, TCG_EDX, TCG_ECX));	       /* the words in their order only */
	CHECK(!svm_cpu_is_qemu_tcg(true, 0, 0, 0));
}

TEST(only_an_injected_external_interrupt_needs_the_exit)
{
	CHECK(svm_event_is_intr(SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_INTR | 0x50));
	CHECK(svm_event_is_intr(SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_INTR | 0xff));
	/* Not valid: nothing is injected (QEMU leaves the delivered event there with V clear). */
	CHECK(!svm_event_is_intr(SVM_EVTINJ_TYPE_INTR | 0x50));
	CHECK(!svm_event_is_intr(0));
	/* NMIs, exceptions and software interrupts go through QEMU's exception path, which consumes the vector once. */
	CHECK(!svm_event_is_intr(SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_NMI | 2));
	CHECK(!svm_event_is_intr(SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | SVM_EVTINJ_VALID_ERR | 14));
	CHECK(!svm_event_is_intr(SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_SOFT | 0x80));
}

TEST(the_mark_of_a_second_delivery)
{
	/* Seen in the reproduction: vector 0x50 delivered again as an "exception", V clear once it completed. */
	CHECK(svm_exit_info_shows_redelivery(SVM_EVTINJ_TYPE_EXEPT | 0x50));
	CHECK(svm_exit_info_shows_redelivery(SVM_EVTINJ_TYPE_EXEPT | 32));
	/* A normal exit after the injected interrupt was delivered once: QEMU's leftover keeps type INTR. */
	CHECK(!svm_exit_info_shows_redelivery(SVM_EVTINJ_TYPE_INTR | 0x50));
	CHECK(!svm_exit_info_shows_redelivery(0));
	/* A guest's own exception delivered natively (a #PF it handles itself): vectors 0-31 are exceptions. */
	CHECK(!svm_exit_info_shows_redelivery(SVM_EVTINJ_TYPE_EXEPT | SVM_EVTINJ_VALID_ERR | 14));
	CHECK(!svm_exit_info_shows_redelivery(SVM_EVTINJ_TYPE_EXEPT | 31));
	/* Still valid: an event whose delivery the exit interrupted, for re-injection, not a completed second one. */
	CHECK(!svm_exit_info_shows_redelivery(SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | 0x50));
	/* A software interrupt the guest ran itself (INT 0x80) is type SOFT. */
	CHECK(!svm_exit_info_shows_redelivery(SVM_EVTINJ_TYPE_SOFT | 0x80));
}
