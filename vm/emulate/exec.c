/* Execution of a decoded instruction: the LOCK rule, the dispatch to each family's handler, and the plain moves and
 * ALU forms. Each handler does all its memory accesses before it changes any register or flag, so an access that
 * faults leaves the guest's state as the CPU would: untouched, with rip still at the instruction. */
#include "vm/emulate/internal.h"

/* LOCK is legal only on these read-modify-writes, and only with a memory destination; elsewhere it is #UD. */
static bool lock_ok(const struct emu_insn *insn)
{
	u8 op = insn->opcode;
	unsigned int ext = emu_ext(insn);

	if (!insn->mem || !insn->has_modrm || insn->vex)
		return false;
	if (insn->map == 1)
		return op == 0xab || op == 0xb3 || op == 0xbb || (op == 0xba && ext >= 5) || op == 0xb0 ||
		       op == 0xb1 || op == 0xc0 || op == 0xc1 || (op == 0xc7 && ext == 1);
	if (insn->map != 0)
		return false;
	if (op < 0x40)
		return (op & 7) <= 1 && (op >> 3) != EMU_ALU_CMP;
	switch (op) {
	case 0x80:
	case 0x81:
	case 0x82:
	case 0x83:
		return ext != EMU_ALU_CMP;
	case 0x86:
	case 0x87:
		return true;
	case 0xfe:
	case 0xff:
		return ext <= 1;
	case 0xf6:
	case 0xf7:
		return ext == 2 || ext == 3;
	default:
		return false;
	}
}

/* dst = dst op src, flags; CMP and TEST only set flags. */
static enum emu_result exec_alu(struct emu_ctxt *ctxt, enum emu_alu_op op, const struct emu_opnd *dst, u64 src)
{
	u64 a, res, fl = ctxt->rflags;
	enum emu_result r = emu_opnd_read(ctxt, dst, &a);

	if (r != EMU_OK)
		return r;
	res = emu_alu(op, a, src, dst->size, &fl);
	if (op != EMU_ALU_CMP && op != EMU_ALU_TEST) {
		r = emu_opnd_rmw_write(ctxt, dst, a, res);
		if (r != EMU_OK)
			return r;
	}
	ctxt->rflags = fl;
	return EMU_OK;
}

/* 00-3D: the eight ALU operations in their six forms each. */
static enum emu_result exec_alu_row(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	enum emu_alu_op op = insn->opcode >> 3;
	unsigned int size = insn->op_size;
	struct emu_opnd rm = emu_rm_opnd(ctxt, size), reg = emu_reg_opnd(ctxt, insn->reg, size);
	struct emu_opnd acc = emu_reg_opnd(ctxt, EMU_RAX, size);
	enum emu_result r;
	u64 v;

	switch (insn->opcode & 7) {
	case 0:
	case 1:
		return exec_alu(ctxt, op, &rm, emu_reg_read(ctxt, reg.reg, size, reg.high8));
	case 2:
	case 3:
		r = emu_opnd_read(ctxt, &rm, &v);
		return r != EMU_OK ? r : exec_alu(ctxt, op, &reg, v);
	default:
		return exec_alu(ctxt, op, &acc, insn->imm);
	}
}

/* MOV in all its forms: 88-8B, A0-A3, C6/C7; and MOVNTI (0F C3), a store whose cache hint means nothing here. */
static enum emu_result exec_mov(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	unsigned int size = insn->op_size;
	struct emu_opnd rm = emu_rm_opnd(ctxt, size), reg = emu_reg_opnd(ctxt, insn->reg, size);
	struct emu_opnd acc = emu_reg_opnd(ctxt, EMU_RAX, size);
	enum emu_result r;
	u64 v;

	if (insn->map == 1) { /* MOVNTI: NP 0F C3, 32 or 64 bits */
		if (insn->opsize_prefix || insn->rep)
			return emu_raise_ud(ctxt);
		return emu_opnd_write(ctxt, &rm, emu_reg_read(ctxt, insn->reg, size, false));
	}
	switch (insn->opcode) {
	case 0x88:
	case 0x89:
		return emu_opnd_write(ctxt, &rm, emu_reg_read(ctxt, reg.reg, size, reg.high8));
	case 0x8a:
	case 0x8b:
		r = emu_opnd_read(ctxt, &rm, &v);
		if (r == EMU_OK)
			emu_opnd_write(ctxt, &reg, v);
		return r;
	case 0xa0:
	case 0xa1:
		v = 0;
		r = emu_mem_read(ctxt, insn->seg, emu_insn_ea(ctxt), &v, size);
		if (r == EMU_OK)
			emu_opnd_write(ctxt, &acc, v);
		return r;
	case 0xa2:
	case 0xa3:
		v = emu_reg_read(ctxt, EMU_RAX, size, false);
		return emu_mem_write(ctxt, insn->seg, emu_insn_ea(ctxt), &v, size);
	default: /* C6, C7 */
		return emu_opnd_write(ctxt, &rm, insn->imm);
	}
}

