/* The MMIO fast path's two halves against the full path: emu_fast_mov against emu_execute on random and chosen MOV
 * forms (prefixes, REX, ModRM, SIB, displacements, immediates; 64-bit, 32-bit and real mode; segment checks), and
 * the decode cache (vm/emulate/dcache.c): its key, and its guard, which must catch any change of a paging entry of
 * the fetch or of an instruction byte, in place and through the callback alike. */
#include "test_emulate_env.h"
#include "vm/emulate/dcache.h"

static u64 rng_state = 0x9e3779b97f4a7c15ULL;

static u64 rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* A random MOV form at the start of the code page: up to three prefixes, a REX in 64-bit mode, the opcode, and
 * ModRM, SIB, displacement and immediate bytes as random as the decoder lets them be. Returns its length. */
static unsigned int random_mov(u8 *p, enum emu_mode mode)
{
	static const u8 prefixes[] = {0x66, 0x67, 0xf2, 0xf3, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0xf0};
	static const u8 ops[] = {0x88, 0x89, 0x8a, 0x8b, 0xa0, 0xa1, 0xa2, 0xa3, 0xc6, 0xc7, 0xb6, 0xb7, 0xbe, 0xbf};
	unsigned int n = 0, np = rnd() % 4;
	u8 op = ops[rnd() % sizeof(ops)];

	for (unsigned int i = 0; i < np; i++) {
		u8 b = prefixes[rnd() % sizeof(prefixes)];
		if (b == 0xf0 && rnd() % 4) /* LOCK is #UD on all of them: now and then */
			b = 0x3e;
		p[n++] = b;
	}
	if (mode == EMU_MODE_64 && rnd() % 2)
		p[n++] = 0x40 | (rnd() & 15);
	if (op >= 0xb6 && op <= 0xbf)
		p[n++] = 0x0f;
	p[n++] = op;
	/* ModRM: a memory form mostly (mod 3 is not the fast path's), reg 0 for C6/C7 now and then something else. */
	u8 modrm = (u8)rnd();
	if (rnd() % 8 == 0)
		modrm |= 0xc0;
	else if ((modrm >> 6) == 3)
		modrm &= 0x7f;
	if ((op == 0xc6 || op == 0xc7) && rnd() % 8)
		modrm &= ~0x38;
	p[n++] = modrm;
	for (unsigned int i = 0; i < 10; i++) /* SIB, displacement, immediate or moffs: whatever the decode takes */
		p[n++] = (u8)rnd();
	return n;
}

/* The state an execution leaves, for comparing two of them. */
struct outcome {
	enum emu_result r;
	u64 regs[EMU_NR_REGS];
	u64 rip, rflags;
	struct emu_fault exc;
	int error;
	u8 mmio[ENV_MMIO_SIZE];
	unsigned int nlog;
	struct env_access log[4];
};

static void take(struct outcome *o, enum emu_result r)
{
	o->r = r;
	memcpy(o->regs, env.regs, sizeof(o->regs));
	o->rip = env.ctxt.rip;
	o->rflags = env.ctxt.rflags;
	o->exc = r == EMU_EXCEPTION ? env.ctxt.exc : (struct emu_fault){0};
	o->error = r == EMU_ERROR ? env.ctxt.error : 0;
	memcpy(o->mmio, env.mmio, sizeof(o->mmio));
	o->nlog = env.nlog;
	memset(o->log, 0, sizeof(o->log));
	memcpy(o->log, env.log, sizeof(o->log[0]) * (env.nlog < 4 ? env.nlog : 4));
}

