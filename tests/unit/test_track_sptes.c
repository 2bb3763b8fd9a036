/* Unit tests of what write tracking does to SPTEs (mm/mmu_track.c with the TDP engine): the first reference splits
 * the huge leaves over a gfn and takes W away, flushing only when a leaf lost W; the fault path never maps a tracked
 * gfn writable or huge; the last reference lets the region collapse back, and W returns lazily on the next write
 * fault. Every root is covered, obsolete ones too, and running out of table frames on the way. */
#include "tdp_mmu_fixture.h"

/* A present 4K leaf mapping gfn at FAKE_HPA + gfn: writable (W and MMU_WRITABLE) or not (neither); always
 * host-writable (the slots here are writable). */
static void check_4k(gfn_t gfn, bool writable)
{
	int level;
	u64 spte = lookup(gfn, &level);

	check_translation(gfn, 1);
	CHECK_EQ(!!(spte & fx.mmu.fmt->writable), writable);
	CHECK_EQ(!!(spte & SPTE_MMU_WRITABLE), writable);
	CHECK(spte & SPTE_HOST_WRITABLE);
}

/* A present writable huge leaf at `level` maps gfn. */
static void check_huge_writable(gfn_t gfn, int level)
{
	int l;
	u64 spte = lookup(gfn, &l);

	check_translation(gfn, level);
	CHECK(spte & fx.mmu.fmt->writable);
	CHECK(spte & SPTE_MMU_WRITABLE);
}

/* Every SPTE change, and whether one took W away from a leaf. */
static u64 changes, w_lost;

static void watch(gfn_t gfn, u64 old, u64 new, int level)
{
	u64 w = fx.mmu.fmt->writable;

	changes++;
	if (spte_is_present(old) && spte_is_leaf(old, level) && (old & w) && spte_is_present(new) &&
	    spte_is_leaf(new, level) && !(new & w))
		w_lost++;
}

static void watch_start(void)
{
	changes = w_lost = 0;
	fx.hook = watch;
}

TEST(track_add_splits_1g_leaf_and_write_protects_gfn)
{
	const struct pt_format *f;
	gfn_t t = GIG + 5 * M2 + 3;
	int level;

	for_each_format(f) {
		setup(f);
		fake_slot(0, 2 * GIG, FAKE_HPA, true, 0);
		CHECK_EQ(fault(t, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(level, 3);
		u64 flushes = fx.flushes;
		watch_start();
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, t), 0);
		fx.hook = NULL;
		check_4k(t, false);
		/* Its neighbours in the 2M region: writable 4K leaves. */
		check_4k(t - 3, true);
		check_4k(t + 1, true);
		check_4k(GIG + 6 * M2 - 1, true);
		/* The rest of the former 1G leaf: writable 2M leaves. */
		check_huge_writable(GIG, 2);
		check_huge_writable(GIG + 5 * M2 - 1, 2);
		check_huge_writable(GIG + 6 * M2, 2);
		check_huge_writable(2 * GIG - 1, 2);
		CHECK_EQ(lookup(GIG - 1, &level), 0); /* the other 1G region was never mapped */
		CHECK_EQ(fx.mmu.stats.splits, 2);     /* 1G into 2M, then the 2M around t */
		CHECK_EQ(fx.mmu.stats.write_protected_sptes, 1);
		CHECK_EQ(w_lost, 1);
		CHECK_EQ(fx.flushes, flushes + 1); /* for the lost W alone: splits keep every translation */
		teardown();
	}
}

TEST(track_add_splits_2m_leaf_and_write_protects_gfn)
{
	const struct pt_format *f;
	gfn_t t = 4 * GIG + 3 * M2 + 200;
	int level;

	for_each_format(f) {
		setup(f);
		fake_slot(4 * GIG, GIG, FAKE_HPA + (4 * GIG << PAGE_SHIFT), false, 0);
		CHECK_EQ(fault(t, SPTE_ACC_READ, &level), MMU_FAULT_FIXED);
		CHECK_EQ(level, 2);
		CHECK_EQ(fault(t + M2, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		u64 flushes = fx.flushes;
		watch_start();
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, t), 0);
		fx.hook = NULL;
		check_4k(t, false);
		check_4k(t - 200, true);
		check_4k(t + 311, true);
		check_huge_writable(t + M2, 2);
		CHECK_EQ(fx.mmu.stats.splits, 1);
		CHECK_EQ(w_lost, 1);
		CHECK_EQ(fx.flushes, flushes + 1);
		teardown();
	}
}

