/* The 32-bit half of the task-switch test (tswitch.c builds the GDT, IDT and TSSs it uses): leave IA-32e mode for
 * protected mode without paging (as lib/mode32.S does, SDM Vol. 3A 9.8.5.4), run the phases as the main task, come
 * back. Every task is code below; each records what it sees in ts_snap/ts_res for the C side to check. Any
 * unexpected exception lands in ts_fatal, which records it and leaves. */
#include "tswitch.h"

#define MSR_EFER    0xc0000080
#define EFER_LME    0x100
#define CR0_PG      0x80000000
#define EFL_NT      0x4000
#define LAPIC       0xfee00000

#define RES(i)      (ts_res + 4 * (i))
#define SNAP(p, i)  (ts_snap + 4 * ((p) * SN_N + (i)))
#define BACK(p, i)  (ts_back + 4 * ((p) * BK_N + (i)))
#define DESC_HI(s)  (ts_gdt + (s) + 4)

	.text
	.code64
	.globl ts_run32
ts_run32:
	pushq %rbx
	pushq %rbp
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, saved_rsp(%rip)
	sidt saved_idt(%rip)
	sgdt saved_gdt(%rip)
	movq %cr0, %rax
	movl %eax, saved_cr0(%rip)
	movq %cr3, %rax
	movl %eax, saved_cr3(%rip)
	movl $MSR_EFER, %ecx
	rdmsr
	movl %eax, saved_efer(%rip)
	movl $TS_DATA, %eax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss
	pushq $TS_CODE32
	leaq compat(%rip), %rax
	pushq %rax
	lretq

	.code32
compat:
	movl %cr0, %eax
	andl $~CR0_PG, %eax
	movl %eax, %cr0                     /* IA-32e mode off */
	movl $MSR_EFER, %ecx
	movl saved_efer, %eax
	andl $~EFER_LME, %eax
	xorl %edx, %edx
	wrmsr
	lgdt gdt_desc
	lidt idt_desc
	ljmp $TS_CODE32, $1f
1:	movl $TS_DATA, %eax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss
	movl %esp, base_esp
	xorl %eax, %eax
	lldt %ax
	movl $TS_SEL_MAIN, %eax
	ltr %ax

	/* JMP to task A (SDM 8.3: the old task's busy bit clears, no back-link, NT stays clear). */
	movl $PH_JMP, ts_phase
	movl $1, RES(R_PHASE)
	movl $0x11111111, %ebx
	ljmp $TS_SEL_A, $0
	.globl ts_jmp_ret
ts_jmp_ret:
	movl $PH_JMP, %edi
	call record_back

	/* CALL to task A: nested, back-link, both busy; A's IRET comes back. */
	movl $PH_CALL, ts_phase
	movl $2, RES(R_PHASE)
	movl $0x22222222, %ebx
	lcall $TS_SEL_A, $0
	.globl ts_call_ret
ts_call_ret:
	movl $PH_CALL, %edi
	call record_back

	/* CALL through a task gate in the GDT. */
	movl $PH_GATE, ts_phase
	movl $3, RES(R_PHASE)
	movl $0x33333333, %ebx
	lcall $TS_SEL_GATE, $0
	.globl ts_gate_ret
ts_gate_ret:
	movl $PH_GATE, %edi
	call record_back
	clts

	/* NMI through a task gate: NMIs stay blocked until the NMI task's IRET (SDM 6.7.1). */
	movl $4, RES(R_PHASE)
	call send_self_nmi
	movl $5000000, %ecx
1:	cmpl $2, RES(R_NMI_COUNT)
	jae 2f
	pause
	loop 1b
	movl $1, RES(R_NMI_TMO)
2:	clts

	/* A double fault through a task gate: a #GP whose IDT gate is not present raises #NP while it is delivered,
	 * and two contributory exceptions make a #DF (SDM 6.15, Table 6-5), error code 0. */
	movl $5, RES(R_PHASE)
	movl ts_gate13 + 8, %eax
	movl %eax, ts_idt + 13 * 8
	movl ts_gate13 + 12, %eax
	movl %eax, ts_idt + 13 * 8 + 4
	movl $TS_BAD_SEL, %eax
	.globl ts_df_fault
ts_df_fault:
	movw %ax, %ds
