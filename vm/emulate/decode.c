/* The instruction decoder: prefixes, REX, the one-byte and 0F opcode maps, ModRM, SIB, displacements and immediates
 * for the instructions the emulator executes. Bytes are fetched lazily, one page at a time, so an instruction that
 * ends before an unmapped page never faults on it; a 16th byte is never fetched (#GP instead). Opcodes outside the
 * tables stop the decode with EMU_UNHANDLED once the opcode is known. */
#include "vm/emulate/emulate.h"

#include "hv/errno.h"
#include "hv/string.h"

/* Per-opcode decode flags; 0 means the opcode is not emulated. */
#define D_OK	 BIT(0) /* emulated */
#define D_MODRM	 BIT(1)
#define D_BYTE	 BIT(2) /* 8-bit operands */
#define D_IMM8	 BIT(3) /* an 8-bit immediate */
#define D_IMMZ	 BIT(4) /* a 16-bit immediate with 16-bit operands, else 32 bits (sign-extended for 64) */
#define D_MOFFS	 BIT(5) /* an address-size offset: MOV A0-A3 */
#define D_STRING BIT(6) /* MOVS, STOS, LODS: implicit rSI/rDI operands */
#define D_NO64	 BIT(7) /* invalid in 64-bit mode */
#define D_ONLY64 BIT(8) /* another instruction outside 64-bit mode (63 is ARPL there) */
#define D_GRP3	 BIT(9) /* F6/F7: the immediate exists only for /0 and /1 (TEST) */

/* clang-format off */
#define ALU_ROW(base)                                                                                                  \
	[(base) + 0] = D_OK | D_MODRM | D_BYTE, [(base) + 1] = D_OK | D_MODRM, [(base) + 2] = D_OK | D_MODRM | D_BYTE, \
	[(base) + 3] = D_OK | D_MODRM, [(base) + 4] = D_OK | D_BYTE | D_IMM8, [(base) + 5] = D_OK | D_IMMZ

static const u16 map1[256] = {
	ALU_ROW(0x00), ALU_ROW(0x08), ALU_ROW(0x10), ALU_ROW(0x18),
	ALU_ROW(0x20), ALU_ROW(0x28), ALU_ROW(0x30), ALU_ROW(0x38),
	[0x63] = D_OK | D_MODRM | D_ONLY64,
	[0x80] = D_OK | D_MODRM | D_BYTE | D_IMM8,
	[0x81] = D_OK | D_MODRM | D_IMMZ,
	[0x82] = D_OK | D_MODRM | D_BYTE | D_IMM8 | D_NO64,
	[0x83] = D_OK | D_MODRM | D_IMM8,
	[0x84] = D_OK | D_MODRM | D_BYTE, [0x85] = D_OK | D_MODRM,
	[0x86] = D_OK | D_MODRM | D_BYTE, [0x87] = D_OK | D_MODRM,
	[0x88] = D_OK | D_MODRM | D_BYTE, [0x89] = D_OK | D_MODRM,
	[0x8a] = D_OK | D_MODRM | D_BYTE, [0x8b] = D_OK | D_MODRM,
	[0xa0] = D_OK | D_MOFFS | D_BYTE, [0xa1] = D_OK | D_MOFFS,
	[0xa2] = D_OK | D_MOFFS | D_BYTE, [0xa3] = D_OK | D_MOFFS,
	[0xa4] = D_OK | D_STRING | D_BYTE, [0xa5] = D_OK | D_STRING,
	[0xa8] = D_OK | D_BYTE | D_IMM8, [0xa9] = D_OK | D_IMMZ,
	[0xaa] = D_OK | D_STRING | D_BYTE, [0xab] = D_OK | D_STRING,
	[0xac] = D_OK | D_STRING | D_BYTE, [0xad] = D_OK | D_STRING,
	[0xc6] = D_OK | D_MODRM | D_BYTE | D_IMM8, [0xc7] = D_OK | D_MODRM | D_IMMZ,
	[0xf6] = D_OK | D_MODRM | D_BYTE | D_GRP3, [0xf7] = D_OK | D_MODRM | D_GRP3,
	[0xfe] = D_OK | D_MODRM | D_BYTE, [0xff] = D_OK | D_MODRM,
};

