/* Shadow pages: allocation against the VM's budget, the two hashes, write tracking of the guest tables they shadow,
 * roots (a guest CR3, or a direct root while guest paging is off), and their freeing, which the change hook drives:
 * a shadow page goes when the last entry pointing to it is zapped (sshare.c, then table_freed), a root's when the
 * root goes. */
#include "hv/bug.h"
#include "hv/errno.h"
#include "mm/shadow/shadow_internal.h"

#define HASH_MASK ((1u << SHADOW_HASH_BITS) - 1)
#define PAE_ROOT_LIMIT (1ULL << 32) /* a PAE CR3 holds 32 bits */

static u32 hash_hpa(hpa_t hpa)
{
	return (u32)(hpa >> PAGE_SHIFT) & HASH_MASK;
}

struct spage *__spage_by_hpa(struct mmu *mmu, hpa_t hpa)
{
	for (struct spage *sp = mmu->shadow.by_hpa[hash_hpa(hpa)]; sp; sp = sp->hpa_next) {
		if (sp->hpa == hpa)
			return sp;
	}
	return NULL;
}

static int __spage_alloc_frame(struct mmu *mmu, gfn_t gfn, union mmu_role role, u64 vpn, hpa_t hpa,
			       struct spage **out)
{
	struct shadow_mmu *sh = &mmu->shadow;
	struct spage *sp;
	int r;

	assert_write_held(&mmu->lock);
	sp = kzalloc(sizeof(*sp));
	if (!sp) {
		frame_free(hpa, 0);
		return -ENOMEM;
	}
	*sp = (struct spage){ .gfn = gfn, .role = role, .hpa = hpa, .vpn = vpn, .generation = mmu->generation };
	if (role.level == 1) {
		hpa_t g = frame_alloc(0), p = role.direct ? 0 : frame_alloc(0);
		if (g == INVALID_HPA || p == INVALID_HPA) {
			if (g != INVALID_HPA)
				frame_free(g, 0);
			if (p && p != INVALID_HPA)
				frame_free(p, 0);
			frame_free(hpa, 0);
			kfree(sp);
			return -ENOMEM;
		}
		sp->leaf_gfns = phys_to_virt(g);
		sp->gptes = p ? phys_to_virt(p) : NULL;
	}
	/* Every guest table that is shadowed is write-protected, so the shadow can never go stale unseen. */
	/* A guest table outside RAM reads all ones (mmu_read_gpte) and can never change: nothing to protect. */
	if (!role.direct && memslot_find(&mmu->slots, gfn)) {
		r = __mmu_track_add_gfn(mmu, gfn);
		if (r) {
			if (sp->gptes)
				frame_free(virt_to_phys(sp->gptes), 0);
			if (sp->leaf_gfns)
				frame_free(virt_to_phys(sp->leaf_gfns), 0);
			frame_free(hpa, 0);
			kfree(sp);
			return r;
		}
		sp->tracked = true;
	}
	sp->gfn_next = sh->by_gfn[gfn & HASH_MASK];
	sh->by_gfn[gfn & HASH_MASK] = sp;
	sp->hpa_next = sh->by_hpa[hash_hpa(hpa)];
	sh->by_hpa[hash_hpa(hpa)] = sp;
	sh->nr_pages++;
	sh->stats.pages_allocated++;
	*out = sp;
	return 0;
}

/* Past the budget: for roots, see shadow_alloc_tree. */
static int __spage_alloc_unbudgeted(struct mmu *mmu, gfn_t gfn, union mmu_role role, u64 vpn, struct spage **out)
{
	hpa_t hpa = frame_alloc(0);

	if (hpa == INVALID_HPA)
		return -ENOMEM;
	return __spage_alloc_frame(mmu, gfn, role, vpn, hpa, out);
}

