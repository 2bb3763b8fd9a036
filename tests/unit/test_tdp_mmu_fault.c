/* Unit tests of the TDP MMU's fault path (mm/ept/tdp_fault.c, tdp_huge.c): faults at every level with the SPTE bits
 * read back, splits and collapses (and the Hedron check that they never show a walker anything but the old or the
 * new translation), MMIO SPTEs and their generations, write-protected gfns, and running out of memory. */
#include "tdp_mmu_fixture.h"

static bool is_npt(void)
{
	return fx.mmu.fmt == &pt_format_npt;
}

/* Every bit of a RAM leaf, as the format wants it. */
static void check_leaf(u64 spte, int level, hpa_t hpa, bool writable, bool host_writable)
{
	const struct pt_format *f = fx.mmu.fmt;

	CHECK(spte_is_present(spte));
	CHECK(spte_is_leaf(spte, level));
	CHECK(!spte_is_mmio(f, spte));
	CHECK_EQ(pt_leaf_hpa(spte, level), hpa);
	CHECK_EQ(spte_pfn(spte), hpa >> PAGE_SHIFT);
	CHECK_EQ(!!(spte & SPTE_HUGE), level > 1);
	CHECK_EQ(!!(spte & f->writable), writable);
	CHECK_EQ(!!(spte & SPTE_MMU_WRITABLE), writable);
	CHECK_EQ(!!(spte & SPTE_HOST_WRITABLE), host_writable);
	if (is_npt()) {
		CHECK_EQ(spte & (PTE_P | PTE_U | PTE_NX | PTE_PWT | PTE_PCD), PTE_P | PTE_U); /* WB from PAT entry 0 */
		CHECK(spte & PTE_A);
		CHECK_EQ(!!(spte & PTE_D), writable);
	} else {
		CHECK_EQ(spte & (EPT_R | EPT_X | EPT_UX | EPT_SVE), EPT_R | EPT_X);
		CHECK_EQ(spte & EPT_MT_MASK, EPT_MT_WB);
		CHECK(spte & EPT_IPAT);
		CHECK_EQ(!!(spte & EPT_A), f->ad_enabled);
		CHECK_EQ(!!(spte & EPT_D), f->ad_enabled && writable);
	}
	CHECK(!(spte & ~(f->hw_mask | SPTE_MMU_PRESENT | SPTE_HOST_WRITABLE | SPTE_MMU_WRITABLE)));
}

/* The tables on the way to gfn carry exactly the format's table attributes. */
static void check_path(gfn_t gfn)
{
	struct pt_iter iter;
	int tables = 0;

	for_each_tdp_pte(iter, &fx.mmu, fx.vcpu.current, gfn, gfn + 1) {
		if (spte_is_present(iter.old_spte) && !spte_is_leaf(iter.old_spte, iter.level)) {
			CHECK_EQ(iter.old_spte & ~PT_ADDR_MASK, fx.mmu.fmt->table_attrs);
			tables++;
		}
	}
	CHECK(tables >= 1);
	if (is_npt())
		CHECK_EQ(fx.mmu.fmt->table_attrs & (PTE_P | PTE_W | PTE_U | PTE_NX), PTE_P | PTE_W | PTE_U);
	else
		CHECK_EQ(fx.mmu.fmt->table_attrs & EPT_RWX, EPT_RWX);
}

