/* Unit tests of the instructions added for complete integer coverage, where what matters is beyond the values the
 * host CPU would compute (test_emulate_native.c has those): the device-visible accesses (order, size, count), REP
 * compares stopping and batching, the stack through the write callback with each stack size, branches, 16-byte
 * CMPXCHG16B alignment, and the state a fault leaves. */
#include "test_emulate_env.h"

/* REPE CMPSB stops after the first difference, with rSI/rDI past it and rCX counting what remains. */
TEST(ops_repe_cmpsb_stops_at_difference)
{
	struct emu_ctxt *c = ENV(M64, 0xf3, 0xa6); /* repe cmpsb */

	memcpy(env.mmio, "abcdefgh", 8);
	memcpy(env.ram, "abcdXfgh", 8);
	env.regs[EMU_RSI] = ENV_MMIO;
	env.regs[EMU_RDI] = ENV_RAM;
	env.regs[EMU_RCX] = 8;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RCX], 3);
	CHECK_EQ(env.regs[EMU_RSI], ENV_MMIO + 5);
	CHECK_EQ(env.regs[EMU_RDI], ENV_RAM + 5);
	CHECK(!(c->rflags & EMU_FL_ZF));
	CHECK(!(c->rflags & EMU_FL_CF)); /* 'e' (0x65) - 'X' (0x58): no borrow */
}

TEST(ops_cmps_flags_and_order)
{
	struct emu_ctxt *c = ENV(M64, 0x66, 0xa7); /* cmpsw: [rsi] - es:[rdi], source read first */

	env_set_mmio64(ENV_MMIO, 0x0001);
	env_set_ram64(ENV_RAM, 0x0002);
	env.regs[EMU_RSI] = ENV_MMIO;
	env.regs[EMU_RDI] = ENV_RAM;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.nlog, 2);
	check_access(0, false, ENV_MMIO, 2, 1);
	check_access(1, false, ENV_RAM, 2, 2);
	CHECK_EQ(c->rflags & EMU_FL_ARITH, EMU_FL_CF | EMU_FL_SF | EMU_FL_AF | EMU_FL_PF); /* 1 - 2 = 0xffff */
	CHECK_EQ(env.regs[EMU_RSI], ENV_MMIO + 2);
	CHECK_EQ(env.regs[EMU_RDI], ENV_RAM + 2);
	CHECK_EQ(c->rip, ENV_CODE + 2);
}

/* REPNE SCASB finds a byte; REPE SCASD walks backwards with DF; a count of zero compares nothing. */
TEST(ops_scas)
{
	struct emu_ctxt *c = ENV(M64, 0xf2, 0xae); /* repne scasb */

	memcpy(env.mmio, "hello\0world", 11);
	env.regs[EMU_RDI] = ENV_MMIO;
	env.regs[EMU_RCX] = ~0ULL;
	env.regs[EMU_RAX] = 0;
	c->rep_batch = 100;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RDI], ENV_MMIO + 6);
	CHECK_EQ(env.regs[EMU_RCX], ~0ULL - 6);
	CHECK(c->rflags & EMU_FL_ZF);
	CHECK_EQ(env.nlog, 6);

	c = ENV(M64, 0xf3, 0xaf); /* repe scasd, DF=1 */
	env_set_mmio64(ENV_MMIO + 0x10, 0x1111111111111111);
	env_set_mmio64(ENV_MMIO + 0x08, 0x2222222211111111);
	env.regs[EMU_RDI] = ENV_MMIO + 0x14;
	env.regs[EMU_RCX] = 10;
	env.regs[EMU_RAX] = 0x11111111;
	c->rflags |= EMU_FL_DF;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.nlog, 3); /* 0x14 and 0x10 equal, 0x0c (0x22222222) differs */
	CHECK_EQ(env.regs[EMU_RCX], 7);
	CHECK_EQ(env.regs[EMU_RDI], ENV_MMIO + 0x08);
	CHECK(!(c->rflags & EMU_FL_ZF));

	c = ENV(M64, 0xf3, 0xae); /* repe scasb with rcx = 0: no access, flags kept */
	env.regs[EMU_RDI] = ENV_MMIO;
	c->rflags = 0x2 | EMU_FL_CF;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.nlog, 0);
	CHECK_EQ(c->rflags, 0x2 | EMU_FL_CF);
	CHECK_EQ(c->rip, ENV_CODE + 2);
}

