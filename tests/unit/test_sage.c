/* The shadow MMU's aging walk (mm/shadow/sage.c) through mmu_age_gfn_range / mmu_test_age_gfn_range, on the shadow
 * fixture: young and old leaves, gfns no leaf maps, every mapping of one gfn (one root or several, a chain of rmap
 * descriptors, obsolete roots, PAE-format tables), and dirty state, which aging never clears and which the shadow
 * engine's change hook harvests into the memslot's dirty log when a dirty leaf is zapped or write-protected.
 * Each check reads the SPTEs, the rmaps, the dirty log or the MMU's counters back. */
#include "shadow_fixture.h"

#define GVA_A	 0x10000000ULL	   /* in PML4 slot 0, PDPT entry 0 */
#define GVA_B	 0x40000000ULL	   /* another directory */
#define GVA_C	 0x7f8000000000ULL /* another PML4 slot */
#define DATA	 (SX_DATA + 0x5000)
#define DATA_GFN (DATA >> PAGE_SHIFT)
#define RAM_GFNS SX_RAM_PAGES

static u64 *leaf_ptr(gva_t gva)
{
	int level;
	u64 *p = sx_spte(sx.vcpu.current, gva, &level);

	CHECK_EQ(level, 1);
	return p;
}

static u64 aged(void)
{
	return sx.mmu.stats.aged_leaves;
}

/* The hardware's access through a leaf: A (and D on a write) set atomically. */
static void touch(gva_t gva, bool write)
{
	__atomic_fetch_or(leaf_ptr(gva), PTE_A | (write ? PTE_D : 0), __ATOMIC_SEQ_CST);
}

static bool logged(gfn_t gfn)
{
	struct memslot *s = memslot_find(&sx.mmu.slots, gfn);
	u64 i = gfn - s->base_gfn;

	CHECK(s && s->dirty_log);
	return (s->dirty_log[i / 64] >> (i % 64)) & 1;
}

static u32 rmap_entries(gfn_t gfn)
{
	struct memslot *s = memslot_find(&sx.mmu.slots, gfn);

	return rmap_count(rmap_get(rmap_head(s, gfn, 1)));
}

/* Map gva to gpa (4K, present, writable, user, A and D already set by the guest) and fault it in. */
static void map_and_fault(gva_t gva, gpa_t gpa, u64 flags, bool write)
{
	sx_map(sx.p.cr3, gva, gpa, 1, G_ALL, flags);
	CHECK_EQ(sx_fault(gva, write ? PFERR_WRITE : 0, NULL), MMU_FAULT_FIXED);
}

/* A shadow MMU with one leaf: GVA_A mapped to DATA by a guest PTE with these flags, faulted in by a read or a write. */
static void setup_one_leaf(u64 flags, bool write)
{
	sx_setup(64);
	CHECK_EQ(sx_load(), 0);
	map_and_fault(GVA_A, DATA, flags, write);
}

