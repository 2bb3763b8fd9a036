/* Unit tests of private memory's MMU half (mm/private.c, mm/ept/tdp_mirror.c, and what they changed in the change
 * hook, the fault path, zaps and roots), for EPT with A/D, EPT without and NPT, against a fake owner whose external
 * table is the fake physical memory's page protections (private_fixture.h): turning it on, private and shared faults
 * and the hardware root that joins them, the external hooks' order (set under the frozen entry, remove after the
 * flush) and a refused set, wrong-kind accesses, GPAs above the shared bit, conversions zapping only the side left,
 * the mirror surviving root invalidation, filtered zaps, the VM's end giving every frame back, and reclaim refused.
 * The threaded tests are in test_private_stress.c. */
#include <stdlib.h>

#include "private_fixture.h"

#define W SPTE_ACC_WRITE
#define R SPTE_ACC_READ

/* The level-4 entries of a root's table. */
static u64 *top_of(hpa_t table)
{
	return phys_to_virt(table);
}

static void free_fake_slot_bitmaps(void)
{
	for (u32 i = 0; i < fx.mmu.slots.n; i++) {
		kfree(fx.mmu.slots.slots[i].shared);
		fx.mmu.slots.slots[i].shared = NULL;
	}
}

static void no_op(void *owner)
{
	(void)owner;
}

static void check_not_private(u64 frames)
{
	CHECK(!fx.mmu.priv.enabled);
	CHECK(!fx.mmu.priv.mirror);
	for (u32 i = 0; i < fx.mmu.slots.n; i++)
		CHECK(!fx.mmu.slots.slots[i].shared);
	CHECK(!mmu_gfn_is_private(&fx.mmu, 0));
	CHECK_EQ(fake_mem_frames_in_use(), frames);
	CHECK_EQ(fx.mmu.stats.roots_allocated, 1); /* the vCPU's only */
	CHECK_EQ(fx.mmu.tdp.max_huge_level, 3);
}

/* Refusals change nothing; once on, every gfn of RAM is private and nothing else is. */
/* What a loader does before sealing: the hypervisor's writes to a private page are refused once the VM is private
 * (mm/mmu_access.c), so the tests put their data in the frame the way the loader's write did, before any fault. */
static int loader_write(gfn_t gfn, const void *p, size_t n)
{
	struct memslot *s = memslot_find(&fx.mmu.slots, gfn);
	int r = s ? memslot_prepare(s, gfn, 1) : -EFAULT;

	if (!r)
		memcpy(phys_to_virt(ram_hpa(gfn)), p, n);
	return r;
}

TEST(private_enable_refusals_and_initial_state)
{
	const struct mmu_external_ops no_set = { .remove_external_spte = pf_ext_ops.remove_external_spte };
	const struct pt_format *f;

	for_each_format(f) {
		setup(f);
		fake_slot(0, M2, FAKE_HPA, false, 0);
		/* Ends exactly at bit 39: its private view still fits below it. */
		fake_slot(SHARED_GFN - M2, M2, FAKE_HPA + (M2 << PAGE_SHIFT), false, 0);
		u64 frames = fake_mem_frames_in_use();

		CHECK_EQ(mmu_private_enable(&fx.mmu, 38, &pf_ext_ops), -EINVAL);
		CHECK_EQ(mmu_private_enable(&fx.mmu, 48, &pf_ext_ops), -EINVAL);
		CHECK_EQ(mmu_private_enable(&fx.mmu, 39, NULL), -EINVAL);
		CHECK_EQ(mmu_private_enable(&fx.mmu, 39, &no_set), -EINVAL);
		check_not_private(frames);
		/* Out of memory at each allocation: the hardware root, a slot's bitmap (the second's too, after the
		 * first's), the mirror root and its top table; each undone whole. */
		fake_mem_fail_after(0);
		CHECK_EQ(mmu_private_enable(&fx.mmu, 39, &pf_ext_ops), -ENOMEM);
		fake_mem_fail_after(~0ULL);
		check_not_private(frames);
		for (u64 n = 0; n < 3; n++) {
			fake_kmalloc_fail_after(n);
			CHECK_EQ(mmu_private_enable(&fx.mmu, 39, &pf_ext_ops), -ENOMEM);
			fake_kmalloc_fail_after(~0ULL);
			check_not_private(frames);
		}
		fake_mem_fail_after(1);
		CHECK_EQ(mmu_private_enable(&fx.mmu, 39, &pf_ext_ops), -ENOMEM);
		fake_mem_fail_after(~0ULL);
		check_not_private(frames);

		CHECK_EQ(mmu_private_enable(&fx.mmu, 39, &pf_ext_ops), 0);
		CHECK(fx.mmu.priv.enabled && fx.mmu.priv.mirror && fx.mmu.priv.mirror->role.mirror);
		CHECK_EQ(fx.mmu.priv.shared_gfn, SHARED_GFN);
		CHECK_EQ(mmu_hw_root(&fx.mmu, &fx.vcpu), fx.mmu.priv.hw_top);
		CHECK_EQ(fx.mmu.tdp.max_huge_level, 1); /* no huge leaf mixes private and shared pages */
		CHECK(mmu_hw_root(&fx.mmu, &fx.vcpu) != fx.vcpu.current->hpa);
		/* Twice more, even with arguments it would refuse anyway. */
		CHECK_EQ(mmu_private_enable(&fx.mmu, 39, &pf_ext_ops), -EEXIST);
		CHECK_EQ(mmu_private_enable(&fx.mmu, 38, NULL), -EEXIST);
		/* All RAM private at start, through either view's gfn; what is not RAM is not private. */
		for (gfn_t g = 0; g < M2; g++) {
			CHECK(mmu_gfn_is_private(&fx.mmu, g));
			CHECK(mmu_gfn_is_private(&fx.mmu, SHARED_GFN - M2 + g));
			CHECK(mmu_gfn_is_private(&fx.mmu, g | SHARED_GFN));
		}
		CHECK(!mmu_gfn_is_private(&fx.mmu, M2));
		CHECK(!mmu_gfn_is_private(&fx.mmu, SHARED_GFN - M2 - 1));
		/* The test's made-up slots are freed by the test, bitmaps included; mmu_destroy ends the mirror. */
		free_fake_slot_bitmaps();
		teardown();

		/* RAM at or above the shared bit would have no private view. */
		setup(f);
		fake_slot(0, M2, FAKE_HPA, false, 0);
		fake_slot(SHARED_GFN, M2, FAKE_HPA + (M2 << PAGE_SHIFT), false, 0);
		frames = fake_mem_frames_in_use();
		CHECK_EQ(mmu_private_enable(&fx.mmu, 39, &pf_ext_ops), -EINVAL);
		check_not_private(frames);
		CHECK_EQ(mmu_private_enable(&fx.mmu, 40, &pf_ext_ops), 0); /* the next bit up leaves it below */
		CHECK(mmu_gfn_is_private(&fx.mmu, SHARED_GFN));
		free_fake_slot_bitmaps();
		teardown();
	}

	/* The shadow MMU has no mirror root. */
	static struct mmu m;
	static const struct mmu_ops ops = { .flush_remote_tlbs = no_op, .request_free_obsolete_roots = no_op };
	mmu_init(&m, &pt_format_npt, 3, &ops, NULL, 64);
	CHECK_EQ(mmu_private_enable(&m, 39, &pf_ext_ops), -EINVAL);
	CHECK(!m.priv.enabled);
	mmu_destroy(&m);
}