static void check_same(const struct outcome *a, const struct outcome *b)
{
	CHECK_EQ(a->r, b->r);
	for (unsigned int i = 0; i < EMU_NR_REGS; i++)
		CHECK_EQ(a->regs[i], b->regs[i]);
	CHECK_EQ(a->rip, b->rip);
	CHECK_EQ(a->rflags, b->rflags);
	CHECK_EQ(a->exc.vector, b->exc.vector);
	CHECK_EQ(a->exc.has_error, b->exc.has_error);
	CHECK_EQ(a->exc.error_code, b->exc.error_code);
	CHECK_EQ(a->exc.cr2, b->exc.cr2);
	CHECK_EQ(a->error, b->error);
	CHECK(!memcmp(a->mmio, b->mmio, sizeof(a->mmio)));
	CHECK_EQ(a->nlog, b->nlog);
	for (unsigned int i = 0; i < a->nlog && i < 4; i++) {
		CHECK_EQ(a->log[i].write, b->log[i].write);
		CHECK_EQ(a->log[i].addr, b->log[i].addr);
		CHECK_EQ(a->log[i].size, b->log[i].size);
		CHECK_EQ(a->log[i].val, b->log[i].val);
	}
}

/* Decode what is at the code page, then run it both ways from the same state. Returns whether the fast path took
 * it (and then both agreed), with *ok whether it completed. */
static bool run_both(bool *ok)
{
	static struct outcome full, fast;
	static u64 regs0[EMU_NR_REGS];
	static u8 mmio0[ENV_MMIO_SIZE];
	struct emu_ctxt c0;

	env.fetched = 0;
	env.nlog = 0;
	if (emu_decode(&env.ctxt) != EMU_OK || !emu_insn_is_fast_mov(&env.ctxt.insn)) {
		/* Anything else is not the fast path's: it refuses it and changes nothing. */
		memcpy(regs0, env.regs, sizeof(regs0));
		u64 rip0 = env.ctxt.rip;
		CHECK_EQ(emu_fast_mov(&env.ctxt), EMU_UNHANDLED);
		CHECK(!memcmp(regs0, env.regs, sizeof(regs0)));
		CHECK_EQ(env.ctxt.rip, rip0);
		CHECK_EQ(env.nlog, 0);
		return false;
	}
	c0 = env.ctxt;
	memcpy(regs0, env.regs, sizeof(regs0));
	memcpy(mmio0, env.mmio, sizeof(mmio0));

	take(&full, emu_execute(&env.ctxt));

	env.ctxt = c0;
	memcpy(env.regs, regs0, sizeof(regs0));
	memcpy(env.mmio, mmio0, sizeof(mmio0));
	env.nlog = 0;
	take(&fast, emu_fast_mov(&env.ctxt));

	check_same(&full, &fast);
	*ok = full.r == EMU_OK;
	return true;
}

/* Random MOV forms in each mode, with registers and segment bases that put most operands in the device window and
 * some outside it (#PF), past a segment limit (#GP, #SS) or non-canonical. */
TEST(fast_mov_agrees_with_full_path)
{
	static const enum emu_mode modes[] = {EMU_MODE_64, EMU_MODE_PROT32, EMU_MODE_PROT16, EMU_MODE_REAL};
	unsigned int taken = 0, completed = 0, faulted = 0;

	for (unsigned int iter = 0; iter < 40000; iter++) {
		enum emu_mode mode = modes[iter % 4];
		struct emu_ctxt *c = env_reset(mode, NULL, 0);
		bool ok = false;

		random_mov(env.code, mode);
		for (unsigned int i = 0; i < ENV_MMIO_SIZE; i++)
			env.mmio[i] = (u8)rnd();
		for (unsigned int i = 0; i < EMU_NR_REGS; i++)
			env.regs[i] = (rnd() % 8 == 0) ? rnd() : rnd() % 0x300;
		c->rflags = 0x2 | (rnd() & (EMU_FL_ARITH | EMU_FL_DF));
		c->cr4 = (rnd() % 4 == 0) ? BIT(12) : 0; /* LA57 */
		if (mode == EMU_MODE_64) {
			/* Bases only through FS and GS; the registers carry the window's address otherwise. */
			c->seg_base[EMU_SEG_FS] = ENV_MMIO;
			c->seg_base[EMU_SEG_GS] = ENV_MMIO - 0x100;
			for (unsigned int i = 0; i < EMU_NR_REGS; i++)
				if (rnd() % 2)
					env.regs[i] += ENV_MMIO;
		} else {
			for (unsigned int s = 0; s < EMU_NR_SEGS; s++) {
				if (s != EMU_SEG_CS)
					c->seg_base[s] = ENV_MMIO - (rnd() % 2 ? 0 : 0x80);
				c->seg_limit[s] = (rnd() % 4 == 0) ? (u32)(rnd() % 0x400) : 0xffffffff;
				c->seg_flags[s] = (rnd() % 8 == 0) ? (u8)(rnd() & 0x1f) : 0;
			}
			c->seg_limit[EMU_SEG_CS] = 0xffffffff;
			c->seg_flags[EMU_SEG_CS] = 0;
			c->seg_checks = rnd() % 4 != 0;
		}
		if (rnd() % 64 == 0)
			env.read_ret = env.write_ret = -EIO; /* a callback failing */
		if (run_both(&ok)) {
			taken++;
			completed += ok;
			faulted += !ok;
		}
	}
	/* The generator must reach both outcomes often, or this test checks little. */
	CHECK(taken > 20000);
	CHECK(completed > 5000);
	CHECK(faulted > 2000);
}

