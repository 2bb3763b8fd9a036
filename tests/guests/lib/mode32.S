/* Leaving IA-32e mode for 32-bit protected mode with paging, running a script there, and coming back (mode32.h).
 *
 *   64-bit  --lretq-->  compatibility mode (CS 0x18)  --CR0.PG=0-->  protected mode, no paging (LMA = 0)
 *           --EFER, CR4, CR3, CR0 as the caller asked-->  32-bit paging or PAE paging: the script runs
 *           --CR0.PG=0, CR4/CR3/EFER as saved, CR0 as saved (LMA = 1)-->  compatibility mode  --ljmp 0x08-->  64-bit
 *
 * SDM Vol. 3A 9.8.5.4: the code that turns paging off must run from identity-mapped memory, which the boot tables
 * (and the caller's 32-bit tables) give the whole image. Between the LIDT of the 32-bit IDT and the return to 64-bit
 * code nothing may fault into the wrong IDT format: only the script's accesses fault, and only in 32-bit mode.
 *
 * In the script loop ESI points at the current operation and EBP at the parameters; both are reloaded from memory
 * after every access, since CPL 3 code and the fault paths may change them. */

#define SEL_CODE64  0x08
#define SEL_DATA    0x10
#define SEL_CODE32  0x18
#define SEL_UCODE32 0x23
#define SEL_UDATA   0x2b
#define MSR_EFER    0xc0000080
#define CR0_PG      0x80000000

/* struct m32_op */
#define OP_KIND   0
#define OP_ADDR   4
#define OP_LO     8
#define OP_HI     12
#define OP_FAULT  16
#define OP_ERROR  20
#define OP_CR2    24
#define OP_RES_LO 28
#define OP_RES_HI 32
#define OP_SIZE   36

/* struct m32_params */
#define P_CR0        0
#define P_CR3        4
#define P_CR4        8
#define P_EFER       12
#define P_OPS        16
#define P_USER_ESP   20
#define P_USER_READ  24
#define P_USER_WRITE 28
#define P_USER_FETCH 32
#define P_DONE       36
#define P_FATAL_VEC  40
#define P_FATAL_ERR  44
#define P_FATAL_EIP  48
#define P_FATAL_CR2  52

#define M32_USER 0x100
#define M32_AC   0x200
#define M32_READ  13
#define M32_WRITE 14
#define M32_FETCH 15
#define M32_NR_KINDS 16

	.text
	.code64
/* void mode32_switch(struct m32_params *p (rdi)): p, the code, the stack and the script below 4 GiB. */
	.globl mode32_switch
mode32_switch:
	pushq %rbx
	pushq %rbp
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, m32_saved_rsp(%rip)
	sidt m32_saved_idt(%rip)
	movq %cr0, %rax
	movl %eax, m32_saved_cr0(%rip)
	movq %cr3, %rax
	movl %eax, m32_saved_cr3(%rip)
	movq %cr4, %rax
	movl %eax, m32_saved_cr4(%rip)
	movl $MSR_EFER, %ecx
	rdmsr
	movl %eax, m32_saved_efer(%rip)
	movl %edi, m32_params(%rip)
	/* Compatibility mode uses the data segments again: none may be null (an IRETQ to CPL 3 nulls DS and ES). */
	movl $SEL_DATA, %eax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss
	pushq $SEL_CODE32
	leaq compat(%rip), %rax
	pushq %rax
	lretq

	.code32
compat:
	lidt m32_idt_desc
	movl %cr0, %eax
	andl $~CR0_PG, %eax
	movl %eax, %cr0                     /* IA-32e mode off: EFER.LMA = 0 */
	movl m32_params, %ebp
	movl $MSR_EFER, %ecx
	movl P_EFER(%ebp), %eax
	xorl %edx, %edx
	wrmsr                               /* LME off (and NXE as asked) */
	movl P_CR4(%ebp), %eax
	movl %eax, %cr4
	movl P_CR3(%ebp), %eax
	movl %eax, %cr3
	movl P_CR0(%ebp), %eax
	movl %eax, %cr0                     /* paging on: PAE or 32-bit, as CR4.PAE says */
	jmp 1f
1:	movl $SEL_UDATA, %eax               /* DPL 3 data: usable at CPL 0 and kept across IRET to CPL 3 */
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movl %esp, m32_base_esp
	movl P_OPS(%ebp), %esi

