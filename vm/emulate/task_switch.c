/* Hardware task switching (task_switch.h), in the order of SDM Vol. 3A 8.3 ("Task Switching"): the checks of the
 * new TSS, the save into the old TSS, the busy bits and back-link, then the commit point (TR loaded), then the new
 * task's state, whose segment descriptors are checked in the new task's context as the CPU does (SDM 8.3 step 13 and
 * the #TS conditions of Table 7-6). KVM's emulator_task_switch follows the same steps; where it and the SDM differ
 * (the old TSS's format, upper halves of registers on a 16-bit switch, busy checks) this follows the SDM. */
#include "hv/errno.h"
#include "vm/emulate/task_switch.h"

#define EFL_NT	 BIT(14)
#define EFL_VM	 BIT(17)
#define EFL_FIX1 BIT(1)
#define CR0_TS	 BIT(3)

#define VEC_TS 10
#define VEC_NP 11
#define VEC_SS 12
#define VEC_GP 13

/* 32-bit TSS (SDM Figure 8-2) and 16-bit TSS (Figure 8-11) offsets. */
#define TSS32_CR3     0x1c
#define TSS32_EIP     0x20
#define TSS32_SEGS    0x48 /* ES CS SS DS FS GS, 4 bytes apart */
#define TSS32_LDT     0x60
#define TSS32_TRAP    0x64 /* bit 0: T, the debug trap flag */
#define TSS32_MIN_LIM 0x67
#define TSS16_IP      0x0e
#define TSS16_SEGS    0x22 /* ES CS SS DS, 2 bytes apart */
#define TSS16_LDT     0x2a
#define TSS16_MIN_LIM 0x2b

/* The attribute type field of a TSS descriptor (S = 0): 1/3 16-bit available/busy, 9/11 32-bit available/busy. */
#define TYPE_BUSY  2
#define TYPE_TSS32 8

static int fail(struct emu_fault *fault, u8 vector, u32 error)
{
	*fault = (struct emu_fault){.vector = vector, .has_error = true, .error_code = error};
	return EMU_CB_FAULT;
}

static inline u16 get16(const u8 *p)
{
	return (u16)(p[0] | p[1] << 8);
}

static inline u32 get32(const u8 *p)
{
	return (u32)get16(p) | (u32)get16(p + 2) << 16;
}

static inline void put16(u8 *p, u32 v)
{
	p[0] = (u8)v;
	p[1] = (u8)(v >> 8);
}

static inline void put32(u8 *p, u32 v)
{
	put16(p, v);
	put16(p + 2, v >> 16);
}

void ts_desc_to_seg(u64 desc, u16 sel, struct ts_seg *seg)
{
	u32 lo = (u32)desc, hi = (u32)(desc >> 32);
	u32 limit = (lo & 0xffff) | (hi & 0xf0000);

	seg->sel = sel;
	seg->base = (lo >> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000);
	seg->attr = (u16)(((hi >> 8) & 0xff) | (((hi >> 20) & 0xf) << 8));
	seg->limit = (hi & BIT(23)) ? (limit << 12) | 0xfff : limit;
}

/* The 8-byte descriptor sel names, from the GDT or the LDT (gdt_only: TR and LDTR selectors); *addr its linear
 * address. A selector past the table's limit is vector(sel). */
static int read_desc(struct ts_state *s, const struct ts_ops *ops, void *opaque, u16 sel, bool gdt_only, u8 vector,
		     u64 *desc, u32 *addr, struct emu_fault *fault)
{
	u64 base = s->gdt_base;
	u32 limit = s->gdt_limit;

	if (sel & 4) {
		if (gdt_only || (s->seg[TS_LDTR].attr & TS_ATTR_UNUSABLE))
			return fail(fault, vector, sel & 0xfffc);
		base = s->seg[TS_LDTR].base;
		limit = s->seg[TS_LDTR].limit;
	}
	if ((u32)(sel & ~7) + 7 > limit)
		return fail(fault, vector, sel & 0xfffc);
	*addr = (u32)(base + (sel & ~7));
	return ops->read(opaque, *addr, desc, 8, false, fault);
}