int __spage_alloc(struct mmu *mmu, gfn_t gfn, union mmu_role role, u64 vpn, struct spage **out)
{
	if (mmu->shadow.nr_pages >= mmu->shadow.max_pages)
		return -ENOSPC;
	return __spage_alloc_unbudgeted(mmu, gfn, role, vpn, out);
}

/* Out of both hashes, its tracking reference dropped (the gfn may become writable again), the struct freed; the
 * table frame is the caller's (the change hook frees it after the flush). */
static void __spage_unhash(struct mmu *mmu, struct spage *sp)
{
	struct shadow_mmu *sh = &mmu->shadow;
	struct spage **pp;

	BUG_ON(rmap_get(&sp->parents)); /* an entry still points to it */
	for (pp = &sh->by_gfn[sp->gfn & HASH_MASK]; *pp != sp; pp = &(*pp)->gfn_next)
		BUG_ON(!*pp);
	*pp = sp->gfn_next;
	for (pp = &sh->by_hpa[hash_hpa(sp->hpa)]; *pp != sp; pp = &(*pp)->hpa_next)
		BUG_ON(!*pp);
	*pp = sp->hpa_next;
	if (sp->tracked)
		BUG_ON(__mmu_track_remove_gfn(mmu, sp->gfn));
	if (sp->unsync)
		__shadow_unsync_forget(mmu, sp);
	if (sp->leaf_gfns)
		frame_free(virt_to_phys(sp->leaf_gfns), 0);
	if (sp->gptes)
		frame_free(virt_to_phys(sp->gptes), 0);
	sh->nr_pages--;
	sh->stats.pages_freed++;
	kfree(sp);
}

static void shadow_table_freed(struct mmu *mmu, hpa_t table, int level)
{
	struct spage *sp = __spage_by_hpa(mmu, table);

	assert_write_held(&mmu->lock);
	BUG_ON(!sp || sp->role.level != level);
	__spage_unhash(mmu, sp);
}

static void shadow_free_tree(struct mmu *mmu, struct mmu_root *root);

/*
 * A root: the shadow page of the guest's top-level table (4-level paging), or a PAE-format root. Outside long mode
 * the hardware pages in PAE format, whose CR3 is 32 bits and whose 4 PDPTEs the CPU may load once per CR3 load (VMX
 * loads them at every VM entry): that root's PDPT lives below 4 GiB and is no shadow of any guest table (its shadow
 * page is direct, so nothing finds it by gfn or tracks it). Its 4 entries are linked to their directories when the
 * root is built and never change while it lives (the directories are root_pd). Each directory covers 1 GiB:
 *   - guest paging off: a direct page of that GiB;
 *   - PAE paging: the shadow of the guest directory its loaded PDPTE names, none where that PDPTE is not present
 *     (the guest's walk then stops there with #PF). One with reserved bits gets its directory too, unused: every
 *     walk through it faults, and a vCPU never loads such PDPTEs (gwalk_load_pdptes);
 *   - 32-bit paging: a shadow of the guest's one directory, quadrant i: guest PDEs 256i..256i+255.
 *
 * Roots are allocated past the budget (one page, five for a PAE-format root; KVM's limit is soft too): the roots the
 * vCPUs hold (current and cached) may have spent it all, and only the fault path gives their pages back, by making
 * every root obsolete and retrying on fresh ones. A root load that failed with -ENOSPC instead ended the VM. The
 * roots no vCPU holds go first, so the excess is bounded by the roots the vCPUs hold.
 */
