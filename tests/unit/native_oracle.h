/*
 * The emulator checked against the host CPU (native_step.h), instruction by instruction: which decoded
 * instructions can run natively (64-bit mode, register operands only, nothing that touches memory, the stack,
 * rip beyond its own length, or system state), which flags and registers the SDM defines after them, and the
 * comparison itself. Used by test_emulate_native.c and by the fuzz target's oracle.
 */
#ifndef TESTS_UNIT_NATIVE_ORACLE_H
#define TESTS_UNIT_NATIVE_ORACLE_H

#include <stdio.h>

#include "native_step.h"
#include "vm/emulate/emulate.h"

#define ORACLE_FLAGS (EMU_FL_CF | EMU_FL_PF | EMU_FL_AF | EMU_FL_ZF | EMU_FL_SF | EMU_FL_OF | EMU_FL_DF)

static unsigned int oracle_ext(const struct emu_insn *insn)
{
	return (insn->modrm >> 3) & 7;
}

/* Register-form SSE moves the oracle runs (their XMM state goes through the signal frame). */
static bool oracle_vector(const struct emu_insn *insn)
{
	if (insn->map != 1)
		return false;
	switch (insn->opcode) {
	case 0x10:
	case 0x11:
	case 0x28:
	case 0x29:
	case 0x6e:
	case 0x6f:
	case 0x7e:
	case 0x7f:
	case 0xd6:
		return !insn->vex_l;
	default:
		return false;
	}
}

/* Whether insn, decoded in 64-bit mode, is one the oracle can run natively. */
static bool oracle_covers(const struct emu_insn *insn)
{
	u8 op = insn->opcode;
	unsigned int ext = oracle_ext(insn);

	if (!insn->len || insn->mem || (insn->has_modrm && insn->mod != 3))
		return false;
	if (insn->vex)
		return (insn->map == 2 && (op == 0xf2 || op == 0xf3 || op == 0xf5 || op == 0xf6 || op == 0xf7)) ||
		       (insn->map == 3 && op == 0xf0) || oracle_vector(insn);
	switch (insn->map) {
	case 0:
		if (op < 0x40)
			return (op & 7) <= 5;
		if ((op >= 0x80 && op <= 0x8b) || op == 0x63 || op == 0x69 || op == 0x6b || op == 0xc0 || op == 0xc1 ||
		    (op >= 0xd0 && op <= 0xd3) || op == 0xf6 || op == 0xf7 || op == 0xa8 || op == 0xa9)
			return true;
		if (op == 0xc6 || op == 0xc7)
			return ext == 0;
		if (op == 0xfe || op == 0xff)
			return ext <= 1;
		return false;
	case 1:
		if ((op >= 0x40 && op <= 0x4f) || (op >= 0x90 && op <= 0x9f))
			return true;
		switch (op) {
		case 0xa3:
		case 0xab:
		case 0xb3:
		case 0xbb:
		case 0xba:
		case 0xa4:
		case 0xa5:
		case 0xac:
		case 0xad:
		case 0xaf:
		case 0xb0:
		case 0xb1:
		case 0xb6:
		case 0xb7:
		case 0xbe:
		case 0xbf:
		case 0xb8:
		case 0xbc:
		case 0xbd:
		case 0xc0:
		case 0xc1:
			return true;
		case 0xc7:
			return ext == 1; /* CMPXCHG8B's register form: #UD on both */
		default:
			return oracle_vector(insn);
		}
	case 2:
		return op == 0xf6 || ((op == 0xf0 || op == 0xf1) && insn->rep != 0xf2);
	default:
		return false;
	}
}

/* A register's value at size bytes (the emulator's register file layout). */
static u64 oracle_reg(const u64 *regs, unsigned int reg, unsigned int size)
{
	return regs[reg & 15] & emu_size_mask(size);
}

