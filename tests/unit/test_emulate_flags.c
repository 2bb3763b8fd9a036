/* Flags and results of the emulator's arithmetic checked against the host CPU: every ALU operation at every operand
 * size runs natively (inline asm, flags in through POPF and out through PUSHF) and through emu_alu over edge and
 * pseudo-random operands; then whole instructions (ALU on memory, BT*, CMPXCHG, XADD) run through emu_run and
 * natively on memory. Flags the SDM leaves undefined are masked out of the comparison. */
#include "test_emulate_env.h"

/* The asm moves rsp below the red zone before pushing: the compiler may keep locals there. */
#define NATIVE_BIN(name, mnem, T, C)                                                                                   \
	static u64 name(u64 a, u64 b, u64 *fl)                                                                         \
	{                                                                                                              \
		T x = (T)a, y = (T)b;                                                                                  \
		u64 f = *fl;                                                                                           \
		asm volatile("add $-128, %%rsp\n\tpush %[f]\n\tpopf\n\t" mnem " %[y], %[x]\n\t"                        \
			     "pushf\n\tpop %[f]\n\tsub $-128, %%rsp"                                                   \
			     : [x] "+" C(x), [f] "+r"(f)                                                               \
			     : [y] C(y)                                                                                \
			     : "cc", "memory");                                                                        \
		*fl = f;                                                                                               \
		return (u64)x;                                                                                         \
	}

#define NATIVE_UN(name, mnem, T, C)                                                                                    \
	static u64 name(u64 a, u64 b, u64 *fl)                                                                         \
	{                                                                                                              \
		T x = (T)a;                                                                                            \
		u64 f = *fl;                                                                                           \
		(void)b;                                                                                               \
		asm volatile("add $-128, %%rsp\n\tpush %[f]\n\tpopf\n\t" mnem " %[x]\n\t"                              \
			     "pushf\n\tpop %[f]\n\tsub $-128, %%rsp"                                                   \
			     : [x] "+" C(x), [f] "+r"(f)                                                               \
			     :                                                                                         \
			     : "cc", "memory");                                                                        \
		*fl = f;                                                                                               \
		return (u64)x;                                                                                         \
	}

