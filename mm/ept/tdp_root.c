/* TDP roots: refcounted top-level tables shared by vCPUs of equal role. Each root is stamped with mmu->generation
 * when built; tdp_invalidate_all_roots bumps the generation, which makes every existing root obsolete at once, and
 * each vCPU then drops only the obsolete roots it holds. An obsolete root is freed, tree and all, with its last
 * reference.
 *
 * A valid root that loses its last reference (evicted from a vCPU's cache) stays on the list for reuse: a vCPU
 * switching back to that role finds it fully populated. This is bounded: a new root is built only when no valid root
 * of the role exists, so there is at most one valid root per role (and a handful of roles). Such roots go at the
 * next invalidation or at tdp_mmu_destroy. */
#include "hv/bug.h"
#include "hv/errno.h"
#include "hv/platform.h"
#include "mm/ept/tdp_internal.h"

bool tdp_root_is_obsolete(const struct tdp_mmu *mmu, const struct tdp_root *root)
{
	return root->generation != READ_ONCE(mmu->generation);
}

static struct tdp_root *__tdp_alloc_root(struct tdp_mmu *mmu, union tdp_role role)
{
	struct tdp_root *root;

	assert_spin_held(&mmu->lock);
	root = kzalloc(sizeof(*root));
	if (!root)
		return NULL;
	root->hpa = frame_alloc(0);
	if (root->hpa == INVALID_HPA) {
		kfree(root);
		return NULL;
	}
	root->role = role;
	root->refcount = 1;
	root->generation = mmu->generation;
	root->next = mmu->roots;
	mmu->roots = root;
	mmu->stats.roots_allocated++;
	return root;
}

/* Unlink the root from the list and free its tree through the change hook, the top table after the flush too. */
static void __tdp_free_root(struct tdp_mmu *mmu, struct tdp_root *root)
{
	struct tdp_root **pp;
	struct tdp_iter iter;

	assert_spin_held(&mmu->lock);
	BUG_ON(root->refcount);
	for (pp = &mmu->roots; *pp != root; pp = &(*pp)->next)
		BUG_ON(!*pp);
	*pp = root->next;

	for_each_tdp_pte_min_level(iter, mmu, root, TDP_ROOT_LEVEL, 0, PT_MAX_PFN) {
		if (iter.old_spte)
			__tdp_mmu_set_spte(mmu, &iter, 0);
	}
	__tdp_defer_free_table(mmu, root->hpa);
	mmu->stats.roots_freed++;
	kfree(root);
}

void __tdp_get_root(struct tdp_mmu *mmu, struct tdp_root *root)
{
	assert_spin_held(&mmu->lock);
	BUG_ON(root->refcount == ~0u);
	root->refcount++;
}

void __tdp_put_root(struct tdp_mmu *mmu, struct tdp_root *root)
{
	assert_spin_held(&mmu->lock);
	BUG_ON(!root->refcount);
	if (--root->refcount == 0 && tdp_root_is_obsolete(mmu, root))
		__tdp_free_root(mmu, root);
}

struct tdp_root *__tdp_next_root(struct tdp_mmu *mmu, struct tdp_root *prev, bool only_valid)
{
	struct tdp_root *next;

	assert_spin_held(&mmu->lock);
	next = prev ? prev->next : mmu->roots;
	while (next && only_valid && tdp_root_is_obsolete(mmu, next))
		next = next->next;
	if (next)
		__tdp_get_root(mmu, next);
	if (prev)
		__tdp_put_root(mmu, prev); /* after taking next: putting prev may free it */
	return next;
}

void __tdp_free_unused_roots(struct tdp_mmu *mmu)
{
	struct tdp_root *root, *next;

	assert_spin_held(&mmu->lock);
	for (root = mmu->roots; root; root = next) {
		next = root->next;
		if (!root->refcount)
			__tdp_free_root(mmu, root);
	}
}

static struct tdp_root *__find_valid_root(struct tdp_mmu *mmu, union tdp_role role)
{
	assert_spin_held(&mmu->lock);
	for (struct tdp_root *r = mmu->roots; r; r = r->next) {
		if (r->role.word == role.word && !tdp_root_is_obsolete(mmu, r))
			return r;
	}
	return NULL;
}

/* The vCPU no longer uses `root` as its current root: keep it (and its reference) in the cache if it is valid,
 * evicting the oldest cached root if the cache is full; drop it if it is obsolete. */
static void __cache_or_put(struct tdp_mmu *mmu, struct tdp_vcpu_roots *vr, struct tdp_root *root)
{
	assert_spin_held(&mmu->lock);
	if (tdp_root_is_obsolete(mmu, root)) {
		__tdp_put_root(mmu, root);
		return;
	}
	if (vr->cached[TDP_CACHED_ROOTS - 1])
		__tdp_put_root(mmu, vr->cached[TDP_CACHED_ROOTS - 1]);
	for (int i = TDP_CACHED_ROOTS - 1; i > 0; i--)
		vr->cached[i] = vr->cached[i - 1];
	vr->cached[0] = root;
}

