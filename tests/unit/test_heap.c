/* Unit tests of mm/heap.c over the fake platform's frame allocator: size classes, alignment, contents, large blocks,
 * rejection of bad frees, exhaustion, and that every frame goes back (fake_mem_frames_in_use() is the witness). */
#include <stdlib.h>
#include <string.h>

#include "fake_platform.h"
#include "hv/compiler.h"
#include "hv/errno.h"
#include "hv/log.h"
#include "hv/platform.h"
#include "mm/heap.h"
#include "test.h"

static const size_t class_sizes[HEAP_NR_CLASSES] = {16, 32, 64, 128, 256, 512, 1024, HEAP_MAX_SMALL};

static size_t expected_usable(size_t size)
{
	unsigned int order = 0;

	for (unsigned int c = 0; c < HEAP_NR_CLASSES; c++)
		if (size <= class_sizes[c])
			return class_sizes[c];
	while ((PAGE_SIZE << order) - HEAP_HDR_SIZE < size)
		order++;
	return (PAGE_SIZE << order) - HEAP_HDR_SIZE;
}

/* Empty the heap's caches and check that it holds no frame and nothing leaked out of the fake platform. */
static void check_all_returned(struct heap *h, u64 frames_before)
{
	struct heap_stats st;

	heap_trim(h);
	heap_get_stats(h, &st);
	CHECK_EQ(st.live_objects, 0);
	CHECK_EQ(st.bytes_in_use, 0);
	CHECK_EQ(st.pages_held, 0);
	CHECK_EQ(fake_mem_frames_in_use(), frames_before);
}

static u8 pattern(u64 seed, size_t i)
{
	return (u8)(seed * 131 + i * 7 + (i >> 8));
}

static void fill(void *p, size_t n, u64 seed)
{
	for (size_t i = 0; i < n; i++)
		((u8 *)p)[i] = pattern(seed, i);
}

static bool intact(const void *p, size_t n, u64 seed)
{
	for (size_t i = 0; i < n; i++)
		if (((const u8 *)p)[i] != pattern(seed, i))
			return false;
	return true;
}

TEST(heap_every_size_class)
{
	struct heap h;
	u64 before = fake_mem_frames_in_use();

	heap_init(&h);
	for (size_t size = 1; size <= HEAP_MAX_SMALL + 64; size++) {
		void *p = heap_alloc(&h, size);

		CHECK(p);
		CHECK_EQ((uintptr_t)p % HEAP_MIN_ALIGN, 0);
		CHECK_EQ(heap_usable_size(&h, p), expected_usable(size));
		fill(p, heap_usable_size(&h, p), size);
		CHECK(intact(p, heap_usable_size(&h, p), size));
		CHECK_EQ(heap_free(&h, p), 0);
	}
	check_all_returned(&h, before);
}

TEST(heap_class_boundaries)
{
	struct heap h;
	static const struct {
		size_t ask, usable;
	} cases[] = {
	    {1, 16},	  {16, 16},	     {17, 32},		{1024, 1024},
	    {1025, 2016}, {2016, 2016},	     {2017, 4096 - 64}, {2048, 4096 - 64},
	    {4032, 4032}, {4033, 8192 - 64}, {4096, 8192 - 64}, {(1 << 20), (2 << 20) - 64},
	};
	u64 before = fake_mem_frames_in_use();

	heap_init(&h);
	for (unsigned int i = 0; i < ARRAY_SIZE(cases); i++) {
		void *p = heap_alloc(&h, cases[i].ask);

		CHECK(p);
		CHECK_EQ(heap_usable_size(&h, p), cases[i].usable);
		CHECK_EQ(heap_free(&h, p), 0);
	}
	check_all_returned(&h, before);
}

TEST(heap_alignment_of_many_objects)
{
	enum { N = 3000 };
	static void *p[N];
	struct heap h;
	u64 before = fake_mem_frames_in_use();

	heap_init(&h);
	for (int i = 0; i < N; i++) {
		size_t size = 1 + (size_t)(i * 37) % (i % 50 == 0 ? 20000 : HEAP_MAX_SMALL);

		p[i] = heap_alloc(&h, size);
		CHECK(p[i]);
		CHECK_EQ((uintptr_t)p[i] % HEAP_MIN_ALIGN, 0);
		if (size > HEAP_MAX_SMALL)
			CHECK_EQ((uintptr_t)p[i] % HEAP_HDR_SIZE, 0);
	}
	for (int i = 0; i < N; i++)
		CHECK_EQ(heap_free(&h, p[i]), 0);
	check_all_returned(&h, before);
}

