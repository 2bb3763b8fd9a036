/* The shadow fault path: a #PF the hardware reported while the guest ran on a shadow root. The guest's own tables
 * are walked first, without the MMU lock (the walk sets A/D bits, which are writes that write tracking sees and the
 * shadow MMU handles under the lock); then, under the lock, the walk is checked again and the shadow path built. */
#include "hv/bug.h"
#include "hv/errno.h"
#include "hv/string.h"
#include "mm/shadow/shadow_internal.h"

struct walk_ctx {
	struct mmu *mmu;
	void *who;
	unsigned int esize;     /* the guest's entries: 4 bytes (32-bit paging) or 8 */
	/* PAE paging: the walk took the PDPTEs from the vCPU's registers (gwalk_mode.pdptes), not from memory, so
	 * nothing the guest writes to its PDPT afterwards changes them: they are never read again. */
	bool pdptes_loaded;
	bool legacy_pae;        /* PAE paging outside long mode: the top level is PDPTEs, without permission bits */
	/* The last A/D updates a tracking user refused (a ring, newest last): the walk went on as if they had been
	 * made, so those entries still lack the bits, which the re-check under the lock must not take for a change
	 * (it would retry the fault forever). A walk makes at most one update per level, so the ring holds every
	 * refusal of the walk that completed. */
	unsigned int nr_refused;
	struct {
		gpa_t gpa;
		u64 bits;
	} refused[GWALK_MAX_LEVELS];
};

static int walk_read(void *opaque, gpa_t gpa, void *buf, unsigned int len)
{
	return mmu_read_gpte(((struct walk_ctx *)opaque)->mmu, gpa, buf, len);
}

/* A protection user that refuses the A/D update drops it: the walk goes on as if it had been made. */
static int walk_cmpxchg(void *opaque, gpa_t gpa, u64 old, u64 new, unsigned int len)
{
	struct walk_ctx *c = opaque;
	int r = mmu_cmpxchg_gpa_ad(c->mmu, c->who, gpa, old, new, len, NULL);

	if (r != -EPERM)
		return r;
	c->refused[c->nr_refused % GWALK_MAX_LEVELS].gpa = gpa;
	c->refused[c->nr_refused % GWALK_MAX_LEVELS].bits = new & ~old;
	c->nr_refused++;
	return 0;
}

/* The A/D bits the walk's update of the entry at gpa was refused, which memory lacks: 0 if none was. */
static u64 refused_bits(const struct walk_ctx *c, gpa_t gpa)
{
	for (unsigned int i = 1; i <= MIN(c->nr_refused, (unsigned int)GWALK_MAX_LEVELS); i++) {
		unsigned int k = (c->nr_refused - i) % GWALK_MAX_LEVELS;

		if (c->refused[k].gpa == gpa)
			return c->refused[k].bits;
	}
	return 0;
}

static const struct gwalk_ops walk_ops = { .read_gpa = walk_read, .cmpxchg_gpa = walk_cmpxchg };

/* Whether the guest entry the walk used at `level` still holds what it read. */
static bool gpte_unchanged(struct mmu *mmu, const struct walk_ctx *c, const struct gwalk_result *res,
			   unsigned int level)
{
	u64 now = 0, expect = res->pte[level] & ~refused_bits(c, res->pte_gpa[level]);

	if (level == 3 && c->pdptes_loaded)
		return true;
	return !mmu_read_gpte(mmu, res->pte_gpa[level], &now, c->esize) && now == expect;
}

/* Whether every guest entry the walk used still holds what it read: a write between the walk and the lock zapped
 * shadow entries the path is about to rebuild from stale values. */
static bool gptes_unchanged(struct mmu *mmu, const struct walk_ctx *c, const struct gwalk_result *res)
{
	for (unsigned int level = res->top_level; level >= res->level && level; level--) {
		if (!gpte_unchanged(mmu, c, res, level))
			return false;
	}
	return true;
}

/* The access kinds of the leaf: what the guest's tables grant, except write while the guest's D bit is clear and
 * the access is not a write (the first write then faults, and the walk sets D, as the CPU would); and in 4-level
 * paging the leaf's protection key (only there does the CPU use one). */
