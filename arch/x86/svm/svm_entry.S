/* VMRUN. svm_enter(regs, vmcb_pa, host_save_pa) loads the guest GPRs the VMCB does not hold (all but RAX and RSP),
 * loads the guest's FS/GS/TR/LDTR/syscall MSRs with VMLOAD, runs the guest, saves them back with VMSAVE and
 * restores the host's with VMLOAD from the per-CPU host save area. GIF is clear from CLGI to STGI, so nothing
 * interrupts the switch; host IF is set across VMRUN so that, with V_INTR_MASKING, physical interrupts reach the
 * INTR intercept while the guest runs, and cleared again before STGI lets them be taken. */

#include "arch/x86/guest_gprs.h"
#include "arch/x86/rsb.h"


	.text
	.globl svm_enter
svm_enter:
	pushq %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	pushq %rdx                          /* host save area */
	pushq %rdi                          /* regs */

	clgi
	sti
	movq %rsi, %rax                     /* VMCB */
	vmload %rax
	LOAD_GUEST_GPRS 0
	vmrun %rax
	vmsave %rax
	FILL_RETURN_BUFFER

	pushq %rdi
	movq 8(%rsp), %rdi                  /* regs */
	STORE_GUEST_GPRS 0
	popq GPR_OFF(7)(%rdi)

	popq %rdi
	popq %rax                           /* host save area */
	vmload %rax
	cli
	stgi
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	ret
