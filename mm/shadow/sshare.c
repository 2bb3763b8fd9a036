/* Shared shadow pages (after KVM's kvm_mmu_get_shadow_page and parent_ptes): below the roots, a shadow page is found
 * by (gfn, role) in the per-gfn hash and linked from every parent entry whose walk reaches that guest table under that
 * role, so two address spaces that share their kernel half (every process of one OS) share its shadow too, instead
 * of each building and write-protecting its own copy.
 *
 * The set of parent entries uses the rmap encoding (rmap.h): one entry inline, descriptors for more. The change hook
 * keeps it: linking a table adds the entry (table_linked), zapping or replacing the entry removes it
 * (table_unlinked), and only the removal of the last parent lets the hook empty the table (dropping the links of its
 * children in turn) and free it. A root's shadow page has no parents: the struct mmu_root, which vCPUs reference
 * (mm/root.c), owns it. */
#include "hv/bug.h"
#include "hv/errno.h"
#include "mm/shadow/shadow_internal.h"

#define HASH_MASK ((1u << SHADOW_HASH_BITS) - 1)

u32 spage_nr_parents(const struct spage *sp)
{
	return rmap_count(rmap_get(&sp->parents));
}

u64 __spage_sptep_vpn(struct mmu *mmu, u64 *sptep, int level)
{
	unsigned int idx;
	struct spage *p = __spage_of_sptep(mmu, sptep, &idx);

	BUG_ON(!p || p->role.level != level);
	return p->vpn + idx * pt_level_pages(level);
}

void shadow_table_linked(struct mmu *mmu, u64 *sptep, hpa_t table, int level)
{
	struct spage *sp = __spage_by_hpa(mmu, table);

	assert_write_held(&mmu->lock);
	BUG_ON(!sp || sp->role.level != level || sp->root);
	/* The fault path tops the cache up before it links anything; an empty cache falls back on the heap. */
	BUG_ON(rmap_add(&mmu->shadow.rmap_cache, &sp->parents, sptep));
	BUG_ON(sp->root_pd && spage_nr_parents(sp) != 1);
}

bool shadow_table_unlinked(struct mmu *mmu, u64 *sptep, hpa_t table, int level)
{
	struct spage *sp = __spage_by_hpa(mmu, table);

	assert_write_held(&mmu->lock);
	BUG_ON(!sp || sp->role.level != level || sp->root);
	rmap_remove(&mmu->shadow.rmap_cache, &sp->parents, sptep);
	return !rmap_get(&sp->parents);
}

void __spage_zap(struct mmu *mmu, struct spage *sp)
{
	assert_write_held(&mmu->lock);
	BUG_ON(sp->root);
	/* Each unlink removes the parent it names (and nothing else of this set: the entry's own table stays); the
	 * last one frees sp, so the count is read before it. */
	for (;;) {
		struct rmap_iter it;
		u64 *parent = rmap_iter_first(&sp->parents, &it);
		bool last = spage_nr_parents(sp) == 1;

		BUG_ON(!parent);
		__shadow_set_sptep(mmu, parent, __spage_sptep_vpn(mmu, parent, sp->role.level + 1), sp->role.level + 1,
				   0);
		if (last)
			return;
	}
}

/* The valid, shareable page of (gfn, role): not a root's, nor of an older generation. */
static struct spage *__spage_find(struct mmu *mmu, gfn_t gfn, union mmu_role role)
{
	for (struct spage *sp = mmu->shadow.by_gfn[gfn & HASH_MASK]; sp; sp = sp->gfn_next) {
		if (sp->gfn == gfn && sp->role.word == role.word && !spage_is_pinned(sp) &&
		    sp->generation == mmu->generation)
			return sp;
	}
	return NULL;
}

int __spage_get(struct mmu *mmu, gfn_t gfn, union mmu_role role, u64 vpn, struct spage **out, bool *created,
		bool *synced)
{
	struct spage *sp = __spage_find(mmu, gfn, role);

	assert_write_held(&mmu->lock);
	*synced = sp && (sp->unsync || sp->unsync_children);
	/* Stale leaves are allowed only at addresses whose old translations a TLB may hold: none of the new parent's.
	 * So the page is synced, and so is every unsync page below it: the new parent's root has no bits leading to
	 * them, and its next CR3 load would not find them. */
	if (sp && sp->unsync_children)
		__shadow_sync_children(mmu, sp);
	if (sp && sp->unsync) {
		__shadow_unsync_forget(mmu, sp);
		if (!__shadow_sync_one(mmu, sp))
			sp = NULL;
	}
	if (sp) {
		mmu->shadow.stats.pages_shared++;
		*created = false;
		*out = sp;
		return 0;
	}
	*created = true;
	return __spage_alloc(mmu, gfn, role, vpn, out);
}