static u32 leaf_access(const struct shadow_paging *p, const struct gwalk_result *res, u32 pferr)
{
	u32 acc = SPTE_ACC_READ;

	if (!p->mode.pg)
		return SPTE_ACC_ALL;
	if (p->mode.lma)
		acc |= (u32)((res->pte[res->level] & SPTE_PKEY_MASK) >> SPTE_PKEY_SHIFT) << SPTE_ACC_PKEY_SHIFT;
	if (res->perm & GWALK_PERM_U)
		acc |= SPTE_ACC_USER;
	if (res->perm & GWALK_PERM_X)
		acc |= SPTE_ACC_EXEC;
	if ((res->perm & GWALK_PERM_W) && ((pferr & PFERR_WRITE) || (res->pte[res->level] & GPTE_D)))
		acc |= SPTE_ACC_WRITE;
	return acc;
}

/* The access the guest entries from the top of the walk down to `level` grant together: what a shadow page below
 * the entry at `level` inherits (role.access). A PAE guest's PDPTEs carry no permissions (their bits 2:1 and 63 are
 * reserved: SDM Vol. 3A, table 4-8), and a 32-bit guest's entries have no XD bit. */
static u32 walk_access(const struct walk_ctx *c, const struct gwalk_result *res, unsigned int level)
{
	u32 acc = SPTE_ACC_ALL;

	for (unsigned int l = res->top_level; l >= level; l--) {
		u64 e = res->pte[l];

		if (l == 3 && c->legacy_pae)
			continue;
		if (!(e & GPTE_RW))
			acc &= ~SPTE_ACC_WRITE;
		if (!(e & GPTE_US))
			acc &= ~SPTE_ACC_USER;
		if (c->esize == 8 && (e & GPTE_NX))
			acc &= ~SPTE_ACC_EXEC;
	}
	return acc;
}

/* The key of the child shadow page for the entry at iter's level on gva's path: a shadow of the guest table the
 * guest's entry points to, or direct below a guest huge page (and everywhere while paging is off). Below a shadow
 * directory of a 32-bit guest, a shadow page table covers 2 MiB of the guest's 4 MiB table: its quadrant is the half,
 * bit 21 of the address, which is the low bit of the directory entry's index. */
static void child_key(struct mmu_root *root, const struct shadow_paging *p, const struct walk_ctx *c,
		      const struct gwalk_result *res, u32 pferr, const struct pt_iter *iter, gfn_t *gfn,
		      union mmu_role *role)
{
	int clevel = iter->level - 1;
	u64 vpn = iter->gfn & ~(pt_level_pages(iter->level) - 1);

	*role = root->role;
	role->level = clevel;
	role->pae_format = root->role.level == 3;
	if (p->mode.pg && clevel >= res->level) {
		role->direct = 0;
		role->access = walk_access(c, res, iter->level);
		*gfn = (res->pte[iter->level] & GENMASK_ULL(51, 12)) >> PAGE_SHIFT;
		if (role->has_4_byte_gpte)
			role->quadrant = (vpn / PT_ENTRIES) & 1; /* vpn: 2 MiB aligned, clevel 1 */
	} else {
		/* Its leaves all get the huge page's access and key: they are part of the key (root.h). */
		u32 acc = leaf_access(p, res, pferr);
		role->direct = 1;
		role->access = acc & SPTE_ACC_ALL;
		role->pkey = (acc & SPTE_ACC_PKEY_MASK) >> SPTE_ACC_PKEY_SHIFT;
		*gfn = (res->gpa >> PAGE_SHIFT) & ~(pt_level_pages(iter->level) - 1);
	}
}

static int __shadow_map(struct mmu *mmu, struct mmu_root *root, const struct shadow_paging *p,
			const struct walk_ctx *c, const struct gwalk_result *res, gva_t gva, u32 pferr,
			struct mmu_fault *f)
{
	struct pt_iter iter;
	u64 vpn = gva_to_vpn(gva, root->role.level);
	int r;

	/* Descriptors for what the change hook adds: a parent for each table linked, the rmap entries of the leaf and
	 * of those prefetched around it. */
	r = rmap_cache_topup(&mmu->shadow.rmap_cache, PT_MAX_LEVELS + SHADOW_PREFETCH);
	if (r)
		return r;
	/* A page found unsync, or with unsync pages below it, was synced when linked: the walk read those tables
	 * while the guest could store to them unseen (see the fresh case below). */
	bool synced_any = false;

