/* Unit tests of the TDP MMU (mm/ept/), each run for EPT, EPT without A/D and NPT: faults at every level with the
 * SPTE bits read back, splits and collapses, zaps, MMIO SPTEs and their generations, roots and their invalidation,
 * write-protected gfns, isolation (no leaf ever maps memory outside its memslot), and the Hedron check that a split
 * or collapse never shows a walker anything but the old or the new translation. Every test ends by destroying the
 * MMU and proving that every table frame went back to the allocator.
 *
 * Most slots are made up: their chunks name host addresses far beyond the fake memory, which the MMU never touches
 * (it builds tables, it does not read guest memory), so 1 GiB-contiguous backing costs nothing. */
#include <stdlib.h>
#include <string.h>

#include "fake_platform.h"
#include "hv/errno.h"
#include "hv/platform.h"
#include "mm/ept/tdp_internal.h"
#include "mm/ept/tdp_mmu.h"
#include "mm/spte.h"
#include "mm/track/level.h"
#include "test.h"
#include "vm/memslot.h"

#define GIG (1ULL << 18) /* pages */
#define M2 512ULL        /* pages */
#define FAKE_HPA 0x40000000000ULL

static const struct pt_format *const formats[] = { &pt_format_ept, &pt_format_ept_noad, &pt_format_npt };
#define for_each_format(f) for (unsigned int fi_ = 0; fi_ < ARRAY_SIZE(formats) && ((f) = formats[fi_], 1); fi_++)

static struct {
	struct memslots slots;
	struct tdp_mmu mmu;
	struct tdp_vcpu_roots vcpu;
	int max_level;  /* what ops->max_level answers (lowered further by the disallow counts if use_track) */
	bool use_track;
	bool real_slots; /* slots from memslot_add, freed by memslots_destroy */
	gfn_t tracked[8];
	int ntracked;
	u64 flushes, root_requests;
	u64 base_frames;
	void (*hook)(gfn_t gfn, u64 old, u64 new, int level);
} fx;

static int t_max_level(void *owner, gfn_t gfn)
{
	int level = fx.max_level;
	struct memslot *s = fx.use_track ? memslot_find(&fx.slots, gfn) : NULL;

	if (s)
		level = MIN(level, track_max_level(s, gfn));
	return level;
}

static void t_flush(void *owner)
{
	CHECK(owner == &fx);
	fx.flushes++;
}

static void t_request_free_obsolete(void *owner)
{
	fx.root_requests++;
}

static bool t_write_tracked(void *owner, gfn_t gfn)
{
	for (int i = 0; i < fx.ntracked; i++) {
		if (fx.tracked[i] == gfn)
			return true;
	}
	return false;
}

static void t_spte_changed(void *owner, gfn_t gfn, u64 old, u64 new, int level)
{
	if (fx.hook)
		fx.hook(gfn, old, new, level);
}

static const struct tdp_mmu_ops t_ops = {
	.max_level = t_max_level,
	.flush_remote_tlbs = t_flush,
	.request_free_obsolete_roots = t_request_free_obsolete,
	.gfn_write_tracked = t_write_tracked,
	.spte_changed = t_spte_changed,
};

static union tdp_role role(int as_id)
{
	union tdp_role r = { .word = 0 };

	r.levels = 4;
	r.as_id = as_id;
	return r;
}

static void setup(const struct pt_format *fmt)
{
	memset(&fx, 0, sizeof(fx));
	fx.max_level = 3;
	fx.base_frames = fake_mem_frames_in_use();
	tdp_mmu_init(&fx.mmu, fmt, &fx.slots, &t_ops, &fx);
	CHECK_EQ(tdp_vcpu_load_root(&fx.mmu, &fx.vcpu, role(0)), 0);
}

/* A made-up slot: chunk i at hpa + i * 2M; 1G regions wholly inside marked contiguous if asked. */
static struct memslot *fake_slot(gfn_t base, u64 npages, hpa_t hpa, bool contig, u32 flags)
{
	struct memslots *ms = &fx.slots;
	u64 first = base / GIG, n1g = (base + npages - 1) / GIG - first + 1;
	u32 pos;

	CHECK(ms->n < MAX_MEMSLOTS);
	for (pos = ms->n; pos > 0 && ms->slots[pos - 1].base_gfn > base; pos--)
		ms->slots[pos] = ms->slots[pos - 1];
	struct memslot *s = &ms->slots[pos];
	memset(s, 0, sizeof(*s));
	s->base_gfn = base;
	s->npages = npages;
	s->flags = flags;
	s->id = ms->n;
	s->chunks = calloc(npages / M2, sizeof(hpa_t));
	s->contig_1g = calloc(n1g, 1);
	for (u64 i = 0; i < npages / M2; i++)
		s->chunks[i] = hpa + i * (M2 << PAGE_SHIFT);
	for (u64 g = 0; g < n1g && contig; g++) {
		gfn_t start = (first + g) * GIG;
		s->contig_1g[g] = start >= base && start + GIG <= base + npages;
	}
	ms->n++;
	ms->generation++;
	return s;
}

