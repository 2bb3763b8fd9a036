/* Unit tests of instruction execution (vm/emulate/exec.c, string.c, emulate.c) against a fake guest whose MMIO
 * window records every access: each test checks the device-visible accesses (order, address, size, value), the
 * registers, flags and rip afterwards, and what a fault or a refused instruction leaves behind. */
#include "test_emulate_env.h"

TEST(exec_mov_store_mmio)
{
	struct emu_ctxt *c = ENV(M64, 0x89, 0x18); /* mov [rax], ebx */

	env.regs[EMU_RAX] = ENV_MMIO + 0x10;
	env.regs[EMU_RBX] = 0x1122334455667788;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.nlog, 1);
	check_access(0, true, ENV_MMIO + 0x10, 4, 0x55667788);
	CHECK(env.log[0].mmio);
	CHECK_EQ(c->rip, ENV_CODE + 2);

	c = ENV(M64, 0x48, 0x89, 0x58, 0x08); /* mov [rax+8], rbx */
	env.regs[EMU_RAX] = ENV_MMIO;
	env.regs[EMU_RBX] = 0x1122334455667788;
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(0, true, ENV_MMIO + 8, 8, 0x1122334455667788);

	c = ENV(M64, 0x66, 0x89, 0x18); /* mov [rax], bx */
	env.regs[EMU_RAX] = ENV_MMIO;
	env.regs[EMU_RBX] = 0xabcd;
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(0, true, ENV_MMIO, 2, 0xabcd);
}

/* Byte registers: AH without REX, SPL with any REX. */
TEST(exec_mov_byte_registers)
{
	struct emu_ctxt *c = ENV(M64, 0x88, 0x23); /* mov [rbx], ah */

	env.regs[EMU_RBX] = ENV_MMIO;
	env.regs[EMU_RAX] = 0x5a00;
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(0, true, ENV_MMIO, 1, 0x5a);

	c = ENV(M64, 0x40, 0x88, 0x20); /* mov [rax], spl */
	env.regs[EMU_RAX] = ENV_MMIO;
	env.regs[EMU_RSP] = 0x77;
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(0, true, ENV_MMIO, 1, 0x77);

	c = ENV(M64, 0x8a, 0x3b); /* mov bh, [rbx] */
	env.regs[EMU_RBX] = ENV_MMIO + 0x100;
	env.mmio[0x100] = 0x5a;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RBX], ENV_MMIO + 0x5a00);
}

/* Loads: 32-bit results zero-extend, 8- and 16-bit ones keep the rest of the register. */
TEST(exec_mov_load_sizes)
{
	struct emu_ctxt *c = ENV(M64, 0x8b, 0x08); /* mov ecx, [rax] */

	env_set_mmio64(ENV_MMIO, 0x8877665544332211);
	env.regs[EMU_RAX] = ENV_MMIO;
	env.regs[EMU_RCX] = ~0ULL;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RCX], 0x44332211);
	check_access(0, false, ENV_MMIO, 4, 0x44332211);

	c = ENV(M64, 0x66, 0x8b, 0x08); /* mov cx, [rax] */
	env_set_mmio64(ENV_MMIO, 0x8877665544332211);
	env.regs[EMU_RAX] = ENV_MMIO;
	env.regs[EMU_RCX] = ~0ULL;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RCX], 0xffffffffffff2211);

	c = ENV(M64, 0x4c, 0x8b, 0x00); /* mov r8, [rax] */
	env_set_mmio64(ENV_MMIO, 0x8877665544332211);
	env.regs[EMU_RAX] = ENV_MMIO;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_R8], 0x8877665544332211);
	check_access(0, false, ENV_MMIO, 8, 0x8877665544332211);

	c = ENV(M64, 0x8a, 0x08); /* mov cl, [rax] */
	env.regs[EMU_RAX] = ENV_MMIO;
	env.regs[EMU_RCX] = 0xffff;
	env.mmio[0] = 0x42;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RCX], 0xff42);
}

TEST(exec_mov_immediate)
{
	struct emu_ctxt *c = ENV(M64, 0x48, 0xc7, 0x40, 0x08, 0xfe, 0xff, 0xff, 0xff); /* mov qword [rax+8], -2 */

	env.regs[EMU_RAX] = ENV_MMIO;
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(0, true, ENV_MMIO + 8, 8, 0xfffffffffffffffe);
	CHECK_EQ(c->rip, ENV_CODE + 8);

	c = ENV(M64, 0xc6, 0x00, 0xa5); /* mov byte [rax], 0xa5 */
	env.regs[EMU_RAX] = ENV_MMIO;
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(0, true, ENV_MMIO, 1, 0xa5);

	c = ENV(M16, 0xc7, 0x06, 0x34, 0x12, 0x78, 0x56); /* mov word [0x1234], 0x5678 */
	c->seg_base[EMU_SEG_DS] = ENV_MMIO - 0x1000;
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(0, true, ENV_MMIO - 0x1000 + 0x1234, 2, 0x5678);
	CHECK_EQ(c->rip, 6);
}

