/* QEMU TCG's double delivery of an interrupt injected through EVENTINJ, and how the SVM backend keeps it from
 * happening (svm_tcg_quirk.c has the whole story). The predicates are pure, for the host unit tests. */
#ifndef ARCH_X86_SVM_SVM_TCG_QUIRK_H
#define ARCH_X86_SVM_SVM_TCG_QUIRK_H

#include "arch/x86/svm/vmcb.h"
#include "hv/types.h"

/* Set once at probe (svm.c) when the CPU is QEMU's TCG: every VMRUN that injects an external interrupt then forces an
 * exit right after the delivery. */
extern bool svm_tcg_redelivery_quirk;

/* CPUID 0x40000000 (EBX, ECX, EDX), read only when CPUID.1:ECX.hypervisor is set: QEMU's TCG says "TCGTCGTCGTCG". */
bool svm_cpu_is_qemu_tcg(bool hypervisor_bit, u32 ebx, u32 ecx, u32 edx);

/* EVENTINJ holds an external interrupt (type INTR): the one kind QEMU's VMRUN delivers itself and may deliver again. */
static inline bool svm_event_is_intr(u32 event_inj)
{
	return (event_inj & (SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_MASK)) == (SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_INTR);
}

/* EXITINTINFO as QEMU leaves it after it delivered an injected interrupt a second time: not valid (the delivery
 * completed), type "exception", vector 32 or above. A CPU never reports that: exceptions are vectors 0-31. */
static inline bool svm_exit_info_shows_redelivery(u32 exit_int_info)
{
	return !(exit_int_info & SVM_EVTINJ_VALID) && (exit_int_info & SVM_EVTINJ_TYPE_MASK) == SVM_EVTINJ_TYPE_EXEPT &&
	       (exit_int_info & 0xff) >= 32;
}

#endif
