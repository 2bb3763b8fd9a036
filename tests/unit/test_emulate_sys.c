/* Unit tests of the system instructions (vm/emulate/system.c) against a fake system-state table that records every
 * call: real mode first (the VMX real-mode caller's case: 16-bit defaults, 66/67 prefixes as in `lgdtl` or a
 * `movl %eax, %cr0` there), then protected and 64-bit mode; the checks the instructions make themselves (#UD, CPL,
 * UMIP, LMSW never clearing PE); a NULL table or member leaving them EMU_UNHANDLED. SDM Vol. 2 (LGDT/LIDT, SGDT,
 * SMSW, LMSW, MOV CR, MOV DR, SLDT, STR, RDMSR/WRMSR, INVLPG, HLT) is the reference for each rule. */
#include "test_emulate_env.h"

static struct {
	u64 cr[9], dr[8], msr_val;
	u32 msr_index;
	u16 gdt_limit, idt_limit, ldtr, tr;
	u64 gdt_base, idt_base;
	unsigned int set_cr_calls, set_dt_calls, halts, invlpgs, wbinvds, wrmsrs, set_drs;
	u64 last_invlpg;
	int fault_set_cr; /* set_cr raises #GP when the value has this bit set (0: never) */
} sys;

static int f_get_cr(void *opaque, unsigned int cr, u64 *val)
{
	CHECK(cr <= 8);
	*val = sys.cr[cr];
	return 0;
}

static int f_set_cr(void *opaque, unsigned int cr, u64 val, struct emu_fault *fault)
{
	CHECK(cr == 0 || cr == 2 || cr == 3 || cr == 4 || cr == 8);
	sys.set_cr_calls++;
	if (sys.fault_set_cr && (val & BIT(sys.fault_set_cr))) {
		*fault = (struct emu_fault){.vector = EMU_VEC_GP, .has_error = true};
		return EMU_CB_FAULT;
	}
	sys.cr[cr] = val;
	return 0;
}

static int f_get_dr(void *opaque, unsigned int dr, u64 *val, struct emu_fault *fault)
{
	CHECK(dr <= 3 || dr == 6 || dr == 7);
	if (sys.dr[7] & BIT(13)) { /* DR7.GD: the callback's #DB */
		*fault = (struct emu_fault){.vector = EMU_VEC_DB};
		return EMU_CB_FAULT;
	}
	*val = sys.dr[dr];
	return 0;
}

static int f_set_dr(void *opaque, unsigned int dr, u64 val, struct emu_fault *fault)
{
	CHECK(dr <= 3 || dr == 6 || dr == 7);
	sys.set_drs++;
	sys.dr[dr] = val;
	return 0;
}

static void f_get_dt(void *opaque, bool idt, u16 *limit, u64 *base)
{
	*limit = idt ? sys.idt_limit : sys.gdt_limit;
	*base = idt ? sys.idt_base : sys.gdt_base;
}

static void f_set_dt(void *opaque, bool idt, u16 limit, u64 base)
{
	sys.set_dt_calls++;
	if (idt) {
		sys.idt_limit = limit;
		sys.idt_base = base;
	} else {
		sys.gdt_limit = limit;
		sys.gdt_base = base;
	}
}

static u16 f_get_seg_sel(void *opaque, unsigned int which)
{
	CHECK(which <= 1);
	return which ? sys.tr : sys.ldtr;
}

static int f_rdmsr(void *opaque, u32 msr, u64 *val, struct emu_fault *fault)
{
	if (msr != sys.msr_index) {
		*fault = (struct emu_fault){.vector = EMU_VEC_GP, .has_error = true};
		return EMU_CB_FAULT;
	}
	*val = sys.msr_val;
	return 0;
}

static int f_wrmsr(void *opaque, u32 msr, u64 val, struct emu_fault *fault)
{
	sys.wrmsrs++;
	sys.msr_index = msr;
	sys.msr_val = val;
	return 0;
}

static int f_halt(void *opaque)
{
	sys.halts++;
	return 0;
}

static int f_invlpg(void *opaque, gva_t linear)
{
	sys.invlpgs++;
	sys.last_invlpg = linear;
	return 0;
}

static int f_wbinvd(void *opaque)
{
	sys.wbinvds++;
	return 0;
}

