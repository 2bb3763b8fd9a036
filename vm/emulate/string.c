/* The string instructions: MOVS, CMPS, STOS, LODS, SCAS, and the port string instructions INS and OUTS, one element
 * (at most 8 bytes) per iteration, with or without REP, honouring DF and the address size (which picks SI/ESI/RSI,
 * DI/EDI/RDI and CX/ECX/RCX and how they wrap). A REP runs at most rep_batch iterations per call and then returns
 * EMU_CONTINUE with rip still at the instruction, so a huge count never holds the vCPU and the guest sees the
 * architectural intermediate state if an interrupt is taken in between. CMPS and SCAS stop early as REPE/REPNE say:
 * F3 repeats while ZF is 1, F2 while it is 0, each tested after the iteration (and the count first: a count of zero
 * compares nothing). The same engine serves a decoded instruction and the string I/O exits, which describe INS and
 * OUTS without their bytes (emu_run_pio_string). */
#include "vm/emulate/internal.h"

#include "hv/errno.h"

static bool is_compare(u8 op)
{
	return op == 0xa6 || op == 0xa7 || op == 0xae || op == 0xaf;
}

bool emu_insn_is_pio_string(const struct emu_insn *insn)
{
	return insn->map == 0 && !insn->vex && insn->opcode >= 0x6c && insn->opcode <= 0x6f;
}

/* INS: the port's element to ES:rDI. The destination is translated for a write before the port is read (SDM: INS
 * faults before the input), so a #PF or a segment fault leaves the device's state as it was. */
static enum emu_result ins_element(struct emu_ctxt *ctxt, unsigned int size, u64 di)
{
	struct emu_fault fault = {0};
	enum emu_result r;
	gva_t lin;
	u32 v = 0;

	r = emu_linearize_access(ctxt, EMU_SEG_ES, di, size, true, &lin);
	if (r != EMU_OK)
		return r;
	if (ctxt->ops->check_write) {
		r = emu_callback_result(ctxt, ctxt->ops->check_write(ctxt->opaque, lin, size, &fault), &fault);
		if (r != EMU_OK)
			return r;
	}
	r = emu_callback_result(ctxt, ctxt->ops->pio_in(ctxt->opaque, (u16)ctxt->regs[EMU_RDX], size, &v), NULL);
	if (r != EMU_OK)
		return r;
	return emu_mem_write(ctxt, EMU_SEG_ES, di, &v, size);
}

/* OUTS: seg:rSI to the port (the read faults before anything reaches the device). */
static enum emu_result outs_element(struct emu_ctxt *ctxt, unsigned int size, u64 si)
{
	u32 v = 0;
	enum emu_result r = emu_mem_read(ctxt, ctxt->insn.seg, si, &v, size);

	if (r != EMU_OK)
		return r;
	return emu_callback_result(ctxt, ctxt->ops->pio_out(ctxt->opaque, (u16)ctxt->regs[EMU_RDX], size, v), NULL);
}

/* One element: MOVS copies seg:rSI to ES:rDI, CMPS compares seg:rSI with ES:rDI (flags of [rSI] - [rDI]), STOS
 * stores the accumulator at ES:rDI, LODS loads it from seg:rSI, SCAS compares the accumulator with ES:rDI. The rDI
 * operand's segment is always ES, whatever the prefixes say. Flags go to *rflags, stored by the caller only once
 * the element completed. */
static enum emu_result one_element(struct emu_ctxt *ctxt, unsigned int size, u64 amask, u64 *rflags)
{
	const struct emu_insn *insn = &ctxt->insn;
	u64 si = ctxt->regs[EMU_RSI] & amask, di = ctxt->regs[EMU_RDI] & amask, v = 0, w = 0;
	enum emu_result r;