df_resume:
	movl $1, RES(R_DF_RESUMED)
	clts

	/* #DE through a task gate whose TSS descriptor is too small: the switch raises #TS before its commit point,
	 * while the #DE is still being delivered, and two contributory exceptions make a #DF (SDM 6.15, Table 6-5;
	 * 8.3 step 4's limit check), through its task gate. Bochs makes that check before its task-switch exit
	 * (VMX and SVM alike) and merges the two itself; where the exit comes first, the hypervisor does. */
	movl $df2_resume, ts_df_resume
	movl ts_gate13 + 24, %eax
	movl %eax, ts_idt
	movl ts_gate13 + 28, %eax
	movl %eax, ts_idt + 4
	xorl %edx, %edx
	xorl %ecx, %ecx
	movl $1, %eax
	.globl ts_de_fault
ts_de_fault:
	divl %ecx
df2_resume:
	movl $1, RES(R_DF2_RESUMED)
	clts

	/* INVD: a no-op at CPL 0, #GP(0) at CPL 3 (SDM Vol. 2A INVD), here through a task gate from a CPL-3 task. */
	movl $6, RES(R_PHASE)
	invd
	movl $1, RES(R_INVD0)
	movl ts_gate13 + 16, %eax
	movl %eax, ts_idt + 13 * 8
	movl ts_gate13 + 20, %eax
	movl %eax, ts_idt + 13 * 8 + 4
	lcall $TS_SEL_USER, $0
	clts

	/* PAE paging: the switch loads the new task's CR3 and, with it, its PDPTEs (SDM 8.3 step 12, 4.4.1): the new
	 * task reads through a PDPTE only its tables have; the switch back restores the main task's. */
	movl $7, RES(R_PHASE)
	movl ts_pae_cr3, %eax
	movl %eax, %cr3
	movl %cr4, %eax
	orl $0x20, %eax
	movl %eax, %cr4                     /* PAE (long mode had it on already) */
	movl %cr0, %eax
	orl $CR0_PG, %eax
	movl %eax, %cr0
	ljmp $TS_SEL_PAE, $0
	movl %cr3, %eax
	movl %eax, RES(R_PAE_BACK)
	movl %cr0, %eax
	andl $~CR0_PG, %eax
	movl %eax, %cr0
	clts

	/* A TSS with its T bit: #DB with DR6.BT before the new task's first instruction; and DR7's local enables
	 * (L0, L1, LE set here; G1, GE too, which stay) cleared by the switch. The breakpoints are at address 0,
	 * executed never. */
	movl $8, RES(R_PHASE)
	xorl %eax, %eax
	movl %eax, %dr0
	movl %eax, %dr1
	movl %eax, %dr6
	movl $0x70d, %eax
	movl %eax, %dr7
	lcall $TS_SEL_TRAP, $0
	movl %dr7, %eax
	movl %eax, RES(R_TRAP_DR7)
	movl $0x400, %eax
	movl %eax, %dr7
	clts

	/* A fault after the commit point (SDM 8.3 steps 12-13; Vol. 3A 6.15, #NP, Program State Change): the new
	 * task's DS is not present, so the switch raises #NP(DS) in the new task, before its first instruction, with
	 * every segment register already holding the new task's selector. Its handler (an interrupt gate) records
	 * them, loads usable data segments and returns to the task, which IRETs back here. */
	movl $9, RES(R_PHASE)
	.globl ts_np_call
ts_np_call:
	lcall $TS_SEL_NP, $0
	clts
	movl $10, RES(R_PHASE)

leave32:
	cli
	movl $TS_DATA, %eax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movl base_esp, %esp
	lgdt saved_gdt                      /* 32-bit LGDT: limit and base[31:0], which is all there is */
	movl %cr0, %eax
	andl $~CR0_PG, %eax
	movl %eax, %cr0
	movl saved_cr3, %eax
	movl %eax, %cr3
	movl $MSR_EFER, %ecx
	movl saved_efer, %eax
	xorl %edx, %edx
	wrmsr
	movl saved_cr0, %eax
	movl %eax, %cr0                     /* EFER.LMA = 1, compatibility mode */
	ljmp $0x08, $back64