TEST(heap_contents_survive_other_allocations)
{
	enum { N = 2000 };
	static void *p[N];
	static size_t sz[N];
	struct heap h;
	u64 seed = 1, before = fake_mem_frames_in_use();

	heap_init(&h);
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < N; i++) {
			if (p[i])
				continue;
			seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
			sz[i] = 1 + (seed >> 33) % ((seed >> 20) % 16 == 0 ? 3 * PAGE_SIZE : 600);
			p[i] = heap_alloc(&h, sz[i]);
			CHECK(p[i]);
			fill(p[i], sz[i], (u64)i + round * N);
			sz[i] |= (size_t)round << 48; /* remember the seed's round */
		}
		/* Free about half, checking each object's pattern first: any overlap would have clobbered one. */
		for (int i = round % 2; i < N; i += 2) {
			size_t n = sz[i] & ((1ULL << 48) - 1);

			CHECK(intact(p[i], n, (u64)i + (sz[i] >> 48) * N));
			CHECK_EQ(heap_free(&h, p[i]), 0);
			p[i] = NULL;
		}
	}
	for (int i = 0; i < N; i++) {
		if (!p[i])
			continue;
		CHECK(intact(p[i], sz[i] & ((1ULL << 48) - 1), (u64)i + (sz[i] >> 48) * N));
		CHECK_EQ(heap_free(&h, p[i]), 0);
		p[i] = NULL;
	}
	check_all_returned(&h, before);
}

TEST(heap_large_allocations)
{
	struct heap h;
	struct heap_stats st;
	void *a, *b, *c;
	u64 before = fake_mem_frames_in_use();

	heap_init(&h);
	a = heap_alloc(&h, 5000);		/* order 1 */
	b = heap_alloc(&h, 3 << 20);		/* order 10: 4 MiB */
	c = heap_alloc(&h, HEAP_MAX_SMALL + 1); /* order 0 */
	CHECK(a && b && c);
	CHECK_EQ(fake_mem_frames_in_use(), before + 2 + 1024 + 1);
	heap_get_stats(&h, &st);
	CHECK_EQ(st.pages_held, 2 + 1024 + 1);
	CHECK_EQ(st.live_objects, 3);
	CHECK_EQ(st.bytes_in_use, (8192 - 64) + (4096 << 10) - 64 + (4096 - 64));
	/* The block is physically contiguous and wholly usable. */
	CHECK_EQ(virt_to_phys(b) % (4096 << 10), HEAP_HDR_SIZE);
	fill(b, (4096 << 10) - 64, 77);
	fill(a, 8192 - 64, 78);
	CHECK(intact(b, (4096 << 10) - 64, 77));
	CHECK_EQ(heap_free(&h, b), 0);
	CHECK(intact(a, 8192 - 64, 78));
	CHECK_EQ(heap_free(&h, a), 0);
	CHECK_EQ(heap_free(&h, c), 0);
	/* Large blocks are never cached: nothing to trim. */
	CHECK_EQ(fake_mem_frames_in_use(), before);
	check_all_returned(&h, before);
}

TEST(heap_zero_and_oversized_requests)
{
	struct heap h;
	u64 before = fake_mem_frames_in_use();

	heap_init(&h);
	CHECK(heap_alloc(&h, 0) == NULL);
	CHECK(heap_alloc(&h, HEAP_MAX_ALLOC + 1) == NULL);
	CHECK(heap_alloc(&h, (size_t)-1) == NULL);
	CHECK(heap_alloc(&h, (size_t)-64) == NULL);
	/* The fake platform has 256 MiB: a 1 GiB request is valid but cannot be met. */
	CHECK(heap_alloc(&h, HEAP_MAX_ALLOC) == NULL);
	CHECK_EQ(heap_free(&h, NULL), 0);
	CHECK_EQ(heap_usable_size(&h, NULL), 0);
	check_all_returned(&h, before);
}