static void teardown(void)
{
	tdp_vcpu_put_roots(&fx.mmu, &fx.vcpu);
	tdp_mmu_destroy(&fx.mmu);
	CHECK(!fx.mmu.roots);
	CHECK_EQ(fx.mmu.stats.roots_allocated, fx.mmu.stats.roots_freed);
	CHECK_EQ(fx.mmu.stats.tables_allocated, fx.mmu.stats.tables_freed);
	if (fx.real_slots) {
		memslots_destroy(&fx.slots);
	} else {
		for (u32 i = 0; i < fx.slots.n; i++) {
			track_slot_free(&fx.slots.slots[i]);
			free(fx.slots.slots[i].chunks);
			free(fx.slots.slots[i].contig_1g);
		}
	}
	CHECK_EQ(fake_mem_frames_in_use(), fx.base_frames);
}

static int fault(gfn_t gfn, u32 access, int *level)
{
	int l = -1;
	int r = tdp_page_fault(&fx.mmu, fx.vcpu.current, (gfn << PAGE_SHIFT) | 0x123, access, &l);

	if (level)
		*level = l;
	return r;
}

static u64 lookup(gfn_t gfn, int *level)
{
	return tdp_lookup(&fx.mmu, fx.vcpu.current, gfn, level);
}

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
	struct tdp_iter iter;
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

/* gfn translates to FAKE_HPA + gfn (for slots made at FAKE_HPA from gfn 0) at `level`. */
static void check_translation(gfn_t gfn, int level)
{
	int l;
	u64 spte = lookup(gfn, &l);

	CHECK(spte_is_present(spte));
	CHECK_EQ(l, level);
	CHECK_EQ(pt_leaf_hpa(spte, l) + ((gfn & (pt_level_pages(l) - 1)) << PAGE_SHIFT),
		 FAKE_HPA + (gfn << PAGE_SHIFT));
}

