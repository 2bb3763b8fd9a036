/* The length of an intercepted instruction on SVM without NRIPS: the emulator's decoder in length-only mode (what
 * vm/mmio.c vcpu_decode_insn runs against guest memory) and svm_nrip.c's check that the decoded instruction is the one
 * the exit names. Odd but valid prefix combinations (SDM Vol. 2A 2.1.1 and 2.2.1, APM Vol. 3 1.2): any legacy
 * prefixes in any order, a REX that is not right before the opcode is ignored, of several REX only the last counts,
 * 15 bytes at most; and the fetch: CS's base and limit, a page read only when a byte on it is needed. */
#include "arch/x86/svm/svm.h"
#include "vm/emulate/task_switch.h"
#include "test_emulate_env.h"

#define M64 EMU_MODE_64
#define M32 EMU_MODE_PROT32
#define M16 EMU_MODE_REAL

/* The length the backend would step over for exit code `code` with these bytes at RIP: 0 for "not that
 * instruction", -1 for a fault (in env.ctxt.exc). */
static int len_of(u64 code, enum emu_mode mode, const u8 *b, unsigned int n)
{
	struct emu_ctxt *c = env_reset(mode, b, n);

	c->length_only = true;
	enum emu_result r = emu_decode(c);
	if (r == EMU_EXCEPTION)
		return -1;
	if (r != EMU_OK)
		return 0;
	return svm_insn_is_intercepted(code, &c->insn) ? c->insn.len : 0;
}

#define LEN(code, mode, ...) len_of(code, mode, (const u8[]){__VA_ARGS__}, sizeof((u8[]){__VA_ARGS__}))

TEST(nrip_plain_encodings)
{
	CHECK_EQ(LEN(SVM_EXIT_CPUID, M32, 0x0f, 0xa2), 2);
	CHECK_EQ(LEN(SVM_EXIT_HLT, M32, 0xf4), 1);
	CHECK_EQ(LEN(SVM_EXIT_VMMCALL, M64, 0x0f, 0x01, 0xd9), 3);
	CHECK_EQ(LEN(SVM_EXIT_MSR, M64, 0x0f, 0x32), 2);
	CHECK_EQ(LEN(SVM_EXIT_MSR, M64, 0x0f, 0x30), 2);
	CHECK_EQ(LEN(SVM_EXIT_INVD, M32, 0x0f, 0x08), 2);
	CHECK_EQ(LEN(SVM_EXIT_WBINVD, M32, 0x0f, 0x08), 2); /* QEMU's TCG: INVD under WBINVD's code */
	CHECK_EQ(LEN(SVM_EXIT_XSETBV, M64, 0x0f, 0x01, 0xd1), 3);
	CHECK_EQ(LEN(SVM_EXIT_RDPMC, M16, 0x0f, 0x33), 2);
	CHECK_EQ(LEN(SVM_EXIT_MWAIT, M64, 0x0f, 0x01, 0xc9), 3);
	CHECK_EQ(LEN(SVM_EXIT_IOIO, M32, 0xe4, 0x80), 2);
	CHECK_EQ(LEN(SVM_EXIT_IOIO, M16, 0x66, 0xef), 2);
}

TEST(nrip_trailing_bytes_ignored)
{
	CHECK_EQ(LEN(SVM_EXIT_CPUID, M64, 0x0f, 0xa2, 0x90, 0x90, 0xcc), 2);
	CHECK_EQ(LEN(SVM_EXIT_HLT, M64, 0xf4, 0xeb, 0xfe), 1);
}