/* A private fault maps a 4K leaf in the mirror root only, after set_external_spte ran under the frozen entry; the
 * hardware root shows the mirror's top-level entries in its low half and the direct root's in its high half. */
TEST(private_fault_sets_external_under_the_frozen_entry)
{
	const struct pt_format *f;
	const gfn_t P = 0x42, S = 0x43;
	const u64 marker = 0x5ec2e7da7aULL;

	for_each_format(f) {
		priv_setup(f);
		u64 *mtop = top_of(fx.mmu.priv.mirror->hpa), *dtop = top_of(fx.vcpu.current->hpa);
		u64 *hw = top_of(fx.mmu.priv.hw_top);
		hpa_t pframe = ram_hpa(P), sframe = ram_hpa(S);

		/* The loader writes the image before the vCPUs run. */
		CHECK_EQ(loader_write(P, &marker, sizeof(marker)), 0);
		CHECK_EQ(pfault(priv_gpa(P) | 0x123, W), MMU_FAULT_FIXED);
		CHECK_EQ(pf.nlog > 0, 1);
		CHECK_EQ(pf_count(0, PF_SET, INVALID_HPA), 1);
		u32 i = pf_find(0, PF_SET, pframe);
		CHECK(i != ~0u);
		CHECK_EQ(pf.log[i].gfn, P);
		CHECK_EQ(pf.log[i].result, 0);
		CHECK_EQ(pf.log[i].mirror_spte, SPTE_FROZEN); /* the leaf was not there yet ... */
		CHECK_EQ(pf.log[i].hw_hpa, INVALID_HPA);      /* ... nor could the hardware reach it */
		/* The 4K leaf, in the mirror only. */
		u64 leaf = mirror_leaf(P);
		CHECK(leaf);
		CHECK_EQ(pt_leaf_hpa(leaf, 1), pframe);
		CHECK(spte_allows(f, leaf, W));
		CHECK(!(leaf & SPTE_HUGE));
		CHECK(!mirror_leaf(P + 1) && !mirror_leaf(P - 1));
		CHECK(!direct_leaf(P));
		CHECK_EQ(dtop[0], 0);
		CHECK_EQ(fx.mmu.priv.stats.external_set, 1);
		CHECK_EQ(fx.mmu.stats.faults_mapped[1], 1);
		/* The hardware root: the copy of the mirror's entry, the private GPA translating, the shared one not. */
		CHECK(mtop[0]);
		CHECK_EQ(hw[0], mtop[0]);
		CHECK_EQ(hw_translate(priv_gpa(P) | 0x123), pframe + 0x123);
		CHECK_EQ(hw_translate(shared_gpa(P)), INVALID_HPA);
		/* Out of the hypervisor's reach now. */
		CHECK(!frame_readable(pframe));
		/* Again: nothing to do, no second set. */
		CHECK_EQ(pfault(priv_gpa(P), R), MMU_FAULT_SPURIOUS);
		CHECK_EQ(pf_count(0, PF_SET, INVALID_HPA), 1);

		/* A shared page maps into the direct root only, with no hook, and shows through hw_top's upper half. */
		CHECK_EQ(mmu_private_convert(&fx.mmu, S, 1, true), 0);
		CHECK_EQ(pfault(shared_gpa(S) | 0x456, W), MMU_FAULT_FIXED);
		leaf = direct_leaf(S);
		CHECK(leaf);
		CHECK_EQ(pt_leaf_hpa(leaf, 1), sframe);
		CHECK(!mirror_leaf(S));
		CHECK_EQ(pf_count(0, PF_SET, INVALID_HPA), 1);
		CHECK(dtop[0]);
		CHECK_EQ(hw[1 << (SHARED_BIT - 39)], dtop[0]);
		CHECK_EQ(hw[0], mtop[0]);
		CHECK_EQ(hw_translate(shared_gpa(S) | 0x456), sframe + 0x456);
		CHECK_EQ(hw_translate(priv_gpa(S)), INVALID_HPA);
		CHECK(frame_readable(sframe));
		/* No other entry of hw_top is used. */
		for (unsigned int e = 0; e < PT_ENTRIES; e++)
			CHECK(e == 0 || e == 1 || !hw[e]);
		priv_teardown();
		/* The VM's end gave P's frame back zeroed (the fake zeroes, as the owner must). */
		CHECK_EQ(pf_count(0, PF_REMOVE, pframe), 1);
	}
}

