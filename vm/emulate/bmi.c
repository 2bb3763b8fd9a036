/*
 * The BMI1 and BMI2 instructions: VEX-encoded, but on general registers and memory, and usable whatever CR4.OSXSAVE
 * says (guests see the host's BMI bits). ANDN, BEXTR, BLSI, BLSMSK, BLSR (BMI1); BZHI, MULX, PDEP, PEXT, RORX, SARX,
 * SHLX, SHRX (BMI2). 32-bit operands, 64 with VEX.W in 64-bit mode; VEX.L=1 is #UD. Outside 64-bit mode the top bit
 * of VEX.vvvv is ignored, as the CPU ignores it there. Flags the SDM leaves undefined (AF and PF everywhere, SF for
 * BEXTR) keep their values; the ones it defines are set as it says next to each instruction.
 */
#include "vm/emulate/internal.h"

#define FL(f, on) ((on) ? (f) : 0)

static void set_flags(u64 *rflags, u64 mask, u64 val)
{
	*rflags = (*rflags & ~mask) | (val & mask);
}

static u64 sf_zf(u64 res, unsigned int size)
{
	return FL(EMU_FL_SF, (res >> (size * 8 - 1)) & 1) | FL(EMU_FL_ZF, !res);
}

static u64 pdep(u64 src, u64 mask)
{
	u64 r = 0;

	for (u64 bit = 1; mask; bit <<= 1) {
		u64 low = mask & -mask;
		if (src & bit)
			r |= low;
		mask &= mask - 1;
	}
	return r;
}

static u64 pext(u64 src, u64 mask)
{
	u64 r = 0;

	for (u64 bit = 1; mask; bit <<= 1) {
		u64 low = mask & -mask;
		if (src & low)
			r |= bit;
		mask &= mask - 1;
	}
	return r;
}

enum emu_result emu_exec_bmi(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	unsigned int size = insn->op_size, bits = size * 8;
	unsigned int vreg = ctxt->mode == EMU_MODE_64 ? insn->vex_v : insn->vex_v & 7;
	u64 m = emu_size_mask(size), src, v = emu_reg_read(ctxt, vreg, size, false), res, lo, hi, fl = ctxt->rflags;
	struct emu_opnd rm = emu_rm_opnd(ctxt, size);
	u8 p = insn->simd, op = insn->opcode;
	unsigned int n;
	enum emu_result r;

	if (insn->vex_l)
		return emu_raise_ud(ctxt);
	r = emu_opnd_read(ctxt, &rm, &src);
	if (r != EMU_OK)
		return r;
	if (insn->map == 3) { /* RORX r, r/m, imm8 */
		if (op != 0xf0 || p != 0xf2 || insn->vex_v)
			return emu_raise_ud(ctxt);
		n = insn->imm & (bits - 1);
		res = n ? ((src >> n) | (src << (bits - n))) & m : src;
		emu_reg_write(ctxt, insn->reg, size, false, res);
		return EMU_OK;
	}
	switch (op << 8 | p) {
	case 0xf200: /* ANDN r, vvvv, r/m: SF, ZF; CF = OF = 0 */
		res = ~v & src & m;
		set_flags(&fl, EMU_FL_SF | EMU_FL_ZF | EMU_FL_CF | EMU_FL_OF, sf_zf(res, size));
		break;
	case 0xf300: /* group 17, vvvv is the destination */
		switch (emu_ext(insn)) {
		case 1: /* BLSR: src & (src - 1); SF, ZF; CF = (src == 0); OF = 0 */
			res = src & (src - 1) & m;
			set_flags(&fl, EMU_FL_SF | EMU_FL_ZF | EMU_FL_CF | EMU_FL_OF, sf_zf(res, size) | FL(EMU_FL_CF, !src));
			break;
		case 2: /* BLSMSK: src ^ (src - 1); SF; ZF = 0; CF = (src == 0); OF = 0 */
			res = (src ^ (src - 1)) & m;
			set_flags(&fl, EMU_FL_SF | EMU_FL_ZF | EMU_FL_CF | EMU_FL_OF,
				  (sf_zf(res, size) & EMU_FL_SF) | FL(EMU_FL_CF, !src));
			break;
		case 3: /* BLSI: src & -src; SF, ZF; CF = (src != 0); OF = 0 */
			res = src & (0 - src) & m;
			set_flags(&fl, EMU_FL_SF | EMU_FL_ZF | EMU_FL_CF | EMU_FL_OF, sf_zf(res, size) | FL(EMU_FL_CF, src));
			break;
		default:
			return emu_raise_ud(ctxt);
		}
		emu_reg_write(ctxt, vreg, size, false, res);
		ctxt->rflags = fl;
		return EMU_OK;
	case 0xf500: /* BZHI r, r/m, vvvv: clear from bit v[7:0] up; CF = index past the top; SF, ZF; OF = 0 */
		n = v & 0xff;
		res = n < bits ? src & ((1ULL << n) - 1) : src & m;
		set_flags(&fl, EMU_FL_SF | EMU_FL_ZF | EMU_FL_CF | EMU_FL_OF,
			  sf_zf(res, size) | FL(EMU_FL_CF, n > bits - 1));
		break;
	case 0xf5f3: /* PEXT r, vvvv, r/m */
		res = pext(v, src & m);
		break;
	case 0xf5f2: /* PDEP r, vvvv, r/m */
		res = pdep(v, src & m) & m;
		break;
	case 0xf6f2: { /* MULX hi = reg, lo = vvvv, rDX * r/m; no flags. With reg == vvvv the high half wins. */
		u64 d = emu_reg_read(ctxt, EMU_RDX, size, false);
		if (size == 8) {
			u64 al = (u32)d, ah = d >> 32, bl = (u32)src, bh = src >> 32;
			u64 ll = al * bl, lh = al * bh, hl = ah * bl, mid = (ll >> 32) + (u32)lh + (u32)hl;
			lo = (mid << 32) | (u32)ll;
			hi = ah * bh + (lh >> 32) + (hl >> 32) + (mid >> 32);
		} else {
			u64 prod = d * (src & m);
			lo = prod & m;
			hi = prod >> 32;
		}
		emu_reg_write(ctxt, vreg, size, false, lo);
		emu_reg_write(ctxt, insn->reg, size, false, hi);
		return EMU_OK;
	}
	case 0xf700: { /* BEXTR r, r/m, vvvv: bits [start, start+len) of r/m; ZF; CF = OF = 0 */
		unsigned int start = v & 0xff, len = (v >> 8) & 0xff;
		res = start < bits ? (src & m) >> start : 0;
		if (len < bits)
			res &= (1ULL << len) - 1;
		set_flags(&fl, EMU_FL_ZF | EMU_FL_CF | EMU_FL_OF, FL(EMU_FL_ZF, !res));
		break;
	}
	case 0xf766: /* SHLX r, r/m, vvvv; no flags */
		res = ((src & m) << (v & (bits - 1))) & m;
		break;
	case 0xf7f3: /* SARX */
		res = (u64)((s64)emu_sign_extend(src, size) >> (v & (bits - 1))) & m;
		break;
	case 0xf7f2: /* SHRX */
		res = (src & m) >> (v & (bits - 1));
		break;
	default:
		return emu_raise_ud(ctxt);
	}
	emu_reg_write(ctxt, insn->reg, size, false, res);
	ctxt->rflags = fl;
	return EMU_OK;
}
