/* The one change hook (see spte_change.h). */
#include "mm/spte_change.h"
#include "mm/spte_change_inline.h"
#include "hv/bug.h"
#include "hv/errno.h"
#include "mm/mmu.h"
#include "mm/spte.h"

/*
 * Whether a vCPU could still hold a translation the change took away. A hole that becomes present needs nothing (no
 * TLB caches a hole, nor an MMIO SPTE, which only ever causes an exit). A present entry that goes away does, and so
 * does a table that is replaced: paging-structure caches may hold it. A leaf replaced by a table is a split, which
 * repeats the leaf's translation and permissions in the table (__tdp_split_huge_leaf), so the cached huge
 * translation stays right. A leaf that stays a leaf needs a flush when it loses a permission or its dirty bit (a
 * cached writable translation would let writes through without setting D again); gaining permissions or losing the
 * accessed bit needs none (a stale, narrower translation only faults, and aging tolerates a late A).
 */
static bool change_needs_flush(const struct pt_format *fmt, u64 old, u64 new, int level)
{
	u64 perms = fmt->readable | fmt->writable | fmt->executable | fmt->user | fmt->dirty;

	if (!spte_is_present(old))
		return false;
	if (!spte_is_present(new) || !spte_is_leaf(old, level))
		return true;
	if (!spte_is_leaf(new, level))
		return false;
	return (old & perms & ~new) || (new & fmt->nx & ~old);
}

/*
 * A table no entry points to any more: empty it entry by entry, each through the hook (so the leaves it held are
 * counted and the tables below it removed in turn), then queue it for freeing after the flush. The entries are
 * exchanged, not just read, so an A/D update the hardware makes meanwhile is not lost to the hook. The table is
 * unreachable from any root, but a vCPU's paging-structure cache may still walk it until the flush, and a lockless
 * walker until its grace period ends; the zeroes they find are holes, which only fault.
 */
static void __handle_removed_table(struct mmu *mmu, const struct mmu_engine *eng, const struct pt_format *fmt,
				   hpa_t table, gfn_t gfn, int level)
{
	u64 *pt = phys_to_virt(table);

	assert_write_held(&mmu->lock);
	for (unsigned int i = 0; i < PT_ENTRIES; i++) {
		if (!__atomic_load_n(&pt[i], __ATOMIC_RELAXED))
			continue;
		u64 old = __atomic_exchange_n(&pt[i], 0, __ATOMIC_SEQ_CST);
		__mmu_handle_changed_spte(mmu, eng, fmt, gfn + i * pt_level_pages(level), &pt[i], old, 0, level);
	}
	mmu->stats.tables_freed++;
	if (eng->table_freed)
		eng->table_freed(mmu, table, level);
	__mmu_defer_free_table(mmu, table);
}

/*
 * Dirty state leaves a leaf when the leaf goes (zap), becomes a table (split: the children repeat its D, but the
 * huge leaf's whole range is recorded now, before any child can be dropped on its own), stops being dirty (without
 * A/D: loses W, as access tracking and write-protection do), or is write-protected (loses W with D kept: recorded
 * anyway, so that a write-protect is a point where every earlier write is in the log). A gfn's dirty log bit or a
 * dirty leaf mapping it: between them every write is recorded, and this is the one place they hand over.
 */
void mmu_spte_harvest_dirty(struct mmu *mmu, const struct pt_format *fmt, gfn_t gfn, u64 old, u64 new, int level)
{
	const struct memslot *slot;

	if (!spte_is_present(old) || !spte_is_leaf(old, level) || !spte_is_dirty(fmt, old))
		return;
	if (spte_is_present(new) && spte_is_leaf(new, level) && spte_is_dirty(fmt, new) && !(old & fmt->writable & ~new))
		return;
	/* Slots do not change while SPTEs exist for them (memslots change with the vCPUs stopped and the tree zapped). */
	slot = memslot_find(&mmu->slots, gfn);
	if (slot)
		memslot_mark_dirty(slot, gfn, pt_level_pages(level));
	__atomic_fetch_add(&mmu->stats.dirty_harvested, 1, __ATOMIC_RELAXED);
}

/* The hook for a change of a present entry: everything but the fresh install. Out of line, so that the fault path's
 * inlined hook (below) keeps only what a fresh install needs in registers and on the stack. */