/* hw_top's halves split where the shared bit says: entries [0, half) copy the mirror's, [half, 2 * half) the direct
 * root's, half = 1 << (bit - 39) top-level entries of 512 GiB. */
TEST(private_hw_top_halves_follow_the_shared_bit)
{
	static const unsigned int bits[] = { 39, 40, 45, 47 };
	const struct pt_format *f;
	const gfn_t P = 0x20, S = 0x21;

	for_each_format(f) {
		for (unsigned int b = 0; b < ARRAY_SIZE(bits); b++) {
			priv_setup_shared_only(f);
			CHECK_EQ(mmu_private_enable(&fx.mmu, bits[b], &pf_ext_ops), 0);
			CHECK_EQ(mmu_load_root(&fx.mmu, &fx.vcpu, NULL), 0);
			gpa_t shared = 1ULL << bits[b];
			unsigned int half = 1u << (bits[b] - 39);
			u64 *hw = top_of(fx.mmu.priv.hw_top);

			CHECK_EQ(mmu_private_convert(&fx.mmu, S, 1, true), 0);
			CHECK_EQ(pfault(priv_gpa(P), W), MMU_FAULT_FIXED);
			CHECK_EQ(pfault(priv_gpa(S) | shared, W), MMU_FAULT_FIXED);
			CHECK_EQ(pfault(priv_gpa(P) | shared, W), MMU_FAULT_WRONG_KIND);
			CHECK_EQ(hw[0], top_of(fx.mmu.priv.mirror->hpa)[0]);
			CHECK_EQ(hw[half], top_of(fx.vcpu.current->hpa)[0]);
			for (unsigned int e = 0; e < PT_ENTRIES; e++)
				CHECK(e == 0 || e == half || !hw[e]);
			CHECK_EQ(hw_translate(priv_gpa(P)), ram_hpa(P));
			CHECK_EQ(hw_translate(priv_gpa(S) | shared), ram_hpa(S));
			CHECK_EQ(hw_translate(priv_gpa(S)), INVALID_HPA);
			CHECK_EQ(hw_translate(priv_gpa(P) | shared), INVALID_HPA);
			priv_teardown();
		}
	}
}

/* The shared view of a page must never reach a private page's frame: not by a huge leaf that covers private
 * neighbours either (KVM keeps huge pages from mixing attributes; here a private VM maps 4K on both sides). */
TEST(private_shared_fault_never_maps_a_private_neighbour)
{
	const struct pt_format *f;
	const gfn_t S = M2 + 7; /* the second 2M chunk: backed contiguously, a 2M leaf would be allowed */

	for_each_format(f) {
		priv_setup(f);
		CHECK_EQ(mmu_private_convert(&fx.mmu, S, 1, true), 0);
		CHECK_EQ(pfault(shared_gpa(S), W), MMU_FAULT_FIXED);
		for (gfn_t g = M2; g < 2 * M2; g++) {
			if (g != S)
				CHECK_EQ(hw_translate(shared_gpa(g)), INVALID_HPA);
		}
		CHECK_EQ(hw_translate(shared_gpa(S)), ram_hpa(S));
		/* And the private neighbour faults in its own view, without meeting a huge shared leaf. */
		CHECK_EQ(pfault(priv_gpa(S + 1), W), MMU_FAULT_FIXED);
		CHECK_EQ(hw_translate(priv_gpa(S + 1)), ram_hpa(S + 1));
		priv_teardown();
	}
}

/* A refused set_external_spte leaves the entry as it was (a hole): the fault fails with the hook's error, nothing
 * is left to remove, and the next fault maps. */
TEST(private_set_external_refusal_leaves_the_hole)
{
	const struct pt_format *f;
	const gfn_t P = 0x200;

	for_each_format(f) {
		priv_setup(f);
		hpa_t frame = ram_hpa(P);

		pf.fail_next = 1;
		pf.fail_err = -ENOMEM;
		CHECK_EQ(pfault(priv_gpa(P), W), -ENOMEM);
		CHECK_EQ(pf_count(0, PF_SET, frame), 1);
		CHECK_EQ(pf.log[pf_find(0, PF_SET, frame)].mirror_spte, SPTE_FROZEN);
		CHECK_EQ(mirror_spte(P), 0); /* the path was built; the entry is back to its old value */
		CHECK(!mirror_leaf(P));
		CHECK_EQ(hw_translate(priv_gpa(P)), INVALID_HPA);
		CHECK_EQ(pf_count(0, PF_REMOVE, INVALID_HPA), 0);
		CHECK_EQ(fx.mmu.priv.stats.external_refused, 1);
		CHECK_EQ(fx.mmu.priv.stats.external_set, 0);
		CHECK_EQ(fx.mmu.stats.faults_mapped[1], 0);
		CHECK(frame_readable(frame));
		/* A zap of the range finds nothing to hand back. */
		mmu_zap_gfn_range_filter(&fx.mmu, P, P + 1, MMU_ZAP_ALL);
		CHECK_EQ(pf_count(0, PF_REMOVE, INVALID_HPA), 0);

		CHECK_EQ(pfault(priv_gpa(P), W), MMU_FAULT_FIXED);
		CHECK_EQ(pf_count(0, PF_SET, frame), 2);
		CHECK_EQ(pt_leaf_hpa(mirror_leaf(P), 1), frame);
		CHECK_EQ(fx.mmu.priv.stats.external_refused, 1);
		CHECK_EQ(fx.mmu.priv.stats.external_set, 1);
		CHECK(!frame_readable(frame));
		priv_teardown();
	}
}

