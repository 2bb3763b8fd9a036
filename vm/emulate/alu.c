/* Integer ALU operations with the CPU's arithmetic flags, computed from the operands alone (no host instruction is
 * borrowed), so the result is the same in the hypervisor, in host tests and under the fuzzer. The unit tests compare
 * every operation and operand size against the host CPU. */
#include "vm/emulate/emulate.h"

/* PF is set when the low byte of the result has an even number of 1 bits. */
static bool even_parity(u64 v)
{
	u8 b = (u8)v;

	b ^= b >> 4;
	b ^= b >> 2;
	b ^= b >> 1;
	return !(b & 1);
}

u64 emu_alu(enum emu_alu_op op, u64 dst, u64 src, unsigned int size, u64 *rflags)
{
	u64 m = emu_size_mask(size), sign = 1ULL << (size * 8 - 1);
	u64 a = dst & m, b = src & m, r, fl = 0;
	u64 cin = *rflags & EMU_FL_CF ? 1 : 0;
	u64 affected = EMU_FL_ARITH;
	bool cf = false, of = false, af = false;

	switch (op) {
	case EMU_ALU_ADD:
	case EMU_ALU_ADC:
		if (op == EMU_ALU_ADD)
			cin = 0;
		r = (a + b + cin) & m;
		/* Carry out: the sum wrapped below a, or b + carry-in was exactly 2^n (r == a with a carry in). */
		cf = r < a || (cin && r == a);
		of = (a ^ r) & (b ^ r) & sign;
		af = (a ^ b ^ r) & 0x10;
		break;
	case EMU_ALU_SUB:
	case EMU_ALU_CMP:
	case EMU_ALU_SBB:
		if (op != EMU_ALU_SBB)
			cin = 0;
		r = (a - b - cin) & m;
		cf = a < b || (cin && a == b);
		of = (a ^ b) & (a ^ r) & sign;
		af = (a ^ b ^ r) & 0x10;
		break;
	case EMU_ALU_AND:
	case EMU_ALU_TEST:
		r = a & b;
		break;
	case EMU_ALU_OR:
		r = a | b;
		break;
	case EMU_ALU_XOR:
		r = a ^ b;
		break;
	case EMU_ALU_INC:
		r = (a + 1) & m;
		of = r == sign;
		af = (a ^ 1 ^ r) & 0x10;
		affected &= ~EMU_FL_CF;
		break;
	case EMU_ALU_DEC:
		r = (a - 1) & m;
		of = a == sign;
		af = (a ^ 1 ^ r) & 0x10;
		affected &= ~EMU_FL_CF;
		break;
	case EMU_ALU_NEG:
		r = (0 - a) & m;
		cf = a != 0;
		of = a == sign;
		af = (a ^ r) & 0x10;
		break;
	case EMU_ALU_NOT:
	default:
		return ~a & m;
	}

	if (cf)
		fl |= EMU_FL_CF;
	if (of)
		fl |= EMU_FL_OF;
	if (af)
		fl |= EMU_FL_AF;
	if (!r)
		fl |= EMU_FL_ZF;
	if (r & sign)
		fl |= EMU_FL_SF;
	if (even_parity(r))
		fl |= EMU_FL_PF;
	*rflags = (*rflags & ~affected) | (fl & affected);
	return op == EMU_ALU_CMP || op == EMU_ALU_TEST ? a : r;
}
