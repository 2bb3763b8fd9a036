/* Private memory under parallel faults and conversions, with real threads (also under ThreadSanitizer), for EPT with
 * A/D, EPT without and NPT:
 *  - four vCPUs (fake CPUs 1-4) access RAM pages through the view of the page's kind as they last saw it (one
 *    access in eight through the other view, to race wrong-kind faults with conversions). Each access is first
 *    tried as the hardware would, walking hw_top lockless while "in guest mode": every entry on the way must be a
 *    hole, a frozen entry, a table, or a 4K leaf translating the gfn to its frame (old, new or frozen, never in
 *    between), a private leaf's frame must be out of the direct map and a shared leaf's in it. Faults run under
 *    the read lock, one set_external_spte in thirteen is refused (-ENOMEM);
 *  - this thread (CPU 0) converts random ranges back and forth under the write lock, zaps by filter, and now and
 *    then makes every root obsolete. The fake remote flush returns only once every vCPU has left guest mode, as the
 *    real one does, so a frame removed while a vCPU could still reach it is seen.
 * The hooks check, as they run, that a frame is never taken out twice nor while a direct leaf maps it, and that its
 * removal comes after a flush that followed its set. Afterwards: every mirror leaf's frame had exactly one set
 * without a remove, every other frame as many removes as sets, and teardown gives every frame back.
 * A deterministic companion runs a second vCPU from inside set_external_spte: its fault on the frozen gfn backs off. */
#include <pthread.h>
#include <stdlib.h>
#include <sched.h>

#include "private_fixture.h"
#include "stress.h"

#define NVCPUS	     4
#define RUN_MS	     300 /* at least, per format; on until the minimums are met, for at most 20x */
#define HOT	     64	 /* half the accesses go to the first HOT pages, where conversions hit often */
#define ACCESS_TRIES 100000

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifdef UNDER_TSAN
#define MIN_CONVERSIONS 20
#define MIN_SETS	20
#else
#define MIN_CONVERSIONS 200
#define MIN_SETS	500
#endif

static struct {
	int stop; /* atomic */
	u64 accesses[NVCPUS];
	u64 frozen_seen, results[MMU_FAULT_NEED_EXCLUSIVE + 2]; /* atomic; [last]: errors */
	u64 conversions, zaps, invalidations;
} st;

