/* Bit instructions: the bit tests (BT, BTS, BTR, BTC), the scans and counts (BSF, BSR, TZCNT, LZCNT, POPCNT), the
 * byte-swapping move MOVBE, and the carry-chain adds ADCX/ADOX. The F3 forms TZCNT, LZCNT and POPCNT are taken to
 * exist (BMI1, ABM): this hypervisor shows the host's bits for them, and every CPU it runs on has them. */
#include "vm/emulate/internal.h"

/* BT, BTS, BTR, BTC: 0F A3/AB/B3/BB (bit offset in a register) and 0F BA /4-/7 (immediate). A register offset
 * reaches beyond the operand in memory: the address moves by whole operands, signed. Only CF changes. */
enum emu_result emu_exec_bt(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	unsigned int size = insn->op_size, bits = size * 8, shift = size == 2 ? 4 : size == 4 ? 5 : 6;
	struct emu_opnd dst = emu_rm_opnd(ctxt, size);
	unsigned int kind, bit;
	enum emu_result r;
	u64 v, nv;

	if (insn->opcode == 0xba) {
		kind = emu_ext(insn) - 4;
		bit = insn->imm & (bits - 1);
	} else {
		u64 off = emu_reg_read(ctxt, insn->reg, size, false);
		kind = (insn->opcode >> 3) & 3;
		bit = off & (bits - 1);
		if (dst.is_mem) {
			s64 words = (s64)emu_sign_extend(off, size) >> shift;
			dst.ea = (dst.ea + (u64)words * size) & emu_size_mask(insn->addr_size);
		}
	}
	r = emu_opnd_read(ctxt, &dst, &v);
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
		r = emu_opnd_rmw_write(ctxt, &dst, v, nv);
		if (r != EMU_OK)
			return r;
	}
	ctxt->rflags = (ctxt->rflags & ~EMU_FL_CF) | ((v >> bit) & 1 ? EMU_FL_CF : 0);
	return EMU_OK;
}

static unsigned int popcount64(u64 v)
{
	v = v - ((v >> 1) & 0x5555555555555555ULL);
	v = (v & 0x3333333333333333ULL) + ((v >> 2) & 0x3333333333333333ULL);
	v = (v + (v >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
	return (unsigned int)((v * 0x0101010101010101ULL) >> 56);
}

/*
 * 0F BC/BD: BSF/BSR, and with F3 TZCNT/LZCNT; F3 0F B8: POPCNT (0F B8 alone is JMPE, #UD outside IA-64).
 * BSF/BSR of 0 set ZF and leave the destination alone (AMD documents it, Intel CPUs do it); their other flags are
 * undefined and kept. TZCNT/LZCNT set CF for a zero source and ZF for a zero result, keeping the undefined rest.
 * POPCNT clears OF, SF, AF, CF and PF and sets ZF for a zero source.
 */
enum emu_result emu_exec_bitscan(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	unsigned int size = insn->op_size, bits = size * 8;
	struct emu_opnd src = emu_rm_opnd(ctxt, size);
	bool f3 = insn->rep == 0xf3;
	u64 v, res, fl = ctxt->rflags;
	enum emu_result r;

	if (insn->opcode == 0xb8 && !f3)
		return emu_raise_ud(ctxt);
	r = emu_opnd_read(ctxt, &src, &v);
	if (r != EMU_OK)
		return r;
	if (insn->opcode == 0xb8) {
		res = popcount64(v);
		fl &= ~(u64)EMU_FL_ARITH;
		fl |= v ? 0 : EMU_FL_ZF;
	} else if (f3) {
		if (insn->opcode == 0xbc)
			res = v ? (u64)__builtin_ctzll(v) : bits;
		else
			res = v ? (u64)(__builtin_clzll(v) - (64 - bits)) : bits;
		fl &= ~(u64)(EMU_FL_CF | EMU_FL_ZF);
		fl |= (v ? 0 : EMU_FL_CF) | (res ? 0 : EMU_FL_ZF);
	} else {
		fl &= ~(u64)EMU_FL_ZF;
		if (!v) {
			ctxt->rflags = fl | EMU_FL_ZF;
			return EMU_OK;
		}
		res = insn->opcode == 0xbc ? (u64)__builtin_ctzll(v) : (u64)(63 - __builtin_clzll(v));
	}
	emu_reg_write(ctxt, insn->reg, size, false, res);
	ctxt->rflags = fl;
	return EMU_OK;
}

static u64 bswap(u64 v, unsigned int size)
{
	u64 r = 0;

	for (unsigned int i = 0; i < size; i++)
		r |= ((v >> (8 * i)) & 0xff) << (8 * (size - 1 - i));
	return r;
}

/* MOVBE (0F 38 F0 load, F1 store; 16, 32 or 64 bits): a move that reverses the bytes. Memory operands only (the
 * register form is #UD); F2 makes the same opcodes CRC32, which this emulator does not do. */
enum emu_result emu_exec_movbe(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	unsigned int size = insn->op_size;
	struct emu_opnd mem = emu_rm_opnd(ctxt, size);
	enum emu_result r;
	u64 v;

	if (insn->rep)
		return EMU_UNHANDLED;
	if (!insn->mem)
		return emu_raise_ud(ctxt);
	if (insn->opcode == 0xf1)
		return emu_opnd_write(ctxt, &mem, bswap(emu_reg_read(ctxt, insn->reg, size, false), size));
	r = emu_opnd_read(ctxt, &mem, &v);
	if (r == EMU_OK)
		emu_reg_write(ctxt, insn->reg, size, false, bswap(v, size));
	return r;
}

/* ADCX (66 0F 38 F6) and ADOX (F3 0F 38 F6): reg += r/m + carry, where the carry in and out is CF for ADCX and OF
 * for ADOX; no other flag changes. 32 or 64 bits. */
enum emu_result emu_exec_adx(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	unsigned int size = insn->op_size;
	struct emu_opnd src = emu_rm_opnd(ctxt, size);
	u64 flag, a, b, m = emu_size_mask(size), sum;
	bool cin, cout;
	enum emu_result r;

	if (insn->simd != 0x66 && insn->simd != 0xf3)
		return emu_raise_ud(ctxt);
	flag = insn->simd == 0x66 ? EMU_FL_CF : EMU_FL_OF;
	r = emu_opnd_read(ctxt, &src, &b);
	if (r != EMU_OK)
		return r;
	a = emu_reg_read(ctxt, insn->reg, size, false);
	cin = ctxt->rflags & flag;
	sum = (a + b + cin) & m;
	cout = sum < a || (cin && sum == a);
	emu_reg_write(ctxt, insn->reg, size, false, sum);
	ctxt->rflags = (ctxt->rflags & ~flag) | (cout ? flag : 0);
	return EMU_OK;
}
