/*
 * The system instructions, for callers that pass a struct emu_sys_ops (a real-mode or intercept path); without one
 * they stay EMU_UNHANDLED. LGDT/LIDT/SGDT/SIDT/SMSW/LMSW/INVLPG (0F 01), SLDT/STR (0F 00), CLTS, INVD/WBINVD,
 * MOV to and from CR and DR, RDMSR/WRMSR, HLT.
 *
 * The emulator makes the checks the instruction makes: LOCK is #UD (exec.c); an invalid CR or DR number is #UD;
 * SLDT and STR are #UD in real and virtual-8086 mode; privileged ones are #GP(0) at CPL > 0; SGDT, SIDT, SLDT, SMSW
 * and STR are too when UMIP is on. What the value written implies is the callback's (emulate.h).
 * Operand sizes: MOV CR/DR move 32 bits, 64 in 64-bit mode, whatever 66 or REX.W say; LGDT/LIDT load a 16-bit limit
 * and a 32-bit base, of which a 16-bit operand size keeps 24 bits, and an 8-byte base in 64-bit mode; SGDT/SIDT
 * store the whole 32-bit base outside 64-bit mode (SDM SGDT: "the 32-bit base address is stored" for 16- and
 * 32-bit operands); SMSW and SLDT/STR store 16 bits to memory and the operand size to a register.
 * Descriptor-table stores are two writes (limit, then base): a fault on the base leaves the limit stored.
 */
#include "vm/emulate/internal.h"

#define CR0_PE	    BIT(0)
#define CR0_MSW	    0xfULL /* PE MP EM TS: what LMSW loads */
#define CR0_TS	    BIT(3)
#define CR4_DE	    BIT(3)

/* The callback a member of emu_sys_ops names is there: when it is not, the instruction is not done. */
#define NEED(ctxt, member)                                                                                             \
	do {                                                                                                           \
		if (!(ctxt)->sys || !(ctxt)->sys->member)                                                              \
			return EMU_UNHANDLED;                                                                          \
	} while (0)

static bool privileged_denied(const struct emu_ctxt *ctxt)
{
	return ctxt->cpl > 0;
}

static bool umip_denied(const struct emu_ctxt *ctxt)
{
	return ctxt->umip && ctxt->cpl > 0;
}

/* The memory operand's address plus off, wrapped to the address size. */
static u64 ea_plus(const struct emu_ctxt *ctxt, u64 off)
{
	return (emu_insn_ea(ctxt) + off) & emu_size_mask(ctxt->insn.addr_size);
}

/* SGDT/SIDT (0F 01 /0 /1). */
static enum emu_result exec_sdt(struct emu_ctxt *ctxt, bool idt)
{
	const struct emu_insn *insn = &ctxt->insn;
	unsigned int bsize = ctxt->mode == EMU_MODE_64 ? 8 : 4;
	u16 limit;
	u64 base;
	enum emu_result r;

	NEED(ctxt, get_dt);
	if (umip_denied(ctxt))
		return emu_raise_gp0(ctxt);
	ctxt->sys->get_dt(ctxt->opaque, idt, &limit, &base);
	r = emu_mem_write(ctxt, insn->seg, emu_insn_ea(ctxt), &limit, 2);
	if (r == EMU_OK)
		r = emu_mem_write(ctxt, insn->seg, ea_plus(ctxt, 2), &base, bsize);
	return r;
}

/* LGDT/LIDT (0F 01 /2 /3). */
static enum emu_result exec_ldt(struct emu_ctxt *ctxt, bool idt)
{
	const struct emu_insn *insn = &ctxt->insn;
	unsigned int bsize = ctxt->mode == EMU_MODE_64 ? 8 : 4;
	u16 limit = 0;
	u64 base = 0;
	enum emu_result r;

	NEED(ctxt, set_dt);
	if (privileged_denied(ctxt))
		return emu_raise_gp0(ctxt);
	r = emu_mem_read(ctxt, insn->seg, emu_insn_ea(ctxt), &limit, 2);
	if (r == EMU_OK)
		r = emu_mem_read(ctxt, insn->seg, ea_plus(ctxt, 2), &base, bsize);
	if (r != EMU_OK)
		return r;
	if (bsize == 4 && insn->op_size == 2)
		base &= 0xffffff;
	ctxt->sys->set_dt(ctxt->opaque, idt, limit, base);
	return EMU_OK;
}

static enum emu_result get_cr(struct emu_ctxt *ctxt, unsigned int cr, u64 *val)
{
	return emu_callback_result(ctxt, ctxt->sys->get_cr(ctxt->opaque, cr, val), NULL);
}