/* A long REPE CMPS over equal buffers runs in batches: EMU_CONTINUE with rip at the instruction. */
TEST(ops_repe_cmps_batches)
{
	struct emu_ctxt *c = ENV(M64, 0xf3, 0x48, 0xa7); /* repe cmpsq */
	unsigned int calls = 0;
	enum emu_result r;

	env.regs[EMU_RSI] = ENV_MMIO;
	env.regs[EMU_RDI] = ENV_RAM;
	env.regs[EMU_RCX] = 100;
	c->rep_batch = 16;
	while ((r = env_run()) == EMU_CONTINUE) {
		CHECK_EQ(c->rip, ENV_CODE);
		calls++;
	}
	CHECK_EQ(r, EMU_OK);
	CHECK_EQ(calls, 6);
	CHECK_EQ(env.regs[EMU_RCX], 0);
	CHECK(c->rflags & EMU_FL_ZF);
	CHECK_EQ(c->rip, ENV_CODE + 3);
}

/* 16-bit addressing: SI and DI wrap at 64K, the source segment can be overridden, the destination cannot. */
TEST(ops_cmps_real_mode)
{
	struct emu_ctxt *c = ENV(M16, 0x26, 0xf3, 0xa6); /* repe cmpsb es:[si], es:[di] */

	c->seg_base[EMU_SEG_ES] = ENV_RAM;
	c->seg_base[EMU_SEG_DS] = ENV_MMIO; /* not used: the override names ES */
	env.ram[0xffff] = 'a';
	env.ram[0x0000] = 'b';
	env.ram[0x100] = 'a';
	env.ram[0x101] = 'c';
	env.regs[EMU_RSI] = 0xffff;
	env.regs[EMU_RDI] = 0x100;
	env.regs[EMU_RCX] = 0x10005; /* CX = 5 */
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RSI], 1); /* wrapped */
	CHECK_EQ(env.regs[EMU_RDI], 0x102);
	CHECK_EQ(env.regs[EMU_RCX], 0x10003);
	CHECK(!(c->rflags & EMU_FL_ZF));
	check_access(0, false, ENV_RAM + 0xffff, 1, 'a');
}

/* A fault in the second element leaves the first one done, flags included, and rip at the instruction. */
TEST(ops_cmps_fault_midway)
{
	struct emu_ctxt *c = ENV(M64, 0xf3, 0xa6);

	env.regs[EMU_RSI] = ENV_MMIO + ENV_MMIO_SIZE - 1;
	env.regs[EMU_RDI] = ENV_RAM;
	env.regs[EMU_RCX] = 4;
	env.mmio[ENV_MMIO_SIZE - 1] = 0;
	CHECK_EQ(emu_run(c), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_PF);
	CHECK_EQ(c->exc.cr2, ENV_MMIO + ENV_MMIO_SIZE);
	CHECK_EQ(env.regs[EMU_RCX], 3);
	CHECK(c->rflags & EMU_FL_ZF);
	CHECK_EQ(c->rip, ENV_CODE);
}