__attribute__((noinline)) void __mmu_handle_changed_present_spte(struct mmu *mmu, const struct mmu_engine *eng,
								   const struct pt_format *fmt, gfn_t gfn, u64 *sptep,
								   u64 old, u64 new, int level)
{
	bool is_present = spte_is_present(new);
	bool was_leaf = spte_is_leaf(old, level), is_leaf = is_present && spte_is_leaf(new, level);

	/* The read side only adds (mm/mmu.h): nothing it does unlinks a table or owes a flush, which is why its
	 * walkers need no grace period and its changes no flush before the unlock. */
	BUG_ON((!was_leaf || change_needs_flush(fmt, old, new, level)) && !rwlock_is_write_held_by_me(&mmu->lock));
	/* A present leaf never moves to another frame in place: it is zapped and flushed first, so no vCPU ever
	 * reaches the old and the new frame through one gfn at the same time. Nor is a table swapped for another. */
	BUG_ON(was_leaf && is_leaf && spte_pfn(old) != spte_pfn(new));
	BUG_ON(!was_leaf && is_present && !is_leaf);

	if (change_needs_flush(fmt, old, new, level))
		mmu->flush_pending = true;
	if (was_leaf && !is_present)
		mmu->stats.zapped_leaves++;
	if (eng->indexed_by_gfn)
		mmu_spte_harvest_dirty(mmu, fmt, gfn, old, new, level);
	__mmu_spte_tell(mmu, eng, gfn, sptep, old, new, level, was_leaf, is_leaf);
	if (!was_leaf) {
		hpa_t table = spte_pfn(old) << PAGE_SHIFT;

		/* A shared table goes only with its last parent; the others still reach it. */
		if (!eng->table_unlinked || eng->table_unlinked(mmu, sptep, table, level - 1))
			__handle_removed_table(mmu, eng, fmt, table, gfn, level - 1);
	}
}

void __mmu_handle_changed_spte(struct mmu *mmu, const struct mmu_engine *eng, const struct pt_format *fmt, gfn_t gfn,
			       u64 *sptep, u64 old, u64 new, int level)
{
	assert_rw_held(&mmu->lock);
	__mmu_handle_changed_spte_inline(mmu, eng, fmt, gfn, sptep, old, new, level);
}

/*
 * Every write is an exchange, so the hook sees the value really replaced, including A/D bits the hardware set after
 * the walker read the entry (other vCPUs run in the guest while the lock is held) and what the lockless walkers
 * changed (aging, the fast fault path: spte_lockless_mask). The new value never derives from the bits those may
 * change: a plain write stores 0, a fresh leaf or a table; every change that keeps bits of the old value (a split, a
 * write-protect) is a compare-exchange that retries. Anything else changing under the lock is a bug.
 */
void __mmu_set_spte(struct mmu *mmu, const struct mmu_engine *eng, struct pt_iter *iter, u64 new_spte)
{
	assert_write_held(&mmu->lock);
	u64 old = __atomic_exchange_n(iter->sptep, new_spte, __ATOMIC_SEQ_CST);

	BUG_ON((old ^ iter->old_spte) & ~spte_lockless_mask(iter->fmt));
	__mmu_handle_changed_spte(mmu, eng, iter->fmt, iter->gfn, iter->sptep, old, new_spte, iter->level);
	iter->old_spte = new_spte;
}

int __mmu_set_spte_atomic(struct mmu *mmu, const struct mmu_engine *eng, struct pt_iter *iter, u64 new_spte)
{
	assert_rw_held(&mmu->lock);
	return __mmu_set_spte_atomic_inline(mmu, eng, iter, new_spte);
}

/*
 * The frozen-SPTE protocol (spte.h: SPTE_FROZEN). Freezing is the compare-exchange from the value the walker read,
 * so it fails, like any other change, if anyone (the hardware setting A/D, a lockless walker, another fault) got
 * there first. Between freeze and unfreeze the entry is the freezer's alone: other faults back off, lockless walkers
 * see a non-present entry, and the hardware faults on it (an access then finds the final value on its retry).
 */
bool __mmu_freeze_spte(struct mmu *mmu, struct pt_iter *iter)
{
	assert_rw_held(&mmu->lock);
	BUG_ON(spte_is_frozen(iter->old_spte));
	return mmu_spte_try_cmpxchg(iter, SPTE_FROZEN);
}

void __mmu_unfreeze_spte(struct mmu *mmu, struct pt_iter *iter, u64 new_spte)
{
	assert_rw_held(&mmu->lock);
	BUG_ON(!spte_is_frozen(iter->old_spte) || spte_is_frozen(new_spte) ||
	       __atomic_load_n(iter->sptep, __ATOMIC_RELAXED) != SPTE_FROZEN);
	/* Release: whatever the hooks set up (a table's entries) is visible before the entry that leads to it. */
	__atomic_store_n(iter->sptep, new_spte, __ATOMIC_RELEASE);
	iter->old_spte = new_spte;
}

