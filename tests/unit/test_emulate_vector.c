/* Unit tests of the SSE/AVX moves (vm/emulate/vector.c) on the fake guest's device memory: 16- and 32-byte accesses
 * as single callbacks, what a legacy SSE write keeps of the YMM register and what a VEX write clears, alignment,
 * the #UD and #NM conditions from CR0/CR4/XCR0 (SDM Vol. 2, "Exceptions Type 1/4/5" of the SIMD instructions),
 * VEX's own rules (vvvv, L, the prefixes before it), and no vector callbacks meaning unhandled. Register values
 * against the CPU are in test_emulate_native.c. */
#include "test_emulate_env.h"

static void fill_ymm(void)
{
	for (unsigned int r = 0; r < 16; r++)
		for (unsigned int i = 0; i < 32; i++)
			env.ymm[r][i] = (u8)(0x10 * r + i);
}

TEST(vec_movdqa_load_store_mmio)
{
	struct emu_ctxt *c = ENV(M64, 0x66, 0x0f, 0x6f, 0x06); /* movdqa xmm0, [rsi] */
	u8 want[32];

	env_vectors();
	fill_ymm();
	for (unsigned int i = 0; i < 16; i++)
		env.mmio[0x40 + i] = (u8)(0xa0 + i);
	env.regs[EMU_RSI] = ENV_MMIO + 0x40;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.nlog, 1);
	CHECK_EQ(env.log[0].size, 16);
	CHECK(!memcmp(env.ymm[0], env.mmio + 0x40, 16));
	for (unsigned int i = 16; i < 32; i++)
		CHECK_EQ(env.ymm[0][i], i); /* a legacy SSE write keeps bits 255:128 */
	CHECK_EQ(c->rip, ENV_CODE + 4);

	c = ENV(M64, 0xf3, 0x44, 0x0f, 0x7f, 0x4e, 0x01); /* movdqu [rsi+1], xmm9: no alignment needed */
	env_vectors();
	fill_ymm();
	env.regs[EMU_RSI] = ENV_MMIO + 0x40;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.log[0].write, true);
	CHECK_EQ(env.log[0].addr, ENV_MMIO + 0x41);
	memcpy(want, env.ymm[9], 16);
	CHECK(!memcmp(env.mmio + 0x41, want, 16));
}

TEST(vec_alignment)
{
	static const struct {
		u8 n, b[5];
		bool faults;
	} enc[] = {
	    {4, {0x66, 0x0f, 0x6f, 0x06}, true},       /* movdqa */
	    {4, {0xf3, 0x0f, 0x6f, 0x06}, false},      /* movdqu */
	    {3, {0x0f, 0x28, 0x06}, true},	       /* movaps */
	    {3, {0x0f, 0x10, 0x06}, false},	       /* movups */
	    {4, {0x66, 0x0f, 0x29, 0x06}, true},       /* movapd */
	    {3, {0x0f, 0x2b, 0x06}, true},	       /* movntps */
	    {4, {0x66, 0x0f, 0xe7, 0x06}, true},       /* movntdq */
	    {5, {0x66, 0x0f, 0x38, 0x2a, 0x06}, true}, /* movntdqa */
	    {4, {0xc5, 0xfd, 0x6f, 0x06}, true},       /* vmovdqa ymm0: 32-byte alignment */
	    {4, {0xc5, 0xfe, 0x6f, 0x06}, false},      /* vmovdqu ymm0 */
	};

	for (size_t i = 0; i < ARRAY_SIZE(enc); i++) {
		struct emu_ctxt *c = env_reset(M64, enc[i].b, enc[i].n);
		env_vectors();
		env.regs[EMU_RSI] = ENV_MMIO + 0x48; /* 8-byte aligned only */
		if (enc[i].faults) {
			CHECK_EQ(emu_run(c), EMU_EXCEPTION);
			CHECK_EQ(c->exc.vector, EMU_VEC_GP);
			CHECK_EQ(c->exc.error_code, 0);
			CHECK_EQ(env.nlog, 0);
			CHECK_EQ(c->rip, ENV_CODE);
		} else {
			CHECK_EQ(emu_run(c), EMU_OK);
		}
	}
	/* 16-byte aligned is not enough for VEX.256 aligned moves. */
	struct emu_ctxt *c = ENV(M64, 0xc5, 0xfd, 0x7f, 0x06); /* vmovdqa [rsi], ymm0 */
	env_vectors();
	env.regs[EMU_RSI] = ENV_MMIO + 0x50;
	CHECK_EQ(emu_run(c), EMU_EXCEPTION);
	c = ENV(M64, 0xc5, 0xfd, 0x7f, 0x06);
	env_vectors();
	env.regs[EMU_RSI] = ENV_MMIO + 0x60;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.log[0].size, 32);
}

