/* libFuzzer target for the instruction emulator: random instruction bytes in a random CPU mode with random registers,
 * segment bases and flags, run through emu_run against callbacks that accept any address (with some faults and
 * callback errors mixed in), vector registers, and a system table that accepts everything. Besides the sanitizers it
 * checks the emulator's side of the contract and traps when it is broken: at most 15 bytes fetched, in order, never
 * across a page; data accesses of 1/2/4/8/16/32 bytes at checked linear addresses; rip moved by exactly the decoded
 * length (near branches aside); only the documented exception vectors.
 *
 * The oracle: in 64-bit mode, every instruction the emulator executed (or refused with #DE or #UD) that has only
 * register operands and is an integer, bit, shift, multiply/divide, BMI or SSE register move is run again on the
 * host CPU with the same registers and flags (tests/unit/native_step.h: single-stepped in a signal frame), and the
 * results, the flags the SDM defines, the exception and the length must agree (tests/unit/native_oracle.h).
 * A second oracle for the MMIO fast path: every instruction emu_insn_is_fast_mov takes runs again through
 * emu_fast_mov from the same state and decode, and the result, registers, rip, flags, exception and the data access
 * (address, size, value) must be the full path's.
 * fuzz-srcs: vm/emulate/alu.c vm/emulate/bits.c vm/emulate/bmi.c vm/emulate/decode.c vm/emulate/emulate.c
 * fuzz-srcs: vm/emulate/exec.c vm/emulate/fastmov.c vm/emulate/muldiv.c vm/emulate/operand.c vm/emulate/rmw.c
 * fuzz-srcs: vm/emulate/shift.c
 * fuzz-srcs: vm/emulate/stack.c vm/emulate/string.c vm/emulate/system.c vm/emulate/vector.c */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "hv/errno.h"
#include "tests/unit/native_oracle.h"
#include "vm/emulate/emulate.h"

#define ensure(cond)                                                                                                   \
	do {                                                                                                           \
		if (!(cond))                                                                                           \
			__builtin_trap();                                                                              \
	} while (0)

struct fuzz {
	struct emu_ctxt ctxt;
	u64 regs[EMU_NR_REGS];
	const u8 *code;
	size_t ncode;
	u64 seed;
	unsigned int fetched; /* bytes fetched for the current instruction */
	u64 rip0;	      /* rip when the current instruction started */
	bool faults, errors;
	bool host_simd; /* CR0/CR4/XCR0 as the host has them: the vector moves can be compared */
	u8 ymm[16][32];
	/* The data accesses of the current instruction: how many, and the last one (for the fast-path oracle). */
	unsigned int naccess;
	u64 access_lin, access_val;
	unsigned int access_size;
	bool access_write;
};

static u64 mix(u64 x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	return x ^ (x >> 33);
}

/* Canonical as the hardware defines it for the fuzzed context: 57 bits with CR4.LA57 (bit 12), else 48 (SDM Vol. 1
 * 3.3.7.1). Written here, not taken from the emulator, so that it checks it. */
static bool canonical_cr4(u64 cr4, u64 va)
{
	unsigned int shift = (cr4 & (1ULL << 12)) ? 7 : 16;

	return (u64)((s64)(va << shift) >> shift) == va;
}

static u64 ip_mask(enum emu_mode mode)
{
	return mode == EMU_MODE_64 ? ~0ULL : mode == EMU_MODE_PROT32 ? 0xffffffffULL : 0xffffULL;
}

/* Where byte k of the instruction lives. */
static u64 code_linear(const struct fuzz *f, unsigned int k)
{
	u64 ip = (f->rip0 + k) & ip_mask(f->ctxt.mode);

	if (f->ctxt.mode == EMU_MODE_64)
		return ip;
	return (u32)(f->ctxt.seg_base[EMU_SEG_CS] + ip);
}

static int pf(struct emu_fault *fault, gva_t lin)
{
	*fault = (struct emu_fault){.vector = EMU_VEC_PF, .has_error = true, .error_code = 0, .cr2 = lin};
	return EMU_CB_FAULT;
}

