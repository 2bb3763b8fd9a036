/*
 * The stack and near branches through memory: PUSH r/m (FF /6), POP r/m (8F /0), CALL r/m (FF /2), JMP r/m (FF /4).
 * Stack accesses go through the write and read callbacks at SS:rSP, with the stack's address size (64 bits in
 * 64-bit mode, else SS.B from ctxt->stack_size), so SP wraps at 64K on a 16-bit stack. In 64-bit mode PUSH and POP
 * take 64-bit operands (16 with 66) and near branches always 64 (decode.c). Segment limits are not checked, as
 * everywhere in the emulator, except that 16-bit code is taken to have a 64K code segment; a non-canonical (or, in
 * 16-bit code, above-64K) branch target is #GP(0) before anything changes.
 */
#include "vm/emulate/internal.h"

static unsigned int stack_size(const struct emu_ctxt *ctxt)
{
	if (ctxt->mode == EMU_MODE_64)
		return 8;
	if (ctxt->stack_size == 2 || ctxt->stack_size == 4)
		return ctxt->stack_size;
	return ctxt->mode == EMU_MODE_PROT32 ? 4 : 2;
}

/* Store val (size bytes) below rSP; *new_sp is what rSP becomes, for the caller to commit once nothing can fail. */
static enum emu_result push(struct emu_ctxt *ctxt, u64 val, unsigned int size, u64 *new_sp)
{
	unsigned int ss = stack_size(ctxt);
	u64 sp = (ctxt->regs[EMU_RSP] - size) & emu_size_mask(ss);

	*new_sp = sp;
	return emu_mem_write(ctxt, EMU_SEG_SS, sp, &val, size);
}

static void commit_sp(struct emu_ctxt *ctxt, u64 sp)
{
	emu_reg_write(ctxt, EMU_RSP, stack_size(ctxt), false, sp);
}

/*
 * PUSH r/m reads its operand with the old rSP (an rSP-based address sees it before the decrement). POP r/m computes
 * the destination's address with rSP already incremented (SDM POP: "If the ESP register is used as a base register
 * for addressing a destination operand in memory, the POP instruction computes the effective address of the
 * operand after it increments the ESP register"), and a POP into rSP leaves rSP holding the popped value.
 */
enum emu_result emu_exec_push_pop(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	unsigned int size = insn->op_size, ss = stack_size(ctxt);
	u64 v = 0, old_sp = ctxt->regs[EMU_RSP], sp;
	struct emu_opnd o;
	enum emu_result r;

	if (insn->opcode == 0xff) {
		o = emu_rm_opnd(ctxt, size);
		r = emu_opnd_read(ctxt, &o, &v);
		if (r == EMU_OK)
			r = push(ctxt, v, size, &sp);
		if (r == EMU_OK)
			commit_sp(ctxt, sp);
		return r;
	}
	r = emu_mem_read(ctxt, EMU_SEG_SS, old_sp & emu_size_mask(ss), &v, size);
	if (r != EMU_OK)
		return r;
	commit_sp(ctxt, (old_sp + size) & emu_size_mask(ss));
	o = emu_rm_opnd(ctxt, size); /* the address with the incremented rSP */
	r = emu_opnd_write(ctxt, &o, v);
	if (r != EMU_OK)
		ctxt->regs[EMU_RSP] = old_sp; /* a faulting store leaves rSP as it was */
	return r;
}

/* CALL r/m pushes the next rip and jumps; JMP r/m jumps. The target is the operand, truncated to the operand
 * size (a 16-bit near branch clears the upper half of EIP). */
enum emu_result emu_exec_near_branch(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	unsigned int size = insn->op_size;
	struct emu_opnd o = emu_rm_opnd(ctxt, size);
	u64 target, sp;
	enum emu_result r = emu_opnd_read(ctxt, &o, &target);

	if (r != EMU_OK)
		return r;
	target &= emu_size_mask(size);
	if (ctxt->mode == EMU_MODE_64 && !emu_is_canonical(ctxt, target))
		return emu_raise_gp0(ctxt);
	/* 16-bit code runs with IP wrapping at 64K here (emu_next_rip): a 32-bit target past it is outside the 64K
	 * code segment, #GP(0) as the CS limit check raises it. */
	if ((ctxt->mode == EMU_MODE_REAL || ctxt->mode == EMU_MODE_PROT16) && target > 0xffff)
		return emu_raise_gp0(ctxt);
	if (emu_ext(insn) == 2) {
		r = push(ctxt, emu_next_rip(ctxt), size, &sp);
		if (r != EMU_OK)
			return r;
		commit_sp(ctxt, sp);
	}
	ctxt->rip = target;
	return EMU_OK;
}
