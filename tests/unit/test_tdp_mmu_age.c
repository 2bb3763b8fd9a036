/* Aging (mm/ept/tdp_age.c) and the lockless fast fault path (mm/ept/tdp_fast.c) of the TDP MMU, for EPT with A/D,
 * EPT without A/D (access tracking) and NPT: young and old leaves of every size, what the fast path restores and what
 * it leaves to the locked path, and dirty state across age, zap, split and write-protect. The threaded races are in
 * test_tdp_mmu_age_stress.c. */
#include "tdp_mmu_fixture.h"

static const gfn_t G = GIG + 3 * M2 + 7; /* inside a 1G region that the slots below back contiguously */

/* A 2 GiB slot whose second 1G region is one block, leaves of at most max_level, and one fault at gfn: its leaf. */
static u64 map_one(const struct pt_format *f, int max_level, gfn_t gfn, u32 access, u32 slot_flags, int *level)
{
	setup(f);
	fake_slot(0, 2 * GIG, FAKE_HPA, true, slot_flags);
	fx.mmu.tdp.max_huge_level = max_level;
	CHECK_EQ(fault(gfn, access, level), MMU_FAULT_FIXED);
	CHECK_EQ(*level, max_level);
	return lookup(gfn, NULL);
}

static gfn_t leaf_first(gfn_t gfn, int level)
{
	return gfn & ~(pt_level_pages(level) - 1);
}

/* The fast path alone, as mmu_page_fault calls it before it would take the lock. */
static bool fast(gfn_t gfn, u32 access)
{
	struct mmu_fault f = {.gpa = gfn << PAGE_SHIFT, .gfn = gfn, .access = access};

	f.slot = memslot_find(&fx.mmu.slots, gfn);
	return tdp_fast_page_fault(&fx.mmu, fx.vcpu.current, &f);
}

static u64 *sptep_of(gfn_t gfn)
{
	u64 *p = leaf_sptep(fx.vcpu.current, gfn, NULL);

	CHECK(p);
	return p;
}

/* Every gfn of [first, first + n) is recorded as written: in the dirty log, or by a dirty leaf still mapping it. */
static void check_written(gfn_t first, u64 n)
{
	for (gfn_t g = first; g < first + n; g++) {
		u64 *p = leaf_sptep(fx.vcpu.current, g, NULL);

		if (!dirty_logged(g) && !(p && spte_is_dirty(fx.mmu.fmt, *p)))
			test_fail(__FILE__, __LINE__, "%s: the write to gfn %#llx is lost", fx.mmu.fmt->name,
				  (unsigned long long)g);
	}
}

