/* The TDP fault path: from an EPT violation / misconfiguration or an #NPF at gpa to a leaf that maps it, or to the
 * verdict that gpa is MMIO (cached as an MMIO SPTE) or a write the MMU refuses on purpose (write-protected). The MMU
 * layer has described the fault (struct mmu_fault) and holds the lock. */
#include "hv/bug.h"
#include "hv/errno.h"
#include "mm/ept/tdp_internal.h"

/*
 * MMIO SPTEs keep only the low SPTE_MMIO_GEN_BITS of the memslot generation. Once the generation has moved
 * SPTE_MMIO_GEN_SPAN or more since the last sweep, an old MMIO SPTE could match the current low bits by wrap-around,
 * so every MMIO SPTE in every root goes first. Memslots change only while the vCPUs are stopped, so this runs rarely.
 */
static void __tdp_mmio_sweep_if_needed(struct mmu *mmu)
{
	u64 gen = READ_ONCE(mmu->slots.generation);
	struct mmu_root *root;
	struct pt_iter iter;

	assert_spin_held(&mmu->lock);
	if (gen - mmu->tdp.mmio_gen_base < SPTE_MMIO_GEN_SPAN)
		return;
	for_each_mmu_root_yield_safe(mmu, root, false) {
		if (!root->role.direct)
			continue;
		for_each_tdp_pte(iter, mmu, root, 0, PT_MAX_PFN) {
			if (spte_is_mmio(mmu->fmt, iter.old_spte))
				__tdp_set_spte(mmu, &iter, 0);
		}
	}
	mmu->tdp.mmio_gen_base = gen;
	mmu->stats.mmio_sweeps++;
}

/* Walk towards gfn down to `level`, linking a new table at every hole (an MMIO SPTE is a hole too) and splitting
 * every huge leaf on the way; the walker ends on the entry at `level`. */
static int __tdp_walk_to_level(struct mmu *mmu, struct mmu_root *root, struct pt_iter *iter, gfn_t gfn, int level)
{
	assert_spin_held(&mmu->lock);
	for_each_tdp_pte(*iter, mmu, root, gfn, gfn + 1) {
		hpa_t table;

		if (iter->level == level)
			return 0;
		if (spte_is_present(iter->old_spte) && !spte_is_leaf(iter->old_spte, iter->level))
			continue; /* step down */
		if (spte_is_present(iter->old_spte)) {
			/* A huge leaf above the level now allowed here (the levels were lowered after it was mapped). */
			int r = __tdp_split_huge_leaf(mmu, iter);
			if (r)
				return r;
			continue;
		}
		table = frame_alloc(0);
		if (table == INVALID_HPA)
			return -ENOMEM;
		mmu->stats.tables_allocated++;
		__tdp_set_spte(mmu, iter, make_table_spte(mmu->fmt, table));
	}
	BUG(); /* every walk reaches level 1 */
}

static int __tdp_map_mmio(struct mmu *mmu, struct mmu_root *root, gfn_t gfn)
{
	struct pt_iter iter;
	int r;

	assert_spin_held(&mmu->lock);
	mmu->stats.mmio_faults++;
	if (!mmu->fmt->mmio_value)
		return MMU_FAULT_MMIO; /* the format cannot cache MMIO: every access exits as a fault */
	r = __tdp_walk_to_level(mmu, root, &iter, gfn, 1);
	if (r)
		return r;
	/* A current MMIO SPTE (NPT reports it as a fault, EPT only after a racing vCPU installed it): nothing to do. */
	if (spte_is_mmio(mmu->fmt, iter.old_spte) && spte_mmio_gen_matches(iter.old_spte, READ_ONCE(mmu->slots.generation)))
		return MMU_FAULT_MMIO;
	__tdp_set_spte(mmu, &iter, make_mmio_spte(mmu->fmt, READ_ONCE(mmu->slots.generation)));
	return MMU_FAULT_MMIO;
}

static int __tdp_map_ram(struct mmu *mmu, struct mmu_root *root, struct mmu_fault *f)
{
	struct pt_iter iter;
	bool refused;
	u64 new_spte;
	int level, r;

	assert_spin_held(&mmu->lock);
	/* What write tracking decides is read under the lock: an add that ran before it has write-protected every
	 * SPTE, and one that runs after it will find the SPTE installed here. */
	f->max_level = level = MIN(f->backing_level, track_max_level(f->slot, f->gfn));
	f->max_level = level = MAX(1, MIN(level, mmu->tdp.max_huge_level));
	f->mmu_writable = !track_is_write_tracked(f->slot, f->gfn);
	new_spte = __tdp_make_ram_leaf(mmu, f->slot, f->gfn & ~(pt_level_pages(level) - 1), level, f->mmu_writable);
	refused = (f->access & SPTE_ACC_WRITE) && !(new_spte & mmu->fmt->writable);
	r = __tdp_walk_to_level(mmu, root, &iter, f->gfn, level);
	if (r)
		return r;
	f->mapped_level = level;
	if (spte_is_present(iter.old_spte) && spte_is_leaf(iter.old_spte, level)) {
		if (spte_allows(mmu->fmt, iter.old_spte, f->access)) {
			mmu->stats.spurious_faults++;
			return MMU_FAULT_SPURIOUS;
		}
		/* The leaf lacks the permission and the MMU would not grant it either: the gfn is write-protected on
		 * purpose, and re-entering would only fault again. */
		if (refused) {
			mmu->stats.write_protected_faults++;
			return MMU_FAULT_WRITE_PROTECTED;
		}
	} else if (spte_is_present(iter.old_spte)) {
		/* A table where a huge leaf is now allowed: the leaf replaces it, and the hook frees the table. */
		mmu->stats.collapses++;
	}
	__tdp_set_spte(mmu, &iter, new_spte);
	mmu->stats.faults_mapped[level]++;
	if (refused) {
		mmu->stats.write_protected_faults++;
		return MMU_FAULT_WRITE_PROTECTED;
	}
	return MMU_FAULT_FIXED;
}

/*
 * One walk per fault. The slot was looked up before the lock, and slots do not change while vCPUs run, so a gfn with
 * a slot can only hold a stale MMIO SPTE (a hole to the walk, replaced by the leaf), and one without a slot is
 * answered by the MMIO SPTE that the walk to level 1 finds, or installs.
 */
int __tdp_page_fault(struct mmu *mmu, struct mmu_root *root, struct mmu_fault *f)
{
	assert_spin_held(&mmu->lock);
	__tdp_mmio_sweep_if_needed(mmu);
	if (!f->slot)
		return __tdp_map_mmio(mmu, root, f->gfn);
	return __tdp_map_ram(mmu, root, f);
}