static int shadow_alloc_pae_root(struct mmu *mmu, struct mmu_root *root)
{
	union mmu_role pdpt_role = root->role;
	hpa_t pdpt = frame_alloc_below(0, PAE_ROOT_LIMIT);
	struct spage *sp;
	int r;

	assert_write_held(&mmu->lock);
	BUG_ON(root->role.level != 3);
	if (pdpt == INVALID_HPA)
		return -ENOMEM;
	pdpt_role.direct = 1;
	r = __spage_alloc_frame(mmu, 0, pdpt_role, 0, pdpt, &sp);
	if (r)
		return r;
	sp->root = true;
	root->hpa = pdpt;
	for (unsigned int i = 0; i < 4; i++) {
		union mmu_role child = root->role;
		u64 *e = (u64 *)phys_to_virt(pdpt) + i, vpn = (u64)i << 18;
		struct spage *pd;
		gfn_t gfn;

		child.level = 2;
		if (root->role.direct) {
			gfn = vpn;
		} else if (root->role.has_4_byte_gpte) {
			gfn = root->pgd >> PAGE_SHIFT;
			child.quadrant = i;
		} else if (root->pdptes[i] & GPTE_P) {
			gfn = (root->pdptes[i] & GENMASK_ULL(51, 12)) >> PAGE_SHIFT;
		} else {
			continue;
		}
		r = __spage_alloc_unbudgeted(mmu, gfn, child, vpn, &pd);
		if (r) {
			/* The caller frees only the struct mmu_root: the PDPT, its shadow page and the directories
			 * linked so far go here. */
			shadow_free_tree(mmu, root);
			return r;
		}
		pd->root_pd = true;
		/* A PAE PDPTE: P and the address; bit 11, our "present", is ignored by the CPU there. The hook makes
		 * it the directory's one parent. */
		__shadow_set_sptep(mmu, e, vpn, 3, pd->hpa | PTE_P | SPTE_MMU_PRESENT);
	}
	return 0;
}

static int shadow_alloc_tree(struct mmu *mmu, struct mmu_root *root)
{
	struct spage *sp;
	int r;

	if (mmu->shadow.nr_pages >= mmu->shadow.max_pages)
		__mmu_free_unused_roots(mmu); /* root is not on the list yet */

	if (root->role.level == 3)
		return shadow_alloc_pae_root(mmu, root);
	BUG_ON(root->role.direct || (root->role.level != 4 && root->role.level != 5));
	r = __spage_alloc_unbudgeted(mmu, root->pgd >> PAGE_SHIFT, root->role, 0, &sp);
	if (r)
		return r;
	sp->root = true;
	root->hpa = sp->hpa;
	if (root->role.level == 5)
		mmu->shadow.stats.la57_roots++;
	return 0;
}

static void shadow_free_tree(struct mmu *mmu, struct mmu_root *root)
{
	struct pt_iter iter;
	struct spage *sp = __spage_by_hpa(mmu, root->hpa);

	assert_write_held(&mmu->lock);
	for_each_pt_entry_min_level(iter, shadow_fmt, root->hpa, root->role.level, root->role.level, 0,
					    shadow_root_vpns(root->role.level)) {
		if (iter.old_spte)
			__shadow_set_spte(mmu, &iter, 0);
	}
	if (sp)
		__spage_unhash(mmu, sp);
	__mmu_defer_free_table(mmu, root->hpa);
}

/* One table of a root zapped for flooding: emptied (a vCPU still running on it until its flush finds holes, and every
 * fault through an obsolete root retries), its guest frame no longer write-protected. It stays linked (a PAE-format
 * root's directories to their PDPTEs) until the root is freed. */
static void __zap_root_table(struct mmu *mmu, struct spage *sp, u64 vpn)
{
	u64 *spt = phys_to_virt(sp->hpa);
	int level = sp->role.level;

	sp->root_zapped = true;
	for (unsigned int i = 0; i < PT_ENTRIES; i++) {
		if (__atomic_load_n(&spt[i], __ATOMIC_RELAXED))
			__shadow_set_sptep(mmu, &spt[i], vpn + i * pt_level_pages(level), level, 0);
	}
	if (sp->tracked) {
		BUG_ON(__mmu_track_remove_gfn(mmu, sp->gfn));
		sp->tracked = false;
	}
}

