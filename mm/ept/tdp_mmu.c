/* The TDP MMU's life cycle and lookups. How the pieces fit:
 *
 *   EPT violation / misconfig, #NPF                        tdp_zap_gfn_range / tdp_split_huge_range /
 *            |                                             tdp_collapse_range            (tdp_zap.c, tdp_huge.c)
 *            v                                                        |
 *   tdp_page_fault (tdp_fault.c)                                      |
 *     memslot_find, memslot_backing_level, ops->max_level             |
 *            |                                                        |
 *            +------------> tdp_iter walks (tdp_iter.c) <-------------+
 *                                     |   link tables, split, collapse, zap
 *                                     v
 *                 __tdp_mmu_set_spte: the only SPTE write (tdp_change.c)
 *                                     |
 *                                     v
 *                 __handle_changed_spte: stats, flush decision, removal of unlinked tables
 *                                     |
 *                                     v
 *                 __tdp_flush_and_free (before every unlock): ops->flush_remote_tlbs, then free the tables
 *
 *   Roots (tdp_root.c): refcounted, stamped with mmu->generation; vCPUs hold a current root and a small cache.
 *   SPTE contents (../spte.h): built only by make_leaf_spte / make_table_spte / make_mmio_spte.
 */
#include "hv/bug.h"
#include "hv/string.h"
#include "mm/ept/tdp_internal.h"
#include "vm/memslot.h"

void tdp_mmu_init(struct tdp_mmu *mmu, const struct pt_format *fmt, struct memslots *slots,
		  const struct tdp_mmu_ops *ops, void *owner)
{
	BUG_ON(!ops->max_level || !ops->flush_remote_tlbs || !ops->request_free_obsolete_roots);
	BUG_ON(fmt->present & ~SPTE_MMU_PRESENT); /* a TDP format, not the host one */
	memset(mmu, 0, sizeof(*mmu));
	mmu->fmt = fmt;
	mmu->slots = slots;
	mmu->ops = ops;
	mmu->owner = owner;
	mmu->max_huge_level = fmt->max_leaf_level;
	spin_lock_init(&mmu->lock);
	mmu->mmio_gen_base = slots->generation;
}

void tdp_mmu_set_max_level(struct tdp_mmu *mmu, int level)
{
	spin_lock(&mmu->lock);
	mmu->max_huge_level = MAX(1, MIN(level, mmu->fmt->max_leaf_level));
	spin_unlock(&mmu->lock);
}

void tdp_mmu_destroy(struct tdp_mmu *mmu)
{
	spin_lock(&mmu->lock);
	/* Every vCPU must have put its roots: a reference left would point into freed memory. */
	for (struct tdp_root *root = mmu->roots; root; root = root->next)
		BUG_ON(root->refcount);
	__tdp_free_unused_roots(mmu);
	__tdp_flush_and_free(mmu);
	spin_unlock(&mmu->lock);
}

u64 __tdp_lookup(struct tdp_mmu *mmu, struct tdp_root *root, gfn_t gfn, int *level)
{
	struct tdp_iter iter;

	assert_spin_held(&mmu->lock);
	for_each_tdp_pte(iter, mmu, root, gfn, gfn + 1) {
		if (!spte_is_present(iter.old_spte) || spte_is_leaf(iter.old_spte, iter.level)) {
			*level = iter.level;
			return iter.old_spte;
		}
	}
	*level = 0; /* gfn beyond the reach of the tree */
	return 0;
}

u64 tdp_lookup(struct tdp_mmu *mmu, struct tdp_root *root, gfn_t gfn, int *level)
{
	int l;
	u64 spte;

	spin_lock(&mmu->lock);
	spte = __tdp_lookup(mmu, root, gfn, &l);
	spin_unlock(&mmu->lock);
	if (level)
		*level = l;
	return spte;
}