TEST(tdp_map_4k_when_max_level_is_1)
{
	const struct pt_format *f;
	int level;

	for_each_format(f) {
		setup(f);
		fake_slot(0, 2 * GIG, FAKE_HPA, true, 0);
		fx.mmu.tdp.max_huge_level = 1;
		CHECK_EQ(fault(0x1234, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(level, 1);
		u64 spte = lookup(0x1234, &level);
		CHECK_EQ(level, 1);
		check_leaf(spte, 1, FAKE_HPA + 0x1234000, true, true);
		check_path(0x1234);
		CHECK_EQ(lookup(0x1235, &level), 0);
		/* One engine: the host walker reads the same tree. */
		CHECK_EQ(pt_translate(f, fx.vcpu.current->hpa, 0x1234abc), FAKE_HPA + 0x1234abc);
		CHECK_EQ(fx.mmu.stats.faults, 1);
		CHECK_EQ(fx.mmu.stats.faults_mapped[1], 1);
		CHECK_EQ(fx.mmu.stats.tables_allocated, 3);
		CHECK_EQ(fx.flushes, 0); /* a hole that became present needs no flush */
		/* The root and 3 tables, and the zeroed frames left in the vCPU's table cache (mm/frame_cache.h). */
		CHECK_EQ(fake_mem_frames_in_use(), fx.base_frames + 4 + fx.vcpu.tables.nobjs);
		CHECK_EQ(fx.vcpu.tables.nobjs, FRAME_CACHE_CAPACITY - 3);
		teardown();
	}
}

TEST(tdp_map_2m_and_1g_leaves)
{
	const struct pt_format *f;
	int level;

	for_each_format(f) {
		setup(f);
		fake_slot(0, 2 * GIG, FAKE_HPA, true, 0);
		fake_slot(4 * GIG, GIG, FAKE_HPA + (4 * GIG << PAGE_SHIFT), false, 0);
		fx.mmu.tdp.max_huge_level = 2;
		CHECK_EQ(fault(GIG + 3 * M2 + 7, SPTE_ACC_READ, &level), MMU_FAULT_FIXED);
		CHECK_EQ(level, 2);
		check_leaf(lookup(GIG + 3 * M2 + 100, &level), 2, FAKE_HPA + ((GIG + 3 * M2) << PAGE_SHIFT), true,
			   true);
		CHECK_EQ(level, 2);
		check_path(GIG + 3 * M2);
		fx.mmu.tdp.max_huge_level = 3;
		CHECK_EQ(fault(5, SPTE_ACC_EXEC, &level), MMU_FAULT_FIXED);
		CHECK_EQ(level, 3);
		check_leaf(lookup(GIG - 1, &level), 3, FAKE_HPA, true, true);
		CHECK_EQ(level, 3);
		/* Not 1G-contiguous on the host: 2M at most. */
		CHECK_EQ(fault(4 * GIG + 9, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(level, 2);
		check_translation(4 * GIG + 9, 2);
		CHECK_EQ(fx.mmu.stats.faults_mapped[2], 2);
		CHECK_EQ(fx.mmu.stats.faults_mapped[3], 1);
		teardown();

		/* A CPU without 1G TDP pages. */
		setup(f);
		fx.mmu.tdp.max_huge_level = 2;
		fake_slot(0, 2 * GIG, FAKE_HPA, true, 0);
		CHECK_EQ(fault(GIG + 1, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(level, 2);
		teardown();
	}
}

TEST(tdp_repeat_faults_are_spurious)
{
	const struct pt_format *f;
	int level;

	for_each_format(f) {
		setup(f);
		fake_slot(0, 4 * M2, FAKE_HPA, true, 0);
		/* RAM is mapped with every permission the slot allows, whatever the first access was. */
		CHECK_EQ(fault(M2 + 1, SPTE_ACC_READ, &level), MMU_FAULT_FIXED);
		u64 spte = lookup(M2 + 1, &level);
		check_leaf(spte, 2, FAKE_HPA + (M2 << PAGE_SHIFT), true, true);
		u64 tables = fx.mmu.stats.tables_allocated;
		CHECK_EQ(fault(M2 + 1, SPTE_ACC_WRITE, &level), MMU_FAULT_SPURIOUS);
		CHECK_EQ(level, 2);
		CHECK_EQ(fault(M2 + 2, SPTE_ACC_EXEC, &level), MMU_FAULT_SPURIOUS);
		CHECK_EQ(fault(M2 + 3, SPTE_ACC_READ | SPTE_ACC_WRITE, &level), MMU_FAULT_SPURIOUS);
		CHECK_EQ(lookup(M2 + 1, &level), spte);
		CHECK_EQ(fx.mmu.stats.spurious_faults, 3);
		CHECK_EQ(fx.mmu.stats.faults_mapped[2], 1);
		CHECK_EQ(fx.mmu.stats.tables_allocated, tables);
		teardown();
	}
}

TEST(tdp_split_when_max_level_lowered)
{
	const struct pt_format *f;
	int level;

	for_each_format(f) {
		setup(f);
		fake_slot(0, 2 * GIG, FAKE_HPA, true, 0);
		CHECK_EQ(fault(100, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(level, 3);
		fx.mmu.tdp.max_huge_level = 2;
		split_range(0, 2 * GIG);
		CHECK_EQ(fx.mmu.stats.splits, 1);
		for (gfn_t g = 0; g < GIG; g += 4093)
			check_translation(g, 2);
		check_leaf(lookup(GIG - 1, &level), 2, FAKE_HPA + ((GIG - M2) << PAGE_SHIFT), true, true);
		fx.mmu.tdp.max_huge_level = 1;
		split_range(0, 2 * GIG);
		CHECK_EQ(fx.mmu.stats.splits, 1 + 512);
		for (gfn_t g = 0; g < GIG; g += 4093)
			check_translation(g, 1);
		check_leaf(lookup(GIG - 1, &level), 1, FAKE_HPA + ((GIG - 1) << PAGE_SHIFT), true, true);
		CHECK_EQ(lookup(GIG, &level), 0); /* never faulted */
		CHECK_EQ(fx.mmu.stats.tables_allocated, 1 + 1 + 512); /* the 1G leaf's directory, then the splits */
		CHECK_EQ(fx.flushes, 0); /* a split keeps every translation: nothing to flush */
		teardown();
	}
}

TEST(tdp_fault_splits_huge_leaf_above_lowered_level)
{
	const struct pt_format *f;
	int level;

	for_each_format(f) {
		setup(f);
		fake_slot(0, 2 * GIG, FAKE_HPA, true, 0);
		CHECK_EQ(fault(GIG + 1, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(level, 3);
		fx.mmu.tdp.max_huge_level = 1; /* no eager split: the fault finds the 1G leaf on its way */
		CHECK_EQ(fault(GIG + 777, SPTE_ACC_WRITE, &level), MMU_FAULT_SPURIOUS);
		CHECK_EQ(level, 1);
		CHECK_EQ(fx.mmu.stats.splits, 2);
		check_translation(GIG + 777, 1);
		check_translation(GIG + 512, 1);
		check_translation(GIG + 1024, 2);
		check_translation(2 * GIG - 1, 2);
		teardown();
	}
}

TEST(tdp_collapse_back_when_allowed)
{
	const struct pt_format *f;
	int level;

	for_each_format(f) {
		setup(f);
		fake_slot(0, 2 * GIG, FAKE_HPA, true, 0);
		CHECK_EQ(fault(3, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		fx.mmu.tdp.max_huge_level = 1;
		split_range(0, GIG);
		check_translation(12345, 1);
		/* Allowed 2M again: every 4K table becomes a 2M leaf. */
		fx.mmu.tdp.max_huge_level = 2;
		collapse_range(0, GIG);
		CHECK_EQ(fx.mmu.stats.collapses, 512);
		CHECK_EQ(fx.mmu.stats.tables_freed, 512);
		for (gfn_t g = 0; g < GIG; g += 4093)
			check_translation(g, 2);
		u64 flushes = fx.flushes;
		CHECK(flushes >= 1); /* tables were unlinked */
		/* And 1G: the directory goes too. */
		fx.mmu.tdp.max_huge_level = 3;
		collapse_range(5, 6);
		CHECK_EQ(fx.mmu.stats.collapses, 513);
		check_leaf(lookup(GIG - 1, &level), 3, FAKE_HPA, true, true);
		CHECK_EQ(fx.mmu.stats.tables_freed, 513);
		/* the root and the 1G directory, and what the vCPU's table cache holds */
		CHECK_EQ(fake_mem_frames_in_use(), fx.base_frames + 2 + fx.vcpu.tables.nobjs);
		CHECK(fx.flushes > flushes);
		/* Nothing collapses where the backing forbids it. */
		fake_slot(4 * GIG, GIG, FAKE_HPA + (4 * GIG << PAGE_SHIFT), false, 0);
		fx.mmu.tdp.max_huge_level = 2;
		CHECK_EQ(fault(4 * GIG + 1, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		fx.mmu.tdp.max_huge_level = 3;
		collapse_range(4 * GIG, 5 * GIG);
		check_translation(4 * GIG + 1, 2);
		CHECK_EQ(fx.mmu.stats.collapses, 513);
		teardown();
	}
}

TEST(tdp_fault_collapses_table_into_allowed_huge_leaf)
{
	const struct pt_format *f;
	int level;

	for_each_format(f) {
		setup(f);
		fake_slot(0, 4 * M2, FAKE_HPA, true, 0);
		fx.mmu.tdp.max_huge_level = 1;
		CHECK_EQ(fault(10, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(fault(11, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		fx.mmu.tdp.max_huge_level = 2;
		CHECK_EQ(fault(20, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(level, 2);
		CHECK_EQ(fx.mmu.stats.collapses, 1);
		CHECK_EQ(fx.mmu.stats.tables_freed, 1);
		check_translation(10, 2);
		CHECK(fx.flushes >= 1);
		teardown();
	}
}

TEST(tdp_mmio_fault_installs_mmio_spte_and_honours_generation)
{
	const struct pt_format *f;
	int level;
	gfn_t x = 0x100000;

	for_each_format(f) {
		setup(f);
		fake_slot(0, 2 * M2, FAKE_HPA, true, 0);
		CHECK_EQ(fault(x, SPTE_ACC_WRITE, &level), MMU_FAULT_MMIO);
		u64 spte = lookup(x, &level);
		CHECK_EQ(level, 1);
		CHECK(spte_is_mmio(f, spte));
		CHECK(!spte_is_present(spte));
		CHECK(spte_mmio_gen_matches(spte, fx.mmu.slots.generation));
		if (is_npt())
			CHECK_EQ(spte & (PTE_P | BIT(51) | SPTE_MMU_PRESENT), PTE_P | BIT(51)); /* #NPF with RSVD */
		else
			CHECK_EQ(spte & 7, 2); /* W without R: EPT misconfiguration */
		CHECK_EQ(fx.mmu.stats.mmio_faults, 1);
		u64 tables = fx.mmu.stats.tables_allocated;
		CHECK_EQ(tables, 3);
		/* Again: answered by the SPTE, nothing changes. */
		CHECK_EQ(fault(x, SPTE_ACC_READ, &level), MMU_FAULT_MMIO);
		CHECK_EQ(lookup(x, &level), spte);
		CHECK_EQ(fx.mmu.stats.mmio_faults, 2);
		CHECK_EQ(fx.mmu.stats.tables_allocated, tables);
		/* A memslot change makes it stale: treated as a hole, replaced by one of the new generation. */
		fx.mmu.slots.generation++;
		CHECK(!spte_mmio_gen_matches(spte, fx.mmu.slots.generation));
		CHECK_EQ(fault(x, SPTE_ACC_READ, &level), MMU_FAULT_MMIO);
		u64 fresh = lookup(x, &level);
		CHECK(spte_is_mmio(f, fresh));
		CHECK(fresh != spte);
		CHECK(spte_mmio_gen_matches(fresh, fx.mmu.slots.generation));
		CHECK_EQ(fx.mmu.stats.mmio_faults, 3);
		CHECK_EQ(fx.flushes, 0); /* MMIO SPTEs are never cached: replacing them needs no flush */
		/* Now RAM there: a 2M leaf replaces the page table that held the stale MMIO SPTE. That does need a
		 * flush: a paging-structure cache may still point into the table, which is freed. */
		fake_slot(x & ~(M2 - 1), M2, FAKE_HPA + ((x & ~(M2 - 1)) << PAGE_SHIFT), true, 0);
		CHECK_EQ(fault(x, SPTE_ACC_READ, &level), MMU_FAULT_FIXED);
		check_translation(x, 2);
		CHECK_EQ(fx.mmu.stats.tables_freed, 1);
		CHECK_EQ(fx.flushes, 1);
		teardown();
	}
}

TEST(tdp_mmio_generation_wrap_sweeps_old_mmio_sptes)
{
	const struct pt_format *f;
	int level;
	gfn_t x = 0x100000, y = 0x200000;

	for_each_format(f) {
		setup(f);
		CHECK_EQ(fault(x, SPTE_ACC_READ, &level), MMU_FAULT_MMIO);
		CHECK_EQ(fault(y, SPTE_ACC_READ, &level), MMU_FAULT_MMIO);
		u64 old = lookup(x, &level);
		/* Seven changes, then RAM appears at x with the eighth: the low generation bits match again. */
		fx.mmu.slots.generation += SPTE_MMIO_GEN_SPAN - 1;
		fake_slot(x, M2, FAKE_HPA, true, 0);
		CHECK(spte_mmio_gen_matches(old, fx.mmu.slots.generation));
		CHECK_EQ(fault(x, SPTE_ACC_READ, &level), MMU_FAULT_FIXED);
		CHECK_EQ(fx.mmu.stats.mmio_sweeps, 1);
		CHECK_EQ(lookup(y, &level), 0); /* swept */
		CHECK_EQ(fault(y, SPTE_ACC_READ, &level), MMU_FAULT_MMIO);
		CHECK(spte_is_mmio(f, lookup(y, &level)));
		teardown();
	}
}

TEST(tdp_mmio_not_cached_when_format_has_no_pattern)
{
	struct pt_format npt52 = pt_format_npt;
	int level;

	npt52.mmio_mask = npt52.mmio_value = 0; /* MAXPHYADDR 52: no reserved bit to fault on */
	setup(&npt52);
	CHECK_EQ(fault(0x100000, SPTE_ACC_READ, &level), MMU_FAULT_MMIO);
	CHECK_EQ(fault(0x100000, SPTE_ACC_READ, &level), MMU_FAULT_MMIO);
	CHECK_EQ(lookup(0x100000, &level), 0);
	CHECK_EQ(fx.mmu.stats.tables_allocated, 0);
	CHECK_EQ(fx.mmu.stats.mmio_faults, 2);
	teardown();
}

TEST(tdp_write_to_tracked_gfn_is_write_protected)
{
	const struct pt_format *f;
	int level;

	for_each_format(f) {
		setup(f);
		fake_slot(0, 4 * M2, FAKE_HPA, true, 0);
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, 5), 0);
		CHECK_EQ(fault(5, SPTE_ACC_WRITE, &level), MMU_FAULT_WRITE_PROTECTED);
		CHECK_EQ(level, 1);
		u64 spte = lookup(5, &level);
		check_leaf(spte, 1, FAKE_HPA + 5 * PAGE_SIZE, false, true); /* host-writable, not MMU-writable */
		CHECK_EQ(fx.mmu.stats.write_protected_faults, 1);
		CHECK_EQ(fx.mmu.stats.faults_mapped[1], 1);
		/* Reads and execution go through; writes keep being refused, without changes. */
		CHECK_EQ(fault(5, SPTE_ACC_READ, &level), MMU_FAULT_SPURIOUS);
		CHECK_EQ(fault(5, SPTE_ACC_EXEC, &level), MMU_FAULT_SPURIOUS);
		CHECK_EQ(fault(5, SPTE_ACC_WRITE, &level), MMU_FAULT_WRITE_PROTECTED);
		CHECK_EQ(lookup(5, &level), spte);
		CHECK_EQ(fx.mmu.stats.write_protected_faults, 2);
		CHECK_EQ(fx.mmu.stats.faults_mapped[1], 1);
		/* Its neighbours: 4K in the same 2M region, 2M in the next. */
		CHECK_EQ(fault(6, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(level, 1);
		check_leaf(lookup(6, &level), 1, FAKE_HPA + 6 * PAGE_SIZE, true, true);
		CHECK_EQ(fault(M2 + 3, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(level, 2);
		/* Tracking ends: the region collapses back into a writable 2M leaf, so the write goes through. */
		CHECK_EQ(mmu_track_remove_gfn(&fx.mmu, 5), 0);
		CHECK_EQ(fault(5, SPTE_ACC_WRITE, &level), MMU_FAULT_SPURIOUS);
		CHECK_EQ(level, 2);
		check_leaf(lookup(5, &level), 2, FAKE_HPA, true, true);
		teardown();
	}
}

TEST(tdp_write_to_readonly_slot_is_write_protected)
{
	const struct pt_format *f;
	int level;

	for_each_format(f) {
		setup(f);
		fake_slot(0, 2 * M2, FAKE_HPA, true, MEMSLOT_READONLY);
		CHECK_EQ(fault(3, SPTE_ACC_WRITE, &level), MMU_FAULT_WRITE_PROTECTED);
		CHECK_EQ(level, 2);
		check_leaf(lookup(3, &level), 2, FAKE_HPA, false, false);
		CHECK_EQ(fault(4, SPTE_ACC_READ | SPTE_ACC_EXEC, &level), MMU_FAULT_SPURIOUS);
		CHECK_EQ(fault(4, SPTE_ACC_WRITE, &level), MMU_FAULT_WRITE_PROTECTED);
		teardown();
	}
}

/* The eager split and collapse that write tracking relies on: disallow, split, allow, collapse. */
TEST(tdp_disallow_counts_drive_split_and_collapse)
{
	const struct pt_format *f;
	int level;

	for_each_format(f) {
		setup(f);
		struct memslot *s = fake_slot(0, 2 * GIG, FAKE_HPA, true, 0);
		CHECK_EQ(fault(GIG + 9, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(level, 3);
		CHECK_EQ(track_disallow_huge(s, GIG + 5 * M2 + 1), 0);
		split_range(GIG + 5 * M2 + 1, GIG + 5 * M2 + 2);
		check_translation(GIG + 5 * M2 + 1, 1);
		check_translation(GIG + 5 * M2 + 511, 1);
		check_translation(GIG + 4 * M2, 2);
		check_translation(GIG, 2);
		CHECK_EQ(fx.mmu.stats.splits, 2);
		track_allow_huge(s, GIG + 5 * M2 + 1);
		collapse_range(GIG + 5 * M2 + 1, GIG + 5 * M2 + 2);
		check_translation(GIG + 5 * M2 + 1, 3);
		CHECK_EQ(fx.mmu.stats.collapses, 1);
		teardown();
	}
}

/*
 * Hedron-style check: at every single SPTE write during splits (eager and from a fault) and collapses, every sampled
 * gfn of the region, walked from the root by the independent host walker, translates as before with the same
 * permissions; and a table is complete at the moment it is linked.
 */
static u64 hedron_perms;
static u64 hedron_events;
static u64 hedron_frozen; /* samples found behind a frozen entry */
static gfn_t hedron_samples[80];
static int hedron_nsamples;

static void hedron_hook(gfn_t gfn, u64 old, u64 new, int level)
{
	const struct pt_format *f = fx.mmu.fmt;
	u64 perm_mask = f->readable | f->writable | f->executable | f->nx | f->user | SPTE_MMU_WRITABLE;

	hedron_events++;
	/* The children of a split are reported before their table is linked: nothing reaches them yet. */
	if (!spte_is_present(old))
		return;
	if (spte_is_present(old) && spte_is_leaf(old, level) && spte_is_present(new) && !spte_is_leaf(new, level)) {
		const u64 *child = phys_to_virt(spte_pfn(new) << PAGE_SHIFT);
		for (unsigned int i = 0; i < PT_ENTRIES; i++) {
			CHECK(spte_is_present(child[i]) && spte_is_leaf(child[i], level - 1));
			CHECK_EQ(pt_leaf_hpa(child[i], level - 1),
				 pt_leaf_hpa(old, level) + i * pt_level_size(level - 1));
			CHECK_EQ(child[i] & perm_mask, old & perm_mask);
		}
	}
	for (int i = 0; i < hedron_nsamples; i++) {
		gfn_t g = hedron_samples[i];
		struct pt_iter it;
		bool frozen = false;
		int l;

		/* The hook runs while the entry it hears of is frozen (the frozen-SPTE protocol): a gfn behind that
		 * entry is in the third allowed state, neither translated nor a hole anyone may fill. */
		for_each_pt_entry(it, f, fx.vcpu.current->hpa, PT_LEVELS, g, g + 1) {
			if (spte_is_frozen(it.old_spte)) {
				frozen = true;
				break;
			}
		}
		if (frozen) {
			hedron_frozen++;
			continue;
		}
		u64 *e = pt_lookup(f, fx.vcpu.current->hpa, g << PAGE_SHIFT, &l);
		CHECK(e);
		CHECK_EQ(pt_translate(f, fx.vcpu.current->hpa, (g << PAGE_SHIFT) | 0xabc),
			 FAKE_HPA + (g << PAGE_SHIFT) + 0xabc);
		CHECK_EQ(*e & perm_mask, hedron_perms);
	}
}

TEST(tdp_split_and_collapse_show_only_old_or_new_translation)
{
	const struct pt_format *f;
	int level;

	for_each_format(f) {
		setup(f);
		fake_slot(0, 2 * GIG, FAKE_HPA, true, 0);
		CHECK_EQ(fault(7, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		int l;
		u64 huge = lookup(7, &l);
		CHECK_EQ(l, 3);
		hedron_perms = huge & (f->readable | f->writable | f->executable | f->nx | f->user | SPTE_MMU_WRITABLE);
		hedron_nsamples = 0;
		for (gfn_t g = 0; g < GIG; g += GIG / 64)
			hedron_samples[hedron_nsamples++] = g + (g / 7) % M2;
		hedron_samples[hedron_nsamples++] = 0;
		hedron_samples[hedron_nsamples++] = M2 - 1;
		hedron_samples[hedron_nsamples++] = M2;
		hedron_samples[hedron_nsamples++] = GIG - 1;
		hedron_events = 0;
		hedron_frozen = 0;
		fx.hook = hedron_hook;

		fx.mmu.tdp.max_huge_level = 1;
		split_range(0, GIG);
		/* Each split is one event for the table and one per child, reported as added leaves: the 1G leaf's,
		 * then each of its 512 2M leaves'. */
		CHECK_EQ(hedron_events, (1 + 512) + 512 * (1 + 512));
		fx.mmu.tdp.max_huge_level = 3;
		collapse_range(0, GIG);
		CHECK_EQ(fx.mmu.stats.collapses, 1);
		fx.mmu.tdp.max_huge_level = 1;
		u64 before = hedron_events;
		CHECK_EQ(fault(M2 + 5, SPTE_ACC_READ, &level), MMU_FAULT_SPURIOUS); /* splits 1G, then 2M, on the way */
		CHECK_EQ(hedron_events, before + 2 * (1 + 512));
		/* Every split and the collapse were seen frozen by the samples behind them. */
		CHECK(hedron_frozen >= 513 + 1 + 2);
		fx.hook = NULL;
		teardown();
	}
}

TEST(tdp_fault_out_of_memory_recovers)
{
	const struct pt_format *f;
	int level;

	for_each_format(f) {
		setup(f);
		fake_slot(0, 2 * GIG, FAKE_HPA, true, 0);
		fx.mmu.tdp.max_huge_level = 1;
		fake_mem_fail_after(1);
		int r = fault(12, SPTE_ACC_WRITE, &level);
		fake_mem_fail_after(~0ULL);
		CHECK_EQ(r, -ENOMEM);
		CHECK_EQ(lookup(12, &level), 0);
		CHECK_EQ(fault(12, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		check_translation(12, 1);
		/* An eager split without memory zaps the leaf instead: max_level holds either way. */
		fx.mmu.tdp.max_huge_level = 3;
		CHECK_EQ(fault(GIG + 1, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(level, 3);
		fx.mmu.tdp.max_huge_level = 2;
		fake_mem_fail_after(0);
		split_range(GIG, 2 * GIG);
		fake_mem_fail_after(~0ULL);
		CHECK_EQ(lookup(GIG + 1, &level), 0);
		CHECK_EQ(level, 3);
		CHECK_EQ(fault(GIG + 1, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(level, 2);
		teardown();
	}
}

TEST(tdp_fault_beyond_reach_is_mmio)
{
	const struct pt_format *f;
	int level;

	for_each_format(f) {
		setup(f);
		CHECK_EQ(fault(1ULL << (48 - PAGE_SHIFT), SPTE_ACC_READ, &level), MMU_FAULT_MMIO);
		CHECK_EQ(level, 0);
		CHECK_EQ(fx.mmu.stats.tables_allocated, 0);
		teardown();
	}
}

/* Guest RAM comes dirty and is cleared on first use: a fault clears the chunks its leaf covers (the 2M chunk of a 4K
 * leaf too) before the leaf exists, and nothing else. */
TEST(tdp_fault_clears_guest_ram_before_mapping_it)
{
	int level;

	setup(&pt_format_ept);
	fx.real_slots = true;
	CHECK_EQ(memslot_add(&fx.mmu.slots, 0, 4 * M2), 0);
	struct memslot *s = memslot_find(&fx.mmu.slots, 0);
	const u8 *c0 = phys_to_virt(s->chunks[0]), *c2 = phys_to_virt(s->chunks[2]);
	CHECK_EQ(c0[0], FAKE_DIRTY_BYTE);
	fx.mmu.tdp.max_huge_level = 1;
	CHECK_EQ(fault(5, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
	CHECK_EQ(level, 1);
	CHECK_EQ(s->chunk_state[0], CHUNK_CLEAN);
	for (u64 b = 0; b < (M2 << PAGE_SHIFT); b += 4093)
		CHECK_EQ(c0[b], 0);
	CHECK_EQ(s->chunk_state[1], CHUNK_DIRTY);
	fx.mmu.tdp.max_huge_level = 2;
	CHECK_EQ(fault(2 * M2 + 17, SPTE_ACC_READ, &level), MMU_FAULT_FIXED);
	CHECK_EQ(level, 2);
	CHECK_EQ(s->chunk_state[2], CHUNK_CLEAN);
	CHECK_EQ(c2[(M2 << PAGE_SHIFT) - 1], 0);
	CHECK_EQ(s->chunk_state[1], CHUNK_DIRTY);
	CHECK_EQ(s->chunk_state[3], CHUNK_DIRTY);
	teardown();
}

/* The APIC-access page (issue 15): the one gfn outside the memslots mapped to a frame, at 4K with every access, next
 * to MMIO SPTEs for its neighbours; refused over RAM and for a second gfn; freed with the MMU (teardown counts). */
TEST(tdp_apic_access_page_maps_one_4k_leaf)
{
	const struct pt_format *f;
	int level;
	gfn_t apic = 0xfee00;

	for_each_format(f) {
		setup(f);
		fake_slot(0, 2 * M2, FAKE_HPA, true, 0);
		CHECK_EQ(mmu_set_apic_access_page(&fx.mmu, 1), INVALID_HPA); /* RAM there */
		hpa_t hpa = mmu_set_apic_access_page(&fx.mmu, apic);
		CHECK(hpa != INVALID_HPA);
		CHECK_EQ(mmu_set_apic_access_page(&fx.mmu, apic), hpa); /* every vCPU asks; one frame */
		CHECK_EQ(mmu_set_apic_access_page(&fx.mmu, apic + 1), INVALID_HPA);
		CHECK_EQ(fault(apic, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		u64 spte = lookup(apic, &level);
		CHECK_EQ(level, 1);
		CHECK(spte_is_present(spte) && spte_is_leaf(spte, 1));
		CHECK_EQ(pt_leaf_hpa(spte, 1), hpa);
		CHECK(spte_allows(f, spte, SPTE_ACC_READ | SPTE_ACC_WRITE | SPTE_ACC_EXEC));
		CHECK_EQ(fault(apic, SPTE_ACC_EXEC, &level), MMU_FAULT_SPURIOUS);
		CHECK_EQ(fault(apic + 1, SPTE_ACC_READ, &level), MMU_FAULT_MMIO);
		CHECK_EQ(lookup(apic, &level), spte);
		teardown();
	}
}

/* The fault's RAM leaf from the bits worked out at tdp_mmu_init (tdp_ram_leaf_bits) is make_leaf_spte's, bit for bit,
 * in every format, at every level, for every writability, at addresses low and high (up to bit 50: bit 51 is NPT's
 * MMIO marker, which make_leaf_spte refuses). */
TEST(tdp_ram_leaf_bits_agree_with_make_leaf_spte)
{
	static const hpa_t hpas[] = {0, FAKE_HPA, 0x3ffc0000000ULL, 0x4000000000000ULL, 0x7ffffc0000000ULL};
	const struct pt_format *f;

	for_each_format(f) {
		setup(f);
		for (int level = 1; level <= 3; level++) {
			for (unsigned int i = 0; i < ARRAY_SIZE(hpas); i++) {
				for (int w = 0; w < 4; w++) {
					bool hw = w & 1, mw = w & 2;
					u64 full = make_leaf_spte(f, hpas[i], level, SPTE_ACC_ALL, hw, mw);

					CHECK_EQ(tdp_ram_leaf_bits(&fx.mmu, hpas[i], level, hw, mw), full);
				}
			}
		}
		/* And it is what a fault installs. */
		fake_slot(0, 2 * GIG, FAKE_HPA, true, 0);
		fake_slot(4 * GIG, 2 * M2, FAKE_HPA + (4 * GIG << PAGE_SHIFT), false, MEMSLOT_READONLY);
		int level;
		CHECK_EQ(fault(GIG + 3, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(level, 3);
		CHECK_EQ(lookup(GIG + 3, &level), make_leaf_spte(f, FAKE_HPA + (GIG << PAGE_SHIFT), 3, SPTE_ACC_ALL, true, true));
		CHECK_EQ(fault(4 * GIG + 3, SPTE_ACC_READ, &level), MMU_FAULT_FIXED);
		CHECK_EQ(level, 2);
		CHECK_EQ(lookup(4 * GIG + 3, &level),
			 make_leaf_spte(f, FAKE_HPA + (4 * GIG << PAGE_SHIFT), 2, SPTE_ACC_ALL, false, true));
		teardown();
	}
}
