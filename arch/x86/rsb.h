/* Return-stack-buffer stuffing for the VM-exit paths: after a guest ran, the RSB may hold return targets the guest
 * chose, and the host's next RETs could speculate into them. 32 calls whose return addresses are a speculation
 * trap overwrite every entry (KVM's FILL_RETURN_BUFFER); the stack is then put back. Clobbers nothing else. */
#ifndef ARCH_X86_RSB_H
#define ARCH_X86_RSB_H

#ifdef __ASSEMBLY__
.macro FILL_RETURN_BUFFER
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
.endm
#endif

#endif