static int fz_fetch(void *opaque, gva_t lin, void *buf, unsigned int len, struct emu_fault *fault)
{
	struct fuzz *f = opaque;

	ensure(len >= 1 && f->fetched + len <= EMU_MAX_INSN_LEN);
	ensure((lin & 0xfff) + len <= 0x1000);
	ensure(lin == code_linear(f, f->fetched));
	if (f->faults && (mix(f->seed ^ lin) & 15) == 0)
		return pf(fault, lin);
	for (unsigned int i = 0; i < len; i++)
		((u8 *)buf)[i] = f->fetched + i < f->ncode ? f->code[f->fetched + i] : 0;
	f->fetched += len;
	return 0;
}

static int fz_data(struct fuzz *f, gva_t lin, unsigned int size, struct emu_fault *fault)
{
	u64 h = mix(f->seed ^ lin ^ size);

	f->naccess++;
	f->access_lin = lin;
	f->access_size = size;
	f->access_write = false;
	f->access_val = 0;

	ensure(size == 1 || size == 2 || size == 4 || size == 8 || size == 16 || size == 32);
	if (f->ctxt.mode == EMU_MODE_64)
		ensure(canonical_cr4(f->ctxt.cr4, lin) && canonical_cr4(f->ctxt.cr4, lin + size - 1) && lin + size - 1 >= lin);
	else
		ensure(lin + size - 1 <= 0xffffffffULL);
	if (f->faults && (h & 31) == 0)
		return pf(fault, lin);
	if (f->errors && (h & 63) == 1)
		return (h & 64) ? -EAGAIN : -EIO;
	return 0;
}

static int fz_read(void *opaque, gva_t lin, void *buf, unsigned int size, struct emu_fault *fault)
{
	struct fuzz *f = opaque;
	int r = fz_data(f, lin, size, fault);

	if (r)
		return r;
	for (unsigned int i = 0; i < size; i += 8) {
		u64 v = mix(f->seed + lin + i);
		memcpy((u8 *)buf + i, &v, size - i < 8 ? size - i : 8);
	}
	return 0;
}

static int fz_write(void *opaque, gva_t lin, const void *buf, unsigned int size, struct emu_fault *fault)
{
	struct fuzz *f = opaque;
	int r = fz_data(f, lin, size, fault);

	f->access_write = true;
	memcpy(&f->access_val, buf, size < 8 ? size : 8);
	return r;
}

static int fz_cmpxchg(void *opaque, gva_t lin, const void *old, const void *new, unsigned int size,
		      struct emu_fault *fault)
{
	struct fuzz *f = opaque;

	ensure(size == 1 || size == 2 || size == 4 || size == 8 || size == 16);
	ensure(f->ctxt.insn.lock || (f->ctxt.insn.map == 0 && (f->ctxt.insn.opcode & 0xfe) == 0x86));
	if (mix(f->seed ^ lin ^ 0xc0) % 8 == 0)
		return -EAGAIN; /* another vCPU changed it */
	return fz_data(f, lin, size, fault);
}

static int fz_get_vreg(void *opaque, unsigned int reg, void *buf, unsigned int size)
{
	struct fuzz *f = opaque;

	ensure(reg < 16 && (size == 16 || size == 32));
	memcpy(buf, f->ymm[reg], size);
	return 0;
}

static int fz_set_vreg(void *opaque, unsigned int reg, const void *buf, unsigned int size)
{
	struct fuzz *f = opaque;

	ensure(reg < 16 && (size == 16 || size == 32));
	memcpy(f->ymm[reg], buf, size);
	return 0;
}

/* INS/OUTS: a port of 1, 2 or 4 bytes (the emulator never asks for REX.W's 8); the destination probe of INS. */
static int fz_pio_in(void *opaque, u16 port, unsigned int size, u32 *val)
{
	struct fuzz *f = opaque;

	ensure(size == 1 || size == 2 || size == 4);
	*val = (u32)mix(f->seed ^ port);
	return 0;
}

static int fz_pio_out(void *opaque, u16 port, unsigned int size, u32 val)
{
	ensure(size == 1 || size == 2 || size == 4);
	ensure(size == 4 || val >> (8 * size) == 0);
	return 0;
}

static int fz_check_write(void *opaque, gva_t linear, unsigned int size, struct emu_fault *fault)
{
	struct fuzz *f = opaque;

	ensure(size == 1 || size == 2 || size == 4);
	ensure(f->ctxt.mode == EMU_MODE_64 ? canonical_cr4(f->ctxt.cr4, linear) : linear <= 0xffffffffULL);
	return 0;
}