TEST(age_and_test_age_leaves_of_every_size)
{
	const struct pt_format *f;

	for_each_format(f) {
		for (int want = 1; want <= 3; want++) {
			int level;
			u64 young = map_one(f, want, G, SPTE_ACC_READ, 0, &level), old;
			gfn_t first = leaf_first(G, level), last = first + pt_level_pages(level) - 1;
			u64 flushes = fx.flushes;

			CHECK(spte_is_young(f, young));
			/* test_age: any range the leaf overlaps, nothing else; and it changes nothing. */
			CHECK(mmu_test_age_gfn_range(&fx.mmu, G, G + 1));
			CHECK(mmu_test_age_gfn_range(&fx.mmu, last, last + 1));
			CHECK(mmu_test_age_gfn_range(&fx.mmu, first - 5, first + 1));
			CHECK(!mmu_test_age_gfn_range(&fx.mmu, first - 5, first));
			CHECK(!mmu_test_age_gfn_range(&fx.mmu, last + 1, last + 100));
			CHECK(!mmu_test_age_gfn_range(&fx.mmu, G, G)); /* empty */
			CHECK_EQ(lookup(G, NULL), young);
			/* age: true once, and the leaf is then old, the same leaf otherwise. */
			CHECK(!mmu_age_gfn_range(&fx.mmu, last + 1, last + 100));
			CHECK(mmu_age_gfn_range(&fx.mmu, G, G + 1));
			old = lookup(G, NULL);
			if (f->ad_enabled) {
				CHECK_EQ(old, young & ~f->accessed);
			} else {
				CHECK(spte_is_access_tracked(f, old));
				CHECK_EQ(old & ~SPTE_ACC_TRACK_SAVED_MASK, young & ~EPT_RWX);
				CHECK_EQ(old & SPTE_ACC_TRACK_SAVED_MASK, SPTE_ACC_TRACK_SAVED_MASK);
				CHECK_EQ(restore_access_tracked_spte(f, old), young & ~EPT_W);
			}
			check_translation(G, level);
			CHECK(!mmu_test_age_gfn_range(&fx.mmu, 0, PT_MAX_PFN));
			CHECK(!mmu_age_gfn_range(&fx.mmu, 0, PT_MAX_PFN));
			CHECK_EQ(lookup(G, NULL), old);
			CHECK_EQ(fx.mmu.stats.aged_leaves, 1);
			CHECK_EQ(fx.flushes, flushes); /* no flush: age_flush is off by default */
			CHECK_EQ(fx.age_flush_requests, 0);
			/* An access makes it young again: the hardware sets A, or (no A/D) the access faults and the fast
			 * path restores the leaf. */
			if (f->ad_enabled) {
				__atomic_fetch_or(sptep_of(G), f->accessed, __ATOMIC_SEQ_CST);
			} else {
				CHECK_EQ(fault(last, SPTE_ACC_READ, NULL), MMU_FAULT_FIXED);
				CHECK_EQ(fx.mmu.stats.access_track_faults, 1);
			}
			CHECK(mmu_test_age_gfn_range(&fx.mmu, first, first + 1));
			CHECK(mmu_age_gfn_range(&fx.mmu, first, last + 1));
			CHECK_EQ(fx.mmu.stats.aged_leaves, 2);
			teardown();
		}
	}
}

/* The flush policy after aging (mmu->age_flush, mm/mmu.h): with it on, a call that made a leaf old ends with exactly
 * one request (ops->request_tlb_flush; never the waiting remote flush), and nothing else asks for one: not a
 * test-only call, not an age that found nothing young (the leaf already old, or a range no leaf maps), not a
 * piece of a pass (mmu_age_gfn_range_young), whose caller ends the pass once. With it off, nothing ever asks. */
TEST(age_flush_is_requested_exactly_when_a_leaf_was_made_old)
{
	const struct pt_format *f;

	for_each_format(f) {
		for (int on = 0; on <= 1; on++) {
			int level;
			u64 m[8];

			map_one(f, 1, G, SPTE_ACC_READ, 0, &level);
			fx.mmu.age_flush = on;
			CHECK(mmu_test_age_gfn_range(&fx.mmu, G, G + 1));
			CHECK(!mmu_age_gfn_range(&fx.mmu, G + 1, G + 100)); /* nothing there */
			CHECK_EQ(fx.age_flush_requests, 0);
			CHECK(mmu_age_gfn_range(&fx.mmu, 0, PT_MAX_PFN)); /* young: made old */
			CHECK_EQ(fx.age_flush_requests, (u64)on);
			CHECK_EQ(fx.mmu.stats.age_flushes, (u64)on);
			CHECK(!mmu_age_gfn_range(&fx.mmu, 0, PT_MAX_PFN)); /* old already: nothing to flush for */
			CHECK(!mmu_test_age_gfn_range(&fx.mmu, 0, PT_MAX_PFN));
			CHECK_EQ(fx.age_flush_requests, (u64)on);
			/* Young again; a piece of a pass says it made it old and leaves the flush to the pass's end. */
			if (f->ad_enabled)
				__atomic_fetch_or(sptep_of(G), f->accessed, __ATOMIC_SEQ_CST);
			else
				CHECK_EQ(fault(G, SPTE_ACC_READ, NULL), MMU_FAULT_FIXED);
			memset(m, 0, sizeof(m));
			CHECK(mmu_age_gfn_range_young(&fx.mmu, G & ~511ULL, (G & ~511ULL) + 512, m));
			CHECK_EQ(m[(G & 511) / 64], 1ULL << (G & 63));
			CHECK_EQ(fx.age_flush_requests, (u64)on);
			CHECK(!mmu_age_gfn_range_young(&fx.mmu, G & ~511ULL, (G & ~511ULL) + 512, m));
			mmu_age_end_pass(&fx.mmu, false);
			CHECK_EQ(fx.age_flush_requests, (u64)on);
			mmu_age_end_pass(&fx.mmu, true);
			CHECK_EQ(fx.age_flush_requests, 2 * (u64)on);
			CHECK_EQ(fx.mmu.stats.age_flushes, 2 * (u64)on);
			CHECK_EQ(fx.flushes, 0); /* aging never waits for the vCPUs: no remote flush */
			teardown();
		}
	}
}