/* An access to the view that is not the page's kind: MMU_FAULT_WRONG_KIND, nothing mapped, no hook. */
TEST(private_wrong_kind_maps_nothing)
{
	const struct pt_format *f;
	const gfn_t P = 0x10, S = 0x11;

	for_each_format(f) {
		priv_setup(f);
		CHECK_EQ(mmu_private_convert(&fx.mmu, S, 1, true), 0);
		u32 from = pf.nlog;

		CHECK_EQ(pfault(priv_gpa(S), W), MMU_FAULT_WRONG_KIND);
		CHECK_EQ(pfault(shared_gpa(P), R), MMU_FAULT_WRONG_KIND);
		CHECK_EQ(fx.mmu.priv.stats.wrong_kind_faults, 2);
		CHECK(!mirror_leaf(S) && !mirror_leaf(P) && !direct_leaf(S) && !direct_leaf(P));
		CHECK_EQ(top_of(fx.mmu.priv.mirror->hpa)[0], 0); /* not even a table */
		CHECK_EQ(top_of(fx.vcpu.current->hpa)[0], 0);
		CHECK_EQ(pf_count(from, PF_SET, INVALID_HPA), 0);
		CHECK_EQ(fx.mmu.stats.faults_mapped[1], 0);
		/* The right views map. */
		CHECK_EQ(pfault(shared_gpa(S), R), MMU_FAULT_FIXED);
		CHECK_EQ(pfault(priv_gpa(P), R), MMU_FAULT_FIXED);
		/* And the wrong ones stay refused with the right ones mapped. */
		CHECK_EQ(pfault(priv_gpa(S), R), MMU_FAULT_WRONG_KIND);
		CHECK_EQ(pfault(shared_gpa(P), W), MMU_FAULT_WRONG_KIND);
		CHECK_EQ(fx.mmu.priv.stats.wrong_kind_faults, 4);
		CHECK_EQ(hw_translate(priv_gpa(S)), INVALID_HPA);
		CHECK_EQ(hw_translate(shared_gpa(P)), INVALID_HPA);
		priv_teardown();
	}
}

/* A GPA above the shared bit (a guest may put one in its page tables whatever its CPUID says) is no page of either
 * view: not guest RAM, never a BUG, and no entry outside hw_top's two halves. */
TEST(private_gpa_above_the_shared_bit_is_mmio)
{
	const struct pt_format *f;

	for_each_format(f) {
		priv_setup(f);
		CHECK_EQ(pfault(priv_gpa(0x42) | (1ULL << 40), R), MMU_FAULT_MMIO);
		CHECK_EQ(pfault(shared_gpa(0x42) | (1ULL << 40), R), MMU_FAULT_MMIO);
		CHECK_EQ(pfault(shared_gpa(0x42) | (1ULL << 46), W), MMU_FAULT_MMIO);
		/* MMIO below the bit, beyond RAM: the shared view caches it like any VM, the private view not at all. */
		CHECK_EQ(pfault(priv_gpa(RAM_PAGES + 5), R), MMU_FAULT_MMIO);
		CHECK_EQ(pfault(shared_gpa(RAM_PAGES + 5), R), MMU_FAULT_MMIO);
		CHECK_EQ(top_of(fx.mmu.priv.mirror->hpa)[0], 0);
		for (unsigned int e = 2; e < PT_ENTRIES; e++)
			CHECK_EQ(top_of(fx.mmu.priv.hw_top)[e], 0);
		CHECK_EQ(pf_count(0, PF_SET, INVALID_HPA), 0);
		priv_teardown();
	}
}

/* To shared: the mirror leaf goes (and only it), the remote flush comes before remove_external_spte, the page reads
 * zero; then its shared view maps the same frame with no hook. */
TEST(private_convert_to_shared_zaps_only_the_mirror_leaf)
{
	const struct pt_format *f;
	const gfn_t P = 0x30, S = 0x31, Q = 0x32, U = 0x33;
	const u64 marker = 0x1122334455667788ULL;

	for_each_format(f) {
		priv_setup(f);
		hpa_t pframe = ram_hpa(P);

		CHECK_EQ(loader_write(P, &marker, sizeof(marker)), 0);
		CHECK_EQ(pfault(priv_gpa(P), W), MMU_FAULT_FIXED);
		CHECK_EQ(pfault(priv_gpa(Q), W), MMU_FAULT_FIXED);
		CHECK_EQ(mmu_private_convert(&fx.mmu, S, 1, true), 0);
		CHECK_EQ(pfault(shared_gpa(S), W), MMU_FAULT_FIXED);
		u64 sleaf = direct_leaf(S), qleaf = mirror_leaf(Q);
		CHECK(!frame_readable(pframe));
		u32 from = pf.nlog;

		CHECK_EQ(mmu_private_convert(&fx.mmu, P, 1, true), 0);
		u32 zap = pf_find(from, PF_ZAP, pframe), flush = pf_find(zap, PF_FLUSH, INVALID_HPA),
		    rm = pf_find(from, PF_REMOVE, pframe);
		CHECK(zap != ~0u && flush != ~0u && rm != ~0u);
		CHECK(zap < flush && flush < rm);
		CHECK_EQ(pf.log[rm].gfn, P);
		CHECK_EQ(pf_count(from, PF_REMOVE, INVALID_HPA), 1);
		CHECK_EQ(pf_count(from, PF_ZAP, INVALID_HPA), 1); /* nothing else went */
		CHECK_EQ(pf_count(from, PF_SET, INVALID_HPA), 0);
		CHECK(!mirror_leaf(P));
		CHECK_EQ(direct_leaf(S), sleaf);
		CHECK_EQ(mirror_leaf(Q), qleaf);
		CHECK(frame_readable(pframe));
		CHECK(frame_is_zero(pframe));
		CHECK(!mmu_gfn_is_private(&fx.mmu, P));
		CHECK_EQ(fx.mmu.priv.stats.to_shared, 2);
		CHECK_EQ(fx.mmu.priv.stats.external_removed, 1);
		CHECK_EQ(hw_translate(priv_gpa(P)), INVALID_HPA);
		/* Its shared view now: the same frame, no hook. */
		CHECK_EQ(pfault(shared_gpa(P), W), MMU_FAULT_FIXED);
		CHECK_EQ(hw_translate(shared_gpa(P)), pframe);
		CHECK_EQ(pf_count(from, PF_SET, INVALID_HPA), 0);
		/* A private page never mapped (its data only loaded) has no leaf and no hook, and is zeroed all the
		 * same. */
		CHECK_EQ(loader_write(U, &marker, sizeof(marker)), 0);
		from = pf.nlog;
		CHECK_EQ(mmu_private_convert(&fx.mmu, U, 1, true), 0);
		CHECK(frame_is_zero(ram_hpa(U)));
		CHECK_EQ(pf_count(from, PF_REMOVE, INVALID_HPA) + pf_count(from, PF_ZAP, INVALID_HPA), 0);
		priv_teardown();
	}
}

