/* Unit tests that every writer of guest memory besides mmu_write_gpa honours write tracking: mmu_cmpxchg_gpa (the
 * emulator's locked instructions) and, through it, the guest page walker's A/D updates (mm/shadow/gwalk.c), which
 * must reach the notifiers as writes to the guest PTE, and fail as gwalk.h documents when a notifier refuses. */
#include "mm/shadow/gwalk.h"
#include "tdp_mmu_fixture.h"

static int vcpu_token;


static u64 read_u64(gpa_t gpa)
{
	u64 v = 0;

	CHECK_EQ(mmu_read_gpa(&fx.mmu, gpa, &v, 8), 0);
	return v;
}

static void write_u64(gpa_t gpa, u64 v)
{
	CHECK_EQ(mmu_write_gpa(&fx.mmu, NULL, gpa, &v, 8), 0);
}

static unsigned int write_hooks(void)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < track_nevs; i++)
		n += track_evs[i].kind == TRACK_EV_WRITE;
	return n;
}

TEST(track_cmpxchg_success_notifies_with_new_value)
{
	const struct pt_format *f;
	const u64 old = 0x1111222233334444ULL, new = 0xaaaabbbbccccddddULL;
	static const struct {
		unsigned int off, len;
	} cases[] = {{0x40, 8}, {0x48, 4}, {0x4c, 2}, {0x4e, 1}};

	for_each_format(f) {
		setup_notifiers(f);
		gpa_t base = gpa_of(3);
		write_u64(base + 0x40, old);
		write_u64(base + 0x48, old);
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, 3), 0);
		for (unsigned int i = 0; i < ARRAY_SIZE(cases); i++) {
			gpa_t gpa = base + cases[i].off;
			unsigned int len = cases[i].len;
			u64 mask = len == 8 ? ~0ULL : (1ULL << (8 * len)) - 1, cur = 0x5a5a, was = 0;

			CHECK_EQ(mmu_read_gpa(&fx.mmu, gpa, &was, len), 0);
			track_nevs = 0;
			CHECK_EQ(mmu_cmpxchg_gpa(&fx.mmu, &vcpu_token, gpa, was, new & mask, len, &cur), 0);
			CHECK_EQ(cur, 0x5a5a); /* only a failure reports the current value */
			/* Little-endian: the first len bytes of new are the value written. */
			CHECK_EQ(track_nevs, 4);
			check_track_ev(0, 1, TRACK_EV_PRE_WRITE, &vcpu_token, gpa, len, &new, &was);
			check_track_ev(1, 2, TRACK_EV_PRE_WRITE, &vcpu_token, gpa, len, &new, &was);
			check_track_ev(2, 1, TRACK_EV_WRITE, &vcpu_token, gpa, len, &new, &new);
			check_track_ev(3, 2, TRACK_EV_WRITE, &vcpu_token, gpa, len, &new, &new);
			u64 now = 0;
			CHECK_EQ(mmu_read_gpa(&fx.mmu, gpa, &now, len), 0);
			CHECK_EQ(now, new & mask);
		}
		CHECK_EQ(fx.mmu.stats.tracked_writes, 4);
		/* Untracked: replaced, nobody told. */
		write_u64(gpa_of(4), old);
		track_nevs = 0;
		CHECK_EQ(mmu_cmpxchg_gpa(&fx.mmu, &vcpu_token, gpa_of(4), old, new, 8, NULL), 0);
		CHECK_EQ(read_u64(gpa_of(4)), new);
		CHECK_EQ(track_nevs, 0);
		teardown_expecting_remove_region(rec_both, 2);
	}
}

/* A compare that fails: -EAGAIN, the current value in *cur, memory unchanged, no write reported as done. */
TEST(track_cmpxchg_failure_reports_current_value_and_no_write)
{
	const struct pt_format *f;
	const u64 val = 0x0123456789abcdefULL;

	for_each_format(f) {
		setup_notifiers(f);
		write_u64(gpa_of(3) + 8, val);
		write_u64(gpa_of(4) + 8, val);
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, 3), 0);
		u64 cur = 0;
		track_nevs = 0;
		CHECK_EQ(mmu_cmpxchg_gpa(&fx.mmu, &vcpu_token, gpa_of(3) + 8, val + 1, 42, 8, &cur), -EAGAIN);
		CHECK_EQ(cur, val);
		CHECK_EQ(read_u64(gpa_of(3) + 8), val);
		CHECK_EQ(write_hooks(), 0);
		cur = 0;
		CHECK_EQ(mmu_cmpxchg_gpa(&fx.mmu, &vcpu_token, gpa_of(3) + 10, 0, 42, 2, &cur), -EAGAIN);
		CHECK_EQ(cur, (val >> 16) & 0xffff);
		CHECK_EQ(write_hooks(), 0);
		CHECK_EQ(fx.mmu.stats.tracked_writes, 0);
		/* cur may be NULL. */
		CHECK_EQ(mmu_cmpxchg_gpa(&fx.mmu, NULL, gpa_of(3) + 8, 0, 42, 8, NULL), -EAGAIN);
		CHECK_EQ(write_hooks(), 0);
		/* Untracked: the same, without any notifier. */
		track_nevs = 0;
		cur = 0;
		CHECK_EQ(mmu_cmpxchg_gpa(&fx.mmu, NULL, gpa_of(4) + 8, 1, 42, 4, &cur), -EAGAIN);
		CHECK_EQ(cur, val & 0xffffffff);
		CHECK_EQ(track_nevs, 0);
		CHECK_EQ(read_u64(gpa_of(4) + 8), val);
		teardown_expecting_remove_region(rec_both, 2);
	}
}

