/* Between the files of the shadow MMU: shadow pages and the change-hook wrappers. */
#ifndef MM_SHADOW_SHADOW_INTERNAL_H
#define MM_SHADOW_SHADOW_INTERNAL_H

#include "mm/mmu.h"
#include "mm/shadow/shadow.h"

/* The SPTE format: x86 paging entries, as NPT's (mm/pt.c). */
#define shadow_fmt (&pt_format_npt)

/* The guest-virtual page number a root of `root_level` indexes gva by: the linear address bits the hardware walks,
 * 57 with a 5-level root (CR4.LA57), 48 with a 4-level one (a PAE-format root's callers pass 32-bit addresses). */
static inline u64 gva_to_vpn(gva_t gva, int root_level)
{
	return (gva & GENMASK_ULL(root_level == 5 ? 56 : 47, 0)) >> PAGE_SHIFT;
}

/* The guest-virtual pages a root of `root_level` covers: 2^45 for 5 levels, 2^36 (PT_MAX_PFN) for 4 and 3. */
static inline u64 shadow_root_vpns(int root_level)
{
	return root_level == 5 ? pt_level_pages(6) : PT_MAX_PFN;
}

/*
 * One shadow page table. It shadows the guest table at gfn (role.direct clear), or maps the region starting at gfn
 * directly (a guest huge page, or guest paging off). Shared (after KVM's kvm_mmu_get_shadow_page): below the roots,
 * one shadow page serves every parent entry, of any root, whose walk reaches the same guest table under the same
 * role (sshare.c), so address spaces that share their kernel half share its shadow. It lives while one parent entry
 * points to it; a root's lives with its struct mmu_root (referenced by vCPUs, not by entries).
 */
struct spage {
	gfn_t gfn;              /* constant */
	union mmu_role role;    /* constant: role.level is this table's level */
	hpa_t hpa;              /* constant: the table */
	/* constant: the first guest-virtual page it covers, through the parent that linked it first. Only a hint (what
	 * the change hook tells observers of changes in it): a shared page is reached at other addresses too. */
	u64 vpn;
	/* constant: mmu->generation when it was made. A page of an older generation is obsolete: it stays while
	 * obsolete roots reach it, but no new parent may link it (its contents predate an invalidation). */
	u64 generation;
	bool root;              /* constant: the top table of a struct mmu_root (a PAE-format root's PDPT included) */
	/* lock: a root's table (its top table, or each directory of a PAE-format root) zapped alone for write flooding
	 * (__shadow_zap_root): empty, its tracking reference dropped, its struct mmu_root obsolete. It waits for the
	 * vCPUs to let the root go; guest writes to the frame, a use of it as a page table again, concern it no more. */
	bool root_zapped;
	/* lock: every entry pointing to this table, in the rmap encoding (rmap.h: one inline, descriptors for more).
	 * The change hook keeps it (table_linked / table_unlinked); empty for a root, exactly one for root_pd. */
	u64 parents;
	bool tracked;           /* constant: holds a write-tracking reference on gfn (guest tables only) */
	/* constant: one of the 4 directories of a PAE-format root, linked by its PDPTE when the root was built. Part of
	 * the root (as KVM's pae_root entries are roots): never shared, never zapped alone (a misaligned write zaps the
	 * entries written), since the CPU may hold the PDPTE until the next CR3 load and the fault path never rebuilds
	 * a PDPTE. Flooding zaps the whole root (__shadow_zap_root). */
	bool root_pd;
	u8 write_count;         /* lock: guest writes to it since the last fault through it (write flooding) */
	u16 half_written;       /* lock: 1 + the offset of the 4-byte half of an 8-byte entry the last write to it
				 * wrote, 0 if that write was not such a half (swrite.c merges the other half's) */
	u64 write_seq;          /* lock: the last guest write (shadow.write_seq) handled for it */
	gfn_t *leaf_gfns;       /* level 1 only, lock: the gfn each leaf maps (its rmap is the gfn's), 4 KiB */
	/* Unsync (level 1, not direct): the guest writes its table freely, unseen, until the next sync compares each
	 * guest entry with the one its shadow leaf was made from (gptes) and zaps those that changed. One shadow page
	 * whatever its parents: a sync through any root syncs it for all of them. */
	bool unsync;            /* lock */
	u64 *gptes;             /* level 1, not direct, lock: the guest entry each present leaf was made from */
	struct spage *unsync_next, **unsync_pprev; /* lock: shadow.unsync list */
	/*
	 * Upper levels (after KVM's unsync_child_bitmap): the entries below which some page went unsync, so that a
	 * flushing CR3 load syncs what its own root reaches and visits nothing else (unsync.c). A bit is set in every
	 * parent entry of a page that goes unsync, and upwards while a parent's count goes from 0 to 1. It is cleared
	 * lazily: when a sync walk finds the entry's child in sync with nothing unsync below it (synced through another
	 * parent or by a global sync, zapped, replaced). unsync_children counts the set bits.
	 */
	u16 unsync_children;    /* lock */
	u64 unsync_child_bitmap[PT_ENTRIES / 64]; /* lock */
	struct spage *gfn_next, *hpa_next; /* lock: the hash chains */
};