/* The main task after task A came back to it: record what it sees (edi: the phase). */
record_back:
	imull $BK_N * 4, %edi
	addl $ts_back, %edi
	pushfl
	popl %eax
	movl %eax, BK_EFL * 4(%edi)
	movl DESC_HI(TS_SEL_A), %eax
	movl %eax, BK_DA * 4(%edi)
	movl DESC_HI(TS_SEL_MAIN), %eax
	movl %eax, BK_DMAIN * 4(%edi)
	movl %ebx, BK_EBX * 4(%edi)
	movl ts_tss_a + 0x24, %eax
	movl %eax, BK_AEFL * 4(%edi)
	ret

/* A physical-destination NMI IPI to this CPU's own APIC ID (the self shorthand is not valid with NMI). */
send_self_nmi:
	movl LAPIC + 0x20, %eax
	andl $0xff000000, %eax
	movl %eax, LAPIC + 0x310
	movl $0x4400, LAPIC + 0x300
	ret

/* Task A: snapshot, then back the way it came: IRET when nested, else JMP to the main task. Each entry resumes
 * after the instruction that left it last time, hence the loop. */
	.globl ts_task_a
ts_task_a:
	movl ts_phase, %edi
	imull $SN_N * 4, %edi
	addl $ts_snap, %edi
	xorl %eax, %eax
	str %ax
	movl %eax, SN_TR * 4(%edi)
	pushfl
	popl %eax
	movl %eax, SN_EFL * 4(%edi)
	movzwl ts_tss_a, %eax
	movl %eax, SN_LINK * 4(%edi)
	movl DESC_HI(TS_SEL_MAIN), %eax
	movl %eax, SN_DMAIN * 4(%edi)
	movl DESC_HI(TS_SEL_A), %eax
	movl %eax, SN_DA * 4(%edi)
	movl ts_tss_main + 0x20, %eax
	movl %eax, SN_MEIP * 4(%edi)
	movl ts_tss_main + 0x34, %eax
	movl %eax, SN_MEBX * 4(%edi)
	movl %cr0, %eax
	movl %eax, SN_CR0 * 4(%edi)
	movl $0xaaaaaaaa, %ebx              /* the main task must get its own EBX back */
	pushfl
	popl %eax
	testl $EFL_NT, %eax
	jz 1f
	iret
	jmp ts_task_a
1:	ljmp $TS_SEL_MAIN, $0
	jmp ts_task_a

/* The NMI task: the first time, send a second NMI and wait: it must not come in before the IRET. */
	.globl ts_task_nmi
ts_task_nmi:
	incl RES(R_NMI_COUNT)
	cmpl $1, RES(R_NMI_COUNT)
	jne 2f
	xorl %eax, %eax
	str %ax
	movl %eax, RES(R_NMI_TR)
	pushfl
	popl RES(R_NMI_EFL)
	movzwl ts_tss_nmi, %eax
	movl %eax, RES(R_NMI_LINK)
	call send_self_nmi
	movl $200000, %ecx
1:	pause
	loop 1b
	movl RES(R_NMI_COUNT), %eax
	movl %eax, RES(R_NMI_DURING)
2:	iret
	jmp ts_task_nmi

/* The double-fault task: the error code is on its stack; resume the main task past the faulting instruction. */
	.globl ts_task_df
ts_task_df:
	incl RES(R_DF_COUNT)
	popl %eax
	movl %eax, RES(R_DF_ERR)
	movl %esp, RES(R_DF_ESP)
	movzwl ts_tss_df, %eax
	movl %eax, RES(R_DF_LINK)
	movl ts_tss_main + 0x20, %eax
	cmpl $1, RES(R_DF_COUNT)
	jne 1f
	movl %eax, RES(R_DF_MEIP)
	jmp 2f
1:	movl %eax, RES(R_DF2_MEIP)
2:	movl ts_df_resume, %eax
	movl %eax, ts_tss_main + 0x20
	iret
	jmp ts_task_df

/* The CPL-3 task: INVD raises #GP; the #GP task steps it over. */
	.globl ts_task_user
ts_task_user:
	movl %cs, %eax
	movl %eax, RES(R_USER_CS)
	.globl ts_user_invd
ts_user_invd:
	invd
	movl $1, RES(R_USER_DONE)
	iret
	jmp ts_task_user

	.globl ts_task_gp