static struct emu_sys_ops sys_ops = {
    .get_cr = f_get_cr,
    .set_cr = f_set_cr,
    .get_dr = f_get_dr,
    .set_dr = f_set_dr,
    .get_dt = f_get_dt,
    .set_dt = f_set_dt,
    .get_seg_sel = f_get_seg_sel,
    .rdmsr = f_rdmsr,
    .wrmsr = f_wrmsr,
    .halt = f_halt,
    .invlpg = f_invlpg,
    .wbinvd = f_wbinvd,
};

/* A guest with the system table; real mode gets DS at the RAM window. */
static struct emu_ctxt *sys_env(struct emu_ctxt *c)
{
	memset(&sys, 0, sizeof(sys));
	sys.cr[0] = 0x10; /* ET */
	c->sys = &sys_ops;
	if (c->mode != M64)
		c->seg_base[EMU_SEG_DS] = ENV_RAM;
	return c;
}

#define SYS(mode, ...) sys_env(ENV(mode, __VA_ARGS__))

static void expect_exc(struct emu_ctxt *c, u8 vector)
{
	u64 rip = c->rip;

	CHECK_EQ(emu_run(c), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, vector);
	if (vector == EMU_VEC_GP)
		CHECK(c->exc.has_error && c->exc.error_code == 0);
	CHECK_EQ(c->rip, rip);
}

/* Real mode: LGDT with a 16-bit operand size keeps 24 bits of the base; lgdtl (66) all 32; lidt the same. */
TEST(sys_lgdt_lidt_real_mode)
{
	struct emu_ctxt *c = SYS(M16, 0x0f, 0x01, 0x16, 0x00, 0x01); /* lgdt [0x100] */

	env_set_ram64(0x100 + ENV_RAM, 0xaabbccddeeff0017ULL);
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(sys.gdt_limit, 0x0017);
	CHECK_EQ(sys.gdt_base, 0xddeeff);
	CHECK_EQ(c->rip, 5);
	CHECK_EQ(env.nlog, 2);
	CHECK_EQ(env.log[0].size, 2);
	CHECK_EQ(env.log[1].size, 4);

	c = SYS(M16, 0x66, 0x0f, 0x01, 0x16, 0x00, 0x01); /* lgdtl [0x100] */
	env_set_ram64(0x100 + ENV_RAM, 0xaabbccddeeff0017ULL);
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(sys.gdt_base, 0xccddeeff);
	CHECK_EQ(c->rip, 6);

	c = SYS(M16, 0x67, 0x66, 0x0f, 0x01, 0x1c, 0x24); /* lidtl [esp] with a 32-bit address: SS */
	c->seg_base[EMU_SEG_SS] = ENV_RAM + 0x1000;
	env.regs[EMU_RSP] = 0x20;
	env_set_ram64(ENV_RAM + 0x1020, 0x12345678abcd03ffULL);
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(sys.idt_limit, 0x03ff);
	CHECK_EQ(sys.idt_base, 0x5678abcd);
	CHECK_EQ(sys.gdt_limit, 0);
}

TEST(sys_sgdt_sidt)
{
	struct emu_ctxt *c = SYS(M16, 0x0f, 0x01, 0x06, 0x00, 0x02); /* sgdt [0x200]: the 32-bit base, whatever 66 */

	sys.gdt_limit = 0x27;
	sys.gdt_base = 0x12345678;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env_ram64(ENV_RAM + 0x200) & 0xffffffffffffULL, 0x123456780027ULL);

	c = SYS(M64, 0x0f, 0x01, 0x0e); /* sidt [rsi]: 10 bytes in 64-bit mode */
	sys.idt_limit = 0xfff;
	sys.idt_base = 0xffff800000001000ULL;
	env.regs[EMU_RSI] = ENV_MMIO;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.nlog, 2);
	CHECK_EQ(env.log[0].val, 0xfff);
	CHECK_EQ(env.log[0].addr, ENV_MMIO);
	CHECK_EQ(env.log[1].val, 0xffff800000001000ULL);
	CHECK_EQ(env.log[1].addr, ENV_MMIO + 2);
	CHECK_EQ(env.log[1].size, 8);

	/* Not privileged: CPL 3 may, unless UMIP. */
	c = SYS(M64, 0x0f, 0x01, 0x0e);
	env.regs[EMU_RSI] = ENV_MMIO;
	c->cpl = 3;
	CHECK_EQ(emu_run(c), EMU_OK);
	c = SYS(M64, 0x0f, 0x01, 0x0e);
	env.regs[EMU_RSI] = ENV_MMIO;
	c->cpl = 3;
	c->umip = true;
	expect_exc(c, EMU_VEC_GP);
	CHECK_EQ(env.nlog, 0);
}

