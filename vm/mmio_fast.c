/*
 * The MMIO exit's fast path. A driver touches its device from a few instructions over and over, so the instruction
 * at RIP is looked up in the vCPU's decode cache (vm/emulate/dcache.h) before anything is fetched:
 *
 *   key from RIP, CR3, CS, CR0/CR4/EFER, CPL --hit--> guard: re-read the fetch's paging entries and the bytes
 *        |miss                                          |equal                              |changed
 *        v                                              v                                   v
 *   full path (vm/mmio.c), which fills the cache    MOV form?  yes: emu_fast_mov, its one     drop the entry,
 *                                                              access at the exit's gpa      full path
 *                                                   no:  emu_execute on the cached decode
 *
 * What is skipped, and why that is exact: the fetch's walk (the guard re-reads each entry it read, and equal entries
 * walk the same with no A/D bit to set; with SVM's DecodeAssists the bytes the CPU fetched are compared instead), the
 * decode (equal bytes in the same mode decode the same), the data access's
 * walk (the exit's gpa is the CPU's own translation of it, checked by page offset, as KVM's emulator uses it) and the
 * emulator's full context (a move needs one segment). KVM pays all of these on every MMIO exit.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/virt.h"
#include "vm/dcache_key.h"
#include "vm/debug.h"
#include "vm/mmio_env.h"

/* The key (vm/dcache_key.h) from the vCPU's state, and what the move needs of it. */
static bool make_key(struct vcpu *v, struct emu_dcache_key *k, enum emu_mode *mode, u8 *cpl, u64 *cr4_out,
		     u64 *rflags_out)
{
	struct vcpu_segment cs;
	struct insn_fetch_state st = {
		.rip = virt_ops->get_rip(v),
		.rflags = virt_ops->get_rflags(v),
		.cr0 = virt_ops->get_cr(v, 0),
		.cr4 = virt_ops->get_cr(v, 4),
		.efer = virt_ops->get_efer(v),
	};

	if ((st.cr0 & CR0_PG) && !(st.efer & EFER_LMA) && (st.cr4 & CR4_PAE))
		return false; /* before reading the rest: vcpu_dcache_key refuses it too */
	virt_ops->get_segment(v, SEG_CS, &cs);
	st.cs_base = cs.base;
	st.cs_limit = cs.limit;
	st.cs_attr = cs.attr;
	st.cpl = (u8)virt_ops->get_cpl(v);
	st.cr3 = (st.cr0 & CR0_PG) ? virt_ops->get_cr(v, 3) : 0;
	*cpl = st.cpl;
	*cr4_out = st.cr4;
	*rflags_out = st.rflags;
	return vcpu_dcache_key_memo(&v->dcache_memo, &st, k, mode);
}

/* A move from the cache: the context holds what emu_fast_mov reads (the registers, the mode, the CPL and CR4 for
 * the canonical check, and the one segment of the operand), not the emulator's whole state: no segment but that one,
 * and no system or vector state, which the moves never touch. */
static int run_fast_mov(struct vcpu *v, const struct emu_dcache_entry *e, const struct emu_dcache_key *k,
			enum emu_mode mode, u8 cpl, u64 cr4, u64 rflags, gpa_t gpa)
{
	static const int order[EMU_NR_SEGS] = { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS };
	struct emu_env env;
	struct emu_ctxt c;
	u8 seg = e->insn.seg;

