/* The guest GPR array (enum vcpu_reg order: RAX RCX RDX RBX RSP RBP RSI RDI R8-R15) as both entry stubs load and
 * store it around VMLAUNCH/VMRESUME and VMRUN. RSP never moves (the VMCS/VMCB holds it); RAX moves only on VMX
 * (SVM keeps it in the VMCB), hence the flag. %rdi holds the array and is loaded last / stored by the caller. */
#ifndef ARCH_X86_GUEST_GPRS_H
#define ARCH_X86_GUEST_GPRS_H

#ifdef __ASSEMBLY__
#define GPR_OFF(n) (8 * (n))

.macro LOAD_GUEST_GPRS with_rax
	.if \with_rax
	movq GPR_OFF(0)(%rdi), %rax
	.endif
	movq GPR_OFF(1)(%rdi), %rcx
	movq GPR_OFF(2)(%rdi), %rdx
	movq GPR_OFF(3)(%rdi), %rbx
	movq GPR_OFF(5)(%rdi), %rbp
	movq GPR_OFF(6)(%rdi), %rsi
	movq GPR_OFF(8)(%rdi), %r8
	movq GPR_OFF(9)(%rdi), %r9
	movq GPR_OFF(10)(%rdi), %r10
	movq GPR_OFF(11)(%rdi), %r11
	movq GPR_OFF(12)(%rdi), %r12
	movq GPR_OFF(13)(%rdi), %r13
	movq GPR_OFF(14)(%rdi), %r14
	movq GPR_OFF(15)(%rdi), %r15
	movq GPR_OFF(7)(%rdi), %rdi
.endm

/* Everything but RDI (which holds the array; the caller stores the guest's from the stack). */
.macro STORE_GUEST_GPRS with_rax
	.if \with_rax
	movq %rax, GPR_OFF(0)(%rdi)
	.endif
	movq %rcx, GPR_OFF(1)(%rdi)
	movq %rdx, GPR_OFF(2)(%rdi)
	movq %rbx, GPR_OFF(3)(%rdi)
	movq %rbp, GPR_OFF(5)(%rdi)
	movq %rsi, GPR_OFF(6)(%rdi)
	movq %r8, GPR_OFF(8)(%rdi)
	movq %r9, GPR_OFF(9)(%rdi)
	movq %r10, GPR_OFF(10)(%rdi)
	movq %r11, GPR_OFF(11)(%rdi)
	movq %r12, GPR_OFF(12)(%rdi)
	movq %r13, GPR_OFF(13)(%rdi)
	movq %r14, GPR_OFF(14)(%rdi)
	movq %r15, GPR_OFF(15)(%rdi)
.endm
#endif

#endif
