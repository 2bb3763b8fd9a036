/* The fake guest behind the emulator tests (test_emulate*.c): one code page, a RAM window, an MMIO window that records
 * every access, and nothing else (any other access is a #PF), all at fixed linear addresses. The callbacks also
 * check the emulator's side of the contract: sizes of 1/2/4/8/16/32, fetches of at most 15 bytes within one page.
 * env_vectors() adds the vector-register callbacks over env.ymm and a CPU state with SSE and AVX on; env_sys()
 * (test_emulate_sys.c) adds system callbacks. */
#ifndef TEST_EMULATE_ENV_H
#define TEST_EMULATE_ENV_H

#include <string.h>

#include "hv/errno.h"
#include "test.h"
#include "vm/emulate/emulate.h"

#define ENV_CODE      0x400000ULL /* the code page */
#define ENV_RAM	      0x100000ULL
#define ENV_RAM_SIZE  0x10000ULL
#define ENV_MMIO      0xfebf0000ULL
#define ENV_MMIO_SIZE 0x1000ULL
#define ENV_PF_W      BIT(1)
#define ENV_PF_FETCH  BIT(4)

struct env_access {
	bool write, mmio;
	bool atomic; /* through the cmpxchg callback */
	u64 addr;
	unsigned int size;
	u64 val;
};

struct env {
	struct emu_ctxt ctxt;
	struct emu_ops ops;
	u64 regs[EMU_NR_REGS];
	u8 code[PAGE_SIZE];
	u8 ram[ENV_RAM_SIZE];
	u8 mmio[ENV_MMIO_SIZE];	    /* what device reads return; writes land here too */
	struct env_access log[512]; /* RAM and MMIO accesses, in order */
	unsigned int nlog;
	unsigned int nfetch, fetched; /* fetch calls and bytes */
	int read_ret, write_ret;      /* when nonzero, what the read / write callbacks return */
	u8 ymm[16][32];		      /* the vector registers behind get_vreg/set_vreg */
	unsigned int nvreg;	      /* vector-register callbacks made */
	bool changed;		      /* the cmpxchg callback finds memory changed (another vCPU wrote it) */
};

static struct env env;

static inline int env_pf(struct emu_fault *f, u64 addr, u32 ec)
{
	*f = (struct emu_fault){.vector = EMU_VEC_PF, .has_error = true, .error_code = ec, .cr2 = addr};
	return EMU_CB_FAULT;
}

static inline bool env_in(u64 a, unsigned int n, u64 base, u64 size)
{
	return a >= base && a - base <= size && n <= size - (a - base);
}

static inline int env_fetch(void *opaque, gva_t lin, void *buf, unsigned int len, struct emu_fault *f)
{
	CHECK(opaque == &env);
	CHECK(len >= 1 && len <= EMU_MAX_INSN_LEN);
	CHECK((lin & 0xfff) + len <= PAGE_SIZE); /* never across a page */
	env.nfetch++;
	env.fetched += len;
	CHECK(env.fetched <= EMU_MAX_INSN_LEN);
	if (!env_in(lin, len, ENV_CODE, PAGE_SIZE))
		return env_pf(f, lin, ENV_PF_FETCH);
	memcpy(buf, env.code + (lin - ENV_CODE), len);
	return 0;
}

static inline int env_access(gva_t lin, void *buf, unsigned int size, bool write, struct emu_fault *f)
{
	u64 v = 0;

	CHECK(size == 1 || size == 2 || size == 4 || size == 8 || size == 16 || size == 32);
	if (write ? env.write_ret : env.read_ret)
		return write ? env.write_ret : env.read_ret;
	bool ram = env_in(lin, size, ENV_RAM, ENV_RAM_SIZE), mmio = env_in(lin, size, ENV_MMIO, ENV_MMIO_SIZE);
	if (!ram && !mmio)
		return env_pf(f, lin, write ? ENV_PF_W : 0);
	u8 *p = ram ? env.ram + (lin - ENV_RAM) : env.mmio + (lin - ENV_MMIO);
	if (write)
		memcpy(p, buf, size);
	else
		memcpy(buf, p, size);
	memcpy(&v, p, size < 8 ? size : 8); /* the log keeps the first 8 bytes */
	CHECK(env.nlog < sizeof(env.log) / sizeof(env.log[0]));
	env.log[env.nlog++] = (struct env_access){.write = write, .mmio = mmio, .addr = lin, .size = size, .val = v};
	return 0;
}

static inline int env_read(void *opaque, gva_t lin, void *buf, unsigned int size, struct emu_fault *f)
{
	return env_access(lin, buf, size, false, f);
}

