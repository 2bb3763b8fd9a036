/* The TDP fault path: from an EPT violation / misconfiguration or an #NPF at gpa to a leaf that maps it, or to the
 * verdict that gpa is MMIO (cached as an MMIO SPTE) or a write the MMU refuses on purpose (write-protected). The MMU
 * layer has described the fault (struct mmu_fault) and holds the lock, normally for read: then other vCPUs fault in
 * the same tree at the same time, and every change here is a compare-exchange from the value read (mm/mmu.h).
 *
 *   lost a race        the walk looks at the entry again, as the winner left it (a table to step into, a leaf
 *                      that is already right); a table the loser allocated goes back unlinked
 *   met a frozen entry another CPU is changing it: MMU_FAULT_RETRY, the guest re-enters and faults again if the
 *                      access still needs it
 *   needs to unlink    a collapse (a table where a huge leaf is allowed now) or the MMIO sweep: only under the
 *                      write lock, MMU_FAULT_NEED_EXCLUSIVE makes mmu_page_fault take it and run the fault again
 *
 * The static helpers below run only inside __tdp_page_fault (inlined into it), which asserts the lock once on entry:
 * nothing in between drops it, and the same per-CPU load and test again in each helper was 15 instructions of a
 * fault. */
#include "hv/bug.h"
#include "hv/errno.h"
#include "mm/ept/tdp_internal.h"

static void __tdp_mmio_sweep(struct mmu *mmu)
{
	struct mmu_root *root;
	struct pt_iter iter;

	assert_write_held(&mmu->lock);
	for_each_mmu_root_yield_safe(mmu, root, false) {
		if (!root->role.direct || root->role.mirror) /* the mirror caches no MMIO */
			continue;
		for_each_tdp_pte(iter, mmu, root, 0, PT_MAX_PFN) {
			if (spte_is_mmio(mmu->fmt, iter.old_spte))
				__tdp_set_spte(mmu, &iter, 0);
		}
	}
	mmu->tdp.mmio_gen_base = READ_ONCE(mmu->slots.generation);
	mmu->stats.mmio_sweeps++;
}

static_assert(PT_MAX_PFN == 1ULL << (9 * TDP_ROOT_LEVEL), "a TDP root reaches every gfn below PT_MAX_PFN");

/* The one step a fault's walk takes after its descent: into the table under the walker, which it found or linked
 * itself. A present table stays linked under either side of the lock (only the write lock unlinks, and its holder is
 * this walk), and the hardware's A bit leaves it a table: the step cannot fail, and the walk never goes sideways. */
static inline __attribute__((always_inline)) void __tdp_fault_step_down(struct pt_iter *iter)
{
	bool down = pt_iter_try_step_down(iter);

	BUG_ON(!down);
}

/* Walk towards gfn down to `level`, linking a new table at every hole and splitting every huge leaf on the way; the
 * walker ends on the entry at `level`. -EAGAIN when it met a frozen entry. Inlined into both callers: as a call it
 * was a tenth of the 4K fault. Not a range walk's loop (for_each_pt_entry_descend): its test of the walker against
 * the range's end, on every entry, is for sideways steps, which a fault's walk never takes. */