/* Without A/D: a read restores R and X (not W: a read is not a write), a write W where MMU_WRITABLE allows it, each
 * with one compare-exchange and without the lock, which another CPU holds meanwhile. */
TEST(fast_path_restores_access_tracked_leaves_without_the_lock)
{
	const struct pt_format *f = &pt_format_ept_noad;

	for (int want = 1; want <= 3; want++) {
		int level;
		u64 young = map_one(f, want, G, SPTE_ACC_WRITE, 0, &level), faults = fx.mmu.stats.faults;
		gfn_t other = leaf_first(G, level) + pt_level_pages(level) - 1;

		CHECK(young & EPT_W);
		CHECK(mmu_age_gfn_range(&fx.mmu, 0, PT_MAX_PFN));
		fake_cpu_id = 7;
		write_lock(&fx.mmu.lock);
		fake_cpu_id = 0;
		CHECK(fast(other, SPTE_ACC_READ | SPTE_ACC_EXEC));
		CHECK_EQ(*sptep_of(G), young & ~EPT_W);
		CHECK(!fast(G, SPTE_ACC_READ)); /* spurious now: the locked path would count it */
		CHECK(fast(G, SPTE_ACC_WRITE));
		CHECK_EQ(*sptep_of(G), young);
		fake_cpu_id = 7;
		write_unlock(&fx.mmu.lock);
		fake_cpu_id = 0;
		/* Through mmu_page_fault: a write straight onto an access-tracked leaf gets R, X and W in one go. */
		CHECK(mmu_age_gfn_range(&fx.mmu, G, G + 1));
		CHECK_EQ(fault(G, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(level, want);
		CHECK_EQ(*sptep_of(G), young);
		CHECK_EQ(fx.mmu.stats.faults, faults); /* none took the lock */
		CHECK_EQ(fx.mmu.stats.fast_faults, 3);
		CHECK_EQ(fx.mmu.stats.access_track_faults, 2);
		teardown();
	}
}

/* What the fast path must not do: resurrect a zapped leaf, write a leaf whose gfn is write-tracked, or fix anything
 * in a format with hardware A/D. */
TEST(fast_path_leaves_the_rest_to_the_locked_path)
{
	const struct pt_format *f;
	int level;

	for_each_format(f) {
		map_one(f, 1, G, SPTE_ACC_WRITE, 0, &level);
		CHECK(mmu_age_gfn_range(&fx.mmu, G, G + 1));
		CHECK_EQ(fast(G, SPTE_ACC_READ), !f->ad_enabled);
		if (f->ad_enabled)
			__atomic_fetch_or(sptep_of(G), f->accessed, __ATOMIC_SEQ_CST); /* the access, by the hardware */
		CHECK(mmu_age_gfn_range(&fx.mmu, G, G + 1));
		mmu_zap_gfn_range(&fx.mmu, G, G + 1);
		CHECK(!fast(G, SPTE_ACC_READ));
		CHECK(!leaf_sptep(fx.vcpu.current, G, NULL));
		u64 faults = fx.mmu.stats.faults;
		CHECK_EQ(fault(G, SPTE_ACC_READ, NULL), MMU_FAULT_FIXED);
		CHECK_EQ(fx.mmu.stats.faults, faults + 1);
		/* Write-tracked: aged, then a write is refused by the fast path and emulated; a read is restored. */
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, G), 0);
		CHECK(mmu_age_gfn_range(&fx.mmu, G, G + 1));
		CHECK(!fast(G, SPTE_ACC_WRITE));
		CHECK_EQ(fault(G, SPTE_ACC_WRITE, NULL), MMU_FAULT_WRITE_PROTECTED);
		if (!f->ad_enabled) {
			CHECK(fast(G, SPTE_ACC_READ));
			CHECK(!(*sptep_of(G) & EPT_W) && (*sptep_of(G) & EPT_R));
		}
		CHECK_EQ(mmu_track_remove_gfn(&fx.mmu, G), 0);
		teardown();
	}
}

