/* Aging under real concurrency, for EPT with A/D, EPT without (access tracking) and NPT. Three threads on one TDP MMU
 * and one range of guest memory:
 *  - a vCPU (fake CPU 1) that accesses pages as the hardware does: it walks its root without any lock, sets A (and D
 *    on a write) with a compare-exchange where the leaf allows the access, and otherwise takes the fault
 *    (mmu_page_fault: the lockless fast path, else the locked one), reloading its root when told to; and now and
 *    then makes a dirty-log pass, so that clean writable leaves exist for its writes to dirty;
 *  - an ager (fake CPU 2) that ages and test-ages the range in a loop, without the lock;
 *  - this thread (CPU 0), under the lock: zaps, write tracking (splits huge leaves, write-protects, and collapses them
 *    again on release), and root invalidation (the vCPU's root is freed under the ager).
 * Afterwards: every write the vCPU made is still recorded (dirty log, or a dirty leaf), no leaf exists that the change
 * hook did not see appear (none resurrected), every leaf translates right, and every table went back. A table freed
 * under a walker would be read as poison (ASan build) or reported as a race with the poisoning (build/unit-tsan). */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "age_stress.h"
#include "stress.h"
#include "tdp_mmu_fixture.h"

#define RUN_MS	 700 /* at least, per format; and on until the minimums below are met, for at most 10x */
#define MIN_AGED 1000 /* leaves aged */
#define MIN_ACC_TRACK 500 /* access-tracked leaves restored (formats without A/D) */
#define WORK	 GIG /* the range: the first 8 MiB of the second 1G region, which the slot backs contiguously */
#define NWORK	 (4 * M2)
#define MAX_WP	 6 /* gfns this thread write-tracks at a time */
#define ACCESS_TRIES 10000

static struct {
	int stop;			  /* atomic */
	u8 written[NWORK];		  /* atomic: the vCPU wrote gfn WORK + i (set after the write was allowed) */
	int leaves[4][GIG];		  /* hook (under the lock): present leaves at [level][index in the 1G region] */
	u64 accesses, faults; /* each its thread's own; read after the join */
	u64 collections;
	u64 zaps, wps, invalidations;
	gfn_t wp[MAX_WP];
	unsigned int nwp;
} st;

