/* Grace periods (mm/grace.c) under real concurrency: reader threads (each a fake CPU) walk a "table" that a writer
 * keeps replacing, retiring and reclaiming, and no reader ever sees its table change under it. A freed frame is
 * poisoned by the fake frame_free and a reused one carries another generation's pattern, so a frame freed too early
 * shows up as a bad pattern; under ThreadSanitizer (build/unit-tsan) it is also a race with the poisoning. */
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <time.h>

#include "fake_platform.h"
#include "hv/platform.h"
#include "mm/grace.h"
#include "stress.h"

#define NREADERS     3
#define RUN_MS	     1000 /* at least; and on until MIN_OVERLAPS sections saw their table retired, for at most 5x */
#define MIN_OVERLAPS 1000
#define CHECK_PASSES 4 /* a reader reads its whole table this often, to stay inside for a while */
#define WORDS	     (PAGE_SIZE / 8)

#define PATTERN(gen, i) (0x6a09e667f3bcc908ULL * (gen) ^ (u64)(i))

static struct {
	struct grace g;
	spinlock_t lock;
	hpa_t table;		/* atomic: the current table, word 0 its generation, word i PATTERN(gen, i) */
	int stop;		/* atomic: readers leave */
	u64 sections[NREADERS]; /* reader's own; read after the join */
	u64 overlaps;		/* atomic: sections whose table was replaced (to be retired) before they left */
	u64 newest_gen;		/* atomic: the writer's latest generation */
} st;

/* stress_fail and now_ms: stress.h; the stop flag is st.stop (set in the test before the threads start). */

static void fill(hpa_t pa, u64 gen)
{
	u64 *w = phys_to_virt(pa);

	w[0] = gen;
	for (u64 i = 1; i < WORDS; i++)
		w[i] = PATTERN(gen, i);
}

/* Read the whole table several times over; whether it kept one generation's pattern throughout. Plain (volatile)
 * loads, as a page-table walk's would be to the sanitizer: only the grace period orders them before the poisoning.
 * With dawdle, the reader gives its CPU away halfway, as a long walk on a slow CPU would: on a loaded host with
 * fewer CPUs than threads, that is what lets the writer replace, retire and reclaim under a reader every time. */
static bool table_is_stable(hpa_t pa, u64 *gen_out, bool dawdle)
{
	const volatile u64 *w = phys_to_virt(pa);
	u64 gen = w[0];

	*gen_out = gen;
	if (gen == 0 || gen > __atomic_load_n(&st.newest_gen, __ATOMIC_ACQUIRE))
		return false;
	for (int pass = 0; pass < CHECK_PASSES; pass++) {
		if (dawdle && pass == CHECK_PASSES / 2)
			sched_yield();
		for (u64 i = 1; i < WORDS; i++)
			if (w[i] != PATTERN(gen, i))
				return false;
		if (w[0] != gen)
			return false;
	}
	return true;
}

static void *reader(void *arg)
{
	int t = (int)(uintptr_t)arg;

	fake_cpu_id = 1 + (unsigned int)t;
	while (!__atomic_load_n(&st.stop, __ATOMIC_RELAXED)) {
		u64 gen;

		grace_read_lock();
		hpa_t pa = __atomic_load_n(&st.table, __ATOMIC_ACQUIRE);
		if (!table_is_stable(pa, &gen, st.sections[t] % 8 == 4))
			stress_fail("reader %d: table %#llx (generation %llu) changed inside a read section", t,
				    (unsigned long long)pa, (unsigned long long)gen);
		if (__atomic_load_n(&st.table, __ATOMIC_RELAXED) != pa)
			__atomic_fetch_add(&st.overlaps, 1, __ATOMIC_RELAXED);
		grace_read_unlock();
		/* Otherwise be descheduled outside a section rather than inside, as far as that can be chosen: a reader
		 * preempted inside holds every advance back for a whole time slice. */
		if (++st.sections[t] % 8 == 0)
			sched_yield();
	}
	return NULL;
}

static void stress_setup(void)
{
	__atomic_store_n(&st.stop, 0, __ATOMIC_SEQ_CST);
	failed = 0;
	stress_err[0] = 0;
	for (int t = 0; t < NREADERS; t++)
		st.sections[t] = 0;
	st.overlaps = 0;
	spin_lock_init(&st.lock);
	grace_init(&st.g, &st.lock);
}