/* Set bits in a descriptor with a locked update, as the CPU sets the busy and accessed bits. */
static int desc_set_clear(const struct ts_ops *ops, void *opaque, u32 addr, u64 set, u64 clear, struct emu_fault *fault)
{
	for (int tries = 0; tries < 16; tries++) {
		u64 old;
		int r = ops->read(opaque, addr, &old, 8, false, fault);
		if (r)
			return r;
		u64 new = (old | set) & ~clear;
		if (new == old)
			return 0;
		r = ops->cmpxchg8(opaque, addr, old, new, fault);
		if (r != -EAGAIN)
			return r;
	}
	return -EAGAIN; /* another vCPU rewrites it without end: the guest is broken, the caller gives up */
}

#define DESC_BUSY     BIT(41)
#define DESC_ACCESSED BIT(40)

/*
 * Load one segment register of the new task from its selector (SDM 8.3 step 13; the checks of MOV to a segment
 * register, with #TS for what MOV raises #GP for, and #NP, or #SS for SS, for a segment that is not present). cpl is
 * the new task's: CS.RPL, or 3 in virtual-8086 mode.
 */
static int load_seg(struct ts_state *s, const struct ts_ops *ops, void *opaque, int which, u16 sel, u8 cpl,
		    struct emu_fault *fault)
{
	struct ts_seg *seg = &s->seg[which];
	u32 err = sel & 0xfffc, addr;
	u8 rpl = sel & 3;
	u64 desc;
	int r;

	if (s->eflags & EFL_VM) {
		/* Virtual-8086 mode: real-mode segments at DPL 3 (the LDTR is still a protected-mode selector). */
		if (which != TS_LDTR) {
			*seg = (struct ts_seg){.base = (u32)sel << 4, .limit = 0xffff, .sel = sel, .attr = 0xf3};
			return 0;
		}
	}
	if (!(sel & 0xfffc)) {
		/* Null: never for CS or SS (which has no null form outside 64-bit mode); unusable for the rest. */
		if (which == TS_CS || which == TS_SS)
			return fail(fault, VEC_TS, err);
		*seg = (struct ts_seg){.sel = sel, .attr = TS_ATTR_UNUSABLE};
		return 0;
	}
	r = read_desc(s, ops, opaque, sel, which == TS_LDTR, VEC_TS, &desc, &addr, fault);
	if (r)
		return r;
	struct ts_seg n;
	ts_desc_to_seg(desc, sel, &n);
	u8 type = n.attr & 15, dpl = (n.attr >> 5) & 3;
	bool system = !(n.attr & BIT(4)), code = type & 8;
	switch (which) {
	case TS_LDTR:
		if (!system || type != 2)
			return fail(fault, VEC_TS, err);
		break;
	case TS_CS:
		/* Code; a non-conforming one at DPL = CPL (= RPL), a conforming one at DPL <= CPL. */
		if (system || !code || ((type & 4) ? dpl > cpl : dpl != cpl))
			return fail(fault, VEC_TS, err);
		break;
	case TS_SS:
		/* A writable data segment at RPL = DPL = CPL. */
		if (system || code || !(type & 2) || rpl != cpl || dpl != cpl)
			return fail(fault, VEC_TS, err);
		break;
	default:
		/* Data, or readable code; unless conforming code, DPL >= max(CPL, RPL). */
		if (system || (code && !(type & 2)) || (!(code && (type & 4)) && (rpl > dpl || cpl > dpl)))
			return fail(fault, VEC_TS, err);
		break;
	}
	if (!(n.attr & BIT(7)))
		return fail(fault, which == TS_SS ? VEC_SS : VEC_NP, err);
	if (!system && !(type & 1)) {
		r = desc_set_clear(ops, opaque, addr, DESC_ACCESSED, 0, fault);
		if (r)
			return r;
		n.attr |= 1;
	}
	*seg = n;
	return 0;
}

