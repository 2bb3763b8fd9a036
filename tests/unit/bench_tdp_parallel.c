/* Fault throughput of the TDP MMU with 1, 2 and 4 vCPUs faulting at once, under the MMU lock held for read (the
 * parallel fault path) and under the old exclusive lock (hv.mmu_lock=exclusive), in one run: `make bench` (bench/
 * run.py, section "parallel") prints the table. Host threads over the fake platform, because QEMU's -icount, which
 * makes emulator figures stable, also runs its CPUs one at a time. Each thread is a vCPU with its own root faulting
 * its own fresh gfns in 4K pages (the MMU's whole fault path: walk, table allocation, install) and zapping them now
 * and then, which takes the lock for write as a guest's memory changes do. The figure is faults per millisecond of
 * the vCPU threads' own CPU time (time spent spinning on the lock counts, time the host gives to others does not);
 * only the ratios between rows are meant to carry over to other machines.
 *   BENCH threads=N mode=shared|exclusive faults=F ms=T per_thread_per_ms=X read_waits=R write_waits=W races=C
 * And the point of lockless aging (issue 12, KVM's seed "rmap walks without mmu_lock when aging"): one vCPU
 * faulting while another thread ages the whole VM in a loop, with the aging lockless (mm/ept/tdp_age.c), with it
 * holding the MMU lock for write around each pass (as aging under mmu_lock did), and with no aging at all:
 *   AGEBENCH mode=none|lockless|locked faults=F ms=T per_ms=X passes=P */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "tdp_mmu_fixture.h"

#define REGION	(64 * M2) /* gfns per thread: 128 MiB in 4K pages */
#define ZAP_EVERY 4096
#define RUN_MS	300

static struct {
	int stop;
	u64 faults[8];
	u64 cpu_us[8]; /* each vCPU thread's own CPU time: the host's other load does not count */
	u64 passes;
} bs;

static u64 thread_cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (u64)ts.tv_sec * 1000000 + (u64)ts.tv_nsec / 1000;
}

static u64 now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u64)ts.tv_sec * 1000000 + (u64)ts.tv_nsec / 1000;
}

static void *bench_vcpu(void *arg)
{
	unsigned int id = (unsigned int)(uintptr_t)arg;
	gfn_t base = GIG + (gfn_t)id * REGION;
	struct mmu_vcpu v = { 0 };
	u64 n = 0;

	fake_cpu_id = 1 + id;
	if (mmu_load_root(&fx.mmu, &v, NULL))
		abort();
	u64 cpu0 = thread_cpu_us();
	while (!__atomic_load_n(&bs.stop, __ATOMIC_RELAXED)) {
		struct mmu_fault mf;
		gfn_t g = base + n % REGION;
		int r = mmu_page_fault(&fx.mmu, &v, g << PAGE_SHIFT, SPTE_ACC_WRITE, &mf);

		if (r == MMU_FAULT_RETRY) {
			mmu_vcpu_free_obsolete_roots(&fx.mmu, &v);
			if (mmu_load_root(&fx.mmu, &v, NULL))
				abort();
			continue;
		}
		if (r != MMU_FAULT_FIXED)
			abort();
		if (++n % ZAP_EVERY == 0)
			mmu_zap_gfn_range(&fx.mmu, base + (n - ZAP_EVERY) % REGION, base + (n - ZAP_EVERY) % REGION + ZAP_EVERY);
	}
	bs.faults[id] = n;
	bs.cpu_us[id] = thread_cpu_us() - cpu0;
	mmu_vcpu_put_roots(&fx.mmu, &v);
	return NULL;
}

