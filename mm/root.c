/* Roots (see root.h). A valid root that loses its last reference (evicted from every vCPU's cache) stays on the
 * list for reuse: a vCPU switching back to that (pgd, role) finds it populated. This is bounded for direct roots (one
 * per role, a handful of roles); shadow roots, one per guest pgd, are bounded by the shadow MMU's page budget. Such
 * roots go at the next invalidation or at mmu_destroy. An obsolete root goes with its last reference. The engine that
 * builds a root's tree (the TDP MMU, or the shadow MMU in a VM without TDP) populates and frees it through
 * mmu->engine. */
#include "mm/root.h"
#include "hv/bug.h"
#include "hv/errno.h"
#include "hv/platform.h"
#include "hv/string.h"
#include "mm/mmu.h"

static void __mmu_free_root(struct mmu *mmu, struct mmu_root *root);

bool __mmu_invalidate_roots_of_gfn(struct mmu *mmu, gfn_t gfn, const struct mmu_root *keep)
{
	bool found = false, any = false;

	assert_write_held(&mmu->lock);
	for (struct mmu_root *r = mmu->roots; r; r = r->next)
		if (!r->role.direct && (r->pgd >> PAGE_SHIFT) == gfn && !mmu_root_is_obsolete(mmu, r) && r == keep)
			return false;
	/* Roots made obsolete earlier count too: they are on their way out. */
	for (struct mmu_root *r = mmu->roots; r; r = r->next) {
		if (r->role.direct || (r->pgd >> PAGE_SHIFT) != gfn)
			continue;
		found = true;
		if (!mmu_root_is_obsolete(mmu, r)) {
			WRITE_ONCE(r->invalid, true);
			any = true;
		}
	}
	/* The unreferenced ones (on the list for reuse only) go now; the others as each vCPU lets go. */
	for (struct mmu_root *r = mmu->roots, *next; r; r = next) {
		next = r->next;
		if (!r->refcount && mmu_root_is_obsolete(mmu, r))
			__mmu_free_root(mmu, r);
	}
	if (any)
		mmu->ops->request_free_obsolete_roots(mmu->owner);
	return found;
}

/* 0, -ENOMEM, or the engine's -EINVAL for a role it cannot build. */
int __mmu_alloc_root(struct mmu *mmu, gpa_t pgd, union mmu_role role, const u64 *pdptes, struct mmu_root **out)
{
	static const u64 none[ARRAY_SIZE(((struct mmu_root *)0)->pdptes)];

	const struct mmu_engine *eng = mmu->engine;
	struct mmu_root *root;
	int r;

	assert_write_held(&mmu->lock);
	if (!eng)
		return -EINVAL;
	root = kzalloc(sizeof(*root));
	if (!root)
		return -ENOMEM;
	root->role = role;
	root->pgd = pgd;
	memcpy(root->pdptes, pdptes ? pdptes : none, sizeof(root->pdptes));
	root->refcount = 1;
	root->generation = mmu->generation;
	r = eng->alloc_tree(mmu, root);
	if (r) {
		kfree(root);
		return r;
	}
	root->serial = ++mmu->root_serial;
	root->next = mmu->roots;
	/* Release: a lockless walker that finds the root finds it whole, its top table cleared. */
	__atomic_store_n(&mmu->roots, root, __ATOMIC_RELEASE);
	mmu->stats.roots_allocated++;
	*out = root;
	return 0;
}

static void __mmu_free_root(struct mmu *mmu, struct mmu_root *root)
{
	struct mmu_root **pp;

	assert_write_held(&mmu->lock);
	BUG_ON(root->refcount);
	for (pp = &mmu->roots; *pp != root; pp = &(*pp)->next)
		BUG_ON(!*pp);
	/* Unlinked first, so no lockless walker that starts later finds it; the ones already on it keep it (and its
	 * tree, which free_tree empties through the hook and defers like any other table) until their grace period
	 * is over. */
	__atomic_store_n(pp, root->next, __ATOMIC_RELEASE);
	mmu->engine->free_tree(mmu, root);
	__mmu_private_root_freed(mmu, root);
	mmu->stats.roots_freed++;
	grace_retire_object(&mmu->grace, root);
}

struct mmu_root *mmu_roots_lockless_first(struct mmu *mmu)
{
	BUG_ON(!grace_in_read_section());
	return __atomic_load_n(&mmu->roots, __ATOMIC_ACQUIRE);
}

struct mmu_root *mmu_roots_lockless_next(struct mmu_root *root)
{
	return __atomic_load_n(&root->next, __ATOMIC_ACQUIRE);
}

void __mmu_get_root(struct mmu *mmu, struct mmu_root *root)
{
	assert_write_held(&mmu->lock);
	BUG_ON(root->refcount == ~0u);
	root->refcount++;
}

void __mmu_put_root(struct mmu *mmu, struct mmu_root *root)
{
	assert_write_held(&mmu->lock);
	BUG_ON(!root->refcount);
	if (--root->refcount == 0 && mmu_root_is_obsolete(mmu, root))
		__mmu_free_root(mmu, root);
}

struct mmu_root *__mmu_next_root(struct mmu *mmu, struct mmu_root *prev, bool only_valid)
{
	struct mmu_root *next;

	assert_write_held(&mmu->lock);
	next = prev ? prev->next : mmu->roots;
	while (next && only_valid && mmu_root_is_obsolete(mmu, next))
		next = next->next;
	if (next)
		__mmu_get_root(mmu, next);
	if (prev)
		__mmu_put_root(mmu, prev); /* after taking next: putting prev may free it */
	return next;
}