TEST(ops_cmpxchg8b)
{
	struct emu_ctxt *c = ENV(M64, 0xf0, 0x0f, 0xc7, 0x0e); /* lock cmpxchg8b [rsi]: equal */

	env.regs[EMU_RSI] = ENV_MMIO;
	env_set_mmio64(ENV_MMIO, 0x1111111122222222);
	env.regs[EMU_RDX] = 0xffffffff11111111; /* only EDX:EAX count */
	env.regs[EMU_RAX] = 0x22222222;
	env.regs[EMU_RCX] = 0xcccccccc;
	env.regs[EMU_RBX] = 0xbbbbbbbb;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.nlog, 2);
	check_access(0, false, ENV_MMIO, 8, 0x1111111122222222);
	check_access(1, true, ENV_MMIO, 8, 0xccccccccbbbbbbbb);
	CHECK(c->rflags & EMU_FL_ZF);
	CHECK_EQ(env.regs[EMU_RDX], 0xffffffff11111111); /* not written on a match */

	c = ENV(M64, 0x0f, 0xc7, 0x0e); /* different: EDX:EAX loaded (zero-extended), no write, only ZF changes */
	env.regs[EMU_RSI] = ENV_MMIO;
	env_set_mmio64(ENV_MMIO, 0x1111111122222222);
	env.regs[EMU_RDX] = ~0ULL;
	env.regs[EMU_RAX] = ~0ULL;
	c->rflags = 0x2 | EMU_FL_ZF | EMU_FL_CF;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.nlog, 1);
	CHECK_EQ(env.regs[EMU_RAX], 0x22222222);
	CHECK_EQ(env.regs[EMU_RDX], 0x11111111);
	CHECK_EQ(c->rflags, 0x2 | EMU_FL_CF);

	c = ENV(M32, 0x0f, 0xc7, 0x0f); /* 32-bit mode, through DS */
	c->seg_base[EMU_SEG_DS] = ENV_RAM;
	env.regs[EMU_RDI] = 0x40;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK(c->rflags & EMU_FL_ZF); /* zeros == EDX:EAX 0 */
	check_access(1, true, ENV_RAM + 0x40, 8, 0);
}

/* CMPXCHG16B: one 16-byte read and (on a match) one 16-byte write; a misaligned operand is #GP(0) with no access. */
TEST(ops_cmpxchg16b)
{
	struct emu_ctxt *c = ENV(M64, 0xf0, 0x48, 0x0f, 0xc7, 0x0e); /* lock cmpxchg16b [rsi] */

	env.regs[EMU_RSI] = ENV_RAM + 0x100;
	env_set_ram64(ENV_RAM + 0x100, 1);
	env_set_ram64(ENV_RAM + 0x108, 2);
	env.regs[EMU_RAX] = 1;
	env.regs[EMU_RDX] = 2;
	env.regs[EMU_RBX] = 0xb0b0;
	env.regs[EMU_RCX] = 0xc0c0;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.nlog, 2);
	CHECK_EQ(env.log[0].size, 16);
	CHECK_EQ(env.log[1].size, 16);
	CHECK_EQ(env_ram64(ENV_RAM + 0x100), 0xb0b0);
	CHECK_EQ(env_ram64(ENV_RAM + 0x108), 0xc0c0);
	CHECK(c->rflags & EMU_FL_ZF);

	c = ENV(M64, 0x48, 0x0f, 0xc7, 0x0e); /* mismatch: RDX:RAX loaded whole */
	env.regs[EMU_RSI] = ENV_RAM + 0x100;
	env_set_ram64(ENV_RAM + 0x100, 0x8000000000000001);
	env_set_ram64(ENV_RAM + 0x108, 0x9000000000000002);
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RAX], 0x8000000000000001);
	CHECK_EQ(env.regs[EMU_RDX], 0x9000000000000002);
	CHECK(!(c->rflags & EMU_FL_ZF));

	c = ENV(M64, 0x48, 0x0f, 0xc7, 0x0e);
	env.regs[EMU_RSI] = ENV_RAM + 0x108;
	CHECK_EQ(emu_run(c), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_GP);
	CHECK_EQ(c->exc.error_code, 0);
	CHECK_EQ(env.nlog, 0);

	c = ENV(M64, 0x64, 0x48, 0x0f, 0xc7, 0x0e); /* aligned offset, misaligned FS base: the linear address counts */
	c->seg_base[EMU_SEG_FS] = 8;
	env.regs[EMU_RSI] = ENV_RAM + 0x100;
	CHECK_EQ(emu_run(c), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_GP);
}

