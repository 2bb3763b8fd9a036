/* The TDP fault path: from an EPT violation / misconfiguration or an #NPF at gpa to a leaf that maps it, or to the
 * verdict that gpa is MMIO (cached as an MMIO SPTE) or a write the MMU refuses on purpose (write-protected). */
#include "hv/bug.h"
#include "hv/errno.h"
#include "mm/ept/tdp_internal.h"
#include "vm/memslot.h"

static_assert(TDP_ACC_READ == SPTE_ACC_READ && TDP_ACC_WRITE == SPTE_ACC_WRITE && TDP_ACC_EXEC == SPTE_ACC_EXEC,
	      "the fault's access kinds are the SPTE ones");

/*
 * MMIO SPTEs keep only the low SPTE_MMIO_GEN_BITS of the memslot generation. Once the generation has moved
 * SPTE_MMIO_GEN_SPAN or more since the last sweep, an old MMIO SPTE could match the current low bits by wrap-around,
 * so every MMIO SPTE in every root goes first. Memslots change only while the vCPUs are stopped, so this runs rarely.
 */
static void __tdp_mmio_sweep_if_needed(struct tdp_mmu *mmu)
{
	u64 gen = READ_ONCE(mmu->slots->generation);
	struct tdp_root *root;
	struct tdp_iter iter;

	assert_spin_held(&mmu->lock);
	if (gen - mmu->mmio_gen_base < SPTE_MMIO_GEN_SPAN)
		return;
	for_each_tdp_root_yield_safe(mmu, root, false) {
		for_each_tdp_pte(iter, mmu, root, 0, PT_MAX_PFN) {
			if (spte_is_mmio(mmu->fmt, iter.old_spte))
				__tdp_mmu_set_spte(mmu, &iter, 0);
		}
	}
	mmu->mmio_gen_base = gen;
	mmu->stats.mmio_sweeps++;
}

/* Walk towards gfn down to `level`, linking a new table at every hole (an MMIO SPTE is a hole too) and splitting
 * every huge leaf on the way; the walker ends on the entry at `level`. */
static int __tdp_walk_to_level(struct tdp_mmu *mmu, struct tdp_root *root, struct tdp_iter *iter, gfn_t gfn,
			       int level)
{
	assert_spin_held(&mmu->lock);
	for_each_tdp_pte(*iter, mmu, root, gfn, gfn + 1) {
		hpa_t table;

		if (iter->level == level)
			return 0;
		if (spte_is_present(iter->old_spte) && !spte_is_leaf(iter->old_spte, iter->level))
			continue; /* step down */
		if (spte_is_present(iter->old_spte)) {
			/* A huge leaf above the level now allowed here (max_level was lowered after it was mapped). */
			int r = __tdp_split_huge_leaf(mmu, iter);
			if (r)
				return r;
			continue;
		}
		table = frame_alloc(0);
		if (table == INVALID_HPA)
			return -ENOMEM;
		mmu->stats.tables_allocated++;
		__tdp_mmu_set_spte(mmu, iter, make_table_spte(mmu->fmt, table));
	}
	BUG(); /* every walk reaches level 1 */
}

static int __tdp_map_mmio(struct tdp_mmu *mmu, struct tdp_root *root, gfn_t gfn)
{
	struct tdp_iter iter;
	int r;

	assert_spin_held(&mmu->lock);
	mmu->stats.mmio_faults++;
	if (!mmu->fmt->mmio_value)
		return TDP_FAULT_MMIO; /* the format cannot cache MMIO: every access exits as a fault */
	r = __tdp_walk_to_level(mmu, root, &iter, gfn, 1);
	if (r)
		return r;
	__tdp_mmu_set_spte(mmu, &iter, make_mmio_spte(mmu->fmt, READ_ONCE(mmu->slots->generation)));
	return TDP_FAULT_MMIO;
}

