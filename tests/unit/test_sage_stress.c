/* The shadow MMU's aging walk (mm/shadow/sage.c) under real concurrency. Three threads on one shadow MMU, whose guest
 * maps NDATA data pages at NSPACES places each (in different guest tables) and the first one HOT_MAPS more times (a
 * chain of rmap descriptors):
 *  - a vCPU (fake CPU 1) that accesses those pages as the hardware does: it walks its shadow root without any lock
 *    (in a grace read section, as the flush-then-grace freeing of tables allows), sets A (and D on a write) with a
 *    compare-exchange where the leaf allows the access, and otherwise takes the fault (mmu_shadow_fault), reloading
 *    its root when it is obsolete; and now and then makes a dirty-log pass (D cleared in place through the hook, the
 *    log and its own record emptied), so that clean writable leaves exist for its writes to dirty;
 *  - an ager (fake CPU 2) that ages and test-ages parts of the range and all of it in a loop, without the lock,
 *    holding one rmap head's read lock bit at a time;
 *  - this thread (CPU 0), under the lock: leaves zapped through the hook (what a guest PTE write does), whole leaf
 *    tables zapped and freed (write flooding's __spage_zap), write tracking of data gfns (their leaves lose W), and
 *    every root invalidated (the vCPU's is freed once it reloads).
 * Afterwards: every write the vCPU made is still recorded (dirty log, or a dirty leaf), the tables hold exactly the
 * leaves the change hook saw appear (none resurrected by an AND), the rmaps exactly those leaves (sx_check), and
 * every frame went back (sx_teardown). A table or descriptor freed under the ager would be read as poison (ASan) or
 * reported as a race (build/unit-tsan). The run ends on counts, never on a clock: a slow machine takes longer. */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "age_stress.h"
#include "shadow_fixture.h"
#include "stress.h"

#define NDATA	     32
#define NSPACES	     3
#define HOT_MAPS     (RMAP_DESC_ENTRIES + 6)
#define NGVA	     (NDATA * NSPACES + HOT_MAPS)
#define DATA_GFN     (SX_DATA >> PAGE_SHIFT)
#define MAX_WP	     4
#define ACCESS_TRIES 10000
/* What the run must have done before it stops: */
#define MIN_AGED	  1000 /* leaves aged by the ager */
#define MIN_ACCESSES	  20000
#define MIN_DIRTY_PASSES  20
#define MIN_ZAPS	  2000 /* leaves zapped by this thread */
#define MIN_TABLE_ZAPS	  100
#define MIN_WPS		  100
#define MIN_INVALIDATIONS 20