void __mmu_free_unused_roots(struct mmu *mmu)
{
	struct mmu_root *root, *next;

	assert_write_held(&mmu->lock);
	for (root = mmu->roots; root; root = next) {
		next = root->next;
		if (!root->refcount)
			__mmu_free_root(mmu, root);
	}
}

static bool root_matches(const struct mmu *mmu, const struct mmu_root *r, gpa_t pgd, union mmu_role role,
			 const u64 *pdptes)
{
	return r->role.word == role.word && r->pgd == pgd && !memcmp(r->pdptes, pdptes, sizeof(r->pdptes)) &&
	       !mmu_root_is_obsolete(mmu, r);
}

static struct mmu_root *__find_valid_root(struct mmu *mmu, gpa_t pgd, union mmu_role role, const u64 *pdptes)
{
	assert_write_held(&mmu->lock);
	for (struct mmu_root *r = mmu->roots; r; r = r->next) {
		if (root_matches(mmu, r, pgd, role, pdptes))
			return r;
	}
	return NULL;
}

/* The vCPU no longer uses `root` as its current root: keep it (and its reference) in the cache if it is valid,
 * evicting the oldest cached root if the cache is full; drop it if it is obsolete. */
static void __cache_or_put(struct mmu *mmu, struct mmu_vcpu *mv, struct mmu_root *root)
{
	assert_write_held(&mmu->lock);
	if (mmu_root_is_obsolete(mmu, root)) {
		mv->obsolete_dropped++;
		__mmu_put_root(mmu, root);
		return;
	}
	if (mv->cached[MMU_CACHED_ROOTS - 1])
		__mmu_put_root(mmu, mv->cached[MMU_CACHED_ROOTS - 1]);
	for (int i = MMU_CACHED_ROOTS - 1; i > 0; i--)
		mv->cached[i] = mv->cached[i - 1];
	mv->cached[0] = root;
}

/* Take the valid cached root of (pgd, role) out of the cache, with the cache's reference; NULL if there is none. */
static struct mmu_root *take_cached(const struct mmu *mmu, struct mmu_vcpu *mv, gpa_t pgd, union mmu_role role,
				    const u64 *pdptes)
{
	for (int i = 0; i < MMU_CACHED_ROOTS && mv->cached[i]; i++) {
		struct mmu_root *root = mv->cached[i];

		if (!root_matches(mmu, root, pgd, role, pdptes))
			continue;
		for (int j = i; j < MMU_CACHED_ROOTS - 1; j++)
			mv->cached[j] = mv->cached[j + 1];
		mv->cached[MMU_CACHED_ROOTS - 1] = NULL;
		return root;
	}
	return NULL;
}

int mmu_vcpu_load_root(struct mmu *mmu, struct mmu_vcpu *mv, gpa_t pgd, union mmu_role role)
{
	return mmu_vcpu_load_root_pdptes(mmu, mv, pgd, role, NULL);
}

int mmu_vcpu_load_root_pdptes(struct mmu *mmu, struct mmu_vcpu *mv, gpa_t pgd, union mmu_role role,
			      const u64 *pdptes)
{
	static const u64 none[ARRAY_SIZE(((struct mmu_root *)0)->pdptes)];
	struct mmu_root *root, *prev = mv->current;
	int r = 0;

	if (!role.direct && role.level < 2)
		return -EINVAL;
	if (!pdptes)
		pdptes = none;

	write_lock(&mmu->lock);
	if (prev && root_matches(mmu, prev, pgd, role, pdptes))
		goto out;
	root = take_cached(mmu, mv, pgd, role, pdptes);
	if (root) {
		mv->root_cache_hits++;
	} else {
		root = __find_valid_root(mmu, pgd, role, pdptes);
		if (root)
			__mmu_get_root(mmu, root);
		else
			r = __mmu_alloc_root(mmu, pgd, role, pdptes, &root);
	}
	if (r)
		goto out;
	mv->root_loads++;
	mv->current = root;
	if (prev)
		__cache_or_put(mmu, mv, prev);
out:
	__mmu_flush_and_free(mmu);
	write_unlock(&mmu->lock);
	return r;
}

bool mmu_vcpu_free_obsolete_roots(struct mmu *mmu, struct mmu_vcpu *mv)
{
	bool dropped_current = false;
	int j = 0;

	write_lock(&mmu->lock);
	if (mv->current && mmu_root_is_obsolete(mmu, mv->current)) {
		__mmu_put_root(mmu, mv->current);
		mv->current = NULL;
		mv->obsolete_dropped++;
		dropped_current = true;
	}
	for (int i = 0; i < MMU_CACHED_ROOTS; i++) {
		struct mmu_root *root = mv->cached[i];

		mv->cached[i] = NULL;
		if (root && mmu_root_is_obsolete(mmu, root)) {
			mv->obsolete_dropped++;
			__mmu_put_root(mmu, root);
		} else if (root) {
			mv->cached[j++] = root;
		}
	}
	__mmu_flush_and_free(mmu);
	write_unlock(&mmu->lock);
	return dropped_current;
}

void mmu_vcpu_put_roots(struct mmu *mmu, struct mmu_vcpu *mv)
{
	write_lock(&mmu->lock);
	if (mv->current)
		__mmu_put_root(mmu, mv->current);
	mv->current = NULL;
	for (int i = 0; i < MMU_CACHED_ROOTS; i++) {
		if (mv->cached[i])
			__mmu_put_root(mmu, mv->cached[i]);
		mv->cached[i] = NULL;
	}
	__mmu_flush_and_free(mmu);
	write_unlock(&mmu->lock);
	mmu_stat_add(mmu, table_cache_freed, frame_cache_free_all(&mv->tables));
}
