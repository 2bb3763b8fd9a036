/* Grace periods (mm/grace.c), single-threaded: the epoch rules step by step, with readers on several fake CPUs
 * entered and left by hand. A frame counts as freed when the fake allocator has it back (fake_mem_frames_in_use)
 * and has poisoned it; until then its contents must be exactly what the retirer left. */
#include "fake_platform.h"
#include "hv/platform.h"
#include "mm/grace.h"

static struct grace g;
static spinlock_t owner_lock;
static u64 baseline;

#define PATTERN(pa, i) (0x5eed0000cafe0000ULL ^ ((pa) << 8) ^ (u64)(i))

/* Every test starts with no reader inside, on the CPUs the tests use, whatever an earlier failed test left. */
static void setup(void)
{
	for (unsigned int cpu = 0; cpu < GRACE_MAX_CPUS; cpu++) {
		fake_cpu_id = cpu;
		while (grace_in_read_section())
			grace_read_unlock();
	}
	fake_cpu_id = 0;
	if (spin_is_held_by_me(&owner_lock))
		spin_unlock(&owner_lock);
	grace_init(&g, &owner_lock);
	baseline = fake_mem_frames_in_use();
}

static void enter(unsigned int cpu)
{
	fake_cpu_id = cpu;
	grace_read_lock();
	fake_cpu_id = 0;
}

static void leave(unsigned int cpu)
{
	fake_cpu_id = cpu;
	grace_read_unlock();
	fake_cpu_id = 0;
}

static hpa_t table(unsigned int order)
{
	hpa_t pa = frame_alloc(order);
	u64 *w = phys_to_virt(pa);

	CHECK(pa != INVALID_HPA);
	for (u64 i = 0; i < (PAGE_SIZE << order) / 8; i++)
		w[i] = PATTERN(pa, i);
	return pa;
}

static bool is_intact(hpa_t pa, unsigned int order)
{
	const u64 *w = phys_to_virt(pa);

	for (u64 i = 0; i < (PAGE_SIZE << order) / 8; i++)
		if (w[i] != PATTERN(pa, i))
			return false;
	return true;
}

static bool is_poisoned(hpa_t pa)
{
	const u8 *b = phys_to_virt(pa);

	return b[0] == 0x6b && b[PAGE_SIZE - 1] == 0x6b;
}

static void retire(hpa_t pa, unsigned int order)
{
	spin_lock(&owner_lock);
	grace_retire(&g, pa, order);
	spin_unlock(&owner_lock);
}

static void reclaim(void)
{
	spin_lock(&owner_lock);
	grace_reclaim(&g);
	spin_unlock(&owner_lock);
}

static void synchronize(void)
{
	spin_lock(&owner_lock);
	grace_synchronize(&g);
	spin_unlock(&owner_lock);
}

TEST(no_readers_one_reclaim_frees_all)
{
	hpa_t t[3];

	setup();
	for (int i = 0; i < 3; i++) {
		t[i] = table(0);
		retire(t[i], 0);
	}
	CHECK_EQ(g.stats.retired, 3);
	CHECK_EQ(fake_mem_frames_in_use(), baseline + 3);
	for (int i = 0; i < 3; i++)
		CHECK(is_intact(t[i], 0)); /* retiring writes nothing into the frame: walkers may still read it */
	reclaim();
	CHECK_EQ(g.stats.freed, 3);
	CHECK_EQ(g.stats.advances, 2); /* a stamp E is freeable at E+2 */
	CHECK_EQ(fake_mem_frames_in_use(), baseline);
	for (int i = 0; i < 3; i++)
		CHECK(is_poisoned(t[i]));
	reclaim(); /* nothing queued: no scan, no advance */
	CHECK_EQ(g.stats.advances, 2);
}

