/* The TDP MMU as an engine of the MMU layer: its roots' trees, its init and lookups. How the pieces fit:
 *
 *   EPT violation / misconfig, #NPF                   mmu_zap_gfn_range, write tracking (mm/mmu.c, mm/mmu_track.c)
 *            |                                                        |
 *   mmu_page_fault (../mmu.c) --- no lock: tdp_fast_page_fault        |     mmu_age_gfn_range, no lock:
 *            |   (tdp_fast.c) restores access-tracked leaves          |     tdp_age_gfn_range (tdp_age.c)
 *   struct mmu_fault, the lock                                        |
 *            v                                                        v
 *   __tdp_page_fault (tdp_fault.c)                   __tdp_zap_gfn_range / __tdp_split_huge_range /
 *            |                                       __tdp_collapse_range / __tdp_write_protect_gfn
 *            +------------> pt_iter walks (../pt_iter.c) <------------+
 *                                     |   link tables, split, collapse, zap
 *                                     v
 *                 __mmu_set_spte: the only SPTE write (../spte_change.c), for every engine
 *                                     |
 *                                     v
 *                 __mmu_flush_and_free (before every unlock): ops->flush_remote_tlbs, then free the tables
 *
 *   Roots (../root.c): refcounted, generic; this file builds and frees a direct root's tree.
 *   SPTE contents (../spte.h): built only by make_leaf_spte / make_table_spte / make_mmio_spte.
 */
#include "hv/bug.h"
#include "hv/errno.h"
#include "mm/ept/tdp_internal.h"

int tdp_alloc_tree(struct mmu *mmu, struct mmu_root *root)
{
	if (root->role.level != TDP_ROOT_LEVEL)
		return -EINVAL;
	root->hpa = frame_alloc(0);
	return root->hpa == INVALID_HPA ? -ENOMEM : 0;
}

/* Every entry of the top table through the hook (which frees the tables below), then the top table itself. */
void tdp_free_tree(struct mmu *mmu, struct mmu_root *root)
{
	struct pt_iter iter;

	assert_write_held(&mmu->lock);
	for_each_tdp_pte_min_level(iter, mmu, root, TDP_ROOT_LEVEL, 0, PT_MAX_PFN) {
		if (iter.old_spte)
			__tdp_set_spte(mmu, &iter, 0);
	}
	__mmu_defer_free_table(mmu, root->hpa);
}

const struct mmu_engine tdp_engine = {
	.alloc_tree = tdp_alloc_tree,
	.free_tree = tdp_free_tree,
	.indexed_by_gfn = true,
	.age_gfn_range = tdp_age_gfn_range,
	.age_gfn_range_young = tdp_age_gfn_range_young,
	.zap_gfn_range = __tdp_zap_gfn_range,
};

void tdp_mmu_init(struct mmu *mmu, int max_level)
{
	BUG_ON(mmu->fmt->present & ~SPTE_MMU_PRESENT); /* a TDP format, not the host one */
	mmu->tdp.max_huge_level = MAX(1, MIN(max_level, mmu->fmt->max_leaf_level));
	mmu->tdp.mmio_gen_base = mmu->slots.generation;
	for (int huge = 0; huge < 2; huge++) {
		mmu->tdp.ram_leaf[huge][0] = make_leaf_spte(mmu->fmt, 0, 1 + huge, SPTE_ACC_ALL, false, false);
		mmu->tdp.ram_leaf[huge][1] = make_leaf_spte(mmu->fmt, 0, 1 + huge, SPTE_ACC_ALL, true, false);
		mmu->tdp.ram_leaf[huge][2] = make_leaf_spte(mmu->fmt, 0, 1 + huge, SPTE_ACC_ALL, true, true);
	}
}

u64 __tdp_lookup(struct mmu *mmu, struct mmu_root *root, gfn_t gfn, int *level)
{
	struct pt_iter iter;

	assert_write_held(&mmu->lock);
	for_each_tdp_pte(iter, mmu, root, gfn, gfn + 1) {
		if (!spte_is_present(iter.old_spte) || spte_is_leaf(iter.old_spte, iter.level)) {
			*level = iter.level;
			return iter.old_spte;
		}
	}
	*level = 0; /* gfn beyond the reach of the tree */
	return 0;
}

u64 tdp_lookup(struct mmu *mmu, struct mmu_root *root, gfn_t gfn, int *level)
{
	int l;
	u64 spte;

	write_lock(&mmu->lock);
	spte = __tdp_lookup(mmu, root, gfn, &l);
	write_unlock(&mmu->lock);
	if (level)
		*level = l;
	return spte;
}