/* MOV moffs: the address-size offset, with a segment override (FS base counts in 64-bit mode). */
TEST(exec_mov_moffs)
{
	struct emu_ctxt *c = ENV(M64, 0xa1, 0x00, 0x00, 0xbf, 0xfe, 0x00, 0x00, 0x00, 0x00); /* mov eax, [moffs64] */

	env_set_mmio64(ENV_MMIO, 0xdeadbeefcafef00d);
	env.regs[EMU_RAX] = ~0ULL;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RAX], 0xcafef00d);
	CHECK_EQ(c->rip, ENV_CODE + 9);

	c = ENV(M64, 0x64, 0x48, 0xa3, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00); /* mov fs:[0x10], rax */
	c->seg_base[EMU_SEG_FS] = ENV_MMIO;
	env.regs[EMU_RAX] = 0x0123456789abcdef;
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(0, true, ENV_MMIO + 0x10, 8, 0x0123456789abcdef);

	c = ENV(M64, 0x67, 0xa2, 0x20, 0x00, 0xbf, 0xfe); /* mov [moffs32], al */
	env.regs[EMU_RAX] = 0x99;
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(0, true, ENV_MMIO + 0x20, 1, 0x99);
	CHECK_EQ(c->rip, ENV_CODE + 6);

	c = ENV(M32, 0xa1, 0x04, 0x00, 0x00, 0x00); /* mov eax, ds:[4] with a DS base */
	c->seg_base[EMU_SEG_DS] = ENV_MMIO;
	env_set_mmio64(ENV_MMIO, 0x1111111122222222);
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RAX], 0x11111111);
}

TEST(exec_movzx_movsx)
{
	struct emu_ctxt *c = ENV(M64, 0x0f, 0xb6, 0x08); /* movzx ecx, byte [rax] */

	env.regs[EMU_RAX] = ENV_MMIO;
	env.regs[EMU_RCX] = ~0ULL;
	env.mmio[0] = 0x80;
	env.mmio[1] = 0xff;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RCX], 0x80);
	check_access(0, false, ENV_MMIO, 1, 0x80);

	c = ENV(M64, 0x48, 0x0f, 0xbe, 0x08); /* movsx rcx, byte [rax] */
	env.regs[EMU_RAX] = ENV_MMIO;
	env.mmio[0] = 0x80;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RCX], 0xffffffffffffff80);

	c = ENV(M64, 0x0f, 0xbf, 0x08); /* movsx ecx, word [rax] */
	env.regs[EMU_RAX] = ENV_MMIO;
	env.mmio[0] = 0x00;
	env.mmio[1] = 0x80;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RCX], 0xffff8000);

	c = ENV(M64, 0x66, 0x0f, 0xb7, 0x08); /* movzx cx, word [rax] */
	env.regs[EMU_RAX] = ENV_MMIO;
	env.regs[EMU_RCX] = 0x12345678;
	env.mmio[0] = 0xcd;
	env.mmio[1] = 0xab;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RCX], 0x1234abcd);

	c = ENV(M64, 0x48, 0x63, 0x08); /* movsxd rcx, dword [rax] */
	env.regs[EMU_RAX] = ENV_MMIO;
	env_set_mmio64(ENV_MMIO, 0x80000000);
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RCX], 0xffffffff80000000);
	check_access(0, false, ENV_MMIO, 4, 0x80000000);

	c = ENV(M64, 0x63, 0x08); /* movsxd ecx, dword [rax]: no REX.W, a plain 32-bit move */
	env.regs[EMU_RAX] = ENV_MMIO;
	env.regs[EMU_RCX] = ~0ULL;
	env_set_mmio64(ENV_MMIO, 0x80000000);
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RCX], 0x80000000);
}