	for_each_pt_entry(iter, shadow_fmt, root->hpa, root->role.level, vpn, vpn + 1) {
		struct spage *sp;
		union mmu_role role;
		gfn_t gfn;
		bool fresh, synced;

		if (iter.level == 1)
			break;
		/* The directories of a PAE-format root are made with it and never go alone (shadow_alloc_pae_root). */
		if (root->role.level == 3 && iter.level == 3) {
			BUG_ON(!spte_is_present(iter.old_spte));
			continue;
		}
		child_key(root, p, c, res, pferr, &iter, &gfn, &role);
		if (spte_is_present(iter.old_spte)) {
			BUG_ON(spte_is_leaf(iter.old_spte, iter.level)); /* shadow leaves are 4K */
			sp = __spage_by_hpa(mmu, spte_pfn(iter.old_spte) << PAGE_SHIFT);
			if (sp && sp->gfn == gfn && sp->role.word == role.word) {
				/* A use of the table below: it is not being flooded with writes. */
				sp->write_count = 0;
				continue;
			}
			/* The child was made for another walk: a direct page for a huge page whose D bit the guest has
			 * set since (the walker's A/D updates zap nothing), as KVM's validate_direct_spte. */
			__shadow_set_spte(mmu, &iter, 0);
			mmu->shadow.stats.relinks++;
		}
		r = __spage_get(mmu, gfn, role, iter.gfn & ~(pt_level_pages(iter.level) - 1), &sp, &fresh, &synced);
		if (r)
			return r;
		synced_any |= synced;
		sp->write_count = 0;
		__shadow_set_spte(mmu, &iter, make_table_spte(shadow_fmt, sp->hpa));
		/*
		 * The guest table the child shadows was not write-protected when the walk and gptes_unchanged read its
		 * entry (a new shadow page, or an unsync one synced just now): another vCPU may have stored to it
		 * since, through a writable leaf, and may until the flush of the protection reaches it. Such a store
		 * traps no write, so nothing would ever zap a leaf made from the value read before it. Flush, then read
		 * the entry again (KVM's FNAME(fetch) does the same after account_shadowed): a store before this is
		 * seen here and the fault retried, every one after it traps. A shared page found in sync was protected
		 * all along.
		 */
		if (fresh && !sp->role.direct) {
			if (mmu->flush_pending)
				__mmu_flush_and_free(mmu);
			if (!gpte_unchanged(mmu, c, res, sp->role.level)) {
				__shadow_set_spte(mmu, &iter, 0);
				mmu->shadow.stats.retries++;
				return MMU_FAULT_RETRY;
			}
		}
	}
	BUG_ON(!iter.valid || iter.level != 1);
	/*
	 * The same race as for a fresh page, for the tables a link synced: the walk read them unsync, and another
	 * vCPU's store may have landed before the sync's protection reached it. The sync zapped only the leaves that
	 * were there; the one about to be made would come from the value read before that store, in a table now in
	 * sync, where nothing would ever zap it (KVM's FNAME(fetch) checks every level after linking). Only leaf
	 * tables go unsync, so the links made above are from protected entries and stay.
	 */
	if (synced_any) {
		if (mmu->flush_pending)
			__mmu_flush_and_free(mmu);
		if (!gptes_unchanged(mmu, c, res)) {
			mmu->shadow.stats.retries++;
			return MMU_FAULT_RETRY;
		}
	}
	if (!f->slot) {
		if (!spte_is_mmio(shadow_fmt, iter.old_spte))
			__shadow_set_spte(mmu, &iter, make_mmio_spte(shadow_fmt, READ_ONCE(mmu->slots.generation)));
		return MMU_FAULT_MMIO;
	}

	u32 acc = leaf_access(p, res, pferr);
	bool refused;
	unsigned int idx;
	struct spage *leaf_sp = __spage_of_sptep(mmu, iter.sptep, &idx);

	/* The rmap of the leaf about to be made: its heads (the descriptor it may need was topped up above). */
	r = rmap_slot_alloc(f->slot);
	if (r)
		return r;