static void run(unsigned int threads, bool exclusive)
{
	pthread_t t[8];
	u64 start, ms, total = 0, cpu_us = 0;

	memset(&bs, 0, sizeof(bs));
	setup(&pt_format_npt);
	fake_slot(0, 2 * GIG, FAKE_HPA, true, 0);
	fx.mmu.tdp.max_huge_level = 1;
	fx.mmu.exclusive_faults = exclusive;
	for (unsigned int i = 0; i < threads; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, bench_vcpu, (void *)(uintptr_t)i), 0);
	start = now_us();
	usleep(RUN_MS * 1000); /* asleep: the host's cores are the vCPUs' */
	__atomic_store_n(&bs.stop, 1, __ATOMIC_SEQ_CST);
	for (unsigned int i = 0; i < threads; i++)
		CHECK_EQ(pthread_join(t[i], NULL), 0);
	ms = (now_us() - start) / 1000;
	for (unsigned int i = 0; i < threads; i++) {
		total += bs.faults[i];
		cpu_us += bs.cpu_us[i];
	}
	/* Per millisecond of the vCPU threads' own CPU time (spinning on the lock included), so that the host's other
	 * load, which takes cores away from them, does not count. */
	printf("BENCH threads=%u mode=%s faults=%llu ms=%llu per_thread_per_ms=%.1f read_waits=%llu write_waits=%llu "
	       "races=%llu\n",
	       threads, exclusive ? "exclusive" : "shared", (unsigned long long)total, (unsigned long long)ms,
	       (double)total * 1000 / (cpu_us ? cpu_us : 1), (unsigned long long)fx.mmu.lock.read_waits,
	       (unsigned long long)fx.mmu.lock.write_waits, (unsigned long long)fx.mmu.stats.fault_races);
	fflush(stdout);
	teardown();
}

enum age_mode { AGE_NONE, AGE_LOCKLESS, AGE_LOCKED };

static void *bench_ager(void *arg)
{
	enum age_mode mode = (enum age_mode)(uintptr_t)arg;

	fake_cpu_id = 7;
	while (!__atomic_load_n(&bs.stop, __ATOMIC_RELAXED)) {
		if (mode == AGE_LOCKED)
			write_lock(&fx.mmu.lock);
		mmu_age_gfn_range(&fx.mmu, GIG, GIG + REGION);
		if (mode == AGE_LOCKED)
			write_unlock(&fx.mmu.lock);
		bs.passes++;
	}
	return NULL;
}

static void run_aging(enum age_mode mode)
{
	static const char *const names[] = { "none", "lockless", "locked" };
	pthread_t vcpu, ager;
	u64 start, ms;

	memset(&bs, 0, sizeof(bs));
	setup(&pt_format_npt);
	fake_slot(0, 2 * GIG, FAKE_HPA, true, 0);
	fx.mmu.tdp.max_huge_level = 1;
	CHECK_EQ(pthread_create(&vcpu, NULL, bench_vcpu, (void *)0), 0);
	if (mode != AGE_NONE)
		CHECK_EQ(pthread_create(&ager, NULL, bench_ager, (void *)(uintptr_t)mode), 0);
	start = now_us();
	usleep(RUN_MS * 1000);
	__atomic_store_n(&bs.stop, 1, __ATOMIC_SEQ_CST);
	CHECK_EQ(pthread_join(vcpu, NULL), 0);
	if (mode != AGE_NONE)
		CHECK_EQ(pthread_join(ager, NULL), 0);
	ms = (now_us() - start) / 1000;
	printf("AGEBENCH mode=%s faults=%llu ms=%llu per_ms=%.1f passes=%llu\n", names[mode],
	       (unsigned long long)bs.faults[0], (unsigned long long)ms,
	       (double)bs.faults[0] * 1000 / (bs.cpu_us[0] ? bs.cpu_us[0] : 1),
	       (unsigned long long)bs.passes);
	fflush(stdout);
	teardown();
}

TEST(bench_aging_contention)
{
	run_aging(AGE_NONE);
	run_aging(AGE_LOCKLESS);
	run_aging(AGE_LOCKED);
}

TEST(bench_tdp_parallel_faults)
{
	static const unsigned int threads[] = { 1, 2, 4 };

	for (unsigned int i = 0; i < ARRAY_SIZE(threads); i++) {
		run(threads[i], true);
		run(threads[i], false);
	}
}