/*
 * The flags the SDM defines after insn (the ones it leaves undefined are masked out of the comparison), given the
 * registers and flags before it; *dest_undefined when the destination register's value is undefined too (BSF/BSR
 * of zero, a 16-bit SHLD/SHRD by more than 16).
 */
static u64 oracle_defined_flags(const struct emu_insn *insn, const u64 *regs, u64 rflags, bool *dest_undefined)
{
	const u64 all = ORACLE_FLAGS, szp = EMU_FL_SF | EMU_FL_ZF | EMU_FL_PF;
	unsigned int size = insn->op_size, bits = size * 8, ext = oracle_ext(insn), n;
	u8 op = insn->opcode;

	*dest_undefined = false;
	if (insn->vex) {
		if (insn->map == 2 && op == 0xf2)
			return all & ~(u64)(EMU_FL_AF | EMU_FL_PF); /* ANDN */
		if (insn->map == 2 && op == 0xf3)
			return all & ~(u64)(EMU_FL_AF | EMU_FL_PF); /* BLS* */
		if (insn->map == 2 && op == 0xf5 && insn->simd == 0)
			return all & ~(u64)(EMU_FL_AF | EMU_FL_PF); /* BZHI */
		if (insn->map == 2 && op == 0xf7 && insn->simd == 0)
			return all & ~(u64)(EMU_FL_AF | EMU_FL_PF | EMU_FL_SF); /* BEXTR */
		return all;
	}
	if (insn->map == 0) {
		if (op < 0x40 || (op >= 0x80 && op <= 0x83) || op == 0x84 || op == 0x85 || op == 0xa8 || op == 0xa9) {
			unsigned int alu = op < 0x40 ? op >> 3 : op >= 0x84 ? EMU_ALU_AND : ext;
			return alu == EMU_ALU_AND || alu == EMU_ALU_OR || alu == EMU_ALU_XOR ? all & ~(u64)EMU_FL_AF
											     : all;
		}
		if (op == 0x69 || op == 0x6b)
			return all & ~(u64)(szp | EMU_FL_AF);
		if (op >= 0xc0 && op <= 0xd3 && op != 0xc6 && op != 0xc7) {
			unsigned int count = op <= 0xc1 ? (u8)insn->imm : op <= 0xd1 ? 1 : (u8)regs[EMU_RCX];
			n = count & (size == 8 ? 0x3f : 0x1f);
			if (!n)
				return all;
			if (ext <= 3) /* rotates: CF and OF only, OF for a count of 1 */
				return n == 1 ? all : all & ~(u64)EMU_FL_OF;
			u64 m = all & ~(u64)EMU_FL_AF;
			if (n != 1)
				m &= ~(u64)EMU_FL_OF;
			if (ext != 7 && n >= bits)
				m &= ~(u64)EMU_FL_CF; /* SHL/SHR past the width */
			return m;
		}
		if (op == 0xf6 || op == 0xf7) {
			if (ext <= 1)
				return all & ~(u64)EMU_FL_AF; /* TEST */
			if (ext == 4 || ext == 5)
				return all & ~(u64)(szp | EMU_FL_AF);
			if (ext >= 6)
				return EMU_FL_DF;
		}
		return all;
	}
	if (insn->map == 1) {
		switch (op) {
		case 0xa3:
		case 0xab:
		case 0xb3:
		case 0xbb:
		case 0xba:
			return EMU_FL_CF | EMU_FL_ZF | EMU_FL_DF;
		case 0xa4:
		case 0xa5:
		case 0xac:
		case 0xad: {
			unsigned int count = (op & 1) ? (u8)regs[EMU_RCX] : (u8)insn->imm;
			n = count & (size == 8 ? 0x3f : 0x1f);
			if (!n)
				return all;
			if (n > bits) {
				*dest_undefined = true;
				return EMU_FL_DF;
			}
			return (all & ~(u64)EMU_FL_AF) & (n == 1 ? all : ~(u64)EMU_FL_OF);
		}
		case 0xaf:
			return all & ~(u64)(szp | EMU_FL_AF);
		case 0xbc:
		case 0xbd:
			if (insn->rep == 0xf3)
				return EMU_FL_CF | EMU_FL_ZF | EMU_FL_DF;
			*dest_undefined = !oracle_reg(regs, insn->rm, size);
			return EMU_FL_ZF | EMU_FL_DF;
		default:
			return all;
		}
	}
	return all;
}

