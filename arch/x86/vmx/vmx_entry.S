/* VM entry and exit. vmx_enter(regs, launched) saves the host's callee-saved registers, records the stack in
 * HOST_RSP, loads every guest GPR but RSP (the VMCS holds that) and launches or resumes. A VM exit lands at
 * vmx_exit_point with the stack as it was at the VMWRITE, stores the guest GPRs back and returns 0. A VMfail falls
 * through with the host state intact apart from the GPRs, which are restored from the stack; it returns 1. */

#include "arch/x86/rsb.h"

#define HOST_RSP 0x6c14
#define R(n) (8 * (n))
/* enum vcpu_reg order: RAX RCX RDX RBX RSP RBP RSI RDI R8-R15 */
#define RAX R(0)
#define RCX R(1)
#define RDX R(2)
#define RBX R(3)
#define RBP R(5)
#define RSI R(6)
#define RDI R(7)
#define R8 R(8)
#define R9 R(9)
#define R10 R(10)
#define R11 R(11)
#define R12 R(12)
#define R13 R(13)
#define R14 R(14)
#define R15 R(15)

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
	movq RAX(%rdi), %rax
	movq RCX(%rdi), %rcx
	movq RDX(%rdi), %rdx
	movq RBX(%rdi), %rbx
	movq RBP(%rdi), %rbp
	movq RSI(%rdi), %rsi
	movq R8(%rdi), %r8
	movq R9(%rdi), %r9
	movq R10(%rdi), %r10
	movq R11(%rdi), %r11
	movq R12(%rdi), %r12
	movq R13(%rdi), %r13
	movq R14(%rdi), %r14
	movq R15(%rdi), %r15
	movq RDI(%rdi), %rdi
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
	movq %rax, RAX(%rdi)
	movq %rcx, RCX(%rdi)
	movq %rdx, RDX(%rdi)
	movq %rbx, RBX(%rdi)
	movq %rbp, RBP(%rdi)
	movq %rsi, RSI(%rdi)
	movq %r8, R8(%rdi)
	movq %r9, R9(%rdi)
	movq %r10, R10(%rdi)
	movq %r11, R11(%rdi)
	movq %r12, R12(%rdi)
	movq %r13, R13(%rdi)
	movq %r14, R14(%rdi)
	movq %r15, R15(%rdi)
	popq RDI(%rdi)
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
