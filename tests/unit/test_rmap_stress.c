/* The rmap lock bit (mm/shadow/rmap.c) under real concurrency: one writer thread, holding a mutex that stands in for
 * the MMU lock, adds, removes and clears entries of a few heads, while two reader threads take the heads' read lock
 * and walk them. A reader must see, every time, exactly the set the writer's model says the head held at one
 * instant: never a pointer the model says is not there, never a chain half changed, never a descriptor freed or
 * reused under it (ASan in build/unit, ThreadSanitizer in build/unit-tsan would report the read of a freed one; a
 * descriptor recycled through the cache would show as a wrong set). Fake SPTEs are words of a static array.
 *
 * Nothing here depends on timing. The run ends on counts, not on a clock: the writer goes on until it has done
 * MIN_OPS operations, MIN_WAITS of them found a reader inside the head they change, and the readers walked
 * MIN_LONG_WALKS chains of several descriptors. The overlaps are made, not hoped for: every HOLD_EVERY-th walk, a
 * reader stops half way through its chain, still holding the read lock, until the writer is at an operation on that
 * head: it has found the head locked, and spins on the bit while the reader finishes (hold()). A loaded machine
 * (the runs this replaced asked for 200 such overlaps within 3 s, and got 30 to 100 at a load average of 5 on two
 * CPUs, because a reader preempted inside its section costs the writer a time slice) makes the test slower, never
 * red. */
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>

#include "fake_platform.h"
#include "hv/platform.h"
#include "mm/shadow/rmap.h"
#include "stress.h"

#define NHEADS	       4
#define PER_HEAD       64 /* fake SPTEs per head: one bit each of the head's model mask */
#define NREADERS       2
#define MIN_OPS	       10000 /* writer operations */
#define MIN_WAITS      200   /* writer operations that found a reader holding their head */
#define MIN_LONG_WALKS 200   /* reader walks of a chain of two descriptors or more */
#define HOLD_EVERY     32    /* a reader holds every 32nd walk until the writer meets it */
#define BATCH	       8     /* writer operations per hold of the mutex */

static u64 fake[NHEADS * PER_HEAD];

static struct {
	u64 heads[NHEADS];
	/* atomic, written by the writer only: bit i set while fake[h * PER_HEAD + i] may be in head h. Set before the
	 * add and cleared after the remove, so it holds the head's set plus at most the one entry the writer is adding
	 * or has just removed: a single location changed one bit at a time in program order. */
	u64 mask[NHEADS];
	int stop;	     /* atomic */
	int at;		     /* atomic, the writer's: h + 1 from its look at head h to the end of that op, else 0 */
	u64 walks[NREADERS]; /* reader's own; read after the join */
	u64 seen[NREADERS];  /* entries its walks returned */
	u64 long_walks;	     /* atomic, both readers add: walks of more than RMAP_DESC_ENTRIES entries */
	u64 waits;	     /* writer's: operations that found a reader holding their head */
	u64 ops;	     /* writer's */
} st;

static pthread_mutex_t mmu_lock = PTHREAD_MUTEX_INITIALIZER;

/* stress_fail: stress.h; the stop flag is st.stop (set in the test before the threads start). */

static u32 rnd(u64 *s, u32 n)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (u32)(*s % n);
}

/*
 * Half way through a walk, hold head h (read-locked) until the writer is at an operation on h: it has looked at the
 * head (and, finding it locked, counted a meeting) and is about to spin on the bit, or is spinning. The hold waits
 * for a state, not for an event that a hold could miss: the writer only ever spins on the head its current
 * operation is at, and every holder of that head lets go once st.at names it, so neither side waits for the other
 * in a circle. (A reader that takes h while the writer is between its look and its lock ends its hold at once: the
 * writer then waits for it all the same, uncounted.) No clock: the writer picks among NHEADS heads at random.
 */