TEST(heap_double_free_is_rejected)
{
	struct heap h;
	struct heap_stats s1, s2;
	void *keep, *p, *big;
	u64 before = fake_mem_frames_in_use();

	heap_init(&h);
	keep = heap_alloc(&h, 100); /* keeps the slab alive, so its header still judges the pointer */
	p = heap_alloc(&h, 100);
	big = heap_alloc(&h, 10000);
	CHECK(keep && p && big);
	CHECK_EQ(heap_free(&h, p), 0);
	heap_get_stats(&h, &s1);
	CHECK_EQ(heap_free(&h, p), -EINVAL);
	CHECK(strstr(test_last_log, "double free"));
	CHECK_EQ(heap_usable_size(&h, p), 0);
	heap_get_stats(&h, &s2);
	CHECK(memcmp(&s1, &s2, sizeof(s1)) == 0);

	/* A large block goes straight back to the frame allocator; its page no longer says it is ours. */
	CHECK_EQ(heap_free(&h, big), 0);
	CHECK_EQ(heap_free(&h, big), -EINVAL);

	/* Freed into the cached empty slab: still caught. */
	CHECK_EQ(heap_free(&h, keep), 0);
	CHECK_EQ(heap_free(&h, keep), -EINVAL);
	CHECK_EQ(heap_trim(&h), 1);
	/* And once that slab page itself is gone. */
	CHECK_EQ(heap_free(&h, keep), -EINVAL);
	check_all_returned(&h, before);
}

TEST(heap_interior_pointers_are_rejected)
{
	struct heap h;
	struct heap_stats s1, s2;
	u8 *small, *mid, *big;
	u64 before = fake_mem_frames_in_use();

	heap_init(&h);
	small = heap_alloc(&h, 64);
	mid = heap_alloc(&h, 1000);
	big = heap_alloc(&h, 3 * PAGE_SIZE);
	CHECK(small && mid && big);
	heap_get_stats(&h, &s1);
	CHECK_EQ(heap_free(&h, small + 1), -EINVAL);
	CHECK(strstr(test_last_log, "middle"));
	CHECK_EQ(heap_free(&h, small + 16), -EINVAL);
	CHECK_EQ(heap_free(&h, small + 63), -EINVAL);
	CHECK_EQ(heap_free(&h, mid + 512), -EINVAL);
	CHECK_EQ(heap_free(&h, big + 8), -EINVAL);
	CHECK_EQ(heap_free(&h, big - 64), -EINVAL); /* the header itself */
	CHECK_EQ(heap_free(&h, big + PAGE_SIZE), -EINVAL);
	CHECK_EQ(heap_free(&h, big + 2 * PAGE_SIZE - 64), -EINVAL);
	/* The slab header, and the slack after the last 1024-byte object (3 fit: 64, 1088, 2112..3136). */
	u8 *page = (u8 *)ALIGN_DOWN((uintptr_t)mid, PAGE_SIZE);
	CHECK_EQ(heap_free(&h, page), -EINVAL);
	CHECK_EQ(heap_free(&h, page + 16), -EINVAL);
	CHECK_EQ(heap_free(&h, page + 3136), -EINVAL);
	CHECK_EQ(heap_usable_size(&h, small + 16), 0);
	CHECK_EQ(heap_usable_size(&h, big + 8), 0);
	heap_get_stats(&h, &s2);
	CHECK(memcmp(&s1, &s2, sizeof(s1)) == 0);
	CHECK_EQ(heap_free(&h, small), 0);
	CHECK_EQ(heap_free(&h, mid), 0);
	CHECK_EQ(heap_free(&h, big), 0);
	check_all_returned(&h, before);
}