int __mmu_set_spte_frozen(struct mmu *mmu, const struct mmu_engine *eng, struct pt_iter *iter, u64 new_spte)
{
	u64 old = iter->old_spte;

	if (!__mmu_freeze_spte(mmu, iter))
		return -EBUSY;
	/* The external table first (the mirror root's engine): while the entry is frozen nothing can use the leaf
	 * before the hook has made it safe, and a refusal leaves the entry as it was. */
	if (eng->set_external && spte_is_present(new_spte) && spte_is_leaf(new_spte, iter->level)) {
		int r = eng->set_external(mmu, iter->gfn, new_spte, iter->level);

		if (r) {
			BUG_ON(r == -EBUSY); /* that one means "re-read and retry" to the callers */
			__mmu_unfreeze_spte(mmu, iter, old);
			return r;
		}
	}
	__mmu_handle_changed_spte(mmu, eng, iter->fmt, iter->gfn, iter->sptep, old, new_spte, iter->level);
	__mmu_unfreeze_spte(mmu, iter, new_spte);
	return 0;
}

void __mmu_defer_free_table(struct mmu *mmu, hpa_t table)
{
	assert_write_held(&mmu->lock);
	/* Every table already queued is unlinked, so flushing now makes all of them safe to hand on. */
	if (mmu->nr_free_pending == MMU_FREE_BATCH)
		__mmu_flush_and_free(mmu);
	mmu->free_pending[mmu->nr_free_pending++] = table;
	mmu->flush_pending = true;
}

/*
 * Flush, then free. ops->flush_remote_tlbs returns only once every vCPU of the VM has left guest mode and will flush
 * before it enters again (its contract in mmu.h), so after it no hardware walk can reach the unlinked tables; the
 * grace period then covers the software walkers that run without the lock.
 */
void __mmu_flush_and_free(struct mmu *mmu)
{
	assert_write_held(&mmu->lock);
	if (mmu->flush_pending) {
		mmu->ops->flush_remote_tlbs(mmu->owner);
		mmu->stats.remote_flushes++;
		mmu->flush_pending = false;
	}
	/* Private frames whose leaves went: no vCPU reaches them any more (mm/private.h). */
	if (mmu->priv.nr_scrub_pending)
		__mmu_private_scrub(mmu);
	for (u32 i = 0; i < mmu->nr_free_pending; i++)
		grace_retire(&mmu->grace, mmu->free_pending[i], 0);
	mmu->nr_free_pending = 0;
	/* Inline test first: this runs before every unlock, and nearly always nothing waits. */
	if (mmu->grace.head != mmu->grace.tail)
		grace_reclaim(&mmu->grace);
}

/*
 * What the locked hook would do for a change of spte_lockless_mask bits in a present leaf, and why the lockless half
 * does none of it but the harvest:
 *  - flush: losing A needs none (change_needs_flush). Losing R/W/X to access tracking would, for exactness, but
 *    aging skips it by policy (mm/ept/tdp_age.c): a stale translation only delays the fault that marks the page
 *    young, and the dirty state W stood for is harvested here first. Gaining permissions (the fast path) needs none.
 *  - statistics, leaf_changed, table links: the leaf stays the same leaf, of the same frame, at the same place.
 *  - ops->spte_changed: it promises observers changes under the lock only; they see these as the A/D updates the
 *    hardware makes, in the old value of the next locked change.
 * KVM makes the same changes outside its handle_changed_spte (tdp_mmu_clear_spte_bits_atomic, fast_page_fault).
 */
bool mmu_spte_lockless_cmpxchg(struct mmu *mmu, struct pt_iter *iter, u64 new_spte)
{
	u64 old = iter->old_spte;

	BUG_ON(!spte_is_present(old) || !spte_is_leaf(old, iter->level) ||
	       ((old ^ new_spte) & ~spte_lockless_mask(iter->fmt)));
	if (!mmu_spte_try_cmpxchg(iter, new_spte))
		return false;
	mmu_spte_harvest_dirty(mmu, iter->fmt, iter->gfn, old, new_spte, iter->level);
	return true;
}

/*
 * One locked AND, not a compare-exchange and not a store: the hardware may set D (or A) between the walker's read
 * and this write, and only an atomic read-modify-write of A alone cannot lose it. The entry may also have changed
 * entirely since the walker read it (zapped, split into a table, replaced). Clearing A then is still harmless: A is
 * a hardware hint in every entry of a format with A/D (bit 8 of EPT, bit 5 of x86), never a software meaning; in a
 * table entry or a fresh leaf it only makes the next walk set it again, and a zero stays zero.
 */
u64 mmu_sptep_clear_accessed(const struct pt_format *fmt, u64 *sptep)
{
	BUG_ON(!fmt->ad_enabled);
	return __atomic_fetch_and(sptep, ~fmt->accessed, __ATOMIC_SEQ_CST);
}

void mmu_spte_clear_accessed(struct pt_iter *iter)
{
	mmu_sptep_clear_accessed(iter->fmt, iter->sptep);
	iter->old_spte &= ~iter->fmt->accessed;
}
