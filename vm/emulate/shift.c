/*
 * Shifts and rotates (C0/C1 by imm8, D0/D1 by 1, D2/D3 by CL; ModRM.reg: ROL ROR RCL RCR SHL SHR SAL SAR, /6 being
 * SHL as on hardware and in KVM) and the double shifts SHLD/SHRD (0F A4/A5/AC/AD), with the SDM's flag rules:
 * - the count is masked to 5 bits (6 with 64-bit operands), so an 8- or 16-bit operand can be shifted past its width;
 * - a masked count of 0 changes no flag (the destination is still read and written back, as the CPU's
 *   read-modify-write does);
 * - OF is defined only for a count of 1; rotates change only CF and OF; RCL/RCR rotate through CF over size + 1
 *   bits (the count taken modulo 9 or 17 for 8- and 16-bit operands).
 * Where the SDM leaves a flag undefined the choice here is stated next to it: OF follows the count-1 formula for every
 * count, AF is cleared, and CF is 0 when an 8- or 16-bit SHL/SHR shifts past the operand's width.
 */
#include "vm/emulate/internal.h"

enum { SH_ROL, SH_ROR, SH_RCL, SH_RCR, SH_SHL, SH_SHR, SH_SAL, SH_SAR };

static u64 msb(u64 v, unsigned int bits)
{
	return (v >> (bits - 1)) & 1;
}

static void set_cf_of(u64 *rflags, bool cf, bool of)
{
	*rflags = (*rflags & ~(u64)(EMU_FL_CF | EMU_FL_OF)) | (cf ? EMU_FL_CF : 0) | (of ? EMU_FL_OF : 0);
}

/* A shift's result flags: SF, ZF, PF from the result, CF and OF as given, AF cleared. */
static void set_shift_flags(u64 *rflags, u64 res, unsigned int size, bool cf, bool of)
{
	emu_set_szp(rflags, res, size);
	set_cf_of(rflags, cf, of);
	*rflags &= ~(u64)EMU_FL_AF;
}

/* Rotate through carry, one bit at a time as the SDM's pseudo-code does (at most 64 steps). */
static u64 rotate_carry(bool left, u64 a, unsigned int n, unsigned int bits, bool *cf)
{
	u64 m = emu_size_mask(bits / 8);

	for (unsigned int i = 0; i < n; i++) {
		bool out = left ? msb(a, bits) : (a & 1);
		if (left)
			a = ((a << 1) | *cf) & m;
		else
			a = (a >> 1) | ((u64)*cf << (bits - 1));
		*cf = out;
	}
	return a;
}

static u64 shift_op(unsigned int op, u64 a, unsigned int count, unsigned int size, u64 *rflags)
{
	unsigned int bits = size * 8, n = count & (size == 8 ? 0x3f : 0x1f), r;
	u64 m = emu_size_mask(size), res;
	bool cf = *rflags & EMU_FL_CF;

	a &= m;
	if (!n)
		return a;
	switch (op) {
	case SH_ROL:
		r = n % bits;
		res = r ? ((a << r) | (a >> (bits - r))) & m : a;
		set_cf_of(rflags, res & 1, msb(res, bits) ^ (res & 1));
		return res;
	case SH_ROR:
		r = n % bits;
		res = r ? ((a >> r) | (a << (bits - r))) & m : a;
		set_cf_of(rflags, msb(res, bits), msb(res, bits) ^ msb(res, bits - 1));
		return res;
	case SH_RCL:
	case SH_RCR:
		r = size == 1 ? n % 9 : size == 2 ? n % 17 : n;
		res = rotate_carry(op == SH_RCL, a, r, bits, &cf);
		/* RCL: MSB(result) XOR CF; RCR: the two top bits of the result (MSB(DEST) XOR CF before it). */
		set_cf_of(rflags, cf, op == SH_RCL ? msb(res, bits) ^ cf : msb(res, bits) ^ msb(res, bits - 1));
		return res;
	case SH_SHR:
		res = n < bits ? a >> n : 0;
		set_shift_flags(rflags, res, size, n <= bits && ((a >> (n - 1)) & 1), msb(a, bits));
		return res;
	case SH_SAR: {
		s64 sa = (s64)emu_sign_extend(a, size);
		res = (u64)(sa >> MIN(n, 63u)) & m;
		set_shift_flags(rflags, res, size, (sa >> MIN(n - 1, 63u)) & 1, false);
		return res;
	}
	default: /* SHL, SAL */
		res = n < bits ? (a << n) & m : 0;
		cf = n <= bits && ((a >> (bits - n)) & 1);
		set_shift_flags(rflags, res, size, cf, msb(res, bits) ^ cf);
		return res;
	}
}