TEST(ops_movbe)
{
	struct emu_ctxt *c = ENV(M64, 0x0f, 0x38, 0xf1, 0x06); /* movbe [rsi], eax */

	env.regs[EMU_RSI] = ENV_MMIO;
	env.regs[EMU_RAX] = 0x11223344;
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(0, true, ENV_MMIO, 4, 0x44332211);

	c = ENV(M64, 0x66, 0x0f, 0x38, 0xf0, 0x06); /* movbe ax, [rsi]: the rest of rax kept */
	env.regs[EMU_RSI] = ENV_MMIO;
	env.regs[EMU_RAX] = 0xffffffffffffffff;
	env_set_mmio64(ENV_MMIO, 0xaabb);
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RAX], 0xffffffffffffbbaa);

	c = ENV(M64, 0x0f, 0x38, 0xf0, 0xc0); /* register form: #UD */
	CHECK_EQ(emu_run(c), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_UD);

	c = ENV(M64, 0xf2, 0x0f, 0x38, 0xf0, 0x06); /* CRC32 */
	CHECK_EQ(emu_run(c), EMU_UNHANDLED);
}

/* CMOVcc reads its memory source whatever the condition; SETcc writes one byte. */
TEST(ops_cmov_setcc_mmio)
{
	struct emu_ctxt *c = ENV(M64, 0x0f, 0x44, 0x06); /* cmove eax, [rsi], ZF clear */

	env.regs[EMU_RSI] = ENV_MMIO;
	env.regs[EMU_RAX] = 0xffffffff00000001;
	env_set_mmio64(ENV_MMIO, 0x1234);
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.nlog, 1);
	CHECK_EQ(env.regs[EMU_RAX], 1); /* not moved, but the 32-bit write still clears the upper half */

	c = ENV(M64, 0x66, 0x0f, 0x44, 0x06); /* cmove ax: a false 16-bit CMOV writes nothing */
	env.regs[EMU_RSI] = ENV_MMIO;
	env.regs[EMU_RAX] = 0xffffffff00000001;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RAX], 0xffffffff00000001);

	c = ENV(M64, 0x48, 0x0f, 0x4f, 0x06); /* cmovg rax, [rsi]: ZF=0, SF=OF */
	env.regs[EMU_RSI] = ENV_MMIO;
	env_set_mmio64(ENV_MMIO, 0x1234);
	c->rflags = 0x2 | EMU_FL_SF | EMU_FL_OF;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RAX], 0x1234);

	c = ENV(M64, 0x0f, 0x92, 0x06); /* setb [rsi] */
	env.regs[EMU_RSI] = ENV_MMIO + 3;
	c->rflags |= EMU_FL_CF;
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(0, true, ENV_MMIO + 3, 1, 1);
	c = ENV(M64, 0x0f, 0x9a, 0x3e); /* setp [rsi]: reg field ignored */
	env.regs[EMU_RSI] = ENV_MMIO + 3;
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(0, true, ENV_MMIO + 3, 1, 0);
}

/* Shifts by CL on device memory: one read, one write, even with a count of zero (as the CPU's RMW). */
TEST(ops_shift_mmio)
{
	struct emu_ctxt *c = ENV(M64, 0xd3, 0x26); /* shl dword [rsi], cl */

	env.regs[EMU_RSI] = ENV_MMIO;
	env.regs[EMU_RCX] = 0x24; /* masked to 4 */
	env_set_mmio64(ENV_MMIO, 0x10000001);
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.nlog, 2);
	check_access(1, true, ENV_MMIO, 4, 0x10);
	CHECK(c->rflags & EMU_FL_CF);

	c = ENV(M64, 0xd3, 0x3e); /* sar dword [rsi], cl with cl = 0: flags untouched */
	env.regs[EMU_RSI] = ENV_MMIO;
	env_set_mmio64(ENV_MMIO, 0x80000000);
	c->rflags = 0x2 | EMU_FL_ARITH;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.nlog, 2);
	check_access(1, true, ENV_MMIO, 4, 0x80000000);
	CHECK_EQ(c->rflags, 0x2 | EMU_FL_ARITH);

	c = ENV(M16, 0xd1, 0x2f); /* shr word [bx], 1 in real mode */
	c->seg_base[EMU_SEG_DS] = ENV_MMIO;
	env.regs[EMU_RBX] = 0x10;
	env_set_mmio64(ENV_MMIO + 0x10, 0x8001);
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(1, true, ENV_MMIO + 0x10, 2, 0x4000);
	CHECK_EQ(c->rflags & (EMU_FL_CF | EMU_FL_OF), EMU_FL_CF | EMU_FL_OF);
	CHECK_EQ(c->rip, 2);
}