/* To private: the direct leaf goes (and only it: the mirror's leaves of other pages stay, no hook runs), the page
 * is zeroed, and its private view then maps through set_external_spte. */
TEST(private_convert_to_private_zaps_only_the_direct_leaf)
{
	const struct pt_format *f;
	const gfn_t S = 0x50, T = 0x51, Q = 0x52;
	const u64 marker = 0xfeedfacecafebeefULL;

	for_each_format(f) {
		priv_setup(f);
		hpa_t sframe = ram_hpa(S);

		CHECK_EQ(mmu_private_convert(&fx.mmu, S, 2, true), 0);
		CHECK_EQ(pfault(shared_gpa(S), W), MMU_FAULT_FIXED);
		CHECK_EQ(pfault(shared_gpa(T), W), MMU_FAULT_FIXED);
		CHECK_EQ(pfault(priv_gpa(Q), W), MMU_FAULT_FIXED);
		CHECK_EQ(mmu_write_gpa(&fx.mmu, NULL, shared_gpa(S) & ~SHARED_GPA, &marker, sizeof(marker)), 0);
		CHECK(!frame_is_zero(sframe));
		u64 tleaf = direct_leaf(T), qleaf = mirror_leaf(Q);
		u32 from = pf.nlog;

		CHECK_EQ(mmu_private_convert(&fx.mmu, S, 1, false), 0);
		CHECK(!direct_leaf(S));
		CHECK_EQ(direct_leaf(T), tleaf);
		CHECK_EQ(mirror_leaf(Q), qleaf);
		CHECK_EQ(pf_count(from, PF_ZAP, INVALID_HPA), 1);
		CHECK_EQ(pf.log[pf_find(from, PF_ZAP, INVALID_HPA)].hpa, sframe);
		CHECK(pf_find(pf_find(from, PF_ZAP, INVALID_HPA), PF_FLUSH, INVALID_HPA) != ~0u);
		CHECK_EQ(pf_count(from, PF_REMOVE, INVALID_HPA) + pf_count(from, PF_SET, INVALID_HPA), 0);
		CHECK(frame_is_zero(sframe));
		CHECK(mmu_gfn_is_private(&fx.mmu, S));
		CHECK_EQ(fx.mmu.priv.stats.to_private, 1);
		CHECK_EQ(hw_translate(shared_gpa(S)), INVALID_HPA);
		CHECK_EQ(pfault(shared_gpa(S), R), MMU_FAULT_WRONG_KIND);
		CHECK_EQ(pfault(priv_gpa(S), W), MMU_FAULT_FIXED);
		CHECK_EQ(pf_count(from, PF_SET, sframe), 1);
		CHECK(!frame_readable(sframe));
		priv_teardown();
	}
}

/* Pages already of the target kind keep their contents and their mappings; only the others change. */
TEST(private_convert_keeps_pages_of_the_target_kind)
{
	const struct pt_format *f;
	const gfn_t A = 0x70, B = 0x71, C = 0x72, D = 0x73, E = 0x74;
	const u64 mb = 0xb0b0b0b0ULL, mc = 0xc0c0c0c0ULL, md = 0xd0d0d0d0ULL;

	for_each_format(f) {
		priv_setup(f);
		/* A private mapped, B private unmapped with data, C shared mapped with data, D shared mapped with data,
		 * E private mapped. */
		CHECK_EQ(mmu_private_convert(&fx.mmu, C, 2, true), 0);
		CHECK_EQ(loader_write(B, &mb, sizeof(mb)), 0);
		CHECK_EQ(mmu_write_gpa(&fx.mmu, NULL, priv_gpa(C), &mc, sizeof(mc)), 0);
		CHECK_EQ(mmu_write_gpa(&fx.mmu, NULL, priv_gpa(D), &md, sizeof(md)), 0);
		CHECK_EQ(pfault(priv_gpa(A), W), MMU_FAULT_FIXED);
		CHECK_EQ(pfault(shared_gpa(C), W), MMU_FAULT_FIXED);
		CHECK_EQ(pfault(shared_gpa(D), W), MMU_FAULT_FIXED);
		CHECK_EQ(pfault(priv_gpa(E), W), MMU_FAULT_FIXED);
		u64 aleaf = mirror_leaf(A), dleaf = direct_leaf(D), eleaf = mirror_leaf(E);
		u32 from = pf.nlog;

		CHECK_EQ(mmu_private_convert(&fx.mmu, A, 3, false), 0); /* A, B stay; C changes */
		CHECK_EQ(mirror_leaf(A), aleaf);
		CHECK_EQ(*(u64 *)phys_to_virt(ram_hpa(B)), mb);
		CHECK(!direct_leaf(C) && frame_is_zero(ram_hpa(C)));
		CHECK_EQ(direct_leaf(D), dleaf);
		CHECK_EQ(fx.mmu.priv.stats.to_private, 1);
		CHECK_EQ(pf_count(from, PF_SET, INVALID_HPA) + pf_count(from, PF_REMOVE, INVALID_HPA), 0);
		CHECK_EQ(pf_count(from, PF_ZAP, INVALID_HPA), 1);

		from = pf.nlog;
		CHECK_EQ(mmu_private_convert(&fx.mmu, D, 2, true), 0); /* D stays; E changes */
		CHECK_EQ(direct_leaf(D), dleaf);
		CHECK_EQ(*(u64 *)phys_to_virt(ram_hpa(D)), md);
		CHECK(!mirror_leaf(E) && frame_is_zero(ram_hpa(E)));
		CHECK_EQ(mirror_leaf(A), aleaf);
		CHECK(eleaf);
		CHECK_EQ(pf_count(from, PF_REMOVE, INVALID_HPA), 1);
		CHECK_EQ(pf_count(from, PF_REMOVE, ram_hpa(E)), 1);
		CHECK_EQ(fx.mmu.priv.stats.to_shared, 2 + 1);
		/* The same conversion again changes nothing at all. */
		from = pf.nlog;
		u64 flushes = pf.flushes;
		CHECK_EQ(mmu_private_convert(&fx.mmu, D, 2, true), 0);
		CHECK_EQ(pf.nlog, from);
		CHECK_EQ(pf.flushes, flushes);
		CHECK_EQ(fx.mmu.priv.stats.to_shared, 3);
		priv_teardown();
	}
}