/* A read-modify-write on a device register: one read, one write, the flags of the operation. */
TEST(exec_alu_rmw_mmio)
{
	struct emu_ctxt *c = ENV(M64, 0x83, 0x08, 0x01); /* or dword [rax], 1 */

	env.regs[EMU_RAX] = ENV_MMIO + 4;
	env_set_mmio64(ENV_MMIO + 4, 0x80000000);
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.nlog, 2);
	check_access(0, false, ENV_MMIO + 4, 4, 0x80000000);
	check_access(1, true, ENV_MMIO + 4, 4, 0x80000001);
	CHECK_EQ(c->rflags & EMU_FL_ARITH, EMU_FL_SF);
	CHECK_EQ(c->rip, ENV_CODE + 3);

	c = ENV(M64, 0x01, 0x18); /* add [rax], ebx */
	env.regs[EMU_RAX] = ENV_MMIO;
	env.regs[EMU_RBX] = 1;
	env_set_mmio64(ENV_MMIO, 0xffffffff);
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(1, true, ENV_MMIO, 4, 0);
	CHECK_EQ(c->rflags & EMU_FL_ARITH, EMU_FL_CF | EMU_FL_ZF | EMU_FL_PF | EMU_FL_AF);

	c = ENV(M64, 0x48, 0x81, 0x28, 0x00, 0x01, 0x00, 0x00); /* sub qword [rax], 0x100 */
	env.regs[EMU_RAX] = ENV_RAM;
	env_set_ram64(ENV_RAM, 0x100);
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env_ram64(ENV_RAM), 0);
	CHECK(c->rflags & EMU_FL_ZF);

	c = ENV(M64, 0x80, 0x30, 0xff); /* xor byte [rax], 0xff */
	env.regs[EMU_RAX] = ENV_MMIO;
	env.mmio[0] = 0x0f;
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(1, true, ENV_MMIO, 1, 0xf0);

	c = ENV(M64, 0x13, 0x08); /* adc ecx, [rax]: register destination, CF in */
	env.regs[EMU_RAX] = ENV_MMIO;
	env.regs[EMU_RCX] = 0xffffffff00000001;
	env_set_mmio64(ENV_MMIO, 5);
	c->rflags |= EMU_FL_CF;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RCX], 7);
	CHECK_EQ(env.nlog, 1);

	c = ENV(M64, 0x48, 0x2d, 0x01, 0x00, 0x00, 0x00); /* sub rax, 1 */
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RAX], ~0ULL);
	CHECK_EQ(c->rflags & EMU_FL_ARITH, EMU_FL_CF | EMU_FL_SF | EMU_FL_PF | EMU_FL_AF);
}

/* CMP and TEST read the device register once and never write it. */
TEST(exec_cmp_test_read_only)
{
	static const u8 encodings[][4] = {
	    {3, 0x83, 0x38, 0x05}, /* cmp dword [rax], 5 */
	    {2, 0x39, 0x18},	   /* cmp [rax], ebx */
	    {2, 0x3b, 0x18},	   /* cmp ebx, [rax] */
	    {2, 0x85, 0x18},	   /* test [rax], ebx */
	    {3, 0xf6, 0x00, 0x04}, /* test byte [rax], 4 */
	};

	for (size_t i = 0; i < ARRAY_SIZE(encodings); i++) {
		struct emu_ctxt *c = env_reset(M64, encodings[i] + 1, encodings[i][0]);
		env.regs[EMU_RAX] = ENV_MMIO;
		env.regs[EMU_RBX] = 5;
		env_set_mmio64(ENV_MMIO, 5);
		CHECK_EQ(emu_run(c), EMU_OK);
		CHECK_EQ(env.nlog, 1);
		CHECK(!env.log[0].write);
		CHECK_EQ(env_mmio64(ENV_MMIO), 5);
		CHECK_EQ(c->rip, ENV_CODE + encodings[i][0]);
	}
	struct emu_ctxt *c = ENV(M64, 0x83, 0x38, 0x06); /* cmp dword [rax], 6: 5 - 6 borrows */
	env.regs[EMU_RAX] = ENV_MMIO;
	env_set_mmio64(ENV_MMIO, 5);
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(c->rflags & EMU_FL_ARITH, EMU_FL_CF | EMU_FL_SF | EMU_FL_PF | EMU_FL_AF);

	c = ENV(M64, 0xa8, 0x80); /* test al, 0x80 */
	env.regs[EMU_RAX] = 0x80;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(c->rflags & EMU_FL_ARITH, EMU_FL_SF);
}