/* Chosen forms: the byte registers (AH without REX, SPL with it), MOVZX/MOVSX extension, C7's sign-extended immediate
 * in a 64-bit store, a 64-bit moffs, a 16-bit operand that keeps the register's upper bits, a 32-bit one that clears
 * them. Each against the device window, and each compared with emu_execute by run_both. */
TEST(fast_mov_forms)
{
	static const struct {
		u8 code[12];
		u64 rax, rbx, mmio64, want_rax, want_mmio64;
	} cases[] = {
		/* mov [rbx], ah: 88 23 */
		{{0x88, 0x23}, 0x1234, ENV_MMIO, 0, 0x1234, 0x12},
		/* rex mov [rbx], spl: 40 88 23 (rsp = 0) */
		{{0x40, 0x88, 0x23}, 0x1234, ENV_MMIO, 0xff, 0x1234, 0},
		/* mov ah, [rbx]: 8a 23 */
		{{0x8a, 0x23}, 0x1111, ENV_MMIO, 0x80, 0x8011, 0x80},
		/* movzx eax, byte [rbx] */
		{{0x0f, 0xb6, 0x03}, ~0ULL, ENV_MMIO, 0x1f0, 0xf0, 0x1f0},
		/* movsx rax, word [rbx] */
		{{0x48, 0x0f, 0xbf, 0x03}, 0, ENV_MMIO, 0x8001, 0xffffffffffff8001ULL, 0x8001},
		/* mov qword [rbx], -2 */
		{{0x48, 0xc7, 0x03, 0xfe, 0xff, 0xff, 0xff}, 0, ENV_MMIO, 0, 0, 0xfffffffffffffffeULL},
		/* mov rax, [moffs64] */
		{{0x48, 0xa1, 0x00, 0x00, 0xbf, 0xfe, 0, 0, 0, 0}, 0, 0, 0x55, 0x55, 0x55},
		/* mov ax, [rbx] keeps bits 63:16 */
		{{0x66, 0x8b, 0x03}, 0xaaaabbbbccccdddd, ENV_MMIO, 0x1234, 0xaaaabbbbcccc1234, 0x1234},
		/* mov eax, [rbx] clears bits 63:32 */
		{{0x8b, 0x03}, 0xaaaabbbbccccdddd, ENV_MMIO, 0x12345678, 0x12345678, 0x12345678},
	};

	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool ok = false;

		env_reset(M64, cases[i].code, sizeof(cases[i].code));
		env.regs[EMU_RAX] = cases[i].rax;
		env.regs[EMU_RBX] = cases[i].rbx;
		env_set_mmio64(ENV_MMIO, cases[i].mmio64);
		CHECK(run_both(&ok));
		CHECK(ok);
		CHECK_EQ(env.regs[EMU_RAX], cases[i].want_rax);
		CHECK_EQ(env_mmio64(ENV_MMIO), cases[i].want_mmio64);
	}
}