	f->mmu_writable = !track_is_write_tracked(f->slot, f->gfn);
	/* A write to a guest leaf table the guest's own tables allow: let the table go unsync rather than emulate
	 * every store the guest makes to it (Linux fills a process's PTEs one by one). */
	if (!f->mmu_writable && (pferr & PFERR_WRITE) && (acc & SPTE_ACC_WRITE) &&
	    __shadow_try_unsync(mmu, f->slot, f->gfn))
		f->mmu_writable = true;
	u64 spte = make_leaf_spte(shadow_fmt, memslot_gfn_to_hpa(f->slot, f->gfn), 1, acc, f->host_writable,
				  f->mmu_writable);
	/* PAE-format tables (the direct root while guest paging is off) reserve bits 62:52, where the software
	 * writability bits live (SDM Vol. 3A, table 4-11): such leaves keep only bit 11, and nothing there relies on
	 * MMU_WRITABLE, since W is decided anew by every shadow fault. */
	if (root->role.level == 3)
		spte &= ~GENMASK_ULL(62, 52);
	refused = (pferr & PFERR_WRITE) && !(spte & shadow_fmt->writable);
	f->mapped_level = 1;
	if (spte_is_present(iter.old_spte)) {
		if (spte == iter.old_spte || (spte_pfn(spte) == spte_pfn(iter.old_spte) &&
					      !((spte ^ iter.old_spte) & SPTE_PKEY_MASK) &&
					      spte_allows(shadow_fmt, iter.old_spte, f->access))) {
			if (refused)
				return MMU_FAULT_WRITE_PROTECTED;
			mmu->shadow.stats.fixed++; /* a stale TLB entry: the flush below is what it needed */
			mmu->flush_pending = true;
			return MMU_FAULT_SPURIOUS;
		}
		__shadow_set_spte(mmu, &iter, 0); /* never move a present leaf to another frame in place */
	}
	leaf_sp->leaf_gfns[idx] = f->gfn;
	if (leaf_sp->gptes)
		leaf_sp->gptes[idx] = res->pte[1];
	__shadow_set_spte(mmu, &iter, spte);
	mmu->shadow.stats.fixed++;
	__shadow_prefetch(mmu, p, leaf_sp, idx, iter.gfn, root->role.level == 3);
	return refused ? MMU_FAULT_WRITE_PROTECTED : MMU_FAULT_FIXED;
}

/* A fault through a root, whatever its outcome (a #PF the guest's tables give included), is a use of its guest
 * table, or of a PAE-format root's directories (the walk went through one of them): not being flooded with writes
 * (swrite.c). */
static void __reset_root_flooding(struct mmu *mmu, struct mmu_root *root)
{
	struct spage *rsp = __spage_by_hpa(mmu, root->hpa);

	assert_write_held(&mmu->lock);
	if (!rsp)
		return;
	rsp->write_count = 0;
	if (root->role.level != 3 || root->role.direct)
		return;
	const u64 *pdpt = phys_to_virt(root->hpa);
	for (unsigned int i = 0; i < 4; i++) {
		struct spage *pd = spte_is_present(pdpt[i]) ? __spage_by_hpa(mmu, pdpt[i] & PT_ADDR_MASK) : NULL;

		if (pd)
			pd->write_count = 0;
	}
}

int shadow_page_fault(struct mmu *mmu, struct mmu_root *root, const struct shadow_paging *p, gva_t gva, u32 pferr,
		      struct mmu_fault *f)
{
	struct walk_ctx ctx = { .mmu = mmu, .who = p->who, .esize = p->mode.lma || p->mode.pae ? 8 : 4,
				.pdptes_loaded = p->mode.pdptes && !p->mode.lma,
				.legacy_pae = p->mode.pae && !p->mode.lma };
	struct gwalk_result res;
	int r;

	/* A PAE guest's root was built from the PDPTEs its vCPU loaded: this fault's walk must use the same ones, or
	 * the vCPU loaded others since and must reload its root first. */
	if (shadow_role_has_pdptes(root->role) &&
	    (!p->mode.pdptes || memcmp(p->mode.pdptes, root->pdptes, sizeof(root->pdptes))))
		return MMU_FAULT_RETRY;

	/* The root must be of the walk's depth: a 5-level guest's faults need its 5-level root (shadow_root_key). A
	 * vCPU that changed CR4.LA57 (only possible with paging off) reloads its root before it runs again. */
	if (p->mode.pg && p->mode.lma && (root->role.level == 5) != p->mode.la57)
		return MMU_FAULT_RETRY;