static void hold(int h)
{
	while (__atomic_load_n(&st.at, __ATOMIC_ACQUIRE) != h + 1 && !__atomic_load_n(&st.stop, __ATOMIC_RELAXED))
		sched_yield();
}

/* One walk of head h under its read lock: the set it returns, as a mask; ~0 after a failure. A held walk stops
 * half way through (hold). */
static u64 walk_locked(int t, int h, u64 v, bool held)
{
	struct rmap_iter it;
	u64 *p, w = 0;
	u32 n = 0, half = rmap_count(v) / 2 + 1;

	for_each_rmap_spte(&st.heads[h], &it, p) {
		long i = p - &fake[h * PER_HEAD];

		if (i < 0 || i >= PER_HEAD) {
			stress_fail("reader %d: head %d holds %p, not one of its fake SPTEs", t, h, (void *)p);
			return ~0ULL;
		}
		if (w & BIT(i)) {
			stress_fail("reader %d: head %d returned entry %ld twice", t, h, i);
			return ~0ULL;
		}
		w |= BIT(i);
		if (++n == half && held)
			hold(h); /* the writer changes nothing of this head meanwhile: checked below */
	}
	if (rmap_count(v) != n)
		stress_fail("reader %d: head %d counts %u, the walk returned %u", t, h, rmap_count(v), n);
	if (rmap_get(&st.heads[h]) != v)
		stress_fail("reader %d: head %d changed under the read lock", t, h);
	if (n > RMAP_DESC_ENTRIES)
		__atomic_fetch_add(&st.long_walks, 1, __ATOMIC_RELAXED);
	return w;
}

static void *reader(void *arg)
{
	int t = (int)(uintptr_t)arg;
	u64 seed = 0x2545f4914f6cdd1dULL * (u64)(t + 1);

	fake_cpu_id = 1 + (unsigned int)t;
	while (!__atomic_load_n(&st.stop, __ATOMIC_RELAXED)) {
		int h = (int)rnd(&seed, NHEADS);
		u64 v = rmap_lock_read(&st.heads[h]), w, m;

		if (v) {
			w = walk_locked(t, h, v, st.walks[t] % HOLD_EVERY == 1);
			/* Read inside the section: the writer cannot change this head's set now, so the mask is the set
			 * plus at most one entry being added or just removed. */
			m = __atomic_load_n(&st.mask[h], __ATOMIC_RELAXED);
			if (w != ~0ULL && ((w & ~m) || __builtin_popcountll(m & ~w) > 1))
				stress_fail("reader %d: head %d walked %#llx while the model held %#llx", t, h,
					    (unsigned long long)w, (unsigned long long)m);
			st.seen[t] += (u64)__builtin_popcountll(w);
			st.walks[t]++;
		}
		rmap_unlock_read(&st.heads[h], v);
		if (st.walks[t] % 8 == 0)
			sched_yield();
	}
	return NULL;
}

static void set_mask(int h, u64 m)
{
	__atomic_store_n(&st.mask[h], m, __ATOMIC_RELAXED);
}

/* One writer operation on head h with the "MMU lock" held: toggle a random entry, or now and then empty the head. */
static void writer_op(struct rmap_cache *c, u64 *seed)
{
	int h = (int)rnd(seed, NHEADS);
	u32 i = rnd(seed, PER_HEAD);
	u64 m = st.mask[h]; /* the writer's own */
	u64 *sptep = &fake[h * PER_HEAD + i];

	if (__atomic_load_n(&st.heads[h], __ATOMIC_RELAXED) & RMAP_LOCKED)
		st.waits++;
	__atomic_store_n(&st.at, h + 1, __ATOMIC_RELEASE); /* after the look: a holder of h lets go now (hold) */
	st.ops++;
	if (rnd(seed, 1000) == 0) {
		rmap_clear(c, &st.heads[h]);
		set_mask(h, 0);
	} else if (m & BIT(i)) {
		rmap_remove(c, &st.heads[h], sptep);
		set_mask(h, m & ~BIT(i));
	} else {
		set_mask(h, m | BIT(i));
		if (rmap_add(c, &st.heads[h], sptep))
			stress_fail("writer: rmap_add failed with the cache topped up");
	}
	__atomic_store_n(&st.at, 0, __ATOMIC_RELEASE);
}

