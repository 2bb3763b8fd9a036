/* The SVM backend's private state and the pieces its files share. */
#ifndef ARCH_X86_SVM_SVM_H
#define ARCH_X86_SVM_SVM_H

#include "arch/x86/svm/svm_caps.h"
#include "arch/x86/svm/vmcb.h"
#include "vm/insn_len_cache.h"
#include "vm/vm.h"

struct svm_vcpu {
	struct vmcb *vmcb;     /* constant */
	hpa_t vmcb_pa;         /* constant */
	hpa_t iopm_pa, msrpm_pa; /* constant */
	u32 asid;              /* current ASID on this vCPU's CPU */
	u64 asid_generation;   /* the CPU's generation the ASID belongs to */
	bool need_flush;       /* flush this vCPU's guest TLB at the next VMRUN */
	/* Without NRIPS: the intercepted instructions' decodes, for their lengths (vm/insn_len_cache.c). */
	struct insn_len_cache len_cache;
	bool ran_here;         /* the VMCB has been run on this CPU: clean bits may be trusted */
	/* NMI blocking, which SVM does not expose (svm_nmi.c): set when an NMI is injected, cleared once the guest's
	 * IRET has executed (intercepted, then RIP has moved past it). */
	bool nmi_masked;
	bool awaiting_iret;    /* the IRET exited and will run at the next entry */
	bool nmi_window;       /* an NMI is pending: get an exit soon after the IRET */
	bool nmi_vintr;	       /* ...and waits for an interrupt shadow with IF = 1: the VINTR window exits at its end */
	bool intr_window;      /* the core asked for an interrupt window (svm_set_intr_window) */
	u64 iret_rip;
	/* Single-stepping the guest over its IRET with RFLAGS.TF, so that a pending NMI comes right after it, as KVM
	 * does without vNMI: the guest's own TF and DR6 from before, restored when the step's #DB is ours. */
	bool nmi_singlestep;
	bool nmi_step_guest_tf;
	u64 nmi_step_dr6;
	/* An immediate exit asked for a pending NMI (svm_nmi.c): RIP at that entry, to tell whether the guest moved. */
	bool nmi_kicked;
	u64 nmi_kick_rip;
	/* Shadow paging (no NPT): the guest's view of its control registers and EFER, which every access to them
	 * exits to read or change; the VMCB holds what the hardware runs with (svm_shadow.c). Constant `shadow`. */
	bool shadow;
	u64 g_cr0, g_cr3, g_cr4, g_efer;
};

/* svm_shadow.c */
void svm_shadow_init(struct svm_vcpu *s);
void svm_shadow_sync(struct svm_vcpu *s);
/* Decode a CR access exit (SVM_EXIT_CR0_READ..CR15_WRITE) into v->exit from the instruction's bytes: 1, 0 if they
 * are not an access of that CR, -1 if their fetch faulted (the fault is queued). */
int svm_decode_cr_exit(struct vcpu *v, u64 code);
bool svm_decode_invalid_as_cr_write(struct vcpu *v);
/* Decode an INVLPG exit: the address and length where DecodeAssists and NRIPS give them, else left to the emulator. */
void svm_decode_invlpg_exit(struct vcpu *v);

void svm_set_intercept_misc1(struct svm_vcpu *s, u32 bit, bool on);
/* V_IRQ and the VINTR intercept on while the core's interrupt window or the NMI's shadow window wants them. */
void svm_apply_vintr(struct svm_vcpu *s);
/* svm_task.c: the TASK_SWITCH intercept into v->exit. */
void svm_decode_task_switch(struct vcpu *v);
bool svm_nmi_after_exit(struct vcpu *v);
void svm_nmi_before_entry(struct vcpu *v);
void svm_nmi_reset(struct vcpu *v);

extern struct svm_caps svm_caps;

static inline struct svm_vcpu *to_svm(struct vcpu *v)
{
	return v->arch;
}

/* svm_entry.S: run the guest whose VMCB is at vmcb_pa with the GPRs (other than RAX and RSP) in regs. */
void svm_enter(u64 *regs, hpa_t vmcb_pa, hpa_t host_save_pa);

void svm_decode_exit(struct vcpu *v);
void svm_exit_decode_insn(struct vcpu *v);

/* For CPUs without next-RIP saving (svm_nrip.c): whether a decoded instruction is one the intercept exit_code
 * stops, so that its decoded length is the length to step over. */
struct emu_insn;
bool svm_insn_is_intercepted(u64 exit_code, const struct emu_insn *insn);
/* Without NRIPS, a private VM's intercepted instruction is taken unprefixed: its length by exit code, 0 if none. */
int svm_private_insn_len(u64 exit_code);

#endif
