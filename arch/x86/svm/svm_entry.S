/* VMRUN. svm_enter(regs, vmcb_pa, host_save_pa) loads the guest GPRs the VMCB does not hold (all but RAX and RSP),
 * loads the guest's FS/GS/TR/LDTR/syscall MSRs with VMLOAD, runs the guest, saves them back with VMSAVE and
 * restores the host's with VMLOAD from the per-CPU host save area. GIF is clear from CLGI to STGI, so nothing
 * interrupts the switch; host IF is set across VMRUN so that, with V_INTR_MASKING, physical interrupts reach the
 * INTR intercept while the guest runs, and cleared again before STGI lets them be taken. */

#include "arch/x86/rsb.h"

#define R(n) (8 * (n))
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
	vmrun %rax
	vmsave %rax
	FILL_RETURN_BUFFER

	pushq %rdi
	movq 8(%rsp), %rdi                  /* regs */
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