TEST(readers_never_see_a_freed_table)
{
	stress_stop_flag = &st.stop;
	pthread_t th[NREADERS];
	u64 baseline = fake_mem_frames_in_use();
	u64 gen = 1, freed_while_running, sections = 0;

	stress_setup();
	st.table = frame_alloc(0);
	CHECK(st.table != INVALID_HPA);
	fill(st.table, gen);
	st.newest_gen = gen;
	for (int t = 0; t < NREADERS; t++)
		CHECK_EQ(pthread_create(&th[t], NULL, reader, (void *)(uintptr_t)t), 0);

	/* The writer is this thread, CPU 0: replace, retire, reclaim, as the MMU's deferred-free path will. */
	u64 start = now_ms(), ms;
	while (!__atomic_load_n(&failed, __ATOMIC_RELAXED) && (ms = now_ms() - start) < 5 * RUN_MS &&
	       (ms < RUN_MS || __atomic_load_n(&st.overlaps, __ATOMIC_RELAXED) < MIN_OVERLAPS)) {
		hpa_t next = frame_alloc(0);

		if (next == INVALID_HPA) {
			stress_fail("out of frames after %llu generations", (unsigned long long)gen);
			break;
		}
		fill(next, ++gen);
		__atomic_store_n(&st.newest_gen, gen, __ATOMIC_RELEASE);
		hpa_t old = __atomic_exchange_n(&st.table, next, __ATOMIC_SEQ_CST);
		spin_lock(&st.lock);
		grace_retire(&st.g, old, 0);
		grace_reclaim(&st.g);
		spin_unlock(&st.lock);
		if (gen % 64 == 0)
			sched_yield(); /* let the readers in */
	}
	__atomic_store_n(&st.stop, 1, __ATOMIC_SEQ_CST);
	for (int t = 0; t < NREADERS; t++)
		CHECK_EQ(pthread_join(th[t], NULL), 0);
	if (failed)
		test_fail(__FILE__, __LINE__, "%s", stress_err);

	freed_while_running = st.g.stats.freed;
	spin_lock(&st.lock);
	grace_retire(&st.g, st.table, 0);
	grace_synchronize(&st.g);
	spin_unlock(&st.lock);
	CHECK_EQ(st.g.stats.retired, gen);
	CHECK_EQ(st.g.stats.freed, gen);
	CHECK_EQ(fake_mem_frames_in_use(), baseline);
	for (int t = 0; t < NREADERS; t++)
		sections += st.sections[t];
	if (getenv("GRACE_STATS"))
		fprintf(
		    stderr,
		    "  %llu generations, %llu sections, %llu overlapping a retire, %llu advances, %llu full waits\n",
		    (unsigned long long)gen, (unsigned long long)sections, (unsigned long long)st.overlaps,
		    (unsigned long long)st.g.stats.advances, (unsigned long long)st.g.stats.full_waits);
	/* The run really raced: readers were inside while their table was retired, and reclaim kept up while they
	 * were (not everything waited for the final synchronize). */
	CHECK(st.overlaps >= MIN_OVERLAPS);
	CHECK(freed_while_running > gen / 2);
}

/* A full ring: the retirer waits for a reader that is inside, and only for it. */
static struct {
	hpa_t watched; /* the first frame retired: the reader checks it for as long as it is inside */
	int entered;   /* atomic: the reader is inside */
	int release;   /* atomic: the reader may leave */
	int retired;   /* atomic: the overflowing retire returned */
	bool intact;   /* reader's: the watched frame kept its pattern throughout */
} full;

static void *full_reader(void *arg)
{
	u64 gen;

	fake_cpu_id = 1;
	grace_read_lock();
	__atomic_store_n(&full.entered, 1, __ATOMIC_SEQ_CST);
	full.intact = true;
	while (!__atomic_load_n(&full.release, __ATOMIC_SEQ_CST))
		full.intact &= table_is_stable(full.watched, &gen, false);
	grace_read_unlock();
	return NULL;
}

static void *overflowing_retirer(void *arg)
{
	fake_cpu_id = 2;
	spin_lock(&st.lock);
	grace_retire(&st.g, (hpa_t)(uintptr_t)arg, 0);
	spin_unlock(&st.lock);
	__atomic_store_n(&full.retired, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

TEST(full_ring_waits_for_the_reader_inside)
{
	stress_stop_flag = &st.stop;
	pthread_t rd, wr;
	u64 baseline = fake_mem_frames_in_use();
	hpa_t last;

	stress_setup();
	full.watched = frame_alloc(0);
	fill(full.watched, 1);
	st.newest_gen = GRACE_RING_SIZE + 1;
	CHECK_EQ(pthread_create(&rd, NULL, full_reader, NULL), 0);
	while (!__atomic_load_n(&full.entered, __ATOMIC_SEQ_CST))
		sched_yield();

	spin_lock(&st.lock);
	grace_retire(&st.g, full.watched, 0);
	for (u64 i = 1; i < GRACE_RING_SIZE; i++) {
		hpa_t t = frame_alloc(0);
		fill(t, 1 + i);
		grace_retire(&st.g, t, 0);
	}
	grace_reclaim(&st.g);
	spin_unlock(&st.lock);
	last = frame_alloc(0);
	fill(last, GRACE_RING_SIZE + 1);

	/* From here on only the retirer thread allocates or frees (the fake allocator is single-threaded). */
	CHECK_EQ(pthread_create(&wr, NULL, overflowing_retirer, (void *)(uintptr_t)last), 0);
	struct timespec pause = {.tv_nsec = 50 * 1000 * 1000};
	nanosleep(&pause, NULL);
	bool retired_early = __atomic_load_n(&full.retired, __ATOMIC_SEQ_CST);
	__atomic_store_n(&full.release, 1, __ATOMIC_SEQ_CST);
	CHECK_EQ(pthread_join(rd, NULL), 0);
	CHECK_EQ(pthread_join(wr, NULL), 0);

	CHECK(!retired_early); /* not a timing guess: nothing can be freed while the reader is inside */
	CHECK(full.intact);
	CHECK_EQ(st.g.stats.full_waits, 1);
	CHECK(st.g.stats.freed >= 1);
	spin_lock(&st.lock);
	grace_synchronize(&st.g);
	spin_unlock(&st.lock);
	CHECK_EQ(st.g.stats.freed, GRACE_RING_SIZE + 1);
	CHECK_EQ(fake_mem_frames_in_use(), baseline);
}