/* MOV to and from CR0 in real mode (`movl %eax, %cr0` has no 66: MOV CR is always 32-bit outside 64-bit mode). */
TEST(sys_mov_cr_real_mode)
{
	struct emu_ctxt *c = SYS(M16, 0x0f, 0x22, 0xc0); /* mov cr0, eax */

	env.regs[EMU_RAX] = 0xffffffff00000011ULL;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(sys.cr[0], 0x11);
	CHECK_EQ(c->rip, 3);

	c = SYS(M16, 0x66, 0x0f, 0x20, 0xc3); /* mov ebx, cr0 with a (meaningless) 66 */
	sys.cr[0] = 0x60000010;
	env.regs[EMU_RBX] = 0xffffffffffffffffULL;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RBX], 0x60000010);

	c = SYS(M16, 0x0f, 0x20, 0x18); /* mod 00: still a register (rax), no displacement: 3 bytes */
	sys.cr[3] = 0x1000;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RAX], 0x1000);
	CHECK_EQ(c->rip, 3);

	c = SYS(M16, 0x0f, 0x22, 0xe0); /* mov cr4, eax */
	env.regs[EMU_RAX] = 0x20;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(sys.cr[4], 0x20);

	/* A refused value: the callback's #GP goes to the guest, rip stays. */
	c = SYS(M16, 0x0f, 0x22, 0xc0);
	sys.fault_set_cr = 31;
	env.regs[EMU_RAX] = 0x80000000;
	expect_exc(c, EMU_VEC_GP);
}

TEST(sys_mov_cr_checks)
{
	static const u8 bad_cr[] = {1, 5, 6, 7};

	for (size_t i = 0; i < ARRAY_SIZE(bad_cr); i++) {
		u8 code[3] = {0x0f, 0x20, (u8)(0xc0 | bad_cr[i] << 3)};
		struct emu_ctxt *c = sys_env(env_reset(M32, code, 3));
		expect_exc(c, EMU_VEC_UD);
	}
	struct emu_ctxt *c = SYS(M64, 0x44, 0x0f, 0x22, 0xc8); /* mov cr9, rax: #UD */
	expect_exc(c, EMU_VEC_UD);
	c = SYS(M64, 0x44, 0x0f, 0x22, 0xc0); /* mov cr8, rax */
	env.regs[EMU_RAX] = 5;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(sys.cr[8], 5);
	c = SYS(M64, 0x0f, 0x20, 0xd0); /* mov rax, cr2: 64 bits */
	sys.cr[2] = 0xffff800012345678ULL;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RAX], 0xffff800012345678ULL);
	/* CPL 3 (virtual-8086 mode passes EMU_MODE_REAL with cpl 3): #GP(0). */
	c = SYS(M16, 0x0f, 0x22, 0xc0);
	c->cpl = 3;
	expect_exc(c, EMU_VEC_GP);
	CHECK_EQ(sys.set_cr_calls, 0);
	/* LOCK: #UD (the AMD CR8 alias is not offered). */
	c = SYS(M32, 0xf0, 0x0f, 0x22, 0xc0);
	expect_exc(c, EMU_VEC_UD);
}