/* Refused conversions change nothing: not all RAM (-EFAULT), an empty or overflowing range, the shared bit in the
 * range, a VM that is not private (-EINVAL). */
TEST(private_convert_refusals_change_nothing)
{
	const struct pt_format *f;
	const gfn_t last = RAM_PAGES - 1;

	for_each_format(f) {
		priv_setup(f);
		CHECK_EQ(pfault(priv_gpa(last), W), MMU_FAULT_FIXED);
		u64 leaf = mirror_leaf(last);
		u32 from = pf.nlog;

		CHECK_EQ(mmu_private_convert(&fx.mmu, last, 2, true), -EFAULT);
		CHECK_EQ(mmu_private_convert(&fx.mmu, RAM_PAGES, 1, true), -EFAULT);
		CHECK_EQ(mmu_private_convert(&fx.mmu, 0, RAM_PAGES + 1, true), -EFAULT);
		CHECK_EQ(mmu_private_convert(&fx.mmu, last, 0, true), -EINVAL);
		CHECK_EQ(mmu_private_convert(&fx.mmu, ~0ULL - 1, 4, true), -EINVAL);
		CHECK_EQ(mmu_private_convert(&fx.mmu, last | SHARED_GFN, 1, true), -EINVAL);
		CHECK_EQ(mmu_private_convert(&fx.mmu, SHARED_GFN - 1, 2, true), -EINVAL);
		CHECK_EQ(mmu_private_convert(&fx.mmu, last, ~0ULL, true), -EINVAL);
		CHECK_EQ(pf.nlog, from);
		CHECK_EQ(mirror_leaf(last), leaf);
		CHECK(mmu_gfn_is_private(&fx.mmu, last));
		CHECK(mmu_gfn_is_private(&fx.mmu, 0));
		CHECK_EQ(fx.mmu.priv.stats.to_shared, 0);
		priv_teardown();

		priv_setup_shared_only(f);
		CHECK_EQ(mmu_private_convert(&fx.mmu, 0, 1, true), -EINVAL);
		CHECK_EQ(mmu_private_convert(&fx.mmu, 0, 1, false), -EINVAL);
		priv_teardown();
	}
}

/* Invalidating every root leaves the mirror and its leaves alone (no hook runs); the direct roots go obsolete, and
 * the next one a vCPU loads becomes hw_top's shared half. */
TEST(private_invalidate_all_roots_keeps_the_mirror)
{
	const struct pt_format *f;
	const gfn_t P = 0x90, S = 0x91;

	for_each_format(f) {
		priv_setup(f);
		struct mmu_root *mirror = fx.mmu.priv.mirror, *old = fx.vcpu.current;
		u64 *hw = top_of(fx.mmu.priv.hw_top);

		CHECK_EQ(mmu_private_convert(&fx.mmu, S, 1, true), 0);
		CHECK_EQ(pfault(priv_gpa(P), W), MMU_FAULT_FIXED);
		CHECK_EQ(pfault(shared_gpa(S), W), MMU_FAULT_FIXED);
		u64 pleaf = mirror_leaf(P), hw0 = hw[0];
		u32 from = pf.nlog;

		mmu_invalidate_all_roots(&fx.mmu);
		CHECK(!mmu_root_is_obsolete(&fx.mmu, mirror));
		CHECK(mmu_root_is_obsolete(&fx.mmu, old));
		CHECK_EQ(fx.root_requests, 1);
		CHECK(fx.mmu.priv.mirror == mirror);
		CHECK_EQ(mirror_leaf(P), pleaf);
		CHECK_EQ(hw[0], hw0);
		CHECK_EQ(pf_count(from, PF_REMOVE, INVALID_HPA) + pf_count(from, PF_FREE_SPT, INVALID_HPA), 0);
		CHECK_EQ(pfault(priv_gpa(P), R), MMU_FAULT_SPURIOUS); /* the mirror serves on */
		CHECK_EQ(pfault(shared_gpa(S), R), MMU_FAULT_RETRY);  /* the direct root does not */

		/* The vCPU drops the old root, which takes its entries out of hw_top; its next root replaces them. */
		CHECK(mmu_vcpu_free_obsolete_roots(&fx.mmu, &fx.vcpu));
		CHECK_EQ(hw[1], 0);
		CHECK_EQ(hw_translate(shared_gpa(S)), INVALID_HPA);
		CHECK(!fx.mmu.priv.shared_root);
		CHECK_EQ(mmu_load_root(&fx.mmu, &fx.vcpu, NULL), 0);
		CHECK(fx.vcpu.current != mirror);
		CHECK(fx.mmu.priv.shared_root == fx.vcpu.current);
		CHECK_EQ(pfault(shared_gpa(S), W), MMU_FAULT_FIXED);
		CHECK_EQ(hw[1], top_of(fx.vcpu.current->hpa)[0]);
		CHECK_EQ(hw_translate(shared_gpa(S)), ram_hpa(S));
		CHECK_EQ(hw_translate(priv_gpa(P)), ram_hpa(P));
		CHECK_EQ(pf_count(from, PF_SET, INVALID_HPA), 0);
		priv_teardown();
	}
}

