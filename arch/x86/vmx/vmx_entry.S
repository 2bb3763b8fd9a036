/* VM entry and exit. vmx_enter(regs, launched) saves the host's callee-saved registers, records the stack in
 * HOST_RSP, loads every guest GPR but RSP (the VMCS holds that) and launches or resumes. A VM exit lands at
 * vmx_exit_point with the stack as it was at the VMWRITE, stores the guest GPRs back and returns 0. A VMfail falls
 * through with the host state intact apart from the GPRs, which are restored from the stack; it returns 1. */

#include "arch/x86/guest_gprs.h"
#include "arch/x86/rsb.h"

#define HOST_RSP 0x6c14

	.text
	.globl vmx_enter
vmx_enter:
	pushq %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	pushq %rdi                          /* regs, found again at the exit */
	movq $HOST_RSP, %rax
	vmwrite %rsp, %rax
	jbe .Lfail_early

	testb %sil, %sil                    /* launched? flags survive the MOVs below */
	LOAD_GUEST_GPRS 1
	jnz 1f
	vmlaunch
	jmp .Lfail
1:	vmresume
.Lfail:
	/* Still in the host with the guest GPRs loaded: the pops below restore the host's. */
.Lfail_early:
	popq %rdi
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	movl $1, %eax
	ret

	.globl vmx_exit_point
vmx_exit_point:
	pushq %rdi                          /* guest RDI; regs is just above it */
	movq 8(%rsp), %rdi
	STORE_GUEST_GPRS 1
	popq GPR_OFF(7)(%rdi)
	FILL_RETURN_BUFFER
	popq %rdi
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	xorl %eax, %eax
	ret