/* MOVZX, MOVSX (0F B6/B7/BE/BF) and MOVSXD (63). */
static enum emu_result exec_movx(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	unsigned int src_size, dst_size = insn->op_size;
	bool sx;
	struct emu_opnd src, dst = emu_reg_opnd(ctxt, insn->reg, dst_size);
	enum emu_result r;
	u64 v;

	if (insn->map == 0) {
		src_size = MIN(dst_size, 4u); /* MOVSXD: 32 bits, or a plain move with 16- and 32-bit operands */
		sx = true;
	} else {
		src_size = (insn->opcode & 1) ? 2 : 1;
		sx = insn->opcode >= 0xbe;
	}
	src = emu_rm_opnd(ctxt, src_size);
	r = emu_opnd_read(ctxt, &src, &v);
	if (r != EMU_OK)
		return r;
	emu_opnd_write(ctxt, &dst, sx ? emu_sign_extend(v, src_size) : v);
	return EMU_OK;
}

/* CMOVcc (0F 40-4F): the source is read whatever the condition (a memory source faults even when no move happens),
 * and a 32-bit destination is written either way, so its upper half is cleared in 64-bit mode (SDM CMOVcc). */
static enum emu_result exec_cmov(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	unsigned int size = insn->op_size;
	struct emu_opnd src = emu_rm_opnd(ctxt, size);
	enum emu_result r;
	u64 v;

	r = emu_opnd_read(ctxt, &src, &v);
	if (r != EMU_OK)
		return r;
	if (emu_cond(insn->opcode & 15, ctxt->rflags))
		emu_reg_write(ctxt, insn->reg, size, false, v);
	else if (size == 4)
		emu_reg_write(ctxt, insn->reg, 4, false, ctxt->regs[insn->reg & 15]);
	return EMU_OK;
}

/* SETcc r/m8 (0F 90-9F): ModRM.reg is ignored. */
static enum emu_result exec_setcc(struct emu_ctxt *ctxt)
{
	struct emu_opnd dst = emu_rm_opnd(ctxt, 1);

	return emu_opnd_write(ctxt, &dst, emu_cond(ctxt->insn.opcode & 15, ctxt->rflags));
}

/* XLAT (D7): AL = [seg:rBX + AL], the table base in the address size, AL zero-extended. */
static enum emu_result exec_xlat(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	u64 ea = (ctxt->regs[EMU_RBX] + (ctxt->regs[EMU_RAX] & 0xff)) & emu_size_mask(insn->addr_size);
	u64 v = 0;
	enum emu_result r = emu_mem_read(ctxt, insn->seg, ea, &v, 1);

	if (r == EMU_OK)
		emu_reg_write(ctxt, EMU_RAX, 1, false, v);
	return r;
}

/* F6/F7 /0-/3 and FE/FF /0-/1. */
static enum emu_result exec_unary(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	struct emu_opnd rm = emu_rm_opnd(ctxt, insn->op_size);
	static const enum emu_alu_op grp3[4] = {EMU_ALU_TEST, EMU_ALU_TEST, EMU_ALU_NOT, EMU_ALU_NEG};
	enum emu_alu_op op;

	if (insn->opcode >= 0xfe)
		op = emu_ext(insn) ? EMU_ALU_DEC : EMU_ALU_INC;
	else
		op = grp3[emu_ext(insn) & 3];
	return exec_alu(ctxt, op, &rm, insn->imm);
}

