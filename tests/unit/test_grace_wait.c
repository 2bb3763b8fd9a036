/* grace_wait_readers (mm/grace.c), the wait reclaim (mm/mmu_reclaim.c) makes before it reads and frees a chunk of
 * guest RAM: it returns only after every read section that was in progress when it was called has ended, and does
 * not wait for sections that begin later. A reader thread (another fake CPU) holds a section open. Also under
 * ThreadSanitizer (build/unit-tsan). */
#include <pthread.h>
#include <time.h>

#include "fake_platform.h"
#include "mm/grace.h"

static int phase;     /* atomic: 1 the reader is inside, 2 the reader may leave */
static int left;      /* atomic: the reader has left its section */
static int use_after; /* written by the reader inside its section, read by the waiter after the wait */

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = ms * 1000000L};

	nanosleep(&ts, NULL);
}

static void *reader(void *arg)
{
	(void)arg;
	fake_cpu_id = 1;
	grace_read_lock();
	__atomic_store_n(&phase, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&phase, __ATOMIC_ACQUIRE) != 2)
		sched_yield();
	sleep_ms(50);	/* the waiter is (very likely) inside grace_wait_readers by now */
	use_after = 42; /* a plain store: only the grace period orders it before the waiter's read */
	__atomic_store_n(&left, 1, __ATOMIC_RELAXED);
	grace_read_unlock();
	return NULL;
}

TEST(grace_wait_readers_waits_for_a_section_in_progress)
{
	pthread_t t;

	fake_cpu_id = 0;
	CHECK_EQ(pthread_create(&t, NULL, reader, NULL), 0);
	while (__atomic_load_n(&phase, __ATOMIC_ACQUIRE) != 1)
		sched_yield();
	__atomic_store_n(&phase, 2, __ATOMIC_RELEASE);
	grace_wait_readers();
	CHECK_EQ(__atomic_load_n(&left, __ATOMIC_RELAXED), 1);
	CHECK_EQ(use_after, 42);
	pthread_join(t, NULL);
}

static int stop;

static void *churn(void *arg)
{
	(void)arg;
	fake_cpu_id = 2;
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		grace_read_lock();
		grace_read_unlock();
	}
	return NULL;
}

/* Sections that keep beginning after the call do not hold it up for ever; with nobody inside it returns at once. */
TEST(grace_wait_readers_ignores_later_sections)
{
	pthread_t t;

	fake_cpu_id = 0;
	grace_wait_readers();
	CHECK_EQ(pthread_create(&t, NULL, churn, NULL), 0);
	for (int i = 0; i < 1000; i++)
		grace_wait_readers();
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
}

/* Inside a section of its own it would wait for itself: a BUG. */
TEST(grace_wait_readers_inside_a_section_is_a_bug)
{
	fake_cpu_id = 0;
	grace_read_lock();
	EXPECT_BUG(grace_wait_readers());
	grace_read_unlock();
}