/* DIV from device memory: #DE leaves every register and rip alone. */
TEST(ops_div_mmio_faults)
{
	struct emu_ctxt *c = ENV(M64, 0xf7, 0x36); /* div dword [rsi] */

	env.regs[EMU_RSI] = ENV_MMIO;
	env.regs[EMU_RAX] = 10;
	env.regs[EMU_RDX] = 0;
	env_set_mmio64(ENV_MMIO, 3);
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RAX], 3);
	CHECK_EQ(env.regs[EMU_RDX], 1);

	c = ENV(M64, 0xf7, 0x36);
	env.regs[EMU_RSI] = ENV_MMIO;
	env.regs[EMU_RAX] = 10;
	CHECK_EQ(emu_run(c), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_DE);
	CHECK(!c->exc.has_error);
	CHECK_EQ(env.regs[EMU_RAX], 10);
	CHECK_EQ(c->rip, ENV_CODE);
}

/* PUSH r/m: the value goes through the write callback at SS:rSP - size; a fault leaves rSP. */
TEST(ops_push_mem)
{
	struct emu_ctxt *c = ENV(M64, 0xff, 0x36); /* push qword [rsi] */

	env.regs[EMU_RSI] = ENV_MMIO;
	env.regs[EMU_RSP] = ENV_RAM + 0x1000;
	env_set_mmio64(ENV_MMIO, 0x1122334455667788);
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(0, false, ENV_MMIO, 8, 0x1122334455667788);
	check_access(1, true, ENV_RAM + 0xff8, 8, 0x1122334455667788);
	CHECK_EQ(env.regs[EMU_RSP], ENV_RAM + 0xff8);

	c = ENV(M64, 0x66, 0xff, 0x34, 0x24); /* push word [rsp]: the operand is read before the decrement */
	env.regs[EMU_RSP] = ENV_RAM + 0x1000;
	env_set_ram64(ENV_RAM + 0x1000, 0xbeef);
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(1, true, ENV_RAM + 0xffe, 2, 0xbeef);
	CHECK_EQ(env.regs[EMU_RSP], ENV_RAM + 0xffe);

	c = ENV(M64, 0xff, 0x36); /* the push faults: rSP unchanged */
	env.regs[EMU_RSI] = ENV_MMIO;
	env.regs[EMU_RSP] = 0x1000;
	CHECK_EQ(emu_run(c), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_PF);
	CHECK_EQ(env.regs[EMU_RSP], 0x1000);
}