static inline __attribute__((always_inline)) int
__tdp_walk_to_level(struct mmu *mmu, struct mmu_root *root, struct pt_iter *iter, gfn_t gfn, int level,
		    struct frame_cache *tables)
{
	BUG_ON(gfn >= PT_MAX_PFN); /* mmu_page_fault's test: every root reaches below it (the walker is valid) */
	pt_iter_start_descend(iter, mmu->fmt, root->hpa, TDP_ROOT_LEVEL, 1, gfn, level);
	for (;; __tdp_fault_step_down(iter)) {
		hpa_t table;
		int r;
again:
		if (iter->level == level)
			return 0;
		if (spte_is_present(iter->old_spte) && !spte_is_leaf(iter->old_spte, iter->level))
			continue; /* step down (the common case first: a frozen entry is not present) */
		if (spte_is_frozen(iter->old_spte))
			return -EAGAIN;
		if (spte_is_present(iter->old_spte)) {
			/* A huge leaf above the level now allowed here (the levels were lowered after it was mapped). */
			r = __tdp_split_huge_leaf(mmu, iter);
			if (r == -EBUSY)
				goto again;
			if (r)
				return r;
			continue;
		}
		table = tables ? frame_cache_alloc(tables) : frame_alloc(0);
		if (table == INVALID_HPA)
			return -ENOMEM;
		if (__tdp_set_spte_atomic(mmu, iter, make_table_spte(mmu->fmt, table))) {
			/* Another fault linked something here first; this table was never visible, and is still zero. */
			if (tables)
				frame_cache_put_unused(tables, table);
			else
				frame_free(table, 0);
			mmu_stat_inc(mmu, fault_races);
			mmu_stat_inc(mmu, tables_raced);
			goto again;
		}
		mmu_stat_inc(mmu, tables_allocated);
	}
}

static int __tdp_map_mmio(struct mmu *mmu, struct mmu_root *root, gfn_t gfn, struct frame_cache *tables)
{
	u64 gen = READ_ONCE(mmu->slots.generation);
	struct pt_iter iter;
	int r;

	mmu_stat_inc(mmu, mmio_faults);
	if (!mmu->fmt->mmio_value)
		return MMU_FAULT_MMIO; /* the format cannot cache MMIO: every access exits as a fault */
	r = __tdp_walk_to_level(mmu, root, &iter, gfn, 1, tables);
	while (!r) {
		if (spte_is_frozen(iter.old_spte))
			return -EAGAIN;
		/* A current MMIO SPTE (NPT reports it as a fault; EPT when a racing vCPU installed it): nothing to do.
		 * Anything present is another fault's work for a gfn without a slot: impossible. */
		BUG_ON(spte_is_present(iter.old_spte));
		if (iter.old_spte && spte_is_mmio(mmu->fmt, iter.old_spte) && spte_mmio_gen_matches(iter.old_spte, gen))
			break; /* (a hole, the usual case, is no MMIO SPTE: one test) */
		if (!__tdp_set_spte_atomic(mmu, &iter, make_mmio_spte(mmu->fmt, gen)))
			break;
		mmu_stat_inc(mmu, fault_races);
	}
	return r ? r : MMU_FAULT_MMIO;
}

/* What to do at the target level with the entry as last read; loops only when a compare-exchange lost. */
static inline __attribute__((always_inline)) int __tdp_map_ram_at(struct mmu *mmu, struct pt_iter *iter,
								   struct mmu_fault *f, u64 new_spte, bool refused)
{
	int level = iter->level;

	for (;; mmu_stat_inc(mmu, fault_races)) {
		u64 old = iter->old_spte;

		if (spte_is_frozen(old))
			return -EAGAIN;
		if (spte_is_present(old) && spte_is_leaf(old, level)) {
			if (spte_allows(mmu->fmt, old, f->access)) {
				mmu_stat_inc(mmu, spurious_faults);
				return MMU_FAULT_SPURIOUS;
			}
			/* The leaf lacks the permission and the MMU would not grant it either: the gfn is write-protected
			 * on purpose, and re-entering would only fault again. */
			if (refused) {
				mmu_stat_inc(mmu, write_protected_faults);
				return MMU_FAULT_WRITE_PROTECTED;
			}
			if (__tdp_set_spte_atomic(mmu, iter, new_spte))
				continue;
		} else if (spte_is_present(old)) {
			/* A table where a huge leaf is now allowed: the leaf replaces it, and the hook frees the table. */
			if (!rwlock_is_write_held_by_me(&mmu->lock))
				return MMU_FAULT_NEED_EXCLUSIVE;
			if (__tdp_set_spte_frozen(mmu, iter, new_spte))
				continue;
			mmu->stats.collapses++;
		} else {
			/* A hole, or a stale MMIO SPTE. A private leaf appears only under a frozen entry, after its
			 * external hook (tdp_mirror.c); a refusal leaves the hole, and the fault fails. */
			int r = tdp_engine_of(mmu, iter) == &tdp_mirror_engine ? __tdp_set_spte_frozen(mmu, iter, new_spte)
									      : __tdp_set_spte_atomic(mmu, iter, new_spte);

			if (r == -EBUSY)
				continue;
			if (r)
				return r;
		}
		break;
	}
	mmu_stat_inc(mmu, faults_mapped[level]);
	if (refused) {
		mmu_stat_inc(mmu, write_protected_faults);
		return MMU_FAULT_WRITE_PROTECTED;
	}
	return MMU_FAULT_FIXED;
}

