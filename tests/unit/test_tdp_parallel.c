/* Parallel TDP faults under the read lock (mm/mmu.h), with real threads, for EPT with A/D, EPT without and NPT:
 *  - four vCPUs (fake CPUs 1-4), each with its own roots, fault in guest memory at once: half their accesses go to a
 *    small set of gfns they all share (the same tables, the same leaves), half to gfns of their own; each access is
 *    first tried as the hardware would, walking the vCPU's root without any lock, and every entry on the way must
 *    be a hole, a frozen entry, a table, or a leaf translating the gfn right: the old value, the new one or frozen,
 *    never anything in between (Hedron's check, extended to frozen);
 *  - the region starts mapped by 1G leaves above the level faults may now use, so faults split them on the way,
 *    under the frozen-SPTE protocol, while other vCPUs walk into them;
 *  - this thread (CPU 0) takes the write lock against them: it collapses the region back (so the splits happen
 *    again and again), zaps ranges, and now and then makes every root obsolete.
 * Afterwards: the change hook saw every leaf that exists appear exactly once (none installed twice by two racing
 * faults, none lost), every leaf translates right, every table lost in a race went back (teardown counts frames),
 * and the races really happened: lost compare-exchanges, tables freed unlinked, frozen back-offs, splits. */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "stress.h"
#include "tdp_mmu_fixture.h"

#define NVCPUS	   4
#define RUN_MS	   500 /* at least, per format; and on until the minimums below are met, for at most 60x */
#define WORK	   GIG /* the second 1G region, which the slot backs contiguously */
#define NSHARED	   16
#define NOWN	   2048
#define ACCESS_TRIES 100000
/* Races to see at least (2 host cores shared by 5 threads: real simultaneity is rare, so these are modest). The
 * ThreadSanitizer build runs the threads mostly one at a time: there it looks for data races, and the ASan build
 * proves the races happened. */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifdef UNDER_TSAN
#define MIN_RACES  0
#define MIN_FROZEN 0
#define MIN_TABLES_RACED 0
#else
/* A lost compare-exchange proves the run raced. A lost table link and a frozen back-off need two faults on one
 * missing table or one entry being split in the same few instructions, which a machine loaded with emulators may
 * not give in 30 s: they are counted and printed here, and proven deterministically elsewhere (test_private_stress
 * backs a fault off a frozen entry on purpose; test_frame_cache returns a race loser's table). */
#define MIN_RACES  1
#define MIN_FROZEN 0
#define MIN_TABLES_RACED 0
#endif
#define OVERLAPS_FOR_A_RACE 20000

/* A minimum that may be 0 (the TSan build's, and the rare races'), without a comparison the compiler folds. */
static bool below(u64 v, u64 min)
{
	return v < min;
}

static struct {
	int stop;	     /* atomic */
	int leaves[4][GIG];  /* atomic: present leaves the hook saw, [level][index in the 1G region] */
	u64 accesses[NVCPUS];
	u64 mutations;
	u64 results[10];
	gfn_t shared[NSHARED];
	int in_fault;  /* atomic: vCPU threads inside mmu_page_fault now */
	u64 overlaps;  /* atomic: faults entered while another thread was inside one */
} st;