/* The next IP wraps in the code size (SDM Vol. 1 3.6): a 2-byte move at IP 0xfffe in real mode ends at IP 0. */
TEST(fast_mov_ip_wraps)
{
	struct emu_ctxt *c = ENV(M16, 0x8b, 0x07); /* mov ax, [bx] */
	bool ok = false;

	c->seg_base[EMU_SEG_CS] = ENV_CODE - 0xfffe;
	c->rip = 0xfffe;
	c->seg_base[EMU_SEG_DS] = ENV_MMIO;
	env_set_mmio64(ENV_MMIO, 0x4321);
	CHECK(run_both(&ok));
	CHECK(ok);
	CHECK_EQ(c->rip, 0);
	CHECK_EQ(env.regs[EMU_RAX], 0x4321);
}

/* What the fast path leaves to emu_execute: LOCK (#UD there), register forms, other opcodes. */
TEST(fast_mov_refuses_others)
{
	static const u8 forms[][4] = {
		{0xf0, 0x89, 0x03}, /* lock mov: #UD, emu_execute's */
		{0x89, 0xc3},	    /* mov ebx, eax: no memory operand */
		{0x01, 0x03},	    /* add [rbx], eax */
		{0x87, 0x03},	    /* xchg */
		{0x0f, 0xc3, 0x03}, /* movnti */
		{0x63, 0x03},	    /* movsxd */
	};
	bool ok;

	for (unsigned int i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		env_reset(M64, forms[i], sizeof(forms[i]));
		env.regs[EMU_RBX] = ENV_MMIO;
		CHECK(!run_both(&ok));
	}
}

/* ---- the decode cache ---- */

/* Guest memory for the guard: the RAM window of the fake guest, by gpa = offset into env.ram. */
static unsigned int equal_calls;

static int fake_equal(void *opaque, const struct emu_dcache_range *r, unsigned int n)
{
	CHECK(opaque == &env);
	equal_calls++;
	for (unsigned int i = 0; i < n; i++) {
		if (r[i].gpa + r[i].len > ENV_RAM_SIZE)
			return 0;
		if (memcmp(env.ram + r[i].gpa, r[i].expect, r[i].len))
			return 0;
	}
	return 1;
}

/* An entry as the MMIO path makes one: a 4-level walk (three tables and a 4K leaf) in env.ram, and the instruction's
 * bytes at code_gpa, decoded from there. hva: whether the entry may compare in place (generation 7). */
static struct emu_dcache_entry *make_entry(struct emu_dcache *dc, const struct emu_dcache_key *key, bool hva)
{
	static const u8 insn_bytes[] = {0x8b, 0x83, 0x10, 0x00, 0x00, 0x00}; /* mov eax, [rbx + 0x10] */
	struct emu_dcache_chain ch = {.levels = 4, .pte_size = 8, .code_gpa = 0x5ffa, .hva_gen = 7};
	struct emu_ctxt *c = env_reset(M64, insn_bytes, sizeof(insn_bytes));

	for (unsigned int i = 0; i < 4; i++) {
		u64 pte = 0x1000 * (i + 2) | 0x63;
		ch.pte_gpa[i] = 0x1000 * (i + 1) + 8 * i;
		ch.pte[i] = pte;
		memcpy(env.ram + ch.pte_gpa[i], &pte, 8);
		ch.hva[i] = hva ? env.ram + ch.pte_gpa[i] : NULL;
	}
	memcpy(env.ram + ch.code_gpa, insn_bytes, sizeof(insn_bytes));
	ch.hva[4] = hva ? env.ram + ch.code_gpa : NULL;
	CHECK_EQ(emu_decode(c), EMU_OK);
	CHECK_EQ(c->insn.len, 6);
	emu_dcache_insert(dc, key, &ch, &c->insn);
	return emu_dcache_lookup(dc, key);
}