static enum emu_result exec_map0(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	u8 op = insn->opcode;

	if (op < 0x40)
		return exec_alu_row(ctxt);
	switch (op) {
	case 0x63:
		return exec_movx(ctxt);
	case 0x69:
	case 0x6b:
		return emu_exec_muldiv(ctxt);
	case 0x80:
	case 0x81:
	case 0x82:
	case 0x83: {
		struct emu_opnd rm = emu_rm_opnd(ctxt, insn->op_size);
		return exec_alu(ctxt, emu_ext(insn), &rm, insn->imm);
	}
	case 0x84:
	case 0x85: {
		struct emu_opnd rm = emu_rm_opnd(ctxt, insn->op_size), reg = emu_reg_opnd(ctxt, insn->reg, insn->op_size);
		return exec_alu(ctxt, EMU_ALU_TEST, &rm, emu_reg_read(ctxt, reg.reg, reg.size, reg.high8));
	}
	case 0x86:
	case 0x87:
		return emu_exec_xchg(ctxt);
	case 0x8f:
		return emu_exec_push_pop(ctxt);
	case 0xa8:
	case 0xa9: {
		struct emu_opnd acc = emu_reg_opnd(ctxt, EMU_RAX, insn->op_size);
		return exec_alu(ctxt, EMU_ALU_TEST, &acc, insn->imm);
	}
	case 0xc0:
	case 0xc1:
	case 0xd0:
	case 0xd1:
	case 0xd2:
	case 0xd3:
		return emu_exec_shift(ctxt);
	case 0xd7:
		return exec_xlat(ctxt);
	case 0xf4:
		return emu_exec_system(ctxt);
	case 0xf6:
	case 0xf7:
		return emu_ext(insn) >= 4 ? emu_exec_muldiv(ctxt) : exec_unary(ctxt);
	case 0xfe:
		return exec_unary(ctxt);
	case 0xff:
		return emu_ext(insn) == 6 ? emu_exec_push_pop(ctxt) : exec_unary(ctxt);
	default:
		return exec_mov(ctxt);
	}
}

static enum emu_result exec_map1(struct emu_ctxt *ctxt)
{
	u8 op = ctxt->insn.opcode;

	if (op >= 0x40 && op <= 0x4f)
		return exec_cmov(ctxt);
	if (op >= 0x90 && op <= 0x9f)
		return exec_setcc(ctxt);
	switch (op) {
	case 0x00:
	case 0x01:
	case 0x06:
	case 0x08:
	case 0x09:
	case 0x20:
	case 0x21:
	case 0x22:
	case 0x23:
	case 0x30:
	case 0x32:
		return emu_exec_system(ctxt);
	case 0xa4:
	case 0xa5:
	case 0xac:
	case 0xad:
		return emu_exec_shift_double(ctxt);
	case 0xaf:
		return emu_exec_muldiv(ctxt);
	case 0xb0:
	case 0xb1:
		return emu_exec_cmpxchg(ctxt);
	case 0xb6:
	case 0xb7:
	case 0xbe:
	case 0xbf:
		return exec_movx(ctxt);
	case 0xb8:
	case 0xbc:
	case 0xbd:
		return emu_exec_bitscan(ctxt);
	case 0xc0:
	case 0xc1:
		return emu_exec_xadd(ctxt);
	case 0xc3:
		return exec_mov(ctxt);
	case 0xc7:
		return emu_exec_cmpxchg8b(ctxt);
	case 0xa3:
	case 0xab:
	case 0xb3:
	case 0xbb:
	case 0xba:
		return emu_exec_bt(ctxt);
	default:
		return emu_exec_vector(ctxt);
	}
}

static enum emu_result exec_map2(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;

	switch (insn->opcode) {
	case 0x2a:
		return emu_exec_vector(ctxt);
	case 0xf0:
	case 0xf1:
		return emu_exec_movbe(ctxt);
	case 0xf6:
		return insn->vex ? emu_exec_bmi(ctxt) : emu_exec_adx(ctxt);
	default:
		return emu_exec_bmi(ctxt);
	}
}

/* Instructions that set rip themselves: the string instructions (a REP batch leaves it at the instruction) and the
 * near branches. */
static bool moves_rip(const struct emu_insn *insn)
{
	u8 op = insn->opcode;

	if (insn->map != 0)
		return false;
	if (op == 0xff)
		return emu_ext(insn) == 2 || emu_ext(insn) == 4;
	return (op >= 0x6c && op <= 0x6f) || (op >= 0xa4 && op <= 0xa7) || (op >= 0xaa && op <= 0xaf);
}

enum emu_result emu_execute(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	enum emu_result r;

	if (!insn->len)
		return EMU_UNHANDLED; /* nothing decoded */
	if (insn->lock && !lock_ok(insn))
		return emu_raise_ud(ctxt);
	if (moves_rip(insn))
		return insn->opcode == 0xff ? emu_exec_near_branch(ctxt) : emu_exec_string(ctxt);

	switch (insn->map) {
	case 0:
		r = exec_map0(ctxt);
		break;
	case 1:
		r = exec_map1(ctxt);
		break;
	case 2:
		r = exec_map2(ctxt);
		break;
	default:
		r = emu_exec_bmi(ctxt);
		break;
	}
	if (r == EMU_OK)
		emu_advance_rip(ctxt);
	return r;
}
