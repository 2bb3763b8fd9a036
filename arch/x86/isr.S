/* Interrupt and exception entry stubs for all 256 vectors. Each pushes a uniform frame (a dummy error code where
 * the CPU pushes none, then the vector) and jumps to a common path that saves the GPRs and calls
 * interrupt_dispatch(struct irq_frame *). Vectors with a CPU error code: 8, 10-14, 17, 21, 29, 30. */
#include "hv/layout.h"

	.text
	.altmacro
.macro stub vec
	.balign 16
isr_stub_\vec:
	.if (\vec == 8) || ((\vec >= 10) && (\vec <= 14)) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
	.else
	pushq $0
	.endif
	pushq $\vec
	jmp isr_common
.endm

.set i, 0
.rept 256
	stub %i
	.set i, i + 1
.endr

/* A #DB in the host: spurious (desc.c says why). A trap, so returning does not repeat it. */
	.globl isr_host_db
	.balign 16
isr_host_db:
	iretq

isr_common:
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, %rdi
	cld
	/* Align the stack for the C ABI; rbx is callee-saved and remembers the frame. */
	movq %rsp, %rbx
	andq $-16, %rsp
	call interrupt_dispatch
	movq %rbx, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp
	iretq

.macro addr vec
	.quad isr_stub_\vec
.endm
	.section .rodata
	.balign 8
	.globl isr_stub_table
isr_stub_table:
.set i, 0
.rept 256
	addr %i
	.set i, i + 1
.endr