/* The guard catches a changed instruction byte and a changed paging entry at every level (a remapped page, a cleared
 * A bit), through the callback and in place; bytes past the instruction and a different generation (which only
 * sends it to the callback) do not count. */
TEST(dcache_guard_catches_code_and_pte_writes)
{
	static struct emu_dcache dc;
	struct emu_dcache_key key = {.rip = 0x401000, .cr3 = 0x1000, .flags = EMU_DKEY_MODE(EMU_MODE_64) | EMU_DKEY_PG};

	for (int hva = 0; hva < 2; hva++) {
		for (unsigned int victim = 0; victim <= 6; victim++) {
			memset(&dc, 0, sizeof(dc));
			struct emu_dcache_entry *e = make_entry(&dc, &key, hva);
			CHECK(e);
			equal_calls = 0;
			CHECK(emu_dcache_check(e, fake_equal, &env, 7));
			CHECK_EQ(equal_calls, hva ? 0 : 1); /* in place when it can */
			CHECK(emu_dcache_check(e, fake_equal, &env, 8)); /* another generation: the callback */
			CHECK_EQ(equal_calls, hva ? 1 : 2);
			if (victim < 4)
				env.ram[e->chain.pte_gpa[victim] + (victim == 3 ? 0 : 1)] ^= victim == 3 ? 0x20 : 0x10;
			else if (victim < 6)
				env.ram[e->chain.code_gpa + (victim == 4 ? 0 : 5)] ^= 1; /* the opcode, the last disp byte */
			else
				env.ram[e->chain.code_gpa + 6] ^= 1; /* after the instruction: not part of it */
			CHECK_EQ(emu_dcache_check(e, fake_equal, &env, 7), victim == 6);
			CHECK_EQ(emu_dcache_check(e, fake_equal, &env, 8), victim == 6);
		}
	}
}

/* The exit's bytes (SVM DecodeAssists) as the guard: the entry's instruction must be their prefix; fewer bytes than
 * the instruction say nothing (the caller then re-reads memory). */
TEST(dcache_match_exit_bytes)
{
	static struct emu_dcache dc;
	struct emu_dcache_key key = {.rip = 0x401000, .flags = EMU_DKEY_MODE(EMU_MODE_64) | EMU_DKEY_PG};
	struct emu_dcache_entry *e = make_entry(&dc, &key, false);
	u8 bytes[15] = {0x8b, 0x83, 0x10, 0x00, 0x00, 0x00, 0xc3, 0x90};

	CHECK(emu_dcache_match_bytes(e, bytes, 15));
	CHECK(emu_dcache_match_bytes(e, bytes, 6));
	CHECK(!emu_dcache_match_bytes(e, bytes, 5));
	CHECK(!emu_dcache_match_bytes(e, bytes, 0));
	bytes[6] = 0xcc; /* after the instruction */
	CHECK(emu_dcache_match_bytes(e, bytes, 15));
	for (unsigned int i = 0; i < 6; i++) {
		bytes[i] ^= 0x40;
		CHECK(!emu_dcache_match_bytes(e, bytes, 15));
		bytes[i] ^= 0x40;
	}
}

