/* Emulator unit tests of address formation: canonical checks (48 and 57 bits), 32-bit segments, real-mode
 * addressing and RIP wrap-around, against the fake guest of test_emulate_env.h. */
#include "test_emulate_env.h"

/* 64-bit mode: a non-canonical address is #GP(0), or #SS(0) through the stack segment, before any callback. */
TEST(exec_noncanonical)
{
	struct emu_ctxt *c = ENV(M64, 0x89, 0x18);

	env.regs[EMU_RAX] = 0x0000800000000000;
	CHECK_EQ(emu_run(c), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_GP);
	CHECK(c->exc.has_error);
	CHECK_EQ(c->exc.error_code, 0);
	CHECK_EQ(env.nlog, 0);

	c = ENV(M64, 0x89, 0x5d, 0x00);		/* mov [rbp], ebx */
	env.regs[EMU_RBP] = 0x00007ffffffffffe; /* the last two bytes are not canonical */
	CHECK_EQ(emu_run(c), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_SS);

	c = ENV(M64, 0x64, 0x89, 0x18); /* the FS base makes it canonical again */
	c->seg_base[EMU_SEG_FS] = ENV_MMIO - 0xffff800000000000;
	env.regs[EMU_RAX] = 0xffff800000000000;
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(0, true, ENV_MMIO, 4, 0);
}

/* With CR4.LA57 canonical is 57 bits (SDM Vol. 3A 4.5): an address past 2^47 is one, bit 56 unlike bit 57 is #GP. */
TEST(exec_noncanonical_la57)
{
	struct emu_ctxt *c = ENV(M64, 0x64, 0x89, 0x18);

	c->cr4 = BIT(12); /* CR4.LA57 */
	c->seg_base[EMU_SEG_FS] = ENV_MMIO - 0x0000800000000000;
	env.regs[EMU_RAX] = 0x0000800000000000; /* not canonical with 48 bits (above) */
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(0, true, ENV_MMIO, 4, 0);

	c = ENV(M64, 0x89, 0x18);
	c->cr4 = BIT(12); /* CR4.LA57 */
	env.regs[EMU_RAX] = 0x0100000000000000;
	CHECK_EQ(emu_run(c), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_GP);
	CHECK_EQ(env.nlog, 0);
}

/* Outside 64-bit mode segment bases add in and an access may not cross 4 GiB. */
TEST(exec_segments_32bit)
{
	struct emu_ctxt *c = ENV(M32, 0x89, 0x18);

	c->seg_base[EMU_SEG_DS] = ENV_MMIO - 0x100;
	env.regs[EMU_RAX] = 0x100;
	env.regs[EMU_RBX] = 0x1234;
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(0, true, ENV_MMIO, 4, 0x1234);

	c = ENV(M32, 0x89, 0x18);
	env.regs[EMU_RAX] = 0xfffffffe;
	CHECK_EQ(emu_run(c), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_GP);

	c = ENV(M32, 0x26, 0x89, 0x1c, 0x24); /* mov es:[esp], ebx: the override beats the SS default */
	c->seg_base[EMU_SEG_ES] = ENV_MMIO;
	c->seg_base[EMU_SEG_SS] = ENV_RAM;
	env.regs[EMU_RSP] = 8;
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(0, true, ENV_MMIO + 8, 4, 0);
}

/* Real mode: [bp+si+disp8] goes through SS, [bx+di] through DS, and 16-bit results keep the upper bits. */
TEST(exec_real_mode_addressing)
{
	struct emu_ctxt *c = ENV(M16, 0x8b, 0x42, 0x04); /* mov ax, [bp+si+4] */

	c->seg_base[EMU_SEG_SS] = ENV_MMIO;
	c->seg_base[EMU_SEG_DS] = ENV_RAM;
	env.regs[EMU_RBP] = 0x10;
	env.regs[EMU_RSI] = 0x20;
	env.regs[EMU_RAX] = 0xffff0000;
	env_set_mmio64(ENV_MMIO + 0x34, 0x4321);
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RAX], 0xffff4321);
	CHECK_EQ(c->rip, 3);

	c = ENV(M16, 0x66, 0x89, 0x01); /* mov [bx+di], eax */
	c->seg_base[EMU_SEG_DS] = ENV_MMIO;
	env.regs[EMU_RBX] = 0x8000;
	env.regs[EMU_RDI] = 0x8004; /* the sum wraps to 4 */
	env.regs[EMU_RAX] = 0xcafebabe;
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(0, true, ENV_MMIO + 4, 4, 0xcafebabe);
}

/* In 32-bit code EIP wraps at 4 GiB after the instruction. */
TEST(exec_rip_wraps_32bit)
{
	struct emu_ctxt *c = ENV(M32, 0x89, 0x18);

	c->seg_base[EMU_SEG_CS] = ENV_CODE + 2; /* EIP 0xfffffffe is the code page's first byte */
	c->rip = 0xfffffffe;
	env.regs[EMU_RAX] = ENV_RAM;
	/* The instruction's first byte is at linear (CS base + EIP) mod 4G = ENV_CODE. */
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(c->rip, 0);
}
