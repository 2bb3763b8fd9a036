/* Internal to vm/emulate/: the frame's helpers (emulate.c), operands (operand.c) and the execution handlers each
 * file of the emulator provides to the dispatcher (exec.c). Not for callers: they use emulate.h. */
#ifndef VM_EMULATE_INTERNAL_H
#define VM_EMULATE_INTERNAL_H

#include "vm/emulate/emulate.h"

/* Linear address of seg:ea for a read of size bytes, checked (canonical in 64-bit mode; the 4 GiB boundary, and the
 * segment's limit and type with ctxt->seg_checks, otherwise); EMU_EXCEPTION with #GP(0) or #SS(0) otherwise. */
enum emu_result emu_linearize(struct emu_ctxt *ctxt, u8 seg, u64 ea, unsigned int size, gva_t *linear);
/* The same for a write (write true: the segment must be writable) or a read. */
enum emu_result emu_linearize_access(struct emu_ctxt *ctxt, u8 seg, u64 ea, unsigned int size, bool write,
				     gva_t *linear);
enum emu_result emu_mem_read(struct emu_ctxt *ctxt, u8 seg, u64 ea, void *buf, unsigned int size);
enum emu_result emu_mem_write(struct emu_ctxt *ctxt, u8 seg, u64 ea, const void *buf, unsigned int size);
/* The write of a read-modify-write: through ops->cmpxchg (old being what was read) when the instruction is LOCKed
 * (XCHG with memory always is) and the caller gave one, else a plain write. */
enum emu_result emu_mem_rmw_write(struct emu_ctxt *ctxt, u8 seg, u64 ea, const void *old, const void *new,
				  unsigned int size);
/* Map a callback's return value to a result, copying *fault or the error into ctxt. A callback without a fault
 * argument (fault NULL) that returns EMU_CB_FAULT broke its contract: EMU_ERROR with -EIO. */
enum emu_result emu_callback_result(struct emu_ctxt *ctxt, int r, const struct emu_fault *fault);
enum emu_result emu_raise(struct emu_ctxt *ctxt, u8 vector, bool has_error, u32 error_code);
static inline enum emu_result emu_raise_ud(struct emu_ctxt *ctxt)
{
	return emu_raise(ctxt, EMU_VEC_UD, false, 0);
}
static inline enum emu_result emu_raise_gp0(struct emu_ctxt *ctxt)
{
	return emu_raise(ctxt, EMU_VEC_GP, true, 0);
}

/* Registers: size-byte views. A 4-byte write zero-extends to 64 bits, 1- and 2-byte writes keep the rest;
 * high8 selects AH, CH, DH, BH (reg 0..3). */
u64 emu_reg_read(const struct emu_ctxt *ctxt, unsigned int reg, unsigned int size, bool high8);
void emu_reg_write(struct emu_ctxt *ctxt, unsigned int reg, unsigned int size, bool high8, u64 val);
/* reg += delta, wrapping within size bytes (the address size of string instructions). */
void emu_reg_add_masked(struct emu_ctxt *ctxt, unsigned int reg, unsigned int size, s64 delta);
/* rip + insn->len, wrapped to the code size; emu_advance_rip stores it. */
u64 emu_next_rip(const struct emu_ctxt *ctxt);
void emu_advance_rip(struct emu_ctxt *ctxt);
bool emu_is_canonical(const struct emu_ctxt *ctxt, u64 va);

/* ---- Operands (operand.c) ---- */

/* An operand: a register (AH..BH through high8) or memory at seg:ea. */
struct emu_opnd {
	bool is_mem;
	unsigned int size;
	u8 reg;
	bool high8;
	u8 seg;
	u64 ea;
};

/* A general register of the instruction (byte registers 4..7 are AH..BH without REX). */
struct emu_opnd emu_reg_opnd(const struct emu_ctxt *ctxt, unsigned int reg, unsigned int size);
/* The ModRM r/m operand: the register rm, or the memory operand. */
struct emu_opnd emu_rm_opnd(const struct emu_ctxt *ctxt, unsigned int size);
enum emu_result emu_opnd_read(struct emu_ctxt *ctxt, const struct emu_opnd *o, u64 *val);
enum emu_result emu_opnd_write(struct emu_ctxt *ctxt, const struct emu_opnd *o, u64 val);
/* The write that ends a read-modify-write of o, which held old (see emu_mem_rmw_write). */
enum emu_result emu_opnd_rmw_write(struct emu_ctxt *ctxt, const struct emu_opnd *o, u64 old, u64 val);
u64 emu_sign_extend(u64 v, unsigned int size);
/* Whether condition code cc (the low nibble of Jcc, SETcc, CMOVcc) holds for rflags. */
bool emu_cond(unsigned int cc, u64 rflags);
/* The arithmetic flags SF, ZF and PF of a size-byte result, the rest of *rflags kept. */
void emu_set_szp(u64 *rflags, u64 result, unsigned int size);

static inline unsigned int emu_ext(const struct emu_insn *insn)
{
	return (insn->modrm >> 3) & 7;
}

/* ---- Execution handlers: each does all its memory accesses before it changes a register or a flag. ---- */

/* MOVS, STOS, LODS, CMPS, SCAS with or without REP; rip is theirs to move (string.c). */
enum emu_result emu_exec_string(struct emu_ctxt *ctxt);
/* Shifts and rotates C0/C1/D0-D3, and SHLD/SHRD 0F A4/A5/AC/AD (shift.c). */
enum emu_result emu_exec_shift(struct emu_ctxt *ctxt);
enum emu_result emu_exec_shift_double(struct emu_ctxt *ctxt);
/* MUL, IMUL, DIV, IDIV: F6/F7 /4-/7, 0F AF, 69, 6B (muldiv.c). */
enum emu_result emu_exec_muldiv(struct emu_ctxt *ctxt);
/* BT, BTS, BTR, BTC, BSF, BSR, TZCNT, LZCNT, POPCNT, MOVBE, ADCX, ADOX (bits.c). */
enum emu_result emu_exec_bt(struct emu_ctxt *ctxt);
enum emu_result emu_exec_bitscan(struct emu_ctxt *ctxt);
enum emu_result emu_exec_movbe(struct emu_ctxt *ctxt);
enum emu_result emu_exec_adx(struct emu_ctxt *ctxt);
/* XCHG, CMPXCHG, CMPXCHG8B/16B, XADD (rmw.c). */
enum emu_result emu_exec_xchg(struct emu_ctxt *ctxt);
enum emu_result emu_exec_cmpxchg(struct emu_ctxt *ctxt);
enum emu_result emu_exec_cmpxchg8b(struct emu_ctxt *ctxt);
enum emu_result emu_exec_xadd(struct emu_ctxt *ctxt);
/* PUSH/POP r/m, and CALL/JMP r/m, which move rip themselves (stack.c). */
enum emu_result emu_exec_push_pop(struct emu_ctxt *ctxt);
enum emu_result emu_exec_near_branch(struct emu_ctxt *ctxt);
/* The SSE/AVX moves (vector.c). */
enum emu_result emu_exec_vector(struct emu_ctxt *ctxt);
/* The system instructions (system.c); HLT moves rip only when the halt callback accepted it. */
enum emu_result emu_exec_system(struct emu_ctxt *ctxt);
/* The BMI1/BMI2 GPR instructions (bmi.c). */
enum emu_result emu_exec_bmi(struct emu_ctxt *ctxt);

#endif
