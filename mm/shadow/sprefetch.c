/* Prefetch (after KVM's FNAME(pte_prefetch) and direct_pte_prefetch): a shadow fault that made a 4K leaf also makes
 * the empty leaves around it, in its aligned group of SHADOW_PREFETCH entries, from the guest entries that are there
 * already. A process touches its pages in runs (Linux maps up to 16 around a file fault, and text, stacks and copies
 * run through neighbours), and each leaf made here is a #PF exit, a guest walk and a lock round trip saved.
 *
 * A guest entry is used only when it is present, has no reserved bit set, and has its A bit set: hardware sets A at
 * the first access, and a leaf made before it would let the guest's access go unseen (no fault, so no walk sets A).
 * The leaf is what the fault path would make for a read: W only with the guest's D set. Only RAM whose memory the
 * VM has used (its 2 MiB chunk cleared) is mapped: the fault path clears a chunk outside the lock, this may not.
 *
 * The table may be unsync: each leaf records the guest entry it was made from, as the fault path's do, so the next
 * sync or INVLPG compares it like any other. */
#include "hv/bug.h"
#include "mm/shadow/shadow_internal.h"

/* What make_leaf_spte needs of a guest 4K entry: the access it grants below the role's (the upper levels'), and its
 * protection key where the hardware walks 4-level tables (the leaf's bits 62:59 are reserved in PAE format). */
static u32 gpte_access(const struct spage *sp, u64 gpte)
{
	u32 acc = sp->role.access & (SPTE_ACC_READ | SPTE_ACC_EXEC);

	if ((gpte & GPTE_RW) && (gpte & GPTE_D))
		acc |= sp->role.access & SPTE_ACC_WRITE;
	if (gpte & GPTE_US)
		acc |= sp->role.access & SPTE_ACC_USER;
	if (!sp->role.has_4_byte_gpte && (gpte & GPTE_NX))
		acc &= ~SPTE_ACC_EXEC;
	if (!sp->role.pae_format)
		acc |= (u32)((gpte & SPTE_PKEY_MASK) >> SPTE_PKEY_SHIFT) << SPTE_ACC_PKEY_SHIFT;
	return acc;
}

static bool gfn_prepared(const struct memslot *slot, gfn_t gfn)
{
	u64 chunk = (gfn - slot->base_gfn) >> MEMSLOT_CHUNK_SHIFT;

	return __atomic_load_n(&slot->chunk_state[chunk], __ATOMIC_ACQUIRE) == CHUNK_CLEAN;
}

void __shadow_prefetch(struct mmu *mmu, const struct shadow_paging *p, struct spage *sp, unsigned int idx,
		       u64 vpn, bool pae_format)
{
	u64 *spt = phys_to_virt(sp->hpa);
	unsigned int first = idx & ~(SHADOW_PREFETCH - 1u);
	unsigned int esize = spage_gpte_size(sp);
	u64 rsvd = gwalk_pte_rsvd(&p->mode);
	union {
		u64 e8[SHADOW_PREFETCH];
		u32 e4[SHADOW_PREFETCH];
	} g;

	assert_write_held(&mmu->lock);
	BUG_ON(sp->role.level != 1 || !sp->leaf_gfns);
	if (!sp->role.direct &&
	    mmu_read_gpa(mmu, ((gpa_t)sp->gfn << PAGE_SHIFT) + spage_leaf_gidx(sp, first) * esize, &g,
			 SHADOW_PREFETCH * esize))
		return;
	for (unsigned int i = 0; i < SHADOW_PREFETCH; i++) {
		unsigned int j = first + i;
		u64 gpte = 0, spte;
		u32 acc;
		gfn_t gfn;
		struct memslot *slot;

		if (j == idx || __atomic_load_n(&spt[j], __ATOMIC_RELAXED))
			continue;
		if (sp->role.direct) {
			gfn = sp->gfn + j;
			acc = sp->role.access | (u32)sp->role.pkey << SPTE_ACC_PKEY_SHIFT;
		} else {
			gpte = esize == 4 ? g.e4[i] : g.e8[i];
			if ((gpte & (GPTE_P | GPTE_A)) != (GPTE_P | GPTE_A) || (gpte & rsvd))
				continue;
			gfn = (gpte & GENMASK_ULL(51, 12) & (esize == 4 ? 0xfffff000ULL : ~0ULL)) >> PAGE_SHIFT;
			acc = gpte_access(sp, gpte);
		}
		slot = memslot_find(&mmu->slots, gfn);
		if (!slot || !gfn_prepared(slot, gfn) || rmap_slot_alloc(slot))
			continue;
		spte = make_leaf_spte(shadow_fmt, memslot_gfn_to_hpa(slot, gfn), 1, acc,
				      !(slot->flags & MEMSLOT_READONLY), !track_is_write_tracked(slot, gfn));
		if (pae_format)
			spte &= ~GENMASK_ULL(62, 52); /* as the fault path's: reserved in PAE-format tables */
		sp->leaf_gfns[j] = gfn;
		if (sp->gptes)
			sp->gptes[j] = gpte;
		__shadow_set_sptep(mmu, &spt[j], vpn - idx + j, 1, spte);
		mmu->shadow.stats.prefetched++;
	}
}
