/* Unit tests of the write-tracking counts (mm/track/write.c, mm/mmu_track.c): references nest, the 16-bit guards
 * refuse overflow and underflow without changing anything, gfns outside every slot are refused, the counts are
 * allocated lazily (and for slots added later), allocation failures leave nothing half-tracked, and
 * mmu_track_max_mapping_level. */
#include "tdp_mmu_fixture.h"

static bool tracked(gfn_t gfn)
{
	struct memslot *s = memslot_find(&fx.mmu.slots, gfn);

	return s && track_is_write_tracked(s, gfn);
}

/* gfn is mapped by a 4K leaf the guest cannot write, and the MMU would not make writable. */
static void check_write_protected_4k(gfn_t gfn)
{
	int level;
	u64 spte = lookup(gfn, &level);

	CHECK(spte_is_present(spte));
	CHECK_EQ(level, 1);
	CHECK(!(spte & fx.mmu.fmt->writable));
	CHECK(!(spte & SPTE_MMU_WRITABLE));
	CHECK(spte & SPTE_HOST_WRITABLE);
}

static u64 spte_changes;

static void count_changes(gfn_t gfn, u64 old, u64 new, int level)
{
	spte_changes++;
}

TEST(track_add_remove_nest)
{
	const struct pt_format *f;
	int level;

	for_each_format(f) {
		setup(f);
		fake_slot(0, 4 * M2, FAKE_HPA, true, 0);
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, 5), 0);
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, 5), 0);
		CHECK_EQ(track_count(5), 2);
		CHECK_EQ(mmu_track_remove_gfn(&fx.mmu, 5), 0);
		/* One reference left: still tracked, and the fault path still refuses a write. */
		CHECK_EQ(track_count(5), 1);
		CHECK(tracked(5));
		CHECK_EQ(mmu_track_max_mapping_level(&fx.mmu, 5), 1);
		CHECK_EQ(fault(5, SPTE_ACC_WRITE, &level), MMU_FAULT_WRITE_PROTECTED);
		check_write_protected_4k(5);
		CHECK_EQ(mmu_track_remove_gfn(&fx.mmu, 5), 0);
		CHECK_EQ(track_count(5), 0);
		CHECK(!tracked(5));
		CHECK_EQ(mmu_track_max_mapping_level(&fx.mmu, 5), 2);
		CHECK_EQ(fx.mmu.stats.track_adds, 2);
		CHECK_EQ(fx.mmu.stats.track_removes, 2);
		/* Untracked: the write goes through (the region was collapsed back into a writable 2M leaf). */
		CHECK_EQ(fault(5, SPTE_ACC_WRITE, &level), MMU_FAULT_SPURIOUS);
		CHECK_EQ(level, 2);
		CHECK(lookup(5, &level) & f->writable);
		teardown();
	}
}

/* 65535 references fit; the next add is refused with one warning and changes nothing, not the SPTEs either. */
TEST(track_count_overflow_is_refused)
{
	const struct pt_format *f;
	int level;

	for_each_format(f) {
		setup(f);
		fake_slot(0, 4 * M2, FAKE_HPA, true, 0);
		CHECK_EQ(fault(7, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, 7), 0); /* the public call, then the locked one */
		write_lock(&fx.mmu.lock);
		for (u32 i = 1; i < TRACK_COUNT_MAX; i++) {
			if (__mmu_track_add_gfn(&fx.mmu, 7))
				break;
		}
		__mmu_flush_and_free(&fx.mmu);
		write_unlock(&fx.mmu.lock);
		CHECK_EQ(track_count(7), 65535);
		CHECK_EQ(fx.mmu.stats.track_adds, 65535);
		u64 spte = lookup(7, &level), flushes = fx.flushes;
		check_write_protected_4k(7);

		spte_changes = 0;
		fx.hook = count_changes;
		test_last_log[0] = 0;
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, 7), -ERANGE);
		CHECK_LAST_LOG("write tracking: an add past the 16-bit count on gfn 0x7 refused");
		test_last_log[0] = 0;
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, 7), -ERANGE);
		CHECK_EQ(test_last_log[0], 0); /* warned once */
		CHECK_EQ(track_count(7), 65535);
		CHECK_EQ(fx.mmu.stats.track_adds, 65535);
		CHECK_EQ(spte_changes, 0);
		CHECK_EQ(lookup(7, &level), spte);
		CHECK_EQ(fx.flushes, flushes);
		CHECK_EQ(track_count(6), 0); /* no carry into a neighbour */
		fx.hook = NULL;

		CHECK_EQ(mmu_track_remove_gfn(&fx.mmu, 7), 0);
		CHECK_EQ(track_count(7), 65534);
		CHECK(tracked(7));
		CHECK_EQ(fault(7, SPTE_ACC_WRITE, &level), MMU_FAULT_WRITE_PROTECTED);
		/* Room for one again. */
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, 7), 0);
		CHECK_EQ(track_count(7), 65535);
		teardown();
	}
}