#define NATIVE_SIZES(kind, op)                                                                                         \
	kind(native_##op##8, #op "b", u8, "q") kind(native_##op##16, #op "w", u16, "r")                                \
	    kind(native_##op##32, #op "l", u32, "r") kind(native_##op##64, #op "q", u64, "r")

NATIVE_SIZES(NATIVE_BIN, add)
NATIVE_SIZES(NATIVE_BIN, or)
NATIVE_SIZES(NATIVE_BIN, adc)
NATIVE_SIZES(NATIVE_BIN, sbb)
NATIVE_SIZES(NATIVE_BIN, and)
NATIVE_SIZES(NATIVE_BIN, sub)
NATIVE_SIZES(NATIVE_BIN, xor)
NATIVE_SIZES(NATIVE_BIN, cmp)
NATIVE_SIZES(NATIVE_BIN, test)
NATIVE_SIZES(NATIVE_UN, inc)
NATIVE_SIZES(NATIVE_UN, dec)
NATIVE_SIZES(NATIVE_UN, neg)
NATIVE_SIZES(NATIVE_UN, not )

typedef u64 (*native_fn)(u64, u64, u64 *);

/* clang-format off */
#define ROW(op, name) { op, { native_##name##8, native_##name##16, native_##name##32, native_##name##64 } }
static const struct {
	enum emu_alu_op op;
	native_fn fn[4];
} ops[] = {
	ROW(EMU_ALU_ADD, add), ROW(EMU_ALU_OR, or),   ROW(EMU_ALU_ADC, adc),   ROW(EMU_ALU_SBB, sbb),
	ROW(EMU_ALU_AND, and), ROW(EMU_ALU_SUB, sub), ROW(EMU_ALU_XOR, xor),   ROW(EMU_ALU_CMP, cmp),
	ROW(EMU_ALU_TEST, test), ROW(EMU_ALU_INC, inc), ROW(EMU_ALU_DEC, dec), ROW(EMU_ALU_NEG, neg),
	ROW(EMU_ALU_NOT, not ),
};
/* clang-format on */

static const unsigned int sizes[4] = {1, 2, 4, 8};

/* AF after AND, OR, XOR and TEST is undefined. */
static u64 defined_flags(enum emu_alu_op op)
{
	if (op == EMU_ALU_AND || op == EMU_ALU_OR || op == EMU_ALU_XOR || op == EMU_ALU_TEST)
		return EMU_FL_ARITH & ~EMU_FL_AF;
	return EMU_FL_ARITH;
}

static u64 rng_state = 0x9e3779b97f4a7c15;
static u64 rng(void)
{
	u64 z = (rng_state += 0x9e3779b97f4a7c15);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
	return z ^ (z >> 31);
}

static u64 values[48];
static unsigned int nvalues;

static void make_values(void)
{
	static const u64 edges[] = {
	    0,
	    1,
	    2,
	    0xf,
	    0x10,
	    0x7f,
	    0x80,
	    0x81,
	    0xfe,
	    0xff,
	    0x100,
	    0x7fff,
	    0x8000,
	    0xffff,
	    0x10000,
	    0x7fffffff,
	    0x80000000,
	    0x80000001,
	    0xffffffff,
	    0x100000000,
	    0x7fffffffffffffff,
	    0x8000000000000000,
	    0xfffffffffffffffe,
	    0xffffffffffffffff,
	};
	nvalues = 0;
	for (size_t i = 0; i < ARRAY_SIZE(edges); i++)
		values[nvalues++] = edges[i];
	while (nvalues < ARRAY_SIZE(values))
		values[nvalues++] = rng();
}

/* emu_alu against the CPU for every operation, size, operand pair and incoming flag state. */
TEST(flags_alu_matches_native)
{
	make_values();
	for (size_t o = 0; o < ARRAY_SIZE(ops); o++) {
		for (unsigned int s = 0; s < 4; s++) {
			for (unsigned int i = 0; i < nvalues; i++) {
				for (unsigned int j = 0; j < nvalues; j++) {
					/* Incoming flags: all clear, all set, and a random mix, so kept flags show. */
					u64 fin[3] = {0x2, 0x2 | EMU_FL_ARITH, 0x2 | (rng() & EMU_FL_ARITH)};
					for (unsigned int k = 0; k < 3; k++) {
						u64 fe = fin[k], fn = fin[k];
						u64 re = emu_alu(ops[o].op, values[i], values[j], sizes[s], &fe);
						u64 rn = ops[o].fn[s](values[i], values[j], &fn);
						u64 mask = defined_flags(ops[o].op);
						if (re != (rn & emu_size_mask(sizes[s])) || (fe & mask) != (fn & mask))
							test_fail(
							    __FILE__, __LINE__,
							    "op %d size %u a=%#llx b=%#llx flags %#llx: "
							    "emu %#llx/%#llx, cpu %#llx/%#llx",
							    ops[o].op, sizes[s], (unsigned long long)values[i],
							    (unsigned long long)values[j], (unsigned long long)fin[k],
							    (unsigned long long)re, (unsigned long long)(fe & mask),
							    (unsigned long long)rn, (unsigned long long)(fn & mask));
						/* Flags outside the arithmetic ones are never touched. */
						CHECK_EQ(fe & ~EMU_FL_ARITH, fin[k] & ~EMU_FL_ARITH);
					}
				}
			}
		}
	}
}

/* `op [rax], rbx` (00-39 rows, all sizes) through emu_run equals the CPU on the same values. */
TEST(flags_alu_instructions_match_native)
{
	make_values();
	for (unsigned int op = 0; op < 8; op++) {
		for (unsigned int s = 0; s < 4; s++) {
			for (unsigned int n = 0; n < 200; n++) {
				u8 code[4], len = 0;
				u64 a = values[rng() % nvalues], b = values[rng() % nvalues];
				u64 fin = 0x2 | (rng() & EMU_FL_ARITH), fn = fin;
				if (sizes[s] == 2)
					code[len++] = 0x66;
				if (sizes[s] == 8)
					code[len++] = 0x48;
				code[len++] = (u8)(op << 3 | (sizes[s] == 1 ? 0 : 1));
				code[len++] = 0x18; /* [rax], rbx */
				struct emu_ctxt *c = env_reset(EMU_MODE_64, code, len);
				env.regs[EMU_RAX] = ENV_RAM;
				env.regs[EMU_RBX] = b;
				env_set_ram64(ENV_RAM, a);
				c->rflags = fin;
				CHECK_EQ(emu_run(c), EMU_OK);
				u64 rn = ops[op].fn[s](a, b, &fn);
				u64 m = emu_size_mask(sizes[s]), mask = defined_flags(op);
				u64 want = op == EMU_ALU_CMP ? a : (a & ~m) | (rn & m);
				CHECK_EQ(env_ram64(ENV_RAM), want);
				CHECK_EQ(c->rflags & mask, fn & mask);
			}
		}
	}
}

/* BT/BTS/BTR/BTC on memory with register offsets reaching both ways, against the CPU on a real buffer. */
TEST(flags_bit_ops_match_native)
{
	static u8 nbuf[64] __aligned(8);

	for (unsigned int kind = 0; kind < 4; kind++) {
		for (unsigned int s = 1; s < 4; s++) {
			for (int off = -120; off <= 120; off += 7) {
				u8 init[64];
				for (unsigned int i = 0; i < 64; i++)
					init[i] = (u8)rng();
				memcpy(nbuf, init, 64);
				u64 fn = 0x2 | (rng() & EMU_FL_ARITH), fin = fn;
				u8 *p = nbuf + 32;
#define BTN(m, T)                                                                                                      \
	asm volatile("add $-128, %%rsp\n\tpush %[f]\n\tpopf\n\t" m " %[o], (%[p])\n\tpushf\n\tpop %[f]\n\t"            \
		     "sub $-128, %%rsp"                                                                                \
		     : [f] "+r"(fn)                                                                                    \
		     : [o] "r"((T)off), [p] "r"(p)                                                                     \
		     : "cc", "memory")
				switch (kind * 4 + s) {
				case 1:
					BTN("btw", u16);
					break;
				case 2:
					BTN("btl", u32);
					break;
				case 3:
					BTN("btq", u64);
					break;
				case 5:
					BTN("btsw", u16);
					break;
				case 6:
					BTN("btsl", u32);
					break;
				case 7:
					BTN("btsq", u64);
					break;
				case 9:
					BTN("btrw", u16);
					break;
				case 10:
					BTN("btrl", u32);
					break;
				case 11:
					BTN("btrq", u64);
					break;
				case 13:
					BTN("btcw", u16);
					break;
				case 14:
					BTN("btcl", u32);
					break;
				case 15:
					BTN("btcq", u64);
					break;
				}
#undef BTN
				u8 code[5], len = 0;
				if (sizes[s] == 2)
					code[len++] = 0x66;
				if (sizes[s] == 8)
					code[len++] = 0x48;
				code[len++] = 0x0f;
				code[len++] = (u8[]){0xa3, 0xab, 0xb3, 0xbb}[kind];
				code[len++] = 0x18; /* [rax], ebx */
				struct emu_ctxt *c = env_reset(EMU_MODE_64, code, len);
				memcpy(env.ram, init, 64);
				env.regs[EMU_RAX] = ENV_RAM + 32;
				env.regs[EMU_RBX] = (u64)(s64)off & emu_size_mask(sizes[s]);
				c->rflags = fin;
				CHECK_EQ(emu_run(c), EMU_OK);
				CHECK(memcmp(env.ram, nbuf, 64) == 0);
				CHECK_EQ(c->rflags & EMU_FL_CF, fn & EMU_FL_CF);
			}
		}
	}
}

/* CMPXCHG and XADD on memory: values, accumulator and flags as the CPU leaves them. */
TEST(flags_cmpxchg_xadd_match_native)
{
	make_values();
	for (unsigned int n = 0; n < 2000; n++) {
		u64 mem = values[rng() % nvalues], acc = n & 1 ? mem : values[rng() % nvalues];
		u64 src = values[rng() % nvalues], fin = 0x2 | (rng() & EMU_FL_ARITH);
		u64 nmem = mem, nacc = acc, nsrc = src, fn = fin;

		asm volatile("add $-128, %%rsp\n\tpush %[f]\n\tpopf\n\tcmpxchgq %[s], (%[m])\n\tpushf\n\tpop %[f]\n\t"
			     "sub $-128, %%rsp"
			     : [f] "+r"(fn), "+a"(nacc)
			     : [s] "r"(nsrc), [m] "r"(&nmem)
			     : "cc", "memory");
		struct emu_ctxt *c = ENV(EMU_MODE_64, 0x48, 0x0f, 0xb1, 0x0b); /* cmpxchg [rbx], rcx */
		env.regs[EMU_RAX] = acc;
		env.regs[EMU_RBX] = ENV_RAM;
		env.regs[EMU_RCX] = src;
		env_set_ram64(ENV_RAM, mem);
		c->rflags = fin;
		CHECK_EQ(emu_run(c), EMU_OK);
		CHECK_EQ(env_ram64(ENV_RAM), nmem);
		CHECK_EQ(env.regs[EMU_RAX], nacc);
		CHECK_EQ(c->rflags & EMU_FL_ARITH, fn & EMU_FL_ARITH);

		u32 xm = (u32)mem, xs = (u32)src;
		fn = fin;
		asm volatile("add $-128, %%rsp\n\tpush %[f]\n\tpopf\n\txaddl %[s], (%[m])\n\tpushf\n\tpop %[f]\n\t"
			     "sub $-128, %%rsp"
			     : [f] "+r"(fn), [s] "+r"(xs)
			     : [m] "r"(&xm)
			     : "cc", "memory");
		c = ENV(EMU_MODE_64, 0x0f, 0xc1, 0x0b); /* xadd [rbx], ecx */
		env.regs[EMU_RBX] = ENV_RAM;
		env.regs[EMU_RCX] = src;
		env_set_ram64(ENV_RAM, mem);
		c->rflags = fin;
		CHECK_EQ(emu_run(c), EMU_OK);
		CHECK_EQ(env_ram64(ENV_RAM), (mem & ~0xffffffffULL) | xm);
		CHECK_EQ(env.regs[EMU_RCX], xs);
		CHECK_EQ(c->rflags & EMU_FL_ARITH, fn & EMU_FL_ARITH);
	}
}
