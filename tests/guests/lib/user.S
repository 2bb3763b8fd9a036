/* CPL 3 entry and exit (user.h): user_call IRETQs to ring 3; INT 0x80 (or user_abort from an exception handler)
 * makes the interrupt frame return to user_resume on user_call's own stack, which returns to the caller. The page
 * user_page..user_page_end holds the stubs that run at CPL 3, position-independent, for a test to map anywhere. */

#define SEL_DATA    0x10
#define SEL_UDATA   0x2b
#define SEL_UCODE64 0x33

	.text
	.code64
/* u64 user_call(u64 rip (rdi), u64 rsp (rsi), u64 a0 (rdx), u64 a1 (rcx), u64 rflags (r8)) */
	.globl user_call, user_resume
user_call:
	pushq %rbx
	pushq %rbp
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, user_kernel_rsp(%rip)
	pushq $SEL_UDATA                    /* SS */
	pushq %rsi                          /* RSP */
	orq $2, %r8
	pushq %r8                           /* RFLAGS */
	pushq $SEL_UCODE64                  /* CS */
	pushq %rdi                          /* RIP */
	movq %rdx, %rdi
	movq %rcx, %rsi
	iretq
user_resume:                            /* RSP = user_kernel_rsp, RAX = the result (set in the frame) */
	/* IRETQ to CPL 3 loaded null into DS and ES (their DPL 0 is below CPL 3, SDM IRET): 64-bit code does not use
	 * them, but compatibility-mode code (lib/mode32.S) would #GP on a null DS. */
	movl $SEL_DATA, %edx
	movw %dx, %ds
	movw %dx, %es
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbp
	popq %rbx
	ret

	.section .text.user, "ax"
	.balign 4096
	.globl user_page, user_page_end
	.globl user_read8, user_write8, user_fetch, user32_read, user32_write, user32_fetch
user_page:
user_read8:
	movq (%rdi), %rax
	int $0x80
user_write8:
	movq %rsi, (%rdi)
	xorl %eax, %eax
	int $0x80
user_fetch:
	call *%rdi
	xorl %eax, %eax
	int $0x80

	.code32
user32_read:
	movl (%edi), %eax
	movl 4(%edi), %edx
	int $0x80
user32_write:
	movl %esi, (%edi)
	xorl %eax, %eax
	int $0x80
user32_fetch:
	call *%edi
	xorl %eax, %eax
	int $0x80
	.code64
	.balign 4096
user_page_end:

	.section .note.GNU-stack, "", @progbits