/* A remove without a reference is refused, warned once per VM (for either guard), and changes nothing. */
TEST(track_count_underflow_is_refused)
{
	const struct pt_format *f;
	int level;

	for_each_format(f) {
		setup(f);
		fake_slot(0, 4 * M2, FAKE_HPA, true, 0);
		CHECK_EQ(fault(9, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		u64 spte = lookup(9, &level);
		/* Before anything was tracked in this VM: refused, and no counts are allocated for it. */
		test_last_log[0] = 0;
		CHECK_EQ(mmu_track_remove_gfn(&fx.mmu, 9), -ERANGE);
		CHECK_LAST_LOG("write tracking: a remove with no reference left on gfn 0x9 refused");
		CHECK_EQ(track_write_bytes(&fx.mmu.slots), 0);
		test_last_log[0] = 0;
		CHECK_EQ(mmu_track_remove_gfn(&fx.mmu, 9), -ERANGE);
		CHECK_EQ(test_last_log[0], 0);
		/* Counts allocated, this gfn at 0: refused silently, and its mapping stays. */
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, M2 + 1), 0);
		CHECK_EQ(mmu_track_remove_gfn(&fx.mmu, 9), -ERANGE);
		CHECK_EQ(test_last_log[0], 0);
		CHECK_EQ(track_count(9), 0);
		CHECK_EQ(lookup(9, &level), spte);
		/* One reference: one remove, then refused; the other gfn keeps its reference. */
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, 9), 0);
		CHECK_EQ(mmu_track_remove_gfn(&fx.mmu, 9), 0);
		CHECK_EQ(mmu_track_remove_gfn(&fx.mmu, 9), -ERANGE);
		CHECK_EQ(track_count(9), 0);
		CHECK_EQ(track_count(M2 + 1), 1);
		CHECK_EQ(fx.mmu.stats.track_removes, 1);
		/* The disallow counts did not go below what the reference raised: the region around 9 collapses, the
		 * one around M2 + 1 stays 4K. */
		CHECK_EQ(mmu_track_max_mapping_level(&fx.mmu, 9), 2);
		CHECK_EQ(mmu_track_max_mapping_level(&fx.mmu, M2 + 2), 1);
		teardown();

		/* Either guard's warning counts for the VM: after an overflow warning, an underflow is silent. */
		setup(f);
		fake_slot(0, 2 * M2, FAKE_HPA, true, 0);
		write_lock(&fx.mmu.lock);
		for (u32 i = 0; i < TRACK_COUNT_MAX; i++)
			CHECK_EQ(__mmu_track_add_gfn(&fx.mmu, 3), 0);
		test_last_log[0] = 0;
		CHECK_EQ(__mmu_track_add_gfn(&fx.mmu, 3), -ERANGE);
		__mmu_flush_and_free(&fx.mmu);
		write_unlock(&fx.mmu.lock);
		CHECK_LAST_LOG("an add past the 16-bit count");
		test_last_log[0] = 0;
		CHECK_EQ(mmu_track_remove_gfn(&fx.mmu, 4), -ERANGE);
		CHECK_EQ(test_last_log[0], 0);
		teardown();
	}
}

TEST(track_gfn_outside_every_slot_is_efault)
{
	const struct pt_format *f;

	for_each_format(f) {
		setup(f);
		fake_slot(0, 2 * M2, FAKE_HPA, true, 0);
		fake_slot(GIG, 2 * M2, FAKE_HPA + (GIG << PAGE_SHIFT), true, 0);
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, 2 * M2), -EFAULT);     /* between the slots */
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, GIG - 1), -EFAULT);
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, GIG + 2 * M2), -EFAULT); /* past the last one */
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, PT_MAX_PFN + 5), -EFAULT);
		CHECK_EQ(mmu_track_remove_gfn(&fx.mmu, 2 * M2), -EFAULT);
		/* Nothing was enabled or allocated by a refused add. */
		CHECK(!fx.mmu.track.enabled);
		CHECK_EQ(track_write_bytes(&fx.mmu.slots), 0);
		CHECK_EQ(fx.mmu.stats.track_adds, 0);
		CHECK_EQ(fx.mmu.track.warned, 0);
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, GIG + 2 * M2 - 1), 0); /* the last gfn of a slot is in it */
		CHECK_EQ(mmu_track_remove_gfn(&fx.mmu, GIG + 2 * M2), -EFAULT);
		CHECK_EQ(mmu_track_remove_gfn(&fx.mmu, GIG + 2 * M2 - 1), 0);
		teardown();
	}
}