TEST(track_cmpxchg_refused_leaves_memory)
{
	const struct pt_format *f;
	const u64 val = 0x0123456789abcdefULL;

	for_each_format(f) {
		setup_notifiers(f);
		write_u64(gpa_of(3) + 16, val);
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, 3), 0);
		rec_a.verdict = TRACK_WRITE_DENY;
		u64 cur = 77;
		CHECK_EQ(mmu_cmpxchg_gpa(&fx.mmu, &vcpu_token, gpa_of(3) + 16, val, 42, 8, &cur), -EPERM);
		CHECK_EQ(cur, 77);
		CHECK_EQ(read_u64(gpa_of(3) + 16), val);
		CHECK_EQ(track_nevs, 1); /* A refused; B was not asked */
		check_track_ev(0, 1, TRACK_EV_PRE_WRITE, &vcpu_token, gpa_of(3) + 16, 8, &(u64){42}, &val);
		CHECK_EQ(fx.mmu.stats.tracked_writes_refused, 1);
		CHECK_EQ(fx.mmu.stats.tracked_writes, 0);
		/* Arguments it refuses before anyone is asked. */
		track_nevs = 0;
		CHECK_EQ(mmu_cmpxchg_gpa(&fx.mmu, NULL, gpa_of(3) + 17, val, 42, 8, NULL), -EINVAL);
		CHECK_EQ(mmu_cmpxchg_gpa(&fx.mmu, NULL, gpa_of(3) + 16, val, 42, 3, NULL), -EINVAL);
		CHECK_EQ(mmu_cmpxchg_gpa(&fx.mmu, NULL, gpa_of(2 * M2), 0, 42, 8, NULL), -EFAULT);
		CHECK_EQ(track_nevs, 0);
		rec_a.verdict = TRACK_WRITE_ALLOW;
		teardown_expecting_remove_region(rec_both, 2);
	}
}

/* ---- the guest page walker's A/D updates ---- */

static int walk_read(void *opaque, gpa_t gpa, void *buf, unsigned int len)
{
	return mmu_read_gpa(&fx.mmu, gpa, buf, len);
}

/* The vCPU's walk: opaque is the vCPU, handed to the notifiers as the writer. */
static int walk_cmpxchg(void *opaque, gpa_t gpa, u64 old, u64 new, unsigned int len)
{
	return mmu_cmpxchg_gpa(&fx.mmu, opaque, gpa, old, new, len, NULL);
}

static const struct gwalk_ops walk_ops = {.read_gpa = walk_read, .cmpxchg_gpa = walk_cmpxchg};
static const struct gwalk_mode long_mode = {
    .pg = true, .wp = true, .pae = true, .lma = true, .nxe = true, .maxphyaddr = 40};

/* A 4-level guest table in guest RAM: PML4 at gfn 1, PDPT at 2, PD at 3, PT at 4; gva GVA maps gfn 10 through
 * PT entry 5, and GVA2 (PD entry 3) maps gfn 11 through entry 0 of a PT at gfn 5. No A or D bits anywhere. */
#define GVA	  ((2ULL << 21) | (5ULL << 12) | 0x123)
#define GVA2	  (3ULL << 21)
#define ENTRY	  (GPTE_P | GPTE_RW | GPTE_US)
#define PTE_GPA	  (gpa_of(4) + 5 * 8)
#define PDE2_GPA  (gpa_of(3) + 3 * 8)

static void build_guest_tables(void)
{
	write_u64(gpa_of(1), gpa_of(2) | ENTRY);
	write_u64(gpa_of(2), gpa_of(3) | ENTRY);
	write_u64(gpa_of(3) + 2 * 8, gpa_of(4) | ENTRY);
	write_u64(PTE_GPA, gpa_of(10) | ENTRY);
	write_u64(PDE2_GPA, gpa_of(5) | ENTRY);
	write_u64(gpa_of(5), gpa_of(11) | ENTRY);
}