/* A root, or a PAE-format root's directory: never zapped on its own (unprotect, unsync); only with its root, for
 * flooding. */
static inline bool spage_is_pinned(const struct spage *sp)
{
	return sp->root || sp->root_pd;
}

/*
 * The geometry of a guest table against its shadow pages. A guest table of 8-byte entries has one shadow page whose
 * entry i is made from guest entry i. One of 4-byte entries (role.has_4_byte_gpte: 32-bit paging) has 1024 entries
 * and is shadowed by PAE-format pages of 512, each covering the part of it its role.quadrant names: a page table by
 * 2 (entry i of quadrant q from guest entry 512q + i), a directory by 4 (guest entry 256q + j, which maps 4 MiB, by
 * the two 2 MiB shadow entries 2j and 2j + 1).
 */
static inline unsigned int spage_gpte_size(const struct spage *sp)
{
	return sp->role.has_4_byte_gpte ? 4 : 8;
}

/* The shadow entries of sp made from guest entry gidx of its table: the first's index in *sidx, and how many (0 when
 * gidx is in another quadrant's part of the table). */
static inline unsigned int spage_gpte_sptes(const struct spage *sp, unsigned int gidx, unsigned int *sidx)
{
	if (!sp->role.has_4_byte_gpte) {
		*sidx = gidx;
		return 1;
	}
	BUG_ON(sp->role.level > 2);
	if (sp->role.level == 1) {
		*sidx = gidx & (PT_ENTRIES - 1);
		return gidx / PT_ENTRIES == sp->role.quadrant;
	}
	*sidx = (gidx & (PT_ENTRIES / 2 - 1)) * 2;
	return gidx / (PT_ENTRIES / 2) == sp->role.quadrant ? 2 : 0;
}

/* The guest entry a leaf (level 1) shadow entry sidx of sp was made from: its index in the guest table. */
static inline unsigned int spage_leaf_gidx(const struct spage *sp, unsigned int sidx)
{
	return sp->role.has_4_byte_gpte ? sp->role.quadrant * PT_ENTRIES + sidx : sidx;
}

/* spage.c */
struct spage *__spage_by_hpa(struct mmu *mmu, hpa_t hpa);

/* The shadow page whose table holds sptep, and the entry's index in it. */
static inline struct spage *__spage_of_sptep(struct mmu *mmu, u64 *sptep, unsigned int *idx)
{
	*idx = ((u64)sptep & (PAGE_SIZE - 1)) / sizeof(u64);
	return __spage_by_hpa(mmu, virt_to_phys(sptep) & ~(PAGE_SIZE - 1));
}

/* A new, empty shadow page, hashed, its guest table write-tracked (unless direct), with no parent yet: link it at
 * once. 0, -ENOMEM, -ENOSPC (budget). */
int __spage_alloc(struct mmu *mmu, gfn_t gfn, union mmu_role role, u64 vpn, struct spage **out);
/* sshare.c: the valid shadow page of (gfn, role) to link below a new parent, found (*created false) or made. An
 * unsync one found is synced first, and so is every unsync page below one found (the new parent's addresses were
 * never in a TLB: they must see the guest's tables as they are now); *synced says it happened, and the caller's walk
 * read those tables while they were not write-protected. 0, -ENOMEM, -ENOSPC. */