static enum emu_result set_cr(struct emu_ctxt *ctxt, unsigned int cr, u64 val)
{
	struct emu_fault fault = {0};

	return emu_callback_result(ctxt, ctxt->sys->set_cr(ctxt->opaque, cr, val, &fault), &fault);
}

/* SMSW (0F 01 /4): CR0's low 16 bits to memory; to a register, CR0 at the operand size (as KVM and CPUs do; the SDM
 * leaves the upper bits undefined). */
static enum emu_result exec_smsw(struct emu_ctxt *ctxt)
{
	struct emu_opnd dst = emu_rm_opnd(ctxt, ctxt->insn.op_size);
	enum emu_result r;
	u64 cr0;

	NEED(ctxt, get_cr);
	if (umip_denied(ctxt))
		return emu_raise_gp0(ctxt);
	r = get_cr(ctxt, 0, &cr0);
	return r != EMU_OK ? r : emu_opnd_write(ctxt, &dst, cr0);
}

/* LMSW (0F 01 /6): loads PE, MP, EM and TS from the 16-bit operand; it can set PE but never clear it. */
static enum emu_result exec_lmsw(struct emu_ctxt *ctxt)
{
	struct emu_opnd src = emu_rm_opnd(ctxt, 2);
	enum emu_result r;
	u64 cr0, v;

	NEED(ctxt, get_cr);
	NEED(ctxt, set_cr);
	if (privileged_denied(ctxt))
		return emu_raise_gp0(ctxt);
	r = emu_opnd_read(ctxt, &src, &v);
	if (r == EMU_OK)
		r = get_cr(ctxt, 0, &cr0);
	if (r != EMU_OK)
		return r;
	return set_cr(ctxt, 0, (cr0 & ~CR0_MSW) | (v & CR0_MSW) | (cr0 & CR0_PE));
}

/* INVLPG (0F 01 /7): no access; a non-canonical address in 64-bit mode makes it a no-op (SDM INVLPG). */
static enum emu_result exec_invlpg(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	u64 ea = emu_insn_ea(ctxt), lin;

	NEED(ctxt, invlpg);
	if (privileged_denied(ctxt))
		return emu_raise_gp0(ctxt);
	if (ctxt->mode == EMU_MODE_64) {
		lin = ea + (insn->seg == EMU_SEG_FS || insn->seg == EMU_SEG_GS ? ctxt->seg_base[insn->seg] : 0);
		if (!emu_is_canonical(ctxt, lin))
			return EMU_OK;
	} else {
		lin = (u32)(ctxt->seg_base[insn->seg] + ea);
	}
	return emu_callback_result(ctxt, ctxt->sys->invlpg(ctxt->opaque, lin), NULL);
}

/* SLDT, STR (0F 00 /0 /1): not recognised in real and virtual-8086 mode. */
static enum emu_result exec_sldt_str(struct emu_ctxt *ctxt)
{
	struct emu_opnd dst = emu_rm_opnd(ctxt, ctxt->insn.op_size);

	NEED(ctxt, get_seg_sel);
	if (ctxt->mode == EMU_MODE_REAL)
		return emu_raise_ud(ctxt);
	if (umip_denied(ctxt))
		return emu_raise_gp0(ctxt);
	return emu_opnd_write(ctxt, &dst, ctxt->sys->get_seg_sel(ctxt->opaque, emu_ext(&ctxt->insn)));
}

/* MOV r, CRn (0F 20) and MOV CRn, r (0F 22): CR0, CR2, CR3, CR4, and CR8 (REX.R) only. */
static enum emu_result exec_mov_cr(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	unsigned int cr = insn->reg, size = insn->op_size;
	enum emu_result r;
	u64 v;

	NEED(ctxt, get_cr);
	NEED(ctxt, set_cr);
	if (cr != 0 && cr != 2 && cr != 3 && cr != 4 && cr != 8)
		return emu_raise_ud(ctxt);
	if (privileged_denied(ctxt))
		return emu_raise_gp0(ctxt);
	if (insn->opcode == 0x22)
		return set_cr(ctxt, cr, emu_reg_read(ctxt, insn->rm, size, false));
	r = get_cr(ctxt, cr, &v);
	if (r == EMU_OK)
		emu_reg_write(ctxt, insn->rm, size, false, v);
	return r;
}