/* The encodings a third-party guest suite used, which the old prefix scanner refused. */
TEST(nrip_rex_anywhere)
{
	CHECK_EQ(LEN(SVM_EXIT_CPUID, M64, 0x67, 0x48, 0x40, 0x0f, 0xa2), 5); /* 67, then two REX */
	CHECK_EQ(LEN(SVM_EXIT_MSR, M64, 0x40, 0x48, 0x0f, 0x32), 4);	     /* two REX: the last counts */
	CHECK_EQ(LEN(SVM_EXIT_CPUID, M64, 0x48, 0x66, 0x0f, 0xa2), 4);	     /* REX before 66: ignored, valid */
	CHECK_EQ(LEN(SVM_EXIT_CPUID, M64, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x0f, 0xa2), 10);
	CHECK_EQ(LEN(SVM_EXIT_MSR, M64, 0x4f, 0xf3, 0x2e, 0x4f, 0x0f, 0x30), 6);
	CHECK_EQ(LEN(SVM_EXIT_HLT, M64, 0x48, 0xf4), 2);
	CHECK_EQ(LEN(SVM_EXIT_VMMCALL, M64, 0x66, 0x4c, 0x0f, 0x01, 0xd9), 5); /* REX.R does not make D9 another reg */
}

TEST(nrip_legacy_prefixes_counted)
{
	CHECK_EQ(LEN(SVM_EXIT_CPUID, M32, 0x66, 0x0f, 0xa2), 3);
	CHECK_EQ(LEN(SVM_EXIT_CPUID, M64, 0x2e, 0x66, 0x48, 0x0f, 0xa2), 5);
	CHECK_EQ(LEN(SVM_EXIT_HLT, M16, 0xf3, 0xf4), 2);
	CHECK_EQ(LEN(SVM_EXIT_CPUID, M16, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf2, 0xf3, 0x0f, 0xa2), 12);
	/* The same prefix many times over. */
	CHECK_EQ(LEN(SVM_EXIT_MSR, M32, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x0f, 0x32), 8);
}

TEST(nrip_rex_only_in_long_mode)
{
	/* Outside 64-bit mode 0x48 is DEC EAX, not a prefix: the bytes are not CPUID. */
	CHECK_EQ(LEN(SVM_EXIT_CPUID, M32, 0x48, 0x0f, 0xa2), 0);
	CHECK_EQ(LEN(SVM_EXIT_CPUID, M64, 0x48, 0x0f, 0xa2), 3);
}

TEST(nrip_wrong_instruction_refused)
{
	CHECK_EQ(LEN(SVM_EXIT_CPUID, M64, 0xf4), 0);		   /* HLT bytes for a CPUID exit */
	CHECK_EQ(LEN(SVM_EXIT_VMMCALL, M64, 0x0f, 0x01, 0xc1), 0); /* VMCALL (Intel) is not VMMCALL */
	CHECK_EQ(LEN(SVM_EXIT_MSR, M64, 0x0f, 0x31), 0);	   /* RDTSC */
	CHECK_EQ(LEN(SVM_EXIT_IOIO, M64, 0x0f, 0xa2), 0);
	CHECK_EQ(LEN(SVM_EXIT_XSETBV, M64, 0x0f, 0x01, 0x11), 0);      /* LGDT [rcx], not the register form */
	CHECK_EQ(LEN(SVM_EXIT_CPUID, M64, 0x8f, 0xe8, 0x78, 0xa2), 0); /* XOP, not a group-1A POP */
}

/* 15 bytes is the limit: a 16th is #GP(0), and never fetched. */
TEST(nrip_fifteen_bytes)
{
	u8 b[20];

	memset(b, 0x66, sizeof(b));
	b[13] = 0x0f;
	b[14] = 0xa2;
	CHECK_EQ(len_of(SVM_EXIT_CPUID, M64, b, 15), 15);
	b[12] = 0x48; /* a REX among them changes nothing */
	CHECK_EQ(len_of(SVM_EXIT_CPUID, M64, b, 15), 15);
	memset(b, 0x66, sizeof(b));
	b[14] = 0x0f;
	b[15] = 0xa2;
	CHECK_EQ(len_of(SVM_EXIT_CPUID, M64, b, 16), -1);
	CHECK_EQ(env.ctxt.exc.vector, EMU_VEC_GP);
	CHECK(env.fetched <= EMU_MAX_INSN_LEN);
}

/* An instruction that ends at the last byte of its page never touches the next page; one that crosses into a page
 * that does not translate gets that page's #PF, with the fetch bit, as the CPU would raise it. */