TEST(sys_smsw_lmsw_clts)
{
	struct emu_ctxt *c = SYS(M16, 0x0f, 0x01, 0xe0); /* smsw ax */

	sys.cr[0] = 0x8005003b;
	env.regs[EMU_RAX] = 0xffff0000;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RAX], 0xffff003b);

	c = SYS(M64, 0x0f, 0x01, 0xe0); /* smsw eax: CR0 at the operand size */
	sys.cr[0] = 0x8005003b;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RAX], 0x8005003b);

	c = SYS(M16, 0x0f, 0x01, 0x26, 0x10, 0x00); /* smsw [0x10]: 16 bits */
	sys.cr[0] = 0x8005003b;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.log[0].size, 2);
	CHECK_EQ(env.log[0].val, 0x003b);

	c = SYS(M16, 0x0f, 0x01, 0xf0); /* lmsw ax: sets PE, MP, EM, TS; bits above 3 ignored */
	sys.cr[0] = 0x60000010;
	env.regs[EMU_RAX] = 0xfff3;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(sys.cr[0], 0x60000013);

	c = SYS(M32, 0x0f, 0x01, 0xf0); /* lmsw cannot clear PE */
	sys.cr[0] = 0x6000001b;
	env.regs[EMU_RAX] = 0;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(sys.cr[0], 0x60000011);

	c = SYS(M16, 0x0f, 0x01, 0x36, 0x00, 0x03); /* lmsw [0x300] */
	env_set_ram64(ENV_RAM + 0x300, 0x0001);
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(sys.cr[0], 0x11);

	c = SYS(M16, 0x0f, 0x06); /* clts */
	sys.cr[0] = 0x1b;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(sys.cr[0], 0x13);
	CHECK_EQ(c->rip, 2);

	c = SYS(M32, 0x0f, 0x06); /* clts at CPL 3 */
	c->cpl = 3;
	expect_exc(c, EMU_VEC_GP);
	c = SYS(M32, 0x0f, 0x01, 0xf0); /* lmsw at CPL 3 */
	c->cpl = 3;
	expect_exc(c, EMU_VEC_GP);
	c = SYS(M32, 0x0f, 0x01, 0xe0); /* smsw at CPL 3: allowed without UMIP */
	c->cpl = 3;
	CHECK_EQ(emu_run(c), EMU_OK);
	c = SYS(M32, 0x0f, 0x01, 0xe0);
	c->cpl = 3;
	c->umip = true;
	expect_exc(c, EMU_VEC_GP);
}

TEST(sys_mov_dr)
{
	struct emu_ctxt *c = SYS(M32, 0x0f, 0x23, 0xf8); /* mov dr7, eax */

	env.regs[EMU_RAX] = 0x401;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(sys.dr[7], 0x401);

	c = SYS(M32, 0x0f, 0x21, 0xe3); /* mov ebx, dr4: DR6 when CR4.DE is clear */
	sys.dr[6] = 0xffff0ff0;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RBX], 0xffff0ff0);

	c = SYS(M32, 0x0f, 0x21, 0xe3); /* with CR4.DE: #UD */
	sys.cr[4] = BIT(3);
	expect_exc(c, EMU_VEC_UD);

	c = SYS(M64, 0x44, 0x0f, 0x21, 0xc0); /* DR8: #UD */
	expect_exc(c, EMU_VEC_UD);

	c = SYS(M64, 0x0f, 0x21, 0xc0); /* the callback's #DB (DR7.GD) */
	sys.dr[7] = BIT(13);
	expect_exc(c, EMU_VEC_DB);

	c = SYS(M16, 0x0f, 0x23, 0xc0); /* real mode works, CPL 3 does not */
	c->cpl = 3;
	expect_exc(c, EMU_VEC_GP);
	CHECK_EQ(sys.set_drs, 0);
}

TEST(sys_msr)
{
	struct emu_ctxt *c = SYS(M64, 0x0f, 0x32); /* rdmsr: EDX:EAX, upper halves cleared */

	sys.msr_index = 0xc0000080;
	sys.msr_val = 0x1122334455667788ULL;
	env.regs[EMU_RCX] = 0xffffffffc0000080ULL; /* only ECX counts */
	env.regs[EMU_RAX] = env.regs[EMU_RDX] = ~0ULL;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RAX], 0x55667788);
	CHECK_EQ(env.regs[EMU_RDX], 0x11223344);

	c = SYS(M64, 0x0f, 0x32); /* an MSR the callback refuses: its #GP */
	env.regs[EMU_RCX] = 0x1234;
	sys.msr_index = 1;
	expect_exc(c, EMU_VEC_GP);

	c = SYS(M16, 0x0f, 0x30); /* wrmsr in real mode */
	env.regs[EMU_RCX] = 0x1b;
	env.regs[EMU_RAX] = 0xfee00900;
	env.regs[EMU_RDX] = 0;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(sys.msr_index, 0x1b);
	CHECK_EQ(sys.msr_val, 0xfee00900);

	c = SYS(M32, 0x0f, 0x30);
	c->cpl = 1;
	expect_exc(c, EMU_VEC_GP);
	CHECK_EQ(sys.wrmsrs, 0);
}