TEST(exec_inc_dec_not_neg)
{
	struct emu_ctxt *c = ENV(M64, 0xff, 0x00); /* inc dword [rax]: CF kept */

	env.regs[EMU_RAX] = ENV_MMIO;
	env_set_mmio64(ENV_MMIO, 0x7fffffff);
	c->rflags |= EMU_FL_CF;
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(1, true, ENV_MMIO, 4, 0x80000000);
	CHECK_EQ(c->rflags & EMU_FL_ARITH, EMU_FL_CF | EMU_FL_OF | EMU_FL_SF | EMU_FL_AF | EMU_FL_PF);

	c = ENV(M64, 0xfe, 0x08); /* dec byte [rax] */
	env.regs[EMU_RAX] = ENV_MMIO;
	env.mmio[0] = 1;
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(1, true, ENV_MMIO, 1, 0);
	CHECK_EQ(c->rflags & EMU_FL_ARITH, EMU_FL_ZF | EMU_FL_PF);

	c = ENV(M64, 0x66, 0xf7, 0x10); /* not word [rax]: no flags */
	env.regs[EMU_RAX] = ENV_MMIO;
	env_set_mmio64(ENV_MMIO, 0x00ff);
	c->rflags = 0x2 | EMU_FL_ARITH;
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(1, true, ENV_MMIO, 2, 0xff00);
	CHECK_EQ(c->rflags, 0x2 | EMU_FL_ARITH);

	c = ENV(M64, 0x48, 0xf7, 0x18); /* neg qword [rax] */
	env.regs[EMU_RAX] = ENV_MMIO;
	env_set_mmio64(ENV_MMIO, 1);
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(1, true, ENV_MMIO, 8, ~0ULL);
	CHECK_EQ(c->rflags & EMU_FL_ARITH, EMU_FL_CF | EMU_FL_SF | EMU_FL_PF | EMU_FL_AF);
}

TEST(exec_xchg)
{
	struct emu_ctxt *c = ENV(M64, 0x87, 0x18); /* xchg [rax], ebx */

	env.regs[EMU_RAX] = ENV_MMIO;
	env.regs[EMU_RBX] = 0xffffffff00000001;
	env_set_mmio64(ENV_MMIO, 0x22);
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.nlog, 2);
	check_access(0, false, ENV_MMIO, 4, 0x22);
	check_access(1, true, ENV_MMIO, 4, 1);
	CHECK_EQ(env.regs[EMU_RBX], 0x22);

	c = ENV(M64, 0xf0, 0x86, 0x20); /* lock xchg [rax], ah */
	env.regs[EMU_RAX] = ENV_RAM + 0x1200;
	env.ram[0x1200] = 0x77;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.ram[0x1200], 0x12);
	CHECK_EQ(env.regs[EMU_RAX], ENV_RAM + 0x7700);

	c = ENV(M64, 0x48, 0x87, 0xd9); /* xchg rcx, rbx */
	env.regs[EMU_RCX] = 1;
	env.regs[EMU_RBX] = 2;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RCX], 2);
	CHECK_EQ(env.regs[EMU_RBX], 1);
}

/* BT with a register offset reaches outside the addressed operand, in whole operands, backwards too. */
TEST(exec_bit_tests)
{
	struct emu_ctxt *c = ENV(M64, 0x0f, 0xab, 0x18); /* bts [rax], ebx */

	env.regs[EMU_RAX] = ENV_MMIO + 0x100;
	env.regs[EMU_RBX] = 35;
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(0, false, ENV_MMIO + 0x104, 4, 0);
	check_access(1, true, ENV_MMIO + 0x104, 4, 8);
	CHECK(!(c->rflags & EMU_FL_CF));

	c = ENV(M64, 0x0f, 0xa3, 0x18); /* bt [rax], ebx with ebx = -1: bit 31 of the dword before */
	env.regs[EMU_RAX] = ENV_MMIO + 0x100;
	env.regs[EMU_RBX] = 0xffffffff;
	env_set_mmio64(ENV_MMIO + 0xfc, 0x80000000);
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.nlog, 1);
	check_access(0, false, ENV_MMIO + 0xfc, 4, 0x80000000);
	CHECK(c->rflags & EMU_FL_CF);

	c = ENV(M64, 0x66, 0x0f, 0xb3, 0x18); /* btr [rax], bx with bx = -17 */
	env.regs[EMU_RAX] = ENV_MMIO + 0x100;
	env.regs[EMU_RBX] = 0xffef;
	env_set_mmio64(ENV_MMIO + 0xfc, 0xffff);
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(1, true, ENV_MMIO + 0xfc, 2, 0x7fff);
	CHECK(c->rflags & EMU_FL_CF);

	c = ENV(M64, 0x48, 0x0f, 0xba, 0x38, 0x47); /* btc qword [rax], 0x47: immediate wraps to bit 7 */
	env.regs[EMU_RAX] = ENV_MMIO;
	env_set_mmio64(ENV_MMIO, 0x80);
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(0, false, ENV_MMIO, 8, 0x80);
	check_access(1, true, ENV_MMIO, 8, 0);
	CHECK(c->rflags & EMU_FL_CF);
	CHECK_EQ(c->rip, ENV_CODE + 5);

	c = ENV(M64, 0x0f, 0xa3, 0xd8); /* bt eax, ebx: a register operand masks the offset */
	env.regs[EMU_RAX] = 1;
	env.regs[EMU_RBX] = 32;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK(c->rflags & EMU_FL_CF);
	CHECK_EQ(env.nlog, 0);
}