/* Take the valid cached root of this role out of the cache, with the cache's reference; NULL if there is none. */
static struct tdp_root *take_cached(const struct tdp_mmu *mmu, struct tdp_vcpu_roots *vr, union tdp_role role)
{
	for (int i = 0; i < TDP_CACHED_ROOTS && vr->cached[i]; i++) {
		struct tdp_root *root = vr->cached[i];

		if (root->role.word != role.word || tdp_root_is_obsolete(mmu, root))
			continue;
		for (int j = i; j < TDP_CACHED_ROOTS - 1; j++)
			vr->cached[j] = vr->cached[j + 1];
		vr->cached[TDP_CACHED_ROOTS - 1] = NULL;
		return root;
	}
	return NULL;
}

int tdp_vcpu_load_root(struct tdp_mmu *mmu, struct tdp_vcpu_roots *vr, union tdp_role role)
{
	struct tdp_root *root, *prev = vr->current;
	int r = 0;

	if (role.levels != TDP_ROOT_LEVEL)
		return -EINVAL;
	spin_lock(&mmu->lock);
	if (prev && prev->role.word == role.word && !tdp_root_is_obsolete(mmu, prev))
		goto out;
	root = take_cached(mmu, vr, role);
	if (!root) {
		root = __find_valid_root(mmu, role);
		if (root)
			__tdp_get_root(mmu, root);
		else
			root = __tdp_alloc_root(mmu, role);
	}
	if (!root) {
		r = -ENOMEM;
		goto out;
	}
	vr->current = root;
	if (prev)
		__cache_or_put(mmu, vr, prev);
out:
	__tdp_flush_and_free(mmu);
	spin_unlock(&mmu->lock);
	return r;
}

bool tdp_vcpu_free_obsolete_roots(struct tdp_mmu *mmu, struct tdp_vcpu_roots *vr)
{
	bool dropped_current = false;
	int j = 0;

	spin_lock(&mmu->lock);
	if (vr->current && tdp_root_is_obsolete(mmu, vr->current)) {
		__tdp_put_root(mmu, vr->current);
		vr->current = NULL;
		dropped_current = true;
	}
	for (int i = 0; i < TDP_CACHED_ROOTS; i++) {
		struct tdp_root *root = vr->cached[i];

		vr->cached[i] = NULL;
		if (root && tdp_root_is_obsolete(mmu, root))
			__tdp_put_root(mmu, root);
		else if (root)
			vr->cached[j++] = root;
	}
	__tdp_flush_and_free(mmu);
	spin_unlock(&mmu->lock);
	return dropped_current;
}

void tdp_vcpu_put_roots(struct tdp_mmu *mmu, struct tdp_vcpu_roots *vr)
{
	spin_lock(&mmu->lock);
	if (vr->current)
		__tdp_put_root(mmu, vr->current);
	vr->current = NULL;
	for (int i = 0; i < TDP_CACHED_ROOTS; i++) {
		if (vr->cached[i])
			__tdp_put_root(mmu, vr->cached[i]);
		vr->cached[i] = NULL;
	}
	__tdp_flush_and_free(mmu);
	spin_unlock(&mmu->lock);
}

/*
 * A new generation makes every root obsolete without touching any table. Roots no vCPU holds would never be dropped
 * by one, so they are freed now; the rest keep their trees until their holders let go (a vCPU holding one is not in
 * guest mode and drops it, on request, before it enters again), which spares this call a walk of every tree.
 */
void tdp_invalidate_all_roots(struct tdp_mmu *mmu)
{
	spin_lock(&mmu->lock);
	mmu->generation++;
	__tdp_free_unused_roots(mmu);
	__tdp_flush_and_free(mmu);
	spin_unlock(&mmu->lock);
	mmu->ops->request_free_obsolete_roots(mmu->owner);
}

/* EPTP: bits 2:0 paging-structure memory type (6 = WB), 5:3 walk length - 1, 6 A/D enable, 51:12 the root. */
#define EPTP_MT_WB 6ULL
#define EPTP_WALK_4 (3ULL << 3)
#define EPTP_AD BIT(6)

u64 tdp_eptp(const struct tdp_mmu *mmu, const struct tdp_root *root)
{
	BUG_ON(root->role.levels != TDP_ROOT_LEVEL);
	return root->hpa | EPTP_MT_WB | EPTP_WALK_4 | (mmu->fmt->ad_enabled ? EPTP_AD : 0);
}
