/* The sleeps of hlt_probe.h: labels mark the announcement, the HLT and the instruction after it. */
	.text
	.globl nmi_cli_hlt, nmi_cli_hlt_armed, nmi_cli_hlt_at, nmi_cli_hlt_after
	.globl nmi_sti_hlt, nmi_sti_hlt_armed, nmi_sti_hlt_at, nmi_sti_hlt_after

/* void nmi_cli_hlt(volatile u64 *entries (rdi), volatile u32 *stop (rsi)) */
nmi_cli_hlt:
	cli
	incq (%rdi)
nmi_cli_hlt_armed:
	cmpl $0, (%rsi)
	jne nmi_cli_hlt_after
nmi_cli_hlt_at:
	hlt
nmi_cli_hlt_after:
	ret

/* void nmi_sti_hlt(volatile u64 *entries (rdi), volatile u32 *stop (rsi)) */
nmi_sti_hlt:
	cli
	incq (%rdi)
nmi_sti_hlt_armed:
	cmpl $0, (%rsi)
	jne nmi_sti_hlt_after
	sti
nmi_sti_hlt_at:
	hlt
nmi_sti_hlt_after:
	cli
	ret

	.section .note.GNU-stack, "", @progbits