static int __tdp_map_ram(struct tdp_mmu *mmu, struct tdp_root *root, const struct memslot *slot, gfn_t gfn,
			 u32 access, int *mapped_level)
{
	struct tdp_iter iter;
	bool refused;
	u64 new_spte;
	int level, r;

	assert_spin_held(&mmu->lock);
	level = __tdp_max_level(mmu, slot, gfn);
	new_spte = __tdp_make_ram_leaf(mmu, slot, gfn & ~(pt_level_pages(level) - 1), level);
	refused = (access & TDP_ACC_WRITE) && !(new_spte & mmu->fmt->writable);
	r = __tdp_walk_to_level(mmu, root, &iter, gfn, level);
	if (r)
		return r;
	*mapped_level = level;
	if (spte_is_present(iter.old_spte) && spte_is_leaf(iter.old_spte, level)) {
		if (spte_allows(mmu->fmt, iter.old_spte, access)) {
			mmu->stats.spurious_faults++;
			return TDP_FAULT_SPURIOUS;
		}
		/* The leaf lacks the permission and the MMU would not grant it either: the gfn is write-protected on
		 * purpose, and re-entering would only fault again. */
		if (refused) {
			mmu->stats.write_protected_faults++;
			return TDP_FAULT_WRITE_PROTECTED;
		}
	} else if (spte_is_present(iter.old_spte)) {
		/* A table where a huge leaf is now allowed: the leaf replaces it, and the hook frees the table. */
		mmu->stats.collapses++;
	}
	__tdp_mmu_set_spte(mmu, &iter, new_spte);
	mmu->stats.faults_mapped[level]++;
	if (refused) {
		mmu->stats.write_protected_faults++;
		return TDP_FAULT_WRITE_PROTECTED;
	}
	return TDP_FAULT_FIXED;
}

/* slot: memslot_find(gfn), looked up by the caller (slots do not change while vCPUs run). */
static int __tdp_handle_fault(struct tdp_mmu *mmu, struct tdp_root *root, const struct memslot *slot, gfn_t gfn,
			      u32 access, int *mapped_level)
{
	int level;
	u64 spte;

	assert_spin_held(&mmu->lock);
	__tdp_mmio_sweep_if_needed(mmu);
	/* A current MMIO SPTE answers without a memslot lookup; a stale one is a hole. */
	spte = __tdp_lookup(mmu, root, gfn, &level);
	if (spte_is_mmio(mmu->fmt, spte) && spte_mmio_gen_matches(spte, READ_ONCE(mmu->slots->generation))) {
		mmu->stats.mmio_faults++;
		return TDP_FAULT_MMIO;
	}
	if (!slot)
		return __tdp_map_mmio(mmu, root, gfn);
	return __tdp_map_ram(mmu, root, slot, gfn, access, mapped_level);
}

int tdp_page_fault(struct tdp_mmu *mmu, struct tdp_root *root, gpa_t gpa, u32 access, int *mapped_level)
{
	gfn_t gfn = gpa >> PAGE_SHIFT;
	int level = 0, r;

	BUG_ON(!root);
	/* Clear the guest RAM the largest leaf could cover before taking the lock, so that zeroing up to 1 GiB never
	 * holds up other vCPUs' faults (slots do not change while vCPUs run). */
	const struct memslot *slot = gfn < PT_MAX_PFN ? memslot_find(mmu->slots, gfn) : NULL;
	if (slot) {
		u64 n = pt_level_pages(MIN(memslot_backing_level(slot, gfn), READ_ONCE(mmu->max_huge_level)));
		memslot_prepare(slot, gfn & ~(n - 1), n);
	}
	spin_lock(&mmu->lock);
	mmu->stats.faults++;
	if (tdp_root_is_obsolete(mmu, root)) {
		r = TDP_FAULT_RETRY; /* never populate a root that is about to go */
	} else if (gfn >= PT_MAX_PFN) {
		mmu->stats.mmio_faults++; /* beyond what 4 levels reach: no memslot can be there */
		r = TDP_FAULT_MMIO;
	} else {
		r = __tdp_handle_fault(mmu, root, slot, gfn, access, &level);
	}
	__tdp_flush_and_free(mmu);
	spin_unlock(&mmu->lock);
	if (mapped_level)
		*mapped_level = level;
	return r;
}
