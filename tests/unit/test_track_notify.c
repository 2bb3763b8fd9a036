/* Unit tests of the write-tracking notifiers as mmu_write_gpa drives them (mm/mmu_access.c): every pre_write before
 * the bytes land, every write hook after, in registration order, with the accessor, the gpa and the bytes of each
 * tracked page; untracked pages reach no one; a refusing notifier drops the write; and mmu_destroy tells every
 * notifier of every slot's removal. Guest memory is real (real_ram) and read back. */
#include "tdp_mmu_fixture.h"

static int vcpu_token; /* stands for the vCPU whose write it is */


static void fill(u8 *buf, unsigned int len, u8 seed)
{
	for (unsigned int i = 0; i < len; i++)
		buf[i] = (u8)(seed + i * 7);
}

static void check_mem(gpa_t gpa, const void *expect, unsigned int len)
{
	u8 buf[3 * PAGE_SIZE];

	CHECK(len <= sizeof(buf));
	CHECK_EQ(mmu_read_gpa(&fx.mmu, gpa, buf, len), 0);
	CHECK(memcmp(buf, expect, len) == 0);
}

TEST(track_write_calls_pre_write_then_write_in_order)
{
	const struct pt_format *f;
	static const u8 zero[16];
	u8 data[16];

	for_each_format(f) {
		setup_notifiers(f);
		fill(data, sizeof(data), 0x31);
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, 3), 0);
		gpa_t gpa = gpa_of(3) + 0x10;
		CHECK_EQ(mmu_write_gpa(&fx.mmu, &vcpu_token, gpa, data, sizeof(data)), 0);
		/* pre_write saw the old bytes in memory, write the new ones. */
		CHECK_EQ(track_nevs, 4);
		check_track_ev(0, 1, TRACK_EV_PRE_WRITE, &vcpu_token, gpa, 16, data, zero);
		check_track_ev(1, 2, TRACK_EV_PRE_WRITE, &vcpu_token, gpa, 16, data, zero);
		check_track_ev(2, 1, TRACK_EV_WRITE, &vcpu_token, gpa, 16, data, data);
		check_track_ev(3, 2, TRACK_EV_WRITE, &vcpu_token, gpa, 16, data, data);
		check_mem(gpa, data, sizeof(data));
		CHECK_EQ(fx.mmu.stats.tracked_writes, 1);
		CHECK_EQ(fx.mmu.stats.tracked_writes_refused, 0);

		/* The hypervisor's own write: who is NULL. */
		track_nevs = 0;
		CHECK_EQ(mmu_write_gpa(&fx.mmu, NULL, gpa_of(3), data, 1), 0);
		CHECK_EQ(track_nevs, 4);
		check_track_ev(0, 1, TRACK_EV_PRE_WRITE, NULL, gpa_of(3), 1, data, NULL);
		check_track_ev(3, 2, TRACK_EV_WRITE, NULL, gpa_of(3), 1, data, data);

		/* Untracked pages: nobody hears of it, but the write lands. */
		track_nevs = 0;
		CHECK_EQ(mmu_write_gpa(&fx.mmu, &vcpu_token, gpa_of(4), data, sizeof(data)), 0);
		CHECK_EQ(mmu_write_gpa(&fx.mmu, &vcpu_token, gpa_of(M2 + 3), data, sizeof(data)), 0);
		CHECK_EQ(track_nevs, 0);
		check_mem(gpa_of(4), data, sizeof(data));
		check_mem(gpa_of(M2 + 3), data, sizeof(data));
		CHECK_EQ(fx.mmu.stats.tracked_writes, 2);

		/* A page whose tracking ended: silent again. */
		CHECK_EQ(mmu_track_remove_gfn(&fx.mmu, 3), 0);
		CHECK_EQ(mmu_write_gpa(&fx.mmu, &vcpu_token, gpa, zero, sizeof(zero)), 0);
		CHECK_EQ(track_nevs, 0);
		check_mem(gpa, zero, sizeof(zero));
		teardown_expecting_remove_region(rec_both, 2);
	}
}