static inline int env_write(void *opaque, gva_t lin, const void *buf, unsigned int size, struct emu_fault *f)
{
	return env_access(lin, (void *)buf, size, true, f);
}

/* A LOCKed read-modify-write's write: compared against what the emulator read, logged as a write. */
static inline int env_cmpxchg(void *opaque, gva_t lin, const void *old, const void *new, unsigned int size,
			      struct emu_fault *f)
{
	u8 cur[32];
	int r;

	CHECK(opaque == &env);
	CHECK(size == 1 || size == 2 || size == 4 || size == 8 || size == 16);
	r = env_access(lin, cur, size, false, f);
	if (r)
		return r;
	env.nlog--; /* the compare is not an access of its own */
	if (env.changed || memcmp(cur, old, size))
		return -EAGAIN;
	r = env_access(lin, (void *)new, size, true, f);
	if (!r)
		env.log[env.nlog - 1].atomic = true;
	return r;
}

static inline int env_get_vreg(void *opaque, unsigned int reg, void *buf, unsigned int size)
{
	CHECK(opaque == &env);
	CHECK(reg < 16 && (size == 16 || size == 32));
	env.nvreg++;
	memcpy(buf, env.ymm[reg], size);
	return 0;
}

static inline int env_set_vreg(void *opaque, unsigned int reg, const void *buf, unsigned int size)
{
	CHECK(opaque == &env);
	CHECK(reg < 16 && (size == 16 || size == 32));
	env.nvreg++;
	memcpy(env.ymm[reg], buf, size);
	return 0;
}

/* Vector registers on, with CR0/CR4/XCR0 of an OS that enabled SSE and AVX. */
static inline void env_vectors(void)
{
	env.ops.get_vreg = env_get_vreg;
	env.ops.set_vreg = env_set_vreg;
	env.ctxt.cr0 = 0x80050033ULL & ~BIT(3);	   /* PE MP ET NE WP AM PG, TS clear */
	env.ctxt.cr4 = BIT(9) | BIT(10) | BIT(18); /* OSFXSR OSXMMEXCPT OSXSAVE */
	env.ctxt.xcr0 = 7;
}

/* A fresh guest in `mode` with the code at the start of the code page (through CS base in 16-bit modes). */
static inline struct emu_ctxt *env_reset(enum emu_mode mode, const u8 *code, unsigned int len)
{
	memset(&env, 0, sizeof(env));
	if (len)
		memcpy(env.code, code, len);
	env.ops = (struct emu_ops){.fetch = env_fetch, .read = env_read, .write = env_write, .cmpxchg = env_cmpxchg};
	env.ctxt.regs = env.regs;
	env.ctxt.mode = mode;
	env.ctxt.rflags = 0x2;
	env.ctxt.ops = &env.ops;
	env.ctxt.opaque = &env;
	if (mode == EMU_MODE_REAL || mode == EMU_MODE_PROT16)
		env.ctxt.seg_base[EMU_SEG_CS] = ENV_CODE;
	else
		env.ctxt.rip = ENV_CODE;
	return &env.ctxt;
}

#define ENV(mode, ...)                                                                                                 \
	({                                                                                                             \
		static const u8 __code[] = {__VA_ARGS__};                                                              \
		env_reset(mode, __code, sizeof(__code));                                                               \
	})

static inline u64 env_ram64(u64 lin)
{
	u64 v;
	memcpy(&v, env.ram + (lin - ENV_RAM), 8);
	return v;
}

static inline void env_set_ram64(u64 lin, u64 v)
{
	memcpy(env.ram + (lin - ENV_RAM), &v, 8);
}

static inline u64 env_mmio64(u64 lin)
{
	u64 v;
	memcpy(&v, env.mmio + (lin - ENV_MMIO), 8);
	return v;
}

static inline void env_set_mmio64(u64 lin, u64 v)
{
	memcpy(env.mmio + (lin - ENV_MMIO), &v, 8);
}

/* One emu_run; the 15-byte fetch budget the callback checks is per instruction. */
static inline enum emu_result env_run(void)
{
	env.fetched = 0;
	return emu_run(&env.ctxt);
}

/* The modes the tests run in, by their short names. */
#define M64 EMU_MODE_64
#define M32 EMU_MODE_PROT32
#define M16 EMU_MODE_REAL

/* The i-th logged device access was this one. */
static inline void check_access(unsigned int i, bool write, u64 addr, unsigned int size, u64 val)
{
	CHECK(i < env.nlog);
	CHECK_EQ(env.log[i].write, write);
	CHECK_EQ(env.log[i].addr, addr);
	CHECK_EQ(env.log[i].size, size);
	CHECK_EQ(env.log[i].val, val);
}

#endif
