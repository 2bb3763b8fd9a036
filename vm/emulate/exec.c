/* Execution of a decoded instruction (everything but the string instructions, which are in string.c). Each handler
 * does all its memory accesses before it changes any register or flag, so an access that faults leaves the guest's
 * state as the CPU would: untouched, with rip still at the instruction. */
#include "vm/emulate/emulate.h"

/* An operand: a register (AH..BH through high8) or memory at seg:ea. */
struct opnd {
	bool is_mem;
	unsigned int size;
	u8 reg;
	bool high8;
	u8 seg;
	u64 ea;
};

static struct opnd reg_opnd(const struct emu_ctxt *ctxt, unsigned int reg, unsigned int size)
{
	struct opnd o = {.size = size, .reg = reg};

	/* Without REX, byte registers 4..7 are AH, CH, DH, BH; with any REX they are SPL, BPL, SIL, DIL. */
	if (size == 1 && !ctxt->insn.rex && reg >= 4 && reg < 8) {
		o.reg = reg - 4;
		o.high8 = true;
	}
	return o;
}

static struct opnd rm_opnd(const struct emu_ctxt *ctxt, unsigned int size)
{
	const struct emu_insn *insn = &ctxt->insn;

	if (!insn->mem)
		return reg_opnd(ctxt, insn->rm, size);
	return (struct opnd){.is_mem = true, .size = size, .seg = insn->seg, .ea = emu_insn_ea(ctxt)};
}

static enum emu_result opnd_read(struct emu_ctxt *ctxt, const struct opnd *o, u64 *val)
{
	if (!o->is_mem) {
		*val = emu_reg_read(ctxt, o->reg, o->size, o->high8);
		return EMU_OK;
	}
	*val = 0;
	return emu_mem_read(ctxt, o->seg, o->ea, val, o->size);
}

static enum emu_result opnd_write(struct emu_ctxt *ctxt, const struct opnd *o, u64 val)
{
	if (!o->is_mem) {
		emu_reg_write(ctxt, o->reg, o->size, o->high8, val);
		return EMU_OK;
	}
	return emu_mem_write(ctxt, o->seg, o->ea, &val, o->size);
}

static u64 sign_extend(u64 v, unsigned int size)
{
	unsigned int shift = 64 - 8 * size;

	return (u64)((s64)(v << shift) >> shift);
}

static unsigned int ext_of(const struct emu_insn *insn)
{
	return (insn->modrm >> 3) & 7;
}

/* LOCK is legal only on these read-modify-writes, and only with a memory destination; elsewhere it is #UD. */
static bool lock_ok(const struct emu_insn *insn)
{
	u8 op = insn->opcode;

	if (!insn->mem || !insn->has_modrm)
		return false;
	if (insn->map == 1)
		return op == 0xab || op == 0xb3 || op == 0xbb || (op == 0xba && ext_of(insn) >= 5) || op == 0xb0 ||
		       op == 0xb1 || op == 0xc0 || op == 0xc1;
	if (op < 0x40)
		return (op & 7) <= 1 && (op >> 3) != EMU_ALU_CMP;
	switch (op) {
	case 0x80:
	case 0x81:
	case 0x82:
	case 0x83:
		return ext_of(insn) != EMU_ALU_CMP;
	case 0x86:
	case 0x87:
	case 0xfe:
	case 0xff:
		return true;
	case 0xf6:
	case 0xf7:
		return ext_of(insn) == 2 || ext_of(insn) == 3;
	default:
		return false;
	}
}

/* dst = dst op src, flags; CMP and TEST only set flags. */
static enum emu_result exec_alu(struct emu_ctxt *ctxt, enum emu_alu_op op, const struct opnd *dst, u64 src)
{
	u64 a, res, fl = ctxt->rflags;
	enum emu_result r = opnd_read(ctxt, dst, &a);