TEST(a_young_leaf_is_reported_then_aged_and_an_old_one_is_not)
{
	setup_one_leaf(G_ALL | G_A | G_D, false);
	u64 before = sx_leaf(GVA_A);

	CHECK(spte_is_present(before) && (before & PTE_A)); /* a fresh leaf starts young (make_leaf_spte) */
	CHECK(mmu_test_age_gfn_range(&sx.mmu, DATA_GFN, DATA_GFN + 1));
	CHECK_EQ(sx_leaf(GVA_A), before); /* test_age changes nothing */
	CHECK_EQ(aged(), 0);

	CHECK(mmu_age_gfn_range(&sx.mmu, DATA_GFN, DATA_GFN + 1));
	CHECK_EQ(sx_leaf(GVA_A), before & ~PTE_A); /* A alone cleared: the rest, W and D too, kept */
	CHECK_EQ(aged(), 1);

	CHECK(!mmu_test_age_gfn_range(&sx.mmu, DATA_GFN, DATA_GFN + 1));
	CHECK(!mmu_age_gfn_range(&sx.mmu, DATA_GFN, DATA_GFN + 1));
	CHECK_EQ(sx_leaf(GVA_A), before & ~PTE_A);
	CHECK_EQ(aged(), 1);

	/* The next access through the leaf makes it young again; ranges that miss the gfn do not see it. */
	touch(GVA_A, false);
	CHECK(!mmu_age_gfn_range(&sx.mmu, 0, DATA_GFN));
	CHECK(!mmu_age_gfn_range(&sx.mmu, DATA_GFN + 1, RAM_GFNS));
	CHECK(!mmu_test_age_gfn_range(&sx.mmu, DATA_GFN + 1, ~0ULL));
	CHECK_EQ(sx_leaf(GVA_A), before);
	CHECK(mmu_test_age_gfn_range(&sx.mmu, 0, ~0ULL));
	CHECK(mmu_age_gfn_range(&sx.mmu, 0, RAM_GFNS));
	CHECK_EQ(sx_leaf(GVA_A), before & ~PTE_A);
	CHECK_EQ(aged(), 2);
	/* The leaf still translates, and the rmap still holds it: aging zaps nothing. */
	CHECK_EQ(rmap_entries(DATA_GFN), 1);
	sx_check();
	sx_teardown();
}

TEST(nothing_mapped_is_never_young)
{
	sx_setup(64);
	/* No shadow leaf yet: the slot has no rmap heads at all. */
	CHECK(!rmap_slot_heads_lockless(&sx.mmu.slots.slots[0], 1));
	CHECK(!mmu_test_age_gfn_range(&sx.mmu, 0, ~0ULL));
	CHECK(!mmu_age_gfn_range(&sx.mmu, 0, ~0ULL));

	CHECK_EQ(sx_load(), 0);
	map_and_fault(GVA_A, DATA, G_ALL | G_A | G_D, false);
	/* Empty ranges, ranges outside every slot, and RAM no leaf maps. */
	CHECK(!mmu_age_gfn_range(&sx.mmu, DATA_GFN, DATA_GFN));
	CHECK(!mmu_age_gfn_range(&sx.mmu, DATA_GFN + 1, DATA_GFN));
	CHECK(!mmu_test_age_gfn_range(&sx.mmu, RAM_GFNS, RAM_GFNS + 1000));
	CHECK(!mmu_age_gfn_range(&sx.mmu, SX_MMIO >> PAGE_SHIFT, (SX_MMIO >> PAGE_SHIFT) + 1));
	CHECK(!mmu_age_gfn_range(&sx.mmu, DATA_GFN + 1, DATA_GFN + 512));
	/* An MMIO SPTE is no leaf of RAM. */
	sx_map(sx.p.cr3, GVA_B, SX_MMIO, 1, G_ALL, G_ALL | G_A | G_D);
	CHECK_EQ(sx_fault(GVA_B, 0, NULL), MMU_FAULT_MMIO);
	CHECK(!mmu_test_age_gfn_range(&sx.mmu, SX_MMIO >> PAGE_SHIFT, (SX_MMIO >> PAGE_SHIFT) + 1));
	CHECK_EQ(aged(), 0);

	/* The guest unmaps the page: its shadow leaf goes with the PTE write, and the gfn is old for good. */
	sx_write(sx_gpte_gpa(sx.p.cr3, GVA_A, 1), 0);
	CHECK_EQ(sx_leaf(GVA_A), 0);
	CHECK_EQ(rmap_entries(DATA_GFN), 0);
	CHECK(!mmu_test_age_gfn_range(&sx.mmu, 0, ~0ULL));
	CHECK(!mmu_age_gfn_range(&sx.mmu, 0, ~0ULL));
	CHECK_EQ(aged(), 0);
	sx_check();
	sx_teardown();
}

/* Several guest-virtual pages, in different tables, of one address space and of another, map one gfn: its rmap holds
 * a leaf for each, and aging answers for all of them, clearing A in each young one and only there. */
