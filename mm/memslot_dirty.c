/* A memslot's dirty log: one bit per gfn, set by the MMU's change hook when a dirty SPTE stops holding its dirty
 * state (memslot.h). Atomic ORs, because the hook runs under mmu->lock but aging's lockless access tracking
 * harvests too, and a reader clears bits without the lock. */
#include "hv/bug.h"
#include "mm/memslot.h"

void memslot_mark_dirty(const struct memslot *s, gfn_t gfn, u64 npages)
{
	u64 first, last;

	if (!s->dirty_log)
		return;
	/* A huge leaf may stick out of the slot only where no slot is (it maps only what the slot backs). */
	first = MAX(gfn, s->base_gfn) - s->base_gfn;
	last = MIN(gfn + npages, s->base_gfn + s->npages) - s->base_gfn;
	while (first < last) {
		u64 word = first / 64, bit = first % 64, n = MIN(64 - bit, last - first);
		u64 mask = (n == 64 ? ~0ULL : ((1ULL << n) - 1)) << bit;

		/* A plain load first: a 1 GiB leaf marks 4096 words, most of them already set on a re-harvest. */
		if ((__atomic_load_n(&s->dirty_log[word], __ATOMIC_RELAXED) & mask) != mask)
			__atomic_fetch_or(&s->dirty_log[word], mask, __ATOMIC_RELAXED);
		first += n;
	}
}

bool memslot_test_and_clear_dirty(const struct memslot *s, gfn_t gfn)
{
	u64 idx = gfn - s->base_gfn, bit = 1ULL << (idx % 64);

	BUG_ON(gfn < s->base_gfn || idx >= s->npages);
	if (!s->dirty_log || !(__atomic_load_n(&s->dirty_log[idx / 64], __ATOMIC_RELAXED) & bit))
		return false;
	return (__atomic_fetch_and(&s->dirty_log[idx / 64], ~bit, __ATOMIC_RELAXED) & bit) != 0;
}
