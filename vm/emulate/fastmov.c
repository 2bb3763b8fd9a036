/* The fast path for the moves that make nearly every MMIO access (88-8B, A0-A3, C6/C7 and MOVZX/MOVSX with a memory
 * operand): one memory access and at most one register write, done straight from the decoded instruction, without
 * the dispatch and the operand abstraction of emu_execute. It must give exactly what emu_execute gives for the same
 * instruction and state; tests/unit/test_emulate_fast.c and tests/fuzz/fuzz_emulate.c compare the two. */
#include "vm/emulate/internal.h"

#include "hv/errno.h"

enum emu_result emu_fast_mov(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	unsigned int size = insn->op_size, msize = size, reg = insn->reg;
	u8 op = insn->opcode;
	bool store = false, sx = false, high8 = false;
	struct emu_fault fault = {0};
	u64 val = 0;
	gva_t lin;
	enum emu_result r;

	if (!emu_insn_is_fast_mov(insn))
		return EMU_UNHANDLED;
	if (insn->map == 1) { /* MOVZX, MOVSX: a byte or word source */
		msize = (op & 1) ? 2 : 1;
		sx = op >= 0xbe;
	} else if (op >= 0xa0 && op <= 0xa3) { /* the accumulator and a moffs */
		reg = EMU_RAX;
		store = op >= 0xa2;
	} else {
		store = op == 0x88 || op == 0x89 || op == 0xc6 || op == 0xc7;
		/* Without REX, byte registers 4..7 are AH, CH, DH, BH (as emu_reg_opnd). */
		if (size == 1 && !insn->rex && reg >= 4 && reg < 8) {
			reg -= 4;
			high8 = true;
		}
	}
	if (store)
		val = op >= 0xc6 ? insn->imm : emu_reg_read(ctxt, reg, size, high8);

	r = emu_linearize_access(ctxt, insn->seg, emu_insn_ea(ctxt), msize, store, &lin);
	if (r != EMU_OK)
		return r;
	if (!ctxt->ops || (store ? !ctxt->ops->write : !ctxt->ops->read)) {
		ctxt->error = -EFAULT;
		return EMU_ERROR;
	}
	if (store)
		r = emu_callback_result(ctxt, ctxt->ops->write(ctxt->opaque, lin, &val, msize, &fault), &fault);
	else
		r = emu_callback_result(ctxt, ctxt->ops->read(ctxt->opaque, lin, &val, msize, &fault), &fault);
	if (r != EMU_OK)
		return r;
	if (!store)
		emu_reg_write(ctxt, reg, size, high8, sx ? emu_sign_extend(val, msize) : val);
	emu_advance_rip(ctxt);
	return EMU_OK;
}
