/*
 * MUL, IMUL (one-operand F6/F7 /4 /5, two-operand 0F AF, three-operand 69/6B) and DIV, IDIV (F6/F7 /6 /7).
 * Products and quotients of 64-bit operands need 128 bits; they are computed from 32-bit halves and by long division,
 * so no compiler runtime helper is needed in the freestanding build.
 * Flags: MUL and IMUL set CF = OF = "the high half is significant" (SDM); SF, ZF, PF and AF are undefined and are
 * set here from the low half (SF, ZF, PF) with AF cleared. DIV and IDIV leave every flag unchanged (all undefined).
 * A zero divisor, or a quotient that does not fit (including IDIV's most negative dividend by -1), is #DE with
 * nothing changed.
 */
#include "vm/emulate/internal.h"

/* The 128-bit product of two 64-bit values. */
static void mul64(u64 a, u64 b, u64 *lo, u64 *hi)
{
	u64 al = (u32)a, ah = a >> 32, bl = (u32)b, bh = b >> 32;
	u64 ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
	u64 mid = (ll >> 32) + (u32)lh + (u32)hl;

	*lo = (mid << 32) | (u32)ll;
	*hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
}

/* Two's complement of the 128-bit hi:lo. */
static void neg128(u64 *lo, u64 *hi)
{
	*lo = ~*lo + 1;
	*hi = ~*hi + (*lo == 0);
}

/* hi:lo / d for hi < d (the quotient fits in 64 bits): restoring long division, one quotient bit per step. */
static u64 div128(u64 hi, u64 lo, u64 d, u64 *rem)
{
	u64 q = 0;

	for (int i = 0; i < 64; i++) {
		bool carry = hi >> 63;
		hi = (hi << 1) | (lo >> 63);
		lo <<= 1;
		q <<= 1;
		if (carry || hi >= d) {
			hi -= d;
			q |= 1;
		}
	}
	*rem = hi;
	return q;
}

/* The full product of two size-byte operands as hi:lo, each half size bytes wide (sign-extended when signed). */
static void product(bool is_signed, u64 a, u64 b, unsigned int size, u64 *lo, u64 *hi)
{
	unsigned int bits = size * 8;
	u64 m = emu_size_mask(size);

	if (size < 8) {
		u64 p = is_signed ? (u64)((s64)emu_sign_extend(a, size) * (s64)emu_sign_extend(b, size)) : (a & m) * (b & m);
		*lo = p & m;
		*hi = (p >> bits) & m;
		return;
	}
	mul64(a, b, lo, hi);
	if (is_signed) {
		/* Signed from unsigned: subtract b from the high half when a is negative, and a when b is. */
		if ((s64)a < 0)
			*hi -= b;
		if ((s64)b < 0)
			*hi -= a;
	}
}

static void set_mul_flags(u64 *rflags, u64 lo, unsigned int size, bool overflow)
{
	u64 fl = *rflags & ~(u64)(EMU_FL_CF | EMU_FL_OF | EMU_FL_AF);

	emu_set_szp(&fl, lo, size);
	*rflags = fl | (overflow ? EMU_FL_CF | EMU_FL_OF : 0);
}

/* IMUL's overflow: the product differs from the sign extension of its low half. */
static bool imul_overflow(u64 lo, u64 hi, unsigned int size)
{
	return hi != ((lo >> (size * 8 - 1)) & 1 ? emu_size_mask(size) : 0);
}

/* One-operand MUL and IMUL: rDX:rAX (AX for bytes) = rAX * r/m. */
static void mul_acc(struct emu_ctxt *ctxt, bool is_signed, u64 src, unsigned int size)
{
	u64 lo, hi;
	bool ov;

	product(is_signed, emu_reg_read(ctxt, EMU_RAX, size, false), src, size, &lo, &hi);
	ov = is_signed ? imul_overflow(lo, hi, size) : hi != 0;
	if (size == 1) {
		emu_reg_write(ctxt, EMU_RAX, 2, false, hi << 8 | lo);
	} else {
		emu_reg_write(ctxt, EMU_RAX, size, false, lo);
		emu_reg_write(ctxt, EMU_RDX, size, false, hi);
	}
	set_mul_flags(&ctxt->rflags, lo, size, ov);
}

