/* The TDP MMU's aging walk (mmu_age_gfn_range, mmu_test_age_gfn_range): which leaves mapping a gfn range were
 * accessed since they were last aged, and aging them, without mmu->lock. The model is KVM's TDP MMU aging as merged
 * in 6.15 (kvm_tdp_mmu_age_gfn_range under RCU); the grace periods of mm/grace.h stand in for RCU.
 *
 *   aging thread                                   lock holders (faults, zaps, splits, write-protects)
 *   ------------                                   ----------------------------------------------------
 *   grace_read_lock                                exchange / compare-exchange entries (the change hook)
 *   roots newest first (root.h, lockless)          unlink a table -> flush -> grace_retire
 *     pt_iter over [from, end): young leaf?        free a root: unlink it, empty its tree, grace_retire_object
 *       A/D:    atomic AND ~A                           |
 *       no A/D: compare-exchange to access-tracked      |  nothing the walk can reach is freed until it leaves
 *   every TDP_YIELD_BATCH entries: leave the section, re-enter, find the root again by serial, go on
 *   grace_read_unlock
 */
#include "hv/bug.h"
#include "mm/ept/tdp_internal.h"
#include "mm/grace.h"

struct tdp_age {
	bool test_only;
	bool young;         /* a young leaf was found */
	u64 aged;           /* leaves aged (for stats) */
	unsigned int budget; /* entries visited in the current read section */
	/* Optional (tdp_age_gfn_range_young): bit i set for gfn map_start + i of every young leaf, in [map_start,
	 * map_end); a young leaf is aged whole and one walk covers the range, so its gfns are all marked here. */
	u64 *young_map;
	gfn_t map_start, map_end;
};

static void tdp_age_mark(struct tdp_age *a, gfn_t gfn, int level)
{
	gfn_t from = MAX(gfn, a->map_start), to = MIN(gfn + pt_level_pages(level), a->map_end);

	for (gfn_t g = from; g < to; g++)
		a->young_map[(g - a->map_start) / 64] |= 1ULL << ((g - a->map_start) % 64);
}

/*
 * No TLB flush follows, as in KVM, by choice. A vCPU that still caches the translation keeps using it without the
 * hardware setting A again (or, access-tracked, without faulting) until the entry leaves its TLB, so a page in
 * constant use may be reported idle for a scan: aging errs towards "old". A flush per aging pass would interrupt
 * every vCPU of the VM, for an answer the consumer treats as a hint; the working-set estimator measures what the
 * choice costs in accuracy. Dirty state does not depend on it: D is never cleared here, and when access tracking
 * takes W away the dirty state W stood for is harvested first (mmu_spte_lockless_cmpxchg).
 */
static void tdp_age_spte(struct mmu *mmu, struct pt_iter *iter)
{
	if (mmu->fmt->ad_enabled) {
		mmu_spte_clear_accessed(iter);
		return;
	}
	/* A failed exchange leaves the leaf as it is now: changed by a lock holder (zapped, split, write-protected,
	 * replaced) or restored by the fast path. Either way it was young a moment ago; the next pass ages it, as
	 * KVM's does. Retrying could only chase a vCPU that keeps touching it. */
	mmu_spte_lockless_cmpxchg(mmu, iter, make_access_tracked_spte(mmu->fmt, iter->old_spte));
}

/* The leaves of root overlapping [from, end), in this read section: returns end when the root is done (or a test
 * found a young leaf), else the gfn to resume at in the next section. A leaf that sticks out of the range is aged
 * whole: it is one mapping, and it maps gfns of the range. */
static gfn_t tdp_age_root(struct mmu *mmu, struct mmu_root *root, gfn_t from, gfn_t end, struct tdp_age *a)
{
	struct pt_iter iter;

	for_each_tdp_pte(iter, mmu, root, from, end) {
		/* Leave only after progress past where this section began, so every section does some work. */
		if (++a->budget >= TDP_YIELD_BATCH && iter.next_last_level_gfn != iter.yielded_gfn)
			return iter.next_last_level_gfn;
		if (!spte_is_present(iter.old_spte) || !spte_is_leaf(iter.old_spte, iter.level) ||
		    !spte_is_young(mmu->fmt, iter.old_spte))
			continue;
		a->young = true;
		if (a->young_map)
			tdp_age_mark(a, iter.gfn, iter.level);
		if (a->test_only)
			return end;
		tdp_age_spte(mmu, &iter);
		a->aged++;
	}
	return end;
}

/* The first root at or after the one numbered `serial` in the list's order (newest first): the same root if it is
 * still there, else the next older one. */
static struct mmu_root *tdp_age_find_root(struct mmu *mmu, u64 serial)
{
	struct mmu_root *root = mmu_roots_lockless_first(mmu);

	while (root && root->serial > serial)
		root = mmu_roots_lockless_next(root);
	return root;
}

/*
 * Every root, obsolete ones too (a vCPU may run on one until it honours its request, and its accesses count). The
 * read section is cut every TDP_YIELD_BATCH entries: while it lasts no retired table anywhere is freed, and a lock
 * holder whose retire ring is full would wait for it, which would make faults wait for aging. Between sections the
 * root may go; the list is sorted by serial, so the walk resumes at the same root and gfn if it is still there, else
 * at the start of the next older one, and never visits a root twice. Roots built after the walk began are skipped:
 * everything in them was mapped by faults after it began, and is young to the next pass.
 */
static bool tdp_age_walk(struct mmu *mmu, gfn_t start, gfn_t end, struct tdp_age *ap)
{
	struct tdp_age a = *ap;
	bool test_only = a.test_only;
	struct mmu_root *root;
	gfn_t from = start;

	end = MIN(end, PT_MAX_PFN);
	if (start >= end)
		return false;
	grace_read_lock();
	root = mmu_roots_lockless_first(mmu);
	while (root && !(a.young && test_only)) {
		gfn_t stop = root->role.direct && !root->role.mirror ? tdp_age_root(mmu, root, from, end, &a) : end;
		u64 serial = root->serial;

		if (stop >= end || (a.young && test_only)) {
			root = mmu_roots_lockless_next(root);
			from = start;
			continue;
		}
		grace_read_unlock();
		__atomic_fetch_add(&mmu->stats.age_sections, 1, __ATOMIC_RELAXED);
		a.budget = 0;
		grace_read_lock();
		root = tdp_age_find_root(mmu, serial);
		from = root && root->serial == serial ? stop : start;
	}
	grace_read_unlock();
	if (a.aged)
		__atomic_fetch_add(&mmu->stats.aged_leaves, a.aged, __ATOMIC_RELAXED);
	return a.young;
}

bool tdp_age_gfn_range(struct mmu *mmu, gfn_t start, gfn_t end, bool test_only)
{
	struct tdp_age a = {.test_only = test_only};

	return tdp_age_walk(mmu, start, end, &a);
}

/* One aging walk that also says which gfns were young: the working-set estimator's scan (vm/ws.c), which needs the
 * answer per gfn (or per 2M leaf) and must not walk the tree once per gfn. A young leaf's gfns are marked in every
 * root that maps them (an obsolete root's accesses count too). */
void tdp_age_gfn_range_young(struct mmu *mmu, gfn_t start, gfn_t end, u64 *young)
{
	struct tdp_age a = {.young_map = young, .map_start = start, .map_end = end};

	tdp_age_walk(mmu, start, end, &a);
}
