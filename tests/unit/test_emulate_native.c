/* The emulator against the host CPU (native_oracle.h): every integer instruction it executes with register operands,
 * generated over all operand sizes, ModRM registers and prefixes, run with edge and pseudo-random register values
 * and flags, natively and through emu_run; results, defined flags, exceptions (#DE, #UD) and lengths must agree.
 * Then the memory forms, with the native run pointed at a host buffer and the emulator at the fake guest's RAM,
 * whose bytes must agree too. */
#define _GNU_SOURCE
#include "native_oracle.h"
#include "test_emulate_env.h"

static u64 rng_state = 0x2545f4914f6cdd1dULL;
static u64 rng(void)
{
	u64 z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Operand values: edges of every width, small counts, and random ones. */
static u64 value(void)
{
	static const u64 edges[] = {0,
				    1,
				    2,
				    7,
				    8,
				    9,
				    15,
				    16,
				    17,
				    31,
				    32,
				    33,
				    63,
				    64,
				    65,
				    0x7f,
				    0x80,
				    0xff,
				    0x7fff,
				    0x8000,
				    0xffff,
				    0x7fffffff,
				    0x80000000,
				    0xffffffff,
				    0x100000000,
				    0x7fffffffffffffff,
				    0x8000000000000000,
				    0xffffffffffffffff,
				    0xffffffffffffff80};
	u64 r = rng();

	switch (r & 3) {
	case 0:
		return edges[(r >> 8) % ARRAY_SIZE(edges)];
	case 1:
		return (r >> 8) & 0xff; /* small: counts, bit numbers, small divisors */
	default:
		return rng();
	}
}

static const u64 stack_outside = 0x7f0000000000ULL; /* an RSP nowhere near the stepper's alternate stack */

static void random_state(u64 regs[16], u64 *rflags, u8 xmm[16][16])
{
	for (unsigned int i = 0; i < 16; i++)
		regs[i] = value();
	if (regs[EMU_RSP] < 0x100000000ULL)
		regs[EMU_RSP] |= stack_outside;
	/* Canonical, so that the host can run it (native_step.h: AMD's IRET to user mode faults on any other). */
	regs[EMU_RSP] = (u64)((s64)(regs[EMU_RSP] << 16) >> 16);
	*rflags = 0x2 | (rng() & (EMU_FL_CF | EMU_FL_PF | EMU_FL_AF | EMU_FL_ZF | EMU_FL_SF | EMU_FL_OF));
	for (unsigned int i = 0; i < 16; i++)
		for (unsigned int j = 0; j < 16; j++)
			xmm[i][j] = (u8)rng();
}

static unsigned int compared, skipped;

/* One instruction with one state, through the emulator and natively. */
static void check_one(const u8 *code, unsigned int len, const u64 regs[16], u64 rflags, u8 xmm[16][16], int line)
{
	struct emu_ctxt *c = env_reset(EMU_MODE_64, code, len);
	struct oracle_case oc = {.code = code, .len = len, .rflags = rflags};
	u8 after_xmm[16][16];
	char buf[200], bytes[64];
	const char *msg;

	env_vectors();
	memcpy(env.regs, regs, sizeof(env.regs));
	c->rflags = rflags;
	for (unsigned int i = 0; i < 16; i++) {
		memcpy(env.ymm[i], xmm[i], 16);
		memset(env.ymm[i] + 16, 0, 16);
	}
	oc.res = env_run();
	if (!oracle_covers(&c->insn) || (oc.res != EMU_OK && oc.res != EMU_EXCEPTION)) {
		skipped++;
		return;
	}
	for (unsigned int i = 0; i < 16; i++)
		memcpy(after_xmm[i], env.ymm[i], 16);
	memcpy(oc.regs, regs, sizeof(oc.regs));
	memcpy(oc.xmm, xmm, sizeof(oc.xmm));
	oc.insn = &c->insn;
	oc.vector = c->exc.vector;
	oc.emu_regs = env.regs;
	oc.emu_rflags = c->rflags;
	oc.emu_len = c->rip - ENV_CODE;
	oc.emu_xmm = (const u8(*)[16])after_xmm;
	msg = oracle_compare(&oc, buf, sizeof(buf));
	compared++;
	if (msg) {
		emu_format_bytes(&c->insn, bytes, sizeof(bytes));
		test_fail(__FILE__, line, "%s: %s (rax %llx rcx %llx rdx %llx rbx %llx rsp %llx, rflags %llx)", bytes,
			  msg, (unsigned long long)regs[0], (unsigned long long)regs[1], (unsigned long long)regs[2],
			  (unsigned long long)regs[3], (unsigned long long)regs[4], (unsigned long long)rflags);
	}
}

static void check_states(const u8 *code, unsigned int len, unsigned int nstates, int line)
{
	u64 regs[16], rflags;
	u8 xmm[16][16];

	for (unsigned int s = 0; s < nstates; s++) {
		random_state(regs, &rflags, xmm);
		check_one(code, len, regs, rflags, xmm, line);
	}
}

/* The opcodes to generate: map, opcode, an immediate of imm bytes (4 meaning the operand-size one), whether the
 * ModRM byte follows. */
struct gen_op {
	u8 map, op, imm;
	bool modrm;
};

/* clang-format off */
static const struct gen_op gen_ops[] = {
	/* ALU rows, 80-85, TEST, MOV, MOVSXD, IMUL imm, XCHG */
	{0, 0x00, 0, 1}, {0, 0x01, 0, 1}, {0, 0x02, 0, 1}, {0, 0x03, 0, 1}, {0, 0x04, 1, 0}, {0, 0x05, 4, 0},
	{0, 0x11, 0, 1}, {0, 0x19, 0, 1}, {0, 0x21, 0, 1}, {0, 0x29, 0, 1}, {0, 0x31, 0, 1}, {0, 0x39, 0, 1},
	{0, 0x80, 1, 1}, {0, 0x81, 4, 1}, {0, 0x83, 1, 1}, {0, 0x84, 0, 1}, {0, 0x85, 0, 1}, {0, 0x86, 0, 1},
	{0, 0x87, 0, 1}, {0, 0x88, 0, 1}, {0, 0x8b, 0, 1}, {0, 0x63, 0, 1}, {0, 0x69, 4, 1}, {0, 0x6b, 1, 1},
	{0, 0xa8, 1, 0}, {0, 0xa9, 4, 0}, {0, 0xc6, 1, 1}, {0, 0xc7, 4, 1},
	/* shifts and rotates */
	{0, 0xc0, 1, 1}, {0, 0xc1, 1, 1}, {0, 0xd0, 0, 1}, {0, 0xd1, 0, 1}, {0, 0xd2, 0, 1}, {0, 0xd3, 0, 1},
	/* group 3 (TEST NOT NEG MUL IMUL DIV IDIV), INC/DEC */
	{0, 0xf6, 0, 1}, {0, 0xf7, 0, 1}, {0, 0xfe, 0, 1}, {0, 0xff, 0, 1},
	/* 0F: CMOVcc, SETcc, BT*, SHLD/SHRD, IMUL, CMPXCHG, MOVZX/SX, POPCNT, BSF/BSR, XADD, CMPXCHG8B */
	{1, 0x40, 0, 1}, {1, 0x43, 0, 1}, {1, 0x45, 0, 1}, {1, 0x47, 0, 1}, {1, 0x4a, 0, 1}, {1, 0x4c, 0, 1},
	{1, 0x4f, 0, 1}, {1, 0x90, 0, 1}, {1, 0x92, 0, 1}, {1, 0x95, 0, 1}, {1, 0x96, 0, 1}, {1, 0x9b, 0, 1},
	{1, 0x9c, 0, 1}, {1, 0x9e, 0, 1}, {1, 0xa3, 0, 1}, {1, 0xab, 0, 1}, {1, 0xb3, 0, 1}, {1, 0xbb, 0, 1},
	{1, 0xba, 1, 1}, {1, 0xa4, 1, 1}, {1, 0xa5, 0, 1}, {1, 0xac, 1, 1}, {1, 0xad, 0, 1}, {1, 0xaf, 0, 1},
	{1, 0xb0, 0, 1}, {1, 0xb1, 0, 1}, {1, 0xb6, 0, 1}, {1, 0xb7, 0, 1}, {1, 0xbe, 0, 1}, {1, 0xbf, 0, 1},
	{1, 0xb8, 0, 1}, {1, 0xbc, 0, 1}, {1, 0xbd, 0, 1}, {1, 0xc0, 0, 1}, {1, 0xc1, 0, 1}, {1, 0xc7, 0, 1},
	/* SSE moves between registers and to/from GPRs */
	{1, 0x10, 0, 1}, {1, 0x11, 0, 1}, {1, 0x28, 0, 1}, {1, 0x29, 0, 1}, {1, 0x6e, 0, 1}, {1, 0x6f, 0, 1},
	{1, 0x7e, 0, 1}, {1, 0x7f, 0, 1}, {1, 0xd6, 0, 1},
	/* 0F 38: MOVBE (register form: #UD), ADCX/ADOX */
	{2, 0xf0, 0, 1}, {2, 0xf1, 0, 1}, {2, 0xf6, 0, 1},
};
/* clang-format on */

/* A random register-form encoding of op: legacy prefixes (66, F2, F3, segment, LOCK now and then), a REX, the
 * opcode, ModRM with mod 11. */
static unsigned int gen_insn(const struct gen_op *g, u8 *b)
{
	static const u8 legacy[] = {0x66, 0xf3, 0xf2, 0x2e, 0x64, 0x66, 0x66, 0xf3};
	unsigned int n = 0, imm = g->imm;
	u64 r = rng();

	for (unsigned int i = 0; i < (r & 3) && (r & 3) != 3; i++)
		b[n++] = legacy[(r >> (4 + 3 * i)) % ARRAY_SIZE(legacy)];
	if ((r >> 20) % 64 == 0)
		b[n++] = 0xf0; /* LOCK: #UD on a register form */
	if ((r >> 26) & 1)
		b[n++] = 0x40 | ((r >> 27) & 15);
	if (g->map)
		b[n++] = 0x0f;
	if (g->map == 2)
		b[n++] = 0x38;
	b[n++] = g->op;
	if (g->modrm)
		b[n++] = 0xc0 | ((r >> 32) & 0x3f);
	if (imm == 4) {
		bool w16 = false;
		for (unsigned int i = 0; i < n; i++)
			w16 |= b[i] == 0x66;
		imm = w16 && !(b[n - 2 - !!g->map] & 8) ? 2 : 4; /* close enough: a wrong guess fails to decode alike */
	}
	for (unsigned int i = 0; i < imm; i++)
		b[n++] = (u8)(rng() >> (8 * i));
	return n;
}

TEST(native_register_forms_random)
{
	for (unsigned int round = 0; round < 40; round++) {
		for (size_t i = 0; i < ARRAY_SIZE(gen_ops); i++) {
			u8 b[EMU_MAX_INSN_LEN + 8];
			unsigned int n = gen_insn(&gen_ops[i], b);
			if (n > EMU_MAX_INSN_LEN)
				continue;
			check_states(b, n, 6, __LINE__);
		}
	}
	printf("native_register_forms_random: %u compared, %u skipped\n", compared, skipped);
	CHECK(compared > 10000);
}

/* Every shift and rotate at every size with every CL from 0 to 70 and both carries in. */
TEST(native_shift_counts)
{
	static const u8 pre[4][2] = {{0}, {0x66}, {0}, {0x48}};
	static const u8 vals[] = {0x01, 0x80, 0x5a, 0xff};

	for (unsigned int size = 0; size < 4; size++)
		for (unsigned int ext = 0; ext < 8; ext++)
			for (unsigned int cnt = 0; cnt <= 70; cnt++)
				for (unsigned int v = 0; v < ARRAY_SIZE(vals); v++) {
					u8 b[4];
					unsigned int n = 0;
					u64 regs[16] = {0},
					    rflags = 0x2 | (cnt & 1 ? EMU_FL_CF : 0) | (v & 1 ? EMU_FL_OF : 0);
					u8 xmm[16][16] = {{0}};
					if (pre[size][0])
						b[n++] = pre[size][0];
					b[n++] = size == 0 ? 0xd2 : 0xd3;
					b[n++] = 0xc0 | ext << 3 | 3; /* op ebx, cl */
					regs[EMU_RBX] = vals[v] * 0x0101010101010101ULL ^ (u64)cnt << 7;
					regs[EMU_RCX] = cnt | 0x100;
					regs[EMU_RSP] = stack_outside;
					check_one(b, n, regs, rflags, xmm, __LINE__);
				}
}

/* SHLD/SHRD with every count, and 16-bit counts past 16 (undefined, only the flags' defined part compared). */
TEST(native_double_shift_counts)
{
	static const u8 pre[3] = {0x66, 0, 0x48};

	for (unsigned int s = 0; s < 3; s++)
		for (unsigned int op = 0; op < 2; op++)
			for (unsigned int cnt = 0; cnt <= 70; cnt++) {
				u8 b[4] = {pre[s], 0x0f, op ? 0xad : 0xa5, 0xd3}; /* shld/shrd ebx, edx, cl */
				u64 regs[16] = {0}, rflags = 0x2 | (cnt & 3 ? EMU_FL_CF : 0);
				u8 xmm[16][16] = {{0}};
				regs[EMU_RBX] = 0x8123456789abcdefULL ^ cnt;
				regs[EMU_RDX] = 0xfedcba9876543210ULL;
				regs[EMU_RCX] = cnt;
				regs[EMU_RSP] = stack_outside;
				check_one(pre[s] ? b : b + 1, pre[s] ? 4 : 3, regs, rflags, xmm, __LINE__);
			}
}

/* MUL, IMUL, DIV, IDIV at every size over edge operands: #DE for zero and overflow (IDIV's -2^(n-1) / -1). */
TEST(native_muldiv_edges)
{
	static const u8 pre[4][2] = {{0}, {0x66}, {0}, {0x48}};
	static const u64 e[] = {0,
				1,
				2,
				3,
				0x7f,
				0x80,
				0xff,
				0x7fff,
				0x8000,
				0xffff,
				0x7fffffff,
				0x80000000,
				0xffffffff,
				0x7fffffffffffffff,
				0x8000000000000000,
				0xffffffffffffffff,
				0x123456789};

	for (unsigned int size = 0; size < 4; size++)
		for (unsigned int ext = 4; ext < 8; ext++)
			for (size_t a = 0; a < ARRAY_SIZE(e); a++)
				for (size_t d = 0; d < ARRAY_SIZE(e); d++)
					for (size_t s = 0; s < ARRAY_SIZE(e); s += 3) {
						u8 b[3];
						unsigned int n = 0;
						u64 regs[16] = {0};
						u8 xmm[16][16] = {{0}};
						if (pre[size][0])
							b[n++] = pre[size][0];
						b[n++] = size == 0 ? 0xf6 : 0xf7;
						b[n++] = 0xc0 | ext << 3 | 3; /* op ebx */
						regs[EMU_RAX] = e[a];
						regs[EMU_RDX] = e[d];
						regs[EMU_RBX] = e[s];
						regs[EMU_RSP] = stack_outside;
						check_one(b, n, regs, 0x2, xmm, __LINE__);
					}
	/* IDIV's one overflow case at each size. */
	static const struct {
		u8 b[3];
		unsigned int n;
		u64 rax, rdx;
	} ov[] = {
	    {{0xf6, 0xfb}, 2, 0x8000, 0},
	    {{0x66, 0xf7, 0xfb}, 3, 0x0000, 0x8000},
	    {{0xf7, 0xfb}, 2, 0, 0x80000000},
	    {{0x48, 0xf7, 0xfb}, 3, 0, 0x8000000000000000},
	    {{0x48, 0xf7, 0xfb}, 3, 0x8000000000000000, ~0ULL}, /* -2^63 / -1 */
	};
	for (size_t i = 0; i < ARRAY_SIZE(ov); i++) {
		u64 regs[16] = {0};
		u8 xmm[16][16] = {{0}};
		regs[EMU_RAX] = ov[i].rax;
		regs[EMU_RDX] = ov[i].rdx;
		regs[EMU_RBX] = ~0ULL;
		regs[EMU_RSP] = stack_outside;
		check_one(ov[i].b, ov[i].n, regs, 0x2, xmm, __LINE__);
		CHECK_EQ(env.ctxt.exc.vector, EMU_VEC_DE);
	}
}

/* The BMI1/BMI2 instructions (VEX on GPRs), each with random registers. */
TEST(native_bmi)
{
	/* clang-format off */
	static const u8 enc[][6] = {
		{0xc4, 0xe2, 0x78, 0xf2, 0xc3},		/* andn eax, eax, ebx */
		{0xc4, 0xe2, 0xf0, 0xf2, 0xc3},		/* andn rax, rcx, rbx */
		{0xc4, 0xe2, 0x70, 0xf3, 0xcb},		/* blsr ecx, ebx */
		{0xc4, 0xe2, 0xf0, 0xf3, 0xd3},		/* blsmsk rcx, rbx */
		{0xc4, 0xe2, 0x70, 0xf3, 0xdb},		/* blsi ecx, ebx */
		{0xc4, 0xe2, 0x70, 0xf5, 0xc3},		/* bzhi eax, ebx, ecx */
		{0xc4, 0xe2, 0xf0, 0xf5, 0xc3},		/* bzhi rax, rbx, rcx */
		{0xc4, 0xe2, 0x72, 0xf5, 0xc3},		/* pext eax, ecx, ebx */
		{0xc4, 0xe2, 0xf3, 0xf5, 0xc3},		/* pdep rax, rcx, rbx */
		{0xc4, 0xe2, 0x73, 0xf6, 0xc3},		/* mulx eax, ecx, ebx */
		{0xc4, 0xe2, 0xf3, 0xf6, 0xc3},		/* mulx rax, rcx, rbx */
		{0xc4, 0xe2, 0xfb, 0xf6, 0xc3},		/* mulx rax, rax, rbx: the high half wins */
		{0xc4, 0xe2, 0x70, 0xf7, 0xc3},		/* bextr eax, ebx, ecx */
		{0xc4, 0xe2, 0xf0, 0xf7, 0xc3},		/* bextr rax, rbx, rcx */
		{0xc4, 0xe2, 0x71, 0xf7, 0xc3},		/* shlx eax, ebx, ecx */
		{0xc4, 0xe2, 0xf2, 0xf7, 0xc3},		/* sarx rax, rbx, rcx */
		{0xc4, 0xe2, 0x73, 0xf7, 0xc3},		/* shrx eax, ebx, ecx */
		{0xc4, 0xe3, 0x7b, 0xf0, 0xc3, 0x05},	/* rorx eax, ebx, 5 */
		{0xc4, 0xe3, 0xfb, 0xf0, 0xc3, 0x45},	/* rorx rax, rbx, 69 */
		{0xc4, 0xe2, 0x7c, 0xf2, 0xc3},		/* andn with VEX.L=1: #UD */
	};
	/* clang-format on */
	for (size_t i = 0; i < ARRAY_SIZE(enc); i++)
		check_states(enc[i], enc[i][1] == 0xe3 ? 6 : 5, 300, __LINE__);
}

/* Memory forms: the native run gets [rbx] pointing at a host buffer, the emulator at the fake guest's RAM, with the
 * same bytes in both; registers (RBX aside), flags and the buffer must agree afterwards. */
static u8 host_mem[64] __attribute__((aligned(64)));

static void check_mem(const u8 *code, unsigned int len, unsigned int states, int line)
{
	for (unsigned int s = 0; s < states; s++) {
		struct native_state st;
		u64 regs[16], rflags, mask;
		u8 xmm[16][16], init[64];
		bool dest_undef;
		char bytes[64];
		int sig;

		random_state(regs, &rflags, xmm);
		for (unsigned int i = 0; i < sizeof(init); i++)
			init[i] = (u8)value();
		struct emu_ctxt *c = env_reset(EMU_MODE_64, code, len);
		env_vectors();
		memcpy(env.regs, regs, sizeof(regs));
		env.regs[EMU_RBX] = ENV_RAM + 16;
		c->rflags = rflags;
		memcpy(env.ram, init, sizeof(init));
		for (unsigned int i = 0; i < 16; i++)
			memcpy(env.ymm[i], xmm[i], 16);
		enum emu_result res = env_run();

		memset(&st, 0, sizeof(st));
		memcpy(st.regs, regs, sizeof(regs));
		st.regs[EMU_RBX] = (u64)(uintptr_t)(host_mem + 16);
		st.rflags = rflags;
		memcpy(st.xmm, xmm, sizeof(xmm));
		memcpy(host_mem, init, sizeof(init));
		sig = native_step(code, len, &st);
		emu_format_bytes(&c->insn, bytes, sizeof(bytes));
		if (sig < 0)
			continue;
		if (res == EMU_EXCEPTION) {
			int want = c->exc.vector == EMU_VEC_DE	 ? SIGFPE
				   : c->exc.vector == EMU_VEC_GP ? SIGSEGV
								 : SIGILL;
			if (sig != want)
				test_fail(__FILE__, line, "%s: emulator vector %u, CPU signal %d", bytes, c->exc.vector,
					  sig);
			continue;
		}
		if (res != EMU_OK || sig != NATIVE_STEPPED)
			test_fail(__FILE__, line, "%s: emulator %s, CPU signal %d", bytes, emu_result_name(res), sig);
		mask = oracle_defined_flags(&c->insn, regs, rflags, &dest_undef);
		if ((st.rflags ^ c->rflags) & mask)
			test_fail(__FILE__, line, "%s: rflags %llx, CPU %llx", bytes, (unsigned long long)c->rflags,
				  (unsigned long long)st.rflags);
		if (c->rip - ENV_CODE != st.rip)
			test_fail(__FILE__, line, "%s: length differs", bytes);
		for (unsigned int i = 0; i < 16; i++) {
			if (i == EMU_RBX || (dest_undef && i == (c->insn.reg & 15)))
				continue;
			if (env.regs[i] != st.regs[i])
				test_fail(__FILE__, line, "%s: register %u %llx, CPU %llx", bytes, i,
					  (unsigned long long)env.regs[i], (unsigned long long)st.regs[i]);
		}
		if (!dest_undef && memcmp(env.ram, host_mem, sizeof(host_mem)))
			test_fail(__FILE__, line, "%s: memory differs", bytes);
		for (unsigned int i = 0; i < 16; i++)
			if (memcmp(env.ymm[i], st.xmm[i], 16))
				test_fail(__FILE__, line, "%s: xmm%u differs", bytes, i);
		compared++;
	}
}

TEST(native_memory_forms)
{
	/* clang-format off */
	static const struct {
		u8 n, b[8];
	} enc[] = {
		{2, {0xd3, 0x23}},		/* shl dword [rbx], cl */
		{3, {0x48, 0xd3, 0x3b}},	/* sar qword [rbx], cl */
		{3, {0x66, 0xd1, 0x13}},	/* rcl word [rbx], 1 */
		{3, {0xc0, 0x1b, 0x05}},	/* rcr byte [rbx], 5 */
		{3, {0xc1, 0x0b, 0x21}},	/* ror dword [rbx], 33 */
		{4, {0x0f, 0xa5, 0x13}},	/* shld [rbx], edx, cl */
		{5, {0x48, 0x0f, 0xac, 0x13, 0x07}}, /* shrd [rbx], rdx, 7 */
		{2, {0xf7, 0x23}},		/* mul dword [rbx] */
		{3, {0x48, 0xf7, 0x2b}},	/* imul qword [rbx] */
		{2, {0xf6, 0x33}},		/* div byte [rbx] */
		{3, {0x48, 0xf7, 0x3b}},	/* idiv qword [rbx] */
		{3, {0x0f, 0xaf, 0x03}},	/* imul eax, [rbx] */
		{3, {0x6b, 0x03, 0x81}},	/* imul eax, [rbx], -127 */
		{3, {0x0f, 0x44, 0x03}},	/* cmove eax, [rbx] */
		{4, {0x48, 0x0f, 0x4c, 0x03}},	/* cmovl rax, [rbx] */
		{3, {0x0f, 0x97, 0x03}},	/* seta [rbx] */
		{4, {0x0f, 0x38, 0xf0, 0x03}},	/* movbe eax, [rbx] */
		{5, {0x66, 0x0f, 0x38, 0xf1, 0x03}}, /* movbe [rbx], ax */
		{5, {0x48, 0x0f, 0x38, 0xf1, 0x03}}, /* movbe [rbx], rax */
		{3, {0x0f, 0xc7, 0x0b}},	/* cmpxchg8b [rbx] */
		{4, {0xf0, 0x0f, 0xc7, 0x0b}},	/* lock cmpxchg8b [rbx] */
		{4, {0x48, 0x0f, 0xc7, 0x0b}},	/* cmpxchg16b [rbx] (aligned) */
		{5, {0x48, 0x0f, 0xc7, 0x4b, 0x08}}, /* cmpxchg16b [rbx+8]: #GP */
		{4, {0xf3, 0x0f, 0xbc, 0x03}},	/* tzcnt eax, [rbx] */
		{4, {0xf3, 0x0f, 0xb8, 0x03}},	/* popcnt eax, [rbx] */
		{3, {0x0f, 0xbd, 0x03}},	/* bsr eax, [rbx] */
		{3, {0x0f, 0xa3, 0x03}},	/* bt [rbx], eax: only small offsets stay in the buffer */
		{5, {0x66, 0x0f, 0x38, 0xf6, 0x03}}, /* adcx eax, [rbx] */
		{5, {0xf3, 0x0f, 0x38, 0xf6, 0x03}}, /* adox eax, [rbx] */
		{5, {0xc4, 0xe2, 0x70, 0xf2, 0x03}}, /* andn eax, ecx, [rbx] */
		{4, {0x66, 0x0f, 0x6f, 0x03}},	/* movdqa xmm0, [rbx] */
		{4, {0xf3, 0x0f, 0x7f, 0x0b}},	/* movdqu [rbx], xmm1 */
		{5, {0x66, 0x0f, 0x7f, 0x53, 0x04}}, /* movdqa [rbx+4], xmm2: #GP */
		{3, {0x0f, 0x29, 0x1b}},	/* movaps [rbx], xmm3 */
		{4, {0x66, 0x0f, 0x6e, 0x23}},	/* movd xmm4, [rbx] */
		{5, {0x66, 0x48, 0x0f, 0x7e, 0x2b}}, /* movq [rbx], xmm5 */
		{4, {0xf3, 0x0f, 0x7e, 0x33}},	/* movq xmm6, [rbx] */
		{4, {0x66, 0x0f, 0xd6, 0x3b}},	/* movq [rbx], xmm7 */
		{4, {0xf3, 0x0f, 0x10, 0x03}},	/* movss xmm0, [rbx] */
		{4, {0xf2, 0x0f, 0x11, 0x0b}},	/* movsd [rbx], xmm1 */
		{4, {0x66, 0x0f, 0xe7, 0x13}},	/* movntdq [rbx], xmm2 */
		{5, {0x66, 0x0f, 0x38, 0x2a, 0x1b}}, /* movntdqa xmm3, [rbx] */
		{4, {0xc5, 0xfa, 0x6f, 0x03}},	/* vmovdqu xmm0, [rbx] (the upper YMM half is not compared) */
		{4, {0xc5, 0xf9, 0x7f, 0x0b}},	/* vmovdqa [rbx], xmm1 */
		{3, {0x0f, 0xc3, 0x03}},	/* movnti [rbx], eax */
		{1, {0xd7}},			/* xlat: [rbx + al], al masked below */
	};
	/* clang-format on */
	for (size_t i = 0; i < ARRAY_SIZE(enc); i++) {
		if (enc[i].b[0] == 0x0f && enc[i].b[1] == 0xa3)
			continue; /* BT's register offset may leave the buffer: it has its own test */
		if (enc[i].b[0] == 0xd7)
			continue; /* XLAT with a random AL reads outside the buffer: test_emulate covers it */
		check_mem(enc[i].b, enc[i].n, 200, __LINE__);
	}
}