/* No flush without a lost W: a gfn not mapped at all, a split of a leaf that had no W, a second reference. */
TEST(track_add_flushes_only_when_an_spte_loses_w)
{
	const struct pt_format *f;
	int level;

	for_each_format(f) {
		setup(f);
		fake_slot(0, 4 * M2, FAKE_HPA, true, 0);
		fake_slot(GIG, 2 * M2, FAKE_HPA + (GIG << PAGE_SHIFT), true, MEMSLOT_READONLY);
		CHECK_EQ(fault(M2 + 1, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(fault(GIG + 1, SPTE_ACC_READ, &level), MMU_FAULT_FIXED);
		CHECK_EQ(level, 2);
		u64 flushes = fx.flushes, tables = fx.mmu.stats.tables_allocated;

		/* Nothing maps gfn 3 (its 2M region was never faulted): no SPTE changes at all. */
		watch_start();
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, 3), 0);
		CHECK_EQ(changes, 0);
		CHECK_EQ(fx.flushes, flushes);
		CHECK_EQ(lookup(3, &level), 0);
		CHECK_EQ(fx.mmu.stats.tables_allocated, tables);

		/* A read-only slot's 2M leaf: split (the split itself needs no flush), and no leaf had W to lose. */
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, GIG + 7), 0);
		CHECK_EQ(fx.mmu.stats.splits, 1);
		CHECK_EQ(w_lost, 0);
		CHECK_EQ(fx.mmu.stats.write_protected_sptes, 0);
		CHECK_EQ(fx.flushes, flushes);
		CHECK(spte_is_present(lookup(GIG + 7, &level)));
		CHECK_EQ(level, 1);

		/* A writable leaf: W goes, one flush. */
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, M2 + 9), 0);
		CHECK_EQ(w_lost, 1);
		CHECK_EQ(fx.flushes, flushes + 1);
		check_4k(M2 + 9, false);

		/* A second reference changes nothing. */
		u64 before = changes, spte = lookup(M2 + 9, &level);
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, M2 + 9), 0);
		CHECK_EQ(changes, before);
		CHECK_EQ(fx.flushes, flushes + 1);
		CHECK_EQ(lookup(M2 + 9, &level), spte);
		CHECK_EQ(fx.mmu.stats.splits, 2);
		CHECK_EQ(fx.mmu.stats.write_protected_sptes, 1);
		fx.hook = NULL;
		teardown();
	}
}

