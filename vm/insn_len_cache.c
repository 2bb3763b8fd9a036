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

/* The key of the instruction at CS:RIP, and the fetch's linear address; false where no entry may be used: PAE
 * paging outside long mode walks from the PDPTE registers, not from memory the guard could re-read. */
static bool make_key(const struct insn_fetch_state *st, struct emu_dcache_key *k, gva_t *linear)
{
	u64 cr0 = st->cr0, cr4 = st->cr4, efer = st->efer;
	bool pg = cr0 & CR0_PG, lma = efer & EFER_LMA;
	enum emu_mode mode;

	if (pg && !lma && (cr4 & CR4_PAE))
		return false;
	mode =
	    emu_mode_of(cr0 & CR0_PE, st->rflags & RFLAGS_VM, lma, st->cs_attr & SEG_ATTR_L, st->cs_attr & SEG_ATTR_DB);
	*k = (struct emu_dcache_key){
	    .rip = st->rip,
	    .cr3 = pg ? st->cr3 : 0,
	    .cs_base = st->cs_base,
	    .cs_limit = st->cs_limit,
	    .flags = EMU_DKEY_MODE(mode) | EMU_DKEY_CPL(st->cpl) | (pg ? EMU_DKEY_PG : 0) |
		     ((cr4 & CR4_PSE) ? EMU_DKEY_PSE : 0) | ((cr4 & CR4_SMEP) ? EMU_DKEY_SMEP : 0) |
		     (lma ? EMU_DKEY_LMA : 0) | ((cr4 & CR4_LA57) ? EMU_DKEY_LA57 : 0) |
		     ((efer & EFER_NXE) ? EMU_DKEY_NXE : 0) | ((cr0 & CR0_WP) ? EMU_DKEY_WP : 0),
	};
	/* Outside 64-bit mode the address wraps at 4 GiB. */
	*linear = mode == EMU_MODE_64 ? k->rip : (u32)(k->cs_base + k->rip);
	return true;
}

static int guard_equal(void *opaque, const struct emu_dcache_range *r, unsigned int n)
{
	static_assert(sizeof(struct emu_dcache_range) == sizeof(struct mmu_gpa_range) &&
			  offsetof(struct emu_dcache_range, expect) == offsetof(struct mmu_gpa_range, expect) &&
			  offsetof(struct emu_dcache_range, len) == offsetof(struct mmu_gpa_range, len),
		      "the cache's ranges are the MMU's");
	return mmu_gpa_equal(&((struct vcpu *)opaque)->vm->mmu, (const struct mmu_gpa_range *)r, n);
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

/* Whether st makes the same key as the last hit's state: each field make_key reads, RFLAGS for its VM bit only. */
static bool same_as_last(const struct insn_len_cache *c, const struct insn_fetch_state *st)
{
	const struct insn_fetch_state *l = &c->last_st;

	return c->last_e && st->rip == l->rip && st->cr3 == l->cr3 && st->cr0 == l->cr0 && st->cr4 == l->cr4 &&
	       st->efer == l->efer && !((st->rflags ^ l->rflags) & RFLAGS_VM) && st->cs_base == l->cs_base &&
	       st->cs_limit == l->cs_limit && st->cs_attr == l->cs_attr && st->cpl == l->cpl;
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
		if (emu_dcache_check(e, guard_equal, v, gen)) {
			*out = &e->insn;
			return 0;
		}
	} else {
		if (!make_key(st, &key, &linear))
			return vcpu_decode_insn(v, buf);
		e = emu_dcache_lookup(&c->dc, &key);
		if (e && emu_dcache_check(e, guard_equal, v, gen)) {
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