static struct {
	int stop;	 /* atomic */
	int request;	 /* atomic: drop the obsolete roots (stress_request) */
	u64 flushes;	 /* atomic */
	gva_t gva[NGVA]; /* constant once the threads run */
	gfn_t gfn[NGVA];
	u8 written[NDATA]; /* atomic: the vCPU wrote data gfn i through a leaf (set after the write was allowed) */
	s64 leaves;	   /* hook (under the lock): present leaves, as the hook saw them appear and go */
	u64 accesses, faults, dirty_passes;	       /* atomic, the vCPU's */
	u64 ops, zaps, table_zaps, wps, invalidations; /* this thread's */
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

/*
 * The owner's side, for this test's threads: the fixture's counts the MMU's callbacks with plain increments, but here
 * the vCPU's faults ask for obsolete roots to be dropped as the invalidations of this thread do, without the lock.
 * The request is a flag the vCPU takes before its next "entry"; spte_changed (under the lock) counts the present
 * leaves as the hook sees them appear and go.
 */
static void stress_flush(void *owner)
{
	__atomic_fetch_add(&st.flushes, 1, __ATOMIC_RELAXED);
}

static void stress_request(void *owner)
{
	__atomic_store_n(&st.request, 1, __ATOMIC_RELEASE);
}

static void stress_spte_changed(void *owner, gfn_t vpn, u64 old, u64 new, int level)
{
	if (level == 1)
		st.leaves += (s64)spte_is_present(new) - (s64)spte_is_present(old);
}

static const struct mmu_ops stress_ops = {
    .flush_remote_tlbs = stress_flush,
    .request_free_obsolete_roots = stress_request,
    .spte_changed = stress_spte_changed,
};

/* The vCPU's hardware walk of its shadow root for gva: the level-1 entry, or NULL where a table is missing. */
static u64 *hw_walk(const struct mmu_root *root, gva_t gva)
{
	u64 vpn = gva_to_vpn(gva, root->role.level), *t = phys_to_virt(root->hpa);

	for (int level = root->role.level; level > 1; level--) {
		u64 e = __atomic_load_n(&t[(vpn >> (9 * (level - 1))) & (PT_ENTRIES - 1)], __ATOMIC_ACQUIRE);

		if (!spte_is_present(e))
			return NULL;
		t = phys_to_virt(spte_pfn(e) << PAGE_SHIFT);
	}
	return &t[vpn & (PT_ENTRIES - 1)];
}

/* One access by the "hardware": true once it went through (a write is then recorded), false when it must fault;
 * *present: a leaf was there (the #PF error code's P). */
static bool try_access(unsigned int i, bool write, bool *present)
{
	bool done = false;

	*present = false;
	grace_read_lock();
	u64 *p = hw_walk(sx.vcpu.current, st.gva[i]);
	if (p) {
		u64 spte = __atomic_load_n(p, __ATOMIC_ACQUIRE);

		*present = spte_is_present(spte);
		if (*present && (!write || (spte & PTE_W))) {
			u64 want = spte | PTE_A | (write ? PTE_D : 0);

			/* A CPU sets A/D atomically on the entry it walked, and walks again if it changed. */
			done = want == spte ||
			       __atomic_compare_exchange_n(p, &spte, want, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		}
	}
	grace_read_unlock();
	if (done && write)
		__atomic_store_n(&st.written[st.gfn[i] - DATA_GFN], 1, __ATOMIC_RELAXED);
	return done;
}

static bool reload(void)
{
	mmu_vcpu_free_obsolete_roots(&sx.mmu, &sx.vcpu);
	if (mmu_load_root(&sx.mmu, &sx.vcpu, &sx.p)) {
		stress_fail("root load failed");
		return false;
	}
	mmu_shadow_sync_current(&sx.mmu, &sx.vcpu);
	return true;
}

static bool logged(gfn_t gfn)
{
	struct memslot *s = memslot_find(&sx.mmu.slots, gfn);
	u64 i = gfn - s->base_gfn;

	return (__atomic_load_n(&s->dirty_log[i / 64], __ATOMIC_RELAXED) >> (i % 64)) & 1;
}

/* A write is kept if the log has it or a leaf mapping the gfn is still dirty. Under the lock (or with the threads
 * joined): the rmap is the lock holders'. */
static bool write_kept(gfn_t gfn)
{
	struct memslot *s = memslot_find(&sx.mmu.slots, gfn);
	struct rmap_iter it;
	u64 *sptep;

	if (logged(gfn))
		return true;
	for_each_rmap_spte(rmap_head(s, gfn, 1), &it, sptep) {
		if (__atomic_load_n(sptep, __ATOMIC_RELAXED) & PTE_D)
			return true;
	}
	return false;
}

/*
 * A dirty-log pass, as a consumer of the log would make one (in the vCPU's thread, so that its record of writes and
 * the pass cannot interleave): under the lock, D taken from every leaf of the data gfns through the hook, which
 * harvests it into the log (after checking that every write recorded since the last pass is in the log or in a
 * dirty leaf); then the log and the record emptied. The leaves stay writable: the next write through
 * one sets D again, in the hardware's way, racing the ager.
 */
static void dirty_pass(void)
{
	struct memslot *slot = memslot_find(&sx.mmu.slots, DATA_GFN);

	write_lock(&sx.mmu.lock);
	for (gfn_t g = DATA_GFN; g < DATA_GFN + NDATA; g++) {
		struct rmap_iter it;
		u64 *sptep;

		/* First, every write since the last pass is still there, whatever aged, zapped or write-protected. */
		if (__atomic_load_n(&st.written[g - DATA_GFN], __ATOMIC_RELAXED) && !write_kept(g))
			stress_fail("the write to gfn %#llx is lost", (unsigned long long)g);
		for_each_rmap_spte(rmap_head(slot, g, 1), &it, sptep) {
			u64 old = __atomic_load_n(sptep, __ATOMIC_RELAXED);
			unsigned int idx;
			struct spage *sp = __spage_of_sptep(&sx.mmu, sptep, &idx);

			while ((old & PTE_D) && !__atomic_compare_exchange_n(sptep, &old, old & ~PTE_D, false,
									     __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
				;
			if (old & PTE_D)
				__mmu_handle_changed_spte(&sx.mmu, &shadow_engine, shadow_fmt, sp->vpn + idx, sptep,
							  old, old & ~PTE_D, 1);
		}
	}
	__mmu_flush_and_free(&sx.mmu);
	write_unlock(&sx.mmu.lock);
	for (gfn_t g = DATA_GFN; g < DATA_GFN + NDATA; g++) {
		memslot_test_and_clear_dirty(slot, g);
		__atomic_store_n(&st.written[g - DATA_GFN], 0, __ATOMIC_RELAXED);
	}
	__atomic_fetch_add(&st.dirty_passes, 1, __ATOMIC_RELAXED);
}

static void *vcpu_thread(void *arg)
{
	u64 seed = 0x9e3779b97f4a7c15ULL;

	fake_cpu_id = 1;
	while (!__atomic_load_n(&st.stop, __ATOMIC_RELAXED)) {
		u64 r = rnd(&seed);
		unsigned int i = r % NGVA;
		bool write = (r >> 32) & 1, present;
		int tries;

		/* The request to drop obsolete roots, honoured before the next "entry". */
		if (__atomic_exchange_n(&st.request, 0, __ATOMIC_ACQ_REL) && !reload())
			return NULL;
		for (tries = 0; tries < ACCESS_TRIES && !try_access(i, write, &present); tries++) {
			struct mmu_fault f;
			u32 pferr = (write ? PFERR_WRITE : 0) | (present ? PFERR_PRESENT : 0);
			int res = mmu_shadow_fault(&sx.mmu, &sx.vcpu, &sx.p, st.gva[i], pferr, &f);

			__atomic_fetch_add(&st.faults, 1, __ATOMIC_RELAXED);
			if (res == MMU_FAULT_WRITE_PROTECTED)
				break; /* a tracked gfn: the write is emulated (mmu_write_gpa), not made through a leaf
					*/
			if (res == MMU_FAULT_RETRY) {
				if (!reload())
					return NULL;
			} else if (res != MMU_FAULT_FIXED && res != MMU_FAULT_SPURIOUS) {
				stress_fail("fault at gva %#llx: %d", (unsigned long long)st.gva[i], res);
				return NULL;
			}
		}
		if (tries == ACCESS_TRIES)
			stress_fail("gva %#llx still faulting after %d faults", (unsigned long long)st.gva[i], tries);
		if (__atomic_add_fetch(&st.accesses, 1, __ATOMIC_RELAXED) % 64 == 0)
			sched_yield();
		if (st.accesses % 1024 == 0)
			dirty_pass();
	}
	return NULL;
}

/* Under the lock: one leaf of gva's gfn zapped through the hook (as a guest PTE write does, swrite.c), or the whole
 * shadow page table holding it, from every parent, freed after the flush (write flooding). */
static void zap(unsigned int i, bool table)
{
	struct memslot *slot = memslot_find(&sx.mmu.slots, st.gfn[i]);
	struct rmap_iter it;
	u64 *sptep;

	write_lock(&sx.mmu.lock);
	sptep = rmap_iter_first(rmap_head(slot, st.gfn[i], 1), &it);
	if (sptep) {
		unsigned int idx;
		struct spage *sp = __spage_of_sptep(&sx.mmu, sptep, &idx);

		if (table) {
			__spage_zap(&sx.mmu, sp);
			st.table_zaps++;
		} else {
			__shadow_set_sptep(&sx.mmu, sptep, sp->vpn + idx, 1, 0);
			st.zaps++;
		}
	}
	__mmu_flush_and_free(&sx.mmu);
	write_unlock(&sx.mmu.lock);
}

static void mutate(u64 r)
{
	unsigned int i = r % NGVA;

	switch ((r >> 40) % 16) {
	default:
		zap(i, false);
		break;
	case 8:
	case 9:
		zap(i, true);
		break;
	case 10:
	case 11:
		if (st.nwp < MAX_WP && mmu_track_add_gfn(&sx.mmu, st.gfn[i]) == 0) { /* write-protects its leaves */
			st.wp[st.nwp++] = st.gfn[i];
			st.wps++;
		}
		break;
	case 12:
	case 13:
		if (st.nwp && mmu_track_remove_gfn(&sx.mmu, st.wp[--st.nwp]))
			stress_fail("track remove failed");
		break;
	case 14:
		if ((r >> 8) % 64 == 0) { /* rare: the vCPU then rebuilds everything */
			mmu_invalidate_all_roots(&sx.mmu);
			st.invalidations++;
		}
		break;
	}
}

static bool done(void)
{
	return __atomic_load_n(&sx.mmu.stats.aged_leaves, __ATOMIC_RELAXED) >= MIN_AGED &&
	       __atomic_load_n(&st.accesses, __ATOMIC_RELAXED) >= MIN_ACCESSES &&
	       __atomic_load_n(&st.dirty_passes, __ATOMIC_RELAXED) >= MIN_DIRTY_PASSES && st.zaps >= MIN_ZAPS &&
	       st.table_zaps >= MIN_TABLE_ZAPS && st.wps >= MIN_WPS && st.invalidations >= MIN_INVALIDATIONS;
}

/* The leaves the tables hold: every present entry of every level-1 shadow page, each counted once however many
 * roots reach it. */
static s64 leaves_in_tables(void)
{
	s64 n = 0;

	for (unsigned int h = 0; h < (1u << SHADOW_HASH_BITS); h++) {
		for (struct spage *sp = sx.mmu.shadow.by_hpa[h]; sp; sp = sp->hpa_next) {
			const u64 *t = phys_to_virt(sp->hpa);

			for (unsigned int e = 0; sp->role.level == 1 && e < PT_ENTRIES; e++)
				n += spte_is_present(t[e]);
		}
	}
	return n;
}

TEST(shadow_aging_races_faults_zaps_table_frees_and_write_protects)
{
	pthread_t vcpu, ager;
	u64 seed = 0xd1b54a32d192ed03ULL;

	memset(&st, 0, sizeof(st));
	failed = 0;
	stress_err[0] = 0;
	stress_stop_flag = &st.stop;
	sx_setup(256);
	sx.other_trackers = true;
	for (unsigned int k = 0; k < NSPACES; k++) {
		for (unsigned int d = 0; d < NDATA; d++) {
			unsigned int i = k * NDATA + d;

			st.gva[i] = ((u64)(k + 1) << 30) + (u64)d * PAGE_SIZE;
			st.gfn[i] = DATA_GFN + d;
		}
	}
	for (unsigned int j = 0; j < HOT_MAPS; j++) {
		st.gva[NDATA * NSPACES + j] = ((u64)(NSPACES + 1) << 30) + (u64)j * PAGE_SIZE;
		st.gfn[NDATA * NSPACES + j] = DATA_GFN;
	}
	/* Guest PTEs with A and D already set: the guest walks of the faults write nothing to guest memory. */
	for (unsigned int i = 0; i < NGVA; i++)
		sx_map(sx.p.cr3, st.gva[i], st.gfn[i] << PAGE_SHIFT, 1, G_ALL | G_A, G_ALL | G_A | G_D);
	CHECK_EQ(sx_load(), 0);
	/* One leaf before the threads start, so that the slot's rmap heads exist (rmap_slot_alloc). */
	CHECK_EQ(sx_fault(st.gva[0], 0, NULL), MMU_FAULT_FIXED);
	write_lock(&sx.mmu.lock);
	st.leaves = leaves_in_tables();
	write_unlock(&sx.mmu.lock);
	const struct mmu_ops *fixture_ops = sx.mmu.ops;
	sx.mmu.ops = &stress_ops; /* before the threads start: constant while they run */

	CHECK_EQ(pthread_create(&vcpu, NULL, vcpu_thread, NULL), 0);
	struct age_stress_ager ag = {.mmu = &sx.mmu, .base = DATA_GFN, .n = NDATA, .all_start = 0, .all_end = ~0ULL,
				     .stop = &st.stop};
	CHECK_EQ(pthread_create(&ager, NULL, age_stress_ager, &ag), 0);
	/* On until every count is met: a slow machine takes longer, it does not fail. */
	while (!__atomic_load_n(&failed, __ATOMIC_RELAXED) && !done()) {
		mutate(rnd(&seed));
		if (++st.ops % 16 == 0)
			sched_yield();
	}
	__atomic_store_n(&st.stop, 1, __ATOMIC_SEQ_CST);
	CHECK_EQ(pthread_join(vcpu, NULL), 0);
	CHECK_EQ(pthread_join(ager, NULL), 0);
	if (failed)
		test_fail(__FILE__, __LINE__, "%s", stress_err);

	/* No leaf the hook did not see appear, and no write forgotten. */
	write_lock(&sx.mmu.lock);
	s64 in_tables = leaves_in_tables();
	write_unlock(&sx.mmu.lock);
	CHECK_EQ(in_tables, st.leaves);
	for (unsigned int d = 0; d < NDATA; d++) {
		if (st.written[d] && !write_kept(DATA_GFN + d))
			test_fail(__FILE__, __LINE__, "the write to gfn %#llx is lost",
				  (unsigned long long)(DATA_GFN + d));
	}
	if (getenv("AGE_STATS"))
		fprintf(stderr,
			"  %llu accesses, %llu faults, %llu ages (%llu young, %llu leaves aged), %llu zaps, %llu table "
			"zaps, "
			"%llu write-tracks, %llu invalidations, %llu harvests, %llu dirty-log passes\n",
			(unsigned long long)st.accesses, (unsigned long long)st.faults, (unsigned long long)ag.ages,
			(unsigned long long)ag.young, (unsigned long long)sx.mmu.stats.aged_leaves,
			(unsigned long long)st.zaps, (unsigned long long)st.table_zaps, (unsigned long long)st.wps,
			(unsigned long long)st.invalidations, (unsigned long long)sx.mmu.stats.dirty_harvested,
			(unsigned long long)st.dirty_passes);
	while (st.nwp)
		CHECK_EQ(mmu_track_remove_gfn(&sx.mmu, st.wp[--st.nwp]), 0);
	sx.other_trackers = false;
	sx.mmu.ops = fixture_ops;
	sx_check(); /* the rmaps hold exactly the leaves, each mapping its gfn's frame; tracking counts exact */
	sx_teardown();
}