/* The lockless changes against a walker's stale value: clearing A is one atomic AND, so a D the hardware set after
 * the walk read the entry stays; an access-tracking or restoring compare-exchange fails if a lock holder changed the
 * entry meanwhile (a write-protect, a zap), and the entry keeps what the lock holder wrote. */
TEST(lockless_changes_keep_what_changed_after_the_walk_read_it)
{
	const struct pt_format *f;
	struct pt_iter iter;
	int level;

	for_each_format(f) {
		map_one(f, 1, G, SPTE_ACC_WRITE, 0, &level);
		for_each_tdp_pte(iter, &fx.mmu, fx.vcpu.current, G, G + 1)
			if (iter.level == 1)
				break;
		CHECK_EQ(iter.level, 1);
		if (f->ad_enabled) {
			/* As after a dirty-log pass: clean, then the walk reads it, then the guest writes. */
			__atomic_fetch_and(iter.sptep, ~f->dirty, __ATOMIC_SEQ_CST);
			iter.old_spte = *iter.sptep;
			__atomic_fetch_or(iter.sptep, f->dirty | f->accessed, __ATOMIC_SEQ_CST);
			mmu_spte_clear_accessed(&iter);
			CHECK_EQ(*iter.sptep & (f->accessed | f->dirty), f->dirty);
		} else {
			u64 tracked = make_access_tracked_spte(f, iter.old_spte);

			CHECK_EQ(mmu_track_add_gfn(&fx.mmu, G), 0); /* takes W and MMU_WRITABLE under the lock */
			u64 wp = *iter.sptep;
			CHECK(!(wp & (EPT_W | SPTE_MMU_WRITABLE)));
			CHECK(!mmu_spte_lockless_cmpxchg(&fx.mmu, &iter, tracked));
			CHECK_EQ(*iter.sptep, wp);
			CHECK_EQ(iter.old_spte, wp);
			CHECK(dirty_logged(G)); /* the write-protect harvested W */
			CHECK_EQ(mmu_track_remove_gfn(&fx.mmu, G), 0);
			/* Access-tracked, then zapped: the restore must not bring it back. */
			iter.old_spte = *iter.sptep;
			CHECK(mmu_spte_lockless_cmpxchg(&fx.mmu, &iter, make_access_tracked_spte(f, iter.old_spte)));
			mmu_zap_gfn_range(&fx.mmu, G, G + 1);
			CHECK(!mmu_spte_lockless_cmpxchg(&fx.mmu, &iter, restore_access_tracked_spte(f, iter.old_spte)));
			CHECK_EQ(*iter.sptep, 0);
		}
		teardown();
	}
}

enum dirty_op { OP_ZAP, OP_SPLIT, OP_WRITE_PROTECT };

/* A written leaf, aged, written again by the hardware (A/D) or through the fast path (no A/D), aged again, then
 * zapped, split or write-protected: every gfn it mapped stays recorded as written throughout. */
static void dirty_survives(const struct pt_format *f, int want, enum dirty_op op)
{
	int level;
	u64 young = map_one(f, want, G, SPTE_ACC_WRITE, 0, &level);
	gfn_t first = leaf_first(G, level);
	u64 n = pt_level_pages(level);

	CHECK(spte_is_dirty(f, young));
	CHECK(mmu_age_gfn_range(&fx.mmu, G, G + 1));
	check_written(first, n);
	CHECK(f->ad_enabled ? (*sptep_of(G) & f->dirty) : dirty_logged(G)); /* kept, or harvested with W */
	if (f->ad_enabled)
		__atomic_fetch_or(sptep_of(G), f->accessed | f->dirty, __ATOMIC_SEQ_CST);
	else
		CHECK_EQ(fault(G, SPTE_ACC_WRITE, NULL), MMU_FAULT_FIXED);
	CHECK(mmu_age_gfn_range(&fx.mmu, first, first + n));
	check_written(first, n);
	switch (op) {
	case OP_ZAP:
		mmu_zap_gfn_range(&fx.mmu, first, first + n);
		CHECK(!leaf_sptep(fx.vcpu.current, G, NULL));
		break;
	case OP_SPLIT:
		fx.mmu.tdp.max_huge_level = level - 1;
		split_range(first, first + n);
		CHECK_EQ(fx.mmu.stats.splits, 1);
		break;
	case OP_WRITE_PROTECT:
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, G), 0);
		CHECK(!(*sptep_of(G) & f->writable));
		CHECK(dirty_logged(G));
		break;
	}
	check_written(first, n);
	CHECK(fx.mmu.stats.dirty_harvested > 0);
	if (op == OP_WRITE_PROTECT)
		CHECK_EQ(mmu_track_remove_gfn(&fx.mmu, G), 0);
	teardown();
}