/*
 * The new task's selectors, all of them, before any descriptor is loaded (SDM 8.3 step 13). What a segment register
 * holds until its descriptor loads is what a fault in between leaves for the new task's handler:
 * - the LDTR and the data segments: the new selector with an unusable hidden part, as Bochs and QEMU leave their
 *   descriptor caches invalid there (an access through one faults as through a null selector);
 * - CS and SS: the new selector with the old hidden part (KVM's set_segment_selector), whose DPL becomes the new
 *   CPL: the CPU's CPL is CS.RPL from here on (KVM's emulator checks with it), VMX and SVM take theirs from SS.DPL,
 *   and VM entry wants CS.DPL and SS.DPL to agree. The SDM promises no more ("the processor will load all the state
 *   information from the new TSS ... before it generates the exception", and the handler "should not rely on being
 *   able to use the segment selectors" there: Vol. 3A 6.15, #TS and #NP, Program State Change); a task gate handler
 *   saves these selectors back into the TSS they came from;
 * - in virtual-8086 mode there is nothing to check: each segment is its real-mode self at once.
 */
static void set_selectors(struct ts_state *s, const u16 *sels, u16 ldt, u8 cpl)
{
	for (int i = TS_ES; i <= TS_GS; i++) {
		struct ts_seg *seg = &s->seg[i];
		if (s->eflags & EFL_VM)
			*seg =
			    (struct ts_seg){.base = (u32)sels[i] << 4, .limit = 0xffff, .sel = sels[i], .attr = 0xf3};
		else if (i == TS_CS || i == TS_SS)
			*seg = (struct ts_seg){.base = seg->base,
					       .limit = seg->limit,
					       .sel = sels[i],
					       .attr = (u16)((seg->attr & ~(3u << 5)) | (u32)cpl << 5)};
		else
			*seg = (struct ts_seg){.sel = sels[i], .attr = TS_ATTR_UNUSABLE};
	}
	s->seg[TS_LDTR] = (struct ts_seg){.sel = ldt, .attr = TS_ATTR_UNUSABLE};
}

/* The old task's dynamic state into its TSS, in the old TSS's own format (the TR's type): EIP, EFLAGS, the general
 * registers and the segment selectors; nothing else (SDM 8.3 step 8). The reserved upper halves of the selector
 * slots keep what memory held. */
static int save_old(struct ts_state *s, const struct ts_ops *ops, void *opaque, u32 eflags, struct emu_fault *fault)
{
	bool is32 = s->seg[TS_TR].attr & TYPE_TSS32;
	u32 start = is32 ? TSS32_EIP : TSS16_IP, end = is32 ? TSS32_LDT : TSS16_LDT;
	u32 base = (u32)s->seg[TS_TR].base;
	u8 buf[TSS32_LDT - TSS32_EIP];
	int r = ops->read(opaque, base + start, buf, end - start, false, fault);

	if (r)
		return r;
	if (is32) {
		put32(buf, s->eip);
		put32(buf + 4, eflags);
		for (int i = 0; i < 8; i++)
			put32(buf + 8 + 4 * i, s->gpr[i]);
		for (int i = 0; i < 6; i++)
			put16(buf + TSS32_SEGS - start + 4 * i, s->seg[i].sel);
	} else {
		put16(buf, s->eip);
		put16(buf + 2, eflags);
		for (int i = 0; i < 8; i++)
			put16(buf + 4 + 2 * i, s->gpr[i]);
		for (int i = 0; i < 4; i++)
			put16(buf + TSS16_SEGS - start + 2 * i, s->seg[i].sel);
	}
	return ops->write(opaque, base + start, buf, end - start, false, fault);
}

/* The checks before anything changes (SDM 8.3 steps 2-4): the gate's DPL for a software interrupt, the new TSS
 * descriptor in the GDT, a TSS, present, big enough, and busy for IRET and available otherwise. */