static u64 rnd(u64 *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* The change hook's observer: counts present leaves as the hook sees them appear and go. */
static void count_leaves(gfn_t gfn, u64 old, u64 new, int level)
{
	int was = spte_is_present(old) && spte_is_leaf(old, level), is = spte_is_present(new) && spte_is_leaf(new, level);

	if (was == is)
		return;
	if (gfn < GIG || gfn >= 2 * GIG) {
		stress_fail("a leaf at gfn %#llx, outside the region faulted in", (unsigned long long)gfn);
		return;
	}
	st.leaves[level][(gfn - GIG) / pt_level_pages(level)] += is - was;
}

/* One access by the "hardware": true once it went through (the write is then recorded), false when it faulted. */
static bool try_access(gfn_t gfn, bool write)
{
	const struct pt_format *f = fx.mmu.fmt;
	bool done = false;

	grace_read_lock();
	u64 *p = leaf_sptep(fx.vcpu.current, gfn, NULL);
	if (p) {
		u64 spte = __atomic_load_n(p, __ATOMIC_ACQUIRE);
		u32 acc = write ? SPTE_ACC_WRITE : SPTE_ACC_READ;

		if (spte_is_present(spte) && spte_allows(f, spte, acc)) {
			u64 want = spte | f->accessed | (write ? f->dirty : 0);

			/* A CPU sets A/D atomically on the entry it walked, and walks again if it changed. */
			done = want == spte || __atomic_compare_exchange_n(p, &spte, want, false, __ATOMIC_SEQ_CST,
									    __ATOMIC_SEQ_CST);
		}
	}
	grace_read_unlock();
	if (done && write)
		__atomic_store_n(&st.written[gfn - WORK], 1, __ATOMIC_RELAXED);
	return done;
}

/*
 * A dirty-log pass over the range, as a consumer of the log would make one (in the vCPU's thread, so that its record
 * of writes and the pass cannot interleave): under the lock, take the dirty bit (D, or W without A/D) from every
 * leaf, through the hook, which harvests it into the log; then empty the log and the record. Afterwards leaves are
 * clean and writable again only by the hardware (D) or the fast path (W): the writes the ager must not lose.
 */
static void collect_dirty(void)
{
	const struct pt_format *f = fx.mmu.fmt;
	u64 bit = f->ad_enabled ? f->dirty : f->writable;
	struct memslot *slot = memslot_find(&fx.mmu.slots, WORK);
	struct pt_iter iter;

	write_lock(&fx.mmu.lock);
	for_each_tdp_pte(iter, &fx.mmu, fx.vcpu.current, WORK, WORK + NWORK) {
		if (!spte_is_present(iter.old_spte) || !spte_is_leaf(iter.old_spte, iter.level))
			continue;
		while ((iter.old_spte & bit) && __tdp_set_spte_atomic(&fx.mmu, &iter, iter.old_spte & ~bit))
			;
	}
	__mmu_flush_and_free(&fx.mmu);
	write_unlock(&fx.mmu.lock);
	for (u64 i = 0; i < NWORK; i++) {
		memslot_test_and_clear_dirty(slot, WORK + i);
		__atomic_store_n(&st.written[i], 0, __ATOMIC_RELAXED);
	}
	st.collections++;
}

static void *vcpu_thread(void *arg)
{
	u64 seed = 0x9e3779b97f4a7c15ULL;

	fake_cpu_id = 1;
	while (!__atomic_load_n(&st.stop, __ATOMIC_RELAXED)) {
		u64 r = rnd(&seed);
		gfn_t gfn = WORK + r % NWORK;
		bool write = (r >> 32) & 1;
		int tries;

		for (tries = 0; tries < ACCESS_TRIES && !try_access(gfn, write); tries++) {
			struct mmu_fault mf;
			int res = mmu_page_fault(&fx.mmu, &fx.vcpu, gfn << PAGE_SHIFT,
						 write ? SPTE_ACC_WRITE : SPTE_ACC_READ, &mf);

			st.faults++;
			if (res == MMU_FAULT_WRITE_PROTECTED)
				break; /* the write is emulated (mmu_write_gpa), not made through an SPTE */
			if (res == MMU_FAULT_RETRY) {
				mmu_vcpu_free_obsolete_roots(&fx.mmu, &fx.vcpu);
				if (mmu_load_root(&fx.mmu, &fx.vcpu, NULL)) {
					stress_fail("root load failed");
					return NULL;
				}
			} else if (res != MMU_FAULT_FIXED && res != MMU_FAULT_SPURIOUS) {
				stress_fail("fault at gfn %#llx: %d", (unsigned long long)gfn, res);
				return NULL;
			}
		}
		if (tries == ACCESS_TRIES)
			stress_fail("gfn %#llx still faulting after %d faults", (unsigned long long)gfn, tries);
		if (++st.accesses % 64 == 0)
			sched_yield();
		if (st.accesses % 512 == 0 && fx.vcpu.current)
			collect_dirty();
	}
	return NULL;
}

/* One locked operation of this thread. */
static void mutate(u64 r)
{
	gfn_t a = WORK + r % NWORK;

	switch ((r >> 40) % 10) {
	case 0: case 1: case 2: case 3:
		mmu_zap_gfn_range(&fx.mmu, a, a + 1 + (r >> 20) % 1024);
		st.zaps++;
		break;
	case 4: case 5: case 6:
		if (st.nwp < MAX_WP && mmu_track_add_gfn(&fx.mmu, a) == 0) { /* splits and write-protects */
			st.wp[st.nwp++] = a;
			st.wps++;
		}
		break;
	case 7: case 8:
		if (st.nwp && mmu_track_remove_gfn(&fx.mmu, st.wp[--st.nwp])) /* the last reference collapses */
			stress_fail("track remove failed");
		break;
	default:
		if ((r >> 8) % 8 == 0) {
			mmu_invalidate_all_roots(&fx.mmu);
			st.invalidations++;
		}
		break;
	}
}

/* A statistic the lock holders count, read under the lock while they run. */
static u64 locked_stat(const u64 *stat)
{
	u64 v;

	write_lock(&fx.mmu.lock);
	v = *stat;
	write_unlock(&fx.mmu.lock);
	return v;
}

/* After the run: no leaf the hook did not see appear, each translating right; and no write forgotten. */
static void check_final_state(void)
{
	static int seen[4][GIG];
	struct mmu_root *root;
	struct pt_iter iter;

	memset(seen, 0, sizeof(seen));
	write_lock(&fx.mmu.lock);
	for (root = fx.mmu.roots; root; root = root->next) {
		for_each_tdp_pte(iter, &fx.mmu, root, 0, PT_MAX_PFN) {
			if (!spte_is_present(iter.old_spte) || !spte_is_leaf(iter.old_spte, iter.level))
				continue;
			CHECK(iter.gfn >= GIG && iter.gfn < 2 * GIG);
			CHECK_EQ(pt_leaf_hpa(iter.old_spte, iter.level), FAKE_HPA + (iter.gfn << PAGE_SHIFT));
			seen[iter.level][(iter.gfn - GIG) / pt_level_pages(iter.level)]++;
		}
	}
	write_unlock(&fx.mmu.lock);
	for (int l = 1; l <= 3; l++)
		for (u64 i = 0; i < GIG / pt_level_pages(l); i++)
			if (seen[l][i] != st.leaves[l][i])
				test_fail(__FILE__, __LINE__, "level %d leaf at gfn %#llx: %d in the tables, %d seen by the hook",
					  l, (unsigned long long)(GIG + i * pt_level_pages(l)), seen[l][i], st.leaves[l][i]);
	for (u64 i = 0; i < NWORK; i++) {
		gfn_t g = WORK + i;
		bool kept = dirty_logged(g);

		for (root = fx.mmu.roots; root && !kept; root = root->next) {
			u64 *p = leaf_sptep(root, g, NULL);
			kept = p && spte_is_dirty(fx.mmu.fmt, *p);
		}
		if (st.written[i] && !kept)
			test_fail(__FILE__, __LINE__, "%s: the write to gfn %#llx is lost", fx.mmu.fmt->name,
				  (unsigned long long)g);
	}
}

TEST(aging_races_faults_zaps_splits_and_write_protects)
{
	const struct pt_format *f;

	for_each_format(f) {
		pthread_t vcpu, ager;
		u64 seed = 0xd1b54a32d192ed03ULL, start, ms;

		memset(&st, 0, sizeof(st));
		failed = 0;
		stress_err[0] = 0;
		stress_stop_flag = &st.stop;
		setup(f);
		fake_slot(0, 2 * GIG, FAKE_HPA, true, 0);
		fx.hook = count_leaves;
		CHECK_EQ(pthread_create(&vcpu, NULL, vcpu_thread, NULL), 0);
		struct age_stress_ager ag = {.mmu = &fx.mmu, .base = WORK, .n = NWORK, .all_start = WORK,
					     .all_end = WORK + NWORK, .stop = &st.stop};
		CHECK_EQ(pthread_create(&ager, NULL, age_stress_ager, &ag), 0);
		start = now_ms();
		while (!__atomic_load_n(&failed, __ATOMIC_RELAXED) && (ms = now_ms() - start) < 10 * RUN_MS &&
		       (ms < RUN_MS || __atomic_load_n(&fx.mmu.stats.aged_leaves, __ATOMIC_RELAXED) < MIN_AGED ||
			locked_stat(&fx.mmu.stats.splits) < 20 || locked_stat(&fx.mmu.stats.collapses) < 20 ||
			(!f->ad_enabled && __atomic_load_n(&fx.mmu.stats.access_track_faults, __ATOMIC_RELAXED) < MIN_ACC_TRACK))) {
			mutate(rnd(&seed));
			if (st.zaps % 16 == 0)
				sched_yield();
		}
		__atomic_store_n(&st.stop, 1, __ATOMIC_SEQ_CST);
		CHECK_EQ(pthread_join(vcpu, NULL), 0);
		CHECK_EQ(pthread_join(ager, NULL), 0);
		if (failed)
			test_fail(__FILE__, __LINE__, "%s: %s", f->name, stress_err);
		check_final_state();
		if (getenv("AGE_STATS"))
			fprintf(stderr,
				"  %s: %llu accesses, %llu faults (%llu fast, %llu access-track), %llu ages (%llu young, %llu "
				"leaves aged, %llu sections), %llu zaps, %llu splits, %llu collapses, %llu write-tracks, %llu "
				"invalidations, %llu harvests, %llu dirty-log passes\n",
				f->name, (unsigned long long)st.accesses, (unsigned long long)st.faults,
				(unsigned long long)fx.mmu.stats.fast_faults,
				(unsigned long long)fx.mmu.stats.access_track_faults, (unsigned long long)ag.ages,
				(unsigned long long)ag.young, (unsigned long long)fx.mmu.stats.aged_leaves,
				(unsigned long long)fx.mmu.stats.age_sections, (unsigned long long)st.zaps,
				(unsigned long long)fx.mmu.stats.splits, (unsigned long long)fx.mmu.stats.collapses,
				(unsigned long long)st.wps, (unsigned long long)st.invalidations,
				(unsigned long long)fx.mmu.stats.dirty_harvested, (unsigned long long)st.collections);
		/* The run raced for real: every kind of change happened many times while the others ran. */
		CHECK(fx.mmu.stats.aged_leaves >= MIN_AGED);
		CHECK(fx.mmu.stats.splits >= 20 && fx.mmu.stats.collapses >= 20);
		CHECK(st.zaps >= 100 && st.invalidations >= 1);
		if (!f->ad_enabled)
			CHECK(fx.mmu.stats.access_track_faults >= MIN_ACC_TRACK);
		while (st.nwp)
			CHECK_EQ(mmu_track_remove_gfn(&fx.mmu, st.wp[--st.nwp]), 0);
		fx.hook = NULL;
		teardown();
	}
}
