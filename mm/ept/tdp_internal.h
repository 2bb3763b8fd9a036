/* Interfaces between the files of the TDP MMU: the change-hook wrappers, the lock-yielding helper and the huge-page
 * helpers. Not for the MMU layer (see tdp_mmu.h). */
#ifndef MM_EPT_TDP_INTERNAL_H
#define MM_EPT_TDP_INTERNAL_H

#include "mm/ept/tdp_mmu.h"
#include "mm/mmu.h"
#include "mm/pt_iter.h"
#include "mm/spte.h"
#include "mm/spte_change.h"
#include "mm/spte_change_inline.h"

/* Entries a range walk visits before it drops the lock for a moment (tdp_zap.c). */
#define TDP_YIELD_BATCH 512

#define for_each_tdp_pte_min_level(iter, mmu, root, min_level, start, end)                                            \
	for_each_pt_entry_min_level(iter, (mmu)->fmt, (root)->hpa, TDP_ROOT_LEVEL, min_level, start, end)
#define for_each_tdp_pte(iter, mmu, root, start, end) for_each_tdp_pte_min_level(iter, mmu, root, 1, start, end)

/* The mirror root's tree has its own engine (tdp_mirror.c: the external-table hooks); a walker knows which tree it
 * is in by the top table it started from. */
extern const struct mmu_engine tdp_mirror_engine;

static inline const struct mmu_engine *tdp_engine_of(const struct mmu *mmu, const struct pt_iter *iter)
{
	const struct mmu_root *m = mmu->priv.mirror;

	return m && iter->pt_path[TDP_ROOT_LEVEL - 1] == (u64 *)phys_to_virt(m->hpa) ? &tdp_mirror_engine : &tdp_engine;
}

static inline void __tdp_set_spte(struct mmu *mmu, struct pt_iter *iter, u64 new_spte)
{
	__mmu_set_spte(mmu, tdp_engine_of(mmu, iter), iter, new_spte);
}

/* Always inline: the fault path's one change (as a call, its prologue and epilogue were a twentieth of a fault). The
 * caller has asserted the lock (__tdp_page_fault on entry, __tdp_write_protect_gfn). */
static inline __attribute__((always_inline)) int __tdp_set_spte_atomic(struct mmu *mmu, struct pt_iter *iter,
								       u64 new_spte)
{
	return __mmu_set_spte_atomic_inline(mmu, tdp_engine_of(mmu, iter), iter, new_spte);
}

/* 0; -EBUSY (the entry changed: re-read); or the mirror's set_external refusal (the entry keeps its value). */
static inline int __tdp_set_spte_frozen(struct mmu *mmu, struct pt_iter *iter, u64 new_spte)
{
	return __mmu_set_spte_frozen(mmu, tdp_engine_of(mmu, iter), iter, new_spte);
}

/* tdp_mmu.c: a direct or mirror root's tree. */
int tdp_alloc_tree(struct mmu *mmu, struct mmu_root *root);
void tdp_free_tree(struct mmu *mmu, struct mmu_root *root);

/* ---- tdp_zap.c ---- */

/* Every TDP_YIELD_BATCH calls, if the walk has made progress: pay the pending flush and frees, drop the lock for a
 * moment so other CPUs get it, and make the walk restart from the root (the tree may have changed). The caller
 * holds a reference on the root and `continue`s when this returns true. */
bool __tdp_iter_cond_yield(struct mmu *mmu, struct pt_iter *iter, unsigned int *budget);

/* ---- tdp_huge.c ---- */

/* The largest leaf level for gfn: the backing (memslot), the CPU and the disallow counts all allow it. */
int __tdp_max_level(struct mmu *mmu, const struct memslot *slot, gfn_t gfn);
/* The leaf mapping gfn (aligned to level) with every permission the slot and the write tracker allow, after making
 * its chunks clean (a collapse). */
u64 __tdp_make_ram_leaf(struct mmu *mmu, const struct memslot *slot, gfn_t gfn, int level, bool mmu_writable);
/* make_leaf_spte(mmu->fmt, hpa, level, SPTE_ACC_ALL, host_writable, mmu_writable), from the bits tdp_mmu_init worked
 * out (struct tdp_mmu.ram_leaf), with make_leaf_spte's own checks. */
static inline u64 tdp_ram_leaf_bits(const struct mmu *mmu, hpa_t hpa, int level, bool host_writable, bool mmu_writable)
{
	u64 spte;

	BUG_ON(level < 1 || level > 3 || (hpa & ~PT_ADDR_MASK) || !IS_ALIGNED(hpa, pt_level_size(level)));
	spte = hpa | mmu->tdp.ram_leaf[level > 1][host_writable + (host_writable & mmu_writable)];
	BUG_ON(spte_is_mmio(mmu->fmt, spte)); /* an hpa with NPT's reserved bit 51 */
	return spte;
}

/* The same for a fault, whose region mmu_page_fault made clean and found clean under the lock: inline. */
static inline u64 __tdp_ram_leaf(struct mmu *mmu, const struct memslot *slot, gfn_t gfn, int level, bool mmu_writable)
{
	/* A huge leaf never covers a tracked gfn: tracking raises the disallow counts of its regions first. */
	BUG_ON(level > 1 && track_is_write_tracked(slot, gfn));
	BUG_ON(!memslot_chunk_is_clean(slot, gfn));
	return tdp_ram_leaf_bits(mmu, memslot_gfn_to_hpa(slot, gfn), level, !(slot->flags & MEMSLOT_READONLY),
				 mmu_writable);
}
/* Replace the present huge leaf under the walker by a table of smaller leaves with the same translation and
 * permissions, fully built before it is linked, under the frozen-SPTE protocol. Either side of the lock. 0, -ENOMEM
 * (the leaf stays), or -EBUSY: the entry no longer held iter->old_spte (re-read; under the write lock only the
 * lockless A/D changes can do that, and the split retries them itself). The walk then steps into the table. */
int __tdp_split_huge_leaf(struct mmu *mmu, struct pt_iter *iter);

#endif
