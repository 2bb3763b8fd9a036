/* The emulator's frame: the entry point, the CPU mode, segmentation and linear addresses, memory access through the
 * caller's callbacks, register views, and the formatting of instruction bytes for the caller's log line. */
#include "vm/emulate/internal.h"

#include "hv/errno.h"
#include "hv/string.h"

#define EMU_CR4_LA57 BIT(12) /* 5-level paging: 57-bit linear addresses */

enum emu_mode emu_mode_of(bool cr0_pe, bool rflags_vm, bool efer_lma, bool cs_l, bool cs_d)
{
	if (!cr0_pe || rflags_vm)
		return EMU_MODE_REAL;
	if (efer_lma && cs_l)
		return EMU_MODE_64;
	return cs_d ? EMU_MODE_PROT32 : EMU_MODE_PROT16;
}

enum emu_result emu_raise(struct emu_ctxt *ctxt, u8 vector, bool has_error, u32 error_code)
{
	ctxt->exc = (struct emu_fault){.vector = vector, .has_error = has_error, .error_code = error_code};
	return EMU_EXCEPTION;
}

enum emu_result emu_callback_result(struct emu_ctxt *ctxt, int r, const struct emu_fault *fault)
{
	if (r == 0)
		return EMU_OK;
	if (r == EMU_CB_FAULT && fault) {
		ctxt->exc = *fault;
		return EMU_EXCEPTION;
	}
	if (r == -EAGAIN)
		return EMU_RETRY;
	ctxt->error = r < 0 ? r : -EIO;
	return EMU_ERROR;
}

/* Canonical for the guest's paging: 57-bit linear addresses with CR4.LA57 (5-level paging), else 48 (SDM Vol. 1
 * 3.3.7.1, Vol. 3A 4.5). The emulator runs in 64-bit mode only with IA-32e paging on, where LA57 is what decides. */
bool emu_is_canonical(const struct emu_ctxt *ctxt, u64 va)
{
	unsigned int shift = (ctxt->cr4 & EMU_CR4_LA57) ? 7 : 16;

	return (u64)((s64)(va << shift) >> shift) == va;
}

/* The segment's own checks outside 64-bit mode (SDM Vol. 3A 5.3, 5.4.1, 5.5): limit and, in protected mode, type. */
static bool seg_access_ok(const struct emu_ctxt *ctxt, u8 seg, u64 ea, unsigned int size, bool write)
{
	u8 f = ctxt->seg_flags[seg];
	u64 limit = ctxt->seg_limit[seg], last = ea + size - 1;

	if (ctxt->mode != EMU_MODE_REAL) {
		if ((f & EMU_SEGF_UNUSABLE) || (write && (f & EMU_SEGF_NOWRITE)) || (!write && (f & EMU_SEGF_NOREAD)))
			return false;
	}
	if (f & EMU_SEGF_EXPDOWN) /* valid offsets are limit + 1 up to 64K - 1 or 4G - 1 */
		return ea > limit && last <= ((f & EMU_SEGF_BIG) ? 0xffffffffULL : 0xffffULL);
	return last <= limit;
}

enum emu_result emu_linearize_access(struct emu_ctxt *ctxt, u8 seg, u64 ea, unsigned int size, bool write,
				     gva_t *linear)
{
	u8 vector;
	u64 lin, last;

	if (seg >= EMU_NR_SEGS)
		seg = EMU_SEG_DS;
	vector = seg == EMU_SEG_SS ? EMU_VEC_SS : EMU_VEC_GP;
	if (ctxt->mode == EMU_MODE_64) {
		/* Only FS and GS have bases in 64-bit mode. Both ends must be canonical, and no access wraps. */
		lin = ea + (seg == EMU_SEG_FS || seg == EMU_SEG_GS ? ctxt->seg_base[seg] : 0);
		last = lin + size - 1;
		if (!emu_is_canonical(ctxt, lin) || !emu_is_canonical(ctxt, last) || last < lin)
			return emu_raise(ctxt, vector, true, 0);
	} else {
		if (ctxt->seg_checks && !seg_access_ok(ctxt, seg, ea, size, write))
			return emu_raise(ctxt, vector, true, 0);
		/* With flat segments an access past 4 GiB exceeds the limit; the callbacks never see a wrapped one. */
		lin = (u32)ctxt->seg_base[seg] + (u32)ea;
		if (lin + size - 1 > 0xffffffffULL)
			return emu_raise(ctxt, vector, true, 0);
	}
	*linear = lin;
	return EMU_OK;
}

enum emu_result emu_linearize(struct emu_ctxt *ctxt, u8 seg, u64 ea, unsigned int size, gva_t *linear)
{
	return emu_linearize_access(ctxt, seg, ea, size, false, linear);
}

enum emu_result emu_mem_read(struct emu_ctxt *ctxt, u8 seg, u64 ea, void *buf, unsigned int size)
{
	struct emu_fault fault = {0};
	gva_t lin;
	enum emu_result r = emu_linearize(ctxt, seg, ea, size, &lin);

