/*
 * The SSE and AVX moves, legacy and VEX-encoded: MOVUPS/MOVUPD, MOVAPS/MOVAPD, MOVNTPS/MOVNTPD, MOVDQA/MOVDQU,
 * MOVNTDQ, MOVNTDQA, MOVD/MOVQ (XMM to and from a GPR or memory), MOVQ (XMM, m64), and the scalar MOVSS/MOVSD
 * (legacy only: their VEX register forms take three operands). The guest's registers come through
 * ops->get_vreg/set_vreg; without them every instruction here is EMU_UNHANDLED.
 *
 * Checks, in the CPU's order: #UD for SSE when CR0.EM is set or CR4.OSFXSR clear, for VEX when CR4.OSXSAVE is clear
 * or XCR0 lacks SSE and AVX state, and for a VEX.vvvv other than 1111b or a VEX.L=1 scalar move; #NM when CR0.TS is
 * set; #GP(0) for a misaligned operand of an aligned move (16 bytes, 32 for VEX.256, whatever the segment); then the
 * memory access. A legacy SSE write to an XMM register keeps bits 255:128 of the YMM register; a VEX.128 write
 * clears them. MMX forms (no SIMD prefix on 6E/6F/7E/7F/E7, F2/F3 D6) are not done.
 */
#include "vm/emulate/internal.h"

#include "hv/string.h"

#define CR0_EM	   BIT(2)
#define CR0_TS	   BIT(3)
#define CR4_OSFXSR BIT(9)
#define CR4_OSXSAVE BIT(18)
#define XCR0_SSE_AVX (BIT(1) | BIT(2))

enum vkind { V_XMM, V_GPR, V_MEM };

/* One move: n bytes from src to dst; each side an XMM register, a GPR or memory. */
struct vmove {
	unsigned int n;
	bool load;    /* dst is the ModRM.reg operand (else src is) */
	bool aligned; /* an aligned move: #GP(0) for a misaligned memory operand */
	bool gpr;     /* the r/m operand is a GPR (MOVD/MOVQ 6E/7E) */
	bool merge;   /* an XMM destination keeps its bytes above n (MOVSS/MOVSD between registers) */
};

/* What the instruction is; false when it is not one of the moves (an MMX form, another SSE instruction). */
static bool classify(const struct emu_insn *insn, struct vmove *mv)
{
	unsigned int width = insn->vex_l ? 32 : 16;
	u8 p = insn->simd, op = insn->opcode;

	*mv = (struct vmove){.n = width};
	if (insn->map == 2) /* MOVNTDQA */
		return op == 0x2a && p == 0x66 && (mv->load = mv->aligned = true);
	switch (op) {
	case 0x10:
	case 0x11:
		mv->load = op == 0x10;
		if (p == 0 || p == 0x66)
			return true; /* MOVUPS, MOVUPD */
		if (insn->vex)
			return false; /* VMOVSS/VMOVSD: three-operand register forms, not done */
		mv->n = p == 0xf3 ? 4 : 8;
		mv->merge = !insn->mem;
		return true;
	case 0x28:
	case 0x29:
	case 0x2b:
		mv->load = op == 0x28;
		mv->aligned = true;
		return p == 0 || p == 0x66; /* MOVAPS, MOVAPD, MOVNTPS, MOVNTPD */
	case 0x6f:
	case 0x7f:
		mv->load = op == 0x6f;
		mv->aligned = p == 0x66;
		return p == 0x66 || p == 0xf3; /* MOVDQA, MOVDQU */
	case 0xe7:
		mv->aligned = true;
		return p == 0x66; /* MOVNTDQ */
	case 0x6e:
	case 0x7e:
		if (p == 0xf3 && op == 0x7e) { /* MOVQ xmm, xmm/m64 */
			*mv = (struct vmove){.n = 8, .load = true};
			return true;
		}
		*mv = (struct vmove){.n = insn->op_size, .load = op == 0x6e, .gpr = true}; /* MOVD, MOVQ */
		return p == 0x66;
	case 0xd6: /* MOVQ xmm/m64, xmm */
		*mv = (struct vmove){.n = 8};
		return p == 0x66;
	default:
		return false;
	}
}

