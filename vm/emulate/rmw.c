/* The exchanging read-modify-writes: XCHG, CMPXCHG, CMPXCHG8B/16B and XADD. Each is a read callback followed by a
 * write callback, or, LOCKed (XCHG always), the cmpxchg callback that makes it atomic where the caller can
 * (emulate.h). A compare that fails writes nothing: the value read is the one the instruction saw. */
#include "vm/emulate/internal.h"

/* XCHG (86/87): LOCKed implicitly with memory, which changes nothing here (see emulate.h). */
enum emu_result emu_exec_xchg(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	struct emu_opnd rm = emu_rm_opnd(ctxt, insn->op_size), reg = emu_reg_opnd(ctxt, insn->reg, insn->op_size);
	u64 a, b = emu_reg_read(ctxt, reg.reg, reg.size, reg.high8);
	enum emu_result r = emu_opnd_read(ctxt, &rm, &a);

	if (r != EMU_OK)
		return r;
	r = emu_opnd_rmw_write(ctxt, &rm, a, b);
	if (r == EMU_OK)
		emu_opnd_write(ctxt, &reg, a);
	return r;
}

/* CMPXCHG (0F B0/B1). On a mismatch only the accumulator is written: the CPU's extra write of the old value would
 * be a second, visible device access, and KVM does not make it either. */
enum emu_result emu_exec_cmpxchg(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	unsigned int size = insn->op_size;
	struct emu_opnd dst = emu_rm_opnd(ctxt, size), src = emu_reg_opnd(ctxt, insn->reg, size);
	u64 d, acc = emu_reg_read(ctxt, EMU_RAX, size, false), fl = ctxt->rflags;
	enum emu_result r = emu_opnd_read(ctxt, &dst, &d);

	if (r != EMU_OK)
		return r;
	emu_alu(EMU_ALU_CMP, acc, d, size, &fl);
	if (acc == d) {
		r = emu_opnd_rmw_write(ctxt, &dst, d, emu_reg_read(ctxt, src.reg, size, src.high8));
		if (r != EMU_OK)
			return r;
	} else {
		emu_reg_write(ctxt, EMU_RAX, size, false, d);
	}
	ctxt->rflags = fl;
	return EMU_OK;
}

/*
 * CMPXCHG8B m64 and, with REX.W, CMPXCHG16B m128 (0F C7 /1; the register form is #UD at decode): compare rDX:rAX
 * with the memory operand; equal: store rCX:rBX and set ZF; else load the operand into rDX:rAX (32-bit halves
 * zero-extend in 64-bit mode) and clear ZF. No other flag changes. CMPXCHG16B's operand must be 16-byte aligned
 * (#GP(0) otherwise, whatever the segment). The whole operand is one read and, on a match, one write; as for
 * CMPXCHG, no write-back of the old value on a mismatch.
 */
enum emu_result emu_exec_cmpxchg8b(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	unsigned int half = insn->op_size == 8 ? 8 : 4;
	u64 ea = emu_insn_ea(ctxt), m[2] = {0, 0}, lo, hi, cmp_lo, cmp_hi;
	enum emu_result r;

	if (half == 8) {
		/* The alignment is the linear address's (FS and GS bases count), checked before any access. */
		gva_t lin;
		r = emu_linearize(ctxt, insn->seg, ea, 16, &lin);
		if (r != EMU_OK)
			return r;
		if (lin & 15)
			return emu_raise_gp0(ctxt);
	}
	r = emu_mem_read(ctxt, insn->seg, ea, m, 2 * half);
	if (r != EMU_OK)
		return r;
	if (half == 4) {
		lo = (u32)m[0];
		hi = m[0] >> 32;
	} else {
		lo = m[0];
		hi = m[1];
	}
	cmp_lo = emu_reg_read(ctxt, EMU_RAX, half, false);
	cmp_hi = emu_reg_read(ctxt, EMU_RDX, half, false);
	if (lo == cmp_lo && hi == cmp_hi) {
		u64 nlo = emu_reg_read(ctxt, EMU_RBX, half, false), nhi = emu_reg_read(ctxt, EMU_RCX, half, false);
		u64 n[2];
		if (half == 4) {
			n[0] = nlo | nhi << 32;
		} else {
			n[0] = nlo;
			n[1] = nhi;
		}
		r = emu_mem_rmw_write(ctxt, insn->seg, ea, m, n, 2 * half);
		if (r != EMU_OK)
			return r;
		ctxt->rflags |= EMU_FL_ZF;
	} else {
		emu_reg_write(ctxt, EMU_RAX, half, false, lo);
		emu_reg_write(ctxt, EMU_RDX, half, false, hi);
		ctxt->rflags &= ~(u64)EMU_FL_ZF;
	}
	return EMU_OK;
}

/* XADD (0F C0/C1): TEMP = SRC + DEST; SRC = DEST; DEST = TEMP, memory first so a fault changes nothing. */
enum emu_result emu_exec_xadd(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	unsigned int size = insn->op_size;
	struct emu_opnd dst = emu_rm_opnd(ctxt, size), src = emu_reg_opnd(ctxt, insn->reg, size);
	u64 d, s = emu_reg_read(ctxt, src.reg, size, src.high8), sum, fl = ctxt->rflags;
	enum emu_result r = emu_opnd_read(ctxt, &dst, &d);

	if (r != EMU_OK)
		return r;
	sum = emu_alu(EMU_ALU_ADD, d, s, size, &fl);
	if (dst.is_mem) {
		r = emu_opnd_rmw_write(ctxt, &dst, d, sum);
		if (r != EMU_OK)
			return r;
		emu_opnd_write(ctxt, &src, d);
	} else {
		emu_opnd_write(ctxt, &src, d);
		emu_opnd_write(ctxt, &dst, sum);
	}
	ctxt->rflags = fl;
	return EMU_OK;
}