TEST(every_mapping_of_a_gfn_is_seen_and_aged)
{
	const gva_t gvas[] = {GVA_A, GVA_B, GVA_C};
	u64 cr3_1, cr3_2;

	sx_setup(64);
	cr3_1 = sx.p.cr3;
	CHECK_EQ(sx_load(), 0);
	for (unsigned int i = 0; i < 3; i++)
		map_and_fault(gvas[i], DATA, G_ALL | G_A | G_D, false);
	/* A second address space, whose root the vCPU loads: the first stays cached, its leaves in the rmap. */
	cr3_2 = sx_new_table();
	sx_long_mode(cr3_2);
	CHECK_EQ(sx_load(), 0);
	map_and_fault(GVA_A, DATA, G_ALL | G_A | G_D, false);
	u64 *second = leaf_ptr(GVA_A);
	CHECK_EQ(rmap_entries(DATA_GFN), 4);
	sx_long_mode(cr3_1);
	CHECK_EQ(sx_load(), 0);
	u64 *first[3];
	for (unsigned int i = 0; i < 3; i++)
		first[i] = leaf_ptr(gvas[i]);

	/* All four young: one age clears all four. */
	CHECK(mmu_age_gfn_range(&sx.mmu, DATA_GFN, DATA_GFN + 1));
	CHECK_EQ(aged(), 4);
	for (unsigned int i = 0; i < 3; i++)
		CHECK(!(*first[i] & PTE_A));
	CHECK(!(*second & PTE_A));
	CHECK(!mmu_test_age_gfn_range(&sx.mmu, DATA_GFN, DATA_GFN + 1));

	/* One access, through the other address space's root only: the gfn is young, and only that leaf is aged. */
	__atomic_fetch_or(second, PTE_A, __ATOMIC_SEQ_CST);
	CHECK(mmu_test_age_gfn_range(&sx.mmu, DATA_GFN, DATA_GFN + 1));
	CHECK(mmu_age_gfn_range(&sx.mmu, DATA_GFN, DATA_GFN + 1));
	CHECK_EQ(aged(), 5);
	CHECK(!(*second & PTE_A));

	/* Two of the first root's: both aged, nothing else counted. */
	touch(GVA_B, false);
	touch(GVA_C, false);
	CHECK(mmu_age_gfn_range(&sx.mmu, 0, RAM_GFNS));
	CHECK_EQ(aged(), 7);
	for (unsigned int i = 0; i < 3; i++)
		CHECK(!(*first[i] & PTE_A));
	CHECK_EQ(rmap_entries(DATA_GFN), 4);
	sx_check();
	sx_teardown();
}

/* Enough mappings of one gfn for a chain of rmap descriptors (RMAP_DESC_ENTRIES each): the walk visits every one. */
TEST(a_chain_of_rmap_descriptors_is_walked_whole)
{
	const unsigned int n = 2 * RMAP_DESC_ENTRIES + 3;

	sx_setup(64);
	CHECK_EQ(sx_load(), 0);
	for (unsigned int i = 0; i < n; i++)
		map_and_fault(GVA_A + i * PAGE_SIZE, DATA, G_ALL | G_A | G_D, false);
	CHECK_EQ(rmap_entries(DATA_GFN), n);
	CHECK(mmu_age_gfn_range(&sx.mmu, DATA_GFN, DATA_GFN + 1));
	CHECK_EQ(aged(), n);
	for (unsigned int i = 0; i < n; i++)
		CHECK(!(sx_leaf(GVA_A + i * PAGE_SIZE) & PTE_A));
	/* The oldest mapping (the last descriptor's) and the newest (the first's), touched: both found. */
	touch(GVA_A, false);
	touch(GVA_A + (n - 1) * PAGE_SIZE, false);
	CHECK(mmu_test_age_gfn_range(&sx.mmu, DATA_GFN, DATA_GFN + 1));
	CHECK(mmu_age_gfn_range(&sx.mmu, DATA_GFN, DATA_GFN + 1));
	CHECK_EQ(aged(), n + 2);
	CHECK(!mmu_test_age_gfn_range(&sx.mmu, DATA_GFN, DATA_GFN + 1));
	sx_check();
	sx_teardown();
}