TEST(nrip_page_end)
{
	static const u8 insn[] = {0x2e, 0x48, 0x0f, 0xa2};
	struct emu_ctxt *c = env_reset(M64, NULL, 0);

	memcpy(env.code + PAGE_SIZE - sizeof(insn), insn, sizeof(insn));
	c->rip = ENV_CODE + PAGE_SIZE - sizeof(insn);
	c->length_only = true;
	CHECK_EQ(emu_decode(c), EMU_OK);
	CHECK_EQ(c->insn.len, 4);
	CHECK_EQ(env.nfetch, 1);
	CHECK(svm_insn_is_intercepted(SVM_EXIT_CPUID, &c->insn));

	c = env_reset(M64, NULL, 0);
	memcpy(env.code + PAGE_SIZE - 3, insn, 3);
	c->rip = ENV_CODE + PAGE_SIZE - 3;
	c->length_only = true;
	CHECK_EQ(emu_decode(c), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_PF);
	CHECK_EQ(c->exc.cr2, ENV_CODE + PAGE_SIZE);
	CHECK_EQ(c->exc.error_code, ENV_PF_FETCH);
}

/* Outside 64-bit mode the fetch goes through CS: its base places the bytes, and its limit bounds them. An
 * instruction that ends exactly at the limit decodes (the bytes past it are never needed); one that needs a byte past
 * the limit is #GP(0) (SDM Vol. 3A 5.3). */
TEST(nrip_cs_base_and_limit)
{
	static const u8 insn[] = {0x66, 0x0f, 0xa2};
	struct emu_ctxt *c = env_reset(M32, NULL, 0);

	memcpy(env.code + 0x100, insn, sizeof(insn));
	c->seg_base[EMU_SEG_CS] = ENV_CODE + 0x80;
	c->rip = 0x80;
	c->seg_checks = true;
	c->seg_limit[EMU_SEG_CS] = 0x82; /* the last byte of the CPUID */
	c->length_only = true;
	CHECK_EQ(emu_decode(c), EMU_OK);
	CHECK_EQ(c->insn.len, 3);
	CHECK_EQ(env.fetched, 3); /* nothing past the limit read */
	CHECK(svm_insn_is_intercepted(SVM_EXIT_CPUID, &c->insn));

	c = env_reset(M32, NULL, 0);
	memcpy(env.code + 0x100, insn, sizeof(insn));
	c->seg_base[EMU_SEG_CS] = ENV_CODE + 0x80;
	c->rip = 0x80;
	c->seg_checks = true;
	c->seg_limit[EMU_SEG_CS] = 0x81; /* A2 is past the limit */
	c->length_only = true;
	CHECK_EQ(emu_decode(c), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_GP);
	CHECK_EQ(c->exc.error_code, 0);

	/* Real mode: CS base = selector * 16, the limit 64K - 1 unless a descriptor load said otherwise. */
	c = env_reset(M16, NULL, 0);
	memcpy(env.code + 0x10, insn, sizeof(insn));
	c->rip = 0x10;
	c->seg_checks = true;
	c->seg_limit[EMU_SEG_CS] = 0xffff;
	c->length_only = true;
	CHECK_EQ(emu_decode(c), EMU_OK);
	CHECK_EQ(c->insn.len, 3);
	CHECK_EQ(c->insn.op_size, 4);
}

/* The length-only opcodes stay outside what the emulator executes. */
TEST(nrip_length_only_not_emulated)
{
	struct emu_ctxt *c = ENV(M64, 0x0f, 0xa2);

	CHECK_EQ(emu_decode(c), EMU_UNHANDLED);
	c = ENV(M64, 0x0f, 0x01, 0xd9);
	CHECK_EQ(emu_decode(c), EMU_UNHANDLED);
	c = ENV(M64, 0xe4, 0x80);
	CHECK_EQ(emu_decode(c), EMU_UNHANDLED);
}