static enum emu_result check_state(struct emu_ctxt *ctxt, const struct vmove *mv)
{
	const struct emu_insn *insn = &ctxt->insn;

	if (insn->vex) {
		if (!(ctxt->cr4 & CR4_OSXSAVE) || (ctxt->xcr0 & XCR0_SSE_AVX) != XCR0_SSE_AVX || insn->vex_v ||
		    (insn->vex_l && mv->n != 32))
			return emu_raise_ud(ctxt);
	} else if ((ctxt->cr0 & CR0_EM) || !(ctxt->cr4 & CR4_OSFXSR)) {
		return emu_raise_ud(ctxt);
	}
	if (ctxt->cr0 & CR0_TS)
		return emu_raise(ctxt, EMU_VEC_NM, false, 0);
	return EMU_OK;
}

static enum emu_result vreg_get(struct emu_ctxt *ctxt, unsigned int reg, u8 *buf, unsigned int size)
{
	return emu_callback_result(ctxt, ctxt->ops->get_vreg(ctxt->opaque, reg, buf, size), NULL);
}

/* Write the low n bytes of val into XMM/YMM reg: zero-extended to 128 bits (or merged), and for VEX to 256. */
static enum emu_result vreg_put(struct emu_ctxt *ctxt, unsigned int reg, const u8 *val, const struct vmove *mv)
{
	u8 buf[32] = {0};
	unsigned int size = ctxt->insn.vex ? 32 : 16;
	enum emu_result r;

	if (mv->merge) {
		r = vreg_get(ctxt, reg, buf, 16);
		if (r != EMU_OK)
			return r;
	}
	memcpy(buf, val, mv->n);
	return emu_callback_result(ctxt, ctxt->ops->set_vreg(ctxt->opaque, reg, buf, size), NULL);
}

enum emu_result emu_exec_vector(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	unsigned int xreg = insn->reg & 15, xrm = insn->rm & 15;
	enum vkind rm_kind;
	struct vmove mv;
	u8 val[32] = {0};
	u64 ea = 0, g;
	enum emu_result r = EMU_OK;

	if (!ctxt->ops || !ctxt->ops->get_vreg || !ctxt->ops->set_vreg || !classify(insn, &mv))
		return EMU_UNHANDLED;
	r = check_state(ctxt, &mv);
	if (r != EMU_OK)
		return r;
	rm_kind = insn->mem ? V_MEM : mv.gpr ? V_GPR : V_XMM;
	if (rm_kind == V_MEM) {
		ea = emu_insn_ea(ctxt);
		if (mv.aligned) {
			gva_t lin;
			r = emu_linearize(ctxt, insn->seg, ea, mv.n, &lin);
			if (r != EMU_OK)
				return r;
			if (lin & (mv.n - 1))
				return emu_raise_gp0(ctxt);
		}
	}

	/* Fetch the source. */
	if (!mv.load) {
		r = vreg_get(ctxt, xreg, val, insn->vex_l ? 32 : 16);
	} else if (rm_kind == V_MEM) {
		r = emu_mem_read(ctxt, insn->seg, ea, val, mv.n);
	} else if (rm_kind == V_GPR) {
		g = emu_reg_read(ctxt, xrm, mv.n, false);
		memcpy(val, &g, mv.n);
	} else {
		r = vreg_get(ctxt, xrm, val, insn->vex_l ? 32 : 16);
	}
	if (r != EMU_OK)
		return r;

	/* Store it. */
	if (mv.load)
		return vreg_put(ctxt, xreg, val, &mv);
	if (rm_kind == V_MEM)
		return emu_mem_write(ctxt, insn->seg, ea, val, mv.n);
	if (rm_kind == V_GPR) {
		g = 0;
		memcpy(&g, val, mv.n);
		emu_reg_write(ctxt, xrm, mv.n, false, g);
		return EMU_OK;
	}
	return vreg_put(ctxt, xrm, val, &mv);
}