/* A root made obsolete stays in use by its vCPU until the vCPU drops it: its leaves still count, and are aged. */
TEST(leaves_of_an_obsolete_root_are_aged_until_the_root_goes)
{
	setup_one_leaf(G_ALL | G_A | G_D, false);
	mmu_invalidate_all_roots(&sx.mmu);
	CHECK(mmu_root_is_obsolete(&sx.mmu, sx.vcpu.current));
	CHECK(mmu_age_gfn_range(&sx.mmu, DATA_GFN, DATA_GFN + 1));
	CHECK_EQ(aged(), 1);
	CHECK(spte_is_present(sx_leaf(GVA_A)) && !(sx_leaf(GVA_A) & PTE_A));
	sx_reload(); /* the vCPU drops the obsolete root: its leaves go through the hook and leave the rmap */
	CHECK_EQ(rmap_entries(DATA_GFN), 0);
	CHECK(!mmu_test_age_gfn_range(&sx.mmu, 0, ~0ULL));
	sx_teardown();
}

/* Outside long mode the shadow tables are PAE-format, whose leaves have A in the same place (bit 5) and may hold no
 * bit in 62:52 (sx_check): aging leaves them that way. */
TEST(pae_format_leaves_are_aged_like_the_others)
{
	sx_setup(64);
	sx_paging_off();
	CHECK_EQ(sx_load(), 0);
	CHECK_EQ(sx_fault(DATA, PFERR_WRITE, NULL), MMU_FAULT_FIXED);
	u64 before = sx_leaf(DATA);

	CHECK(before & PTE_A);
	CHECK(mmu_age_gfn_range(&sx.mmu, DATA_GFN, DATA_GFN + 1));
	CHECK_EQ(sx_leaf(DATA), before & ~PTE_A);
	CHECK(!mmu_test_age_gfn_range(&sx.mmu, DATA_GFN, DATA_GFN + 1));
	sx_check();
	sx_teardown();
}

/* ---- dirty state ---- */

/* A dirty leaf, aged and then zapped by the guest's write to its PTE: D survived the age, and the zap put it in the
 * dirty log (the shadow engine's leaf_changed: its hook gfn is a guest-virtual page, the frame is leaf_gfns'). */
TEST(dirty_state_survives_aging_and_a_zap)
{
	setup_one_leaf(G_ALL | G_A | G_D, true);
	u64 before = sx_leaf(GVA_A);

	CHECK((before & PTE_W) && (before & PTE_D));
	CHECK(mmu_age_gfn_range(&sx.mmu, DATA_GFN, DATA_GFN + 1));
	CHECK_EQ(sx_leaf(GVA_A), before & ~PTE_A); /* D and W kept */
	CHECK(!logged(DATA_GFN));		   /* nothing harvested: the leaf still holds it */
	CHECK_EQ(sx.mmu.stats.dirty_harvested, 0);

	sx_write(sx_gpte_gpa(sx.p.cr3, GVA_A, 1), 0);
	CHECK_EQ(sx_leaf(GVA_A), 0);
	CHECK(logged(DATA_GFN));
	CHECK_EQ(sx.mmu.stats.dirty_harvested, 1);
	sx_teardown();
}

/* The same, where the leaf goes with its whole tree: every root made obsolete and dropped; and where one goes alone
 * in a gfn-range zap (mm/shadow/szap.c). */