int __spage_get(struct mmu *mmu, gfn_t gfn, union mmu_role role, u64 vpn, struct spage **out, bool *created,
		bool *synced);
/* spage.c: zap a root alone, sp its top table (4-level) or one of its directories (PAE format), whose guest table
 * is flooded with writes (the frame is most likely no page directory any more, as when a process has exited and its
 * PGD was reused): its struct mmu_root becomes obsolete (invalid), the entries of its tables go (a PAE-format root's
 * PDPTEs stay, to empty directories), their frames are no longer write-protected. The vCPUs then drop only that root
 * (the caller asks them to, after the unlock), as KVM does for a zapped root since "zap only obsolete roots". */
void __shadow_zap_root(struct mmu *mmu, struct spage *sp);
/* Unlink a shadow page from every parent entry, through the change hook, which frees it with the last one and
 * drops everything below it that no other parent reaches. Not for pinned pages. */
void __spage_zap(struct mmu *mmu, struct spage *sp);
/* The number of parent entries (0 for a root). */
u32 spage_nr_parents(const struct spage *sp);
/* The guest-virtual page (a hint, as spage.vpn) of the entry sptep, at `level`, in the table of a shadow page. */
u64 __spage_sptep_vpn(struct mmu *mmu, u64 *sptep, int level);
void shadow_table_linked(struct mmu *mmu, u64 *sptep, hpa_t table, int level);
bool shadow_table_unlinked(struct mmu *mmu, u64 *sptep, hpa_t table, int level);
/* unsync.c: whether a write to gfn may make its shadow pages unsync instead of being emulated, and doing it. */
bool __shadow_try_unsync(struct mmu *mmu, struct memslot *slot, gfn_t gfn);
void __shadow_unsync_forget(struct mmu *mmu, struct spage *sp);
/* Bring one unsync page (already off the unsync list) back in sync: false if it could not be protected again and
 * was zapped instead (sp is gone then). */
bool __shadow_sync_one(struct mmu *mmu, struct spage *sp);
/* Sync every unsync page below sp that its unsync-children bitmap leads to; its count is 0 afterwards. */
void __shadow_sync_children(struct mmu *mmu, struct spage *sp);
/* sprefetch.c: the leaves of sp around entry idx (a leaf the fault path just made for guest-virtual page vpn) from the
 * guest's entries, in its aligned group of SHADOW_PREFETCH. The rmap cache must hold a descriptor for each. */
#define SHADOW_PREFETCH 8
void __shadow_prefetch(struct mmu *mmu, const struct shadow_paging *p, struct spage *sp, unsigned int idx,
		       u64 vpn, bool pae_format);
/* sage.c: the engine's aging walk (mmu_age_gfn_range), over the rmaps without mmu->lock. MMU_AGE_* flags. */
unsigned int shadow_age_gfn_range(struct mmu *mmu, gfn_t start, gfn_t end, bool test_only);
/* Every shadow page of the guest table at gfn, except the roots zapped for flooding, which shadow it no more. */
#define for_each_spage_of_gfn(mmu, sp, g)                                                                              \
	for (sp = (mmu)->shadow.by_gfn[(g) & ((1u << SHADOW_HASH_BITS) - 1)]; sp; sp = sp->gfn_next)                \
		if (sp->gfn == (g) && !sp->role.direct && !sp->root_zapped)

static inline void __shadow_set_spte(struct mmu *mmu, struct pt_iter *iter, u64 new_spte)
{
	__mmu_set_spte(mmu, &shadow_engine, iter, new_spte);
}

/* Replace the SPTE at sptep (in the table of sp, covering vpn at sp's level) outside a walk. */
static inline void __shadow_set_sptep(struct mmu *mmu, u64 *sptep, u64 vpn, int level, u64 new_spte)
{
	u64 old = __atomic_exchange_n(sptep, new_spte, __ATOMIC_SEQ_CST);

	__mmu_handle_changed_spte(mmu, &shadow_engine, shadow_fmt, vpn, sptep, old, new_spte, level);
}

#endif