TEST(dirty_state_survives_age_then_zap_split_or_write_protect)
{
	const struct pt_format *f;

	for_each_format(f) {
		for (int want = 1; want <= 3; want++) {
			dirty_survives(f, want, OP_ZAP);
			dirty_survives(f, want, OP_WRITE_PROTECT);
			if (want > 1)
				dirty_survives(f, want, OP_SPLIT);
		}
	}
}

/* The control: a leaf nothing could write (a read-only slot) is aged, zapped and split without a bit in the log. */
TEST(unwritable_leaf_leaves_the_dirty_log_clear)
{
	const struct pt_format *f;
	int level;

	for_each_format(f) {
		u64 spte = map_one(f, 2, G, SPTE_ACC_READ, MEMSLOT_READONLY, &level);

		CHECK(!spte_is_dirty(f, spte));
		CHECK(mmu_age_gfn_range(&fx.mmu, G, G + 1));
		fx.mmu.tdp.max_huge_level = 1;
		split_range(0, 2 * GIG);
		mmu_zap_gfn_range(&fx.mmu, 0, 2 * GIG);
		for (gfn_t g = leaf_first(G, 2); g < leaf_first(G, 2) + M2; g++)
			CHECK(!dirty_logged(g));
		CHECK_EQ(fx.mmu.stats.dirty_harvested, 0);
		teardown();
	}
}

/* Enough leaves that the walk leaves its read section several times, in two roots, one of them obsolete (a vCPU may
 * still run on it): every leaf of both is aged, once. */
TEST(age_walks_every_root_across_many_read_sections)
{
	const struct pt_format *f;
	enum { N = 1500 };

	for_each_format(f) {
		struct mmu_vcpu v2 = {0};
		struct mmu_fault mf;

		setup(f);
		fake_slot(0, 2 * GIG, FAKE_HPA, true, 0);
		fx.mmu.tdp.max_huge_level = 1;
		for (u64 i = 0; i < N; i++)
			CHECK_EQ(fault(GIG + 3 * i, SPTE_ACC_READ, NULL), MMU_FAULT_FIXED);
		CHECK_EQ(mmu_vcpu_load_root(&fx.mmu, &v2, 0, role(1)), 0);
		for (u64 i = 0; i < 10; i++)
			CHECK_EQ(mmu_page_fault(&fx.mmu, &v2, (5 * GIG / 4 + i) << PAGE_SHIFT, SPTE_ACC_READ, &mf),
				 MMU_FAULT_FIXED);
		mmu_invalidate_all_roots(&fx.mmu); /* both held, so both stay, obsolete */
		CHECK(fx.mmu.roots && fx.mmu.roots->next);
		CHECK(mmu_test_age_gfn_range(&fx.mmu, 5 * GIG / 4 + 9, 5 * GIG / 4 + 10)); /* only in v2's root */
		CHECK(mmu_age_gfn_range(&fx.mmu, 0, PT_MAX_PFN));
		CHECK_EQ(fx.mmu.stats.aged_leaves, N + 10);
		CHECK(fx.mmu.stats.age_sections >= 2);
		CHECK(!mmu_test_age_gfn_range(&fx.mmu, 0, PT_MAX_PFN));
		for (u64 i = 0; i < N; i++)
			CHECK(!spte_is_young(f, *sptep_of(GIG + 3 * i)));
		mmu_vcpu_put_roots(&fx.mmu, &v2);
		teardown();
	}
}