static const struct emu_ops fz_ops = {
    .fetch = fz_fetch,
    .read = fz_read,
    .write = fz_write,
    .cmpxchg = fz_cmpxchg,
    .get_vreg = fz_get_vreg,
    .set_vreg = fz_set_vreg,
    .check_write = fz_check_write,
    .pio_in = fz_pio_in,
    .pio_out = fz_pio_out,
};

/* A system table that accepts everything, with a #GP now and then from the writes. */
static int fz_get_cr(void *opaque, unsigned int cr, u64 *val)
{
	ensure(cr == 0 || cr == 2 || cr == 3 || cr == 4 || cr == 8);
	*val = mix(cr);
	return 0;
}

static int fz_set(void *opaque, u64 val, struct emu_fault *fault)
{
	if ((val & 0xff) == 0x5a) {
		*fault = (struct emu_fault){.vector = EMU_VEC_GP, .has_error = true};
		return EMU_CB_FAULT;
	}
	return 0;
}

static int fz_set_cr(void *opaque, unsigned int cr, u64 val, struct emu_fault *fault)
{
	ensure(cr == 0 || cr == 2 || cr == 3 || cr == 4 || cr == 8);
	return fz_set(opaque, val, fault);
}

static int fz_get_dr(void *opaque, unsigned int dr, u64 *val, struct emu_fault *fault)
{
	ensure(dr <= 3 || dr == 6 || dr == 7);
	*val = mix(dr);
	return 0;
}

static int fz_set_dr(void *opaque, unsigned int dr, u64 val, struct emu_fault *fault)
{
	ensure(dr <= 3 || dr == 6 || dr == 7);
	return fz_set(opaque, val, fault);
}

static void fz_get_dt(void *opaque, bool idt, u16 *limit, u64 *base)
{
	*limit = 0x27;
	*base = mix(idt);
}

static void fz_set_dt(void *opaque, bool idt, u16 limit, u64 base)
{
	struct fuzz *f = opaque;

	if (f->ctxt.mode != EMU_MODE_64)
		ensure(base <= 0xffffffffULL && (f->ctxt.insn.op_size != 2 || base <= 0xffffff));
}

static u16 fz_get_seg_sel(void *opaque, unsigned int which)
{
	ensure(which <= 1);
	return 0x28;
}

static int fz_rdmsr(void *opaque, u32 msr, u64 *val, struct emu_fault *fault)
{
	*val = mix(msr);
	return fz_set(opaque, msr, fault);
}

static int fz_wrmsr(void *opaque, u32 msr, u64 val, struct emu_fault *fault)
{
	return fz_set(opaque, val, fault);
}

static int fz_simple(void *opaque)
{
	return 0;
}

static int fz_invlpg(void *opaque, gva_t linear)
{
	struct fuzz *f = opaque;

	ensure(f->ctxt.mode == EMU_MODE_64 ? canonical_cr4(f->ctxt.cr4, linear) : linear <= 0xffffffffULL);
	return 0;
}

static const struct emu_sys_ops fz_sys = {
    .get_cr = fz_get_cr,
    .set_cr = fz_set_cr,
    .get_dr = fz_get_dr,
    .set_dr = fz_set_dr,
    .get_dt = fz_get_dt,
    .set_dt = fz_set_dt,
    .get_seg_sel = fz_get_seg_sel,
    .rdmsr = fz_rdmsr,
    .wrmsr = fz_wrmsr,
    .halt = fz_simple,
    .invlpg = fz_invlpg,
    .wbinvd = fz_simple,
};

/* The oracle (see the top): the instruction natively, from the state before it, against what emu_run did. */
static void check_native(struct fuzz *f, const u64 *regs0, u64 rflags0, const u8 (*xmm0)[16], u64 rip0,
			 enum emu_result r)
{
	struct emu_ctxt *c = &f->ctxt;
	struct oracle_case oc = {.code = c->insn.bytes, .len = c->insn.len, .rflags = rflags0, .insn = &c->insn};
	u8 xmm[16][16];
	char msg[200], bytes[64];