/* The root whose top table is sp, or (sp a PAE-format root's directory) whose PDPT links sp. */
static struct mmu_root *__root_of_spage(struct mmu *mmu, const struct spage *sp)
{
	for (struct mmu_root *root = mmu->roots; root; root = root->next) {
		if (sp->root && root->hpa == sp->hpa)
			return root;
		if (!sp->root_pd || root->role.level != 3)
			continue;
		const u64 *pdpt = phys_to_virt(root->hpa);
		for (unsigned int i = 0; i < 4; i++)
			if (spte_is_present(pdpt[i]) && (pdpt[i] & PT_ADDR_MASK) == sp->hpa)
				return root;
	}
	return NULL;
}

/*
 * A PAE-format root goes whole, whichever of its directories was flooded (a 32-bit guest's directory is all four):
 * its directories are part of it and the fault path never relinks a PDPTE. What the hardware requires is kept: the
 * PDPTEs of a PAE guest are registers loaded at CR3 loads, and the root the vCPU builds again takes them from its
 * loaded copy (root->pdptes, mmu_vcpu_load_root_pdptes), never from memory, so a guest write to its PDPT still has
 * no effect before the next CR3 load; a write to a directory is seen at once, as the hardware walks directories from
 * memory. A directory in use after all (the guest writes its current one, as a kernel mapping many 2 MiB pages)
 * costs the vCPU one rebuild of its root each FLOOD_WRITES writes with no fault, the price of a 4-level root too.
 */
void __shadow_zap_root(struct mmu *mmu, struct spage *sp)
{
	struct mmu_root *root;

	assert_write_held(&mmu->lock);
	BUG_ON(!spage_is_pinned(sp) || sp->root_zapped || sp->role.direct);
	root = __root_of_spage(mmu, sp);
	BUG_ON(!root || root->role.direct);
	WRITE_ONCE(root->invalid, true);
	if (root->role.level == 3) {
		const u64 *pdpt = phys_to_virt(root->hpa);
		struct spage *psp = __spage_by_hpa(mmu, root->hpa);

		BUG_ON(!psp);
		psp->root_zapped = true; /* direct: nothing finds it by gfn, it only says what happened */
		for (unsigned int i = 0; i < 4; i++) {
			struct spage *pd = spte_is_present(pdpt[i]) ? __spage_by_hpa(mmu, pdpt[i] & PT_ADDR_MASK) : NULL;

			if (pd)
				__zap_root_table(mmu, pd, (u64)i << 18);
		}
		mmu->shadow.stats.pae_root_zaps++;
	} else {
		BUG_ON((root->role.level != 4 && root->role.level != 5) || !sp->root);
		__zap_root_table(mmu, sp, 0);
	}
	mmu->shadow.stats.root_zaps++;
}

/*
 * Every shadow leaf that appears, goes or changes, reported by the change hook under the lock: the rmap follows the
 * leaves, and the dirty state of those that lose it goes to the memslot's dirty log. The hook's gfn is a
 * guest-virtual page here (the engine is not indexed_by_gfn), so the hook cannot harvest: the frame is the one
 * leaf_gfns recorded when the leaf was made (set before the leaf, and a present leaf is zapped before its entry
 * is given another gfn). A leaf loses D or W when zapped (a guest PTE write, a sync, a root freed), and W when
 * write-protected; aging (sage.c) clears only A and needs no harvest.
 *
 * rmap_add / rmap_remove take the head's lock bit, so they wait here, under mmu->lock, for an aging walker that
 * holds the head read-locked; that wait is what keeps the walker's sptep valid (sage.c).
 */
static void shadow_leaf_changed(struct mmu *mmu, gfn_t vpn, u64 *sptep, u64 old, u64 new, int level)
{
	unsigned int idx;
	struct spage *sp = __spage_of_sptep(mmu, sptep, &idx);
	gfn_t gfn;
	struct memslot *slot;

	BUG_ON(level != 1 || !sp || !sp->leaf_gfns);
	gfn = sp->leaf_gfns[idx];
	mmu_spte_harvest_dirty(mmu, shadow_fmt, gfn, old, new, level);
	if (old && new)
		return; /* the same frame (the hook checks), other permissions: the rmap is unchanged */
	slot = memslot_find(&mmu->slots, gfn);
	BUG_ON(!slot);
	if (new)
		BUG_ON(rmap_add(&mmu->shadow.rmap_cache, rmap_head(slot, gfn, 1), sptep)); /* topped up by the fault */
	else
		rmap_remove(&mmu->shadow.rmap_cache, rmap_head(slot, gfn, 1), sptep);
}