static const u16 map2[256] = {
	[0xa3] = D_OK | D_MODRM, [0xab] = D_OK | D_MODRM, [0xb3] = D_OK | D_MODRM, [0xbb] = D_OK | D_MODRM,
	[0xba] = D_OK | D_MODRM | D_IMM8,
	[0xb0] = D_OK | D_MODRM | D_BYTE, [0xb1] = D_OK | D_MODRM,
	[0xb6] = D_OK | D_MODRM, [0xb7] = D_OK | D_MODRM,
	[0xbe] = D_OK | D_MODRM, [0xbf] = D_OK | D_MODRM,
	[0xc0] = D_OK | D_MODRM | D_BYTE, [0xc1] = D_OK | D_MODRM,
};
/* clang-format on */

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

/* Whether the ModRM.reg extension names an instruction the emulator does. */
static bool group_ok(const struct emu_insn *insn)
{
	unsigned int ext = insn->modrm >> 3 & 7;

	if (insn->map == 1)
		return insn->opcode != 0xba || ext >= 4; /* BT, BTS, BTR, BTC */
	switch (insn->opcode) {
	case 0xc6:
	case 0xc7:
		return ext == 0; /* MOV; C6 F8 / C7 F8 are XABORT / XBEGIN */
	case 0xf6:
	case 0xf7:
		return ext <= 3; /* TEST (and its /1 alias), NOT, NEG; not MUL, IMUL, DIV, IDIV */
	case 0xfe:
	case 0xff:
		return ext <= 1; /* INC, DEC; not CALL, JMP, PUSH */
	default:
		return true;
	}
}

enum emu_result emu_decode(struct emu_ctxt *ctxt)
{
	struct emu_insn *insn = &ctxt->insn;
	struct decoder d = {.ctxt = ctxt};
	enum emu_result r;
	u16 flags;
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
	if (insn->opcode == 0x0f) {
		insn->map = 1;
		r = next_byte(&d, &insn->opcode);
		if (r != EMU_OK)
			return r;
	}
	set_sizes(ctxt, insn);

	flags = insn->map ? map2[insn->opcode] : map1[insn->opcode];
	if (!(flags & D_OK) || ((flags & D_NO64) && ctxt->mode == EMU_MODE_64) ||
	    ((flags & D_ONLY64) && ctxt->mode != EMU_MODE_64))
		return EMU_UNHANDLED;
	if (flags & D_BYTE)
		insn->op_size = 1;

	if (flags & D_MODRM) {
		r = next_byte(&d, &insn->modrm);
		if (r != EMU_OK)
			return r;
		insn->has_modrm = true;
		insn->mod = insn->modrm >> 6;
		insn->reg = ((insn->modrm >> 3) & 7) | ((insn->rex & 4) << 1);
		insn->rm = (insn->modrm & 7) | ((insn->rex & 1) << 3);
		if (!group_ok(insn))
			return EMU_UNHANDLED;
		if (insn->mod != 3) {
			insn->mem = true;
			r = insn->addr_size == 2 ? decode_modrm16(&d, insn) : decode_modrm32(&d, insn);
			if (r != EMU_OK)
				return r;
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
	if ((flags & D_IMM8) || ((flags & D_GRP3) && ((insn->modrm >> 3) & 7) <= 1 && (flags & D_BYTE)))
		insn->imm_size = 1;
	else if ((flags & D_IMMZ) || ((flags & D_GRP3) && ((insn->modrm >> 3) & 7) <= 1))
		insn->imm_size = insn->op_size == 2 ? 2 : 4;
	if (insn->imm_size) {
		r = next_signed(&d, insn->imm_size, &v);
		if (r != EMU_OK)
			return r;
		insn->imm = (u64)v;
	}
	insn->len = d.pos;
	return EMU_OK;
}