TEST(tdp_map_4k_when_max_level_is_1)
{
	const struct pt_format *f;
	int level;

	for_each_format(f) {
		setup(f);
		fake_slot(0, 2 * GIG, FAKE_HPA, true, 0);
		fx.max_level = 1;
		CHECK_EQ(fault(0x1234, TDP_ACC_WRITE, &level), TDP_FAULT_FIXED);
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
		CHECK_EQ(fake_mem_frames_in_use(), fx.base_frames + 4);
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
		fx.max_level = 2;
		CHECK_EQ(fault(GIG + 3 * M2 + 7, TDP_ACC_READ, &level), TDP_FAULT_FIXED);
		CHECK_EQ(level, 2);
		check_leaf(lookup(GIG + 3 * M2 + 100, &level), 2, FAKE_HPA + ((GIG + 3 * M2) << PAGE_SHIFT), true,
			   true);
		CHECK_EQ(level, 2);
		check_path(GIG + 3 * M2);
		fx.max_level = 3;
		CHECK_EQ(fault(5, TDP_ACC_EXEC, &level), TDP_FAULT_FIXED);
		CHECK_EQ(level, 3);
		check_leaf(lookup(GIG - 1, &level), 3, FAKE_HPA, true, true);
		CHECK_EQ(level, 3);
		/* Not 1G-contiguous on the host: 2M at most. */
		CHECK_EQ(fault(4 * GIG + 9, TDP_ACC_WRITE, &level), TDP_FAULT_FIXED);
		CHECK_EQ(level, 2);
		check_translation(4 * GIG + 9, 2);
		CHECK_EQ(fx.mmu.stats.faults_mapped[2], 2);
		CHECK_EQ(fx.mmu.stats.faults_mapped[3], 1);
		teardown();

		/* A CPU without 1G TDP pages. */
		setup(f);
		tdp_mmu_set_max_level(&fx.mmu, 2);
		fake_slot(0, 2 * GIG, FAKE_HPA, true, 0);
		CHECK_EQ(fault(GIG + 1, TDP_ACC_WRITE, &level), TDP_FAULT_FIXED);
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
		CHECK_EQ(fault(M2 + 1, TDP_ACC_READ, &level), TDP_FAULT_FIXED);
		u64 spte = lookup(M2 + 1, &level);
		check_leaf(spte, 2, FAKE_HPA + (M2 << PAGE_SHIFT), true, true);
		u64 tables = fx.mmu.stats.tables_allocated;
		CHECK_EQ(fault(M2 + 1, TDP_ACC_WRITE, &level), TDP_FAULT_SPURIOUS);
		CHECK_EQ(level, 2);
		CHECK_EQ(fault(M2 + 2, TDP_ACC_EXEC, &level), TDP_FAULT_SPURIOUS);
		CHECK_EQ(fault(M2 + 3, TDP_ACC_READ | TDP_ACC_WRITE, &level), TDP_FAULT_SPURIOUS);
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
		CHECK_EQ(fault(100, TDP_ACC_WRITE, &level), TDP_FAULT_FIXED);
		CHECK_EQ(level, 3);
		fx.max_level = 2;
		tdp_split_huge_range(&fx.mmu, 0, 2 * GIG);
		CHECK_EQ(fx.mmu.stats.splits, 1);
		for (gfn_t g = 0; g < GIG; g += 4093)
			check_translation(g, 2);
		check_leaf(lookup(GIG - 1, &level), 2, FAKE_HPA + ((GIG - M2) << PAGE_SHIFT), true, true);
		fx.max_level = 1;
		tdp_split_huge_range(&fx.mmu, 0, 2 * GIG);
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
		CHECK_EQ(fault(GIG + 1, TDP_ACC_WRITE, &level), TDP_FAULT_FIXED);
		CHECK_EQ(level, 3);
		fx.max_level = 1; /* no eager split: the fault finds the 1G leaf on its way */
		CHECK_EQ(fault(GIG + 777, TDP_ACC_WRITE, &level), TDP_FAULT_SPURIOUS);
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
		CHECK_EQ(fault(3, TDP_ACC_WRITE, &level), TDP_FAULT_FIXED);
		fx.max_level = 1;
		tdp_split_huge_range(&fx.mmu, 0, GIG);
		check_translation(12345, 1);
		/* Allowed 2M again: every 4K table becomes a 2M leaf. */
		fx.max_level = 2;
		tdp_collapse_range(&fx.mmu, 0, GIG);
		CHECK_EQ(fx.mmu.stats.collapses, 512);
		CHECK_EQ(fx.mmu.stats.tables_freed, 512);
		for (gfn_t g = 0; g < GIG; g += 4093)
			check_translation(g, 2);
		u64 flushes = fx.flushes;
		CHECK(flushes >= 1); /* tables were unlinked */
		/* And 1G: the directory goes too. */
		fx.max_level = 3;
		tdp_collapse_range(&fx.mmu, 5, 6);
		CHECK_EQ(fx.mmu.stats.collapses, 513);
		check_leaf(lookup(GIG - 1, &level), 3, FAKE_HPA, true, true);
		CHECK_EQ(fx.mmu.stats.tables_freed, 513);
		CHECK_EQ(fake_mem_frames_in_use(), fx.base_frames + 2); /* the root and the 1G directory */
		CHECK(fx.flushes > flushes);
		/* Nothing collapses where the backing forbids it. */
		fake_slot(4 * GIG, GIG, FAKE_HPA + (4 * GIG << PAGE_SHIFT), false, 0);
		fx.max_level = 2;
		CHECK_EQ(fault(4 * GIG + 1, TDP_ACC_WRITE, &level), TDP_FAULT_FIXED);
		fx.max_level = 3;
		tdp_collapse_range(&fx.mmu, 4 * GIG, 5 * GIG);
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
		fx.max_level = 1;
		CHECK_EQ(fault(10, TDP_ACC_WRITE, &level), TDP_FAULT_FIXED);
		CHECK_EQ(fault(11, TDP_ACC_WRITE, &level), TDP_FAULT_FIXED);
		fx.max_level = 2;
		CHECK_EQ(fault(20, TDP_ACC_WRITE, &level), TDP_FAULT_FIXED);
		CHECK_EQ(level, 2);
		CHECK_EQ(fx.mmu.stats.collapses, 1);
		CHECK_EQ(fx.mmu.stats.tables_freed, 1);
		check_translation(10, 2);
		CHECK(fx.flushes >= 1);
		teardown();
	}
}

TEST(tdp_zap_range_removes_only_that_range_and_frees_tables)
{
	const struct pt_format *f;
	int level;

	for_each_format(f) {
		setup(f);
		fake_slot(0, 4 * M2, FAKE_HPA, true, 0);
		fx.max_level = 1;
		for (gfn_t g = 0; g < 2 * M2; g++)
			CHECK_EQ(fault(g, TDP_ACC_WRITE, &level), TDP_FAULT_FIXED);
		CHECK_EQ(fx.mmu.stats.tables_allocated, 4);
		tdp_zap_gfn_range(&fx.mmu, M2, 2 * M2);
		for (gfn_t g = 0; g < M2; g += 7)
			check_translation(g, 1);
		CHECK_EQ(lookup(M2, &level), 0);
		CHECK_EQ(level, 2); /* the directory entry went: its page table was freed */
		CHECK_EQ(lookup(2 * M2 - 1, &level), 0);
		CHECK_EQ(fx.mmu.stats.zapped_leaves, M2);
		CHECK_EQ(fx.mmu.stats.tables_freed, 1);
		CHECK_EQ(fx.flushes, 1);
		CHECK_EQ(fake_mem_frames_in_use(), fx.base_frames + 4);
		/* Part of a table: the leaves go, the table stays. */
		tdp_zap_gfn_range(&fx.mmu, 0, 100);
		CHECK_EQ(lookup(99, &level), 0);
		CHECK_EQ(level, 1);
		check_translation(100, 1);
		CHECK_EQ(fx.mmu.stats.zapped_leaves, M2 + 100);
		CHECK_EQ(fx.flushes, 2);
		/* Nothing there: no flush. */
		tdp_zap_gfn_range(&fx.mmu, 3 * M2, 4 * M2);
		CHECK_EQ(fx.flushes, 2);
		/* Zapped gfns fault in again. */
		CHECK_EQ(fault(50, TDP_ACC_WRITE, &level), TDP_FAULT_FIXED);
		check_translation(50, 1);
		teardown();
	}
}

