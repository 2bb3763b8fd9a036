/* libFuzzer target for the instruction emulator: random instruction bytes in a random CPU mode with random registers,
 * segment bases and flags, run through emu_run against callbacks that accept any address (with some faults and
 * callback errors mixed in). Besides the sanitizers it checks the emulator's side of the contract and traps when
 * it is broken: at most 15 bytes fetched, in order, never across a page; data accesses of 1/2/4/8 bytes at checked
 * linear addresses; rip moved by exactly the decoded length; only the documented exception vectors.
 * fuzz-srcs: vm/emulate/alu.c vm/emulate/bits.c vm/emulate/bmi.c vm/emulate/decode.c vm/emulate/emulate.c
 * fuzz-srcs: vm/emulate/exec.c vm/emulate/muldiv.c vm/emulate/operand.c vm/emulate/rmw.c vm/emulate/shift.c
 * fuzz-srcs: vm/emulate/stack.c vm/emulate/string.c vm/emulate/system.c vm/emulate/vector.c */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hv/errno.h"
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
};

static u64 mix(u64 x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	return x ^ (x >> 33);
}

static bool canonical(u64 va)
{
	return (u64)((s64)(va << 16) >> 16) == va;
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

	ensure(size == 1 || size == 2 || size == 4 || size == 8);
	if (f->ctxt.mode == EMU_MODE_64)
		ensure(canonical(lin) && canonical(lin + size - 1) && lin + size - 1 >= lin);
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
	u64 v = mix(f->seed + lin);

	if (r)
		return r;
	memcpy(buf, &v, size);
	return 0;
}

static int fz_write(void *opaque, gva_t lin, const void *buf, unsigned int size, struct emu_fault *fault)
{
	return fz_data(opaque, lin, size, fault);
}

static const struct emu_ops fz_ops = {.fetch = fz_fetch, .read = fz_read, .write = fz_write};

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
		u64 rip = c->rip;
		enum emu_result r;

		f.rip0 = rip;
		r = emu_run(c);
		ensure(r >= EMU_OK && r <= EMU_ERROR);
		ensure(c->insn.nbytes <= EMU_MAX_INSN_LEN && c->insn.len <= c->insn.nbytes);
		if (r == EMU_OK)
			ensure(c->insn.len >= 1 && c->rip == ((rip + c->insn.len) & ip_mask(c->mode)));
		else
			ensure(c->rip == rip);
		if (r == EMU_EXCEPTION)
			ensure(c->exc.vector == EMU_VEC_UD || c->exc.vector == EMU_VEC_SS ||
			       c->exc.vector == EMU_VEC_GP || c->exc.vector == EMU_VEC_PF);
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
