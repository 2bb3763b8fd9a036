/* The MMU's reader-writer lock (hv/rwlock.h) under real threads: exclusion, the ownership assertions, and its
 * phase-fairness, the property the MMU relies on so that a stream of vCPU faults (readers) cannot starve a zap
 * (a writer), nor back-to-back zaps the faults. Each thread is a fake CPU (fake_platform.h). */
#include <pthread.h>
#include <sched.h>

#include "fake_platform.h"
#include "hv/rwlock.h"
#include "stress.h"
#include "test.h"

#define NREADERS 3
#define NWRITERS 2
#define RUN_MS	 300

static struct {
	rwlock_t lock;
	int stop;	       /* atomic */
	int writer_inside;     /* atomic: a writer holds the lock */
	int readers_inside;    /* atomic */
	u64 plain;	       /* changed by writers only, under the lock, without atomics */
	u64 reader_entries;    /* atomic: read sections entered */
	u64 writer_entries;    /* atomic: write sections entered */
	u64 reads, writes;     /* after the join */
} st;

static void spin_a_little(unsigned int n)
{
	for (volatile unsigned int i = 0; i < n; i++)
		;
}

static void *reader(void *arg)
{
	fake_cpu_id = (unsigned int)(uintptr_t)arg;
	while (!__atomic_load_n(&st.stop, __ATOMIC_RELAXED)) {
		read_lock(&st.lock);
		if (!rwlock_is_read_held_by_me(&st.lock) || rwlock_is_write_held_by_me(&st.lock))
			stress_fail("reader %u: ownership not recorded", fake_cpu_id);
		__atomic_fetch_add(&st.readers_inside, 1, __ATOMIC_SEQ_CST);
		__atomic_fetch_add(&st.reader_entries, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&st.writer_inside, __ATOMIC_SEQ_CST))
			stress_fail("a reader inside with a writer");
		spin_a_little(200);
		__atomic_fetch_sub(&st.readers_inside, 1, __ATOMIC_SEQ_CST);
		read_unlock(&st.lock);
		__atomic_fetch_add(&st.reads, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void *writer(void *arg)
{
	fake_cpu_id = (unsigned int)(uintptr_t)arg;
	while (!__atomic_load_n(&st.stop, __ATOMIC_RELAXED)) {
		write_lock(&st.lock);
		if (!rwlock_is_write_held_by_me(&st.lock))
			stress_fail("writer %u: ownership not recorded", fake_cpu_id);
		if (__atomic_exchange_n(&st.writer_inside, 1, __ATOMIC_SEQ_CST) ||
		    __atomic_load_n(&st.readers_inside, __ATOMIC_SEQ_CST))
			stress_fail("a writer inside with another holder");
		__atomic_fetch_add(&st.writer_entries, 1, __ATOMIC_SEQ_CST);
		st.plain++;
		spin_a_little(100);
		__atomic_store_n(&st.writer_inside, 0, __ATOMIC_SEQ_CST);
		write_unlock(&st.lock);
		__atomic_fetch_add(&st.writes, 1, __ATOMIC_RELAXED);
		spin_a_little(300); /* writers are the rarer side, as zaps are */
	}
	return NULL;
}

TEST(rwlock_excludes_under_contention)
{
	pthread_t t[NREADERS + NWRITERS];

	memset(&st, 0, sizeof(st));
	failed = 0;
	stress_stop_flag = &st.stop;
	rwlock_init(&st.lock);
	for (unsigned int i = 0; i < NREADERS; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, reader, (void *)(uintptr_t)(1 + i)), 0);
	for (unsigned int i = 0; i < NWRITERS; i++)
		CHECK_EQ(pthread_create(&t[NREADERS + i], NULL, writer, (void *)(uintptr_t)(1 + NREADERS + i)), 0);
	u64 start = now_ms();
	while (!__atomic_load_n(&failed, __ATOMIC_RELAXED) && now_ms() - start < RUN_MS)
		sched_yield();
	__atomic_store_n(&st.stop, 1, __ATOMIC_SEQ_CST);
	for (unsigned int i = 0; i < NREADERS + NWRITERS; i++)
		CHECK_EQ(pthread_join(t[i], NULL), 0);
	if (failed)
		test_fail(__FILE__, __LINE__, "%s", stress_err);
	CHECK_EQ(st.plain, st.writes);
	/* Both sides made progress while the other hammered the lock. */
	/* Both sides made progress while the other hammered the lock (on 2 host cores shared by 5 threads: the
	 * counts mostly measure the host's scheduler, so the bounds are loose; the ordering tests below are exact). */
	CHECK(st.reads >= 10 && st.writes >= 5);
	CHECK_EQ(st.lock.rin & RW_WBITS, 0);
	CHECK_EQ(st.lock.rin, st.lock.rout);
	CHECK_EQ(st.lock.win, st.lock.wout);
}

TEST(rwlock_asserts_ownership_and_refuses_recursion)
{
	rwlock_t l;

	fake_cpu_id = 0;
	rwlock_init(&l);
	read_lock(&l);
	assert_read_held(&l);
	assert_rw_held(&l);
	EXPECT_BUG(assert_write_held(&l));
	EXPECT_BUG(read_lock(&l));  /* recursive: would deadlock behind a waiting writer */
	EXPECT_BUG(write_lock(&l)); /* no upgrade */
	read_unlock(&l);
	EXPECT_BUG(read_unlock(&l));
	EXPECT_BUG(assert_rw_held(&l));
	write_lock(&l);
	assert_write_held(&l);
	EXPECT_BUG(assert_read_held(&l));
	EXPECT_BUG(read_lock(&l));
	write_unlock(&l);
	EXPECT_BUG(write_unlock(&l));
	/* Another CPU's read section is not this one's. */
	fake_cpu_id = 3;
	read_lock(&l);
	fake_cpu_id = 0;
	EXPECT_BUG(assert_read_held(&l));
	fake_cpu_id = 3;
	read_unlock(&l);
	fake_cpu_id = 0;
}

/*
 * Phase-fairness, exactly: each step below waits until the lock's own counters show the thread it started has
 * arrived (taken its ticket, announced itself), so the order of arrival is known, and then checks the order of entry
 * from a log the threads append to inside their sections.
 */
static struct {
	rwlock_t lock;
	char log[8];
	int n;       /* atomic */
	int release; /* atomic: the holder thread may leave */
} ord;

static void ord_log(char c)
{
	ord.log[__atomic_fetch_add(&ord.n, 1, __ATOMIC_SEQ_CST)] = c;
}

static void wait_until(const u32 *field, u32 value, u32 mask)
{
	u64 start = now_ms();

	while ((__atomic_load_n(field, __ATOMIC_SEQ_CST) & mask) != value)
		if (now_ms() - start > 2000)
			test_fail(__FILE__, __LINE__, "a thread never arrived at the lock");
}

static void *ord_reader(void *arg)
{
	fake_cpu_id = (unsigned int)(uintptr_t)arg;
	read_lock(&ord.lock);
	ord_log('r');
	read_unlock(&ord.lock);
	return NULL;
}

static void *ord_writer(void *arg)
{
	fake_cpu_id = (unsigned int)(uintptr_t)arg;
	write_lock(&ord.lock);
	ord_log('w');
	write_unlock(&ord.lock);
	return NULL;
}

/* A stream of faults cannot starve a zap: a reader arriving after a waiting writer enters after it, though the lock
 * is held for read all along (a reader-preferring lock would let it in first). */
TEST(rwlock_writer_not_overtaken_by_later_readers)
{
	pthread_t w, r;

	memset(&ord, 0, sizeof(ord));
	fake_cpu_id = 0;
	read_lock(&ord.lock);
	CHECK_EQ(pthread_create(&w, NULL, ord_writer, (void *)1), 0);
	wait_until(&ord.lock.rin, RW_PRES, RW_PRES); /* the writer has announced itself, waits for this reader */
	CHECK_EQ(pthread_create(&r, NULL, ord_reader, (void *)2), 0);
	wait_until(&ord.lock.rin, 2 * RW_RINC, ~RW_WBITS); /* the later reader has arrived and waits */
	CHECK_EQ(__atomic_load_n(&ord.n, __ATOMIC_SEQ_CST), 0);
	read_unlock(&ord.lock);
	CHECK_EQ(pthread_join(w, NULL), 0);
	CHECK_EQ(pthread_join(r, NULL), 0);
	CHECK_EQ(ord.n, 2);
	CHECK(ord.log[0] == 'w' && ord.log[1] == 'r');
}

/* Nor back-to-back zaps the faults: readers waiting on one writer enter before the next writer, which arrived
 * before that writer left (a writer-preferring lock would let it in first). */
TEST(rwlock_readers_wait_one_writer_phase_only)
{
	pthread_t w2, r;

	memset(&ord, 0, sizeof(ord));
	fake_cpu_id = 0;
	write_lock(&ord.lock);
	CHECK_EQ(pthread_create(&r, NULL, ord_reader, (void *)1), 0);
	wait_until(&ord.lock.rin, RW_RINC, ~RW_WBITS); /* the reader has arrived and waits for this writer */
	CHECK_EQ(pthread_create(&w2, NULL, ord_writer, (void *)2), 0);
	wait_until(&ord.lock.win, 2, ~0u); /* the next writer has its ticket */
	CHECK_EQ(__atomic_load_n(&ord.n, __ATOMIC_SEQ_CST), 0);
	write_unlock(&ord.lock);
	CHECK_EQ(pthread_join(r, NULL), 0);
	CHECK_EQ(pthread_join(w2, NULL), 0);
	CHECK_EQ(ord.n, 2);
	CHECK(ord.log[0] == 'r' && ord.log[1] == 'w');
}