/* MOV r, DRn (0F 21) and MOV DRn, r (0F 23): DR8-15 are #UD; DR4/DR5 are DR6/DR7 unless CR4.DE makes them #UD. */
static enum emu_result exec_mov_dr(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	unsigned int dr = insn->reg, size = insn->op_size;
	struct emu_fault fault = {0};
	enum emu_result r;
	u64 v, cr4;

	NEED(ctxt, get_dr);
	NEED(ctxt, set_dr);
	if (dr >= 8)
		return emu_raise_ud(ctxt);
	if (privileged_denied(ctxt))
		return emu_raise_gp0(ctxt);
	if (dr == 4 || dr == 5) {
		NEED(ctxt, get_cr);
		r = get_cr(ctxt, 4, &cr4);
		if (r != EMU_OK)
			return r;
		if (cr4 & CR4_DE)
			return emu_raise_ud(ctxt);
		dr += 2;
	}
	if (insn->opcode == 0x23)
		return emu_callback_result(
		    ctxt, ctxt->sys->set_dr(ctxt->opaque, dr, emu_reg_read(ctxt, insn->rm, size, false), &fault), &fault);
	r = emu_callback_result(ctxt, ctxt->sys->get_dr(ctxt->opaque, dr, &v, &fault), &fault);
	if (r == EMU_OK)
		emu_reg_write(ctxt, insn->rm, size, false, v);
	return r;
}

/* RDMSR (0F 32) and WRMSR (0F 30): the index in ECX, the value in EDX:EAX (32-bit writes, so the upper halves of
 * RAX and RDX clear in 64-bit mode). */
static enum emu_result exec_msr(struct emu_ctxt *ctxt, bool write)
{
	struct emu_fault fault = {0};
	u32 index = (u32)ctxt->regs[EMU_RCX];
	enum emu_result r;
	u64 v;

	if (write)
		NEED(ctxt, wrmsr);
	else
		NEED(ctxt, rdmsr);
	if (privileged_denied(ctxt))
		return emu_raise_gp0(ctxt);
	if (write) {
		v = (u32)ctxt->regs[EMU_RAX] | ctxt->regs[EMU_RDX] << 32;
		return emu_callback_result(ctxt, ctxt->sys->wrmsr(ctxt->opaque, index, v, &fault), &fault);
	}
	r = emu_callback_result(ctxt, ctxt->sys->rdmsr(ctxt->opaque, index, &v, &fault), &fault);
	if (r == EMU_OK) {
		emu_reg_write(ctxt, EMU_RAX, 4, false, v);
		emu_reg_write(ctxt, EMU_RDX, 4, false, v >> 32);
	}
	return r;
}

static enum emu_result exec_grp7(struct emu_ctxt *ctxt)
{
	switch (emu_ext(&ctxt->insn)) {
	case 0:
	case 1:
		return exec_sdt(ctxt, emu_ext(&ctxt->insn) == 1);
	case 2:
	case 3:
		return exec_ldt(ctxt, emu_ext(&ctxt->insn) == 3);
	case 4:
		return exec_smsw(ctxt);
	case 6:
		return exec_lmsw(ctxt);
	default:
		return exec_invlpg(ctxt);
	}
}

enum emu_result emu_exec_system(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	enum emu_result r;
	u64 cr0;

	if (insn->map == 0) { /* F4: HLT */
		NEED(ctxt, halt);
		if (privileged_denied(ctxt))
			return emu_raise_gp0(ctxt);
		return emu_callback_result(ctxt, ctxt->sys->halt(ctxt->opaque), NULL);
	}
	switch (insn->opcode) {
	case 0x00:
		return exec_sldt_str(ctxt);
	case 0x01:
		return exec_grp7(ctxt);
	case 0x06: /* CLTS */
		NEED(ctxt, get_cr);
		NEED(ctxt, set_cr);
		if (privileged_denied(ctxt))
			return emu_raise_gp0(ctxt);
		r = get_cr(ctxt, 0, &cr0);
		return r != EMU_OK ? r : set_cr(ctxt, 0, cr0 & ~CR0_TS);
	case 0x08: /* INVD */
	case 0x09: /* WBINVD */
		NEED(ctxt, wbinvd);
		if (privileged_denied(ctxt))
			return emu_raise_gp0(ctxt);
		return emu_callback_result(ctxt, ctxt->sys->wbinvd(ctxt->opaque), NULL);
	case 0x20:
	case 0x22:
		return exec_mov_cr(ctxt);
	case 0x21:
	case 0x23:
		return exec_mov_dr(ctxt);
	case 0x30:
		return exec_msr(ctxt, true);
	default:
		return exec_msr(ctxt, false);
	}
}