TEST(sys_hlt_invlpg_wbinvd)
{
	struct emu_ctxt *c = SYS(M16, 0xf4); /* hlt: rip advances, the callback parks */

	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(sys.halts, 1);
	CHECK_EQ(c->rip, 1);
	c = SYS(M32, 0xf4);
	c->cpl = 3;
	expect_exc(c, EMU_VEC_GP);
	CHECK_EQ(sys.halts, 0);

	c = SYS(M64, 0x64, 0x0f, 0x01, 0x38); /* invlpg fs:[rax]: the linear address, no access */
	c->seg_base[EMU_SEG_FS] = 0x1000;
	env.regs[EMU_RAX] = 0x7000;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(sys.last_invlpg, 0x8000);
	CHECK_EQ(env.nlog, 0);

	c = SYS(M64, 0x0f, 0x01, 0x38); /* a non-canonical address: a no-op */
	env.regs[EMU_RAX] = 0x0000800000000000ULL;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(sys.invlpgs, 0);
	CHECK_EQ(c->rip, ENV_CODE + 3);

	c = SYS(M16, 0x0f, 0x01, 0x3f); /* invlpg [bx] in real mode: DS base + BX */
	env.regs[EMU_RBX] = 0x10;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(sys.last_invlpg, ENV_RAM + 0x10);

	c = SYS(M64, 0x0f, 0x09); /* wbinvd */
	CHECK_EQ(emu_run(c), EMU_OK);
	c = SYS(M64, 0x0f, 0x08); /* invd */
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(sys.wbinvds, 1);
	c = SYS(M64, 0x0f, 0x09);
	c->cpl = 3;
	expect_exc(c, EMU_VEC_GP);
}

/* SLDT and STR: #UD in real mode (and so virtual-8086 mode); 16 bits to memory, zero-extended to a register. */
TEST(sys_sldt_str)
{
	struct emu_ctxt *c = SYS(M16, 0x0f, 0x00, 0xc8); /* str ax */

	expect_exc(c, EMU_VEC_UD);

	c = SYS(M32, 0x0f, 0x00, 0xc8); /* str eax */
	sys.tr = 0x28;
	env.regs[EMU_RAX] = ~0ULL;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.regs[EMU_RAX], 0x28);

	c = SYS(M64, 0x0f, 0x00, 0x06); /* sldt [rsi] */
	sys.ldtr = 0x30;
	env.regs[EMU_RSI] = ENV_MMIO;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.log[0].size, 2);
	CHECK_EQ(env.log[0].val, 0x30);

	c = SYS(M64, 0x0f, 0x00, 0x0e); /* str [rsi] at CPL 3 with UMIP */
	env.regs[EMU_RSI] = ENV_MMIO;
	c->cpl = 3;
	c->umip = true;
	expect_exc(c, EMU_VEC_GP);
}

/* Without a table, or without the member an instruction needs, the system instructions stay unhandled. */
TEST(sys_without_table)
{
	static const struct {
		u8 n, b[4];
	} enc[] = {
	    {3, {0x0f, 0x01, 0x10}}, {3, {0x0f, 0x01, 0x00}}, {3, {0x0f, 0x22, 0xc0}}, {2, {0x0f, 0x32}}, {1, {0xf4}},
	    {2, {0x0f, 0x06}},	     {3, {0x0f, 0x01, 0x38}}, {3, {0x0f, 0x00, 0xc8}},
	};
	struct emu_sys_ops partial = {.get_cr = f_get_cr};

	for (size_t i = 0; i < ARRAY_SIZE(enc); i++) {
		struct emu_ctxt *c = env_reset(M64, enc[i].b, enc[i].n);
		env.regs[EMU_RAX] = ENV_RAM;
		CHECK_EQ(emu_run(c), EMU_UNHANDLED);
		c = env_reset(M64, enc[i].b, enc[i].n);
		c->sys = &partial;
		env.regs[EMU_RAX] = ENV_RAM;
		CHECK_EQ(emu_run(c), EMU_UNHANDLED);
		CHECK_EQ(env.nlog, 0);
	}
	/* SMSW needs only get_cr. */
	struct emu_ctxt *c = ENV(M64, 0x0f, 0x01, 0xe0);
	c->sys = &partial;
	CHECK_EQ(emu_run(c), EMU_OK);
}