enum emu_result emu_exec_shift(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	struct emu_opnd dst = emu_rm_opnd(ctxt, insn->op_size);
	unsigned int count;
	u64 a, res, fl = ctxt->rflags;
	enum emu_result r;

	if (insn->opcode <= 0xc1)
		count = (u8)insn->imm;
	else if (insn->opcode <= 0xd1)
		count = 1;
	else
		count = (u8)ctxt->regs[EMU_RCX];
	r = emu_opnd_read(ctxt, &dst, &a);
	if (r != EMU_OK)
		return r;
	res = shift_op(emu_ext(insn), a, count, dst.size, &fl);
	r = emu_opnd_write(ctxt, &dst, res);
	if (r != EMU_OK)
		return r;
	ctxt->rflags = fl;
	return EMU_OK;
}

/*
 * SHLD shifts dst left, filling from the top of src; SHRD shifts it right, filling from the bottom of src. CF is the
 * last bit shifted out of dst and OF (defined for a count of 1) says whether the sign changed. A 16-bit operand
 * shifted by more than 16 is undefined; here it shifts through dst:src:dst, which is what Intel CPUs do.
 */
static u64 shift_double(bool left, u64 dst, u64 src, unsigned int n, unsigned int size, u64 *rflags)
{
	unsigned int bits = size * 8;
	u64 m = emu_size_mask(size), res;
	bool cf;

	dst &= m;
	src &= m;
	if (size == 8) {
		res = left ? (dst << n) | (src >> (64 - n)) : (dst >> n) | (src << (64 - n));
		cf = left ? (dst >> (64 - n)) & 1 : (dst >> (n - 1)) & 1;
	} else if (size == 4) {
		u64 w = left ? dst << 32 | src : src << 32 | dst;
		res = (left ? (w << n) >> 32 : w >> n) & m;
		cf = left ? (w >> (64 - n)) & 1 : (w >> (n - 1)) & 1;
	} else {
		/* 48 bits: dst:src:dst for SHLD (the top 16 are the result), dst:src:dst read from the bottom for SHRD. */
		u64 w = left ? dst << 32 | src << 16 | dst : dst << 32 | src << 16 | dst;
		res = (left ? w >> (32 - n) : w >> n) & m;
		cf = left ? (w >> (48 - n)) & 1 : (w >> (n - 1)) & 1;
	}
	set_shift_flags(rflags, res, size, cf, msb(res, bits) ^ msb(dst, bits));
	return res;
}

enum emu_result emu_exec_shift_double(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	unsigned int size = insn->op_size, n;
	struct emu_opnd dst = emu_rm_opnd(ctxt, size);
	bool left = insn->opcode <= 0xa5;
	u64 a, res, fl = ctxt->rflags;
	enum emu_result r;

	n = ((insn->opcode & 1) ? (u8)ctxt->regs[EMU_RCX] : (u8)insn->imm) & (size == 8 ? 0x3f : 0x1f);
	r = emu_opnd_read(ctxt, &dst, &a);
	if (r != EMU_OK)
		return r;
	res = n ? shift_double(left, a, emu_reg_read(ctxt, insn->reg, size, false), n, size, &fl) : a & emu_size_mask(size);
	r = emu_opnd_write(ctxt, &dst, res);
	if (r != EMU_OK)
		return r;
	ctxt->rflags = fl;
	return EMU_OK;
}