ts_task_gp:
	incl RES(R_GP_COUNT)
	popl %eax
	movl %eax, RES(R_GP_ERR)
	movzwl ts_tss_gp, %eax
	movl %eax, RES(R_GP_LINK)
	movl ts_tss_user + 0x20, %eax
	movl %eax, RES(R_GP_UEIP)
	addl $2, ts_tss_user + 0x20
	iret
	jmp ts_task_gp

/* The PAE task: its CR3 maps linear 1 GiB up to physical 0, which the main task's tables leave unmapped. */
	.globl ts_task_pae
ts_task_pae:
	movl %cr3, %eax
	movl %eax, RES(R_PAE_CR3)
	movl ts_marker + 0x40000000, %eax
	movl %eax, RES(R_PAE_VAL)
	ljmp $TS_SEL_MAIN, $0
	jmp ts_task_pae

/* The T-bit task, and its #DB handler (IDT vector 1, an interrupt gate). */
	.globl ts_task_trap
ts_task_trap:
	incl RES(R_TRAP_RAN)
	iret
	jmp ts_task_trap

	.globl ts_db_handler
ts_db_handler:
	pushl %eax
	incl RES(R_DB_COUNT)
	cmpl $1, RES(R_DB_COUNT)
	jne 1f
	movl 4(%esp), %eax
	movl %eax, RES(R_DB_EIP)
	movl %dr6, %eax
	movl %eax, RES(R_DB_DR6)
	movl RES(R_TRAP_RAN), %eax
	movl %eax, RES(R_DB_RAN)
1:	popl %eax
	iret

/* The segnp task: it runs once its #NP handler made DS usable. */
	.globl ts_task_np
ts_task_np:
	incl RES(R_NP_RAN)
	iret
	jmp ts_task_np

/* #NP (IDT vector 11, an interrupt gate): on the new task's stack (SS is loaded), with DS unusable until reloaded,
 * so the stores go through SS. */
	.globl ts_np_handler
ts_np_handler:
	incl %ss:RES(R_NP_COUNT)
	movl %es, %eax
	movl %eax, %ss:RES(R_NP_SEGS + 0)
	movl %ss, %eax
	movl %eax, %ss:RES(R_NP_SEGS + 1)
	movl %ds, %eax
	movl %eax, %ss:RES(R_NP_SEGS + 2)
	movl %fs, %eax
	movl %eax, %ss:RES(R_NP_SEGS + 3)
	movl %gs, %eax
	movl %eax, %ss:RES(R_NP_SEGS + 4)
	xorl %eax, %eax
	str %ax
	movl %eax, %ss:RES(R_NP_TR)
	popl %eax
	movl %eax, %ss:RES(R_NP_ERR)
	movl (%esp), %eax
	movl %eax, %ss:RES(R_NP_EIP)
	movl 4(%esp), %eax
	movl %eax, %ss:RES(R_NP_CS)
	movl $ts_task_np, (%esp)            /* QEMU's TCG reports it at the LCALL: resume the task all the same */
	movl $TS_DATA_B, %eax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	iret

/* Unexpected exceptions (interrupt gates, in whatever task): record the vector and leave. */
	.globl ts_fatal_stubs
	.balign 16
ts_fatal_stubs:
	.set vec, 0
	.rept 32
	.balign 16
	pushl $vec
	jmp ts_fatal
	.set vec, vec + 1
	.endr
ts_fatal:
	popl %eax
	incl %eax
	movl %eax, RES(R_FATAL)
	movl (%esp), %eax                   /* EIP, or the error code for the vectors that push one */
	movl %eax, RES(R_FATAL_EIP)
	jmp leave32

	.code64
back64:
	movl $TS_DATA, %eax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss
	movq saved_rsp(%rip), %rsp
	lidt saved_idt(%rip)
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbp
	popq %rbx
	ret

	.section .data
	.balign 16
saved_idt:  .quad 0, 0
saved_gdt:  .quad 0, 0
saved_rsp:  .quad 0
saved_cr0:  .long 0
saved_cr3:  .long 0
saved_efer: .long 0
base_esp:   .long 0
ts_phase:   .long 0
	.balign 8
gdt_desc:
	.word TS_GDT_N * 8 - 1
	.long ts_gdt
	.balign 8
idt_desc:
	.word 32 * 8 - 1
	.long ts_idt

	.data
	.balign 4
ts_df_resume:                           /* where the double-fault task resumes the main task */
	.long df_resume