	if (c->mode != EMU_MODE_64 || !oracle_covers(&c->insn) || (r != EMU_OK && r != EMU_EXCEPTION))
		return;
	/* The vector moves compare only with the CPU state the host has (SSE and AVX on). */
	if (oracle_vector(&c->insn) && !f->host_simd)
		return;
	memcpy(oc.regs, regs0, sizeof(oc.regs));
	memcpy(oc.xmm, xmm0, sizeof(oc.xmm));
	for (unsigned int i = 0; i < 16; i++)
		memcpy(xmm[i], f->ymm[i], 16);
	oc.res = r;
	oc.vector = c->exc.vector;
	oc.emu_regs = f->regs;
	oc.emu_rflags = c->rflags;
	oc.emu_len = c->rip - rip0;
	oc.emu_xmm = (const u8(*)[16])xmm;
	if (oracle_compare(&oc, msg, sizeof(msg))) {
		emu_format_bytes(&c->insn, bytes, sizeof(bytes));
		fprintf(stderr, "oracle: %s: %s\n", bytes, msg);
		for (unsigned int i = 0; i < 16; i++)
			fprintf(stderr, "  r%u before 0x%llx after 0x%llx\n", i, (unsigned long long)regs0[i],
				(unsigned long long)f->regs[i]);
		fprintf(stderr, "  rflags before 0x%llx after 0x%llx\n", (unsigned long long)rflags0,
			(unsigned long long)c->rflags);
		__builtin_trap();
	}
}

/* The fast-path oracle (see the top): ctxt0 and regs0 are the state before the instruction, r what the full path
 * returned for it. */
static void check_fast_mov(struct fuzz *f, const struct emu_ctxt *ctxt0, const u64 *regs0, enum emu_result r)
{
	struct emu_ctxt *c = &f->ctxt, fast = *ctxt0;
	u64 regs[EMU_NR_REGS];
	unsigned int n = f->naccess;
	u64 lin = f->access_lin, val = f->access_val;
	unsigned int size = f->access_size;
	bool write = f->access_write;
	enum emu_result rf;

	if (!c->insn.len || !emu_insn_is_fast_mov(&c->insn))
		return;
	memcpy(regs, regs0, sizeof(regs));
	fast.regs = regs;
	fast.insn = c->insn;
	f->naccess = 0;
	rf = emu_fast_mov(&fast);
	ensure(rf == r);
	ensure(!memcmp(regs, f->regs, sizeof(regs)));
	ensure(fast.rip == c->rip && fast.rflags == c->rflags);
	if (r == EMU_EXCEPTION)
		ensure(fast.exc.vector == c->exc.vector && fast.exc.has_error == c->exc.has_error &&
		       fast.exc.error_code == c->exc.error_code && fast.exc.cr2 == c->exc.cr2);
	if (r == EMU_ERROR)
		ensure(fast.error == c->error);
	ensure(f->naccess == n && n <= 1);
	if (n)
		ensure(f->access_lin == lin && f->access_size == size && f->access_write == write &&
		       f->access_val == val);
}

