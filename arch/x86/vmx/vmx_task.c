/* The task-switch exit on VMX (basic exit reason 9; SDM Vol. 3C 28.2.1, Table 28-2 for the qualification): the new
 * TSS's selector in bits 15:0 and the source in bits 31:30 (0 CALL, 1 IRET, 2 JMP, 3 a task gate in the IDT). A
 * switch through a task gate comes with the event in the IDT-vectoring information; the emulated switch delivers
 * that event, so it is taken out of re-injection here, as KVM's handle_task_switch does. */
#include "arch/x86/vmx/vmx.h"
#include "vm/emulate/task_switch.h"

static void set_nmi_blocking(struct vcpu *v, bool on)
{
	struct vmx_vcpu *x = to_vmx(v);
	u32 intr = (u32)vmx_vc_read(x, VMCS_C_INTR_STATE);
	u32 want = on ? intr | GUEST_INTR_NMI : intr & ~GUEST_INTR_NMI;

	if (want != intr)
		vmx_vc_write(x, VMCS_C_INTR_STATE, want);
}

enum exit_reason vmx_decode_task_switch(struct vcpu *v, u64 qual)
{
	struct vm_exit *e = &v->exit;
	u32 idt = (u32)vmx_vc_read(to_vmx(v), VMCS_C_IDT_VECTORING);
	u32 type = idt & (7u << 8);
	bool idt_valid = idt & INTR_INFO_VALID;

	e->task.sel = (u16)qual;
	e->task.source = (u8)((qual >> 30) & 3);
	e->task.soft_vector = -1;
	e->task.exc_vector = -1;
	e->task.skip = true; /* an instruction switched, unless an event did */
	if (e->task.source == TS_GATE && idt_valid) {
		switch (type) {
		case INTR_TYPE_NMI:
			/* Delivering an NMI blocks NMIs until the next IRET (SDM 6.7.1), whatever the handler is; the
			 * exit came before the delivery completed, so the CPU has not set the blocking yet. */
			set_nmi_blocking(v, true);
			e->task.skip = false;
			break;
		case INTR_TYPE_HW_EXCEPTION:
			e->task.exc_vector = idt & 0xff;
			e->task.has_error = idt & INTR_INFO_HAS_ERROR;
			if (e->task.has_error)
				e->task.error_code = vmcs_read32(IDT_VECTORING_ERROR_CODE);
			e->task.skip = false;
			break;
		case INTR_TYPE_EXT_INTR:
			e->task.skip = false;
			break;
		case INTR_TYPE_SOFT_INTR:
			e->task.soft_vector = idt & 0xff;
			break;
		default: /* INT3, INTO, INT1: the old task resumes after them */
			break;
		}
	}
	/* IRET unblocks NMIs, a task-returning one too (SDM 6.7.1). */
	if (e->task.source == TS_IRET)
		set_nmi_blocking(v, false);
	return EXIT_TASK_SWITCH;
}