TEST(tdp_zap_partial_huge_leaf_zaps_it_whole)
{
	const struct pt_format *f;
	int level;

	for_each_format(f) {
		setup(f);
		fake_slot(0, 4 * M2, FAKE_HPA, true, 0);
		CHECK_EQ(fault(600, TDP_ACC_WRITE, &level), TDP_FAULT_FIXED);
		CHECK_EQ(level, 2);
		CHECK_EQ(fault(1, TDP_ACC_WRITE, &level), TDP_FAULT_FIXED);
		tdp_zap_gfn_range(&fx.mmu, 700, 701);
		CHECK_EQ(lookup(512, &level), 0);
		CHECK_EQ(lookup(1023, &level), 0);
		check_translation(1, 2);
		CHECK_EQ(fx.mmu.stats.zapped_leaves, 1);
		CHECK_EQ(fault(700, TDP_ACC_READ, &level), TDP_FAULT_FIXED);
		check_translation(600, 2);
		teardown();
	}
}

TEST(tdp_long_zap_yields_the_lock_and_finishes)
{
	const struct pt_format *f;
	int level;

	for_each_format(f) {
		setup(f);
		fake_slot(0, 4 * M2, FAKE_HPA, true, 0);
		fx.max_level = 1;
		for (gfn_t g = 0; g < 4 * M2; g++)
			CHECK_EQ(fault(g, TDP_ACC_WRITE, &level), TDP_FAULT_FIXED);
		/* Zap leaf by leaf (a range that covers no table whole until the end). */
		tdp_zap_gfn_range(&fx.mmu, 1, 4 * M2);
		CHECK(fx.mmu.stats.yields >= 1);
		CHECK(!spin_is_held_by_me(&fx.mmu.lock));
		check_translation(0, 1);
		for (gfn_t g = 1; g < 4 * M2; g += 5)
			CHECK_EQ(lookup(g, &level), 0);
		CHECK_EQ(fx.mmu.stats.zapped_leaves, 4 * M2 - 1);
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
		CHECK_EQ(fault(x, TDP_ACC_WRITE, &level), TDP_FAULT_MMIO);
		u64 spte = lookup(x, &level);
		CHECK_EQ(level, 1);
		CHECK(spte_is_mmio(f, spte));
		CHECK(!spte_is_present(spte));
		CHECK(spte_mmio_gen_matches(spte, fx.slots.generation));
		if (is_npt())
			CHECK_EQ(spte & (PTE_P | BIT(51) | SPTE_MMU_PRESENT), PTE_P | BIT(51)); /* #NPF with RSVD */
		else
			CHECK_EQ(spte & 7, 2); /* W without R: EPT misconfiguration */
		CHECK_EQ(fx.mmu.stats.mmio_faults, 1);
		u64 tables = fx.mmu.stats.tables_allocated;
		CHECK_EQ(tables, 3);
		/* Again: answered by the SPTE, nothing changes. */
		CHECK_EQ(fault(x, TDP_ACC_READ, &level), TDP_FAULT_MMIO);
		CHECK_EQ(lookup(x, &level), spte);
		CHECK_EQ(fx.mmu.stats.mmio_faults, 2);
		CHECK_EQ(fx.mmu.stats.tables_allocated, tables);
		/* A memslot change makes it stale: treated as a hole, replaced by one of the new generation. */
		fx.slots.generation++;
		CHECK(!spte_mmio_gen_matches(spte, fx.slots.generation));
		CHECK_EQ(fault(x, TDP_ACC_READ, &level), TDP_FAULT_MMIO);
		u64 fresh = lookup(x, &level);
		CHECK(spte_is_mmio(f, fresh));
		CHECK(fresh != spte);
		CHECK(spte_mmio_gen_matches(fresh, fx.slots.generation));
		CHECK_EQ(fx.mmu.stats.mmio_faults, 3);
		CHECK_EQ(fx.flushes, 0); /* MMIO SPTEs are never cached: replacing them needs no flush */
		/* Now RAM there: a 2M leaf replaces the page table that held the stale MMIO SPTE. That does need a
		 * flush: a paging-structure cache may still point into the table, which is freed. */
		fake_slot(x & ~(M2 - 1), M2, FAKE_HPA + ((x & ~(M2 - 1)) << PAGE_SHIFT), true, 0);
		CHECK_EQ(fault(x, TDP_ACC_READ, &level), TDP_FAULT_FIXED);
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
		CHECK_EQ(fault(x, TDP_ACC_READ, &level), TDP_FAULT_MMIO);
		CHECK_EQ(fault(y, TDP_ACC_READ, &level), TDP_FAULT_MMIO);
		u64 old = lookup(x, &level);
		/* Seven changes, then RAM appears at x with the eighth: the low generation bits match again. */
		fx.slots.generation += SPTE_MMIO_GEN_SPAN - 1;
		fake_slot(x, M2, FAKE_HPA, true, 0);
		CHECK(spte_mmio_gen_matches(old, fx.slots.generation));
		CHECK_EQ(fault(x, TDP_ACC_READ, &level), TDP_FAULT_FIXED);
		CHECK_EQ(fx.mmu.stats.mmio_sweeps, 1);
		CHECK_EQ(lookup(y, &level), 0); /* swept */
		CHECK_EQ(fault(y, TDP_ACC_READ, &level), TDP_FAULT_MMIO);
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
	CHECK_EQ(fault(0x100000, TDP_ACC_READ, &level), TDP_FAULT_MMIO);
	CHECK_EQ(fault(0x100000, TDP_ACC_READ, &level), TDP_FAULT_MMIO);
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
		struct memslot *s = fake_slot(0, 4 * M2, FAKE_HPA, true, 0);
		fx.use_track = true;
		fx.tracked[fx.ntracked++] = 5;
		CHECK_EQ(track_disallow_huge(s, 5), 0);
		CHECK_EQ(fault(5, TDP_ACC_WRITE, &level), TDP_FAULT_WRITE_PROTECTED);
		CHECK_EQ(level, 1);
		u64 spte = lookup(5, &level);
		check_leaf(spte, 1, FAKE_HPA + 5 * PAGE_SIZE, false, true); /* host-writable, not MMU-writable */
		CHECK_EQ(fx.mmu.stats.write_protected_faults, 1);
		CHECK_EQ(fx.mmu.stats.faults_mapped[1], 1);
		/* Reads and execution go through; writes keep being refused, without changes. */
		CHECK_EQ(fault(5, TDP_ACC_READ, &level), TDP_FAULT_SPURIOUS);
		CHECK_EQ(fault(5, TDP_ACC_EXEC, &level), TDP_FAULT_SPURIOUS);
		CHECK_EQ(fault(5, TDP_ACC_WRITE, &level), TDP_FAULT_WRITE_PROTECTED);
		CHECK_EQ(lookup(5, &level), spte);
		CHECK_EQ(fx.mmu.stats.write_protected_faults, 2);
		CHECK_EQ(fx.mmu.stats.faults_mapped[1], 1);
		/* Its neighbours: 4K in the same 2M region, 2M in the next. */
		CHECK_EQ(fault(6, TDP_ACC_WRITE, &level), TDP_FAULT_FIXED);
		CHECK_EQ(level, 1);
		check_leaf(lookup(6, &level), 1, FAKE_HPA + 6 * PAGE_SIZE, true, true);
		CHECK_EQ(fault(M2 + 3, TDP_ACC_WRITE, &level), TDP_FAULT_FIXED);
		CHECK_EQ(level, 2);
		/* Tracking ends: the write goes through (here as a 2M leaf, the region being allowed again). */
		fx.ntracked = 0;
		track_allow_huge(s, 5);
		CHECK_EQ(fault(5, TDP_ACC_WRITE, &level), TDP_FAULT_FIXED);
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
		CHECK_EQ(fault(3, TDP_ACC_WRITE, &level), TDP_FAULT_WRITE_PROTECTED);
		CHECK_EQ(level, 2);
		check_leaf(lookup(3, &level), 2, FAKE_HPA, false, false);
		CHECK_EQ(fault(4, TDP_ACC_READ | TDP_ACC_EXEC, &level), TDP_FAULT_SPURIOUS);
		CHECK_EQ(fault(4, TDP_ACC_WRITE, &level), TDP_FAULT_WRITE_PROTECTED);
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
		fx.use_track = true;
		CHECK_EQ(fault(GIG + 9, TDP_ACC_WRITE, &level), TDP_FAULT_FIXED);
		CHECK_EQ(level, 3);
		CHECK_EQ(track_disallow_huge(s, GIG + 5 * M2 + 1), 0);
		tdp_split_huge_range(&fx.mmu, GIG + 5 * M2 + 1, GIG + 5 * M2 + 2);
		check_translation(GIG + 5 * M2 + 1, 1);
		check_translation(GIG + 5 * M2 + 511, 1);
		check_translation(GIG + 4 * M2, 2);
		check_translation(GIG, 2);
		CHECK_EQ(fx.mmu.stats.splits, 2);
		track_allow_huge(s, GIG + 5 * M2 + 1);
		tdp_collapse_range(&fx.mmu, GIG + 5 * M2 + 1, GIG + 5 * M2 + 2);
		check_translation(GIG + 5 * M2 + 1, 3);
		CHECK_EQ(fx.mmu.stats.collapses, 1);
		teardown();
	}
}