static int check_new(struct ts_state *s, const struct ts_request *req, const struct ts_ops *ops, void *opaque,
		     u64 *desc, u32 *addr, struct emu_fault *fault)
{
	u16 sel = req->sel;
	u32 err = sel & 0xfffc;
	u8 bad = req->source == TS_IRET ? VEC_TS : VEC_GP;
	int r;

	if (req->source == TS_GATE && req->soft_vector >= 0) {
		u32 vec = (u32)req->soft_vector & 0xff;
		u8 cpl = (s->seg[TS_SS].attr >> 5) & 3;
		u64 gate;
		if (vec * 8 + 7 > s->idt_limit)
			return fail(fault, VEC_GP, vec * 8 + 2);
		r = ops->read(opaque, (u32)(s->idt_base + vec * 8), &gate, 8, false, fault);
		if (r)
			return r;
		if (cpl > ((gate >> 45) & 3))
			return fail(fault, VEC_GP, vec * 8 + 2);
	}
	r = read_desc(s, ops, opaque, sel, true, bad, desc, addr, fault);
	if (r)
		return r;
	struct ts_seg n;
	ts_desc_to_seg(*desc, sel, &n);
	u8 type = n.attr & 15;
	if ((n.attr & BIT(4)) || (type & ~(TYPE_TSS32 | TYPE_BUSY)) != 1)
		return fail(fault, bad, err);
	if (req->source == TS_IRET ? !(type & TYPE_BUSY) : (type & TYPE_BUSY))
		return fail(fault, req->source == TS_IRET ? VEC_TS : VEC_GP, err);
	if (!(n.attr & BIT(7)))
		return fail(fault, VEC_NP, err);
	if (n.limit < ((type & TYPE_TSS32) ? TSS32_MIN_LIM : TSS16_MIN_LIM))
		return fail(fault, VEC_TS, err);
	/* The old TSS must hold what is saved into it (the CPU checks this limit too). */
	if (s->seg[TS_TR].limit < ((s->seg[TS_TR].attr & TYPE_TSS32) ? TSS32_LDT - 1 : TSS16_LDT - 1))
		return fail(fault, VEC_TS, s->seg[TS_TR].sel & 0xfffc);
	return 0;
}

/* Push the error code of an exception delivered through a task gate on the new task's stack (SS:ESP just loaded),
 * 4 bytes for a 32-bit TSS and 2 for a 16-bit one. */
static int push_error(struct ts_state *s, const struct ts_ops *ops, void *opaque, bool is32, u32 error,
		      struct emu_fault *fault)
{
	struct ts_seg *ss = &s->seg[TS_SS];
	unsigned int size = is32 ? 4 : 2;
	bool big = ss->attr & BIT(10);
	u32 esp = big ? s->gpr[4] : (u16)s->gpr[4];
	u32 top = (esp - size) & (big ? 0xffffffffu : 0xffffu);
	bool expdown = (ss->attr & 0xc) == 4;
	/* An expand-down stack is valid above its limit, an expand-up one up to it (SDM 5.3). */
	if (expdown ? top <= ss->limit : (u64)top + size - 1 > ss->limit)
		return fail(fault, VEC_SS, 0);
	u8 buf[4];
	put32(buf, error);
	int r = ops->write(opaque, (u32)(ss->base + top), buf, size, ((s->seg[TS_CS].sel & 3) == 3), fault);
	if (r)
		return r;
	s->gpr[4] = big ? top : (s->gpr[4] & 0xffff0000) | top;
	return 0;
}

int emu_task_switch(struct ts_state *s, const struct ts_request *req, const struct ts_ops *ops, void *opaque,
		    struct emu_fault *fault)
{
	u8 tss[TSS32_MIN_LIM + 1];
	u32 new_addr, old_addr = (u32)(s->gdt_base + (s->seg[TS_TR].sel & ~7));
	u64 new_desc;
	int r;

	s->committed = false;
	s->trap = false;
	s->loaded = 0;
	r = check_new(s, req, ops, opaque, &new_desc, &new_addr, fault);
	if (r)
		return r;
	struct ts_seg tr;
	ts_desc_to_seg(new_desc, req->sel, &tr);
	bool is32 = tr.attr & TYPE_TSS32;
	/* Both TSSs must be reachable before anything is written (SDM 8.3 step 5). */
	r = ops->read(opaque, (u32)tr.base, tss, is32 ? sizeof(tss) : TSS16_MIN_LIM + 1, false, fault);
	if (r)
		return r;