	mmio_env_init_lazy(&env, v, k->cr3, cpl);
	env.exit_gpa = gpa;
	c.regs = v->regs;
	c.rip = k->rip;
	c.rflags = rflags;
	c.mode = mode;
	c.cpl = cpl;
	c.cr4 = cr4;
	c.cr0 = c.xcr0 = 0;
	c.umip = c.length_only = false;
	c.stack_size = c.prefetch_len = 0;
	c.rep_batch = 0;
	c.ops = &mmio_emu_ops;
	c.sys = NULL;
	c.opaque = &env;
	c.error = 0;
	c.insn = e->insn;
	/* 64-bit mode: only FS and GS have a base, and nothing is checked but the canonical form. */
	c.seg_checks = mode != EMU_MODE_64;
	if (seg < EMU_NR_SEGS && (mode != EMU_MODE_64 || seg == EMU_SEG_FS || seg == EMU_SEG_GS)) {
		struct vcpu_segment s;

		virt_ops->get_segment(v, order[seg], &s);
		c.seg_base[seg] = s.base;
		c.seg_limit[seg] = s.limit;
		c.seg_flags[seg] = mmio_seg_flags(s.attr);
	}
	/* A move to a device of the MMIO bus, or to nothing, is as simple an exit as a port's (vm/exit.c: handle_io):
	 * the run loop may re-enter at once. The vLAPIC's page is the exception: mmio_access_one clears it there. */
	v->exit_simple = true;
	enum emu_result r = emu_fast_mov(&c);
	if (r != EMU_OK) {
		v->exit_simple = false;
		return mmio_finish(v, &c, r, INVALID_GPA);
	}
	/* A move changes no flag and cannot halt: what is left of mmio_finish is the new RIP, and the completion only
	 * when RF or TF is set or a breakpoint hit, as a skipped instruction's (vcpu_skip_instruction). */
	virt_ops->set_rip(v, c.rip);
	if (unlikely((rflags & (RFLAGS_RF | RFLAGS_TF)) || env.db_hits))
		vcpu_complete_instruction(v, rflags, env.db_hits);
	return 0;
}

/* Any other cached instruction: the emulator's full context, without the fetch and the decode. */
static int run_cached(struct vcpu *v, const struct emu_dcache_entry *e)
{
	struct emu_env env;
	struct emu_ctxt c;

	mmio_env_init(&env, v);
	mmio_ctxt_init(&c, &env, v);
	c.insn = e->insn;
	return mmio_finish(v, &c, emu_execute(&c), INVALID_GPA);
}

/* The cached entry for key that its guard lets be used, or NULL (a stale one is dropped). */
static struct emu_dcache_entry *find_entry(struct vcpu *v, const struct emu_dcache_key *key)
{
	struct emu_dcache_entry *e = emu_dcache_lookup(&v->dcache, key);

	/* The bytes the CPU fetched, where the exit gives them all, decide alone: equal bytes in the key's mode decode
	 * the same, whatever the page tables say now. */
	if (e && !(v->exit_nbytes >= e->insn.len ? emu_dcache_match_bytes(e, v->exit_bytes, v->exit_nbytes)
						: emu_dcache_check(e, vcpu_dcache_guard_equal, v, v->vm->mmu.slots.generation))) {
		v->stats[VM_STAT_EMU_CACHE_STALE]++;
		emu_dcache_drop(e);
		e = NULL;
	}
	if (e)
		v->stats[VM_STAT_EMU_CACHE_HITS]++;
	return e;
}

int vcpu_emulate_mmio(struct vcpu *v, gpa_t gpa)
{
	struct emu_dcache_key key;
	struct emu_dcache_entry *e;
	enum emu_mode mode;
	u64 cr4, rflags;
	u8 cpl;

	if (!make_key(v, &key, &mode, &cpl, &cr4, &rflags))
		return vcpu_emulate(v);
	e = find_entry(v, &key);
	if (!e)
		return mmio_emulate_fill(v, &key);
	if (emu_insn_is_fast_mov(&e->insn))
		return run_fast_mov(v, e, &key, mode, cpl, cr4, rflags, gpa);
	return run_cached(v, e);
}

int mmio_decode_cached(struct vcpu *v, struct emu_insn *buf, const struct emu_insn **out)
{
	struct emu_dcache_key key;
	struct emu_dcache_entry *e;
	enum emu_mode mode;
	u64 cr4, rflags;
	u8 cpl;

	*out = buf;
	if (!make_key(v, &key, &mode, &cpl, &cr4, &rflags))
		return vcpu_decode_insn(v, buf);
	e = find_entry(v, &key);
	if (!e)
		return mmio_decode_fill(v, &key, buf);
	*out = &e->insn;
	return 0;
}