/*
 * Roots: vCPU A holds a current root of role Y and a cached one of role X, which vCPU B shares as its current one.
 * After an invalidation each vCPU drops only the obsolete roots it holds; a root goes with its last reference; roots
 * built afterwards are valid; a still-valid cached root survives everything that is not an invalidation.
 */
TEST(tdp_root_invalidation_and_refcounts)
{
	const struct pt_format *f;
	struct tdp_vcpu_roots b = { 0 };
	int level;

	for_each_format(f) {
		setup(f); /* fx.vcpu is vCPU A: current RX0 of role 0 */
		struct tdp_vcpu_roots *a = &fx.vcpu;
		fake_slot(0, 4 * M2, FAKE_HPA, true, 0);
		struct tdp_root *rx0 = a->current;
		CHECK_EQ(fault(1, TDP_ACC_WRITE, &level), TDP_FAULT_FIXED);
		CHECK_EQ(tdp_vcpu_load_root(&fx.mmu, a, role(1)), 0);
		struct tdp_root *ry0 = a->current;
		CHECK(ry0 != rx0);
		CHECK(a->cached[0] == rx0);
		CHECK_EQ(fault(M2 + 1, TDP_ACC_WRITE, &level), TDP_FAULT_FIXED);
		CHECK_EQ(tdp_vcpu_load_root(&fx.mmu, &b, role(0)), 0);
		CHECK(b.current == rx0); /* found on the MMU's list */
		CHECK_EQ(rx0->refcount, 2);
		CHECK_EQ(fx.mmu.stats.roots_allocated, 2);
		/* Loading the current role again is a no-op. */
		CHECK_EQ(tdp_vcpu_load_root(&fx.mmu, &b, role(0)), 0);
		CHECK_EQ(rx0->refcount, 2);

		tdp_invalidate_all_roots(&fx.mmu);
		CHECK_EQ(fx.root_requests, 1);
		CHECK(tdp_root_is_obsolete(&fx.mmu, rx0) && tdp_root_is_obsolete(&fx.mmu, ry0));
		CHECK_EQ(fx.mmu.stats.roots_freed, 0); /* both still held */
		CHECK_EQ(fault(2, TDP_ACC_WRITE, &level), TDP_FAULT_RETRY);

		/* B drops its current RX0; A's cache still holds it. */
		CHECK(tdp_vcpu_free_obsolete_roots(&fx.mmu, &b));
		CHECK(!b.current);
		CHECK_EQ(rx0->refcount, 1);
		CHECK_EQ(fx.mmu.stats.roots_freed, 0);
		CHECK_EQ(tdp_vcpu_load_root(&fx.mmu, &b, role(0)), 0);
		struct tdp_root *rx1 = b.current;
		CHECK(!tdp_root_is_obsolete(&fx.mmu, rx1));
		CHECK_EQ(fx.mmu.stats.roots_allocated, 3);

		/* A moves to role 0: its obsolete current RY0 goes at once, RX1 is shared, obsolete RX0 isn't taken. */
		CHECK_EQ(tdp_vcpu_load_root(&fx.mmu, a, role(0)), 0);
		CHECK(a->current == rx1);
		CHECK_EQ(rx1->refcount, 2);
		CHECK_EQ(fx.mmu.stats.roots_freed, 1);
		CHECK(a->cached[0] == rx0);
		CHECK(!tdp_vcpu_free_obsolete_roots(&fx.mmu, a));
		CHECK(!a->cached[0]);
		CHECK_EQ(fx.mmu.stats.roots_freed, 2); /* RX0's last reference */

		/* A valid cached root stays through everything but an invalidation. */
		CHECK_EQ(tdp_vcpu_load_root(&fx.mmu, a, role(1)), 0);
		struct tdp_root *ry1 = a->current;
		CHECK(a->cached[0] == rx1);
		CHECK_EQ(fault(M2 + 2, TDP_ACC_WRITE, &level), TDP_FAULT_FIXED);
		tdp_zap_gfn_range(&fx.mmu, 0, 4 * M2);
		CHECK(!tdp_vcpu_free_obsolete_roots(&fx.mmu, a));
		CHECK(a->current == ry1 && a->cached[0] == rx1);
		CHECK_EQ(rx1->refcount, 2);
		CHECK_EQ(fx.mmu.stats.roots_freed, 2);

		/* A valid root nobody holds stays on the list and is reused. */
		tdp_vcpu_put_roots(&fx.mmu, &b);
		tdp_vcpu_put_roots(&fx.mmu, a);
		CHECK_EQ(fx.mmu.stats.roots_freed, 2);
		CHECK_EQ(tdp_vcpu_load_root(&fx.mmu, a, role(0)), 0);
		CHECK(a->current == rx1);
		CHECK_EQ(fx.mmu.stats.roots_allocated, 4);
		/* ... until an invalidation, which frees the unheld one (RY1) at once. */
		tdp_invalidate_all_roots(&fx.mmu);
		CHECK_EQ(fx.mmu.stats.roots_freed, 3);
		CHECK(tdp_vcpu_free_obsolete_roots(&fx.mmu, a));
		CHECK_EQ(fx.mmu.stats.roots_freed, 4);
		CHECK_EQ(tdp_vcpu_load_root(&fx.mmu, a, role(0)), 0);
		CHECK_EQ(fault(3, TDP_ACC_WRITE, &level), TDP_FAULT_FIXED);
		teardown(); /* every table and root freed exactly once (a double free aborts the fake allocator) */
	}
}