TEST(exec_cmpxchg)
{
	struct emu_ctxt *c = ENV(M64, 0xf0, 0x0f, 0xb1, 0x08); /* lock cmpxchg [rax], ecx: equal */

	env.regs[EMU_RAX] = ENV_RAM;
	env.regs[EMU_RCX] = 0x99;
	env_set_ram64(ENV_RAM, ENV_RAM & 0xffffffff);
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env_ram64(ENV_RAM), 0x99);
	CHECK(c->rflags & EMU_FL_ZF);
	CHECK_EQ(env.regs[EMU_RAX], ENV_RAM);

	c = ENV(M64, 0x0f, 0xb1, 0x0b); /* cmpxchg [rbx], ecx: different, eax gets the memory, memory is not written */
	env.regs[EMU_RAX] = 0xffffffff00000005;
	env.regs[EMU_RBX] = ENV_MMIO;
	env.regs[EMU_RCX] = 0x99;
	env_set_mmio64(ENV_MMIO, 7);
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.nlog, 1);
	CHECK_EQ(env.regs[EMU_RAX], 7);
	CHECK(!(c->rflags & EMU_FL_ZF));
	CHECK(c->rflags & EMU_FL_CF); /* 5 - 7 borrows */

	c = ENV(M64, 0x0f, 0xb0, 0x0b); /* cmpxchg [rbx], cl */
	env.regs[EMU_RAX] = 0x107;
	env.regs[EMU_RBX] = ENV_MMIO;
	env.regs[EMU_RCX] = 0x42;
	env_set_mmio64(ENV_MMIO, 7);
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(1, true, ENV_MMIO, 1, 0x42);
}

TEST(exec_xadd)
{
	struct emu_ctxt *c = ENV(M64, 0x0f, 0xc1, 0x08); /* xadd [rax], ecx */

	env.regs[EMU_RAX] = ENV_MMIO;
	env.regs[EMU_RCX] = 3;
	env_set_mmio64(ENV_MMIO, 0xfffffffe);
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(1, true, ENV_MMIO, 4, 1);
	CHECK_EQ(env.regs[EMU_RCX], 0xfffffffe);
	CHECK(c->rflags & EMU_FL_CF);

	c = ENV(M64, 0x0f, 0xc1, 0xc0); /* xadd eax, eax: the destination is written last */
	env.regs[EMU_RAX] = 5;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RAX], 10);
}

/* RIP-relative operands count from the end of the instruction. */
TEST(exec_rip_relative)
{
	struct emu_ctxt *c = ENV(M64, 0x8b, 0x05, 0x00, 0x00, 0x00, 0x00); /* mov eax, [rip + disp] */
	s32 disp = (s32)(ENV_RAM + 0x40 - (ENV_CODE + 6));		   /* backwards from the code */

	memcpy(env.code + 2, &disp, 4);
	env_set_ram64(ENV_RAM + 0x40, 0x600d);
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RAX], 0x600d);
	check_access(0, false, ENV_RAM + 0x40, 4, 0x600d);
}

