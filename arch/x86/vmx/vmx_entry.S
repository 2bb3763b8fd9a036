/* VM entry and exit. vmx_enter(regs, launched, host_rsp) saves the host's callee-saved registers, records the stack in
 * HOST_RSP, loads every guest GPR but RSP (the VMCS holds that) and launches or resumes. STI goes right before the
 * VMLAUNCH/VMRESUME, whose interrupt shadow keeps the host from taking an interrupt before the entry: a host
 * interrupt pending at entry then makes the guest exit at once whatever the guest's IF, as external-interrupt
 * exiting says (SDM 25.2). Bochs 2.7 needs it: it recomputes which events can exit only when IF changes, so a guest
 * entered with IF = 0 from a host with IF = 0 took no host interrupt at all until it changed IF itself. VM exit
 * clears RFLAGS (IF too); a VMfail turns interrupts off again. A VM exit lands at
 * vmx_exit_point with the stack as it was at the VMWRITE (the same depth every time), stores the guest GPRs back and returns 0. A VMfail falls
 * through with the host state intact apart from the GPRs, which are restored from the stack; it returns 1. */

#include "arch/x86/guest_gprs.h"
#include "arch/x86/rsb.h"

#define HOST_RSP 0x6c14

	.text
	.globl vmx_enter
vmx_enter:
	pushq %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	pushq %rdi                          /* regs, found again at the exit */
	/* The run loop enters from the same stack depth every time: VMWRITE HOST_RSP only when it moved (KVM's
	 * vmx_update_host_rsp). *host_rsp is what this VMCS holds, 0 before the first entry. */
	cmpq %rsp, (%rdx)
	je 2f
	movq $HOST_RSP, %rax
	vmwrite %rsp, %rax
	jbe .Lfail_early
	movq %rsp, (%rdx)
2:

	testb %sil, %sil                    /* launched? flags survive the MOVs below */
	LOAD_GUEST_GPRS 1
	jnz 1f
	sti
	vmlaunch
	jmp .Lfail
1:	sti
	vmresume
.Lfail:
	cli
	/* Still in the host with the guest GPRs loaded: the pops below restore the host's. */
.Lfail_early:
	popq %rdi
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	movl $1, %eax
	ret

	.globl vmx_exit_point
vmx_exit_point:
	pushq %rdi                          /* guest RDI; regs is just above it */
	movq 8(%rsp), %rdi
	STORE_GUEST_GPRS 1
	popq GPR_OFF(7)(%rdi)
	FILL_RETURN_BUFFER
	popq %rdi
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	xorl %eax, %eax
	ret