/* A 16-bit stack wraps SP at 64K and keeps the upper half of ESP; stack_size picks a 32-bit one in real mode. */
TEST(ops_push_pop_stack_sizes)
{
	struct emu_ctxt *c = ENV(M16, 0xff, 0x37); /* push word [bx] */

	c->seg_base[EMU_SEG_SS] = ENV_RAM;
	c->seg_base[EMU_SEG_DS] = ENV_MMIO;
	env.regs[EMU_RSP] = 0xabcd0000;
	env.regs[EMU_RBX] = 0;
	env_set_mmio64(ENV_MMIO, 0x4242);
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(1, true, ENV_RAM + 0xfffe, 2, 0x4242);
	CHECK_EQ(env.regs[EMU_RSP], 0xabcdfffe);

	c = ENV(M16, 0x66, 0xff, 0x37); /* push dword [bx] on a 32-bit stack (unreal-mode style) */
	c->stack_size = 4;
	c->seg_base[EMU_SEG_DS] = ENV_MMIO;
	env.regs[EMU_RSP] = ENV_RAM + 0x100;
	env_set_mmio64(ENV_MMIO, 0xdeadbeef);
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(1, true, ENV_RAM + 0xfc, 4, 0xdeadbeef);
	CHECK_EQ(env.regs[EMU_RSP], ENV_RAM + 0xfc);

	c = ENV(M32, 0x8f, 0x06, 0x00, 0x00, 0x00, 0x00); /* pop dword [disp32] */
	env.regs[EMU_RSP] = ENV_RAM + 0x200;
	c->seg_base[EMU_SEG_DS] = ENV_MMIO;
	env_set_ram64(ENV_RAM + 0x200, 0x55aa55aa);
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(0, false, ENV_RAM + 0x200, 4, 0x55aa55aa);
	check_access(1, true, ENV_MMIO, 4, 0x55aa55aa);
	CHECK_EQ(env.regs[EMU_RSP], ENV_RAM + 0x204);
}

/* POP [rsp+8] addresses with the incremented rSP; POP into rSP keeps the popped value; a faulting store keeps
 * rSP. */
TEST(ops_pop_rsp_rules)
{
	struct emu_ctxt *c = ENV(M64, 0x8f, 0x44, 0x24, 0x08); /* pop qword [rsp+8] */

	env.regs[EMU_RSP] = ENV_RAM + 0x100;
	env_set_ram64(ENV_RAM + 0x100, 0x77);
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(1, true, ENV_RAM + 0x110, 8, 0x77);
	CHECK_EQ(env.regs[EMU_RSP], ENV_RAM + 0x108);

	c = ENV(M64, 0x8f, 0xc4); /* pop rsp */
	env.regs[EMU_RSP] = ENV_RAM + 0x100;
	env_set_ram64(ENV_RAM + 0x100, 0x1234);
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RSP], 0x1234);

	c = ENV(M64, 0x8f, 0x06); /* pop qword [rsi]: the store faults */
	env.regs[EMU_RSP] = ENV_RAM + 0x100;
	env.regs[EMU_RSI] = 0x10;
	CHECK_EQ(emu_run(c), EMU_EXCEPTION);
	CHECK_EQ(env.regs[EMU_RSP], ENV_RAM + 0x100);
	CHECK_EQ(c->rip, ENV_CODE);

	c = ENV(M64, 0x66, 0x8f, 0x06); /* pop word [rsi] */
	env.regs[EMU_RSP] = ENV_RAM + 0x100;
	env.regs[EMU_RSI] = ENV_MMIO;
	env_set_ram64(ENV_RAM + 0x100, 0xabcd);
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(1, true, ENV_MMIO, 2, 0xabcd);
	CHECK_EQ(env.regs[EMU_RSP], ENV_RAM + 0x102);
}