TEST(tdp_load_root_takes_cached_root_back)
{
	const struct pt_format *f;

	for_each_format(f) {
		setup(f);
		struct tdp_root *r0 = fx.vcpu.current;
		CHECK_EQ(tdp_vcpu_load_root(&fx.mmu, &fx.vcpu, role(1)), 0);
		struct tdp_root *r1 = fx.vcpu.current;
		CHECK_EQ(tdp_vcpu_load_root(&fx.mmu, &fx.vcpu, role(0)), 0);
		CHECK(fx.vcpu.current == r0);
		CHECK(fx.vcpu.cached[0] == r1 && !fx.vcpu.cached[1]);
		CHECK_EQ(r0->refcount, 1);
		CHECK_EQ(r1->refcount, 1);
		CHECK_EQ(fx.mmu.stats.roots_allocated, 2);
		union tdp_role bad = role(0);
		bad.levels = 5;
		CHECK_EQ(tdp_vcpu_load_root(&fx.mmu, &fx.vcpu, bad), -EINVAL);
		fake_mem_fail_after(0);
		int r = tdp_vcpu_load_root(&fx.mmu, &fx.vcpu, (union tdp_role){ .word = role(1).word | (1u << 4) });
		fake_mem_fail_after(~0ULL);
		CHECK_EQ(r, -ENOMEM);
		CHECK(fx.vcpu.current == r0); /* unchanged */
		teardown();
	}
}