/* LOCK is #UD except on a read-modify-write with a memory destination. */
TEST(exec_lock_rules)
{
	static const u8 bad[][4] = {
	    {3, 0xf0, 0x89, 0x18}, /* lock mov [rax], ebx */
	    {3, 0xf0, 0x01, 0xd8}, /* lock add eax, ebx */
	    {3, 0xf0, 0x39, 0x18}, /* lock cmp [rax], ebx */
	    {3, 0xf0, 0x0f, 0xa3}, /* lock bt (needs modrm, below) */
	    {2, 0xf0, 0xa5},	   /* lock movsd */
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		u8 code[8] = {0};
		memcpy(code, bad[i] + 1, bad[i][0]);
		if (code[1] == 0x0f)
			code[3] = 0x18;
		struct emu_ctxt *c = env_reset(M64, code, sizeof(code));
		env.regs[EMU_RAX] = ENV_MMIO;
		CHECK_EQ(emu_run(c), EMU_EXCEPTION);
		CHECK_EQ(c->exc.vector, EMU_VEC_UD);
		CHECK(!c->exc.has_error);
		CHECK_EQ(env.nlog, 0);
		CHECK_EQ(c->rip, ENV_CODE);
	}
	struct emu_ctxt *c = ENV(M64, 0xf0, 0x01, 0x18); /* lock add [rax], ebx */
	env.regs[EMU_RAX] = ENV_MMIO;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.nlog, 2);
}

/* rep movsb from RAM to a device: every byte is one device write, in order; registers end where the CPU's do. */
TEST(exec_rep_movsb_to_mmio)
{
	struct emu_ctxt *c = ENV(M64, 0xf3, 0xa4);

	memcpy(env.ram, "hello", 5);
	env.regs[EMU_RSI] = ENV_RAM;
	env.regs[EMU_RDI] = ENV_MMIO;
	env.regs[EMU_RCX] = 5;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.nlog, 10);
	for (unsigned int i = 0; i < 5; i++) {
		check_access(2 * i, false, ENV_RAM + i, 1, (u8) "hello"[i]);
		check_access(2 * i + 1, true, ENV_MMIO + i, 1, (u8) "hello"[i]);
	}
	CHECK_EQ(env.regs[EMU_RCX], 0);
	CHECK_EQ(env.regs[EMU_RSI], ENV_RAM + 5);
	CHECK_EQ(env.regs[EMU_RDI], ENV_MMIO + 5);
	CHECK_EQ(c->rip, ENV_CODE + 2);
}

/* DF=1 walks down; STOS stores the accumulator at ES:rDI. */
TEST(exec_rep_stosd_backwards)
{
	struct emu_ctxt *c = ENV(M32, 0xf3, 0xab);

	c->rflags |= EMU_FL_DF;
	c->seg_base[EMU_SEG_ES] = ENV_MMIO;
	c->seg_base[EMU_SEG_DS] = 0x1000; /* must not matter: STOS uses ES */
	env.regs[EMU_RDI] = 0x18;
	env.regs[EMU_RCX] = 3;
	env.regs[EMU_RAX] = 0xa5a5a5a5;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.nlog, 3);
	check_access(0, true, ENV_MMIO + 0x18, 4, 0xa5a5a5a5);
	check_access(1, true, ENV_MMIO + 0x14, 4, 0xa5a5a5a5);
	check_access(2, true, ENV_MMIO + 0x10, 4, 0xa5a5a5a5);
	CHECK_EQ(env.regs[EMU_RDI], 0xc);
	CHECK_EQ(env.regs[EMU_RCX], 0);
}

TEST(exec_lods_and_single_movs)
{
	struct emu_ctxt *c = ENV(M64, 0x66, 0xad); /* lodsw */

	env.regs[EMU_RSI] = ENV_MMIO;
	env.regs[EMU_RAX] = 0x1111111111111111;
	env_set_mmio64(ENV_MMIO, 0xbeef);
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RAX], 0x111111111111beef);
	CHECK_EQ(env.regs[EMU_RSI], ENV_MMIO + 2);

	c = ENV(M64, 0x48, 0xa5); /* movsq, no REP: RCX untouched */
	env.regs[EMU_RSI] = ENV_MMIO;
	env.regs[EMU_RDI] = ENV_RAM;
	env.regs[EMU_RCX] = 77;
	env_set_mmio64(ENV_MMIO, 0x0102030405060708);
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env_ram64(ENV_RAM), 0x0102030405060708);
	CHECK_EQ(env.regs[EMU_RCX], 77);
	CHECK_EQ(env.regs[EMU_RDI], ENV_RAM + 8);

	c = ENV(M64, 0x65, 0xac); /* lodsb gs:[rsi]: the source segment can be overridden */
	c->seg_base[EMU_SEG_GS] = ENV_MMIO;
	env.regs[EMU_RSI] = 3;
	env.mmio[3] = 0x3c;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RAX] & 0xff, 0x3c);
}

