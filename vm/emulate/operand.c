/* Operands of decoded instructions (a register, with the AH..BH quirk, or the ModRM memory operand), their reads and
 * writes, and the flag helpers several instruction families share: condition codes and SF/ZF/PF of a result. */
#include "vm/emulate/internal.h"

struct emu_opnd emu_reg_opnd(const struct emu_ctxt *ctxt, unsigned int reg, unsigned int size)
{
	struct emu_opnd o = {.size = size, .reg = reg};

	/* Without REX, byte registers 4..7 are AH, CH, DH, BH; with any REX they are SPL, BPL, SIL, DIL. VEX carries
	 * no byte-register operands, so its REX bits never matter here. */
	if (size == 1 && !ctxt->insn.rex && reg >= 4 && reg < 8) {
		o.reg = reg - 4;
		o.high8 = true;
	}
	return o;
}

struct emu_opnd emu_rm_opnd(const struct emu_ctxt *ctxt, unsigned int size)
{
	const struct emu_insn *insn = &ctxt->insn;

	if (!insn->mem)
		return emu_reg_opnd(ctxt, insn->rm, size);
	return (struct emu_opnd){.is_mem = true, .size = size, .seg = insn->seg, .ea = emu_insn_ea(ctxt)};
}

enum emu_result emu_opnd_read(struct emu_ctxt *ctxt, const struct emu_opnd *o, u64 *val)
{
	if (!o->is_mem) {
		*val = emu_reg_read(ctxt, o->reg, o->size, o->high8);
		return EMU_OK;
	}
	*val = 0;
	return emu_mem_read(ctxt, o->seg, o->ea, val, o->size);
}

enum emu_result emu_opnd_write(struct emu_ctxt *ctxt, const struct emu_opnd *o, u64 val)
{
	if (!o->is_mem) {
		emu_reg_write(ctxt, o->reg, o->size, o->high8, val);
		return EMU_OK;
	}
	return emu_mem_write(ctxt, o->seg, o->ea, &val, o->size);
}

enum emu_result emu_opnd_rmw_write(struct emu_ctxt *ctxt, const struct emu_opnd *o, u64 old, u64 val)
{
	if (!o->is_mem)
		return emu_opnd_write(ctxt, o, val);
	return emu_mem_rmw_write(ctxt, o->seg, o->ea, &old, &val, o->size);
}

u64 emu_sign_extend(u64 v, unsigned int size)
{
	unsigned int shift = 64 - 8 * size;

	return size >= 8 ? v : (u64)((s64)(v << shift) >> shift);
}

/* The sixteen conditions, in encoding order; odd ones are the negation of the even one before them. */
bool emu_cond(unsigned int cc, u64 rflags)
{
	bool cf = rflags & EMU_FL_CF, zf = rflags & EMU_FL_ZF, sf = rflags & EMU_FL_SF, of = rflags & EMU_FL_OF;
	bool pf = rflags & EMU_FL_PF, r;

	switch ((cc >> 1) & 7) {
	case 0: /* O */
		r = of;
		break;
	case 1: /* B, C, NAE */
		r = cf;
		break;
	case 2: /* E, Z */
		r = zf;
		break;
	case 3: /* BE, NA */
		r = cf || zf;
		break;
	case 4: /* S */
		r = sf;
		break;
	case 5: /* P, PE */
		r = pf;
		break;
	case 6: /* L, NGE */
		r = sf != of;
		break;
	default: /* LE, NG */
		r = zf || sf != of;
		break;
	}
	return (cc & 1) ? !r : r;
}

void emu_set_szp(u64 *rflags, u64 result, unsigned int size)
{
	u64 r = result & emu_size_mask(size), fl = *rflags & ~(u64)(EMU_FL_SF | EMU_FL_ZF | EMU_FL_PF);
	u8 b = (u8)r;

	b ^= b >> 4;
	b ^= b >> 2;
	b ^= b >> 1;
	if (!(b & 1))
		fl |= EMU_FL_PF;
	if (!r)
		fl |= EMU_FL_ZF;
	if (r >> (size * 8 - 1))
		fl |= EMU_FL_SF;
	*rflags = fl;
}