/* Isolation: fault in every gfn of a slot, then walk the whole tree; every leaf maps exactly its slot's memory, and
 * nothing else: not a table of the tree, not another slot, not another VM's memory. */
static void isolation_run(int max_level)
{
	struct memslots other = { 0 };
	struct tdp_iter iter;
	hpa_t tables[256];
	int ntables = 0, level;
	u64 leaves = 0, mapped = 0;

	fx.real_slots = true;
	CHECK_EQ(memslot_add(&fx.slots, 0, 4 * M2), 0);
	CHECK_EQ(memslot_add(&fx.slots, 16 * M2, 2 * M2), 0);
	CHECK_EQ(memslot_add(&other, 0, 4 * M2), 0);
	struct memslot *a = memslot_find(&fx.slots, 0), *b = memslot_find(&fx.slots, 16 * M2);
	fx.max_level = max_level;
	for (gfn_t g = 0; g < a->npages; g++) {
		int r = fault(g, TDP_ACC_WRITE, &level);
		CHECK(r == TDP_FAULT_FIXED || r == TDP_FAULT_SPURIOUS);
	}
	tables[ntables++] = fx.vcpu.current->hpa;
	for_each_tdp_pte(iter, &fx.mmu, fx.vcpu.current, 0, PT_MAX_PFN) {
		if (spte_is_present(iter.old_spte) && !spte_is_leaf(iter.old_spte, iter.level)) {
			CHECK(ntables < 256);
			tables[ntables++] = spte_pfn(iter.old_spte) << PAGE_SHIFT;
		}
	}
	for_each_tdp_pte(iter, &fx.mmu, fx.vcpu.current, 0, PT_MAX_PFN) {
		if (!spte_is_present(iter.old_spte) || !spte_is_leaf(iter.old_spte, iter.level))
			continue;
		u64 size = pt_level_size(iter.level);
		hpa_t lo = pt_leaf_hpa(iter.old_spte, iter.level), hi = lo + size;
		leaves++;
		mapped += size >> PAGE_SHIFT;
		/* Inside slot a, and exactly its translation, within one chunk. */
		CHECK(iter.gfn >= a->base_gfn && iter.gfn + pt_level_pages(iter.level) <= a->base_gfn + a->npages);
		CHECK_EQ(lo, memslot_gfn_to_hpa(a, iter.gfn));
		hpa_t chunk = a->chunks[(iter.gfn - a->base_gfn) >> MEMSLOT_CHUNK_SHIFT];
		CHECK(lo >= chunk && hi <= chunk + (MEMSLOT_CHUNK_PAGES << PAGE_SHIFT));
		for (int t = 0; t < ntables; t++)
			CHECK(tables[t] + PAGE_SIZE <= lo || tables[t] >= hi);
		for (u64 c = 0; c < b->npages / M2; c++)
			CHECK(b->chunks[c] + (M2 << PAGE_SHIFT) <= lo || b->chunks[c] >= hi);
		for (u64 c = 0; c < other.slots[0].npages / M2; c++)
			CHECK(other.slots[0].chunks[c] + (M2 << PAGE_SHIFT) <= lo || other.slots[0].chunks[c] >= hi);
	}
	CHECK_EQ(mapped, a->npages);
	CHECK_EQ(leaves, max_level == 1 ? a->npages : a->npages / M2);
	memslots_destroy(&other);
}

TEST(tdp_isolation_every_leaf_inside_its_slot)
{
	const struct pt_format *f;

	for_each_format(f) {
		for (int max_level = 1; max_level <= 2; max_level++) {
			setup(f);
			isolation_run(max_level);
			teardown();
		}
	}
}

/*
 * Hedron-style check: at every single SPTE write during splits (eager and from a fault) and collapses, every sampled
 * gfn of the region, walked from the root by the independent host walker, translates as before with the same
 * permissions; and a table is complete at the moment it is linked.
 */