/* A VM pays nothing until its first add; then every slot gets 2 bytes per 4K gfn, and so does a slot added later. */
TEST(track_counts_allocated_lazily_for_every_slot)
{
	const struct pt_format *f;
	int level;

	for_each_format(f) {
		setup(f);
		real_ram(0, 2 * M2);
		real_ram(8 * M2, M2);
		CHECK_EQ(fault(3, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(mmu_track_max_mapping_level(&fx.mmu, 3), 2);
		CHECK(!tracked(3));
		CHECK_EQ(track_write_bytes(&fx.mmu.slots), 0);
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, 8 * M2 + 1), 0);
		CHECK_EQ(track_write_bytes(&fx.mmu.slots), 2 * (3 * M2));
		/* Later adds allocate nothing more. */
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, 3), 0);
		CHECK_EQ(track_write_bytes(&fx.mmu.slots), 2 * (3 * M2));
		/* A slot added while tracking is on gets its counts at once. */
		CHECK_EQ(mmu_add_ram(&fx.mmu, 4 * M2, 2 * M2, 0), 0);
		CHECK_EQ(track_write_bytes(&fx.mmu.slots), 2 * (5 * M2));
		CHECK(!tracked(4 * M2 + 7));
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, 4 * M2 + 7), 0);
		CHECK(tracked(4 * M2 + 7));
		CHECK_EQ(track_count(4 * M2 + 7), 1);
		CHECK_EQ(fault(4 * M2 + 7, SPTE_ACC_WRITE, &level), MMU_FAULT_WRITE_PROTECTED);
		CHECK_EQ(fault(4 * M2 + 8, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(level, 1);
		teardown();
	}
}

/* Each allocation of a first add failing in turn, in a fresh VM: -ENOMEM, nothing tracked, the mapping and the
 * tables untouched; the next add (with memory) works. */
