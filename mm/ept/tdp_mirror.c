/*
 * The mirror root's engine: the TDP MMU's own code with KVM's external-table hooks added (mm/private.h). Its tree is
 * built by the TDP fault path like any other, but a private leaf appears only through the frozen-SPTE protocol:
 * set_external runs while the entry is frozen, so no walker, hardware or software, finds the leaf before the frame
 * has left the direct map, and a refusal puts the old value back. Leaves go under the write lock only (a zap, a
 * conversion, the VM's end); their frames are scrubbed and mapped back after the flush that follows.
 */
#include "hv/bug.h"
#include "mm/ept/tdp_internal.h"

static int mirror_set_external(struct mmu *mmu, gfn_t gfn, u64 new_leaf, int level)
{
	int r;

	BUG_ON(level != 1); /* private memory is mapped with 4K leaves only */
	r = mmu->priv.ext->set_external_spte(mmu->owner, gfn, spte_pfn(new_leaf) << PAGE_SHIFT);
	if (r)
		__atomic_fetch_add(&mmu->priv.stats.external_refused, 1, __ATOMIC_RELAXED);
	else
		__atomic_fetch_add(&mmu->priv.stats.external_set, 1, __ATOMIC_RELAXED);
	return r;
}

static void mirror_leaf_changed(struct mmu *mmu, gfn_t gfn, u64 *sptep, u64 old_leaf, u64 new_leaf, int level)
{
	struct mmu_private *p = &mmu->priv;

	/* A new private leaf went through set_external under its frozen entry, never by a plain store. */
	BUG_ON(!old_leaf && __atomic_load_n(sptep, __ATOMIC_RELAXED) != SPTE_FROZEN);
	BUG_ON(level != 1);
	if (!old_leaf || new_leaf)
		return; /* appeared, or a permission changed on the same frame: the direct map is already right */
	assert_write_held(&mmu->lock);
	/* The frame stays out of the direct map until every vCPU has flushed (__mmu_flush_and_free). */
	if (p->nr_scrub_pending == MMU_SCRUB_BATCH)
		__mmu_flush_and_free(mmu);
	p->scrub_gfn[p->nr_scrub_pending] = gfn;
	p->scrub_pending[p->nr_scrub_pending++] = spte_pfn(old_leaf) << PAGE_SHIFT;
}

static void mirror_table_freed(struct mmu *mmu, hpa_t table, int level)
{
	mmu->priv.stats.external_tables_freed++;
	if (mmu->priv.ext->free_external_spt)
		mmu->priv.ext->free_external_spt(mmu->owner, table, level);
}

const struct mmu_engine tdp_mirror_engine = {
	.alloc_tree = tdp_alloc_tree,
	.free_tree = tdp_free_tree,
	.leaf_changed = mirror_leaf_changed,
	.table_freed = mirror_table_freed,
	.set_external = mirror_set_external,
	.indexed_by_gfn = true,
	.zap_gfn_range = __tdp_zap_gfn_range,
};
