/* Unit tests of the shadow MMU's roots (mm/root.c with the shadow engine, mm/shadow/spage.c): one root per guest
 * CR3, the vCPU's cache of previous roots and the MMU's list of unused ones, invalidation by generation and the
 * dropping of obsolete roots only, the budget of shadow pages (a fault past it retries on fresh roots; a root load
 * never fails for it), allocation failures while a root is built, and teardown of every state. */
#include "shadow_fixture.h"

#define GVA 0x7f1234567000ULL

/* A new address space: a PML4 mapping GVA to `data` (user, writable, dirty). Returns its CR3. */
static u64 new_as(gpa_t data)
{
	u64 cr3 = sx_new_table();

	sx_map(cr3, GVA, data, 1, G_ALL, G_ALL | G_D);
	return cr3;
}

static unsigned int nr_roots(void)
{
	unsigned int n = 0;

	for (struct mmu_root *r = sx.mmu.roots; r; r = r->next)
		n++;
	return n;
}

TEST(shadow_roots_one_per_cr3_and_the_cache)
{
	u64 cr3[6];
	struct mmu_root *roots[6];

	sx_setup(256);
	for (int i = 0; i < 6; i++)
		cr3[i] = new_as(SX_DATA + i * PAGE_SIZE);
	sx_switch(cr3[0]);
	CHECK_EQ(sx_fault(GVA, 0, NULL), MMU_FAULT_FIXED);
	roots[0] = sx.vcpu.current;
	sx_switch(cr3[1]);
	roots[1] = sx.vcpu.current;
	CHECK(roots[1] != roots[0]);
	CHECK_EQ(roots[1]->pgd, cr3[1]);
	CHECK_EQ(sx.vcpu.root_loads, 2);
	CHECK_EQ(sx.vcpu.root_cache_hits, 0);
	CHECK_EQ(sx_leaf(GVA), 0);
	CHECK_EQ(sx_fault(GVA, 0, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(GVA, SX_DATA + PAGE_SIZE, true, true, true);
	/* Back: the cached root, populated. */
	sx_switch(cr3[0]);
	CHECK(sx.vcpu.current == roots[0]);
	CHECK_EQ(sx.vcpu.root_cache_hits, 1);
	sx_check_leaf(GVA, SX_DATA, true, true, true);
	sx_switch(cr3[1]);
	CHECK_EQ(sx.vcpu.root_cache_hits, 2);
	sx_check_leaf(GVA, SX_DATA + PAGE_SIZE, true, true, true);
	/* Loading the current root again changes nothing. */
	sx_switch(cr3[1]);
	CHECK_EQ(sx.vcpu.root_loads, 4);
	/* Four more: the cache holds 3, so roots[0] falls out; unused but valid, it stays on the MMU's list. */
	for (int i = 2; i < 6; i++) {
		sx_switch(cr3[i]);
		roots[i] = sx.vcpu.current;
	}
	CHECK_EQ(roots[0]->refcount, 0);
	CHECK_EQ(nr_roots(), 6);
	CHECK_EQ(sx.mmu.stats.roots_allocated, 6);
	u64 hits = sx.vcpu.root_cache_hits;
	sx_switch(cr3[0]);
	CHECK(sx.vcpu.current == roots[0]);
	CHECK_EQ(sx.vcpu.root_cache_hits, hits); /* from the list, not the cache */
	CHECK_EQ(sx.mmu.stats.roots_allocated, 6);
	sx_check_leaf(GVA, SX_DATA, true, true, true);
	sx_teardown();
}

TEST(shadow_roots_invalidation_drops_only_obsolete_roots)
{
	sx_setup(256);
	u64 a = new_as(SX_DATA), b = new_as(SX_DATA + PAGE_SIZE), c = new_as(SX_DATA + 2 * PAGE_SIZE);
	/* d's root falls out of the cache (unused, valid, on the list); e and f stay cached. */
	for (int i = 0; i < 3; i++)
		sx_switch(new_as(SX_DATA + (3 + i) * PAGE_SIZE));
	sx_switch(a);
	CHECK_EQ(sx_fault(GVA, 0, NULL), MMU_FAULT_FIXED);
	sx_switch(b);
	CHECK_EQ(sx_fault(GVA, 0, NULL), MMU_FAULT_FIXED);
	struct mmu_root *ra = sx.vcpu.cached[0], *rb = sx.vcpu.current;
	CHECK_EQ(ra->pgd, a);
	CHECK_EQ(nr_roots(), 5);

	u64 requests = sx.root_requests, pages = sx.mmu.shadow.nr_pages;
	mmu_invalidate_all_roots(&sx.mmu);
	sx_check();
	CHECK_EQ(sx.root_requests, requests + 1);
	CHECK(mmu_root_is_obsolete(&sx.mmu, ra) && mmu_root_is_obsolete(&sx.mmu, rb));
	/* The unused one went at once; the held ones keep their trees until the vCPU lets go. */
	CHECK_EQ(nr_roots(), 4);
	CHECK_EQ(sx.mmu.shadow.nr_pages, pages - 1);
	/* A fault on an obsolete root installs nothing and asks for the roots to be dropped. */
	CHECK_EQ(sx_fault(GVA, PFERR_WRITE, NULL), MMU_FAULT_RETRY);
	CHECK_EQ(sx.root_requests, requests + 2);
	CHECK_EQ(sx.mmu.shadow.nr_pages, pages - 1);
	/* Loading c: b (obsolete) is dropped instead of cached; a, f and e stay cached, obsolete. */
	sx_switch(c);
	CHECK_EQ(sx.vcpu.obsolete_dropped, 1);
	CHECK_EQ(nr_roots(), 4);
	struct mmu_root *rc = sx.vcpu.current;
	CHECK(!mmu_root_is_obsolete(&sx.mmu, rc));
	CHECK_EQ(sx_fault(GVA, 0, NULL), MMU_FAULT_FIXED);
	/* Dropping the obsolete roots keeps the valid current one. */
	CHECK(!mmu_vcpu_free_obsolete_roots(&sx.mmu, &sx.vcpu));
	sx_check();
	CHECK(sx.vcpu.current == rc);
	CHECK(!sx.vcpu.cached[0]);
	CHECK_EQ(sx.vcpu.obsolete_dropped, 4);
	CHECK_EQ(nr_roots(), 1);
	CHECK_EQ(sx.mmu.stats.roots_freed, 5);
	sx_check_leaf(GVA, SX_DATA + 2 * PAGE_SIZE, true, true, true);
	/* The guest tables of the dropped roots are no longer tracked (sx_check counted), those of c are. */
	CHECK_EQ(sx_track_count(a >> PAGE_SHIFT), 0);
	CHECK_EQ(sx_track_count(c >> PAGE_SHIFT), 1);
	/* Invalidated again: now the current root goes too, and the next load builds a new one. */
	mmu_invalidate_all_roots(&sx.mmu);
	CHECK(mmu_vcpu_free_obsolete_roots(&sx.mmu, &sx.vcpu));
	CHECK(!sx.vcpu.current);
	CHECK_EQ(nr_roots(), 0);
	CHECK_EQ(sx.mmu.shadow.nr_pages, 0);
	sx_switch(c);
	CHECK(!mmu_root_is_obsolete(&sx.mmu, sx.vcpu.current));
	CHECK_EQ(sx_fault(GVA, 0, NULL), MMU_FAULT_FIXED);
	/* A zap of a gfn range takes the leaves of the range and nothing else: the root stays (test_shadow_zap.c). */
	mmu_zap_gfn_range(&sx.mmu, (SX_DATA >> PAGE_SHIFT) + 2, (SX_DATA >> PAGE_SHIFT) + 3); /* what GVA maps */
	CHECK(!mmu_root_is_obsolete(&sx.mmu, sx.vcpu.current));
	CHECK_EQ(sx_leaf(GVA), 0);
	CHECK_EQ(sx_fault(GVA, 0, NULL), MMU_FAULT_FIXED);
	sx_teardown();
}

/* gvas in different PML4 slots: each needs a new PDPT, PD and PT shadow page. */
static gva_t slot_gva(int i)
{
	return ((u64)(i + 1) << 39) | 0x5000;
}

TEST(shadow_roots_budget_exceeded_by_a_fault_retries_on_fresh_roots)
{
	sx_setup(8);
	for (int i = 0; i < 3; i++)
		sx_map(sx.p.cr3, slot_gva(i), SX_DATA + i * PAGE_SIZE, 1, G_ALL, G_ALL | G_D);
	CHECK_EQ(sx_load(), 0);
	struct mmu_root *root = sx.vcpu.current;
	CHECK_EQ(sx_fault(slot_gva(0), 0, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(sx_fault(slot_gva(1), 0, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(sx.mmu.shadow.nr_pages, 7);
	u64 requests = sx.root_requests;
	CHECK_EQ(sx_fault(slot_gva(2), 0, NULL), MMU_FAULT_RETRY);
	CHECK(sx.mmu.shadow.nr_pages <= 8);
	CHECK(mmu_root_is_obsolete(&sx.mmu, root));
	CHECK_EQ(sx.root_requests, requests + 1);
	/* The vCPU drops its obsolete root and loads a new one: faults work again, within the budget. */
	sx_reload();
	CHECK(sx.vcpu.current != root || !mmu_root_is_obsolete(&sx.mmu, sx.vcpu.current));
	CHECK_EQ(sx.mmu.shadow.nr_pages, 1);
	CHECK_EQ(sx_fault(slot_gva(2), 0, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(slot_gva(2), SX_DATA + 2 * PAGE_SIZE, true, true, true);
	CHECK_EQ(sx_fault(slot_gva(0), 0, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(sx_fault(slot_gva(1), 0, NULL), MMU_FAULT_RETRY);
	sx_reload();
	CHECK_EQ(sx_fault(slot_gva(1), PFERR_WRITE, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(slot_gva(1), SX_DATA + PAGE_SIZE, true, true, true);
	sx_teardown();
}

/* A root load never fails for the budget: the roots the vCPU holds may have spent it all, and only a fault (which
 * retries on fresh roots) can take it back. */
TEST(shadow_roots_load_with_budget_spent)
{
	sx_setup(8);
	for (int i = 0; i < 2; i++)
		sx_map(sx.p.cr3, slot_gva(i), SX_DATA + i * PAGE_SIZE, 1, G_ALL, G_ALL | G_D);
	sx_map(sx.p.cr3, slot_gva(0) + (1ULL << 21), SX_DATA + 2 * PAGE_SIZE, 1, G_ALL, G_ALL | G_D);
	u64 a = sx.p.cr3;
	CHECK_EQ(sx_load(), 0);
	CHECK_EQ(sx_fault(slot_gva(0), 0, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(sx_fault(slot_gva(1), 0, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(sx_fault(slot_gva(0) + (1ULL << 21), 0, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(sx.mmu.shadow.nr_pages, 8);
	u64 b = sx_new_table();
	sx_map(b, GVA, SX_DATA + 3 * PAGE_SIZE, 1, G_ALL, G_ALL | G_D);
	sx_switch(b);
	CHECK_EQ(sx.vcpu.current->pgd, b);
	CHECK_EQ(sx.mmu.shadow.nr_pages, 9);
	/* Three more push a's root out of the vCPU's cache, unused: the next load past the budget frees it first. */
	for (int i = 0; i < 4; i++)
		sx_switch(sx_new_table());
	CHECK_EQ(sx_track_count(a >> PAGE_SHIFT), 0);
	CHECK_EQ(nr_roots(), 5);
	CHECK_EQ(sx.mmu.shadow.nr_pages, 5);
	/* Paging off: the PAE root's 5 pages, past the budget too. */
	struct shadow_paging lm = sx.p;
	sx_paging_off();
	CHECK_EQ(sx_load(), 0);
	CHECK(sx.vcpu.current->role.direct);
	sx.p = lm;
	sx_switch(b);
	/* The first fault past the budget makes every root obsolete; after the reload it is mapped. */
	int r = sx_fault(GVA, 0, NULL);
	CHECK_EQ(r, MMU_FAULT_RETRY);
	sx_reload();
	CHECK_EQ(sx_fault(GVA, 0, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(GVA, SX_DATA + 3 * PAGE_SIZE, true, true, true);
	sx_switch(a);
	CHECK_EQ(sx_fault(slot_gva(1), 0, NULL), MMU_FAULT_FIXED);
	sx_teardown();
}

/* Out of frames or heap while a root is built: -ENOMEM, nothing left behind, and the next load works. */
TEST(shadow_roots_alloc_failure_leaves_nothing)
{
	for (int pae = 0; pae < 2; pae++) {
		for (u64 n = 0; n < 6; n++) {
			for (int heap = 0; heap < 2; heap++) {
				sx_setup(64);
				if (pae)
					sx_paging_off();
				u64 frames = fake_mem_frames_in_use();
				if (heap)
					fake_kmalloc_fail_after(n);
				else
					fake_mem_fail_after(n);
				int r = sx_load();
				fake_kmalloc_fail_after(~0ULL);
				fake_mem_fail_after(~0ULL);
				if (r) {
					CHECK_EQ(r, -ENOMEM);
					CHECK(!sx.vcpu.current);
					CHECK_EQ(nr_roots(), 0);
					CHECK_EQ(sx.mmu.shadow.nr_pages, 0);
					/* What was unlinked is freed after the grace period: none is pending here. */
					CHECK(fake_mem_frames_in_use() <= frames);
					CHECK_EQ(sx_load(), 0);
				}
				CHECK_EQ(sx.mmu.shadow.nr_pages, pae ? 5 : 1);
				CHECK_EQ(sx_fault(0x5000, 0, NULL), pae ? MMU_FAULT_FIXED : MMU_FAULT_GUEST_PF);
				sx_teardown();
			}
		}
	}
}

/* Teardown with roots in every state (current, cached, unused on the list, obsolete and held) frees everything. */
TEST(shadow_roots_teardown_frees_every_state)
{
	sx_setup(256);
	u64 cr3[5];
	for (int i = 0; i < 5; i++)
		cr3[i] = new_as(SX_DATA + i * PAGE_SIZE);
	for (int i = 0; i < 5; i++) {
		sx_switch(cr3[i]);
		CHECK_EQ(sx_fault(GVA, PFERR_WRITE, NULL), MMU_FAULT_FIXED);
	}
	mmu_invalidate_all_roots(&sx.mmu); /* current and cached: obsolete, held */
	sx_switch(cr3[0]);
	CHECK_EQ(sx_fault(GVA, 0, NULL), MMU_FAULT_FIXED);
	sx_switch(cr3[1]);
	sx_paging_off();
	CHECK_EQ(sx_load(), 0);
	CHECK_EQ(sx_fault(0x6000, PFERR_WRITE, NULL), MMU_FAULT_FIXED);
	CHECK(sx.mmu.shadow.nr_pages > 5);
	sx_teardown();
}

/* A frame the guest freed as a PGD and now writes as data (mmu_shadow_unprotect_gfn): only the roots of that frame
 * become obsolete (the seed's "zap only obsolete roots"), the unreferenced ones go at once, the held ones as the vCPU
 * lets go; its protection goes with them. The current root's frame is refused: it would only be built again. */
TEST(shadow_roots_unprotect_drops_only_the_roots_of_that_frame)
{
	sx_setup(256);
	u64 a = new_as(SX_DATA), b = new_as(SX_DATA + PAGE_SIZE), c = new_as(SX_DATA + 2 * PAGE_SIZE);
	sx_switch(a);
	CHECK_EQ(sx_fault(GVA, 0, NULL), MMU_FAULT_FIXED);
	sx_switch(b);
	CHECK_EQ(sx_fault(GVA, 0, NULL), MMU_FAULT_FIXED);
	sx_switch(c);
	struct mmu_root *ra = sx.vcpu.cached[1], *rb = sx.vcpu.cached[0], *rc = sx.vcpu.current;
	CHECK_EQ(ra->pgd, a);
	CHECK_EQ(sx_track_count(a >> PAGE_SHIFT), 1);
	u64 requests = sx.root_requests;

	CHECK(!mmu_shadow_unprotect_gfn(&sx.mmu, &sx.vcpu, c >> PAGE_SHIFT));
	CHECK(!mmu_root_is_obsolete(&sx.mmu, rc));
	CHECK(mmu_shadow_unprotect_gfn(&sx.mmu, &sx.vcpu, a >> PAGE_SHIFT));
	CHECK(mmu_root_is_obsolete(&sx.mmu, ra));
	CHECK(!mmu_root_is_obsolete(&sx.mmu, rb) && !mmu_root_is_obsolete(&sx.mmu, rc));
	CHECK_EQ(sx.root_requests, requests + 1);
	/* Asked again before the vCPU let go: still on its way out, nothing new requested. */
	CHECK(mmu_shadow_unprotect_gfn(&sx.mmu, &sx.vcpu, a >> PAGE_SHIFT));
	CHECK_EQ(sx.root_requests, requests + 1);
	CHECK(!mmu_vcpu_free_obsolete_roots(&sx.mmu, &sx.vcpu));
	sx_check();
	CHECK_EQ(sx.vcpu.obsolete_dropped, 1);
	CHECK(sx.vcpu.current == rc && sx.vcpu.cached[0] == rb && !sx.vcpu.cached[1]);
	CHECK_EQ(nr_roots(), 2);
	CHECK_EQ(sx_track_count(a >> PAGE_SHIFT), 0);
	CHECK_EQ(sx_track_count(b >> PAGE_SHIFT), 1);
	/* Back to b: taken from the cache, populated. */
	sx_switch(b);
	sx_check_leaf(GVA, SX_DATA + PAGE_SIZE, true, true, true);
	sx_teardown();
}