op_loop:
	movl m32_params, %ebp
	movl OP_KIND(%esi), %eax
	movzbl %al, %ecx
	cmpl $M32_NR_KINDS, %ecx
	jae op_bad
	jmp *op_table(,%ecx,4)

op_next:
	movl m32_params, %ebp
	incl P_DONE(%ebp)
	addl $OP_SIZE, %esi
	jmp op_loop

op_bad:                                 /* an unknown kind: reported as vector 0xff */
	movl $0x100, P_FATAL_VEC(%ebp)
	movl %esi, P_FATAL_EIP(%ebp)
	jmp leave32

op_store32:
	movl OP_ADDR(%esi), %edi
	movl OP_LO(%esi), %eax
	movl %eax, (%edi)
	jmp op_next
op_store64:
	movl OP_ADDR(%esi), %edi
	movl OP_HI(%esi), %eax
	movl %eax, 4(%edi)
	movl OP_LO(%esi), %eax
	movl %eax, (%edi)
	jmp op_next
op_xchg32:
	movl OP_ADDR(%esi), %edi
	movl OP_LO(%esi), %eax
	xchgl %eax, (%edi)
	movl %eax, OP_RES_LO(%esi)
	jmp op_next
op_clear64:
	movl OP_ADDR(%esi), %edi
	xorl %eax, %eax
	xchgl %eax, (%edi)
	movl %eax, OP_RES_LO(%esi)
	movl 4(%edi), %eax
	movl %eax, OP_RES_HI(%esi)
	movl $0, 4(%edi)
	jmp op_next
op_cmpxchg8b:
	movl OP_ADDR(%esi), %edi
	movl (%edi), %eax
	movl 4(%edi), %edx
	movl OP_LO(%esi), %ebx
	movl OP_HI(%esi), %ecx
	lock cmpxchg8b (%edi)
	movl %eax, OP_RES_LO(%esi)
	movl %edx, OP_RES_HI(%esi)
	jmp op_next
op_bts:
	movl OP_ADDR(%esi), %edi
	movl OP_LO(%esi), %eax
	lock btsl %eax, (%edi)
	jmp op_next
op_btr:
	movl OP_ADDR(%esi), %edi
	movl OP_LO(%esi), %eax
	lock btrl %eax, (%edi)
	jmp op_next
op_invlpg:
	movl OP_ADDR(%esi), %edi
	invlpg (%edi)
	jmp op_next
op_reload_cr3:
	movl %cr3, %eax
	movl %eax, %cr3
	jmp op_next
op_load64:
	movl OP_ADDR(%esi), %edi
	movl (%edi), %eax
	movl %eax, OP_RES_LO(%esi)
	movl 4(%edi), %eax
	movl %eax, OP_RES_HI(%esi)
	jmp op_next
op_set_cr0:
	movl OP_LO(%esi), %eax
	movl %eax, %cr0
	jmp op_next
op_set_cr4:
	movl OP_LO(%esi), %eax
	movl %eax, %cr4
	jmp op_next

/* An access under test. A #PF (m32_pf) or the INT 0x80 back from CPL 3 (m32_int80) continues at access_done. */
op_access:
	movl %esi, m32_cur_op
	movl $0, OP_FAULT(%esi)
	pushfl
	popl m32_saved_eflags
	movl %esp, m32_resume_esp
	movl $1, m32_armed
	movl OP_ADDR(%esi), %edi
	movl OP_KIND(%esi), %edx
	testl $M32_USER, %edx
	jnz user_access
	testl $M32_AC, %edx
	jz 1f
	stac
1:	movzbl %dl, %edx
	cmpl $M32_WRITE, %edx
	je 2f
	cmpl $M32_FETCH, %edx
	je 3f
	movl (%edi), %eax
	movl 4(%edi), %edx
	movl %eax, OP_RES_LO(%esi)
	movl %edx, OP_RES_HI(%esi)
	jmp access_done
2:	movl OP_LO(%esi), %eax
	movl %eax, (%edi)
	jmp access_done
3:	call *%edi
	jmp access_done

user_access:
	movzbl %dl, %edx
	movl P_USER_READ(%ebp), %eax
	cmpl $M32_WRITE, %edx
	jne 1f
	movl P_USER_WRITE(%ebp), %eax