	if (r != EMU_OK)
		return r;
	if (!ctxt->ops || !ctxt->ops->read) {
		ctxt->error = -EFAULT;
		return EMU_ERROR;
	}
	return emu_callback_result(ctxt, ctxt->ops->read(ctxt->opaque, lin, buf, size, &fault), &fault);
}

enum emu_result emu_mem_write(struct emu_ctxt *ctxt, u8 seg, u64 ea, const void *buf, unsigned int size)
{
	struct emu_fault fault = {0};
	gva_t lin;
	enum emu_result r = emu_linearize_access(ctxt, seg, ea, size, true, &lin);

	if (r != EMU_OK)
		return r;
	if (!ctxt->ops || !ctxt->ops->write) {
		ctxt->error = -EFAULT;
		return EMU_ERROR;
	}
	return emu_callback_result(ctxt, ctxt->ops->write(ctxt->opaque, lin, buf, size, &fault), &fault);
}

enum emu_result emu_mem_rmw_write(struct emu_ctxt *ctxt, u8 seg, u64 ea, const void *old, const void *new,
				  unsigned int size)
{
	const struct emu_insn *insn = &ctxt->insn;
	bool locked = insn->lock || (insn->map == 0 && (insn->opcode == 0x86 || insn->opcode == 0x87));
	struct emu_fault fault = {0};
	gva_t lin;
	enum emu_result r;

	if (!locked || !ctxt->ops || !ctxt->ops->cmpxchg)
		return emu_mem_write(ctxt, seg, ea, new, size);
	r = emu_linearize_access(ctxt, seg, ea, size, true, &lin);
	if (r != EMU_OK)
		return r;
	return emu_callback_result(ctxt, ctxt->ops->cmpxchg(ctxt->opaque, lin, old, new, size, &fault), &fault);
}

u64 emu_reg_read(const struct emu_ctxt *ctxt, unsigned int reg, unsigned int size, bool high8)
{
	u64 v = ctxt->regs[reg & 15];

	if (high8)
		return (v >> 8) & 0xff;
	return v & emu_size_mask(size);
}

void emu_reg_write(struct emu_ctxt *ctxt, unsigned int reg, unsigned int size, bool high8, u64 val)
{
	u64 *p = &ctxt->regs[reg & 15];

	if (high8)
		*p = (*p & ~0xff00ULL) | ((val & 0xff) << 8);
	else if (size == 4)
		*p = (u32)val; /* 32-bit results zero-extend into the whole register */
	else
		*p = (*p & ~emu_size_mask(size)) | (val & emu_size_mask(size));
}

void emu_reg_add_masked(struct emu_ctxt *ctxt, unsigned int reg, unsigned int size, s64 delta)
{
	emu_reg_write(ctxt, reg, size, false, ctxt->regs[reg & 15] + (u64)delta);
}

u64 emu_next_rip(const struct emu_ctxt *ctxt)
{
	u64 next = ctxt->rip + ctxt->insn.len;

	switch (ctxt->mode) {
	case EMU_MODE_64:
		return next;
	case EMU_MODE_PROT32:
		return (u32)next;
	default:
		return (u16)next;
	}
}

void emu_advance_rip(struct emu_ctxt *ctxt)
{
	ctxt->rip = emu_next_rip(ctxt);
}

u64 emu_insn_ea(const struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	u64 ea = (u64)insn->disp;

	if (insn->base != EMU_REG_NONE)
		ea += ctxt->regs[insn->base & 15];
	if (insn->index != EMU_REG_NONE)
		ea += ctxt->regs[insn->index & 15] * insn->scale;
	if (insn->rip_rel)
		ea += emu_next_rip(ctxt);
	return ea & emu_size_mask(insn->addr_size);
}

enum emu_result emu_run(struct emu_ctxt *ctxt)
{
	enum emu_result r = emu_decode(ctxt);

	if (r != EMU_OK)
		return r;
	return emu_execute(ctxt);
}

size_t emu_format_bytes(const struct emu_insn *insn, char *buf, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	unsigned int n = insn->len ? insn->len : insn->nbytes;
	size_t pos = 0;

	if (!size)
		return 0;
	n = MIN(n, (unsigned int)EMU_MAX_INSN_LEN);
	for (unsigned int i = 0; i < n; i++) {
		unsigned int need = i ? 3 : 2;
		if (pos + need >= size)
			break;
		if (i)
			buf[pos++] = ' ';
		buf[pos++] = hex[insn->bytes[i] >> 4];
		buf[pos++] = hex[insn->bytes[i] & 15];
	}
	buf[pos] = '\0';
	return pos;
}

const char *emu_result_name(enum emu_result r)
{
	switch (r) {
	case EMU_OK:
		return "ok";
	case EMU_CONTINUE:
		return "continue";
	case EMU_RETRY:
		return "retry";
	case EMU_UNHANDLED:
		return "unhandled";
	case EMU_EXCEPTION:
		return "exception";
	case EMU_ERROR:
		return "error";
	}
	return "?";
}