static u64 rnd(u64 *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static bool is_leaf_at(u64 e, int level)
{
	return spte_is_present(e) && spte_is_leaf(e, level);
}

/* The hardware's walk of gpa from hw_top, in guest mode. true when a leaf allows the access. */
static bool hw_access(gfn_t gfn, bool priv, bool write)
{
	const struct pt_format *f = fx.mmu.fmt;
	gfn_t hw_gfn = priv ? gfn : gfn | SHARED_GFN;
	u64 *pt = phys_to_virt(fx.mmu.priv.hw_top);

	for (int l = TDP_ROOT_LEVEL; l >= 1; l--) {
		u64 e = __atomic_load_n(&pt[(hw_gfn >> (9 * (l - 1))) & (PT_ENTRIES - 1)], __ATOMIC_SEQ_CST);

		if (spte_is_frozen(e))
			__atomic_fetch_add(&st.frozen_seen, 1, __ATOMIC_RELAXED);
		if (!e || spte_is_frozen(e) || spte_is_mmio(f, e))
			return false;
		if (!spte_is_present(e)) {
			stress_fail("gfn %#llx (%s): level %d entry %#llx is neither old, new nor frozen",
				    (unsigned long long)gfn, priv ? "private" : "shared", l, (unsigned long long)e);
			return false;
		}
		if (!spte_is_leaf(e, l)) {
			pt = phys_to_virt(e & PT_ADDR_MASK);
			continue;
		}
		hpa_t frame = pt_leaf_hpa(e, l);
		bool absent = __atomic_load_n(&pf.absent[frame >> PAGE_SHIFT], __ATOMIC_SEQ_CST);

		if (l != 1 || frame != ram_hpa(gfn))
			stress_fail("gfn %#llx (%s): level %d leaf %#llx, not its 4K frame", (unsigned long long)gfn,
				    priv ? "private" : "shared", l, (unsigned long long)e);
		else if (priv && !absent)
			stress_fail("gfn %#llx: a private leaf reaches frame %#llx, which is in the direct map",
				    (unsigned long long)gfn, (unsigned long long)frame);
		else if (!priv && absent)
			stress_fail("gfn %#llx: a shared leaf reaches frame %#llx, which is out of the direct map",
				    (unsigned long long)gfn, (unsigned long long)frame);
		return spte_allows(f, e, write ? SPTE_ACC_WRITE : SPTE_ACC_READ);
	}
	return false;
}

/* set_external_spte runs under the read lock, with gfn private: no direct root may map it. */
static void check_no_shared_leaf(gfn_t gfn, hpa_t frame)
{
	for (struct mmu_root *r = fx.mmu.roots; r; r = r->next) {
		u64 leaf = r->role.mirror ? 0 : leaf_of(r->hpa, gfn);

		if (leaf)
			pf_fail("frame %#llx goes private while a direct root maps it (%#llx)", (unsigned long long)frame,
				(unsigned long long)leaf);
	}
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
		gfn_t gfn = (r & 1) ? (r >> 8) % HOT : (r >> 8) % RAM_PAGES;
		bool priv = mmu_gfn_is_private(&fx.mmu, gfn) ^ ((r >> 40) % 8 == 0), write = (r >> 44) & 1;
		int tries;

		for (tries = 0; tries < ACCESS_TRIES; tries++) {
			struct mmu_fault mf;
			bool ok;
			int res;

			__atomic_store_n(&pf.in_guest[id], 1, __ATOMIC_SEQ_CST);
			ok = hw_access(gfn, priv, write);
			__atomic_store_n(&pf.in_guest[id], 0, __ATOMIC_SEQ_CST);
			if (ok)
				break;
			res = mmu_page_fault(&fx.mmu, &v, priv ? priv_gpa(gfn) : shared_gpa(gfn),
					     write ? SPTE_ACC_WRITE : SPTE_ACC_READ, &mf);
			__atomic_fetch_add(&st.results[res < 0 ? ARRAY_SIZE(st.results) - 1 : (unsigned int)res], 1,
					   __ATOMIC_RELAXED);
			if (res == MMU_FAULT_WRONG_KIND)
				break; /* the guest would get its #VE, and convert or use the other view */
			if (res == MMU_FAULT_RETRY && mmu_vcpu_free_obsolete_roots(&fx.mmu, &v) &&
			    mmu_load_root(&fx.mmu, &v, NULL)) {
				stress_fail("root load failed");
				return NULL;
			}
			if (res != MMU_FAULT_FIXED && res != MMU_FAULT_SPURIOUS && res != MMU_FAULT_RETRY &&
			    res != -ENOMEM) {
				stress_fail("fault at gfn %#llx (%s): %d", (unsigned long long)gfn,
					    priv ? "private" : "shared", res);
				break;
			}
			if (__atomic_load_n(&st.stop, __ATOMIC_RELAXED))
				break;
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
	gfn_t g = (r >> 8) & 1 ? (r >> 16) % HOT : (r >> 16) % RAM_PAGES;
	u64 n = 1 + (r >> 32) % 32;

	n = MIN(n, RAM_PAGES - g);
	switch (r % 32) {
	case 0:
		mmu_invalidate_all_roots(&fx.mmu);
		st.invalidations++;
		break;
	case 1: case 2: case 3:
		mmu_zap_gfn_range_filter(&fx.mmu, g, g + n, (enum mmu_zap_filter)(1 + (r >> 40) % 3));
		st.zaps++;
		break;
	default:
		if (mmu_private_convert(&fx.mmu, g, n, (r >> 45) & 1))
			stress_fail("conversion of [%#llx, +%llu) failed", (unsigned long long)g, (unsigned long long)n);
		st.conversions++;
		break;
	}
}

/* Under the write lock with every vCPU gone: the trees, the kinds and the direct map agree. */
static void check_final_state(void)
{
	static u8 mapped_private[RAM_PAGES];
	u64 leaves = 0;

	memset(mapped_private, 0, sizeof(mapped_private));
	write_lock(&fx.mmu.lock);
	for (struct mmu_root *root = fx.mmu.roots; root; root = root->next) {
		struct pt_iter iter;

		for_each_tdp_pte(iter, &fx.mmu, root, 0, PT_MAX_PFN) {
			CHECK(!spte_is_frozen(iter.old_spte)); /* every freeze ended */
			if (!is_leaf_at(iter.old_spte, iter.level))
				continue;
			CHECK_EQ(iter.level, 1);
			CHECK(iter.gfn < RAM_PAGES);
			CHECK_EQ(pt_leaf_hpa(iter.old_spte, 1), ram_hpa(iter.gfn));
			CHECK_EQ(mmu_gfn_is_private(&fx.mmu, iter.gfn), root->role.mirror);
			CHECK_EQ(pf.absent[ram_hpa(iter.gfn) >> PAGE_SHIFT], root->role.mirror);
			if (root->role.mirror) {
				mapped_private[iter.gfn] = 1;
				leaves++;
			}
		}
	}
	write_unlock(&fx.mmu.lock);
	for (gfn_t g = 0; g < RAM_PAGES; g++) {
		u64 f = ram_hpa(g) >> PAGE_SHIFT;

		CHECK_EQ(pf.absent[f], mapped_private[g]);
		CHECK_EQ(pf.nset[f], pf.nremove[f] + mapped_private[g]);
	}
	CHECK_EQ(pf.sets, pf.removes + leaves);
	CHECK_EQ(fx.mmu.priv.stats.external_set, pf.sets);
	CHECK_EQ(fx.mmu.priv.stats.external_removed, pf.removes);
	CHECK_EQ(fx.mmu.priv.stats.external_refused, pf.refused);
}

static void on_set(gfn_t gfn, hpa_t frame)
{
	check_no_shared_leaf(gfn, frame);
}

TEST(private_parallel_faults_and_conversions)
{
	const struct pt_format *f;

	for_each_format(f) {
		pthread_t t[NVCPUS];
		u64 seed = 0xd1b54a32d192ed03ULL, start, ms;

		memset(&st, 0, sizeof(st));
		failed = 0;
		stress_err[0] = 0;
		stress_stop_flag = &st.stop;
		priv_setup(f);
		pf.no_log = true;
		pf.fail_every = 13;
		pf.on_set = on_set;
		pf.nvcpus = NVCPUS;
		for (unsigned int i = 0; i < NVCPUS; i++)
			CHECK_EQ(pthread_create(&t[i], NULL, vcpu_thread, (void *)(uintptr_t)i), 0);
		start = now_ms();
		while (!__atomic_load_n(&failed, __ATOMIC_RELAXED) && !__atomic_load_n(&pf.nerr, __ATOMIC_RELAXED) &&
		       (ms = now_ms() - start) < 20 * RUN_MS &&
		       (ms < RUN_MS || st.conversions < MIN_CONVERSIONS || __atomic_load_n(&pf.sets, __ATOMIC_RELAXED) < MIN_SETS ||
			!__atomic_load_n(&pf.refused, __ATOMIC_RELAXED) ||
			!__atomic_load_n(&fx.mmu.priv.stats.wrong_kind_faults, __ATOMIC_RELAXED))) {
			mutate(rnd(&seed));
			sched_yield();
		}
		__atomic_store_n(&st.stop, 1, __ATOMIC_SEQ_CST);
		for (unsigned int i = 0; i < NVCPUS; i++)
			CHECK_EQ(pthread_join(t[i], NULL), 0);
		pf.nvcpus = 0;
		if (failed)
			test_fail(__FILE__, __LINE__, "%s: %s", f->name, stress_err);
		if (pf.nerr)
			test_fail(__FILE__, __LINE__, "%s: %s", f->name, pf.err);
		check_final_state();
		if (getenv("PAR_STATS"))
			fprintf(stderr,
				"  %s: %llu+%llu+%llu+%llu accesses; faults %llu fixed, %llu spurious, %llu retry, %llu "
				"wrong kind, %llu refused; %llu sets, %llu removes, %llu frozen seen by walks, %llu frozen "
				"back-offs; %llu conversions, %llu zaps, %llu invalidations\n",
				f->name, (unsigned long long)st.accesses[0], (unsigned long long)st.accesses[1],
				(unsigned long long)st.accesses[2], (unsigned long long)st.accesses[3],
				(unsigned long long)st.results[MMU_FAULT_FIXED],
				(unsigned long long)st.results[MMU_FAULT_SPURIOUS],
				(unsigned long long)st.results[MMU_FAULT_RETRY],
				(unsigned long long)st.results[MMU_FAULT_WRONG_KIND],
				(unsigned long long)st.results[ARRAY_SIZE(st.results) - 1], (unsigned long long)pf.sets,
				(unsigned long long)pf.removes, (unsigned long long)st.frozen_seen,
				(unsigned long long)fx.mmu.stats.frozen_backoffs, (unsigned long long)st.conversions,
				(unsigned long long)st.zaps, (unsigned long long)st.invalidations);
		/* The run did what it is for. */
		CHECK(st.conversions >= MIN_CONVERSIONS && pf.sets >= MIN_SETS && pf.removes > 0);
		CHECK(pf.refused > 0 && fx.mmu.priv.stats.wrong_kind_faults > 0);
		CHECK(st.results[MMU_FAULT_FIXED] > 0 && mmu_shared_faults(&fx.mmu.stats) > 0);
		priv_teardown();
	}
}

/* Deterministic: while set_external_spte runs for one gfn (its entry frozen), another vCPU's fault on that gfn backs
 * off without a second set, its shared view is refused, and a fault on the gfn next to it maps in parallel. */
static struct {
	struct mmu_vcpu v;
	gfn_t gfn;
	int results[3];
	u64 seen_sets;
	hpa_t hw[2];
	bool ran;
} other;

static void *other_vcpu(void *arg)
{
	struct mmu_fault mf;

	(void)arg;
	fake_cpu_id = 1;
	other.results[0] = mmu_page_fault(&fx.mmu, &other.v, priv_gpa(other.gfn), SPTE_ACC_WRITE, &mf);
	other.results[1] = mmu_page_fault(&fx.mmu, &other.v, shared_gpa(other.gfn), SPTE_ACC_READ, &mf);
	other.results[2] = mmu_page_fault(&fx.mmu, &other.v, priv_gpa(other.gfn + 1), SPTE_ACC_WRITE, &mf);
	other.hw[0] = hw_translate(priv_gpa(other.gfn));
	other.hw[1] = hw_translate(priv_gpa(other.gfn + 1));
	return NULL;
}

static void race_from_the_hook(gfn_t gfn, hpa_t frame)
{
	pthread_t t;

	(void)frame;
	if (gfn != other.gfn || other.ran)
		return;
	other.ran = true;
	other.seen_sets = pf.sets;
	if (pthread_create(&t, NULL, other_vcpu, NULL) || pthread_join(t, NULL))
		pf_fail("thread");
}

TEST(private_fault_backs_off_an_entry_frozen_for_set_external)
{
	const struct pt_format *f;

	for_each_format(f) {
		priv_setup(f);
		memset(&other, 0, sizeof(other));
		other.gfn = 0x77;
		CHECK_EQ(mmu_load_root(&fx.mmu, &other.v, NULL), 0);
		pf.on_set = race_from_the_hook;
		CHECK_EQ(pfault(priv_gpa(other.gfn), SPTE_ACC_WRITE), MMU_FAULT_FIXED);
		CHECK(other.ran);
		CHECK_EQ(other.results[0], MMU_FAULT_RETRY);
		CHECK_EQ(other.results[1], MMU_FAULT_WRONG_KIND);
		CHECK_EQ(other.results[2], MMU_FAULT_FIXED);
		CHECK_EQ(other.hw[0], INVALID_HPA);
		CHECK_EQ(other.hw[1], ram_hpa(other.gfn + 1));
		CHECK_EQ(fx.mmu.stats.frozen_backoffs, 1);
		CHECK_EQ(pf.sets, 2); /* the gfn's own, and its neighbour's from the other vCPU */
		CHECK_EQ(pf_count(0, PF_SET, ram_hpa(other.gfn)), 1);
		CHECK_EQ(hw_translate(priv_gpa(other.gfn)), ram_hpa(other.gfn));
		/* The other vCPU's retry finds it mapped. */
		struct mmu_fault mf;
		CHECK_EQ(mmu_page_fault(&fx.mmu, &other.v, priv_gpa(other.gfn), SPTE_ACC_WRITE, &mf), MMU_FAULT_SPURIOUS);
		mmu_vcpu_put_roots(&fx.mmu, &other.v);
		priv_teardown();
	}
}