1:	cmpl $M32_FETCH, %edx
	jne 2f
	movl P_USER_FETCH(%ebp), %eax
2:	pushl $SEL_UDATA                    /* SS */
	pushl P_USER_ESP(%ebp)              /* ESP */
	pushl $2                            /* EFLAGS: IF = 0, AC = 0 */
	pushl $SEL_UCODE32                  /* CS */
	pushl %eax                          /* EIP: the stub */
	movl OP_LO(%esi), %esi              /* the stubs take the address in EDI, a value in ESI */
	iret

access_done:
	movl $0, m32_armed
	movl m32_resume_esp, %esp
	pushl m32_saved_eflags
	popfl                               /* AC back to what it was (clear) */
	movl m32_cur_op, %esi
	jmp op_next

op_end:
leave32:
	movl m32_base_esp, %esp
	movl %cr0, %eax
	andl $~CR0_PG, %eax
	movl %eax, %cr0
	movl m32_saved_cr4, %eax
	movl %eax, %cr4
	movl m32_saved_cr3, %eax
	movl %eax, %cr3
	movl $MSR_EFER, %ecx
	movl m32_saved_efer, %eax
	xorl %edx, %edx
	wrmsr                               /* LME back on: CR0.PG makes it active */
	movl m32_saved_cr0, %eax
	movl %eax, %cr0                     /* EFER.LMA = 1, still in compatibility mode */
	ljmp $SEL_CODE64, $back64

/* The 32-bit IDT's handlers (lib/mode32.c builds the gates). */
	.globl m32_stubs, m32_pf, m32_int80
	.balign 16
m32_stubs:
	.set vec, 0
	.rept 32
	.balign 16
	.if (vec == 8) | ((vec >= 10) & (vec <= 14)) | (vec == 17) | (vec == 21) | (vec == 29) | (vec == 30)
	.else
	pushl $0
	.endif
	pushl $vec
	jmp m32_fatal
	.set vec, vec + 1
	.endr

m32_pf:                                 /* error code on the stack */
	cmpl $0, m32_armed
	je 1f
	movl m32_cur_op, %ebx
	popl OP_ERROR(%ebx)
	movl $15, OP_FAULT(%ebx)
	movl %cr2, %eax
	movl %eax, OP_CR2(%ebx)
	jmp access_done
1:	pushl $14
	jmp m32_fatal

m32_int80:                              /* the end of a CPL 3 stub: EDX:EAX its result */
	cmpl $0, m32_armed
	je 1f
	movl m32_cur_op, %ebx
	movl %eax, OP_RES_LO(%ebx)
	movl %edx, OP_RES_HI(%ebx)
	jmp access_done
1:	pushl $0
	pushl $0x80
	jmp m32_fatal

m32_fatal:                              /* vector, error code, EIP on the stack */
	movl m32_params, %ebp
	popl %eax
	incl %eax
	movl %eax, P_FATAL_VEC(%ebp)
	popl P_FATAL_ERR(%ebp)
	popl P_FATAL_EIP(%ebp)
	movl %cr2, %eax
	movl %eax, P_FATAL_CR2(%ebp)
	movl $0, m32_armed
	jmp leave32

	.code64
back64:
	movl $SEL_DATA, %eax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss
	movq m32_saved_rsp(%rip), %rsp
	lidt m32_saved_idt(%rip)
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbp
	popq %rbx
	ret

	.section .rodata
	.balign 4
op_table:
	.long op_end, op_store32, op_store64, op_xchg32, op_clear64, op_cmpxchg8b, op_bts, op_btr, op_invlpg
	.long op_reload_cr3, op_load64, op_set_cr0, op_set_cr4, op_access, op_access, op_access

	.section .data
	.balign 16
m32_saved_idt:
	.skip 16
m32_saved_rsp:
	.quad 0
m32_saved_cr0:
	.long 0
m32_saved_cr3:
	.long 0
m32_saved_cr4:
	.long 0
m32_saved_efer:
	.long 0
m32_params:
	.long 0
m32_base_esp:
	.long 0
m32_resume_esp:
	.long 0
m32_saved_eflags:
	.long 0
m32_cur_op:
	.long 0
m32_armed:
	.long 0

	.section .note.GNU-stack, "", @progbits