	if (r != EMU_OK)
		return r;
	res = emu_alu(op, a, src, dst->size, &fl);
	if (op != EMU_ALU_CMP && op != EMU_ALU_TEST) {
		r = opnd_write(ctxt, dst, res);
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
	struct opnd rm = rm_opnd(ctxt, size), reg = reg_opnd(ctxt, insn->reg, size);
	struct opnd acc = reg_opnd(ctxt, EMU_RAX, size);
	enum emu_result r;
	u64 v;

	switch (insn->opcode & 7) {
	case 0:
	case 1:
		return exec_alu(ctxt, op, &rm, emu_reg_read(ctxt, reg.reg, size, reg.high8));
	case 2:
	case 3:
		r = opnd_read(ctxt, &rm, &v);
		return r != EMU_OK ? r : exec_alu(ctxt, op, &reg, v);
	default:
		return exec_alu(ctxt, op, &acc, insn->imm);
	}
}

/* MOV in all its forms: 88-8B, A0-A3, C6/C7. */
static enum emu_result exec_mov(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	unsigned int size = insn->op_size;
	struct opnd rm = rm_opnd(ctxt, size), reg = reg_opnd(ctxt, insn->reg, size);
	struct opnd acc = reg_opnd(ctxt, EMU_RAX, size);
	enum emu_result r;
	u64 v;

	switch (insn->opcode) {
	case 0x88:
	case 0x89:
		return opnd_write(ctxt, &rm, emu_reg_read(ctxt, reg.reg, size, reg.high8));
	case 0x8a:
	case 0x8b:
		r = opnd_read(ctxt, &rm, &v);
		if (r == EMU_OK)
			opnd_write(ctxt, &reg, v);
		return r;
	case 0xa0:
	case 0xa1:
		v = 0;
		r = emu_mem_read(ctxt, insn->seg, emu_insn_ea(ctxt), &v, size);
		if (r == EMU_OK)
			opnd_write(ctxt, &acc, v);
		return r;
	case 0xa2:
	case 0xa3:
		v = emu_reg_read(ctxt, EMU_RAX, size, false);
		return emu_mem_write(ctxt, insn->seg, emu_insn_ea(ctxt), &v, size);
	default: /* C6, C7 */
		return opnd_write(ctxt, &rm, insn->imm);
	}
}

/* MOVZX, MOVSX (0F B6/B7/BE/BF) and MOVSXD (63). */
static enum emu_result exec_movx(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	unsigned int src_size, dst_size = insn->op_size;
	bool sx;
	struct opnd src, dst = reg_opnd(ctxt, insn->reg, dst_size);
	enum emu_result r;
	u64 v;

	if (insn->map == 0) {
		src_size = MIN(dst_size, 4u); /* MOVSXD: 32 bits, or a plain move with 16- and 32-bit operands */
		sx = true;
	} else {
		src_size = (insn->opcode & 1) ? 2 : 1;
		sx = insn->opcode >= 0xbe;
	}
	src = rm_opnd(ctxt, src_size);
	r = opnd_read(ctxt, &src, &v);
	if (r != EMU_OK)
		return r;
	opnd_write(ctxt, &dst, sx ? sign_extend(v, src_size) : v);
	return EMU_OK;
}

/* XCHG (86/87): LOCKed implicitly with memory, which changes nothing here (see emulate.h). */
static enum emu_result exec_xchg(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	struct opnd rm = rm_opnd(ctxt, insn->op_size), reg = reg_opnd(ctxt, insn->reg, insn->op_size);
	u64 a, b = emu_reg_read(ctxt, reg.reg, reg.size, reg.high8);
	enum emu_result r = opnd_read(ctxt, &rm, &a);

	if (r != EMU_OK)
		return r;
	r = opnd_write(ctxt, &rm, b);
	if (r == EMU_OK)
		opnd_write(ctxt, &reg, a);
	return r;
}

/* F6/F7 /0-/3 and FE/FF /0-/1. */
static enum emu_result exec_unary(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	struct opnd rm = rm_opnd(ctxt, insn->op_size);
	static const enum emu_alu_op grp3[4] = {EMU_ALU_TEST, EMU_ALU_TEST, EMU_ALU_NOT, EMU_ALU_NEG};
	enum emu_alu_op op;

	if (insn->opcode >= 0xfe)
		op = ext_of(insn) ? EMU_ALU_DEC : EMU_ALU_INC;
	else
		op = grp3[ext_of(insn) & 3];
	return exec_alu(ctxt, op, &rm, insn->imm);
}

/* BT, BTS, BTR, BTC: 0F A3/AB/B3/BB (bit offset in a register) and 0F BA /4-/7 (immediate). A register offset
 * reaches beyond the operand in memory: the address moves by whole operands, signed. Only CF changes. */
static enum emu_result exec_bt(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	unsigned int size = insn->op_size, bits = size * 8, shift = size == 2 ? 4 : size == 4 ? 5 : 6;
	struct opnd dst = rm_opnd(ctxt, size);
	unsigned int kind, bit;
	enum emu_result r;
	u64 v, nv;

	if (insn->opcode == 0xba) {
		kind = ext_of(insn) - 4;
		bit = insn->imm & (bits - 1);
	} else {
		u64 off = emu_reg_read(ctxt, insn->reg, size, false);
		kind = (insn->opcode >> 3) & 3;
		bit = off & (bits - 1);
		if (dst.is_mem) {
			s64 words = (s64)sign_extend(off, size) >> shift;
			dst.ea = (dst.ea + (u64)words * size) & emu_size_mask(insn->addr_size);
		}
	}
	r = opnd_read(ctxt, &dst, &v);
	if (r != EMU_OK)
		return r;
	switch (kind) {
	case 1:
		nv = v | BIT(bit);
		break;
	case 2:
		nv = v & ~BIT(bit);
		break;
	case 3:
		nv = v ^ BIT(bit);
		break;
	default:
		nv = v;
		break;
	}
	if (kind) {
		r = opnd_write(ctxt, &dst, nv);
		if (r != EMU_OK)
			return r;
	}
	ctxt->rflags = (ctxt->rflags & ~EMU_FL_CF) | ((v >> bit) & 1 ? EMU_FL_CF : 0);
	return EMU_OK;
}

/* CMPXCHG (0F B0/B1). On a mismatch only the accumulator is written: the CPU's extra write of the old value would
 * be a second, visible device access, and KVM does not make it either. */
static enum emu_result exec_cmpxchg(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	unsigned int size = insn->op_size;
	struct opnd dst = rm_opnd(ctxt, size), src = reg_opnd(ctxt, insn->reg, size);
	u64 d, acc = emu_reg_read(ctxt, EMU_RAX, size, false), fl = ctxt->rflags;
	enum emu_result r = opnd_read(ctxt, &dst, &d);

	if (r != EMU_OK)
		return r;
	emu_alu(EMU_ALU_CMP, acc, d, size, &fl);
	if (acc == d) {
		r = opnd_write(ctxt, &dst, emu_reg_read(ctxt, src.reg, size, src.high8));
		if (r != EMU_OK)
			return r;
	} else {
		emu_reg_write(ctxt, EMU_RAX, size, false, d);
	}
	ctxt->rflags = fl;
	return EMU_OK;
}

/* XADD (0F C0/C1): TEMP = SRC + DEST; SRC = DEST; DEST = TEMP, memory first so a fault changes nothing. */
static enum emu_result exec_xadd(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	unsigned int size = insn->op_size;
	struct opnd dst = rm_opnd(ctxt, size), src = reg_opnd(ctxt, insn->reg, size);
	u64 d, s = emu_reg_read(ctxt, src.reg, size, src.high8), sum, fl = ctxt->rflags;
	enum emu_result r = opnd_read(ctxt, &dst, &d);

	if (r != EMU_OK)
		return r;
	sum = emu_alu(EMU_ALU_ADD, d, s, size, &fl);
	if (dst.is_mem) {
		r = opnd_write(ctxt, &dst, sum);
		if (r != EMU_OK)
			return r;
		opnd_write(ctxt, &src, d);
	} else {
		opnd_write(ctxt, &src, d);
		opnd_write(ctxt, &dst, sum);
	}
	ctxt->rflags = fl;
	return EMU_OK;
}

static enum emu_result exec_map1(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	u8 op = insn->opcode;

	if (op < 0x40)
		return exec_alu_row(ctxt);
	switch (op) {
	case 0x63:
		return exec_movx(ctxt);
	case 0x80:
	case 0x81:
	case 0x82:
	case 0x83: {
		struct opnd rm = rm_opnd(ctxt, insn->op_size);
		return exec_alu(ctxt, ext_of(insn), &rm, insn->imm);
	}
	case 0x84:
	case 0x85: {
		struct opnd rm = rm_opnd(ctxt, insn->op_size), reg = reg_opnd(ctxt, insn->reg, insn->op_size);
		return exec_alu(ctxt, EMU_ALU_TEST, &rm, emu_reg_read(ctxt, reg.reg, reg.size, reg.high8));
	}
	case 0x86:
	case 0x87:
		return exec_xchg(ctxt);
	case 0xa8:
	case 0xa9: {
		struct opnd acc = reg_opnd(ctxt, EMU_RAX, insn->op_size);
		return exec_alu(ctxt, EMU_ALU_TEST, &acc, insn->imm);
	}
	case 0xf6:
	case 0xf7:
	case 0xfe:
	case 0xff:
		return exec_unary(ctxt);
	default:
		return exec_mov(ctxt);
	}
}

static enum emu_result exec_map2(struct emu_ctxt *ctxt)
{
	switch (ctxt->insn.opcode) {
	case 0xb0:
	case 0xb1:
		return exec_cmpxchg(ctxt);
	case 0xb6:
	case 0xb7:
	case 0xbe:
	case 0xbf:
		return exec_movx(ctxt);
	case 0xc0:
	case 0xc1:
		return exec_xadd(ctxt);
	default:
		return exec_bt(ctxt);
	}
}

static bool is_string(const struct emu_insn *insn)
{
	u8 op = insn->opcode;

	return insn->map == 0 && (op == 0xa4 || op == 0xa5 || (op >= 0xaa && op <= 0xad));
}

enum emu_result emu_execute(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	enum emu_result r;

	if (!insn->len)
		return EMU_UNHANDLED; /* nothing decoded */
	if (insn->lock && !lock_ok(insn))
		return emu_raise(ctxt, EMU_VEC_UD, false, 0);
	if (is_string(insn))
		return emu_exec_string(ctxt);

	r = insn->map ? exec_map2(ctxt) : exec_map1(ctxt);
	if (r == EMU_OK)
		emu_advance_rip(ctxt);
	return r;
}