static u64 rnd(u64 *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void count_leaves(gfn_t gfn, u64 old, u64 new, int level)
{
	int was = spte_is_present(old) && spte_is_leaf(old, level), is = spte_is_present(new) && spte_is_leaf(new, level);

	if (spte_is_frozen(old) || spte_is_frozen(new))
		stress_fail("the hook was told of a frozen value");
	if (was == is)
		return;
	if (gfn < WORK || gfn >= WORK + GIG) {
		stress_fail("a leaf at gfn %#llx, outside the region", (unsigned long long)gfn);
		return;
	}
	__atomic_fetch_add(&st.leaves[level][(gfn - WORK) / pt_level_pages(level)], is - was, __ATOMIC_RELAXED);
}

/* The hardware's walk of gfn in root, lockless. true when a leaf allows the access (and translates right). */
static bool hw_access(struct mmu_root *root, gfn_t gfn, bool write)
{
	const struct pt_format *f = fx.mmu.fmt;
	struct pt_iter it;
	bool ok = false;

	grace_read_lock();
	for_each_tdp_pte(it, &fx.mmu, root, gfn, gfn + 1) {
		u64 e = __atomic_load_n(it.sptep, __ATOMIC_ACQUIRE);

		if (e != it.old_spte)
			it.old_spte = e; /* the walker read it a moment ago; the hardware reads it now */
		if (!e || spte_is_frozen(e) || spte_is_mmio(f, e))
			break; /* a hole: the access faults */
		if (!spte_is_present(e)) {
			stress_fail("gfn %#llx: level %d entry %#llx is neither old, new nor frozen",
				    (unsigned long long)gfn, it.level, (unsigned long long)e);
			break;
		}
		if (!spte_is_leaf(e, it.level))
			continue;
		if (pt_leaf_hpa(e, it.level) + ((gfn - it.gfn) << PAGE_SHIFT) != FAKE_HPA + (gfn << PAGE_SHIFT))
			stress_fail("gfn %#llx: level %d leaf %#llx translates elsewhere", (unsigned long long)gfn,
				    it.level, (unsigned long long)e);
		ok = spte_allows(f, e, write ? SPTE_ACC_WRITE : SPTE_ACC_READ);
		break;
	}
	grace_read_unlock();
	return ok;
}

static void *vcpu_thread(void *arg)
{
	unsigned int id = (unsigned int)(uintptr_t)arg;
	struct mmu_vcpu v = { 0 };
	u64 seed = 0x9e3779b97f4a7c15ULL * (id + 1);

	fake_cpu_id = 1 + id;
	if (mmu_load_root(&fx.mmu, &v, NULL)) {
		stress_fail("root load failed");
		return NULL;
	}
	while (!__atomic_load_n(&st.stop, __ATOMIC_RELAXED)) {
		u64 r = rnd(&seed);
		gfn_t gfn = (r & 3) ? st.shared[(r >> 8) % NSHARED] : WORK + M2 * 8 * (1 + id) + (r >> 8) % NOWN;
		bool write = (r >> 40) & 1;
		int tries;

		for (tries = 0; tries < ACCESS_TRIES && !hw_access(v.current, gfn, write); tries++) {
			struct mmu_fault mf;

			if (__atomic_fetch_add(&st.in_fault, 1, __ATOMIC_SEQ_CST))
				__atomic_fetch_add(&st.overlaps, 1, __ATOMIC_RELAXED);
			int res = mmu_page_fault(&fx.mmu, &v, gfn << PAGE_SHIFT, write ? SPTE_ACC_WRITE : SPTE_ACC_READ,
						 &mf);
			__atomic_fetch_sub(&st.in_fault, 1, __ATOMIC_SEQ_CST);

			__atomic_fetch_add(&st.results[res < 0 ? 9 : res], 1, __ATOMIC_RELAXED);
			if (res == MMU_FAULT_RETRY) {
				mmu_vcpu_free_obsolete_roots(&fx.mmu, &v);
				if (mmu_load_root(&fx.mmu, &v, NULL)) {
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
		if (++st.accesses[id] % 64 == 0)
			sched_yield();
	}
	mmu_vcpu_put_roots(&fx.mmu, &v);
	return NULL;
}

/* One write-locked operation of this thread. */
static void mutate(u64 r)
{
	switch ((r >> 40) % 16) {
	case 0: case 1: case 2: case 3: case 4: case 5:
		/* Back to a 1G leaf, where faults may only map 4K (max_huge_level stays 1: it is read without the lock),
		 * and read-only (as dirty logging leaves it): the next writes fault, and their faults split it again
		 * while the other vCPUs use it. The leaf replaces the table under the frozen-SPTE protocol too. */
		write_lock(&fx.mmu.lock);
		for (struct mmu_root *root = fx.mmu.roots; root; root = root->next) {
			const struct pt_format *f = fx.mmu.fmt;
			u64 leaf = make_leaf_spte(f, FAKE_HPA + (WORK << PAGE_SHIFT), 3, SPTE_ACC_READ | SPTE_ACC_EXEC,
						  true, true);
			struct pt_iter it;

			for_each_tdp_pte_min_level(it, &fx.mmu, root, 3, WORK, WORK + 1)
				if (it.level == 3)
					while (__tdp_set_spte_frozen(&fx.mmu, &it, leaf))
						;
		}
		__mmu_flush_and_free(&fx.mmu);
		write_unlock(&fx.mmu.lock);
		break;
	case 15:
		mmu_invalidate_all_roots(&fx.mmu);
		break;
	default: {
		/* Half of them where every vCPU works: the next faults there race to link the same tables. */
		gfn_t a = (r >> 50) & 1 ? WORK : WORK + r % (M2 * 8 * (1 + NVCPUS));
		mmu_zap_gfn_range(&fx.mmu, a, a + 1 + (r >> 20) % 2048);
		break;
	}
	}
	st.mutations++;
}

static void check_final_state(void)
{
	static int seen[4][GIG];
	struct mmu_root *root;
	struct pt_iter iter;

	memset(seen, 0, sizeof(seen));
	write_lock(&fx.mmu.lock);
	for (root = fx.mmu.roots; root; root = root->next) {
		for_each_tdp_pte(iter, &fx.mmu, root, 0, PT_MAX_PFN) {
			CHECK(!spte_is_frozen(iter.old_spte)); /* every freeze ended */
			if (!spte_is_present(iter.old_spte) || !spte_is_leaf(iter.old_spte, iter.level))
				continue;
			CHECK(iter.gfn >= WORK && iter.gfn < WORK + GIG);
			CHECK_EQ(pt_leaf_hpa(iter.old_spte, iter.level), FAKE_HPA + (iter.gfn << PAGE_SHIFT));
			seen[iter.level][(iter.gfn - WORK) / pt_level_pages(iter.level)]++;
		}
	}
	write_unlock(&fx.mmu.lock);
	for (int l = 1; l <= 3; l++)
		for (u64 i = 0; i < GIG / pt_level_pages(l); i++)
			if (seen[l][i] != st.leaves[l][i])
				test_fail(__FILE__, __LINE__, "level %d leaf at gfn %#llx: %d in the tables, %d seen by the hook",
					  l, (unsigned long long)(WORK + i * pt_level_pages(l)), seen[l][i], st.leaves[l][i]);
}

static u64 stat(const u64 *s)
{
	return __atomic_load_n(s, __ATOMIC_RELAXED);
}

TEST(tdp_parallel_faults_races_splits_and_zaps)
{
	const struct pt_format *f;

	for_each_format(f) {
		pthread_t t[NVCPUS];
		u64 seed = 0xd1b54a32d192ed03ULL, start, ms;
		int level;

		memset(&st, 0, sizeof(st));
		failed = 0;
		stress_err[0] = 0;
		stress_stop_flag = &st.stop;
		setup(f);
		fake_slot(0, 2 * GIG, FAKE_HPA, true, 0);
		fx.hook = count_leaves;
		for (unsigned int i = 0; i < NSHARED; i++)
			st.shared[i] = WORK + (i % 2) * M2 + (i / 2) * 7; /* 8 per 2M region: the same tables */
		CHECK_EQ(fault(WORK, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(level, 3);
		fx.mmu.tdp.max_huge_level = 1; /* the 1G leaf is now above what faults map: they split it */
		for (unsigned int i = 0; i < NVCPUS; i++)
			CHECK_EQ(pthread_create(&t[i], NULL, vcpu_thread, (void *)(uintptr_t)i), 0);
		start = now_ms();
		while (!__atomic_load_n(&failed, __ATOMIC_RELAXED) && (ms = now_ms() - start) < 60 * RUN_MS &&
		       (ms < RUN_MS || below(stat(&fx.mmu.stats.fault_races), MIN_RACES) || below(stat(&fx.mmu.stats.tables_raced), MIN_TABLES_RACED) ||
			below(stat(&fx.mmu.stats.frozen_backoffs), MIN_FROZEN) || stat(&fx.mmu.stats.splits) < 20)) {
			mutate(rnd(&seed));
			sched_yield();
		}
		__atomic_store_n(&st.stop, 1, __ATOMIC_SEQ_CST);
		for (unsigned int i = 0; i < NVCPUS; i++)
			CHECK_EQ(pthread_join(t[i], NULL), 0);
		if (failed)
			test_fail(__FILE__, __LINE__, "%s: %s", f->name, stress_err);
		check_final_state();
		if (getenv("PAR_STATS"))
			fprintf(stderr,
				"  %s: %llu+%llu+%llu+%llu accesses, %llu faults (%llu shared, %llu exclusive reruns), %llu "
				"races, %llu tables raced, %llu frozen back-offs, %llu splits, %llu collapses, %llu "
				"mutations, lock waits %llu read / %llu write\n",
				f->name, (unsigned long long)st.accesses[0], (unsigned long long)st.accesses[1],
				(unsigned long long)st.accesses[2], (unsigned long long)st.accesses[3],
				(unsigned long long)fx.mmu.stats.faults, (unsigned long long)mmu_shared_faults(&fx.mmu.stats),
				(unsigned long long)fx.mmu.stats.exclusive_retries,
				(unsigned long long)fx.mmu.stats.fault_races, (unsigned long long)fx.mmu.stats.tables_raced,
				(unsigned long long)fx.mmu.stats.frozen_backoffs, (unsigned long long)fx.mmu.stats.splits,
				(unsigned long long)fx.mmu.stats.collapses, (unsigned long long)st.mutations,
				(unsigned long long)fx.mmu.lock.read_waits, (unsigned long long)fx.mmu.lock.write_waits);
		if (getenv("PAR_STATS"))
			fprintf(stderr, "  %llu faults overlapped another\n", (unsigned long long)st.overlaps);
		if (getenv("PAR_STATS"))
			fprintf(stderr, "  results: %llu fixed, %llu spurious, %llu retry\n",
				(unsigned long long)st.results[MMU_FAULT_FIXED],
				(unsigned long long)st.results[MMU_FAULT_SPURIOUS],
				(unsigned long long)st.results[MMU_FAULT_RETRY]);
		/* The run raced for real. */
		/* The run raced for real, where the machine let the threads run at once: thousands of faults inside
		 * mmu_page_fault together and not one lost compare-exchange means the path serialises them. A host
		 * loaded by emulators may overlap them too rarely to ask for a race. */
		CHECK(mmu_shared_faults(&fx.mmu.stats) > 0);
		CHECK(!below(fx.mmu.stats.fault_races, MIN_RACES) || st.overlaps < OVERLAPS_FOR_A_RACE);
		CHECK(!below(fx.mmu.stats.tables_raced, MIN_TABLES_RACED) && !below(fx.mmu.stats.frozen_backoffs, MIN_FROZEN));
		CHECK(fx.mmu.stats.splits >= 20);
		fx.hook = NULL;
		teardown();
	}
}

/* The exclusive mode the bench compares against: the same faults, every one under the write lock. */
TEST(tdp_exclusive_faults_take_the_write_lock)
{
	const struct pt_format *f;
	int level;

	for_each_format(f) {
		setup(f);
		fake_slot(0, 2 * GIG, FAKE_HPA, true, 0);
		fx.mmu.exclusive_faults = true;
		CHECK_EQ(fault(WORK + 3, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(fx.mmu.stats.faults, 1);
		CHECK_EQ(mmu_shared_faults(&fx.mmu.stats), 0);
		fx.mmu.exclusive_faults = false;
		CHECK_EQ(fault(GIG / 2, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(mmu_shared_faults(&fx.mmu.stats), 1);
		teardown();
	}
}

/* A fault under the read lock that finds a table where a huge leaf is allowed now reruns under the write lock,
 * which collapses it (a read-lock walker never unlinks a table). */
TEST(tdp_shared_fault_collapse_reruns_exclusive)
{
	const struct pt_format *f;
	int level;

	for_each_format(f) {
		setup(f);
		fake_slot(0, 2 * GIG, FAKE_HPA, true, 0);
		fx.mmu.tdp.max_huge_level = 1;
		CHECK_EQ(fault(WORK + 5, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(level, 1);
		fx.mmu.tdp.max_huge_level = 3;
		CHECK_EQ(fault(WORK + 6, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(level, 3);
		CHECK_EQ(fx.mmu.stats.exclusive_retries, 1);
		CHECK_EQ(fx.mmu.stats.collapses, 1);
		check_translation(WORK + 5, 3);
		teardown();
	}
}

/* A fault meeting a frozen entry backs off (re-enters the guest) and changes nothing; once the entry is thawed the
 * same fault maps. */
TEST(tdp_fault_backs_off_a_frozen_entry)
{
	const struct pt_format *f;
	int level;

	for_each_format(f) {
		setup(f);
		fake_slot(0, 2 * GIG, FAKE_HPA, true, 0);
		fx.mmu.tdp.max_huge_level = 1;
		CHECK_EQ(fault(WORK + 5, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		u64 *e = leaf_sptep(fx.vcpu.current, WORK + 5, &level);
		CHECK(e);
		u64 pte = *e;
		/* Freeze the level-2 entry above it, as another CPU mid-change would. */
		struct pt_iter it;
		u64 *pde = NULL, pde_val = 0;
		for_each_tdp_pte(it, &fx.mmu, fx.vcpu.current, WORK + 9, WORK + 10)
			if (it.level == 2) {
				pde = it.sptep;
				pde_val = it.old_spte;
				break;
			}
		CHECK(pde);
		*pde = SPTE_FROZEN;
		u64 faults = fx.mmu.stats.faults;
		CHECK_EQ(fault(WORK + 9, SPTE_ACC_WRITE, &level), MMU_FAULT_RETRY);
		CHECK_EQ(fx.mmu.stats.frozen_backoffs, 1);
		CHECK_EQ(fx.mmu.stats.faults, faults + 1);
		CHECK_EQ(*pde, SPTE_FROZEN);
		*pde = pde_val;
		CHECK_EQ(*e, pte);
		CHECK_EQ(fault(WORK + 9, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		check_translation(WORK + 9, 1);
		teardown();
	}
}