TEST(heap_wild_pointers_are_rejected)
{
	struct heap h, other;
	hpa_t pa;
	u8 *frame, *theirs;
	u64 before = fake_mem_frames_in_use();

	heap_init(&h);
	heap_init(&other);
	/* Memory the heap never handed out: a frame taken from the platform directly, zeroed and then not. */
	pa = frame_alloc(0);
	CHECK(pa != INVALID_HPA);
	frame = phys_to_virt(pa);
	CHECK_EQ(heap_free(&h, frame + 64), -EINVAL);
	CHECK(strstr(test_last_log, "not a pointer from this heap"));
	memset(frame, 0x53, PAGE_SIZE);
	CHECK_EQ(heap_free(&h, frame + 128), -EINVAL);

	/* Another heap's object, and a forged slab header copied into a foreign page. */
	theirs = heap_alloc(&other, 48);
	CHECK(theirs);
	CHECK_EQ(heap_free(&h, theirs), -EINVAL);
	memcpy(frame, (void *)ALIGN_DOWN((uintptr_t)theirs, PAGE_SIZE), PAGE_SIZE);
	CHECK_EQ(heap_free(&other, frame + (theirs - (u8 *)ALIGN_DOWN((uintptr_t)theirs, PAGE_SIZE))), -EINVAL);
	CHECK_EQ(heap_free(&other, theirs), 0);

	frame_free(pa, 0);
	CHECK_EQ(heap_trim(&other), 1);
	check_all_returned(&h, before);
}

TEST(heap_exhaustion_returns_null)
{
	struct heap h;
	void *a, *b, *c;
	u64 before = fake_mem_frames_in_use();

	heap_init(&h);
	fake_mem_fail_after(0);
	CHECK(heap_alloc(&h, 8) == NULL);
	CHECK(heap_alloc(&h, 9000) == NULL);
	/* One frame left: the first small allocation takes it as a slab, the next of its class share it. */
	fake_mem_fail_after(1);
	a = heap_alloc(&h, 200);
	b = heap_alloc(&h, 200);
	CHECK(a && b);
	CHECK(heap_alloc(&h, 16) == NULL);   /* other class: needs a new page */
	CHECK(heap_alloc(&h, 5000) == NULL); /* large */
	for (int i = 0; i < 13; i++) {	     /* 256-byte class: 15 per page, 2 taken */
		c = heap_alloc(&h, 256);
		CHECK(c);
	}
	CHECK(heap_alloc(&h, 256) == NULL);
	fake_mem_fail_after(~0ULL);
	c = heap_alloc(&h, 256);
	CHECK(c);
	struct heap_stats st;
	heap_get_stats(&h, &st);
	CHECK_EQ(st.pages_held, 2);
	CHECK_EQ(st.live_objects, 16);

	/* Free by walking both slab pages' objects; usable_size tells live ones apart. */
	u8 *pages[2] = {(u8 *)ALIGN_DOWN((uintptr_t)a, PAGE_SIZE), (u8 *)ALIGN_DOWN((uintptr_t)c, PAGE_SIZE)};
	for (int pg = 0; pg < 2; pg++)
		for (int i = 0; i < 15; i++)
			if (heap_usable_size(&h, pages[pg] + 64 + 256 * i))
				CHECK_EQ(heap_free(&h, pages[pg] + 64 + 256 * i), 0);
	check_all_returned(&h, before);
}

TEST(heap_empty_slabs_cached_once_then_returned)
{
	enum { N = 252 * 3 + 1 }; /* three full 16-byte slabs and one more object */
	static void *p[N];
	struct heap h;
	struct heap_stats st;
	u64 before = fake_mem_frames_in_use();

	heap_init(&h);
	for (int i = 0; i < N; i++)
		CHECK((p[i] = heap_alloc(&h, 16)));
	CHECK_EQ(fake_mem_frames_in_use(), before + 4);
	for (int i = 0; i < N; i++)
		CHECK_EQ(heap_free(&h, p[i]), 0);
	/* One empty slab per class is kept for the next burst; the rest went back. */
	CHECK_EQ(fake_mem_frames_in_use(), before + 1);
	heap_get_stats(&h, &st);
	CHECK_EQ(st.pages_held, 1);
	CHECK_EQ(st.bytes_in_use, 0);

	/* The cached slab is reused rather than a fresh frame taken. */
	p[0] = heap_alloc(&h, 10);
	CHECK_EQ(fake_mem_frames_in_use(), before + 1);
	CHECK_EQ(heap_trim(&h), 0); /* in use again, so not cached */
	CHECK_EQ(heap_free(&h, p[0]), 0);
	CHECK_EQ(heap_trim(&h), 1);
	CHECK_EQ(heap_trim(&h), 0);
	CHECK_EQ(fake_mem_frames_in_use(), before);

	/* One cached slab in each class at once. */
	for (unsigned int c = 0; c < HEAP_NR_CLASSES; c++) {
		void *q = heap_alloc(&h, class_sizes[c]);
		CHECK(q);
		CHECK_EQ(heap_free(&h, q), 0);
	}
	CHECK_EQ(fake_mem_frames_in_use(), before + HEAP_NR_CLASSES);
	CHECK_EQ(heap_trim(&h), HEAP_NR_CLASSES);
	check_all_returned(&h, before);
}