	/* Outside long mode linear addresses are 32 bits. A gva with higher bits (a caller's junk: the CPU reports 32
	 * bits) would otherwise index the PAE root past its 4 PDPTEs, or past the end of the walk (BUG_ON below). */
	if (!p->mode.lma)
		gva = (u32)gva;
	*f = (struct mmu_fault){ .gva = gva };
	f->access = SPTE_ACC_READ | ((pferr & PFERR_WRITE) ? SPTE_ACC_WRITE : 0) |
		    ((pferr & PFERR_USER) ? SPTE_ACC_USER : 0) | ((pferr & PFERR_FETCH) ? SPTE_ACC_EXEC : 0);
	if (p->mode.pg) {
		r = gwalk(&p->mode, p->cr3, gva, pferr & (GWALK_WRITE | GWALK_USER | GWALK_FETCH), &walk_ops, &ctx,
			  &res);
		if (r == -EAGAIN)
			return MMU_FAULT_RETRY;
		if (r)
			return r;
		if (res.fault == GWALK_FAULT_PF) {
			write_lock(&mmu->lock);
			__reset_root_flooding(mmu, root);
			write_unlock(&mmu->lock);
			f->guest_error_code = res.error_code;
			__atomic_fetch_add(&mmu->shadow.stats.guest_faults, 1, __ATOMIC_RELAXED);
			return MMU_FAULT_GUEST_PF;
		}
		BUG_ON(res.fault != GWALK_FAULT_NONE); /* the CPU raises #GP before a #PF for a non-canonical address */
		/* A protection-key fault the guest's rules do not give: a supervisor write under the guest's CR0.WP=0 to
		 * a user page whose key has WD set, which binds supervisor writes only with WP (SDM 4.6.2), and the
		 * hardware runs with WP=1. The leaf is right; the instruction is emulated. Any other key fault the walk
		 * allows is a stale leaf (a key the guest changed, not yet flushed): __shadow_map remakes it. */
		if ((pferr & (PFERR_PK | PFERR_WRITE | PFERR_USER)) == (PFERR_PK | PFERR_WRITE) && !p->mode.wp) {
			f->gpa = res.gpa;
			f->gfn = res.gpa >> PAGE_SHIFT;
			__atomic_fetch_add(&mmu->shadow.stats.pk_emulated, 1, __ATOMIC_RELAXED);
			return MMU_FAULT_EMULATE;
		}
	} else {
		memset(&res, 0, sizeof(res));
		res.gpa = (u32)gva;
	}
	f->gpa = res.gpa;
	f->gfn = res.gpa >> PAGE_SHIFT;
	f->slot = f->gfn < PT_MAX_PFN ? memslot_find(&mmu->slots, f->gfn) : NULL;
	if (f->slot) {
		f->host_writable = !(f->slot->flags & MEMSLOT_READONLY);
		r = memslot_prepare(f->slot, f->gfn, 1);
		if (r)
			return r; /* a chunk reclaim gave back cannot be had again */
	}

	write_lock(&mmu->lock);
	mmu->shadow.stats.faults++;
	if (root->role.level == 5)
		mmu->shadow.stats.la57_faults++;
	if (mmu_root_is_obsolete(mmu, root)) {
		r = MMU_FAULT_RETRY;
	} else if (f->slot && !memslot_chunk_is_clean(f->slot, f->gfn)) {
		/* Reclaimed since it was prepared (mm/mmu_reclaim.c marks it under this lock): fault again. */
		r = MMU_FAULT_RETRY;
	} else if (__reset_root_flooding(mmu, root), p->mode.pg && !gptes_unchanged(mmu, &ctx, &res)) {
		mmu->shadow.stats.retries++;
		r = MMU_FAULT_RETRY;
	} else {
		r = __shadow_map(mmu, root, p, &ctx, &res, gva, pferr, f);
		if (r == -ENOSPC) {
			/* The budget is spent: every root goes (the vCPUs rebuild what they use), and the fault is
			 * retried on a fresh root. */
			mmu->generation++;
			__mmu_free_unused_roots(mmu);
			r = MMU_FAULT_RETRY;
		}
	}
	__mmu_flush_and_free(mmu);
	write_unlock(&mmu->lock);
	if (r == MMU_FAULT_RETRY && mmu_root_is_obsolete(mmu, root))
		mmu->ops->request_free_obsolete_roots(mmu->owner);
	return r;
}
