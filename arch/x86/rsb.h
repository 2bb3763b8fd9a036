/* Return-stack-buffer stuffing for the VM-exit paths: after a guest ran, the RSB may hold return targets the guest
 * chose, and the host's next RETs could speculate into them. 32 calls whose return addresses are a speculation
 * trap overwrite every entry (KVM's FILL_RETURN_BUFFER); the stack is then put back. Clobbers nothing else.
 * Included by the exit stubs (assembly) and by rsb.c (C). */
#ifndef ARCH_X86_RSB_H
#define ARCH_X86_RSB_H

#ifdef __ASSEMBLY__
/* Each use is recorded in .rsb_fill_sites (start, end) for rsb_fill_disable; the fill is long enough for its first
 * five bytes to take a JMP rel32 over it. */
.macro FILL_RETURN_BUFFER
	.pushsection .rsb_fill_sites, "a"
	.quad 770f, 779f
	.popsection
770:
	.rept 16
	call 771f
772:	pause
	lfence
	jmp 772b
771:	call 773f
774:	pause
	lfence
	jmp 774b
773:
	.endr
	addq $(32 * 8), %rsp
779:
.endm
#else
/* hv.rsb_fill=0: turn every fill into a jump over it, for the bench's measurement of what the fill costs (bench/
 * README.md). Called once on the BSP before any VM runs and before the APs start; the default costs nothing. */
void rsb_fill_disable(void);
#endif

#endif