	u32 eflags = s->eflags;
	if (req->source == TS_IRET)
		eflags &= ~EFL_NT; /* the old task is no longer nested (step 7) */
	r = save_old(s, ops, opaque, eflags, fault);
	if (r)
		return r;
	if (req->source == TS_JMP || req->source == TS_IRET) {
		r = desc_set_clear(ops, opaque, old_addr, 0, DESC_BUSY, fault);
		if (r)
			return r;
	}
	bool nest = req->source == TS_CALL || req->source == TS_GATE;
	if (nest) {
		u8 link[2];
		put16(link, s->seg[TS_TR].sel);
		r = ops->write(opaque, (u32)tr.base, link, 2, false, fault);
		if (r)
			return r;
	}
	if (req->source != TS_IRET) {
		r = desc_set_clear(ops, opaque, new_addr, DESC_BUSY, 0, fault);
		if (r)
			return r;
	}

	/* The commit point (step 11): TR is the new task's, busy, and every fault from here on is the new task's. */
	tr.attr |= TYPE_BUSY;
	s->seg[TS_TR] = tr;
	s->cr0 |= CR0_TS;
	s->committed = true;

	u16 sels[6], ldt;
	if (is32) {
		s->eip = get32(tss + TSS32_EIP);
		s->eflags = get32(tss + TSS32_EIP + 4) | EFL_FIX1;
		for (int i = 0; i < 8; i++)
			s->gpr[i] = get32(tss + TSS32_EIP + 8 + 4 * i);
		for (int i = 0; i < 6; i++)
			sels[i] = get16(tss + TSS32_SEGS + 4 * i);
		ldt = get16(tss + TSS32_LDT);
		s->trap = get16(tss + TSS32_TRAP) & 1;
	} else {
		/* A 16-bit task has 16-bit state: the upper halves of EFLAGS and the registers stay as they were, and
		 * FS and GS, which its TSS lacks, become null. */
		s->eip = get16(tss + TSS16_IP);
		s->eflags = (s->eflags & 0xffff0000) | get16(tss + TSS16_IP + 2) | EFL_FIX1;
		for (int i = 0; i < 8; i++)
			s->gpr[i] = (s->gpr[i] & 0xffff0000) | get16(tss + TSS16_IP + 4 + 2 * i);
		for (int i = 0; i < 4; i++)
			sels[i] = get16(tss + TSS16_SEGS + 2 * i);
		sels[TS_FS] = sels[TS_GS] = 0;
		ldt = get16(tss + TSS16_LDT);
	}
	if (nest)
		s->eflags |= EFL_NT;
	if (is32) {
		r = ops->set_cr3(opaque, get32(tss + TSS32_CR3), fault);
		if (r)
			return r;
	}

	/* Every selector first, then the descriptors (SDM 8.3 steps 12-13; KVM's load_state_from_tss32 does the
	 * same): a fault while one descriptor loads is taken in the new task with all its selectors in place. The LDT
	 * first, since the other selectors may point into it; then CS, whose RPL is the new CPL. */
	u8 cpl = (s->eflags & EFL_VM) ? 3 : (sels[TS_CS] & 3);
	set_selectors(s, sels, ldt, cpl);
	static const u8 order[] = {TS_LDTR, TS_CS, TS_SS, TS_DS, TS_ES, TS_FS, TS_GS};
	for (unsigned int i = 0; i < sizeof(order); i++) {
		int which = order[i];
		r = load_seg(s, ops, opaque, which, which == TS_LDTR ? ldt : sels[which], cpl, fault);
		if (r)
			return r;
		s->loaded = (u8)(i + 1);
	}
	if (req->has_error)
		return push_error(s, ops, opaque, is32, req->error_code, fault);
	return 0;
}

bool ts_insn_switches(const struct emu_insn *insn)
{
	if (insn->map != 0 || insn->vex || !insn->len)
		return false;
	switch (insn->opcode) {
	case 0x9a: /* CALL ptr16:16/32 */
	case 0xea: /* JMP ptr16:16/32 */
	case 0xcf: /* IRET */
	case 0xcc: /* INT3 */
	case 0xcd: /* INT imm8 */
	case 0xce: /* INTO */
	case 0xf1: /* INT1 */
		return true;
	case 0xff: /* CALL m16:16/32 (/3), JMP m16:16/32 (/5); their register forms are #UD */
		return insn->mem && (((insn->modrm >> 3) & 7) == 3 || ((insn->modrm >> 3) & 7) == 5);
	default:
		return false;
	}
}