TEST(dirty_state_survives_aging_and_a_root_freed)
{
	setup_one_leaf(G_ALL | G_A | G_D, true);
	map_and_fault(GVA_B, DATA + PAGE_SIZE, G_ALL | G_A | G_D, true);
	CHECK(mmu_age_gfn_range(&sx.mmu, 0, RAM_GFNS));
	CHECK_EQ(aged(), 2);
	mmu_zap_gfn_range(&sx.mmu, DATA_GFN + 1, DATA_GFN + 2);
	CHECK(logged(DATA_GFN + 1));
	CHECK(!logged(DATA_GFN)); /* outside the range: its leaf still holds it */
	CHECK_EQ(sx.mmu.stats.dirty_harvested, 1);
	mmu_invalidate_all_roots(&sx.mmu);
	sx_reload();
	CHECK(logged(DATA_GFN)); /* the tree went, and the dirty leaf in it was logged */
	CHECK_EQ(sx.mmu.stats.dirty_harvested, 2);
	sx_teardown();
}

/* Write tracking starts for the gfn (the guest uses it as a page table): its leaves lose W and keep D, and the
 * write-protect is a point where every earlier write is in the log (mm/spte_change.c). */
TEST(dirty_state_survives_aging_and_a_write_protect)
{
	sx_setup(64);
	sx.other_trackers = true;
	CHECK_EQ(sx_load(), 0);
	map_and_fault(GVA_A, DATA, G_ALL | G_A | G_D, true);
	CHECK(mmu_age_gfn_range(&sx.mmu, DATA_GFN, DATA_GFN + 1));
	CHECK_EQ(mmu_track_add_gfn(&sx.mmu, DATA_GFN), 0);
	u64 after = sx_leaf(GVA_A);
	CHECK(spte_is_present(after) && !(after & PTE_W) && (after & PTE_D) && !(after & PTE_A));
	CHECK(logged(DATA_GFN));
	CHECK_EQ(sx.mmu.stats.dirty_harvested, 1);
	CHECK_EQ(mmu_track_remove_gfn(&sx.mmu, DATA_GFN), 0);
	sx_check();
	sx_teardown();
}

/* A dirty-log pass clears D in place (as a consumer of the log would, under the lock, through the hook); the
 * hardware then dirties the leaf again, and aging in between must not take that D away. */
TEST(a_write_after_a_dirty_log_pass_survives_aging)
{
	setup_one_leaf(G_ALL | G_A | G_D, true);
	u64 *p = leaf_ptr(GVA_A), old = *p;
	struct memslot *s = memslot_find(&sx.mmu.slots, DATA_GFN);

	write_lock(&sx.mmu.lock);
	CHECK(__atomic_compare_exchange_n(p, &old, old & ~PTE_D, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
	__mmu_handle_changed_spte(&sx.mmu, &shadow_engine, shadow_fmt, GVA_A >> PAGE_SHIFT, p, old, old & ~PTE_D, 1);
	__mmu_flush_and_free(&sx.mmu);
	write_unlock(&sx.mmu.lock);
	CHECK(memslot_test_and_clear_dirty(s, DATA_GFN)); /* the pass harvested the first write */
	CHECK(!logged(DATA_GFN));

	touch(GVA_A, true);
	CHECK(mmu_age_gfn_range(&sx.mmu, DATA_GFN, DATA_GFN + 1));
	CHECK(*p & PTE_D);
	CHECK(!(*p & PTE_A));
	sx_write(sx_gpte_gpa(sx.p.cr3, GVA_A, 1), 0);
	CHECK(logged(DATA_GFN));
	sx_teardown();
}

/* What was never writable through a leaf is never logged: a read fault on a guest PTE without D makes a leaf
 * without W or D (KVM's rule: W only once the guest's D is set), and its zap records nothing. */
TEST(a_clean_leaf_zapped_logs_nothing)
{
	setup_one_leaf(G_ALL | G_A, false);
	u64 before = sx_leaf(GVA_A);
	CHECK(!(before & PTE_W) && !(before & PTE_D));
	CHECK(mmu_age_gfn_range(&sx.mmu, DATA_GFN, DATA_GFN + 1));
	sx_write(sx_gpte_gpa(sx.p.cr3, GVA_A, 1), 0);
	CHECK_EQ(sx_leaf(GVA_A), 0);
	CHECK(!logged(DATA_GFN));
	CHECK_EQ(sx.mmu.stats.dirty_harvested, 0);
	sx_teardown();
}