/* 32-bit paging's 4-byte entries, and paging off (no entry: the bytes alone). */
TEST(dcache_guard_small_chains)
{
	static struct emu_dcache dc;
	struct emu_dcache_key key = {.rip = 0x10, .flags = EMU_DKEY_MODE(EMU_MODE_PROT32)};
	struct emu_dcache_chain ch = {.levels = 2, .pte_size = 4, .pte_gpa = {0x100, 0x204}, .pte = {0x3067, 0x4067},
				      .code_gpa = 0x4010};
	struct emu_ctxt *c = ENV(M32, 0xa1, 0x00, 0x00, 0xbf, 0xfe); /* mov eax, [moffs32] */
	u32 e32;

	CHECK_EQ(emu_decode(c), EMU_OK);
	e32 = 0x3067;
	memcpy(env.ram + 0x100, &e32, 4);
	e32 = 0x4067;
	memcpy(env.ram + 0x204, &e32, 4);
	memcpy(env.ram + 0x208, "\xff\xff\xff\xff", 4); /* the next entry: a 4-byte compare must not reach it */
	memcpy(env.ram + 0x4010, c->insn.bytes, c->insn.len);
	emu_dcache_insert(&dc, &key, &ch, &c->insn);
	struct emu_dcache_entry *e = emu_dcache_lookup(&dc, &key);
	CHECK(e);
	CHECK(emu_dcache_check(e, fake_equal, &env, 0));
	for (unsigned int i = 0; i < 2; i++)
		ch.hva[i] = env.ram + ch.pte_gpa[i];
	ch.hva[2] = env.ram + 0x4010;
	emu_dcache_insert(&dc, &key, &ch, &c->insn);
	CHECK(e->in_place);
	equal_calls = 0;
	CHECK(emu_dcache_check(e, fake_equal, &env, 0));
	CHECK_EQ(equal_calls, 0);
	env.ram[0x206] ^= 1; /* bit 16 of the second entry: another frame */
	CHECK(!emu_dcache_check(e, fake_equal, &env, 0));
	env.ram[0x206] ^= 1;
	env.ram[0x4012] ^= 1; /* the last byte of the instruction */
	CHECK(!emu_dcache_check(e, fake_equal, &env, 0));
	env.ram[0x4012] ^= 1;

	memset(&dc, 0, sizeof(dc));
	ch = (struct emu_dcache_chain){.levels = 0, .code_gpa = 0x4010};
	emu_dcache_insert(&dc, &key, &ch, &c->insn);
	e = emu_dcache_lookup(&dc, &key);
	CHECK(e);
	CHECK(emu_dcache_check(e, fake_equal, &env, 0));
	env.ram[0x4011] ^= 1;
	CHECK(!emu_dcache_check(e, fake_equal, &env, 0));
}

/* Every key field tells entries apart; a full cache replaces its oldest entry; insert of a known key replaces it in
 * place; drop and flush forget. */
TEST(dcache_key_and_replacement)
{
	static struct emu_dcache dc;
	struct emu_dcache_key base = {.rip = 0x1000, .cr3 = 0x2000, .cs_base = 0, .cs_limit = ~0u,
				      .flags = EMU_DKEY_MODE(EMU_MODE_64) | EMU_DKEY_PG | EMU_DKEY_LMA};
	struct emu_dcache_key k;
	struct emu_dcache_chain ch = {.levels = 0, .code_gpa = 0x10};
	struct emu_ctxt *c = ENV(M64, 0x8b, 0x03);

	CHECK_EQ(emu_decode(c), EMU_OK);
	memset(&dc, 0, sizeof(dc));
	emu_dcache_insert(&dc, &base, &ch, &c->insn);
	CHECK(emu_dcache_lookup(&dc, &base));
	k = base, k.rip++;
	CHECK(!emu_dcache_lookup(&dc, &k));
	k = base, k.cr3 ^= 0x1000;
	CHECK(!emu_dcache_lookup(&dc, &k));
	k = base, k.cs_base = 0x10;
	CHECK(!emu_dcache_lookup(&dc, &k));
	k = base, k.cs_limit = 0xffff;
	CHECK(!emu_dcache_lookup(&dc, &k));
	k = base, k.flags |= EMU_DKEY_CPL(3);
	CHECK(!emu_dcache_lookup(&dc, &k));
	k = base, k.flags ^= EMU_DKEY_SMEP;
	CHECK(!emu_dcache_lookup(&dc, &k));

	/* The same key again: one entry, the newer decode. */
	c = ENV(M64, 0x89, 0x03);
	CHECK_EQ(emu_decode(c), EMU_OK);
	emu_dcache_insert(&dc, &base, &ch, &c->insn);
	CHECK_EQ(emu_dcache_lookup(&dc, &base)->insn.opcode, 0x89);
	unsigned int valid = 0;
	for (unsigned int s = 0; s < EMU_DCACHE_SETS; s++)
		for (unsigned int i = 0; i < EMU_DCACHE_WAYS; i++)
			valid += dc.e[s][i].valid;
	CHECK_EQ(valid, 1);

	/* A key of every other set leaves it alone; WAYS more keys of its own set push it out. */
	u64 same[EMU_DCACHE_WAYS], n = 0;
	for (u64 rip = base.rip + 1; n < EMU_DCACHE_WAYS; rip++) {
		k = base, k.rip = rip;
		emu_dcache_insert(&dc, &k, &ch, &c->insn);
		CHECK(emu_dcache_lookup(&dc, &k));
		if (emu_dcache_set(rip) == emu_dcache_set(base.rip))
			same[n++] = rip;
		else
			CHECK(emu_dcache_lookup(&dc, &base));
	}
	CHECK(!emu_dcache_lookup(&dc, &base));
	/* Sixteen MMIO sites of one loop, 7 bytes apart, fit without evicting each other. */
	emu_dcache_flush(&dc);
	for (unsigned int i = 0; i < 16; i++) {
		k = base, k.rip = 0x401000 + 7 * i;
		emu_dcache_insert(&dc, &k, &ch, &c->insn);
	}
	for (unsigned int i = 0; i < 16; i++) {
		k = base, k.rip = 0x401000 + 7 * i;
		CHECK(emu_dcache_lookup(&dc, &k));
	}
	k = base, k.rip = same[0];
	emu_dcache_insert(&dc, &k, &ch, &c->insn);
	emu_dcache_drop(emu_dcache_lookup(&dc, &k));
	CHECK(!emu_dcache_lookup(&dc, &k));
	k = base, k.rip = 0x401000;
	CHECK(emu_dcache_lookup(&dc, &k));
	emu_dcache_flush(&dc);
	CHECK(!emu_dcache_lookup(&dc, &k));

	/* Nothing decoded is never remembered. */
	struct emu_insn none = {0};
	emu_dcache_insert(&dc, &base, &ch, &none);
	CHECK(!emu_dcache_lookup(&dc, &base));
}