/* DIV and IDIV: rDX:rAX (AX for bytes) / r/m, quotient in rAX (AL), remainder in rDX (AH). IDIV divides the
 * magnitudes and fixes the signs: the quotient truncates toward zero, the remainder takes the dividend's sign. */
static enum emu_result div_acc(struct emu_ctxt *ctxt, bool is_signed, u64 d, unsigned int size)
{
	unsigned int bits = size * 8;
	u64 m = emu_size_mask(size), hi, lo, q, rem;
	bool neg_n = false, neg_d = false;

	if (size == 1) {
		u64 ax = emu_reg_read(ctxt, EMU_RAX, 2, false);
		lo = ax & 0xff;
		hi = ax >> 8;
	} else {
		lo = emu_reg_read(ctxt, EMU_RAX, size, false);
		hi = emu_reg_read(ctxt, EMU_RDX, size, false);
	}
	d &= m;
	if (!d)
		return emu_raise(ctxt, EMU_VEC_DE, false, 0);
	if (is_signed) {
		neg_n = (hi >> (bits - 1)) & 1;
		neg_d = (d >> (bits - 1)) & 1;
		if (neg_d)
			d = (0 - d) & m;
	}
	if (size < 8) {
		/* The dividend fits in 64 bits: its magnitude too, as an unsigned value (2^63 included). */
		u64 n = hi << bits | lo;
		if (neg_n)
			n = 0 - emu_sign_extend(n, 2 * size);
		q = n / d;
		rem = n % d;
		if (!is_signed && q > m)
			return emu_raise(ctxt, EMU_VEC_DE, false, 0);
	} else {
		if (neg_n)
			neg128(&lo, &hi);
		if (hi >= d)
			return emu_raise(ctxt, EMU_VEC_DE, false, 0); /* the quotient would need more than 64 bits */
		q = div128(hi, lo, d, &rem);
	}
	if (is_signed) {
		bool neg_q = neg_n != neg_d;
		u64 limit = 1ULL << (bits - 1); /* a quotient of 2^(bits-1) fits only as a negative one */
		if (q > limit || (q == limit && !neg_q))
			return emu_raise(ctxt, EMU_VEC_DE, false, 0);
		if (neg_q)
			q = 0 - q;
		if (neg_n)
			rem = 0 - rem;
	}
	if (size == 1) {
		emu_reg_write(ctxt, EMU_RAX, 2, false, (rem & 0xff) << 8 | (q & 0xff));
	} else {
		emu_reg_write(ctxt, EMU_RAX, size, false, q);
		emu_reg_write(ctxt, EMU_RDX, size, false, rem);
	}
	return EMU_OK;
}

enum emu_result emu_exec_muldiv(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	unsigned int size = insn->op_size;
	struct emu_opnd src = emu_rm_opnd(ctxt, size);
	enum emu_result r;
	u64 v, lo, hi;

	r = emu_opnd_read(ctxt, &src, &v);
	if (r != EMU_OK)
		return r;
	if (insn->map == 0 && (insn->opcode == 0xf6 || insn->opcode == 0xf7)) {
		switch (emu_ext(insn)) {
		case 4:
			mul_acc(ctxt, false, v, size);
			return EMU_OK;
		case 5:
			mul_acc(ctxt, true, v, size);
			return EMU_OK;
		case 6:
			return div_acc(ctxt, false, v, size);
		default:
			return div_acc(ctxt, true, v, size);
		}
	}
	/* IMUL reg, r/m (0F AF) and IMUL reg, r/m, imm (69, 6B): the product truncated to the register. */
	product(true, v, insn->map ? emu_reg_read(ctxt, insn->reg, size, false) : insn->imm, size, &lo, &hi);
	emu_reg_write(ctxt, insn->reg, size, false, lo);
	set_mul_flags(&ctxt->rflags, lo, size, imul_overflow(lo, hi, size));
	return EMU_OK;
}