TEST(heap_stats_track_usable_bytes)
{
	struct heap h;
	struct heap_stats st;
	void *a, *b, *c;

	heap_init(&h);
	a = heap_alloc(&h, 20);
	b = heap_alloc(&h, 700);
	c = heap_alloc(&h, 3000);
	heap_get_stats(&h, &st);
	CHECK_EQ(st.bytes_in_use, 32 + 1024 + 4032);
	CHECK_EQ(st.live_objects, 3);
	CHECK_EQ(st.pages_held, 3);
	CHECK_EQ(heap_free(&h, b), 0);
	heap_get_stats(&h, &st);
	CHECK_EQ(st.bytes_in_use, 32 + 4032);
	CHECK_EQ(st.pages_held, 3); /* b's slab is cached */
	CHECK_EQ(heap_free(&h, a), 0);
	CHECK_EQ(heap_free(&h, c), 0);
	CHECK_EQ(heap_trim(&h), 2);
	heap_get_stats(&h, &st);
	CHECK_EQ(st.pages_held, 0);
}

TEST(heap_randomized_stress)
{
	enum { OPS = 40000, SLOTS = 1500 };
	static u8 *p[SLOTS];
	static size_t sz[SLOTS];
	static u64 seed_of[SLOTS];
	struct heap h;
	u64 rng = 0x853c49e6748fea9bULL, before = fake_mem_frames_in_use(), bytes = 0, live = 0;
	struct heap_stats st;

	heap_init(&h);
	for (int op = 0; op < OPS; op++) {
		u32 i;

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		i = rng % SLOTS;
		if (p[i]) {
			CHECK(intact(p[i], sz[i], seed_of[i]));
			bytes -= heap_usable_size(&h, p[i]);
			CHECK_EQ(heap_free(&h, p[i]), 0);
			live--;
			p[i] = NULL;
		} else {
			u64 r = rng >> 32;

			sz[i] = r % 64 == 0 ? 1 + r % 40000 : 1 + (r >> 8) % (1u << (4 + (r >> 4) % 8));
			/* Occasionally starve the frame allocator: the heap must say NULL, not break. */
			if (op % 997 == 0)
				fake_mem_fail_after(0);
			p[i] = heap_alloc(&h, sz[i]);
			fake_mem_fail_after(~0ULL);
			if (!p[i])
				continue;
			CHECK(heap_usable_size(&h, p[i]) >= sz[i]);
			CHECK_EQ((uintptr_t)p[i] % HEAP_MIN_ALIGN, 0);
			seed_of[i] = rng;
			fill(p[i], sz[i], rng);
			bytes += heap_usable_size(&h, p[i]);
			live++;
		}
		if (op % 1000 == 0) {
			heap_get_stats(&h, &st);
			CHECK_EQ(st.bytes_in_use, bytes);
			CHECK_EQ(st.live_objects, live);
		}
	}
	for (int i = 0; i < SLOTS; i++) {
		if (!p[i])
			continue;
		CHECK(intact(p[i], sz[i], seed_of[i]));
		CHECK_EQ(heap_free(&h, p[i]), 0);
		p[i] = NULL;
	}
	check_all_returned(&h, before);
}

TEST(heap_lock_not_held_after_calls)
{
	struct heap h;
	void *p;

	heap_init(&h);
	p = heap_alloc(&h, 40);
	CHECK(p);
	CHECK(!spin_is_held_by_me(&h.lock));
	fake_cpu_id = 3;
	CHECK_EQ(heap_free(&h, p), 0); /* another CPU frees */
	CHECK(!spin_is_held_by_me(&h.lock));
	fake_cpu_id = 0;
	spin_lock(&h.lock);
	EXPECT_BUG(heap_alloc(&h, 40));
	spin_unlock(&h.lock);
	heap_trim(&h);
}
