/* Giving guest RAM back (the working-set estimator's reclaim=on, vm/ws.c): a 2 MiB chunk of a memslot that reads as
 * all zero is unmapped and its frames returned to the frame allocator; whatever touches it next (a guest fault, a
 * device, the emulator) gets a fresh zeroed chunk from memslot_prepare, as on first use. The chunk is the unit
 * because the backing is: a slot's gfn -> hpa map is one address per 2 MiB chunk (memslot.h), so a lone 4K frame
 * cannot be taken out of it. Chunks of a 1 GiB block (contig_1g) are never taken: the block is allocated and freed
 * as one.
 *
 *   reclaimer (vm/ws.c, vCPU 0)                          others
 *   ---------------------------                          ------
 *   lock: CLEAN -> RECLAIMING; zap the chunk; flush      fault: prepare (waits while RECLAIMING); lock;
 *   unlock                                                 not CLEAN? RETRY (else map, under the lock)
 *   grace_wait_readers                                   access (mmu_access.c): prepare; read section;
 *   all zero? free, INVALID, RECLAIMED : CLEAN              CLEAN? copy : again
 *
 * After the zap and its remote flush no vCPU reaches the old frames; a fault that prepared the chunk before it was
 * marked finds it not clean under the lock and faults again; a hypervisor access that saw it clean did so inside a
 * read section, which grace_wait_readers waits out. So when the reclaimer reads the chunk nobody can write it, and
 * when it frees it nobody uses it. A chunk that is not all zero goes back to CLEAN: the guest refaults the leaves
 * the zap took, at no loss.
 */
#include "mm/mmu.h"
#include "hv/errno.h"
#include "hv/platform.h"

static bool chunk_is_zero(hpa_t chunk)
{
	const u64 *p = phys_to_virt(chunk);

	for (u64 i = 0; i < HUGE_2M_SIZE / sizeof(u64); i++)
		if (__atomic_load_n(&p[i], __ATOMIC_RELAXED))
			return false;
	return true;
}

static u64 chunk_index(const struct memslot *s, gfn_t gfn)
{
	return (gfn - s->base_gfn) >> MEMSLOT_CHUNK_SHIFT;
}

int mmu_reclaim_chunk(struct mmu *mmu, gfn_t gfn)
{
	struct memslot *s = gfn < PT_MAX_PFN ? memslot_find(&mmu->slots, gfn) : NULL;
	gfn_t first = gfn & ~(MEMSLOT_CHUNK_PAGES - 1);
	u8 clean = CHUNK_CLEAN;
	u64 i;

	/* A private VM's chunk cannot be read (its private frames are out of the direct map), and zapping its private
	 * leaves would lose their contents (mm/private.h). */
	if (!s || (s->flags & MEMSLOT_READONLY) || !(s->flags & MEMSLOT_RECLAIM) || READ_ONCE(mmu->priv.enabled) ||
	    s->contig_1g[(first >> 18) - (s->base_gfn >> 18)])
		return -EINVAL;
	i = chunk_index(s, first);
	/* The cheap refusal first, racing with the guest's writes: most cold memory holds data. */
	if (__atomic_load_n(&s->chunk_state[i], __ATOMIC_ACQUIRE) != CHUNK_CLEAN || !chunk_is_zero(s->chunks[i]))
		return 0;
	write_lock(&mmu->lock);
	if (!__atomic_compare_exchange_n(&s->chunk_state[i], &clean, CHUNK_RECLAIMING, false, __ATOMIC_SEQ_CST,
					 __ATOMIC_RELAXED)) {
		write_unlock(&mmu->lock);
		return 0;
	}
	mmu->engine->zap_gfn_range(mmu, first, first + MEMSLOT_CHUNK_PAGES);
	__mmu_flush_and_free(mmu);
	write_unlock(&mmu->lock);
	grace_wait_readers();
	if (!chunk_is_zero(s->chunks[i])) {
		__atomic_store_n(&s->chunk_state[i], CHUNK_CLEAN, __ATOMIC_RELEASE);
		return 0;
	}
	frame_free(s->chunks[i], MEMSLOT_CHUNK_SHIFT);
	__atomic_store_n(&s->chunks[i], INVALID_HPA, __ATOMIC_RELAXED);
	__atomic_fetch_add(&s->chunks_reclaimed, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&s->chunk_state[i], CHUNK_RECLAIMED, __ATOMIC_RELEASE);
	return 1;
}

void mmu_enable_reclaim(struct mmu *mmu)
{
	for (u32 i = 0; i < mmu->slots.n; i++)
		mmu->slots.slots[i].flags |= MEMSLOT_RECLAIM;
}

void mmu_reclaim_stats(struct mmu *mmu, u64 *reclaimed, u64 *refaulted)
{
	*reclaimed = *refaulted = 0;
	for (u32 i = 0; i < mmu->slots.n; i++) {
		*reclaimed += __atomic_load_n(&mmu->slots.slots[i].chunks_reclaimed, __ATOMIC_RELAXED);
		*refaulted += __atomic_load_n(&mmu->slots.slots[i].chunks_refaulted, __ATOMIC_RELAXED);
	}
}
