/* The shadow MMU's aging walk (mmu_age_gfn_range, mmu_test_age_gfn_range): whether the shadow leaves mapping a gfn
 * range were accessed since they were last aged, and aging them, without mmu->lock. Shadow tables are indexed by
 * guest-virtual address, so the walk goes through the per-gfn rmaps instead, each under its head's read lock bit:
 * KVM 6.15's "Support rmap walks without holding mmu_lock when aging gfns".
 *
 *   aging thread, no lock                          lock holders (faults, zaps, syncs, write-protects)
 *   ---------------------                          --------------------------------------------------
 *   each slot overlapping the range                exchange / compare-exchange an SPTE, then the change hook:
 *     heads = rmap_slot_heads_lockless               shadow_leaf_changed: harvest D into the dirty log;
 *     each gfn of the slot in the range              rmap_add / rmap_remove take the head's bit, and so
 *       v = rmap_lock_read(head)    <-- excludes -->   spin while a reader holds it
 *       each sptep: A set? young; atomic AND ~A    a table goes only after every leaf in it went through
 *       rmap_unlock_read(head, v)                    the hook; it is freed after a flush and a grace period
 */
#include "hv/bug.h"
#include "mm/shadow/shadow_internal.h"

/*
 * What the walk touches, and why each is alive and consistent while it does.
 *  - mmu->slots: constant while aging runs (mmu_age_gfn_range's contract in mmu.h). The head arrays: published by release stores (track_slot_get, rmap_slot_alloc), found by
 *    acquire loads, freed with the slot (rmap_slot_heads_lockless).
 *  - A head and its descriptors: while the reader holds the bit, no writer changes the chain or frees a descriptor
 *    of it (rmap.c's protocol).
 *  - The SPTE an rmap entry points to. An entry leaves the rmap only by rmap_remove (the hook's leaf_changed) or
 *    rmap_clear (slot teardown), and both take the bit. A shadow table is freed only after every present entry in
 *    it went through the hook (__handle_removed_table and shadow_free_tree exchange each one), so after the
 *    rmap_remove of each of its leaves, which waits for this walker to let the head go. Hence the table holding
 *    *sptep is not freed, nor even queued for freeing, while the walker holds the head: no grace read section is
 *    needed, unlike tdp_age.c, whose walk reaches tables through roots that no lock of its own pins.
 *  - The SPTE's value can still change under the walker, by a lock holder or by the hardware:
 *      zapped       the holder exchanged it to 0 and now waits in rmap_remove: the walker reads 0 (not young), or
 *                   the leaf before it went (young; the AND then lands on the leaf or on 0, and an AND only clears
 *                   bits, so no zapped leaf comes back);
 *      write-protected, other permissions
 *                   a compare-exchange (__shadow_write_protect_gfn) or an exchange against the walker's atomic AND:
 *                   read-modify-writes of one word, so neither loses the other's bits, and the hook sees the A the
 *                   walker cleared in its old value (spte_lockless_mask allows A/D to differ);
 *      another gfn's leaf
 *                   impossible while the head is held: a present leaf is zapped before its entry is given another
 *                   frame (the hook BUG()s otherwise), and that zap's rmap_remove waits for the walker;
 *      hardware A/D the AND clears A alone and keeps a D set at any moment before or after it.
 *  - Dirty state: aging never clears D or W, so it harvests nothing; a dirty leaf's state goes to the dirty log when
 *    it is zapped or write-protected (shadow_leaf_changed), which is where the shadow engine, whose hook gfn is a
 *    guest-virtual page, must do it.
 *  - No TLB flush here, by the same policy as the TDP walk (tdp_age.c): the caller (mm/mmu.c) asks for one when
 *    mmu->age_flush is on and the walk made a leaf old (MMU_AGE_MADE_OLD: an AND that found A still set); off, a
 *    page kept in use through a cached translation may be reported idle for a scan.
 *
 * Cost to the vCPUs: a fault whose rmap_add or rmap_remove meets a head the walker holds waits for the walk of that
 * one head, O(mappings of one gfn), as in KVM; nothing else waits for aging. The walker holds one head at a time,
 * takes no lock and waits for nothing while it holds it (rmap.h), so that wait always ends; for the same reason
 * nothing that takes mmu->lock may interrupt the walker on its own CPU (it would spin on the head it interrupted).
 */

struct sage {
	bool test_only;
	bool young; /* a young leaf was found */
	u64 aged;   /* leaves whose A was cleared (for stats) */
};

/* The leaves in one gfn's rmap: each young one found, and aged unless test_only (which stops at the first). */
static void sage_head(u64 *head, struct sage *a)
{
	struct rmap_iter it;
	u64 *sptep;
	u64 v = rmap_lock_read(head);

	if (!v)
		return; /* no leaf maps the gfn: nothing was locked */
	for_each_rmap_spte(head, &it, sptep) {
		u64 spte = __atomic_load_n(sptep, __ATOMIC_RELAXED);

		/* 0 here: zapped by a lock holder now waiting for the head (the entry goes when the walker lets go). */
		if (!spte_is_present(spte) || !(spte & shadow_fmt->accessed))
			continue;
		a->young = true;
		if (a->test_only)
			break;
		/* A may be gone by now (a holder's exchange zapped the leaf): the AND then changes nothing. */
		if (mmu_sptep_clear_accessed(shadow_fmt, sptep) & shadow_fmt->accessed)
			a->aged++;
	}
	rmap_unlock_read(head, v);
}

/*
 * Shadow leaves are 4K (shadow.h): only the level-1 heads ever hold entries. A gfn's rmap holds every leaf of every
 * root mapping it, obsolete roots too, whose vCPUs may still run on them until they honour their request.
 */
unsigned int shadow_age_gfn_range(struct mmu *mmu, gfn_t start, gfn_t end, bool test_only)
{
	struct sage a = {.test_only = test_only};

	for (u32 i = 0; i < mmu->slots.n && !(a.young && test_only); i++) {
		const struct memslot *s = &mmu->slots.slots[i];
		gfn_t from = MAX(start, s->base_gfn), to = MIN(end, s->base_gfn + s->npages);
		u64 *heads;

		if (from >= to)
			continue;
		heads = rmap_slot_heads_lockless(s, 1);
		if (!heads)
			continue; /* no shadow leaf was ever made in this slot */
		/* An empty head costs one plain load (rmap_lock_read locks nothing then). */
		for (gfn_t gfn = from; gfn < to && !(a.young && test_only); gfn++)
			sage_head(&heads[gfn - s->base_gfn], &a);
	}
	if (a.aged)
		__atomic_fetch_add(&mmu->stats.aged_leaves, a.aged, __ATOMIC_RELAXED);
	return (a.young ? MMU_AGE_YOUNG : 0) | (a.aged ? MMU_AGE_MADE_OLD : 0);
}