/* The writer's own walk under the "MMU lock", without the bit, racing the readers' walks: the exact set. */
static void writer_check(int h)
{
	struct rmap_iter it;
	u64 *p, w = 0;

	for_each_rmap_spte(&st.heads[h], &it, p) w |= BIT(p - &fake[h * PER_HEAD]);
	if (w != st.mask[h])
		stress_fail("writer: head %d holds %#llx, the model %#llx", h, (unsigned long long)w,
			    (unsigned long long)st.mask[h]);
}

TEST(rmap_readers_see_whole_sets_while_the_writer_changes_them)
{
	stress_stop_flag = &st.stop;
	pthread_t th[NREADERS];
	struct rmap_cache c = {0};
	u64 seed = 42, walks = 0, seen = 0;
	int round = 0;

	for (int t = 0; t < NREADERS; t++)
		CHECK_EQ(pthread_create(&th[t], NULL, reader, (void *)(uintptr_t)t), 0);
	/* On until the counts are met (see the top of the file): a slow machine takes longer, it does not fail. */
	while (!__atomic_load_n(&failed, __ATOMIC_RELAXED) &&
	       (st.ops < MIN_OPS || st.waits < MIN_WAITS ||
		__atomic_load_n(&st.long_walks, __ATOMIC_RELAXED) < MIN_LONG_WALKS)) {
		/* Descriptors come from the cache, topped up outside the lock; every few rounds from the heap instead
		 * (a NULL cache), and now and then the cache is emptied, so that freed descriptors are both reused and
		 * given back to the heap while readers run. */
		bool use_cache = round % 4 != 3;

		if (use_cache && rmap_cache_topup(&c, 2 * BATCH > RMAP_CACHE_SIZE ? RMAP_CACHE_SIZE : 2 * BATCH))
			stress_fail("writer: cache topup failed");
		if (round % 64 == 63)
			rmap_cache_free(&c);
		pthread_mutex_lock(&mmu_lock);
		for (int k = 0; k < BATCH; k++)
			writer_op(use_cache ? &c : NULL, &seed);
		if (round % 16 == 0)
			writer_check(round / 16 % NHEADS);
		pthread_mutex_unlock(&mmu_lock);
		if (++round % 32 == 0)
			sched_yield(); /* let the readers in */
	}
	__atomic_store_n(&st.stop, 1, __ATOMIC_SEQ_CST);
	for (int t = 0; t < NREADERS; t++)
		CHECK_EQ(pthread_join(th[t], NULL), 0);
	if (failed)
		test_fail(__FILE__, __LINE__, "%s", stress_err);

	for (int h = 0; h < NHEADS; h++) {
		CHECK(!(st.heads[h] & RMAP_LOCKED));
		writer_check(h);
		CHECK(!failed);
		CHECK_EQ(rmap_count(st.heads[h]), __builtin_popcountll(st.mask[h]));
		rmap_clear(&c, &st.heads[h]);
		CHECK_EQ(st.heads[h], 0);
	}
	rmap_cache_free(&c);
	for (int t = 0; t < NREADERS; t++) {
		walks += st.walks[t];
		seen += st.seen[t];
	}
	if (getenv("RMAP_STATS"))
		fprintf(stderr,
			"  %llu writer ops, %llu found a reader inside; %llu walks (%llu of 2+ descriptors), "
			"%llu entries seen\n",
			(unsigned long long)st.ops, (unsigned long long)st.waits, (unsigned long long)walks,
			(unsigned long long)st.long_walks, (unsigned long long)seen);
	/* No check of the counts here: the loop ran until they were met (a reader's failure, the other way out, was
	 * raised above). What the test asserts is every walk's set against the model, and the heads at the end. */
}