/* VEX.256 moves all 32 bytes; VEX.128 loads clear bits 255:128. */
TEST(vec_vex_widths)
{
	struct emu_ctxt *c = ENV(M64, 0xc5, 0x7e, 0x6f, 0x06); /* vmovdqu ymm8, [rsi] */

	env_vectors();
	fill_ymm();
	for (unsigned int i = 0; i < 32; i++)
		env.mmio[i] = (u8)(0xe0 + i);
	env.regs[EMU_RSI] = ENV_MMIO;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.log[0].size, 32);
	CHECK(!memcmp(env.ymm[8], env.mmio, 32));

	c = ENV(M64, 0xc5, 0xfa, 0x6f, 0x1e); /* vmovdqu xmm3, [rsi] */
	env_vectors();
	fill_ymm();
	env.regs[EMU_RSI] = ENV_MMIO;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.log[0].size, 16);
	CHECK(!memcmp(env.ymm[3], env.mmio, 16));
	for (unsigned int i = 16; i < 32; i++)
		CHECK_EQ(env.ymm[3][i], 0);

	c = ENV(M64, 0xc4, 0xc1, 0x7d, 0x7f, 0x00); /* vmovdqa [r8], ymm0 (VEX.B) */
	env_vectors();
	fill_ymm();
	env.regs[EMU_R8] = ENV_MMIO + 0x100;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK(!memcmp(env.mmio + 0x100, env.ymm[0], 32));

	c = ENV(M32, 0xc5, 0xf9, 0x6e, 0xc0); /* vmovd xmm0, eax in 32-bit mode: VEX since mod is 11 */
	env_vectors();
	fill_ymm();
	env.regs[EMU_RAX] = 0x11223344;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.ymm[0][0], 0x44);
	CHECK_EQ(env.ymm[0][4], 0);
	CHECK_EQ(env.ymm[0][31], 0);
}

/* MOVD/MOVQ between XMM and GPRs or memory, MOVQ's zero-extension, MOVSS/MOVSD's memory zeroing vs register
 * merging. */
TEST(vec_movd_movq_scalar)
{
	struct emu_ctxt *c = ENV(M64, 0x66, 0x48, 0x0f, 0x7e, 0x06); /* movq [rsi], xmm0 */

	env_vectors();
	fill_ymm();
	env.regs[EMU_RSI] = ENV_MMIO;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.log[0].size, 8);
	CHECK_EQ(env.log[0].val, 0x0706050403020100ULL);

	c = ENV(M64, 0x66, 0x0f, 0x6e, 0x0e); /* movd xmm1, [rsi]: zero-extended to 128 bits */
	env_vectors();
	fill_ymm();
	env.regs[EMU_RSI] = ENV_MMIO;
	env_set_mmio64(ENV_MMIO, 0xaabbccdd99887766ULL);
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.log[0].size, 4);
	CHECK_EQ(env.ymm[1][0], 0x66);
	CHECK_EQ(env.ymm[1][4], 0);
	CHECK_EQ(env.ymm[1][15], 0);
	CHECK_EQ(env.ymm[1][16], 0x20); /* kept */

	c = ENV(M64, 0x66, 0x0f, 0x7e, 0xd0); /* movd eax, xmm2: the upper half of rax cleared */
	env_vectors();
	fill_ymm();
	env.regs[EMU_RAX] = ~0ULL;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RAX], 0x23222120);

	c = ENV(M64, 0xf3, 0x0f, 0x10, 0x1e); /* movss xmm3, [rsi]: 4 bytes, the rest of the low 128 zeroed */
	env_vectors();
	fill_ymm();
	env.regs[EMU_RSI] = ENV_MMIO;
	env_set_mmio64(ENV_MMIO, 0x3f800000);
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.log[0].size, 4);
	CHECK_EQ(env.ymm[3][3], 0x3f);
	CHECK_EQ(env.ymm[3][4], 0);

	c = ENV(M64, 0xf2, 0x0f, 0x10, 0xe5); /* movsd xmm4, xmm5: merges the low 8 bytes */
	env_vectors();
	fill_ymm();
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.ymm[4][0], 0x50);
	CHECK_EQ(env.ymm[4][7], 0x57);
	CHECK_EQ(env.ymm[4][8], 0x48);
}

