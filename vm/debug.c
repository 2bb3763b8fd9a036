/* The guest's debug exceptions where the hypervisor completes an instruction or raises the event itself (see
 * vm/debug.h). The guest owns the debug registers: its MOV DR runs natively on both backends (no MOV-DR exiting, no
 * DR intercepts), so the CPU applies every rule of the access itself; what the CPU cannot do is what happens in
 * instructions it never finished (they exited) and in events the hypervisor injects. That is this file. */
#include "arch/x86/cpu.h"
#include "arch/x86/virt.h"
#include "vm/debug.h"
#include "vm/dr.h"
#include "vm/emulate/emulate.h"
#include "vm/vcpu.h"

#define EXC_DB 1

void vcpu_db_update_regs(struct vcpu *v, u64 payload)
{
	u64 dr7 = virt_ops->get_dr(v, 7);

	virt_ops->set_dr(v, 6, dr6_after_db(virt_ops->get_dr(v, 6), payload));
	if (dr7 & DR7_GD)
		virt_ops->set_dr(v, 7, dr7 & ~DR7_GD);
}

void vcpu_icebp_update_regs(struct vcpu *v)
{
	u64 dr7 = virt_ops->get_dr(v, 7);

	if (dr7 & DR7_GD)
		virt_ops->set_dr(v, 7, dr7 & ~DR7_GD);
}

void vcpu_queue_db(struct vcpu *v, u64 payload)
{
	vcpu_db_update_regs(v, payload);
	vcpu_queue_exception(v, EXC_DB, false, 0);
}

/* A #DB the CPU raised and the hypervisor intercepted. Its payload is the backend's reading of the exit; one case
 * reads empty on some CPUs: Bochs' SVM checks the #DB intercept before it commits BD to DR6 (and clears GD), so a
 * general-detect fault arrives with no cause at all. No other #DB is causeless (INT1 has its own intercept), so a
 * causeless one with DR7.GD set, at a MOV DR, is that fault: BD. */
void vcpu_reflect_db(struct vcpu *v, u64 payload)
{
	struct emu_insn insn;

	if (!(payload & DR6_WRITABLE) && (virt_ops->get_dr(v, 7) & DR7_GD) && !vcpu_decode_insn(v, &insn) &&
	    insn.map == 1 && (insn.opcode == 0x21 || insn.opcode == 0x23))
		payload |= DR6_BD;
	vcpu_queue_db(v, payload);
}

void vcpu_complete_instruction(struct vcpu *v, u64 rflags_before, u64 hits)
{
	u64 rflags = virt_ops->get_rflags(v);

	/* RF suppresses instruction breakpoints for one instruction only: the one that just completed. */
	if (rflags & RFLAGS_RF)
		virt_ops->set_rflags(v, rflags & ~RFLAGS_RF);
	/* TF as the instruction began (an instruction that sets TF is not trapped after, one that clears it is: SDM
	 * Vol. 3B 18.3.1.4). Data and I/O breakpoints and the step are one trap, with all their bits. */
	if (rflags_before & RFLAGS_TF)
		hits |= DR6_BS;
	if (hits)
		vcpu_queue_db(v, hits);
}

u64 vcpu_io_breakpoints_enabled(struct vcpu *v, u64 dr7, u16 port, unsigned int size)
{
	u64 dr[4];

	for (int i = 0; i < 4; i++)
		dr[i] = virt_ops->get_dr(v, i);
	return dr_io_hits(dr, dr7, virt_ops->get_cr(v, 4) & CR4_DE, port, size);
}

bool vcpu_take_hlt_step(struct vcpu *v)
{
	if (!v->halted || !v->hlt_step)
		return false;
	v->hlt_step = false;
	v->halted = false;
	vcpu_queue_db(v, DR6_BS);
	return true;
}

/* DR7.GD: any MOV DR raises #DB with BD, as a fault (the access does not happen), and GD is cleared so that the
 * handler may use the registers (SDM Vol. 3B 18.2.4). */
static int general_detect(struct vcpu *v, struct emu_fault *fault)
{
	if (!(virt_ops->get_dr(v, 7) & DR7_GD))
		return 0;
	vcpu_db_update_regs(v, DR6_BD);
	*fault = (struct emu_fault){.vector = EXC_DB};
	return EMU_CB_FAULT;
}

int vcpu_get_dr(struct vcpu *v, unsigned int dr, u64 *val, struct emu_fault *fault)
{
	int r = general_detect(v, fault);

	if (r)
		return r;
	*val = virt_ops->get_dr(v, (int)dr);
	return 0;
}

int vcpu_set_dr(struct vcpu *v, unsigned int dr, u64 val, struct emu_fault *fault)
{
	int r = general_detect(v, fault);

	if (r)
		return r;
	if (dr == 6 || dr == 7) {
		r = dr == 6 ? dr6_from_write(val, &val) : dr7_from_write(val, &val);
		if (r) {
			*fault = (struct emu_fault){.vector = EXC_GP, .has_error = true};
			return EMU_CB_FAULT;
		}
	}
	virt_ops->set_dr(v, (int)dr, val);
	return 0;
}

void vcpu_task_switch_debug(struct vcpu *v, bool trap)
{
	u64 dr7 = virt_ops->get_dr(v, 7);

	if (dr7 & (DR7_LOCAL_ENABLES | DR7_LE))
		virt_ops->set_dr(v, 7, dr7 & ~(DR7_LOCAL_ENABLES | DR7_LE));
	if (trap)
		vcpu_queue_db(v, DR6_BT);
}
