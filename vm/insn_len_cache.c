/*
 * The length of an intercepted instruction where the exit does not give it (SVM without NRIPS), from a per-vCPU
 * cache of decoded instructions instead of a fetch through the guest's page tables and a decode on every exit. A
 * guest's CPUID, VMMCALL or RDMSR loop exits from the same few RIPs again and again:
 *
 *   key (RIP, CR3, CS, mode, CPL, paging controls) --hit--> guard: the fetch's paging entries and the bytes, equal?
 *        |miss                                                 |yes: the cached decode   |no: drop it
 *        v                                                     v                         v
 *   vcpu_decode_insn (walk, fetch, decode), then one more walk  done                      the miss path
 *   for the paging entries the fetch read; remember both
 *
 * The cache and its guard are the MMIO decode cache's (vm/emulate/dcache.h, from the MMIO fast path): an entry is
 * used only once the entries its fetch walked and the instruction's bytes are re-read and found unchanged, so a hit
 * is what a fresh fetch and decode would give, and nothing has to invalidate an entry (a code write, a PTE edit, a
 * remap just fail the guard). The cache here is the backend's own, not the MMIO path's: its decodes are
 * length-only, which an emulation could not run.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/virt.h"
#include "mm/shadow/gwalk.h"
#include "vm/emulate/dcache.h"
#include "vm/insn_len_cache.h"
#include "vm/vcpu.h"

/* The key of the instruction at CS:RIP (vm/dcache_key.h), and the fetch's linear address. */
static bool make_key(const struct insn_fetch_state *st, struct emu_dcache_key *k, gva_t *linear)
{
	enum emu_mode mode;

	if (!vcpu_dcache_key(st, k, &mode))
		return false;
	/* Outside 64-bit mode the address wraps at 4 GiB. */
	*linear = mode == EMU_MODE_64 ? k->rip : (u32)(k->cs_base + k->rip);
	return true;
}

static int chain_read_gpa(void *opaque, gpa_t gpa, void *buf, unsigned int len)
{
	return mmu_read_gpte(&((struct vcpu *)opaque)->vm->mmu, gpa, buf, len);
}

/* The walk the decode's fetch made, once more, for its entries: without A/D updates (the fetch set them already, so
 * the entries read as the guard will compare them). */
static const struct gwalk_ops chain_ops = {.read_gpa = chain_read_gpa};

/* Remember insn, whose bytes lie in one page, with the paging entries that map it now. */
static void fill(struct vcpu *v, struct emu_dcache *dc, const struct emu_dcache_key *k, gva_t linear, u8 cpl,
		 const struct emu_insn *insn)
{
	struct emu_dcache_chain ch = {0};
	struct gwalk_result res;

	if ((linear & (PAGE_SIZE - 1)) + insn->len > PAGE_SIZE)
		return; /* two pages, two walks: not worth a second chain for a rare straddle */
	if (k->flags & EMU_DKEY_PG) {
		struct gwalk_mode mode;

		vcpu_paging_mode(v, &mode);
		if (gwalk(&mode, k->cr3, linear, GWALK_FETCH | (cpl == 3 ? GWALK_USER : 0), &chain_ops, v, &res) ||
		    res.fault != GWALK_FAULT_NONE)
			return;
		ch.pte_size = res.top_level == 2 ? 4 : 8; /* 32-bit paging has 4-byte entries */
		for (unsigned int level = res.top_level; level >= res.level && level > 0; level--) {
			ch.pte_gpa[ch.levels] = res.pte_gpa[level];
			ch.pte[ch.levels++] = res.pte[level];
		}
		ch.code_gpa = res.gpa;
	} else {
		ch.code_gpa = linear;
	}
	for (unsigned int i = 0; i <= ch.levels; i++)
		ch.hva[i] = mmu_gpa_stable_hva(&v->vm->mmu, i < ch.levels ? ch.pte_gpa[i] : ch.code_gpa, &ch.hva_gen);
	emu_dcache_insert(dc, k, &ch, insn);
}

/* Whether st makes the same key as the last hit's state. */
static bool same_as_last(const struct insn_len_cache *c, const struct insn_fetch_state *st)
{
	return c->last_e && insn_fetch_state_same_key(&c->last_st, st);
}

int vcpu_decode_insn_cached(struct vcpu *v, struct insn_len_cache *c, const struct insn_fetch_state *st,
			    struct emu_insn *buf, const struct emu_insn **out)
{
	u64 gen = __atomic_load_n(&v->vm->mmu.slots.generation, __ATOMIC_ACQUIRE);
	struct emu_dcache_key key;
	struct emu_dcache_entry *e;
	gva_t linear;
	int r;

	*out = buf;
	if (same_as_last(c, st)) {
		e = c->last_e;
		if (emu_dcache_check(e, vcpu_dcache_guard_equal, v, gen)) {
			*out = &e->insn;
			return 0;
		}
	} else {
		if (!make_key(st, &key, &linear))
			return vcpu_decode_insn(v, buf);
		e = emu_dcache_lookup(&c->dc, &key);
		if (e && emu_dcache_check(e, vcpu_dcache_guard_equal, v, gen)) {
			c->last_st = *st;
			c->last_key = key;
			c->last_e = e;
			*out = &e->insn;
			return 0;
		}
	}
	/* The guard failed (the code, its tables or its mapping changed) or nothing was cached: decode afresh. */
	c->last_e = NULL;
	if (e)
		emu_dcache_drop(e);
	r = vcpu_decode_insn(v, buf);
	if (!r && make_key(st, &key, &linear))
		fill(v, &c->dc, &key, linear, st->cpl, buf);
	return r;
}