/* A hit is the fresh decode: for random MOV forms, the entry's instruction executes (fast path) exactly as the
 * instruction decoded again from the same bytes, and after a write that changes any of its bytes the guard fails. */
TEST(dcache_hit_equals_fresh_decode)
{
	static struct emu_dcache dc;
	struct emu_dcache_key key = {.rip = ENV_CODE, .flags = EMU_DKEY_MODE(EMU_MODE_64)};
	unsigned int checked = 0;

	for (unsigned int iter = 0; iter < 3000; iter++) {
		struct emu_ctxt *c = env_reset(M64, NULL, 0);
		struct emu_dcache_chain ch = {.levels = 0, .code_gpa = 0x100};
		bool ok;

		random_mov(env.code, M64);
		env.regs[EMU_RBX] = env.regs[EMU_RAX] = ENV_MMIO + 0x40;
		if (emu_decode(c) != EMU_OK)
			continue;
		memcpy(env.ram + 0x100, env.code, 16);
		memset(&dc, 0, sizeof(dc));
		emu_dcache_insert(&dc, &key, &ch, &c->insn);
		struct emu_dcache_entry *e = emu_dcache_lookup(&dc, &key);
		CHECK(e);
		CHECK(emu_dcache_check(e, fake_equal, &env, 0));
		/* Run from the cache as vm/mmio_fast.c does: insn copied in, no decode; run_both decodes afresh. */
		c->insn = e->insn;
		struct emu_insn fresh;
		env.fetched = 0;
		CHECK_EQ(emu_decode(c), EMU_OK);
		fresh = c->insn;
		CHECK(!memcmp(&fresh, &e->insn, sizeof(fresh)));
		if (run_both(&ok))
			checked++;
		unsigned int k = rnd() % e->insn.len;
		env.ram[0x100 + k] ^= (u8)(1 + rnd() % 255);
		CHECK(!emu_dcache_check(e, fake_equal, &env, 0));
	}
	CHECK(checked > 1500);
}