const struct mmu_engine shadow_engine = {
	.alloc_tree = shadow_alloc_tree,
	.free_tree = shadow_free_tree,
	.leaf_changed = shadow_leaf_changed,
	.table_freed = shadow_table_freed,
	.table_linked = shadow_table_linked,
	.table_unlinked = shadow_table_unlinked,
	.age_gfn_range = shadow_age_gfn_range,
	.zap_gfn_range = __shadow_zap_gfn_range,
};

int shadow_root_key(const struct shadow_paging *p, u64 *pgd, union mmu_role *role)
{
	const struct gwalk_mode *m = &p->mode;

	*role = (union mmu_role){ .word = 0 };
	if (!m->pg) {
		/* Paging off: a direct root, in the PAE format the hardware uses outside long mode. */
		role->direct = 1;
		role->level = 3;
		*pgd = 0;
		return 0;
	}
	if (m->lma) {
		/* 5-level paging (CR4.LA57): the guest's CR3 names a PML5, shadowed by a 5-level root, which the CPU
		 * walks as such since it runs the guest with the guest's LA57 (the backends pass it through). Below the
		 * roots, a 4-level and a 5-level root share the shadows of the guest tables both reach (a PML4 linked
		 * from a PML5 and used as a CR3 too has a shared level-4 page and a pinned root of its own). */
		role->level = m->la57 ? 5 : 4;
		role->efer_nx = m->nxe;
		*pgd = p->cr3 & GENMASK_ULL(51, 12);
		return 0;
	}
	/* Outside long mode: a PAE-format root (shadow_alloc_pae_root), CR3 bits 31:5 (PAE) or 31:12 (32-bit). */
	role->level = 3;
	if (m->pae) {
		if (!m->pdptes)
			return -EINVAL;
		role->efer_nx = m->nxe;
		*pgd = p->cr3 & 0xffffffe0;
		return 0;
	}
	role->has_4_byte_gpte = 1;
	role->cr4_pse = m->pse;
	*pgd = p->cr3 & 0xfffff000;
	return 0;
}

/* Tracking starts for a gfn when the guest's tables first use it as a table (or a user protects it): every shadow
 * leaf that maps it, found through its rmap, loses W, or the guest could change it behind the shadow's back. */
bool __shadow_write_protect_gfn(struct mmu *mmu, gfn_t gfn)
{
	struct memslot *slot = memslot_find(&mmu->slots, gfn);
	const u64 wbits = shadow_fmt->writable | SPTE_MMU_WRITABLE;
	struct rmap_iter it;
	bool changed = false;
	u64 *sptep;

	assert_write_held(&mmu->lock);
	if (!slot || !slot->track || !slot->track->rmap[0])
		return false; /* no shadow leaf was ever made in this slot */
	for_each_rmap_spte(rmap_head(slot, gfn, 1), &it, sptep) {
		u64 old = __atomic_load_n(sptep, __ATOMIC_RELAXED);
		unsigned int idx;

		if (!(old & wbits))
			continue;
		/* The hardware may set A or D meanwhile: exchange, so the hook sees what was really replaced. */
		while (!__atomic_compare_exchange_n(sptep, &old, old & ~wbits, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			;
		struct spage *sp = __spage_of_sptep(mmu, sptep, &idx);
		__mmu_handle_changed_spte(mmu, &shadow_engine, shadow_fmt, sp->vpn + idx, sptep, old, old & ~wbits, 1);
		changed = true;
	}
	return changed;
}