/* A count of zero does nothing but move past the instruction. */
TEST(exec_rep_count_zero)
{
	struct emu_ctxt *c = ENV(M64, 0xf3, 0x48, 0xa5);

	env.regs[EMU_RSI] = 0xdead0000; /* unmapped: any access would fault */
	env.regs[EMU_RDI] = 0xdead0000;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.nlog, 0);
	CHECK_EQ(env.regs[EMU_RSI], 0xdead0000);
	CHECK_EQ(c->rip, ENV_CODE + 3);

	/* Only the address-size part of RCX counts: ECX = 0 with 67. */
	c = ENV(M64, 0x67, 0xf3, 0xaa);
	env.regs[EMU_RCX] = 0x100000000;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.nlog, 0);
	CHECK_EQ(env.regs[EMU_RCX], 0x100000000);
}

/* A long REP runs in batches: EMU_CONTINUE with rip unchanged and the registers part-way, then completion. */
TEST(exec_rep_batches)
{
	struct emu_ctxt *c = ENV(M64, 0xf3, 0xaa); /* rep stosb */
	unsigned int calls = 0;
	enum emu_result r;

	c->rep_batch = 16;
	env.regs[EMU_RDI] = ENV_RAM;
	env.regs[EMU_RCX] = 40;
	env.regs[EMU_RAX] = 0xee;
	r = env_run();
	CHECK_EQ(r, EMU_CONTINUE);
	CHECK_EQ(c->rip, ENV_CODE);
	CHECK_EQ(env.regs[EMU_RCX], 24);
	CHECK_EQ(env.regs[EMU_RDI], ENV_RAM + 16);
	for (calls = 1; r == EMU_CONTINUE && calls < 10; calls++)
		r = env_run();
	CHECK_EQ(r, EMU_OK);
	CHECK_EQ(calls, 3);
	CHECK_EQ(env.nlog, 40);
	CHECK_EQ(env.regs[EMU_RCX], 0);
	CHECK_EQ(c->rip, ENV_CODE + 2);
	for (unsigned int i = 0; i < 40; i++)
		CHECK_EQ(env.ram[i], 0xee);
	CHECK_EQ(env.ram[40], 0);

	/* The default batch bounds a huge count too. */
	c = ENV(M64, 0xf3, 0x48, 0xab);
	env.regs[EMU_RDI] = ENV_RAM;
	env.regs[EMU_RCX] = ~0ULL;
	CHECK_EQ(emu_run(c), EMU_CONTINUE);
	CHECK_EQ(env.regs[EMU_RCX], ~0ULL - EMU_REP_BATCH);
}

/* The iteration after which a breakpoint hit (the 5th write here) ends the batch; the last one goes on to OK. */
static bool stop_after_5th(void *opaque)
{
	(void)opaque;
	return env.nlog == 5 || env.nlog == 8;
}

/* rep_stop ends a batch after the iteration that hit a breakpoint (SDM Vol. 3B 18.3.1.2: the trap follows that
 * iteration), with RIP at the REP and the registers counting the iterations done; a stop on the last iteration
 * completes the instruction. */
TEST(exec_rep_stop)
{
	struct emu_ctxt *c = ENV(M64, 0xf3, 0xaa); /* rep stosb */

	env.ops.rep_stop = stop_after_5th;
	env.regs[EMU_RDI] = ENV_RAM;
	env.regs[EMU_RCX] = 8;
	CHECK_EQ(env_run(), EMU_CONTINUE);
	CHECK_EQ(c->rip, ENV_CODE);
	CHECK_EQ(env.nlog, 5);
	CHECK_EQ(env.regs[EMU_RCX], 3);
	CHECK_EQ(env.regs[EMU_RDI], ENV_RAM + 5);
	CHECK_EQ(env_run(), EMU_OK);
	CHECK_EQ(c->rip, ENV_CODE + 2);
	CHECK_EQ(env.nlog, 8);
	CHECK_EQ(env.regs[EMU_RCX], 0);
}

/* 16-bit addressing: SI, DI and CX wrap within 16 bits and the upper bits stay. */
TEST(exec_rep_movs_16bit_wrap)
{
	struct emu_ctxt *c = ENV(M16, 0xf3, 0xa4);

	c->seg_base[EMU_SEG_DS] = ENV_RAM;
	c->seg_base[EMU_SEG_ES] = ENV_RAM;
	env.regs[EMU_RSI] = 0xabcd0000;
	env.regs[EMU_RDI] = 0x1234ffff;
	env.regs[EMU_RCX] = 0x55550002;
	env.ram[0] = 1;
	env.ram[1] = 2;
	CHECK_EQ(emu_run(c), EMU_OK);
	check_access(0, false, ENV_RAM, 1, 1);
	check_access(1, true, ENV_RAM + 0xffff, 1, 1);
	check_access(2, false, ENV_RAM + 1, 1, 2);
	check_access(3, true, ENV_RAM, 1, 2);
	CHECK_EQ(env.regs[EMU_RDI], 0x12340001);
	CHECK_EQ(env.regs[EMU_RSI], 0xabcd0002);
	CHECK_EQ(env.regs[EMU_RCX], 0x55550000);
}

