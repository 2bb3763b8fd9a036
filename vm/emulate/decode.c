/* The instruction decoder: prefixes, REX, VEX, the one-byte, 0F, 0F 38 and 0F 3A opcode maps, ModRM, SIB,
 * displacements and immediates for the instructions the emulator executes; the opcode tables here are the emulator's
 * only ones. Bytes are fetched lazily, one page at a time, so an instruction that ends before an unmapped page never
 * faults on it; a 16th byte is never fetched (#GP instead). Opcodes outside the tables stop the decode with
 * EMU_UNHANDLED once the opcode is known. */
#include "vm/emulate/internal.h"

#include "hv/errno.h"
#include "hv/string.h"

/* Per-opcode decode flags; 0 means the opcode is not emulated. The ModRM.reg extensions of the group opcodes are
 * checked by group_check below, and the mandatory SIMD prefixes by the handlers. */
#define D_OK	  BIT(0)  /* emulated */
#define D_MODRM	  BIT(1)
#define D_BYTE	  BIT(2)  /* 8-bit operands */
#define D_IMM8	  BIT(3)  /* an 8-bit immediate */
#define D_IMMZ	  BIT(4)  /* a 16-bit immediate with 16-bit operands, else 32 bits (sign-extended for 64) */
#define D_MOFFS	  BIT(5)  /* an address-size offset: MOV A0-A3 */
#define D_STRING  BIT(6)  /* MOVS, CMPS, STOS, LODS, SCAS: implicit rSI/rDI operands */
#define D_NO64	  BIT(7)  /* invalid in 64-bit mode */
#define D_ONLY64  BIT(8)  /* another instruction outside 64-bit mode (63 is ARPL there) */
#define D_GRP3	  BIT(9)  /* F6/F7: the immediate exists only for /0 and /1 (TEST) */
#define D_CTRL	  BIT(10) /* MOV CR/DR: ModRM is a register form whatever mod says; 32-bit operands, 64 in 64-bit mode */
#define D_MEMONLY BIT(11) /* the register form is #UD */
#define D_SIMD	  BIT(12) /* 66/F2/F3 select the instruction (insn->simd) and 66 does not change the operand size */
#define D_VEX	  BIT(13) /* also has a VEX form, of the same shape */
#define D_VEXONLY BIT(14) /* exists only VEX-encoded */
#define D_LEN	  BIT(15) /* not emulated, but its shape is known: decoded with ctxt->length_only, for the length of an
			   * intercepted instruction (never executed here: the intercept's handler does it) */
#define D_FAR	  BIT(16) /* a far pointer: an offset of the operand size, then a selector (imm: selector << 32 | offset) */

/* clang-format off */
#define ALU_ROW(base)                                                                                                  \
	[(base) + 0] = D_OK | D_MODRM | D_BYTE, [(base) + 1] = D_OK | D_MODRM, [(base) + 2] = D_OK | D_MODRM | D_BYTE, \
	[(base) + 3] = D_OK | D_MODRM, [(base) + 4] = D_OK | D_BYTE | D_IMM8, [(base) + 5] = D_OK | D_IMMZ
#define X16(base, f)                                                                                                   \
	[(base) + 0 ... (base) + 15] = (f)
#define SSE_MOV (D_OK | D_MODRM | D_SIMD | D_VEX)

/* The one-byte map. */
static const u32 map0[256] = {
	ALU_ROW(0x00), ALU_ROW(0x08), ALU_ROW(0x10), ALU_ROW(0x18),
	ALU_ROW(0x20), ALU_ROW(0x28), ALU_ROW(0x30), ALU_ROW(0x38),
	[0x63] = D_OK | D_MODRM | D_ONLY64,
	[0x69] = D_OK | D_MODRM | D_IMMZ, [0x6b] = D_OK | D_MODRM | D_IMM8,		/* IMUL r, r/m, imm */
	[0x6c] = D_OK | D_STRING | D_BYTE, [0x6d] = D_OK | D_STRING,			/* INS */
	[0x6e] = D_OK | D_STRING | D_BYTE, [0x6f] = D_OK | D_STRING,			/* OUTS */
	[0x80] = D_OK | D_MODRM | D_BYTE | D_IMM8,
	[0x81] = D_OK | D_MODRM | D_IMMZ,
	[0x82] = D_OK | D_MODRM | D_BYTE | D_IMM8 | D_NO64,
	[0x83] = D_OK | D_MODRM | D_IMM8,
	[0x84] = D_OK | D_MODRM | D_BYTE, [0x85] = D_OK | D_MODRM,
	[0x86] = D_OK | D_MODRM | D_BYTE, [0x87] = D_OK | D_MODRM,
	[0x88] = D_OK | D_MODRM | D_BYTE, [0x89] = D_OK | D_MODRM,
	[0x8a] = D_OK | D_MODRM | D_BYTE, [0x8b] = D_OK | D_MODRM,
	[0x8f] = D_OK | D_MODRM,							/* POP r/m */
	[0xa0] = D_OK | D_MOFFS | D_BYTE, [0xa1] = D_OK | D_MOFFS,
	[0xa2] = D_OK | D_MOFFS | D_BYTE, [0xa3] = D_OK | D_MOFFS,
	[0xa4] = D_OK | D_STRING | D_BYTE, [0xa5] = D_OK | D_STRING,			/* MOVS */
	[0xa6] = D_OK | D_STRING | D_BYTE, [0xa7] = D_OK | D_STRING,			/* CMPS */
	[0xa8] = D_OK | D_BYTE | D_IMM8, [0xa9] = D_OK | D_IMMZ,
	[0xaa] = D_OK | D_STRING | D_BYTE, [0xab] = D_OK | D_STRING,			/* STOS */
	[0xac] = D_OK | D_STRING | D_BYTE, [0xad] = D_OK | D_STRING,			/* LODS */
	[0xae] = D_OK | D_STRING | D_BYTE, [0xaf] = D_OK | D_STRING,			/* SCAS */
	[0xc0] = D_OK | D_MODRM | D_BYTE | D_IMM8, [0xc1] = D_OK | D_MODRM | D_IMM8,	/* shift by imm8 */
	[0xc6] = D_OK | D_MODRM | D_BYTE | D_IMM8, [0xc7] = D_OK | D_MODRM | D_IMMZ,
	[0xd0] = D_OK | D_MODRM | D_BYTE, [0xd1] = D_OK | D_MODRM,			/* shift by 1 */
	[0xd2] = D_OK | D_MODRM | D_BYTE, [0xd3] = D_OK | D_MODRM,			/* shift by CL */
	[0xd7] = D_OK | D_BYTE,								/* XLAT */
	[0x90] = D_LEN,									/* NOP, PAUSE */
	[0xcc] = D_LEN, [0xcd] = D_LEN | D_IMM8, [0xce] = D_LEN | D_NO64, [0xf1] = D_LEN, /* INT3 INT INTO INT1 */
	[0xcf] = D_LEN,									/* IRET */
	[0x9a] = D_LEN | D_FAR | D_NO64, [0xea] = D_LEN | D_FAR | D_NO64,		/* far CALL, JMP ptr16:16/32 */
	[0xe4 ... 0xe7] = D_LEN | D_IMM8, [0xec ... 0xef] = D_LEN,			/* IN, OUT */
	[0xf4] = D_OK,									/* HLT */
	[0xf6] = D_OK | D_MODRM | D_BYTE | D_GRP3, [0xf7] = D_OK | D_MODRM | D_GRP3,
	[0xfe] = D_OK | D_MODRM | D_BYTE, [0xff] = D_OK | D_MODRM,
};

/* 0F xx. */
static const u32 map1[256] = {
	[0x00] = D_OK | D_MODRM, [0x01] = D_OK | D_MODRM,				/* groups 6 and 7 */
	[0x06] = D_OK, [0x08] = D_OK, [0x09] = D_OK,					/* CLTS INVD WBINVD */
	[0x10] = SSE_MOV, [0x11] = SSE_MOV,						/* MOVUPS/UPD/SS/SD */
	[0x20 ... 0x23] = D_OK | D_MODRM | D_CTRL,					/* MOV CR, DR */
	[0x28] = SSE_MOV, [0x29] = SSE_MOV, [0x2b] = SSE_MOV | D_MEMONLY,		/* MOVAPS/APD MOVNTPS/PD */
	[0x30] = D_OK, [0x32] = D_OK,							/* WRMSR RDMSR */
	[0x31] = D_LEN, [0x33] = D_LEN, [0xa2] = D_LEN,				/* RDTSC RDPMC CPUID */
	X16(0x40, D_OK | D_MODRM),							/* CMOVcc */
	[0x6e] = SSE_MOV, [0x6f] = SSE_MOV, [0x7e] = SSE_MOV, [0x7f] = SSE_MOV,	/* MOVD/Q MOVDQA/U */
	X16(0x90, D_OK | D_MODRM | D_BYTE),						/* SETcc */
	[0xa3] = D_OK | D_MODRM, [0xab] = D_OK | D_MODRM, [0xb3] = D_OK | D_MODRM, [0xbb] = D_OK | D_MODRM,
	[0xa4] = D_OK | D_MODRM | D_IMM8, [0xa5] = D_OK | D_MODRM,			/* SHLD */
	[0xac] = D_OK | D_MODRM | D_IMM8, [0xad] = D_OK | D_MODRM,			/* SHRD */
	[0xaf] = D_OK | D_MODRM,							/* IMUL r, r/m */
	[0xb0] = D_OK | D_MODRM | D_BYTE, [0xb1] = D_OK | D_MODRM,
	[0xb6] = D_OK | D_MODRM, [0xb7] = D_OK | D_MODRM,
	[0xb8] = D_OK | D_MODRM,							/* POPCNT (F3) */
	[0xba] = D_OK | D_MODRM | D_IMM8,
	[0xbc] = D_OK | D_MODRM, [0xbd] = D_OK | D_MODRM,				/* BSF/TZCNT BSR/LZCNT */
	[0xbe] = D_OK | D_MODRM, [0xbf] = D_OK | D_MODRM,
	[0xc0] = D_OK | D_MODRM | D_BYTE, [0xc1] = D_OK | D_MODRM,
	[0xc3] = D_OK | D_MODRM | D_MEMONLY,						/* MOVNTI */
	[0xc7] = D_OK | D_MODRM,							/* group 9 */
	[0xd6] = SSE_MOV, [0xe7] = SSE_MOV | D_MEMONLY,				/* MOVQ MOVNTDQ */
};

/* 0F 38 xx. */
static const u32 map2[256] = {
	[0x2a] = SSE_MOV | D_MEMONLY,							/* MOVNTDQA */
	[0xf0] = D_OK | D_MODRM, [0xf1] = D_OK | D_MODRM,				/* MOVBE (F2: CRC32) */
	[0xf2] = D_OK | D_MODRM | D_VEXONLY,						/* ANDN */
	[0xf3] = D_OK | D_MODRM | D_VEXONLY,						/* BLSR BLSMSK BLSI */
	[0xf5] = D_OK | D_MODRM | D_VEXONLY,						/* BZHI PEXT PDEP */
	[0xf6] = D_OK | D_MODRM | D_SIMD | D_VEX,					/* ADCX ADOX; MULX */
	[0xf7] = D_OK | D_MODRM | D_VEXONLY,						/* BEXTR SHLX SARX SHRX */
};

/* 0F 3A xx. */
static const u32 map3[256] = {
	[0xf0] = D_OK | D_MODRM | D_IMM8 | D_VEXONLY,					/* RORX */
};
/* clang-format on */

static const u32 *const maps[4] = {map0, map1, map2, map3};

struct decoder {
	struct emu_ctxt *ctxt;
	unsigned int pos; /* next byte to consume */
};

/* Fetch from the next needed byte to the end of its page (or the 15-byte limit, or where IP wraps). */
static enum emu_result fetch_more(struct emu_ctxt *ctxt)
{
	struct emu_insn *insn = &ctxt->insn;
	unsigned int have = insn->nbytes, n = EMU_MAX_INSN_LEN - have;
	struct emu_fault fault = {0};
	u64 ip_mask, ip;
	gva_t lin;
	int r;

	switch (ctxt->mode) {
	case EMU_MODE_64:
		ip_mask = ~0ULL;
		break;
	case EMU_MODE_PROT32:
		ip_mask = 0xffffffff;
		break;
	default:
		ip_mask = 0xffff;
		break;
	}
	ip = (ctxt->rip + have) & ip_mask;
	if (ctxt->mode == EMU_MODE_64) {
		lin = ip;
		if (!((u64)((s64)(lin << 16) >> 16) == lin))
			return emu_raise(ctxt, EMU_VEC_GP, true, 0);
	} else {
		/* A code segment is never expand-down: its bytes are [0, limit] (SDM Vol. 3A 5.3). Fetch only up to the
		 * limit, so that an instruction that ends at the limit decodes; a byte beyond it is #GP(0) only when
		 * the decode needs it. */
		if (ctxt->seg_checks) {
			if (ip > ctxt->seg_limit[EMU_SEG_CS])
				return emu_raise(ctxt, EMU_VEC_GP, true, 0);
			n = MIN((u64)n, (u64)ctxt->seg_limit[EMU_SEG_CS] - ip + 1);
		}
		lin = (u32)(ctxt->seg_base[EMU_SEG_CS] + ip);
		n = MIN((u64)n, ip_mask - ip + 1);
	}
	n = MIN((u64)n, PAGE_SIZE - (lin & (PAGE_SIZE - 1)));
	if (!ctxt->ops || !ctxt->ops->fetch) {
		ctxt->error = -EFAULT;
		return EMU_ERROR;
	}
	r = ctxt->ops->fetch(ctxt->opaque, lin, insn->bytes + have, n, &fault);
	if (r)
		return emu_callback_result(ctxt, r, &fault);
	insn->nbytes = have + n;
	return EMU_OK;
}

static enum emu_result next_byte(struct decoder *d, u8 *b)
{
	struct emu_insn *insn = &d->ctxt->insn;

	/* The CPU raises #GP for an instruction longer than 15 bytes, before fetching the 16th. */
	if (d->pos >= EMU_MAX_INSN_LEN)
		return emu_raise(d->ctxt, EMU_VEC_GP, true, 0);
	if (d->pos >= insn->nbytes) {
		enum emu_result r = fetch_more(d->ctxt);
		if (r != EMU_OK)
			return r;
	}
	*b = insn->bytes[d->pos++];
	return EMU_OK;
}

/* A little-endian n-byte value, sign-extended to 64 bits. */
static enum emu_result next_signed(struct decoder *d, unsigned int n, s64 *out)
{
	u64 v = 0;

	for (unsigned int i = 0; i < n; i++) {
		u8 b;
		enum emu_result r = next_byte(d, &b);
		if (r != EMU_OK)
			return r;
		v |= (u64)b << (8 * i);
	}
	if (n < 8 && (v & (1ULL << (8 * n - 1))))
		v |= ~emu_size_mask(n);
	*out = (s64)v;
	return EMU_OK;
}

static enum emu_result decode_prefixes(struct decoder *d)
{
	struct emu_insn *insn = &d->ctxt->insn;
	static const u8 seg_of[] = {[0x26] = EMU_SEG_ES, [0x2e] = EMU_SEG_CS, [0x36] = EMU_SEG_SS,
				    [0x3e] = EMU_SEG_DS, [0x64] = EMU_SEG_FS, [0x65] = EMU_SEG_GS};

	for (;;) {
		u8 b;
		enum emu_result r = next_byte(d, &b);
		if (r != EMU_OK)
			return r;
		switch (b) {
		case 0x66:
			insn->opsize_prefix = true;
			break;
		case 0x67:
			insn->addrsize_prefix = true;
			break;
		case 0x26:
		case 0x2e:
		case 0x36:
		case 0x3e:
			/* In 64-bit mode ES, CS, SS and DS overrides are null prefixes (SDM Vol. 1 3.3.7.1, APM Vol. 3
			 * 1.2.4): they neither select a segment nor undo an FS or GS override. */
			if (d->ctxt->mode == EMU_MODE_64)
				break;
			/* fall through */
		case 0x64:
		case 0x65:
			insn->seg_override = true;
			insn->seg = seg_of[b];
			break;
		case 0xf0:
			insn->lock = true;
			break;
		case 0xf2:
		case 0xf3:
			insn->rep = b;
			break;
		default:
			if (d->ctxt->mode == EMU_MODE_64 && (b & 0xf0) == 0x40) {
				insn->rex = b;
				continue; /* a REX counts only right before the opcode: keep it past this iteration */
			}
			d->pos--; /* the opcode */
			return EMU_OK;
		}
		insn->rex = 0; /* a legacy prefix after a REX cancels the REX */
	}
}

static void set_sizes(struct emu_ctxt *ctxt, struct emu_insn *insn)
{
	switch (ctxt->mode) {
	case EMU_MODE_64:
		insn->op_size = (insn->rex & 8) ? 8 : insn->opsize_prefix ? 2 : 4;
		insn->addr_size = insn->addrsize_prefix ? 4 : 8;
		break;
	case EMU_MODE_PROT32:
		insn->op_size = insn->opsize_prefix ? 2 : 4;
		insn->addr_size = insn->addrsize_prefix ? 2 : 4;
		break;
	default:
		insn->op_size = insn->opsize_prefix ? 4 : 2;
		insn->addr_size = insn->addrsize_prefix ? 4 : 2;
		break;
	}
}

/* 16-bit ModRM memory forms: rm selects one of eight base/index pairs; BP-based forms default to SS. */
static enum emu_result decode_modrm16(struct decoder *d, struct emu_insn *insn)
{
	static const u8 base16[8] = {EMU_RBX, EMU_RBX, EMU_RBP, EMU_RBP, EMU_RSI, EMU_RDI, EMU_RBP, EMU_RBX};
	static const u8 index16[8] = {EMU_RSI, EMU_RDI, EMU_RSI, EMU_RDI, [4 ... 7] = EMU_REG_NONE};
	unsigned int rm = insn->modrm & 7;

	insn->base = base16[rm];
	insn->index = index16[rm];
	if (insn->mod == 0 && rm == 6) {
		insn->base = EMU_REG_NONE;
		insn->disp_size = 2;
	} else if (insn->mod == 1) {
		insn->disp_size = 1;
	} else if (insn->mod == 2) {
		insn->disp_size = 2;
	}
	if (insn->base == EMU_RBP && !insn->seg_override)
		insn->seg = EMU_SEG_SS;
	return insn->disp_size ? next_signed(d, insn->disp_size, &insn->disp) : EMU_OK;
}

/* 32- and 64-bit ModRM memory forms, with SIB and RIP-relative addressing. */
static enum emu_result decode_modrm32(struct decoder *d, struct emu_insn *insn)
{
	unsigned int rm = insn->modrm & 7;
	enum emu_result r;

	insn->base = insn->rm;
	if (rm == 4) {
		r = next_byte(d, &insn->sib);
		if (r != EMU_OK)
			return r;
		insn->has_sib = true;
		insn->scale = 1 << (insn->sib >> 6);
		insn->index = ((insn->sib >> 3) & 7) | ((insn->rex & 2) << 2);
		if (insn->index == EMU_RSP)
			insn->index = EMU_REG_NONE; /* index 100 without REX.X means none; R12 is a real index */
		insn->base = (insn->sib & 7) | ((insn->rex & 1) << 3);
		if ((insn->sib & 7) == 5 && insn->mod == 0) {
			insn->base = EMU_REG_NONE; /* [index*scale + disp32], also with REX.B */
			insn->disp_size = 4;
		}
	} else if (rm == 5 && insn->mod == 0) {
		/* disp32 alone; in 64-bit mode the same encoding is RIP-relative (also with REX.B). */
		insn->base = EMU_REG_NONE;
		insn->rip_rel = d->ctxt->mode == EMU_MODE_64;
		insn->disp_size = 4;
	}
	if (insn->mod == 1)
		insn->disp_size = 1;
	else if (insn->mod == 2)
		insn->disp_size = 4;
	/* rSP and rBP as base default to SS (R12 and R13 do not). */
	if ((insn->base == EMU_RSP || insn->base == EMU_RBP) && !insn->seg_override)
		insn->seg = EMU_SEG_SS;
	return insn->disp_size ? next_signed(d, insn->disp_size, &insn->disp) : EMU_OK;
}

/*
 * The ModRM.reg extension of the group opcodes: EMU_OK when it names an instruction the emulator does, EMU_UNHANDLED
 * when it names another one (far CALL/JMP, XOP, RDRAND, the 0F 01 register forms such as VMCALL or SWAPGS), and
 * an exception when the encoding is invalid. Also sets the operand sizes that depend on the extension.
 */
static enum emu_result group_check(struct emu_ctxt *ctxt, struct emu_insn *insn)
{
	unsigned int ext = emu_ext(insn);
	bool mem = insn->mod != 3, m64 = ctxt->mode == EMU_MODE_64;

	if (insn->vex)
		return EMU_OK;
	if (insn->map == 1) {
		switch (insn->opcode) {
		case 0xba:
			return ext >= 4 ? EMU_OK : EMU_UNHANDLED; /* BT, BTS, BTR, BTC */
		case 0xc7:
			if (ext != 1)
				return EMU_UNHANDLED; /* RDRAND, RDSEED, RDPID, VMPTRLD, ... */
			return mem ? EMU_OK : emu_raise_ud(ctxt); /* CMPXCHG8B/16B */
		case 0x00:
			if (ext > 1)
				return EMU_UNHANDLED; /* LLDT, LTR, VERR, VERW */
			if (mem)
				insn->op_size = 2; /* SLDT, STR m16 */
			return EMU_OK;
		case 0x01:
			/* Registers forms other than SMSW and LMSW are separate instructions (VMCALL, MONITOR, SWAPGS, ...);
			 * /5 with memory is RSTORSSP. */
			if (mem ? ext == 5 : ext != 4 && ext != 6)
				return EMU_UNHANDLED;
			if (ext == 6 || (ext == 4 && mem))
				insn->op_size = 2; /* LMSW r/m16, SMSW m16 */
			return EMU_OK;
		default:
			return EMU_OK;
		}
	}
	if (insn->map != 0)
		return EMU_OK;
	switch (insn->opcode) {
	case 0xc6:
	case 0xc7:
		return ext == 0 ? EMU_OK : EMU_UNHANDLED; /* MOV; C6 F8 / C7 F8 are XABORT / XBEGIN */
	case 0xfe:
		return ext <= 1 ? EMU_OK : EMU_UNHANDLED; /* INC, DEC */
	case 0x8f:
		if (ext != 0)
			return EMU_UNHANDLED; /* AMD's XOP prefix */
		if (m64)
			insn->op_size = insn->opsize_prefix ? 2 : 8; /* POP r/m: 64 bits, or 16 with 66 */
		return EMU_OK;
	case 0xff:
		if (ext == 3 || ext == 5 || ext == 7)
			return EMU_UNHANDLED; /* far CALL and JMP (segment loads); FF /7 is invalid */
		/* In 64-bit mode near branches always take 64-bit operands (Intel, and KVM for every guest), and PUSH
		 * and POP default to 64 bits with 16 bits as the only alternative. */
		if (m64 && (ext == 2 || ext == 4))
			insn->op_size = 8;
		else if (m64 && ext == 6)
			insn->op_size = insn->opsize_prefix ? 2 : 8;
		return EMU_OK;
	default:
		return EMU_OK;
	}
}

/* VEX is C4/C5 in 64-bit mode, and in protected mode when the next byte's top bits are 11 (otherwise LES/LDS); in
 * real and virtual-8086 mode it is always LES/LDS. */
static enum emu_result is_vex(struct decoder *d, u8 b, bool *vex)
{
	u8 next;
	enum emu_result r;

	*vex = false;
	if ((b != 0xc4 && b != 0xc5) || d->ctxt->mode == EMU_MODE_REAL)
		return EMU_OK;
	if (d->ctxt->mode == EMU_MODE_64) {
		*vex = true;
		return EMU_OK;
	}
	r = next_byte(d, &next);
	if (r != EMU_OK)
		return r;
	d->pos--;
	*vex = (next & 0xc0) == 0xc0;
	return EMU_OK;
}

/* The VEX prefix after its first byte: the map, REX bits, W, vvvv, L and the SIMD prefix. */
static enum emu_result decode_vex(struct decoder *d, struct emu_insn *insn, u8 first)
{
	static const u8 pp_prefix[4] = {0, 0x66, 0xf3, 0xf2};
	struct emu_ctxt *ctxt = d->ctxt;
	u8 b1, b2, rxb, mmmmm = 1;
	enum emu_result r;

	/* A 66, F2, F3, LOCK or REX prefix before VEX is #UD. */
	if (insn->opsize_prefix || insn->rep || insn->lock || insn->rex)
		return emu_raise_ud(ctxt);
	r = next_byte(d, &b1);
	if (r != EMU_OK)
		return r;
	if (first == 0xc5) {
		rxb = (~b1 >> 5) & 4; /* R only */
		b2 = b1;
	} else {
		rxb = (~b1 >> 5) & 7;
		mmmmm = b1 & 0x1f;
		r = next_byte(d, &b2);
		if (r != EMU_OK)
			return r;
		insn->vex_w = b2 & 0x80;
	}
	insn->vex = true;
	insn->vex_v = (~b2 >> 3) & 15;
	insn->vex_l = b2 & 4;
	insn->simd = pp_prefix[b2 & 3];
	if (ctxt->mode == EMU_MODE_64) {
		insn->rex = 0x40 | (insn->vex_w ? 8 : 0) | rxb;
	} else {
		/* R and X are 1 (the 11b that makes this VEX), B is ignored, and so is W for every instruction here. */
		insn->vex_w = false;
	}
	if (mmmmm < 1 || mmmmm > 3)
		return emu_raise_ud(ctxt);
	insn->map = mmmmm;
	return next_byte(d, &insn->opcode);
}

enum emu_result emu_decode(struct emu_ctxt *ctxt)
{
	struct emu_insn *insn = &ctxt->insn;
	struct decoder d = {.ctxt = ctxt};
	enum emu_result r;
	bool vex;
	u32 flags;
	s64 v;

	memset(insn, 0, sizeof(*insn));
	insn->base = insn->index = EMU_REG_NONE;
	insn->scale = 1;
	insn->seg = EMU_SEG_DS;
	insn->nbytes = MIN(ctxt->prefetch_len, EMU_MAX_INSN_LEN);
	memcpy(insn->bytes, ctxt->prefetch, insn->nbytes);

	r = decode_prefixes(&d);
	if (r != EMU_OK)
		return r;
	r = next_byte(&d, &insn->opcode);
	if (r != EMU_OK)
		return r;
	r = is_vex(&d, insn->opcode, &vex);
	if (r != EMU_OK)
		return r;
	if (vex) {
		r = decode_vex(&d, insn, insn->opcode);
		if (r != EMU_OK)
			return r;
	} else if (insn->opcode == 0x0f) {
		insn->map = 1;
		r = next_byte(&d, &insn->opcode);
		if (r == EMU_OK && (insn->opcode == 0x38 || insn->opcode == 0x3a)) {
			insn->map = insn->opcode == 0x38 ? 2 : 3;
			r = next_byte(&d, &insn->opcode);
		}
		if (r != EMU_OK)
			return r;
	}
	set_sizes(ctxt, insn);

	flags = maps[insn->map][insn->opcode];
	if (!(flags & (ctxt->length_only ? D_OK | D_LEN : D_OK)) || ((flags & D_NO64) && ctxt->mode == EMU_MODE_64) ||
	    ((flags & D_ONLY64) && ctxt->mode != EMU_MODE_64) || (insn->vex && !(flags & (D_VEX | D_VEXONLY))) ||
	    (!insn->vex && (flags & D_VEXONLY)))
		return EMU_UNHANDLED;
	if (flags & D_BYTE)
		insn->op_size = 1;
	if (emu_insn_is_pio_string(insn) && insn->op_size == 8)
		insn->op_size = 4; /* INS and OUTS move at most a doubleword: REX.W changes nothing */
	if (flags & D_SIMD) {
		/* The last F2/F3 wins over 66, which then says nothing about the operand size. */
		if (!insn->vex)
			insn->simd = insn->rep ? insn->rep : insn->opsize_prefix ? 0x66 : 0;
		insn->op_size = (insn->rex & 8) ? 8 : 4;
	}
	if (insn->vex)
		insn->op_size = (insn->rex & 8) ? 8 : 4; /* VEX.W, in 64-bit mode only */
	if (flags & D_CTRL)
		insn->op_size = ctxt->mode == EMU_MODE_64 ? 8 : 4; /* 66 and REX.W are ignored */

	if (flags & D_MODRM) {
		r = next_byte(&d, &insn->modrm);
		if (r != EMU_OK)
			return r;
		insn->has_modrm = true;
		insn->mod = insn->modrm >> 6;
		insn->reg = ((insn->modrm >> 3) & 7) | ((insn->rex & 4) << 1);
		insn->rm = (insn->modrm & 7) | ((insn->rex & 1) << 3);
		if (flags & D_CTRL)
			insn->mod = 3; /* MOV CR/DR ignore mod: always a register, never a displacement */
		r = group_check(ctxt, insn);
		/* The group members the emulator leaves to others (VMMCALL, XSETBV, MONITOR, RDTSCP, LLDT, far
		 * JMP...) have the shape of their group; AMD's XOP (8F with reg != 0) is a prefix of another map. */
		if (r == EMU_UNHANDLED && ctxt->length_only && !(insn->map == 0 && insn->opcode == 0x8f))
			r = EMU_OK;
		if (r != EMU_OK)
			return r;
		if (insn->mod != 3) {
			insn->mem = true;
			r = insn->addr_size == 2 ? decode_modrm16(&d, insn) : decode_modrm32(&d, insn);
			if (r != EMU_OK)
				return r;
		} else if (flags & D_MEMONLY) {
			return emu_raise_ud(ctxt);
		}
	}
	if (flags & D_MOFFS) {
		insn->mem = true;
		insn->disp_size = insn->addr_size;
		r = next_signed(&d, insn->disp_size, &insn->disp);
		if (r != EMU_OK)
			return r;
		/* An offset is unsigned: keep only its own bytes. */
		insn->disp = (s64)((u64)insn->disp & emu_size_mask(insn->disp_size));
	}
	if ((flags & D_IMM8) || ((flags & D_GRP3) && emu_ext(insn) <= 1 && (flags & D_BYTE)))
		insn->imm_size = 1;
	else if ((flags & D_IMMZ) || ((flags & D_GRP3) && emu_ext(insn) <= 1))
		insn->imm_size = insn->op_size == 2 ? 2 : 4;
	if (insn->imm_size) {
		r = next_signed(&d, insn->imm_size, &v);
		if (r != EMU_OK)
			return r;
		insn->imm = (u64)v;
	}
	if (flags & D_FAR) {
		s64 sel;
		unsigned int off = insn->op_size == 2 ? 2 : 4;
		r = next_signed(&d, off, &v);
		if (r == EMU_OK)
			r = next_signed(&d, 2, &sel);
		if (r != EMU_OK)
			return r;
		insn->imm = ((u64)sel & 0xffff) << 32 | ((u64)v & emu_size_mask(off));
		insn->imm_size = (u8)(off + 2);
	}
	insn->len = d.pos;
	return EMU_OK;
}