/* A task switch through an instruction (SVM's TASK_SWITCH intercept has no next RIP either): far CALL and JMP with a
 * pointer or a memory operand, IRET, INT n; everything else is not a switch. */
TEST(len_task_switching_instructions)
{
	static const struct {
		enum emu_mode mode;
		u8 b[15];
		unsigned int n, len; /* len 0: not a switching instruction */
	} cases[] = {
	    {M32, {0xea, 0, 0, 0, 0, 0x38, 0}, 7, 7},		  /* JMP ptr16:32 */
	    {M32, {0x66, 0xea, 0, 0, 0x38, 0}, 6, 6},		  /* JMP ptr16:16 with 66 */
	    {M16, {0x9a, 0, 0, 0x38, 0}, 5, 5},			  /* CALL ptr16:16, 16-bit code */
	    {M16, {0x66, 0x9a, 0, 0, 0, 0, 0x38, 0}, 8, 8},	  /* CALL ptr16:32 from 16-bit code */
	    {M32, {0xcf}, 1, 1},				  /* IRET */
	    {M32, {0x66, 0xcf}, 2, 2},				  /* IRETW */
	    {M32, {0xcd, 0x40}, 2, 2},				  /* INT 0x40 */
	    {M32, {0xcc}, 1, 1},				  /* INT3 */
	    {M32, {0xce}, 1, 1},				  /* INTO */
	    {M32, {0xf1}, 1, 1},				  /* INT1 */
	    {M32, {0xff, 0x1d, 0, 0, 0, 0}, 6, 6},		  /* CALL m16:32 [disp32] */
	    {M32, {0xff, 0x2c, 0x24}, 3, 3},			  /* JMP m16:32 [esp] (SIB) */
	    {M32, {0xff, 0x2c, 0x25, 0, 0, 0, 0}, 7, 7},	  /* JMP [disp32] through SIB, no base */
	    {M16, {0xff, 0x5e, 0x10}, 3, 3},			  /* CALL m16:16 [bp+0x10] */
	    {M16, {0xff, 0x1e, 0x34, 0x12}, 4, 4},		  /* CALL m16:16 [0x1234] */
	    {M32, {0x67, 0xff, 0x1e, 0x34, 0x12}, 5, 5},	  /* the same with 67 in 32-bit code */
	    {M32, {0x2e, 0xff, 0x6d, 0x08}, 4, 4},		  /* CS: JMP m16:32 [ebp+8] */
	    {M32, {0xf3, 0x26, 0xea, 0, 0, 0, 0, 0x38, 0}, 9, 9}, /* prefixes before a far JMP */
	    {M32, {0xff, 0xd8}, 2, 0},				  /* register form: #UD, not a switch */
	    {M32, {0xff, 0x15, 0, 0, 0, 0}, 6, 0},		  /* near CALL */
	    {M32, {0x0f, 0xa2}, 2, 0},				  /* CPUID */
	    {M64, {0xea, 0, 0, 0, 0, 0x38, 0}, 7, 0},		  /* far JMP ptr is invalid in 64-bit mode */
	};
	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct emu_ctxt *c = env_reset(cases[i].mode, cases[i].b, cases[i].n);
		c->length_only = true;
		unsigned int len = emu_decode(c) == EMU_OK && ts_insn_switches(&c->insn) ? c->insn.len : 0;
		if (len != cases[i].len)
			test_fail(__FILE__, __LINE__, "case %u: length %u, want %u", i, len, cases[i].len);
	}
	/* A far JMP whose pointer runs into a page that does not translate: the decoder's #PF, not a guess. */
	struct emu_ctxt *c = env_reset(M32, NULL, 0);
	static const u8 jmp[] = {0xea, 0, 0, 0, 0};
	memcpy(env.code + PAGE_SIZE - sizeof(jmp), jmp, sizeof(jmp));
	c->rip = ENV_CODE + PAGE_SIZE - sizeof(jmp);
	c->length_only = true;
	CHECK_EQ(emu_decode(c), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_PF);
	CHECK_EQ(c->exc.cr2, ENV_CODE + PAGE_SIZE);
}