/* CALL r/m pushes the next rip and jumps; JMP r/m jumps; a non-canonical target is #GP(0) before the push. */
TEST(ops_call_jmp_mem)
{
	struct emu_ctxt *c = ENV(M64, 0xff, 0x16); /* call [rsi] */

	env.regs[EMU_RSI] = ENV_MMIO;
	env.regs[EMU_RSP] = ENV_RAM + 0x1000;
	env_set_mmio64(ENV_MMIO, 0xffffffff80001000);
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(c->rip, 0xffffffff80001000);
	check_access(1, true, ENV_RAM + 0xff8, 8, ENV_CODE + 2);
	CHECK_EQ(env.regs[EMU_RSP], ENV_RAM + 0xff8);

	c = ENV(M64, 0x66, 0xff, 0x26); /* jmp [rsi]: 64 bits even with 66 */
	env.regs[EMU_RSI] = ENV_MMIO;
	env_set_mmio64(ENV_MMIO, 0x0000123456789abc);
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(c->rip, 0x0000123456789abc);
	check_access(0, false, ENV_MMIO, 8, 0x0000123456789abc);

	c = ENV(M64, 0xff, 0x16);
	env.regs[EMU_RSI] = ENV_MMIO;
	env.regs[EMU_RSP] = ENV_RAM + 0x1000;
	env_set_mmio64(ENV_MMIO, 0x0000800000000000);
	CHECK_EQ(emu_run(c), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_GP);
	CHECK_EQ(env.nlog, 1);
	CHECK_EQ(env.regs[EMU_RSP], ENV_RAM + 0x1000);
	CHECK_EQ(c->rip, ENV_CODE);

	c = ENV(M32, 0x66, 0xff, 0x16); /* call word [esi] in 32-bit code: EIP's upper half cleared */
	c->rip = 0x12345678;
	memcpy(env.code + 0x678, (u8[]){0x66, 0xff, 0x16}, 3);
	c->seg_base[EMU_SEG_CS] = ENV_CODE - 0x12345000;
	env.regs[EMU_RSI] = ENV_MMIO - 0; /* DS base 0 */
	env.regs[EMU_RSP] = ENV_RAM + 0x100;
	env_set_mmio64(ENV_MMIO, 0xabcd);
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(c->rip, 0xabcd);
	check_access(1, true, ENV_RAM + 0xfe, 2, 0x567b);

	c = ENV(M16, 0xff, 0x27); /* jmp [bx] in real mode */
	c->seg_base[EMU_SEG_DS] = ENV_MMIO;
	env.regs[EMU_RBX] = 4;
	env_set_mmio64(ENV_MMIO + 4, 0x7c00);
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(c->rip, 0x7c00);
}

TEST(ops_xlat)
{
	struct emu_ctxt *c = ENV(M64, 0xd7); /* xlat: al = [rbx + al] */

	env.regs[EMU_RBX] = ENV_MMIO;
	env.regs[EMU_RAX] = 0x12345680; /* AL zero-extended: +0x80, not -0x80 */
	env.mmio[0x80] = 0x5a;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RAX], 0x1234565a);
	check_access(0, false, ENV_MMIO + 0x80, 1, 0x5a);

	c = ENV(M16, 0x26, 0xd7); /* es: xlat in real mode, BX + AL wraps at 64K */
	c->seg_base[EMU_SEG_ES] = ENV_MMIO;
	env.regs[EMU_RBX] = 0xffff;
	env.regs[EMU_RAX] = 0x02;
	env.mmio[1] = 0x99;
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(0, false, ENV_MMIO + 1, 1, 0x99);
	CHECK_EQ(env.regs[EMU_RAX], 0x99);
}

/* BMI on device memory: ANDN reads, writes the register only. */
TEST(ops_bmi_mmio)
{
	struct emu_ctxt *c = ENV(M64, 0xc4, 0xe2, 0x70, 0xf2, 0x06); /* andn eax, ecx, [rsi] */

	env.regs[EMU_RSI] = ENV_MMIO;
	env.regs[EMU_RCX] = 0xff00ff00;
	env_set_mmio64(ENV_MMIO, 0x12345678);
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.nlog, 1);
	CHECK_EQ(env.regs[EMU_RAX], 0x00340078);
}

/* LOCK on the new instructions: only CMPXCHG8B/16B with memory accept it. */
TEST(ops_lock_rules)
{
	static const u8 bad[][5] = {
	    {3, 0xf0, 0xd3, 0x26},	 /* lock shl [rsi], cl */
	    {3, 0xf0, 0xf7, 0x26},	 /* lock mul [rsi] */
	    {4, 0xf0, 0x0f, 0x44, 0x06}, /* lock cmove */
	    {4, 0xf0, 0x0f, 0x94, 0x06}, /* lock sete [rsi] */
	    {3, 0xf0, 0xff, 0x36},	 /* lock push [rsi] */
	    {2, 0xf0, 0xa6},		 /* lock cmpsb */
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct emu_ctxt *c = env_reset(M64, bad[i] + 1, bad[i][0]);
		env.regs[EMU_RSI] = ENV_MMIO;
		CHECK_EQ(emu_run(c), EMU_EXCEPTION);
		CHECK_EQ(c->exc.vector, EMU_VEC_UD);
		CHECK_EQ(env.nlog, 0);
	}
}