/* A write is reported page by page, and only for its tracked pages, with the bytes that fall in each. */
TEST(track_write_across_pages_is_reported_per_tracked_page)
{
	const struct pt_format *f;
	u8 data[3 * PAGE_SIZE];

	for_each_format(f) {
		setup_notifiers(f);
		fill(data, sizeof(data), 0x55);
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, 5), 0);

		/* 12 bytes: 6 at the end of untracked gfn 4, 6 at the start of tracked gfn 5. */
		CHECK_EQ(mmu_write_gpa(&fx.mmu, &vcpu_token, gpa_of(5) - 6, data, 12), 0);
		CHECK_EQ(track_nevs, 4);
		check_track_ev(0, 1, TRACK_EV_PRE_WRITE, &vcpu_token, gpa_of(5), 6, data + 6, NULL);
		check_track_ev(1, 2, TRACK_EV_PRE_WRITE, &vcpu_token, gpa_of(5), 6, data + 6, NULL);
		check_track_ev(2, 1, TRACK_EV_WRITE, &vcpu_token, gpa_of(5), 6, data + 6, data + 6);
		check_track_ev(3, 2, TRACK_EV_WRITE, &vcpu_token, gpa_of(5), 6, data + 6, data + 6);
		check_mem(gpa_of(5) - 6, data, 12);

		/* The other way round: the tracked page first. */
		track_nevs = 0;
		CHECK_EQ(mmu_write_gpa(&fx.mmu, &vcpu_token, gpa_of(6) - 4, data + 100, 8), 0);
		CHECK_EQ(track_nevs, 4);
		check_track_ev(0, 1, TRACK_EV_PRE_WRITE, &vcpu_token, gpa_of(6) - 4, 4, data + 100, NULL);
		check_track_ev(3, 2, TRACK_EV_WRITE, &vcpu_token, gpa_of(6) - 4, 4, data + 100, data + 100);
		check_mem(gpa_of(6) - 4, data + 100, 8);

		/* Three pages, the middle one tracked: one report of the whole page. */
		track_nevs = 0;
		CHECK_EQ(mmu_write_gpa(&fx.mmu, &vcpu_token, gpa_of(4) + 8, data, 2 * PAGE_SIZE), 0);
		CHECK_EQ(track_nevs, 4);
		check_track_ev(0, 1, TRACK_EV_PRE_WRITE, &vcpu_token, gpa_of(5), PAGE_SIZE, data + PAGE_SIZE - 8, NULL);
		check_track_ev(2, 1, TRACK_EV_WRITE, &vcpu_token, gpa_of(5), PAGE_SIZE, data + PAGE_SIZE - 8, NULL);
		check_mem(gpa_of(4) + 8, data, 2 * PAGE_SIZE);

		/* Two tracked pages: each page goes through both notifiers before the next page starts. */
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, 6), 0);
		track_nevs = 0;
		CHECK_EQ(mmu_write_gpa(&fx.mmu, NULL, gpa_of(6) - 2, data + 7, 4), 0);
		CHECK_EQ(track_nevs, 8);
		check_track_ev(0, 1, TRACK_EV_PRE_WRITE, NULL, gpa_of(6) - 2, 2, data + 7, NULL);
		check_track_ev(1, 2, TRACK_EV_PRE_WRITE, NULL, gpa_of(6) - 2, 2, data + 7, NULL);
		check_track_ev(2, 1, TRACK_EV_WRITE, NULL, gpa_of(6) - 2, 2, data + 7, data + 7);
		check_track_ev(3, 2, TRACK_EV_WRITE, NULL, gpa_of(6) - 2, 2, data + 7, data + 7);
		check_track_ev(4, 1, TRACK_EV_PRE_WRITE, NULL, gpa_of(6), 2, data + 9, NULL);
		check_track_ev(5, 2, TRACK_EV_PRE_WRITE, NULL, gpa_of(6), 2, data + 9, NULL);
		check_track_ev(6, 1, TRACK_EV_WRITE, NULL, gpa_of(6), 2, data + 9, data + 9);
		check_track_ev(7, 2, TRACK_EV_WRITE, NULL, gpa_of(6), 2, data + 9, data + 9);
		CHECK_EQ(fx.mmu.stats.tracked_writes, 5);

		/* Not all of it RAM: -EFAULT before anything is written or reported. */
		track_nevs = 0;
		CHECK_EQ(mmu_write_gpa(&fx.mmu, NULL, gpa_of(2 * M2) - 4, data + 200, 8), -EFAULT);
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, 2 * M2 - 1), 0);
		CHECK_EQ(mmu_write_gpa(&fx.mmu, NULL, gpa_of(2 * M2) - 4, data + 200, 8), -EFAULT);
		CHECK_EQ(track_nevs, 0);
		teardown_expecting_remove_region(rec_both, 2);
	}
}

