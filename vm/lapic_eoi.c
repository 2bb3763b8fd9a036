/* The xAPIC EOI write without the emulator. An EOI is the one APIC access every interrupt handler makes, and without
 * APIC-access virtualization (SVM without AVIC; VMX with hv.apicv=0 or without the controls) it exits as MMIO. The
 * exit already names the register: the faulting guest-physical address (EPT misconfiguration or violation, NPF's
 * EXITINFO2) is the EOI register exactly when the access began there. All that is left to know is that the access
 * was a 4-byte MOV store and how long the instruction is, which the decoder tells from the instruction bytes alone
 * (through the MMIO path's decode cache, vm/mmio_fast.c); nothing is executed, no operand is translated, and the EOI's value is ignored as the APIC ignores it (SDM Vol. 3
 * 11.8.5). KVM has no such path for xAPIC (its fast MMIO bus serves only eventfds); it relies on APICv or AVIC. */
#include "arch/x86/cpu.h"
#include "arch/x86/virt.h"
#include "kernel/options.h"
#include "vm/dev/vlapic.h"
#include "vm/emulate/emulate.h"
#include "vm/debug.h"
#include "vm/mmio_env.h"
#include "vm/vcpu.h"

/* MOV r/m32, r32 (89 /r) or MOV r/m32, imm32 (C7 /0) with a memory operand: one 4-byte store, no other effect.
 * Anything else (a byte store, XCHG, a read-modify-write, MOVNTI, a store of 8 bytes) takes the emulator, which
 * does what the vLAPIC makes of it. */
static bool is_dword_mov_store(const struct emu_insn *insn)
{
	if (insn->map != 0 || insn->vex || !insn->has_modrm || !insn->mem || insn->op_size != 4)
		return false;
	return insn->opcode == 0x89 || (insn->opcode == 0xc7 && ((insn->modrm >> 3) & 7) == 0);
}

bool vcpu_lapic_eoi_fast(struct vcpu *v, gpa_t gpa)
{
	struct vlapic *l = v->lapic;
	const struct emu_insn *insn;
	struct emu_insn buf;

	if (!hv_opts.apicv || vlapic_mode(l) != VLAPIC_MODE_XAPIC || gpa != vlapic_mmio_base(l) + VLAPIC_REG_EOI)
		return false;
	/* A data breakpoint on the store is the emulator's to raise; TF is handled below, as every skip does. */
	if (virt_ops->get_dr(v, 7) & 0xff)
		return false;
	/* The decode cache: a handler's EOI store is one instruction, met again at every interrupt, and a hit is
	 * what a fresh fetch and decode would give (vm/emulate/dcache.h), without the walk through the guest's page
	 * tables a fetch costs (about two thirds of this exit where the exit gives no instruction bytes). */
	int r = mmio_decode_cached(v, &buf, &insn);
	if (r > 0)
		return true; /* the fetch faulted: that fault is queued, the instruction not done */
	if (r < 0 || !is_dword_mov_store(insn))
		return false;
	vlapic_mmio_write(l, VLAPIC_REG_EOI, 4, 0, rdtsc());
	v->stats[VM_STAT_MMIO_EXITS]++;
	v->stats[VM_STAT_APIC_EOI_FAST]++;
	v->exit.insn_len = insn->len;
	vcpu_skip_instruction(v); /* RF and TF completed as any skip's, with nothing to do when neither is set */
	return true;
}