TEST(track_fault_never_maps_tracked_gfn_writable_or_huge)
{
	const struct pt_format *f;
	gfn_t t = GIG + 5 * M2 + 3;
	int level;

	for_each_format(f) {
		/* A write in an empty tree: mapped read-only, 4K, and refused. */
		setup(f);
		fake_slot(0, 2 * GIG, FAKE_HPA, true, 0);
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, t), 0);
		CHECK_EQ(fault(t, SPTE_ACC_WRITE, &level), MMU_FAULT_WRITE_PROTECTED);
		CHECK_EQ(level, 1);
		check_4k(t, false);
		CHECK_EQ(fx.mmu.stats.write_protected_faults, 1);
		/* A neighbour in the same 2M region: writable, but 4K; one in the next 2M region: 2M. */
		CHECK_EQ(fault(t + 100, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(level, 1);
		check_4k(t + 100, true);
		CHECK_EQ(fault(t - 1, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(level, 1);
		CHECK_EQ(fault(GIG + 6 * M2 + 1, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(level, 2);
		/* Another 1G region: 1G. */
		CHECK_EQ(fault(5, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(level, 3);
		CHECK_EQ(fx.mmu.stats.faults_mapped[2], 1);
		CHECK_EQ(fx.mmu.stats.faults_mapped[3], 1);
		teardown();

		/* A read (and an execution) in an empty tree: mapped 4K, readable, not writable. */
		setup(f);
		fake_slot(0, 2 * GIG, FAKE_HPA, true, 0);
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, t), 0);
		CHECK_EQ(fault(t, SPTE_ACC_READ, &level), MMU_FAULT_FIXED);
		CHECK_EQ(level, 1);
		check_4k(t, false);
		CHECK(spte_allows(f, lookup(t, &level), SPTE_ACC_READ | SPTE_ACC_EXEC));
		CHECK_EQ(fault(t, SPTE_ACC_EXEC, &level), MMU_FAULT_SPURIOUS);
		CHECK_EQ(fault(t, SPTE_ACC_WRITE, &level), MMU_FAULT_WRITE_PROTECTED);
		CHECK_EQ(level, 1);
		check_4k(t, false);
		teardown();
	}
}

TEST(track_last_remove_collapses_region)
{
	const struct pt_format *f;
	gfn_t t = 4 * GIG + 3 * M2 + 200, g = GIG + 5 * M2 + 3;
	int level;

	for_each_format(f) {
		setup(f);
		fake_slot(4 * GIG, GIG, FAKE_HPA + (4 * GIG << PAGE_SHIFT), false, 0); /* 2M at most */
		CHECK_EQ(fault(t, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		u64 frames = fake_mem_frames_in_use();
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, t), 0);
		CHECK_EQ(fault(t + 1, SPTE_ACC_WRITE, &level), MMU_FAULT_SPURIOUS);
		u64 flushes = fx.flushes;
		CHECK_EQ(mmu_track_remove_gfn(&fx.mmu, t), 0);
		CHECK_EQ(fx.mmu.stats.collapses, 1);
		check_huge_writable(t, 2);
		CHECK_EQ(fx.flushes, flushes + 1); /* the page table was unlinked */
		CHECK_EQ(fake_mem_frames_in_use(), frames);
		CHECK_EQ(fault(t, SPTE_ACC_WRITE, &level), MMU_FAULT_SPURIOUS);
		CHECK_EQ(level, 2);
		teardown();

		/* A 1G-contiguous slot: the 1G region comes back whole, in one collapse. */
		setup(f);
		fake_slot(0, 2 * GIG, FAKE_HPA, true, 0);
		CHECK_EQ(fault(g, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		frames = fake_mem_frames_in_use();
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, g), 0);
		CHECK_EQ(fx.mmu.stats.splits, 2);
		CHECK_EQ(mmu_track_remove_gfn(&fx.mmu, g), 0);
		CHECK_EQ(fx.mmu.stats.collapses, 1);
		check_huge_writable(g, 3);
		CHECK_EQ(fake_mem_frames_in_use(), frames);
		teardown();
	}
}

/* Without a collapse (another tracked gfn, another user's disallow count, a CPU without huge TDP pages), a gfn whose
 * tracking ended keeps its read-only SPTE until the next write fault, which makes it writable. */
TEST(track_removed_gfn_regains_w_lazily)
{
	const struct pt_format *f;
	gfn_t t = 4 * GIG + 3 * M2 + 200;
	int level;

	for_each_format(f) {
		setup(f);
		struct memslot *s = fake_slot(4 * GIG, GIG, FAKE_HPA + (4 * GIG << PAGE_SHIFT), false, 0);
		CHECK_EQ(fault(t, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, t), 0);
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, t + 100), 0);
		/* Two tracked gfns in one 2M region: removing one keeps the region 4K. */
		CHECK_EQ(mmu_track_remove_gfn(&fx.mmu, t), 0);
		CHECK_EQ(fx.mmu.stats.collapses, 0);
		check_4k(t, false);
		check_4k(t + 100, false);
		CHECK_EQ(fault(t, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(level, 1);
		check_4k(t, true);
		CHECK_EQ(fault(t + 100, SPTE_ACC_WRITE, &level), MMU_FAULT_WRITE_PROTECTED);
		check_4k(t + 100, false);

		/* Another user disallows huge pages here: the last remove does not collapse either. */
		write_lock(&fx.mmu.lock);
		CHECK_EQ(track_disallow_huge(s, t + 7), 0);
		write_unlock(&fx.mmu.lock);
		CHECK_EQ(mmu_track_remove_gfn(&fx.mmu, t + 100), 0);
		CHECK_EQ(fx.mmu.stats.collapses, 0);
		check_4k(t + 100, false);
		CHECK_EQ(fault(t + 100, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		check_4k(t + 100, true);
		write_lock(&fx.mmu.lock);
		track_allow_huge(s, t + 7);
		write_unlock(&fx.mmu.lock);
		collapse_range(t, t + 1);
		CHECK_EQ(fx.mmu.stats.collapses, 1);
		check_huge_writable(t + 100, 2);
		teardown();

		/* 4K leaves only. */
		setup(f);
		fake_slot(0, 2 * GIG, FAKE_HPA, true, 0);
		fx.mmu.tdp.max_huge_level = 1;
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, 77), 0);
		CHECK_EQ(fault(77, SPTE_ACC_WRITE, &level), MMU_FAULT_WRITE_PROTECTED);
		CHECK_EQ(mmu_track_remove_gfn(&fx.mmu, 77), 0);
		CHECK_EQ(fx.mmu.stats.collapses, 0);
		check_4k(77, false);
		CHECK_EQ(fault(77, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		check_4k(77, true);
		teardown();
	}
}

/* Tracking holds in every root: a valid one the vCPU keeps in its cache, and an obsolete one it still holds (it may
 * run on it until it honours the request to drop it). */
TEST(track_add_write_protects_every_root)
{
	const struct pt_format *f;
	gfn_t t = GIG + 5 * M2 + 3;
	int level;

	for_each_format(f) {
		setup(f);
		fake_slot(0, 2 * GIG, FAKE_HPA, true, 0);
		struct mmu_root *r0 = fx.vcpu.current;
		CHECK_EQ(fault(t, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(mmu_vcpu_load_root(&fx.mmu, &fx.vcpu, 0, role(1)), 0);
		struct mmu_root *r1 = fx.vcpu.current;
		CHECK(r1 != r0);
		CHECK_EQ(fault(t, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(level, 3);
		CHECK_EQ(mmu_vcpu_load_root(&fx.mmu, &fx.vcpu, 0, role(0)), 0);
		CHECK(fx.vcpu.current == r0);
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, t), 0);
		u64 s1 = tdp_lookup(&fx.mmu, r1, t, &level);
		CHECK_EQ(level, 1);
		CHECK(spte_is_present(s1) && !(s1 & f->writable) && !(s1 & SPTE_MMU_WRITABLE));
		check_4k(t, false);
		CHECK_EQ(mmu_track_remove_gfn(&fx.mmu, t), 0);

		/* The vCPU still holds its root when it becomes obsolete; then t is tracked. */
		CHECK_EQ(fault(t + M2, SPTE_ACC_WRITE, &level), MMU_FAULT_SPURIOUS);
		CHECK_EQ(level, 3);
		mmu_invalidate_all_roots(&fx.mmu);
		CHECK(mmu_root_is_obsolete(&fx.mmu, r0));
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, t), 0);
		u64 s0 = tdp_lookup(&fx.mmu, r0, t, &level);
		/* Split and write-protected, or zapped: either way the obsolete root cannot write t. */
		CHECK(!(s0 & f->writable));
		CHECK(!spte_is_present(s0) || level == 1);
		CHECK_EQ(fault(t, SPTE_ACC_WRITE, &level), MMU_FAULT_RETRY);
		CHECK(mmu_vcpu_free_obsolete_roots(&fx.mmu, &fx.vcpu));
		CHECK_EQ(mmu_vcpu_load_root(&fx.mmu, &fx.vcpu, 0, role(0)), 0);
		CHECK_EQ(fault(t, SPTE_ACC_WRITE, &level), MMU_FAULT_WRITE_PROTECTED);
		check_4k(t, false);
		teardown();
	}
}

/* No table frame for the split: the huge leaf over the gfn is zapped instead, and the next fault maps it 4K. */
TEST(track_add_without_frames_zaps_huge_leaf)
{
	const struct pt_format *f;
	gfn_t t = GIG + 5 * M2 + 3;
	int level;

	for_each_format(f) {
		setup(f);
		fake_slot(0, 2 * GIG, FAKE_HPA, true, 0);
		CHECK_EQ(fault(t, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		u64 flushes = fx.flushes;
		fake_mem_fail_after(0);
		int r = mmu_track_add_gfn(&fx.mmu, t);
		fake_mem_fail_after(~0ULL);
		CHECK_EQ(r, 0);
		CHECK_EQ(track_count(t), 1);
		CHECK_EQ(lookup(t, &level), 0);
		CHECK_EQ(lookup(GIG, &level), 0); /* the whole 1G leaf went */
		CHECK_EQ(fx.flushes, flushes + 1);
		CHECK_EQ(fault(t, SPTE_ACC_WRITE, &level), MMU_FAULT_WRITE_PROTECTED);
		check_4k(t, false);
		CHECK_EQ(fault(GIG, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(level, 2);
		teardown();

		/* One frame: the 1G leaf splits, the 2M leaf around the gfn is zapped. */
		setup(f);
		fake_slot(0, 2 * GIG, FAKE_HPA, true, 0);
		CHECK_EQ(fault(t, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		fake_mem_fail_after(1);
		r = mmu_track_add_gfn(&fx.mmu, t);
		fake_mem_fail_after(~0ULL);
		CHECK_EQ(r, 0);
		CHECK_EQ(fx.mmu.stats.splits, 1);
		CHECK_EQ(lookup(t, &level), 0);
		CHECK_EQ(level, 2);
		check_huge_writable(GIG + 4 * M2, 2);
		check_huge_writable(GIG + 6 * M2, 2);
		CHECK_EQ(fault(t, SPTE_ACC_READ, &level), MMU_FAULT_FIXED);
		check_4k(t, false);
		teardown();
	}
}