TEST(track_pre_write_deny_drops_write)
{
	const struct pt_format *f;
	static const u8 zero[16];
	u8 data[16], old[16];

	for_each_format(f) {
		setup_notifiers(f);
		fill(old, sizeof(old), 0x10);
		fill(data, sizeof(data), 0x90);
		CHECK_EQ(mmu_write_gpa(&fx.mmu, NULL, gpa_of(3), old, sizeof(old)), 0);
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, 3), 0);
		rec_a.verdict = TRACK_WRITE_DENY;
		CHECK_EQ(mmu_write_gpa(&fx.mmu, &vcpu_token, gpa_of(3), data, sizeof(data)), -EPERM);
		/* A refused: B was not asked, nothing landed, no write hook ran. */
		CHECK_EQ(track_nevs, 1);
		check_track_ev(0, 1, TRACK_EV_PRE_WRITE, &vcpu_token, gpa_of(3), 16, data, old);
		check_mem(gpa_of(3), old, sizeof(old));
		CHECK_EQ(fx.mmu.stats.tracked_writes_refused, 1);
		CHECK_EQ(fx.mmu.stats.tracked_writes, 0);

		/* B refuses: A was asked first, then B; still nothing written. */
		rec_a.verdict = TRACK_WRITE_ALLOW;
		rec_b.verdict = TRACK_WRITE_DENY;
		track_nevs = 0;
		CHECK_EQ(mmu_write_gpa(&fx.mmu, &vcpu_token, gpa_of(3) + 4, data, 4), -EPERM);
		CHECK_EQ(track_nevs, 2);
		check_track_ev(0, 1, TRACK_EV_PRE_WRITE, &vcpu_token, gpa_of(3) + 4, 4, data, old + 4);
		check_track_ev(1, 2, TRACK_EV_PRE_WRITE, &vcpu_token, gpa_of(3) + 4, 4, data, old + 4);
		check_mem(gpa_of(3), old, sizeof(old));
		CHECK_EQ(fx.mmu.stats.tracked_writes_refused, 2);

		/* Untracked pages are not refused. */
		track_nevs = 0;
		CHECK_EQ(mmu_write_gpa(&fx.mmu, &vcpu_token, gpa_of(9), data, sizeof(data)), 0);
		CHECK_EQ(track_nevs, 0);
		check_mem(gpa_of(9), data, sizeof(data));

		/* Across pages: writes.h reports (and refuses) per page, so the untracked page's bytes land and the
		 * refused page's do not; the caller hears -EPERM. */
		CHECK_EQ(mmu_write_gpa(&fx.mmu, NULL, gpa_of(3) - 8, zero, 8), 0);
		track_nevs = 0;
		CHECK_EQ(mmu_write_gpa(&fx.mmu, &vcpu_token, gpa_of(3) - 8, data, 16), -EPERM);
		check_mem(gpa_of(3) - 8, data, 8);
		check_mem(gpa_of(3), old, sizeof(old));
		CHECK_EQ(track_nevs, 2);
		check_track_ev(1, 2, TRACK_EV_PRE_WRITE, &vcpu_token, gpa_of(3), 8, data + 8, old);
		CHECK_EQ(fx.mmu.stats.tracked_writes_refused, 3);
		CHECK_EQ(fx.mmu.stats.tracked_writes, 0);
		rec_b.verdict = TRACK_WRITE_ALLOW;
		teardown_expecting_remove_region(rec_both, 2);
	}
}

/* Hooks are optional: a notifier with only a write hook hears writes and is never asked to refuse. */
TEST(track_notifier_hooks_are_optional)
{
	const struct pt_format *f;
	u8 data[8];

	for_each_format(f) {
		setup(f);
		real_ram(0, 2 * M2);
		track_rec_register(&rec_a, 1);
		static struct track_notifier bare; /* no hooks at all */
		memset(&bare, 0, sizeof(bare));
		mmu_track_register_notifier(&fx.mmu, &bare);
		track_rec_register(&rec_b, 2);
		rec_b.n.pre_write = NULL;
		track_nevs = 0;
		fill(data, sizeof(data), 1);
		rec_a.verdict = TRACK_WRITE_ALLOW;
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, 1), 0);
		CHECK_EQ(mmu_write_gpa(&fx.mmu, NULL, gpa_of(1), data, 8), 0);
		CHECK_EQ(track_nevs, 3);
		check_track_ev(0, 1, TRACK_EV_PRE_WRITE, NULL, gpa_of(1), 8, data, NULL);
		check_track_ev(1, 1, TRACK_EV_WRITE, NULL, gpa_of(1), 8, data, data);
		check_track_ev(2, 2, TRACK_EV_WRITE, NULL, gpa_of(1), 8, data, data);
		teardown_expecting_remove_region(rec_both, 2);
	}
}

/* mmu_destroy tells every notifier, in registration order, of every slot, in gfn order. */
TEST(track_remove_region_for_every_slot_at_destroy)
{
	const struct pt_format *f;

	for_each_format(f) {
		setup(f);
		real_ram(4 * M2, M2);
		real_ram(0, 2 * M2);
		real_ram(GIG, M2);
		track_rec_register(&rec_a, 1);
		track_rec_register(&rec_b, 2);
		track_nevs = 0;
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, GIG + 1), 0);
		teardown_expecting_remove_region(rec_both, 2);
		CHECK_EQ(track_nevs, 6);
		check_track_ev(0, 1, TRACK_EV_REMOVE_REGION, NULL, 0, 2 * M2, NULL, NULL);
		check_track_ev(1, 1, TRACK_EV_REMOVE_REGION, NULL, 4 * M2, M2, NULL, NULL);
		check_track_ev(2, 1, TRACK_EV_REMOVE_REGION, NULL, GIG, M2, NULL, NULL);
		check_track_ev(3, 2, TRACK_EV_REMOVE_REGION, NULL, 0, 2 * M2, NULL, NULL);
		check_track_ev(5, 2, TRACK_EV_REMOVE_REGION, NULL, GIG, M2, NULL, NULL);

		/* With nothing ever tracked, too. */
		setup(f);
		real_ram(0, M2);
		track_rec_register(&rec_a, 1);
		track_nevs = 0;
		teardown_expecting_remove_region(rec_both, 1);
		CHECK_EQ(track_nevs, 1);
	}
}