TEST(track_first_add_out_of_memory_leaves_nothing_tracked)
{
	const struct pt_format *f;
	int level;

	for_each_format(f) {
		u64 n;
		int r = -ENOMEM;

		for (n = 0; r == -ENOMEM; n++) {
			CHECK(n < 20);
			setup(f);
			fake_slot(0, 2 * GIG, FAKE_HPA, true, 0);
			fake_slot(4 * GIG, 2 * M2, FAKE_HPA + (4 * GIG << PAGE_SHIFT), true, 0);
			CHECK_EQ(fault(GIG + 3, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
			CHECK_EQ(level, 3);
			u64 huge = lookup(GIG + 3, &level), frames = fake_mem_frames_in_use();

			fake_kmalloc_fail_after(n);
			r = mmu_track_add_gfn(&fx.mmu, GIG + 3);
			fake_kmalloc_fail_after(~0ULL);
			if (r == -ENOMEM) {
				CHECK_EQ(track_count(GIG + 3), 0);
				CHECK(!tracked(GIG + 3));
				CHECK_EQ(mmu_track_max_mapping_level(&fx.mmu, GIG + 3), 3);
				CHECK_EQ(mmu_track_max_mapping_level(&fx.mmu, 4 * GIG), 2);
				CHECK_EQ(lookup(GIG + 3, &level), huge);
				CHECK_EQ(level, 3);
				CHECK_EQ(fx.mmu.stats.track_adds, 0);
				CHECK_EQ(fake_mem_frames_in_use(), frames);
				CHECK_EQ(fault(GIG + 3, SPTE_ACC_WRITE, &level), MMU_FAULT_SPURIOUS);
				CHECK_EQ(mmu_track_add_gfn(&fx.mmu, GIG + 3), 0);
			} else {
				CHECK_EQ(r, 0);
			}
			CHECK_EQ(track_count(GIG + 3), 1);
			CHECK_EQ(track_write_bytes(&fx.mmu.slots), 2 * (2 * GIG + 2 * M2));
			check_write_protected_4k(GIG + 3);
			CHECK_EQ(fault(GIG + 3, SPTE_ACC_WRITE, &level), MMU_FAULT_WRITE_PROTECTED);
			teardown();
		}
		/* n - 1 allocations were failed one by one: each slot's track state and counts, then the first slot's
		 * two disallow arrays. */
		CHECK_EQ(n - 1, 6);
	}
}

/* A slot added while tracking is on whose counts cannot be allocated: mmu_add_ram says -ENOMEM, and tracking in
 * that slot must still work (or fail cleanly) afterwards, never reach a count array that is not there. */
TEST(track_slot_added_without_counts_can_still_be_tracked)
{
	const struct pt_format *f;
	int level;

	for_each_format(f) {
		setup(f);
		real_ram(0, 2 * M2);
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, 1), 0);
		/* memslot_add's four arrays succeed (the dirty log is the fourth); the new slot's track state does not. */
		fake_kmalloc_fail_after(4);
		int r = mmu_add_ram(&fx.mmu, 4 * M2, 2 * M2, 0);
		fake_kmalloc_fail_after(~0ULL);
		CHECK_EQ(r, -ENOMEM);
		CHECK(memslot_find(&fx.mmu.slots, 4 * M2));
		CHECK(!tracked(4 * M2 + 2));
		CHECK_EQ(track_count(4 * M2 + 2), 0);
		CHECK_EQ(fault(4 * M2 + 2, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		/* Out of memory again: refused without a trace. */
		fake_kmalloc_fail_after(0);
		r = mmu_track_add_gfn(&fx.mmu, 4 * M2 + 2);
		fake_kmalloc_fail_after(~0ULL);
		CHECK_EQ(r, -ENOMEM);
		CHECK_EQ(track_count(4 * M2 + 2), 0);
		CHECK_EQ(fault(4 * M2 + 2, SPTE_ACC_WRITE, &level), MMU_FAULT_SPURIOUS);
		/* With memory: tracked like any other. */
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, 4 * M2 + 2), 0);
		CHECK(tracked(4 * M2 + 2));
		check_write_protected_4k(4 * M2 + 2);
		CHECK_EQ(fault(4 * M2 + 2, SPTE_ACC_WRITE, &level), MMU_FAULT_WRITE_PROTECTED);
		CHECK_EQ(mmu_track_remove_gfn(&fx.mmu, 4 * M2 + 2), 0);
		CHECK_EQ(track_write_bytes(&fx.mmu.slots), 2 * (4 * M2));
		teardown();
	}
}

/* Slots whose 1G regions are backed every way: 1G-contiguous, 2M chunks, misaligned on the host, and a slot that is
 * only part of a 1G region. */
static void slots_of_every_shape(void)
{
	fake_slot(0, 2 * GIG, FAKE_HPA, true, 0);
	fake_slot(4 * GIG, GIG, FAKE_HPA + (4 * GIG << PAGE_SHIFT), false, 0);
	fake_slot(6 * GIG, GIG, FAKE_HPA + (6 * GIG << PAGE_SHIFT) + (M2 << PAGE_SHIFT), true, 0);
	fake_slot(8 * GIG, 4 * M2, FAKE_HPA + (8 * GIG << PAGE_SHIFT), true, 0);
}

