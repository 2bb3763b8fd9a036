/* Unreal mode and back (tests/guests/unreal.c): from 64-bit code the way mode32.S leaves it (SDM Vol. 3A 9.8.5.4),
 * into 32-bit protected mode without paging, where DS and ES get the limits unreal mode will keep; 16-bit protected
 * mode in the trampoline the C side copied to UR_PAGE; real mode (CR0.PE = 0, SDM 9.9.2, without the 64 KiB
 * segments it recommends), where DS is loaded again (a real-mode load sets the base only) and 32-bit addresses reach
 * past 1 MiB through it; then protected
 * mode, IA-32e mode again, and back.
 *
 *   64-bit --lretq--> compatibility (0x18) --PG=0, LME=0--> 32-bit PM: DS = BIG, ES = MID, LIDT of the real-mode IVT
 *          --ljmp 0x20:0--> 16-bit PM at UR_PAGE --PE=0, ljmp UR_SEG--> real mode: the accesses; a fault vector
 *          (the IVT in the low page) records its number --PE=1, ljmpl 0x18--> 32-bit PM --CR4, CR3, EFER, CR0
 *          as saved--> compatibility --ljmp 0x08--> 64-bit
 *
 * Interrupts stay off throughout; nothing but the accesses under test may fault. */

#define SEL_CODE64 0x08
#define SEL_DATA   0x10
#define SEL_CODE32 0x18
#define SEL_CODE16 0x20 /* 16-bit code, base UR_PAGE, limit 64 KiB */
#define SEL_BIG	   0x28 /* data, B = 0, base 0, limit 4 GiB (G = 1): unreal mode's DS */
#define SEL_MID	   0x30 /* data, B = 0, base 0, limit 2 MiB - 1 (G = 1): ES, a limit real mode must check */
#define UR_PAGE	   0x8000
#define UR_SEG	   (UR_PAGE >> 4)
#define MSR_EFER   0xc0000080
#define CR0_PG	   0x80000000

/* Results in the low page, written in real mode (DS base 0, offsets below 64 KiB). */
#define RES_OLD	  (UR_PAGE + 0xf00)
#define RES_BACK  (UR_PAGE + 0xf04)
#define RES_ES	  (UR_PAGE + 0xf08)
#define RES_FAULT (UR_PAGE + 0xf0c)
#define RES_SS	  (UR_PAGE + 0xf10)
#define RES_MSR	  (UR_PAGE + 0xf14)
#define RES_PAT	  (UR_PAGE + 0xf18)
#define RES_HAS_RDTSCP (UR_PAGE + 0xf1c) /* in: CPUID 80000001H:EDX.RDTSCP */
#define RES_AUX	  (UR_PAGE + 0xf20)   /* TSC_AUX read back in real mode */
#define RES_AUXP  (UR_PAGE + 0xf24)   /* ECX of RDTSCP in real mode */
#define RES_AUXGP (UR_PAGE + 0xf28)   /* #GPs of that WRMSR and RDMSR */
#define UR_IVT_GP (UR_PAGE + 0x800 + 13 * 4)
#define MSR_TSC_AUX 0xc0000103
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_PAT	  0x277

/* struct ur_params (unreal.c) */
#define P_ADDR	0
#define P_VALUE 4
#define P_OLD	8
#define P_BACK	12
#define P_ES	16
#define P_FAR	20
#define P_FAULT 24
#define P_SS	28
#define P_MSR	32
#define P_PAT	36
#define P_RDTSCP 40
#define P_AUX	44
#define P_AUXP	48
#define P_AUXGP 52

	.text
	.code64
/* void unreal_run(struct ur_params *p (rdi)): p, the image and the stack below 4 GiB. */
	.globl unreal_run