/* Each filter zaps exactly the trees it names, and only the range. */
TEST(private_zap_filter_names_the_trees)
{
	const struct pt_format *f;
	const gfn_t P = 0x100, S = 0x101, P2 = 0x180;

	for_each_format(f) {
		priv_setup(f);
		hpa_t pframe = ram_hpa(P);

		CHECK_EQ(mmu_private_convert(&fx.mmu, S, 1, true), 0);
		CHECK_EQ(pfault(priv_gpa(P), W), MMU_FAULT_FIXED);
		CHECK_EQ(pfault(shared_gpa(S), W), MMU_FAULT_FIXED);
		CHECK_EQ(pfault(priv_gpa(P2), W), MMU_FAULT_FIXED);
		u64 p2leaf = mirror_leaf(P2);
		u32 from = pf.nlog;

		mmu_zap_gfn_range_filter(&fx.mmu, P, S + 1, MMU_ZAP_PRIVATE);
		CHECK(!mirror_leaf(P) && direct_leaf(S));
		CHECK_EQ(mirror_leaf(P2), p2leaf);
		CHECK_EQ(pf_count(from, PF_REMOVE, INVALID_HPA), 1);
		CHECK(pf_find(from, PF_FLUSH, INVALID_HPA) < pf_find(from, PF_REMOVE, pframe));
		CHECK(frame_is_zero(pframe));
		CHECK(mmu_gfn_is_private(&fx.mmu, P)); /* a zap changes no kind */

		CHECK_EQ(pfault(priv_gpa(P), W), MMU_FAULT_FIXED);
		from = pf.nlog;
		mmu_zap_gfn_range_filter(&fx.mmu, P, S + 1, MMU_ZAP_SHARED);
		CHECK(mirror_leaf(P) && !direct_leaf(S));
		CHECK_EQ(pf_count(from, PF_REMOVE, INVALID_HPA), 0);
		CHECK_EQ(pf_count(from, PF_ZAP, INVALID_HPA), 1);

		CHECK_EQ(pfault(shared_gpa(S), W), MMU_FAULT_FIXED);
		from = pf.nlog;
		mmu_zap_gfn_range_filter(&fx.mmu, P, S + 1, MMU_ZAP_ALL);
		CHECK(!mirror_leaf(P) && !direct_leaf(S));
		CHECK_EQ(mirror_leaf(P2), p2leaf);
		CHECK_EQ(pf_count(from, PF_REMOVE, INVALID_HPA), 1);
		CHECK_EQ(pf_count(from, PF_ZAP, INVALID_HPA), 2);

		/* The unfiltered zap is the ALL filter. */
		CHECK_EQ(pfault(priv_gpa(P), W), MMU_FAULT_FIXED);
		CHECK_EQ(pfault(shared_gpa(S), W), MMU_FAULT_FIXED);
		from = pf.nlog;
		mmu_zap_gfn_range(&fx.mmu, P, S + 1);
		CHECK(!mirror_leaf(P) && !direct_leaf(S));
		CHECK_EQ(pf_count(from, PF_REMOVE, INVALID_HPA), 1);
		CHECK_EQ(mirror_leaf(P2), p2leaf);
		priv_teardown();
	}
}

struct spt {
	hpa_t table;
	int level;
};

/* The mirror's tables below its top, by a walk (its entries' level each). */
static unsigned int mirror_tables(struct spt *out, unsigned int max)
{
	struct pt_iter iter;
	unsigned int n = 0;

	for_each_tdp_pte(iter, &fx.mmu, fx.mmu.priv.mirror, 0, RAM_PAGES) {
		if (spte_is_present(iter.old_spte) && !spte_is_leaf(iter.old_spte, iter.level)) {
			CHECK(n < max);
			out[n].table = iter.old_spte & PT_ADDR_MASK;
			out[n++].level = iter.level - 1;
		}
	}
	return n;
}

/* The VM's end: every private frame goes through remove_external_spte exactly once (none left out of the direct
 * map), after a flush that followed its set; every table of the mirror through free_external_spt. More leaves than
 * one scrub batch, over two last-level tables. */