/* The register an instruction's undefined result lands in. */
static unsigned int oracle_dest(const struct emu_insn *insn)
{
	return insn->map == 1 && (insn->opcode == 0xbc || insn->opcode == 0xbd) ? insn->reg : insn->rm;
}

struct oracle_case {
	/* In: the state before, and what the emulator did with it. */
	const u8 *code;
	unsigned int len;
	u64 regs[16], rflags;
	u8 xmm[16][16];
	const struct emu_insn *insn;
	enum emu_result res;
	u8 vector;	     /* EMU_EXCEPTION */
	const u64 *emu_regs; /* after */
	u64 emu_rflags, emu_len;
	const u8 (*emu_xmm)[16];
};

/* Run the case natively and compare: NULL when they agree (or the case cannot run), else a description in buf. */
static const char *oracle_compare(const struct oracle_case *c, char *buf, size_t size)
{
	struct native_state st;
	u8 code[EMU_MAX_INSN_LEN] = {0};
	bool dest_undef;
	u64 mask;
	int sig;

	/* Zeros after the given bytes, as the emulator's fetch sees them. */
	memcpy(code, c->code, c->len < sizeof(code) ? c->len : sizeof(code));
	memset(&st, 0, sizeof(st));
	memcpy(st.regs, c->regs, sizeof(st.regs));
	st.rflags = c->rflags;
	memcpy(st.xmm, c->xmm, sizeof(st.xmm));
	sig = native_step(code, sizeof(code), &st);
	if (sig < 0)
		return NULL;
	if (c->res == EMU_EXCEPTION) {
		int want = c->vector == EMU_VEC_DE ? SIGFPE : c->vector == EMU_VEC_UD ? SIGILL : -2;
		if (sig != want) {
			snprintf(buf, size, "emulator raised vector %u, the CPU %s %d", c->vector,
				 sig ? "signal" : "completed, length", sig ? sig : (int)st.rip);
			return buf;
		}
		return NULL;
	}
	if (c->res != EMU_OK)
		return NULL;
	if (sig != NATIVE_STEPPED) {
		snprintf(buf, size, "emulator completed it, the CPU raised signal %d", sig);
		return buf;
	}
	if (st.rip != c->emu_len) {
		snprintf(buf, size, "length %llu, the CPU's %llu", (unsigned long long)c->emu_len,
			 (unsigned long long)st.rip);
		return buf;
	}
	mask = oracle_defined_flags(c->insn, c->regs, c->rflags, &dest_undef);
	if ((st.rflags ^ c->emu_rflags) & mask) {
		snprintf(buf, size, "rflags 0x%llx, the CPU's 0x%llx (compared 0x%llx)",
			 (unsigned long long)c->emu_rflags, (unsigned long long)st.rflags, (unsigned long long)mask);
		return buf;
	}
	for (unsigned int i = 0; i < 16; i++) {
		if (dest_undef && i == (oracle_dest(c->insn) & 15))
			continue;
		if (st.regs[i] != c->emu_regs[i]) {
			snprintf(buf, size, "register %u is 0x%llx, the CPU's 0x%llx", i,
				 (unsigned long long)c->emu_regs[i], (unsigned long long)st.regs[i]);
			return buf;
		}
	}
	if (c->emu_xmm && memcmp(st.xmm, c->emu_xmm, sizeof(st.xmm))) {
		for (unsigned int i = 0; i < 16; i++)
			if (memcmp(st.xmm[i], c->emu_xmm[i], 16)) {
				snprintf(buf, size, "xmm%u differs", i);
				return buf;
			}
	}
	return NULL;
}

#endif