TEST(reader_inside_holds_frame_until_it_leaves)
{
	setup();
	enter(1);
	hpa_t t = table(0);
	retire(t, 0);
	for (int i = 0; i < 5; i++)
		reclaim();
	/* The epoch moves on once (the reader has seen the current one), then waits for the reader. */
	CHECK_EQ(g.stats.advances, 1);
	CHECK_EQ(g.stats.freed, 0);
	CHECK(is_intact(t, 0));
	leave(1);
	reclaim();
	CHECK_EQ(g.stats.advances, 2);
	CHECK_EQ(g.stats.freed, 1);
	CHECK(is_poisoned(t));
	CHECK_EQ(fake_mem_frames_in_use(), baseline);
}

/* A heap object (an MMU root) goes the same way as a frame, in the same ring and order; frames' counts ignore it. */
TEST(retired_object_outlives_the_reader_inside)
{
	setup();
	u64 *obj = kmalloc(64);
	CHECK(obj);
	obj[7] = 0x1234;
	enter(1);
	spin_lock(&owner_lock);
	grace_retire_object(&g, obj);
	spin_unlock(&owner_lock);
	for (int i = 0; i < 3; i++)
		reclaim();
	CHECK_EQ(g.stats.objects, 1);
	CHECK_EQ(g.stats.objects_freed, 0);
	CHECK_EQ(obj[7], 0x1234); /* ASan: still allocated */
	leave(1);
	reclaim();
	CHECK_EQ(g.stats.objects_freed, 1);
	CHECK_EQ(g.stats.retired, 0);
	CHECK_EQ(g.stats.freed, 0);
}

TEST(reader_entering_after_an_advance_does_not_hold_back)
{
	setup();
	enter(1);
	hpa_t t = table(0);
	retire(t, 0); /* stamp E */
	reclaim();    /* E+1: reader 1 is in E, which allows this one */
	CHECK_EQ(g.stats.advances, 1);
	leave(1);
	enter(2); /* enters in E+1, after the retire: it can never have seen the frame */
	reclaim();
	CHECK_EQ(g.stats.advances, 2);
	CHECK_EQ(g.stats.freed, 1);
	CHECK(is_poisoned(t));
	leave(2);
}

TEST(reader_entering_in_the_retire_epoch_holds_back)
{
	/* A reader that entered after the retire but in the same epoch is indistinguishable from one before it; waiting
	 * for it is the price of not stamping readers individually. */
	setup();
	hpa_t t = table(0);
	retire(t, 0);
	enter(3);
	reclaim();
	reclaim();
	CHECK_EQ(g.stats.freed, 0);
	leave(3);
	reclaim();
	CHECK_EQ(g.stats.freed, 1);
}

TEST(nested_sections_end_with_the_outermost)
{
	setup();
	fake_cpu_id = 5;
	grace_read_lock();
	grace_read_lock();
	CHECK(grace_in_read_section());
	fake_cpu_id = 0;
	CHECK(!grace_in_read_section()); /* per CPU */
	hpa_t t = table(0);
	retire(t, 0);
	leave(5);
	fake_cpu_id = 5;
	CHECK(grace_in_read_section());
	fake_cpu_id = 0;
	for (int i = 0; i < 3; i++)
		reclaim();
	CHECK_EQ(g.stats.freed, 0);
	CHECK(is_intact(t, 0));
	leave(5);
	reclaim();
	CHECK_EQ(g.stats.freed, 1);
}

TEST(unbalanced_unlock_is_a_bug)
{
	setup();
	EXPECT_BUG(grace_read_unlock());
}

TEST(cpu_beyond_the_slots_is_a_bug)
{
	setup();
	enter(GRACE_MAX_CPUS - 1);
	leave(GRACE_MAX_CPUS - 1);
	fake_cpu_id = GRACE_MAX_CPUS;
	EXPECT_BUG(grace_read_lock());
	fake_cpu_id = 0;
}