/* #UD without OSFXSR or with EM, #NM with TS (after #UD), VEX #UD without OSXSAVE or XCR0's AVX state. */
TEST(vec_state_checks)
{
	struct emu_ctxt *c = ENV(M64, 0x66, 0x0f, 0x6f, 0x06);

	env_vectors();
	c->cr4 = 0;
	env.regs[EMU_RSI] = ENV_MMIO;
	CHECK_EQ(emu_run(c), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_UD);
	CHECK_EQ(env.nlog + env.nvreg, 0);

	c = ENV(M64, 0x66, 0x0f, 0x6f, 0x06);
	env_vectors();
	c->cr0 |= BIT(2) | BIT(3); /* EM and TS: #UD wins */
	env.regs[EMU_RSI] = ENV_MMIO;
	CHECK_EQ(emu_run(c), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_UD);

	c = ENV(M64, 0x66, 0x0f, 0x6f, 0x06);
	env_vectors();
	c->cr0 |= BIT(3);
	env.regs[EMU_RSI] = ENV_MMIO + 8; /* misaligned too: #NM comes first */
	CHECK_EQ(emu_run(c), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_NM);
	CHECK(!c->exc.has_error);

	c = ENV(M64, 0xc5, 0xfa, 0x6f, 0x06); /* VEX without OSXSAVE */
	env_vectors();
	c->cr4 &= ~BIT(18);
	CHECK_EQ(emu_run(c), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_UD);
	c = ENV(M64, 0xc5, 0xfa, 0x6f, 0x06); /* VEX with XCR0 = x87 | SSE */
	env_vectors();
	c->xcr0 = 3;
	CHECK_EQ(emu_run(c), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_UD);
	c = ENV(M64, 0xc5, 0xfa, 0x6f, 0x06); /* VEX ignores CR0.EM */
	env_vectors();
	c->cr0 |= BIT(2);
	env.regs[EMU_RSI] = ENV_MMIO;
	CHECK_EQ(emu_run(c), EMU_OK);
}

/* VEX rules: vvvv must be 1111b for these moves, L=1 is #UD for the scalar ones; no callbacks: unhandled. */
TEST(vec_vex_rules_and_unhandled)
{
	struct emu_ctxt *c = ENV(M64, 0xc5, 0xf2, 0x6f, 0x06); /* vmovdqu with vvvv = 1 */

	env_vectors();
	env.regs[EMU_RSI] = ENV_MMIO;
	CHECK_EQ(emu_run(c), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_UD);

	c = ENV(M64, 0xc5, 0xfd, 0x7e, 0xc0); /* vmovd eax, xmm0 with L=1 */
	env_vectors();
	CHECK_EQ(emu_run(c), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_UD);

	c = ENV(M64, 0xc5, 0xfa, 0x10, 0x06); /* vmovss: not done */
	env_vectors();
	CHECK_EQ(emu_run(c), EMU_UNHANDLED);

	c = ENV(M64, 0x0f, 0x6f, 0x06); /* MMX movq mm0, [rsi]: not done */
	env_vectors();
	CHECK_EQ(emu_run(c), EMU_UNHANDLED);

	c = ENV(M64, 0x66, 0x0f, 0x6f, 0x06); /* no callbacks */
	env.regs[EMU_RSI] = ENV_MMIO;
	CHECK_EQ(emu_run(c), EMU_UNHANDLED);
	CHECK_EQ(env.nlog, 0);

	c = ENV(M64, 0xf0, 0x66, 0x0f, 0x6f, 0x06); /* LOCK */
	env_vectors();
	CHECK_EQ(emu_run(c), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_UD);

	c = ENV(M16, 0x66, 0x0f, 0x6f, 0x07); /* movdqa xmm0, [bx] in real mode */
	env_vectors();
	c->seg_base[EMU_SEG_DS] = ENV_MMIO;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.log[0].addr, ENV_MMIO);
	CHECK_EQ(c->rip, 4);
}