TEST(private_destroy_gives_every_frame_back)
{
	const struct pt_format *f;
	static hpa_t frames[RAM_PAGES];

	for_each_format(f) {
		struct spt spts[8];
		unsigned int nspt, nframes = 0;

		priv_setup(f);
		CHECK_EQ(mmu_private_convert(&fx.mmu, 300, 10, true), 0);
		for (gfn_t g = 0; g < RAM_PAGES; g += 3) {
			if (g >= 300 && g < 310) {
				CHECK_EQ(pfault(shared_gpa(g), W), MMU_FAULT_FIXED);
				continue;
			}
			CHECK_EQ(pfault(priv_gpa(g), W), MMU_FAULT_FIXED);
			frames[nframes++] = ram_hpa(g);
		}
		CHECK(nframes > 2 * MMU_SCRUB_BATCH);
		nspt = mirror_tables(spts, ARRAY_SIZE(spts));
		CHECK_EQ(nspt, 4); /* level 3, level 2, two of level 1 */
		u32 from = pf.nlog;

		mmu_vcpu_put_roots(&fx.mmu, &fx.vcpu);
		priv_teardown();
		CHECK_EQ(pf_count(from, PF_REMOVE, INVALID_HPA), nframes);
		for (unsigned int i = 0; i < nframes; i++) {
			u32 set = pf_find(0, PF_SET, frames[i]), rm = pf_find(from, PF_REMOVE, frames[i]);

			CHECK_EQ(pf_count(from, PF_REMOVE, frames[i]), 1);
			CHECK(set != ~0u && rm != ~0u);
			CHECK(pf.log[rm].flushes > pf.log[set].flushes);
		}
		CHECK_EQ(pf_count(from, PF_FREE_SPT, INVALID_HPA), nspt);
		for (unsigned int i = 0; i < nspt; i++) {
			u32 e = pf_find(from, PF_FREE_SPT, spts[i].table);

			CHECK(e != ~0u);
			CHECK_EQ(pf.log[e].level, spts[i].level);
		}
		CHECK_EQ(fx.mmu.priv.stats.external_removed, nframes);
		CHECK_EQ(fx.mmu.priv.stats.external_tables_freed, nspt);
		CHECK(!fx.mmu.priv.enabled && !fx.mmu.priv.mirror);
	}
}

/* A conversion of more private pages than one scrub batch: each frame still goes back once, after a flush. */
TEST(private_convert_more_than_a_scrub_batch)
{
	const struct pt_format *f;

	for_each_format(f) {
		priv_setup(f);
		for (gfn_t g = 0; g < 3 * MMU_SCRUB_BATCH; g++)
			CHECK_EQ(pfault(priv_gpa(g), W), MMU_FAULT_FIXED);
		u32 from = pf.nlog;

		CHECK_EQ(mmu_private_convert(&fx.mmu, 0, 3 * MMU_SCRUB_BATCH, true), 0);
		CHECK_EQ(pf_count(from, PF_REMOVE, INVALID_HPA), 3 * MMU_SCRUB_BATCH);
		for (gfn_t g = 0; g < 3 * MMU_SCRUB_BATCH; g++) {
			hpa_t fr = ram_hpa(g);
			u32 set = pf_find(0, PF_SET, fr), rm = pf_find(from, PF_REMOVE, fr);

			CHECK_EQ(pf_count(from, PF_REMOVE, fr), 1);
			CHECK(pf.log[rm].flushes > pf.log[set].flushes);
			CHECK(!mirror_leaf(g));
			CHECK(frame_readable(fr));
		}
		CHECK_EQ(fx.mmu.priv.nr_scrub_pending, 0);
		priv_teardown();
	}
}

/* Reclaim reads a chunk to see whether it is all zero and zaps its leaves, the mirror's too: in a private VM it would
 * read frames out of the direct map and lose private contents (a zapped private page comes back zeroed). Refused. */
TEST(private_vm_refuses_reclaim)
{
	const struct pt_format *f;
	const gfn_t P = 5;

	for_each_format(f) {
		priv_setup(f);
		mmu_enable_reclaim(&fx.mmu);
		CHECK_EQ(pfault(priv_gpa(P), W), MMU_FAULT_FIXED); /* the chunk is clean and reads zero but for P */
		u64 leaf = mirror_leaf(P);
		u32 from = pf.nlog;

		CHECK_EQ(mmu_reclaim_chunk(&fx.mmu, P), -EINVAL);
		CHECK_EQ(mmu_reclaim_chunk(&fx.mmu, M2), -EINVAL);
		CHECK_EQ(pf.nlog, from);
		CHECK_EQ(mirror_leaf(P), leaf);
		CHECK(!frame_readable(ram_hpa(P)));
		priv_teardown();
	}
}

/* The hypervisor's own accesses (device models, hypercalls, the emulator): refused for a private page through either
 * view, before any byte moves; allowed for a shared page through either view. */
TEST(private_hypervisor_access_refused_for_private_pages)
{
	const struct pt_format *f;
	const u64 v = 0x1122334455667788ULL;
	const gfn_t P = 0x42;
	u64 got;

	for_each_format(f) {
		priv_setup(f);
		CHECK_EQ(loader_write(P, &v, sizeof(v)), 0);
		CHECK_EQ(mmu_read_gpa(&fx.mmu, priv_gpa(P), &got, sizeof(got)), -EACCES);
		CHECK_EQ(mmu_read_gpa(&fx.mmu, priv_gpa(P) | (1ULL << fx.mmu.priv.shared_bit), &got, sizeof(got)),
			 -EACCES);
		CHECK_EQ(mmu_write_gpa(&fx.mmu, NULL, priv_gpa(P), &v, sizeof(v)), -EACCES);
		CHECK_EQ(mmu_cmpxchg_gpa(&fx.mmu, NULL, priv_gpa(P), v, 0, 8, NULL), -EACCES);
		/* A read that starts on a shared page and ends on a private one moves nothing. */
		CHECK_EQ(mmu_private_convert(&fx.mmu, P - 1, 1, true), 0);
		got = 0xabababababababab;
		CHECK_EQ(mmu_read_gpa(&fx.mmu, priv_gpa(P) - 4, &got, sizeof(got)), -EACCES);
		CHECK_EQ(got, 0xabababababababab);
		CHECK_EQ(fx.mmu.priv.stats.refused >= 5, 1);
		/* Shared: through either view. */
		CHECK_EQ(mmu_private_convert(&fx.mmu, P, 1, true), 0);
		CHECK_EQ(mmu_write_gpa(&fx.mmu, NULL, priv_gpa(P) | (1ULL << fx.mmu.priv.shared_bit), &v, sizeof(v)), 0);
		CHECK_EQ(mmu_read_gpa(&fx.mmu, priv_gpa(P), &got, sizeof(got)), 0);
		CHECK_EQ(got, v);
		priv_teardown();
	}
}