/* Input: [0] mode and switches, [1] REP batch and prefetch length, [2..9] seed, then the instruction bytes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fuzz f;
	char line[64];

	if (size < 10)
		return 0;
	memset(&f, 0, sizeof(f));
	memcpy(&f.seed, data + 2, 8);
	f.code = data + 10;
	f.ncode = size - 10;
	f.faults = data[0] & 8;
	f.errors = data[0] & 32;

	struct emu_ctxt *c = &f.ctxt;
	c->mode = (enum emu_mode)(data[0] & 3);
	c->regs = f.regs;
	c->ops = &fz_ops;
	c->opaque = &f;
	c->rep_batch = (data[1] & 0x3f) + 1;
	for (unsigned int i = 0; i < EMU_NR_REGS; i++) {
		u64 v = mix(f.seed + i);
		/* Small values often, so addresses near zero and short REP counts come up. */
		f.regs[i] = (v & 3) == 0 ? v >> 56 : v;
	}
	for (unsigned int i = 0; i < EMU_NR_SEGS; i++)
		c->seg_base[i] = (mix(f.seed ^ (0x100 + i)) & 1) ? mix(f.seed * 3 + i) : 0;
	/* Segment limits and types, half the time: small limits, expand-down, unusable, read-only, execute-only. */
	c->seg_checks = mix(f.seed ^ 0x300) & 1;
	for (unsigned int i = 0; i < EMU_NR_SEGS; i++) {
		u64 h = mix(f.seed ^ (0x310 + i));
		c->seg_limit[i] = (h & 1) ? 0xffffffffu : (h & 2) ? 0xffffu : (u32)(h >> 32);
		c->seg_flags[i] = (h & 4) ? (u8)(h >> 8) & 0x1f : 0;
	}
	for (unsigned int i = 0; i < 16; i++)
		for (unsigned int j = 0; j < 32; j += 8) {
			u64 v = mix(f.seed ^ (0x200 + 4 * i + j));
			memcpy(&f.ymm[i][j], &v, 8);
		}
	c->sys = &fz_sys;
	if (data[0] & 128) {
		/* Any control state: privilege, UMIP, SIMD enables, a 16-bit stack. */
		u64 h = mix(f.seed ^ 0x99);
		c->cpl = h & 3;
		c->umip = h & 4;
		c->cr0 = mix(h);
		c->cr4 = mix(h + 1);
		c->xcr0 = mix(h + 2);
		c->stack_size = (h >> 8) & 7;
	} else {
		/* An OS that turned SSE and AVX on, as the host has them. */
		c->cr0 = 0x80050033;
		c->cr4 = BIT(9) | BIT(10) | BIT(18);
		c->xcr0 = 7;
		f.host_simd = true;
	}
	c->rflags = 0x2 | (mix(f.seed ^ 0x77) & EMU_FL_ARITH) | ((data[0] & 4) ? EMU_FL_DF : 0);
	c->rip = mix(f.seed ^ 0x55);
	if (c->mode == EMU_MODE_64 && !(data[0] & 64))
		c->rip = (u64)(s64)(c->rip << 16) >> 16; /* mostly canonical */
	else if (c->mode != EMU_MODE_64)
		c->rip &= ip_mask(c->mode);
	if (data[0] & 16) {
		/* The exit supplied some bytes; the emulator must fetch only what follows them. */
		c->prefetch_len = MIN((size_t)(data[1] >> 4), MIN(f.ncode, (size_t)EMU_MAX_INSN_LEN));
		memcpy(c->prefetch, f.code, c->prefetch_len);
		f.fetched = c->prefetch_len;
	}

	for (unsigned int call = 0; call < 4; call++) {
		u64 rip = c->rip, regs0[EMU_NR_REGS], rflags0 = c->rflags;
		u8 xmm0[16][16];
		enum emu_result r;
		bool branch;

		struct emu_ctxt ctxt0 = *c;

		memcpy(regs0, f.regs, sizeof(regs0));
		for (unsigned int i = 0; i < 16; i++)
			memcpy(xmm0[i], f.ymm[i], 16);
		f.rip0 = rip;
		f.naccess = 0;
		r = emu_run(c);
		ensure(r >= EMU_OK && r <= EMU_ERROR);
		ensure(c->insn.nbytes <= EMU_MAX_INSN_LEN && c->insn.len <= c->insn.nbytes);
		branch = c->insn.map == 0 && c->insn.opcode == 0xff &&
			 (((c->insn.modrm >> 3) & 7) == 2 || ((c->insn.modrm >> 3) & 7) == 4);
		if (r == EMU_OK && !branch)
			ensure(c->insn.len >= 1 && c->rip == ((rip + c->insn.len) & ip_mask(c->mode)));
		else if (r == EMU_OK)
			ensure(c->mode != EMU_MODE_64 ? c->rip <= ip_mask(c->mode) : canonical_cr4(c->cr4, c->rip));
		else
			ensure(c->rip == rip);
		if (r == EMU_EXCEPTION)
			ensure(c->exc.vector == EMU_VEC_UD || c->exc.vector == EMU_VEC_SS ||
			       c->exc.vector == EMU_VEC_GP || c->exc.vector == EMU_VEC_PF ||
			       c->exc.vector == EMU_VEC_DE || c->exc.vector == EMU_VEC_NM);
		if (call == 0) {
			check_native(&f, regs0, rflags0, (const u8(*)[16])xmm0, rip, r);
			check_fast_mov(&f, &ctxt0, regs0, r);
		}
		if (r == EMU_ERROR)
			ensure(c->error < 0);
		ensure(emu_format_bytes(&c->insn, line, 1 + (f.seed % sizeof(line))) < sizeof(line));
		if (r != EMU_CONTINUE)
			break;
		/* Re-entry as the caller would: the same instruction, fetched again. */
		f.fetched = c->prefetch_len;
	}
	return 0;
}