/* A fault part-way through a REP: rip stays, the registers count the iterations done, the fault is the guest's. */
TEST(exec_rep_fault_midway)
{
	struct emu_ctxt *c = ENV(M64, 0xf3, 0x48, 0xab); /* rep stosq into the last 16 bytes of RAM */

	env.regs[EMU_RDI] = ENV_RAM + ENV_RAM_SIZE - 16;
	env.regs[EMU_RCX] = 4;
	CHECK_EQ(emu_run(c), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_PF);
	CHECK_EQ(c->exc.cr2, ENV_RAM + ENV_RAM_SIZE);
	CHECK_EQ(c->exc.error_code, ENV_PF_W);
	CHECK_EQ(env.regs[EMU_RCX], 2);
	CHECK_EQ(env.regs[EMU_RDI], ENV_RAM + ENV_RAM_SIZE);
	CHECK_EQ(c->rip, ENV_CODE);
	CHECK_EQ(env.nlog, 2);
}

/* A fault on the write of a read-modify-write leaves registers and flags alone. */
TEST(exec_fault_leaves_state)
{
	struct emu_ctxt *c = ENV(M64, 0x0f, 0xc1, 0x08); /* xadd [rax], ecx */

	env.regs[EMU_RAX] = ENV_MMIO;
	env.regs[EMU_RCX] = 1;
	env.write_ret = -EAGAIN;
	c->rflags = 0x2;
	CHECK_EQ(emu_run(c), EMU_RETRY);
	CHECK_EQ(env.regs[EMU_RCX], 1);
	CHECK_EQ(c->rflags, 0x2);
	CHECK_EQ(c->rip, ENV_CODE);

	c = ENV(M64, 0x83, 0x00, 0xff); /* add dword [rax], -1 with the write failing in the device model */
	env.regs[EMU_RAX] = ENV_MMIO;
	env_set_mmio64(ENV_MMIO, 1);
	env.write_ret = -EIO;
	CHECK_EQ(emu_run(c), EMU_ERROR);
	CHECK_EQ(c->error, -EIO);
	CHECK_EQ(c->rflags, 0x2);

	c = ENV(M64, 0x8b, 0x08); /* a read callback's positive non-fault return is an error, never success */
	env.regs[EMU_RAX] = ENV_MMIO;
	env.regs[EMU_RCX] = 0x1234;
	env.read_ret = 7;
	CHECK_EQ(emu_run(c), EMU_ERROR);
	CHECK_EQ(c->error, -EIO);
	CHECK_EQ(env.regs[EMU_RCX], 0x1234);
}

/* Callbacks' results: a fault passes through whole, -EAGAIN is a retry, other errors are errors. */
TEST(exec_callback_results)
{
	struct emu_ctxt *c = ENV(M64, 0x8b, 0x00);

	env.regs[EMU_RAX] = 0x7000; /* unmapped in the fake guest: #PF from the callback */
	CHECK_EQ(emu_run(c), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_PF);
	CHECK_EQ(c->exc.cr2, 0x7000);
	CHECK_EQ(c->exc.error_code, 0);
	CHECK_EQ(c->rip, ENV_CODE);

	c = ENV(M64, 0x8b, 0x00);
	env.regs[EMU_RAX] = ENV_MMIO;
	env.read_ret = -EAGAIN;
	CHECK_EQ(emu_run(c), EMU_RETRY);

	c = ENV(M64, 0x8b, 0x00);
	env.regs[EMU_RAX] = ENV_MMIO;
	env.read_ret = -ENODEV;
	CHECK_EQ(emu_run(c), EMU_ERROR);
	CHECK_EQ(c->error, -ENODEV);

	c = ENV(M64, 0x89, 0x00);
	env.regs[EMU_RAX] = ENV_MMIO;
	env.ops.write = NULL;
	CHECK_EQ(emu_run(c), EMU_ERROR);

	/* emu_execute without a decoded instruction does nothing. */
	c = ENV(M64, 0x89, 0x00);
	CHECK_EQ(emu_execute(c), EMU_UNHANDLED);
	CHECK_EQ(env.nlog, 0);
}