unreal_run:
	pushq %rbx
	pushq %rbp
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	pushfq
	cli
	movq %rsp, ur_saved_rsp(%rip)
	sgdt ur_saved_gdt(%rip)
	sidt ur_saved_idt(%rip)
	movq %cr0, %rax
	movl %eax, ur_saved_cr0(%rip)
	movq %cr3, %rax
	movl %eax, ur_saved_cr3(%rip)
	movq %cr4, %rax
	movl %eax, ur_saved_cr4(%rip)
	movl $MSR_EFER, %ecx
	rdmsr
	movl %eax, ur_saved_efer(%rip)
	movl %edi, ur_params(%rip)
	lgdt ur_gdt_desc(%rip)
	movl $SEL_DATA, %eax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss
	pushq $SEL_CODE32
	leaq 1f(%rip), %rax
	pushq %rax
	lretq

	.code32
1:	movl %cr0, %eax
	andl $~CR0_PG, %eax
	movl %eax, %cr0                     /* IA-32e mode off: LMA = 0 */
	movl $MSR_EFER, %ecx
	rdmsr
	andl $~(1 << 8), %eax
	wrmsr                               /* LME off */
	movl ur_params, %ebp
	movl P_ADDR(%ebp), %edi
	movl P_VALUE(%ebp), %ebx
	movl P_FAR(%ebp), %esi
	movl P_RDTSCP(%ebp), %eax
	movl %eax, RES_HAS_RDTSCP
	lidt ur_ivt_desc
	movl $SEL_BIG, %eax
	movw %ax, %ds                       /* from here DS is BIG (base 0): the image is still reachable */
	movl $SEL_MID, %eax
	movw %ax, %es
	ljmpl $SEL_CODE16, $0

/* The trampoline: copied to UR_PAGE, position-independent (CS base UR_PAGE in both 16-bit modes). */
	.code16
	.globl ur_tramp, ur_tramp_end, ur_vec_gp, ur_vec_ss, ur_vec_ud, ur_vec_other
ur_tramp:
	movl %cr0, %eax
	andl $~1, %eax
	movl %eax, %cr0                     /* real mode: DS and ES keep their limits */
	ljmp $UR_SEG, $(2f - ur_tramp)
2:	movw $UR_SEG, %ax
	movw %ax, %ss
	movl $0xff0, %esp                   /* a stack in the low page, for the fault vectors */
	xorw %ax, %ax
	movw %ax, %ds                       /* a real-mode load: base 0, the 4 GiB limit stays */
	xorw %bp, %bp
	addr32 movl (%edi), %ecx            /* above 1 MiB through DS */
	addr32 movl %ebx, (%edi)
	addr32 movl (%edi), %edx
	movl %ecx, RES_OLD
	movl %edx, RES_BACK
	addr32 movl %es:(%edi), %eax        /* through ES: within its 2 MiB */
	movl %eax, RES_ES
	leal -UR_PAGE(%edi), %eax
	addr32 movl %ss:(%eax), %eax        /* through SS (base UR_PAGE, the 4 GiB limit of SEL_DATA kept) */
	movl %eax, RES_SS
	movl $MSR_KERNEL_GS_BASE, %ecx      /* MSRs the guest owns in the CPU, from real mode (in vm86 on VMX */
	movl %ebx, %eax                     /* without unrestricted guest: the emulator's WRMSR and RDMSR) */
	xorl %edx, %edx
	wrmsr
	xorl %eax, %eax
	rdmsr
	movl %eax, RES_MSR
	movl $MSR_PAT, %ecx
	rdmsr
	movl %eax, RES_PAT
	movl $0, RES_AUXGP                  /* TSC_AUX, which exists with RDTSCP (else #GP, counted and stepped */
	movl $((UR_SEG << 16) | (ur_vec_gpskip - ur_tramp)), UR_IVT_GP /* over by ur_vec_gpskip) */
	movl $MSR_TSC_AUX, %ecx
	movl %ebx, %eax
	xorl %edx, %edx
	wrmsr
	xorl %eax, %eax
	rdmsr
	movl %eax, RES_AUX
	movl $((UR_SEG << 16) | (ur_vec_gp - ur_tramp)), UR_IVT_GP
	xorl %ecx, %ecx
	cmpl $0, RES_HAS_RDTSCP
	je 1f
	rdtscp                              /* not privileged: runs on the CPU even in vm86 */