TEST(track_max_mapping_level)
{
	const struct pt_format *f;
	gfn_t t = GIG + 5 * M2 + 3;

	for_each_format(f) {
		setup(f);
		slots_of_every_shape();
		CHECK_EQ(mmu_track_max_mapping_level(&fx.mmu, t), 3);
		CHECK_EQ(mmu_track_max_mapping_level(&fx.mmu, 4 * GIG + 77), 2);
		CHECK_EQ(mmu_track_max_mapping_level(&fx.mmu, 6 * GIG + 77), 2);
		CHECK_EQ(mmu_track_max_mapping_level(&fx.mmu, 8 * GIG + 77), 2);
		CHECK_EQ(mmu_track_max_mapping_level(&fx.mmu, 3 * GIG), 1); /* no slot */
		CHECK_EQ(mmu_track_max_mapping_level(&fx.mmu, PT_MAX_PFN), 1);

		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, t), 0);
		CHECK_EQ(mmu_track_max_mapping_level(&fx.mmu, t), 1);
		CHECK_EQ(mmu_track_max_mapping_level(&fx.mmu, GIG + 5 * M2), 1);          /* same 2M region */
		CHECK_EQ(mmu_track_max_mapping_level(&fx.mmu, GIG + 6 * M2 - 1), 1);
		CHECK_EQ(mmu_track_max_mapping_level(&fx.mmu, GIG + 6 * M2), 2);          /* same 1G region */
		CHECK_EQ(mmu_track_max_mapping_level(&fx.mmu, GIG + 5 * M2 - 1), 2);
		CHECK_EQ(mmu_track_max_mapping_level(&fx.mmu, GIG - 1), 3);               /* another 1G region */
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, 4 * GIG + 9), 0);
		CHECK_EQ(mmu_track_max_mapping_level(&fx.mmu, 4 * GIG + 10), 1);
		CHECK_EQ(mmu_track_max_mapping_level(&fx.mmu, 4 * GIG + M2), 2);

		/* The CPU's largest leaf caps it. */
		fx.mmu.tdp.max_huge_level = 2;
		CHECK_EQ(mmu_track_max_mapping_level(&fx.mmu, 0), 2);
		CHECK_EQ(mmu_track_max_mapping_level(&fx.mmu, GIG + 6 * M2), 2);
		CHECK_EQ(mmu_track_max_mapping_level(&fx.mmu, t), 1);
		fx.mmu.tdp.max_huge_level = 1;
		CHECK_EQ(mmu_track_max_mapping_level(&fx.mmu, 0), 1);
		CHECK_EQ(mmu_track_max_mapping_level(&fx.mmu, 4 * GIG + M2), 1);
		fx.mmu.tdp.max_huge_level = 3;

		CHECK_EQ(mmu_track_remove_gfn(&fx.mmu, t), 0);
		CHECK_EQ(mmu_track_max_mapping_level(&fx.mmu, t), 3);
		CHECK_EQ(mmu_track_max_mapping_level(&fx.mmu, GIG + 6 * M2), 3);
		teardown();
	}
}

/* What the fault path asks of tracking (track_fault_level, whose shortcut for a slot without track state is one load)
 * agrees with the full answer, MIN(backing level, track_max_level) and track_is_write_tracked, over slots of every
 * shape, before the VM's first add (no slot has track state), with gfns tracked, and after the last reference went
 * (the state stays). */
static unsigned int check_fault_level_agrees(void)
{
	static const gfn_t probes[] = {0, 77, GIG - 1, GIG + 5 * M2, GIG + 5 * M2 + 3, GIG + 6 * M2, 2 * GIG - 1,
				       4 * GIG, 4 * GIG + 9, 4 * GIG + 10, 4 * GIG + M2, 6 * GIG + 77, 7 * GIG - 1,
				       8 * GIG, 8 * GIG + 77, 8 * GIG + 4 * M2 - 1};
	unsigned int with_state = 0;

	for (unsigned int i = 0; i < ARRAY_SIZE(probes); i++) {
		struct memslot *s = memslot_find(&fx.mmu.slots, probes[i]);
		int backing, full, fast;
		bool writable = false;

		CHECK(s);
		backing = memslot_backing_level(s, probes[i]);
		full = MIN(backing, track_max_level(s, probes[i]));
		fast = track_fault_level(s, probes[i], backing, &writable);
		CHECK_EQ(fast, full);
		CHECK_EQ(track_cap_level(s, probes[i], backing), full);
		CHECK_EQ(writable, !track_is_write_tracked(s, probes[i]));
		with_state += s->track != NULL;
	}
	return with_state;
}

TEST(track_fault_level_agrees_with_the_full_answer)
{
	const struct pt_format *f;
	gfn_t t = GIG + 5 * M2 + 3;

	for_each_format(f) {
		setup(f);
		slots_of_every_shape();
		CHECK_EQ(check_fault_level_agrees(), 0); /* the shortcut answers every probe */
		CHECK_EQ(memslot_backing_level(memslot_find(&fx.mmu.slots, t), t), 3);

		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, t), 0);
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, 4 * GIG + 9), 0);
		CHECK_EQ(check_fault_level_agrees(), 16); /* every slot has counts now */
		bool w = true;
		CHECK_EQ(track_fault_level(memslot_find(&fx.mmu.slots, t), t, 3, &w), 1);
		CHECK(!w);
		CHECK_EQ(track_fault_level(memslot_find(&fx.mmu.slots, GIG + 6 * M2), GIG + 6 * M2, 3, &w), 2);
		CHECK(w);

		CHECK_EQ(mmu_track_remove_gfn(&fx.mmu, t), 0);
		CHECK_EQ(mmu_track_remove_gfn(&fx.mmu, 4 * GIG + 9), 0);
		CHECK_EQ(check_fault_level_agrees(), 16);
		CHECK_EQ(track_fault_level(memslot_find(&fx.mmu.slots, t), t, 3, &w), 3);
		CHECK(w);
		teardown();
	}
}