static int __tdp_map_ram(struct mmu *mmu, struct mmu_root *root, struct mmu_fault *f)
{
	struct pt_iter iter;
	bool refused;
	u64 new_spte;
	int level, r;

	/* What write tracking decides is read under the lock (either side: tracking changes take it for write): an
	 * add that ran before it has write-protected every SPTE, and one that runs after it will find the SPTE
	 * installed here. */
	level = track_fault_level(f->slot, f->gfn, f->backing_level, &f->mmu_writable);
	f->max_level = level = MAX(1, MIN(level, mmu->tdp.max_huge_level));
	if (root->role.mirror)
		f->max_level = level = 1; /* private memory leaves the direct map page by page */
	new_spte = __tdp_ram_leaf(mmu, f->slot, f->gfn & ~(pt_level_pages(level) - 1), level, f->mmu_writable);
	refused = (f->access & SPTE_ACC_WRITE) && !(new_spte & mmu->fmt->writable);
	r = __tdp_walk_to_level(mmu, root, &iter, f->gfn, level, f->tables);
	if (r)
		return r;
	f->mapped_level = level;
	return __tdp_map_ram_at(mmu, &iter, f, new_spte, refused);
}

/* The APIC-access page (mmu_set_apic_access_page): a 4K leaf to the MMU's frame, with every access allowed, so that
 * whatever the guest does there reaches the CPU's APIC virtualization rather than faulting again. */
static int __tdp_map_apic_access(struct mmu *mmu, struct mmu_root *root, struct mmu_fault *f)
{
	struct pt_iter iter;
	u64 new_spte = make_leaf_spte(mmu->fmt, mmu->apic_access_hpa, 1, SPTE_ACC_ALL, true, true);
	int r = __tdp_walk_to_level(mmu, root, &iter, f->gfn, 1, f->tables);

	if (r)
		return r;
	f->max_level = f->mapped_level = 1;
	return __tdp_map_ram_at(mmu, &iter, f, new_spte, false);
}

/*
 * One walk per fault. The slot was looked up before the lock, and slots do not change while vCPUs run, so a gfn with
 * a slot can only hold a stale MMIO SPTE (a hole to the walk, replaced by the leaf), and one without a slot is
 * answered by the MMIO SPTE that the walk to level 1 finds, or installs.
 */
int __tdp_page_fault(struct mmu *mmu, struct mmu_root *root, struct mmu_fault *f)
{
	int r;

	assert_rw_held(&mmu->lock);
	if (tdp_mmio_sweep_needed(mmu)) {
		if (!rwlock_is_write_held_by_me(&mmu->lock))
			return MMU_FAULT_NEED_EXCLUSIVE;
		__tdp_mmio_sweep(mmu);
	}
	if (f->slot) {
		r = __tdp_map_ram(mmu, root, f);
	} else if (f->gfn == mmu->apic_access_gfn && !root->role.mirror) {
		r = __tdp_map_apic_access(mmu, root, f);
	} else if (root->role.mirror) {
		mmu_stat_inc(mmu, mmio_faults); /* not cached: a private VM's MMIO is never emulated (mm/private.h) */
		r = MMU_FAULT_MMIO;
	} else {
		r = __tdp_map_mmio(mmu, root, f->gfn, f->tables);
	}
	if (r == -EAGAIN) {
		mmu_stat_inc(mmu, frozen_backoffs);
		r = MMU_FAULT_RETRY;
	}
	return r;
}