/* A LOCKed read-modify-write (and XCHG with memory) ends with the cmpxchg callback, given what was read; when memory
 * changed in between (another vCPU), nothing is written or changed and the guest re-executes it (EMU_RETRY). An
 * unlocked one writes plainly. */
TEST(ops_locked_rmw_atomic)
{
	struct emu_ctxt *c = ENV(M64, 0xf0, 0x01, 0x06); /* lock add [rsi], eax */

	env.regs[EMU_RSI] = ENV_RAM;
	env.regs[EMU_RAX] = 5;
	env_set_ram64(ENV_RAM, 10);
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.nlog, 2);
	CHECK(env.log[1].atomic);
	check_access(1, true, ENV_RAM, 4, 15);

	c = ENV(M64, 0xf0, 0x01, 0x06);
	env.regs[EMU_RSI] = ENV_RAM;
	env.regs[EMU_RAX] = 5;
	env_set_ram64(ENV_RAM, 10);
	env.changed = true;
	c->rflags = 0x2 | EMU_FL_CF;
	CHECK_EQ(emu_run(c), EMU_RETRY);
	CHECK_EQ(env_ram64(ENV_RAM), 10);
	CHECK_EQ(c->rflags, 0x2 | EMU_FL_CF);
	CHECK_EQ(c->rip, ENV_CODE);

	c = ENV(M64, 0x01, 0x06); /* add [rsi], eax: no LOCK, a plain write */
	env.regs[EMU_RSI] = ENV_RAM;
	env.changed = true;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK(!env.log[1].atomic);

	c = ENV(M64, 0x87, 0x1e); /* xchg [rsi], ebx: locked implicitly */
	env.regs[EMU_RSI] = ENV_RAM;
	env.regs[EMU_RBX] = 7;
	env.changed = true;
	CHECK_EQ(emu_run(c), EMU_RETRY);
	CHECK_EQ(env.regs[EMU_RBX], 7);

	c = ENV(M64, 0xf0, 0x0f, 0xba, 0x2e, 0x03); /* lock bts dword [rsi], 3 */
	env.regs[EMU_RSI] = ENV_RAM;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK(env.log[1].atomic);
	CHECK_EQ(env_ram64(ENV_RAM), 8);

	c = ENV(M64, 0xf0, 0x0f, 0xb1, 0x0e); /* lock cmpxchg [rsi], ecx: a match whose memory then changed */
	env.regs[EMU_RSI] = ENV_RAM;
	env.regs[EMU_RCX] = 9;
	env.changed = true;
	CHECK_EQ(emu_run(c), EMU_RETRY);
	CHECK_EQ(env_ram64(ENV_RAM), 0);
	c = ENV(M64, 0xf0, 0x0f, 0xb1, 0x0e); /* a mismatch writes nothing at all */
	env.regs[EMU_RSI] = ENV_RAM;
	env.regs[EMU_RAX] = 1;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.nlog, 1);
	CHECK_EQ(env.regs[EMU_RAX], 0);

	c = ENV(M64, 0xf0, 0x48, 0x0f, 0xc7, 0x0e); /* lock cmpxchg16b: one 16-byte cmpxchg */
	env.regs[EMU_RSI] = ENV_RAM + 0x20;
	env.regs[EMU_RBX] = 1;
	env.regs[EMU_RCX] = 2;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.nlog, 2);
	CHECK(env.log[1].atomic);
	CHECK_EQ(env.log[1].size, 16);
	CHECK_EQ(env_ram64(ENV_RAM + 0x28), 2);

	c = ENV(M64, 0xf0, 0xff, 0x06); /* lock inc [rsi] without a cmpxchg callback: a plain write */
	env.ops.cmpxchg = NULL;
	env.regs[EMU_RSI] = ENV_RAM;
	env.changed = true;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK(!env.log[1].atomic);
}