1:	movl %ecx, RES_AUXP
	addr32 movl %es:(%esi), %eax        /* past ES's limit: #GP(0), vector 13 */
ur_out:
	movw %bp, RES_FAULT
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl $SEL_CODE32, $ur_back32
/* Real-mode fault vectors: the number + 1 in BP, then out (the frame stays on the low page's stack). */
ur_vec_gp:
	movw $14, %bp
	jmp ur_out
ur_vec_ss:
	movw $13, %bp
	jmp ur_out
ur_vec_ud:
	movw $7, %bp
	jmp ur_out
ur_vec_other:
	movw $0x100, %bp
	jmp ur_out
/* #GP of a 2-byte WRMSR or RDMSR: counted, and the return IP moved past it. */
ur_vec_gpskip:
	pushw %bx
	movw %sp, %bx
	addw $2, %ss:2(%bx)
	popw %bx
	incl RES_AUXGP
	iret
ur_tramp_end:

	.code32
ur_back32:
	movl $SEL_DATA, %eax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss
	movl ur_saved_rsp, %esp
	movl ur_params, %ebp
	movl RES_OLD, %eax
	movl %eax, P_OLD(%ebp)
	movl RES_BACK, %eax
	movl %eax, P_BACK(%ebp)
	movl RES_ES, %eax
	movl %eax, P_ES(%ebp)
	movzwl RES_FAULT, %eax
	movl %eax, P_FAULT(%ebp)
	movl RES_SS, %eax
	movl %eax, P_SS(%ebp)
	movl RES_MSR, %eax
	movl %eax, P_MSR(%ebp)
	movl RES_PAT, %eax
	movl %eax, P_PAT(%ebp)
	movl RES_AUX, %eax
	movl %eax, P_AUX(%ebp)
	movl RES_AUXP, %eax
	movl %eax, P_AUXP(%ebp)
	movl RES_AUXGP, %eax
	movl %eax, P_AUXGP(%ebp)
	movl ur_saved_cr4, %eax
	movl %eax, %cr4
	movl ur_saved_cr3, %eax
	movl %eax, %cr3
	movl $MSR_EFER, %ecx
	movl ur_saved_efer, %eax
	xorl %edx, %edx
	wrmsr
	movl ur_saved_cr0, %eax
	movl %eax, %cr0                     /* paging on: IA-32e mode */
	ljmp $SEL_CODE64, $3f

	.code64
3:	lgdt ur_saved_gdt(%rip)
	lidt ur_saved_idt(%rip)
	movl $SEL_DATA, %eax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss
	movq ur_saved_rsp(%rip), %rsp
	popfq
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbp
	popq %rbx
	ret

	.section .data
	.balign 8
ur_gdt:
	.quad 0
	.quad 0x00209a0000000000            /* 0x08: 64-bit code */
	.quad 0x00cf92000000ffff            /* 0x10: flat data */
	.quad 0x00cf9a000000ffff            /* 0x18: flat 32-bit code */
	.quad 0x00009a008000ffff            /* 0x20: 16-bit code, base 0x8000, limit 64 KiB */
	.quad 0x008f92000000ffff            /* 0x28: data, B = 0, G = 1, limit 4 GiB */
	.quad 0x00809200000001ff            /* 0x30: data, B = 0, G = 1, limit 2 MiB - 1 */
ur_gdt_end:
ur_gdt_desc:
	.word ur_gdt_end - ur_gdt - 1
	.quad ur_gdt
ur_ivt_desc:                            /* real mode's IVT: 256 vectors in the low page (unreal.c fills it) */
	.word 0x3ff
	.long UR_PAGE + 0x800
	.balign 8
ur_saved_gdt:
	.space 10
	.balign 8
ur_saved_idt:
	.space 10
	.balign 8
ur_saved_rsp:
	.quad 0
ur_saved_cr0:
	.long 0
ur_saved_cr3:
	.long 0
ur_saved_cr4:
	.long 0
ur_saved_efer:
	.long 0
ur_params:
	.long 0