static u64 hedron_perms;
static u64 hedron_events;
static gfn_t hedron_samples[80];
static int hedron_nsamples;

static void hedron_hook(gfn_t gfn, u64 old, u64 new, int level)
{
	const struct pt_format *f = fx.mmu.fmt;
	u64 perm_mask = f->readable | f->writable | f->executable | f->nx | f->user | SPTE_MMU_WRITABLE;

	hedron_events++;
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
		int l;
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
		CHECK_EQ(fault(7, TDP_ACC_WRITE, &level), TDP_FAULT_FIXED);
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
		fx.hook = hedron_hook;

		fx.max_level = 1;
		tdp_split_huge_range(&fx.mmu, 0, GIG);
		CHECK_EQ(hedron_events, 1 + 512);
		fx.max_level = 3;
		tdp_collapse_range(&fx.mmu, 0, GIG);
		CHECK_EQ(fx.mmu.stats.collapses, 1);
		fx.max_level = 1;
		u64 before = hedron_events;
		CHECK_EQ(fault(M2 + 5, TDP_ACC_READ, &level), TDP_FAULT_SPURIOUS); /* splits 1G, then 2M, on the way */
		CHECK_EQ(hedron_events, before + 2);
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
		fx.max_level = 1;
		fake_mem_fail_after(1);
		int r = fault(12, TDP_ACC_WRITE, &level);
		fake_mem_fail_after(~0ULL);
		CHECK_EQ(r, -ENOMEM);
		CHECK_EQ(lookup(12, &level), 0);
		CHECK_EQ(fault(12, TDP_ACC_WRITE, &level), TDP_FAULT_FIXED);
		check_translation(12, 1);
		/* An eager split without memory zaps the leaf instead: max_level holds either way. */
		fx.max_level = 3;
		CHECK_EQ(fault(GIG + 1, TDP_ACC_WRITE, &level), TDP_FAULT_FIXED);
		CHECK_EQ(level, 3);
		fx.max_level = 2;
		fake_mem_fail_after(0);
		tdp_split_huge_range(&fx.mmu, GIG, 2 * GIG);
		fake_mem_fail_after(~0ULL);
		CHECK_EQ(lookup(GIG + 1, &level), 0);
		CHECK_EQ(level, 3);
		CHECK_EQ(fault(GIG + 1, TDP_ACC_WRITE, &level), TDP_FAULT_FIXED);
		CHECK_EQ(level, 2);
		teardown();
	}
}

TEST(tdp_set_spte_atomic_loses_to_a_concurrent_change)
{
	const struct pt_format *f;
	struct tdp_iter iter;
	int level;

	for_each_format(f) {
		setup(f);
		fake_slot(0, 2 * M2, FAKE_HPA, true, 0);
		fx.max_level = 1;
		CHECK_EQ(fault(9, TDP_ACC_WRITE, &level), TDP_FAULT_FIXED);
		spin_lock(&fx.mmu.lock);
		for_each_tdp_pte(iter, &fx.mmu, fx.vcpu.current, 9, 10) {
			if (iter.level > 1)
				continue;
			u64 seen = iter.old_spte, now = seen & ~(f->writable | f->dirty);
			*iter.sptep = now; /* someone else (a lockless walker) write-protected it meanwhile */
			CHECK_EQ(__tdp_mmu_set_spte_atomic(&fx.mmu, &iter, 0), -EBUSY);
			CHECK_EQ(iter.old_spte, now);
			CHECK_EQ(*iter.sptep, now);
			CHECK_EQ(fx.mmu.stats.zapped_leaves, 0);
			CHECK_EQ(__tdp_mmu_set_spte_atomic(&fx.mmu, &iter, 0), 0);
			CHECK_EQ(*iter.sptep, 0);
			CHECK_EQ(fx.mmu.stats.zapped_leaves, 1);
		}
		CHECK(fx.mmu.flush_pending);
		__tdp_flush_and_free(&fx.mmu);
		spin_unlock(&fx.mmu.lock);
		CHECK_EQ(fx.flushes, 1);
		teardown();
	}
}

TEST(tdp_eptp_encoding)
{
	setup(&pt_format_ept);
	CHECK_EQ(tdp_eptp(&fx.mmu, fx.vcpu.current), fx.vcpu.current->hpa | 6 | (3 << 3) | BIT(6));
	teardown();
	setup(&pt_format_ept_noad);
	CHECK_EQ(tdp_eptp(&fx.mmu, fx.vcpu.current), fx.vcpu.current->hpa | 6 | (3 << 3));
	teardown();
}

TEST(tdp_fault_beyond_reach_is_mmio)
{
	const struct pt_format *f;
	int level;

	for_each_format(f) {
		setup(f);
		CHECK_EQ(tdp_page_fault(&fx.mmu, fx.vcpu.current, 1ULL << 48, TDP_ACC_READ, &level), TDP_FAULT_MMIO);
		CHECK_EQ(level, 0);
		CHECK_EQ(fx.mmu.stats.tables_allocated, 0);
		teardown();
	}
}
