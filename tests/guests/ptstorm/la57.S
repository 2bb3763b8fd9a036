/* Changing the paging depth of IA-32e mode (phase la57): CR4.LA57 may change only while IA-32e mode is off (SDM Vol.
 * 3A 4.1.1, MOV CR4: #GP if LA57 changes with LMA = 1), so the switch goes the way of SDM 9.8.5.4:
 *
 *   64-bit  --lretq-->  compatibility mode (CS 0x18)  --CR0.PG = 0-->  LMA = 0, EFER.LME still 1
 *           --CR4 (LA57 as asked), CR3 (a PML5 or a PML4)-->  --CR0.PG = 1-->  LMA = 1  --ljmp 0x08-->  64-bit
 *
 * The code runs from identity-mapped memory below 4 GiB (the boot tables map the image so, and the caller's PML5 entry
 * 0 is the boot PML4). Nothing in between touches memory or the stack, and interrupts are off: the 64-bit IDT could not
 * serve a fault in compatibility mode with paging off. */
#define SEL_CODE64 0x08
#define SEL_CODE32 0x18
#define CR0_PG     0x80000000

	.text
	.code64
/* void la57_switch(u64 cr3 (rdi), u64 cr4 (rsi)): both below 4 GiB; CR4.PCIDE clear (CR0.PG cannot be cleared with
 * it set), CR4.PAE set. */
	.globl la57_switch
la57_switch:
	pushfq
	cli
	pushq $SEL_CODE32
	leaq 1f(%rip), %rax
	pushq %rax
	lretq
	.code32
1:	movl %cr0, %eax
	andl $~CR0_PG, %eax
	movl %eax, %cr0                     /* IA-32e mode off: LMA = 0 */
	movl %esi, %cr4
	movl %edi, %cr3
	orl $CR0_PG, %eax
	movl %eax, %cr0                     /* on again with LME = 1: LMA = 1, 4- or 5-level as CR4.LA57 says */
	ljmp $SEL_CODE64, $2f
	.code64
2:	popfq
	ret