TEST(synchronize_frees_every_order)
{
	hpa_t t[3];

	setup();
	enter(1); /* holds the first retires back until synchronize's own reclaims, once it has left */
	for (unsigned int order = 0; order < 3; order++) {
		t[order] = table(order);
		retire(t[order], order);
	}
	reclaim();
	CHECK_EQ(fake_mem_frames_in_use(), baseline + 7);
	leave(1);
	synchronize();
	CHECK_EQ(g.stats.retired, 3);
	CHECK_EQ(g.stats.freed, 3);
	CHECK_EQ(g.head, g.tail);
	CHECK_EQ(fake_mem_frames_in_use(), baseline);
	/* The fake allocator frees exactly the order it is given: a frame of order 2 freed as order 0 would leave 3
	 * frames in use and a wrong order would abort on misalignment. */
	for (unsigned int order = 0; order < 3; order++)
		CHECK(is_poisoned(t[order] + (PAGE_SIZE << order) - PAGE_SIZE));
}

TEST(synchronize_inside_a_read_section_is_a_bug)
{
	setup();
	retire(table(0), 0);
	spin_lock(&owner_lock);
	grace_read_lock();
	EXPECT_BUG(grace_synchronize(&g));
	grace_read_unlock();
	grace_synchronize(&g);
	spin_unlock(&owner_lock);
	CHECK_EQ(fake_mem_frames_in_use(), baseline);
}

TEST(calls_without_the_owner_lock_are_bugs)
{
	setup();
	hpa_t t = table(0);
	EXPECT_BUG(grace_retire(&g, t, 0));
	EXPECT_BUG(grace_reclaim(&g));
	EXPECT_BUG(grace_synchronize(&g));
	CHECK_EQ(g.stats.retired, 0);
	frame_free(t, 0);
}

TEST(misaligned_or_invalid_frames_are_bugs)
{
	setup();
	hpa_t t = table(1);
	spin_lock(&owner_lock);
	EXPECT_BUG(grace_retire(&g, t + PAGE_SIZE, 1));
	EXPECT_BUG(grace_retire(&g, t + 8, 0));
	EXPECT_BUG(grace_retire(&g, INVALID_HPA, 0));
	EXPECT_BUG(grace_retire(&g, t, 40));
	spin_unlock(&owner_lock);
	CHECK_EQ(g.stats.retired, 0);
	frame_free(t, 1);
}

TEST(full_ring_reclaims_before_queueing)
{
	hpa_t first = 0;

	setup();
	for (int i = 0; i < GRACE_RING_SIZE; i++) {
		hpa_t t = table(0);
		first = i ? first : t;
		retire(t, 0);
	}
	CHECK_EQ(g.stats.full_waits, 0);
	CHECK_EQ(fake_mem_frames_in_use(), baseline + GRACE_RING_SIZE);
	CHECK(is_intact(first, 0));
	retire(table(0), 0);
	CHECK_EQ(g.stats.full_waits, 1);
	CHECK_EQ(g.stats.freed, GRACE_RING_SIZE); /* no readers: the whole ring went at once */
	CHECK(is_poisoned(first));
	CHECK_EQ(g.tail - g.head, 1);
	synchronize();
	CHECK_EQ(g.stats.retired, GRACE_RING_SIZE + 1);
	CHECK_EQ(fake_mem_frames_in_use(), baseline);
}

TEST(epoch_is_shared_between_owners)
{
	static struct grace other; /* all-zero: valid, without lock checks */

	setup();
	hpa_t x = table(0), y = table(0);
	retire(x, 0);
	grace_retire(&other, y, 0);
	grace_reclaim(&other); /* advances twice for its own frame, which also expires g's */
	CHECK_EQ(other.stats.advances, 2);
	CHECK_EQ(other.stats.freed, 1);
	reclaim();
	CHECK_EQ(g.stats.advances, 0);
	CHECK_EQ(g.stats.freed, 1);
	CHECK_EQ(fake_mem_frames_in_use(), baseline);
}