	switch (insn->opcode) {
	case 0x6c:
	case 0x6d:
		return ins_element(ctxt, size, di);
	case 0x6e:
	case 0x6f:
		return outs_element(ctxt, size, si);
	case 0xa4:
	case 0xa5:
		r = emu_mem_read(ctxt, insn->seg, si, &v, size);
		if (r != EMU_OK)
			return r;
		return emu_mem_write(ctxt, EMU_SEG_ES, di, &v, size);
	case 0xa6:
	case 0xa7:
		r = emu_mem_read(ctxt, insn->seg, si, &v, size);
		if (r == EMU_OK)
			r = emu_mem_read(ctxt, EMU_SEG_ES, di, &w, size);
		if (r == EMU_OK)
			emu_alu(EMU_ALU_CMP, v, w, size, rflags);
		return r;
	case 0xaa:
	case 0xab:
		v = emu_reg_read(ctxt, EMU_RAX, size, false);
		return emu_mem_write(ctxt, EMU_SEG_ES, di, &v, size);
	case 0xae:
	case 0xaf:
		r = emu_mem_read(ctxt, EMU_SEG_ES, di, &w, size);
		if (r == EMU_OK)
			emu_alu(EMU_ALU_CMP, emu_reg_read(ctxt, EMU_RAX, size, false), w, size, rflags);
		return r;
	default: /* AC, AD */
		r = emu_mem_read(ctxt, insn->seg, si, &v, size);
		if (r == EMU_OK)
			emu_reg_write(ctxt, EMU_RAX, size, false, v);
		return r;
	}
}

enum emu_result emu_exec_string(struct emu_ctxt *ctxt)
{
	const struct emu_insn *insn = &ctxt->insn;
	unsigned int size = insn->op_size, asize = insn->addr_size;
	u64 amask = emu_size_mask(asize);
	s64 delta = (ctxt->rflags & EMU_FL_DF) ? -(s64)size : (s64)size;
	u8 op = insn->opcode;
	bool uses_si = op == 0x6e || op == 0x6f || (op >= 0xa4 && op <= 0xa7) || op == 0xac || op == 0xad;
	bool uses_di = op == 0x6c || op == 0x6d || (op >= 0xa4 && op <= 0xab) || op >= 0xae;
	bool compare = is_compare(op);
	/* F2 before MOVS, STOS, LODS, INS, OUTS repeats exactly like F3: only CMPS and SCAS look at ZF. */
	bool rep = insn->rep != 0;
	u64 count = rep ? ctxt->regs[EMU_RCX] & amask : 1;
	u32 batch = ctxt->rep_batch ? ctxt->rep_batch : EMU_REP_BATCH;

	if (emu_insn_is_pio_string(insn) && (!ctxt->ops || !ctxt->ops->pio_in || !ctxt->ops->pio_out))
		return EMU_UNHANDLED;

	for (u32 done = 0;; done++) {
		u64 fl = ctxt->rflags;
		enum emu_result r;

		if (!count) {
			/* Also a REP with a count of zero: no access, no register change, just the next instruction. */
			emu_advance_rip(ctxt);
			return EMU_OK;
		}
		if (done == batch)
			return EMU_CONTINUE;
		r = one_element(ctxt, size, amask, &fl);
		if (r != EMU_OK)
			return r; /* the registers describe the iterations completed, as after a fault on the CPU */
		ctxt->rflags = fl;
		if (uses_si)
			emu_reg_add_masked(ctxt, EMU_RSI, asize, delta);
		if (uses_di)
			emu_reg_add_masked(ctxt, EMU_RDI, asize, delta);
		count--;
		if (rep)
			emu_reg_write(ctxt, EMU_RCX, asize, false, count);
		/* REPE ends on a difference, REPNE on a match. */
		if (rep && compare && !!(fl & EMU_FL_ZF) != (insn->rep == 0xf3))
			count = 0;
		if (count && ctxt->ops && ctxt->ops->rep_stop && ctxt->ops->rep_stop(ctxt->opaque))
			return EMU_CONTINUE;
	}
}

enum emu_result emu_run_pio_string(struct emu_ctxt *ctxt, const struct emu_pio_string *io)
{
	struct emu_insn *insn = &ctxt->insn;

	if ((io->size != 1 && io->size != 2 && io->size != 4) ||
	    (io->addr_size != 2 && io->addr_size != 4 && io->addr_size != 8) || !io->len ||
	    io->len > EMU_MAX_INSN_LEN) {
		ctxt->error = -EINVAL; /* the backend's decode is broken, not the guest */
		return EMU_ERROR;
	}
	*insn = (struct emu_insn){
		.len = io->len,
		.opcode = (u8)((io->in ? 0x6c : 0x6e) + (io->size > 1)),
		.op_size = io->size,
		.addr_size = io->addr_size,
		.rep = io->rep ? 0xf3 : 0,
		.seg = io->in ? EMU_SEG_ES : (io->seg < EMU_NR_SEGS ? io->seg : EMU_SEG_DS),
		.base = EMU_REG_NONE,
		.index = EMU_REG_NONE,
		.scale = 1,
	};
	return emu_exec_string(ctxt);
}