TEST(track_gwalk_ad_update_reaches_notifiers)
{
	const struct pt_format *f;
	struct gwalk_result res;

	for_each_format(f) {
		setup_notifiers(f);
		build_guest_tables();
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, 4), 0); /* the PT, as the shadow MMU would */
		track_nevs = 0;
		CHECK_EQ(gwalk(&long_mode, gpa_of(1), GVA, GWALK_WRITE, &walk_ops, &vcpu_token, &res), 0);
		CHECK_EQ(res.fault, GWALK_FAULT_NONE);
		CHECK_EQ(res.gpa, gpa_of(10) | 0x123);
		CHECK_EQ(res.pte_gpa[1], PTE_GPA);
		/* Only the tracked page's update is reported: A and D on the leaf, as one 8-byte write by the vCPU. */
		u64 old = gpa_of(10) | ENTRY, new = old | GPTE_A | GPTE_D;
		CHECK_EQ(track_nevs, 4);
		check_track_ev(0, 1, TRACK_EV_PRE_WRITE, &vcpu_token, PTE_GPA, 8, &new, &old);
		check_track_ev(1, 2, TRACK_EV_PRE_WRITE, &vcpu_token, PTE_GPA, 8, &new, &old);
		check_track_ev(2, 1, TRACK_EV_WRITE, &vcpu_token, PTE_GPA, 8, &new, &new);
		check_track_ev(3, 2, TRACK_EV_WRITE, &vcpu_token, PTE_GPA, 8, &new, &new);
		CHECK_EQ(read_u64(PTE_GPA), new);
		CHECK_EQ(read_u64(gpa_of(3) + 2 * 8), gpa_of(4) | ENTRY | GPTE_A); /* untracked levels got A too */
		CHECK_EQ(read_u64(gpa_of(1)), gpa_of(2) | ENTRY | GPTE_A);
		CHECK_EQ(fx.mmu.stats.tracked_writes, 1);

		/* Bits already set: no update, nothing reported. */
		track_nevs = 0;
		CHECK_EQ(gwalk(&long_mode, gpa_of(1), GVA, GWALK_WRITE, &walk_ops, &vcpu_token, &res), 0);
		CHECK_EQ(res.fault, GWALK_FAULT_NONE);
		CHECK_EQ(track_nevs, 0);

		/* The PD tracked: a read walk through PD entry 3 reports A on that PDE; its PT is not tracked. */
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, 3), 0);
		CHECK_EQ(gwalk(&long_mode, gpa_of(1), GVA2, 0, &walk_ops, &vcpu_token, &res), 0);
		CHECK_EQ(res.gpa, gpa_of(11));
		old = gpa_of(5) | ENTRY;
		new = old | GPTE_A;
		CHECK_EQ(track_nevs, 4);
		check_track_ev(0, 1, TRACK_EV_PRE_WRITE, &vcpu_token, PDE2_GPA, 8, &new, &old);
		check_track_ev(3, 2, TRACK_EV_WRITE, &vcpu_token, PDE2_GPA, 8, &new, &new);
		CHECK_EQ(read_u64(gpa_of(5)), gpa_of(11) | ENTRY | GPTE_A); /* a read sets no D */
		teardown_expecting_remove_region(rec_both, 2);
	}
}

/* A refused A/D update: gwalk fails with the callback's error (gwalk.h), -EPERM, and the PTE keeps its bits. */
TEST(track_gwalk_refused_ad_update_fails_walk)
{
	const struct pt_format *f;
	struct gwalk_result res;

	for_each_format(f) {
		setup_notifiers(f);
		build_guest_tables();
		CHECK_EQ(mmu_track_add_gfn(&fx.mmu, 4), 0);
		rec_a.verdict = TRACK_WRITE_DENY;
		track_nevs = 0;
		CHECK_EQ(gwalk(&long_mode, gpa_of(1), GVA, GWALK_WRITE, &walk_ops, &vcpu_token, &res), -EPERM);
		u64 old = gpa_of(10) | ENTRY, new = old | GPTE_A | GPTE_D;
		CHECK_EQ(track_nevs, 1);
		check_track_ev(0, 1, TRACK_EV_PRE_WRITE, &vcpu_token, PTE_GPA, 8, &new, &old);
		CHECK_EQ(read_u64(PTE_GPA), old);
		CHECK_EQ(fx.mmu.stats.tracked_writes_refused, 1);
		CHECK_EQ(fx.mmu.stats.tracked_writes, 0);
		/* The walk updates top-down, so the untracked levels above had their A set before the refusal. */
		CHECK_EQ(read_u64(gpa_of(3) + 2 * 8), gpa_of(4) | ENTRY | GPTE_A);
		/* Refused every time: no retry loop, the same error. */
		track_nevs = 0;
		CHECK_EQ(gwalk(&long_mode, gpa_of(1), GVA, 0, &walk_ops, &vcpu_token, &res), -EPERM);
		CHECK_EQ(track_nevs, 1);
		CHECK_EQ(read_u64(PTE_GPA), old);
		/* Allowed again: the walk completes and the bits land. */
		rec_a.verdict = TRACK_WRITE_ALLOW;
		CHECK_EQ(gwalk(&long_mode, gpa_of(1), GVA, GWALK_WRITE, &walk_ops, &vcpu_token, &res), 0);
		CHECK_EQ(res.fault, GWALK_FAULT_NONE);
		CHECK_EQ(read_u64(PTE_GPA), new);
		teardown_expecting_remove_region(rec_both, 2);
	}
}
