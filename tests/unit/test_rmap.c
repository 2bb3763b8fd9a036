/* Unit tests of the shadow MMU's reverse map (mm/shadow/rmap.c): the set a head holds is checked against a model
 * after every step (adds, removals in every order, removal while iterating), together with the head's encoding
 * (empty, inline, descriptor chain: the shape rmap.h promises) and the lock bit, which no writer's operation leaves
 * set. Then the descriptor cache, allocation failures, the hostile 2^16-mappings pattern and the per-memslot head
 * arrays. Fake SPTEs are the words of a static array. */
#include <stdlib.h>
#include <string.h>

#include "fake_platform.h"
#include "hv/errno.h"
#include "hv/platform.h"
#include "mm/memslot.h"
#include "mm/shadow/rmap.h"
#include "mm/track/level.h"
#include "test.h"

#define NFAKE (1u << 16)
#define GIG   (1ULL << 18) /* pages */
#define M2    512ULL       /* pages */

static u64 fake[NFAKE];

/* The model: which fake SPTEs the head holds. seen[] marks a walk's visits with the walk's stamp. */
static struct {
	u8 live[NFAKE];
	u32 n;
	u32 seen[NFAKE];
	u32 stamp;
} m;

static u64 *sp(u32 i)
{
	return &fake[i];
}

static u32 idx(const u64 *p)
{
	CHECK(p >= fake && p < fake + NFAKE);
	return (u32)(p - fake);
}

static void model_reset(void)
{
	memset(m.live, 0, sizeof(m.live));
	m.n = 0;
}

static void add(struct rmap_cache *c, u64 *head, u32 i)
{
	CHECK(!m.live[i]);
	CHECK_EQ(rmap_add(c, head, sp(i)), 0);
	m.live[i] = 1;
	m.n++;
}

static void del(struct rmap_cache *c, u64 *head, u32 i)
{
	CHECK(m.live[i]);
	rmap_remove(c, head, sp(i));
	m.live[i] = 0;
	m.n--;
}

/* The head as rmap.h describes it: no lock bit; 0 when empty; the entry itself when inline; else a chain whose
 * first descriptor holds 1..14 entries, every later one exactly 14, with tail counts that add up. Returns the
 * number of descriptors. */
static u32 check_shape(const u64 *head)
{
	u64 v = *head;
	u32 ndesc = 0, tail;
	struct rmap_desc *d;

	CHECK(!(v & RMAP_LOCKED));
	CHECK_EQ(rmap_get(head), v);
	CHECK_EQ(rmap_count(v), m.n);
	if (m.n == 0) {
		CHECK_EQ(v, 0);
		return 0;
	}
	if (!(v & RMAP_MANY)) {
		CHECK_EQ(m.n, 1);
		CHECK(m.live[idx((u64 *)(uintptr_t)v)]);
		return 0;
	}
	d = (struct rmap_desc *)(uintptr_t)(v & ~RMAP_BITS);
	CHECK(d->count >= 1 && d->count <= RMAP_DESC_ENTRIES);
	CHECK_EQ(d->count + d->tail_count, m.n);
	tail = d->tail_count;
	for (d = d->more, ndesc = 1; d; d = d->more, ndesc++) {
		CHECK_EQ(d->count, RMAP_DESC_ENTRIES);
		CHECK_EQ(d->count + d->tail_count, tail);
		tail = d->tail_count;
	}
	CHECK_EQ(tail, 0);
	return ndesc;
}

/* The head holds exactly the model's set, each entry once, and has the promised shape. */
static void check_set(const u64 *head)
{
	struct rmap_iter it;
	u64 *p;
	u32 visited = 0;

	check_shape(head);
	m.stamp++;
	for_each_rmap_spte(head, &it, p) {
		u32 i = idx(p);

		CHECK(m.live[i]);
		CHECK(m.seen[i] != m.stamp);
		m.seen[i] = m.stamp;
		visited++;
	}
	CHECK_EQ(visited, m.n);
}

static u64 rng = 0x9e3779b97f4a7c15ULL;

static u32 rnd(u32 n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (u32)(rng % n);
}

TEST(rmap_empty_one_two_and_back)
{
	u64 head = 0;
	struct rmap_iter it;
	u64 *p;

	model_reset();
	CHECK_EQ(rmap_count(head), 0);
	CHECK(rmap_iter_first(&head, &it) == NULL);
	check_set(&head);

	add(NULL, &head, 7);
	CHECK_EQ(head, (u64)(uintptr_t)sp(7)); /* inline: the pointer itself, no bits */
	check_set(&head);

	add(NULL, &head, 9);
	CHECK(head & RMAP_MANY);
	CHECK_EQ(check_shape(&head), 1);
	/* Newest first. */
	CHECK(rmap_iter_first(&head, &it) == sp(9));
	CHECK(rmap_iter_next(&it) == sp(7));
	CHECK(rmap_iter_next(&it) == NULL);
	check_set(&head);

	/* Back to one entry: the descriptor stays (no allocation on every 1 <-> 2 swing). */
	u64 many = head;
	del(NULL, &head, 9);
	CHECK_EQ(head, many);
	check_set(&head);
	add(NULL, &head, 11);
	CHECK_EQ(head, many);
	check_set(&head);
	del(NULL, &head, 7);
	del(NULL, &head, 11);
	CHECK_EQ(head, 0); /* the descriptor went with the last entry */
	check_set(&head);

	/* An inline entry goes straight back to empty. */
	add(NULL, &head, 3);
	del(NULL, &head, 3);
	CHECK_EQ(head, 0);
	for_each_rmap_spte(&head, &it, p)
		CHECK(false);
}

TEST(rmap_thousands_of_entries)
{
	u64 head = 0;

	model_reset();
	for (u32 i = 0; i < 5000; i++) {
		add(NULL, &head, i);
		if (i % 97 == 0 || i < 64)
			check_set(&head);
		else
			check_shape(&head);
	}
	check_set(&head);
	CHECK_EQ(check_shape(&head), (5000 + RMAP_DESC_ENTRIES - 1) / RMAP_DESC_ENTRIES);
	rmap_clear(NULL, &head);
	model_reset();
	check_set(&head);
}

enum order { OLDEST_FIRST, NEWEST_FIRST, MIDDLE_FIRST, RANDOM };

/* Add n entries (scattered indices), then remove them in the given order, checking the set after every step. */
static void add_then_remove(u32 n, enum order order)
{
	static u32 added[4096];
	u64 head = 0;

	CHECK(n <= ARRAY_SIZE(added));
	model_reset();
	for (u32 i = 0; i < n; i++) {
		added[i] = (i * 7919u) % NFAKE;
		add(NULL, &head, added[i]);
		check_set(&head);
	}
	if (order == RANDOM) {
		for (u32 i = n; i > 1; i--) {
			u32 j = rnd(i), t = added[i - 1];

			added[i - 1] = added[j];
			added[j] = t;
		}
	}
	for (u32 left = n; left; left--) {
		u32 k = order == NEWEST_FIRST ? left - 1 : order == MIDDLE_FIRST ? left / 2 : 0;
		u32 victim = added[k];

		memmove(&added[k], &added[k + 1], (left - 1 - k) * sizeof(added[0]));
		del(NULL, &head, victim);
		check_set(&head);
	}
	CHECK_EQ(head, 0);
}

TEST(rmap_remove_in_every_order)
{
	static const u32 sizes[] = {1, 2, 3, 13, 14, 15, 16, 27, 28, 29, 43, 100, 1000};

	rng = 0x9e3779b97f4a7c15ULL;
	for (u32 s = 0; s < ARRAY_SIZE(sizes); s++) {
		add_then_remove(sizes[s], OLDEST_FIRST);
		add_then_remove(sizes[s], NEWEST_FIRST);
		add_then_remove(sizes[s], MIDDLE_FIRST);
		for (int r = 0; r < 4; r++)
			add_then_remove(sizes[s], RANDOM);
	}
	add_then_remove(3000, RANDOM);
}

/* Adds and removals interleaved at random, the set swinging through every shape. */
TEST(rmap_random_adds_and_removes)
{
	u64 head = 0;
	static u32 live_list[512];
	u32 nlive = 0;

	model_reset();
	rng = 12345;
	for (int step = 0; step < 20000; step++) {
		bool grow = nlive == 0 || (nlive < ARRAY_SIZE(live_list) && rnd(100) < (step / 2000 % 2 ? 35 : 65));

		if (grow) {
			u32 i;

			do
				i = rnd(NFAKE);
			while (m.live[i]);
			add(NULL, &head, i);
			live_list[nlive++] = i;
		} else {
			u32 k = rnd(nlive);

			del(NULL, &head, live_list[k]);
			live_list[k] = live_list[--nlive];
		}
		check_set(&head);
	}
	rmap_clear(NULL, &head);
}

TEST(rmap_remove_absent_is_a_bug)
{
	u64 head = 0;

	model_reset();
	EXPECT_BUG(rmap_remove(NULL, &head, sp(1)));
	add(NULL, &head, 1);
	EXPECT_BUG(rmap_remove(NULL, &head, sp(2)));
	for (u32 i = 2; i < 40; i++)
		add(NULL, &head, i);
	EXPECT_BUG(rmap_remove(NULL, &head, sp(40)));
	/* A refused removal changed nothing. */
	check_set(&head);
	EXPECT_BUG(rmap_add(NULL, &head, (u64 *)((char *)sp(50) + 4))); /* misaligned */
	EXPECT_BUG(rmap_add(NULL, &head, NULL));
	check_set(&head);
	rmap_clear(NULL, &head);
}

/* Removing the current entry (or not) while iterating visits every entry exactly once. */
static void iterate_and_remove(u32 n, u32 keep_every)
{
	u64 head = 0;
	struct rmap_iter it;
	u64 *p;
	u32 visited = 0, kept = 0;

	model_reset();
	for (u32 i = 0; i < n; i++)
		add(NULL, &head, i);
	m.stamp++;
	for_each_rmap_spte(&head, &it, p) {
		u32 i = idx(p);

		CHECK(m.live[i]);
		CHECK(m.seen[i] != m.stamp);
		m.seen[i] = m.stamp;
		visited++;
		if (keep_every && i % keep_every == 0) {
			kept++;
			continue;
		}
		del(NULL, &head, i);
		CHECK(!(head & RMAP_LOCKED));
	}
	CHECK_EQ(visited, n);
	CHECK_EQ(m.n, kept);
	check_set(&head);
	rmap_clear(NULL, &head);
}

TEST(rmap_iterate_with_removal)
{
	static const u32 sizes[] = {1, 2, 13, 14, 15, 28, 29, 200, 1001};

	for (u32 s = 0; s < ARRAY_SIZE(sizes); s++) {
		iterate_and_remove(sizes[s], 0); /* all */
		iterate_and_remove(sizes[s], 2); /* every other */
		iterate_and_remove(sizes[s], 3);
		iterate_and_remove(sizes[s], 15);
	}
}

/* A guest's 2^16 page tables all mapping one page: building the rmap is linear, the count is O(1) all along, and a
 * zap that walks and removes is linear too (each removal finds its entry first). Checked by the shape and the
 * set, not by a clock; the whole test is quick only because nothing in it is quadratic. */
TEST(rmap_hostile_many_mappings_of_one_gfn)
{
	u64 head = 0;
	struct rmap_iter it;
	u64 *p;
	u32 left = NFAKE;

	model_reset();
	for (u32 i = 0; i < NFAKE; i++) {
		add(NULL, &head, i);
		CHECK_EQ(rmap_count(head), i + 1);
	}
	CHECK_EQ(check_shape(&head), (NFAKE + RMAP_DESC_ENTRIES - 1) / RMAP_DESC_ENTRIES);
	check_set(&head);
	for_each_rmap_spte(&head, &it, p) {
		del(NULL, &head, idx(p));
		CHECK_EQ(rmap_count(head), --left);
		if (left % 4096 == 0)
			check_set(&head);
	}
	CHECK_EQ(head, 0);
}

TEST(rmap_read_lock)
{
	u64 head = 0, v;
	struct rmap_iter it;
	u64 *p;
	u32 n = 0;

	model_reset();
	/* Empty: nothing to walk, nothing taken. */
	CHECK_EQ(rmap_lock_read(&head), 0);
	CHECK_EQ(head, 0);
	rmap_unlock_read(&head, 0);

	add(NULL, &head, 4);
	v = rmap_lock_read(&head);
	CHECK_EQ(v, (u64)(uintptr_t)sp(4));
	CHECK_EQ(head, v | RMAP_LOCKED);
	CHECK_EQ(rmap_get(&head), v);
	CHECK_EQ(rmap_count(head), 1);
	CHECK(rmap_iter_first(&head, &it) == sp(4));
	rmap_unlock_read(&head, v);
	CHECK_EQ(head, v);

	for (u32 i = 5; i < 40; i++)
		add(NULL, &head, i);
	v = rmap_lock_read(&head);
	CHECK(v & RMAP_MANY);
	CHECK_EQ(head, v | RMAP_LOCKED);
	CHECK_EQ(rmap_count(head), 36);
	for_each_rmap_spte(&head, &it, p)
		n++;
	CHECK_EQ(n, 36);
	/* Unlocking with a value the head does not hold is the reader's bug. */
	EXPECT_BUG(rmap_unlock_read(&head, v ^ 8));
	rmap_unlock_read(&head, v);
	check_set(&head);
	EXPECT_BUG(rmap_unlock_read(&head, v)); /* not held */
	rmap_clear(NULL, &head);
}

TEST(rmap_cache_topped_up_adds_never_allocate)
{
	struct rmap_cache c = {0};
	u64 head = 0, before;
	const u32 fits = RMAP_CACHE_SIZE * RMAP_DESC_ENTRIES; /* entries 16 cached descriptors hold */

	model_reset();
	CHECK_EQ(rmap_cache_topup(&c, 1), 0);
	CHECK_EQ(c.nobjs, RMAP_CACHE_SIZE); /* topped up to capacity */
	CHECK_EQ(rmap_cache_topup(&c, RMAP_CACHE_SIZE), 0);
	fake_kmalloc_fail_after(0);
	for (u32 i = 0; i < fits; i++) {
		add(&c, &head, i);
		check_shape(&head);
	}
	CHECK_EQ(c.nobjs, 0);
	/* The cache is dry and the heap fails: -ENOMEM, nothing changed. */
	before = head;
	CHECK_EQ(rmap_add(&c, &head, sp(fits)), -ENOMEM);
	CHECK_EQ(head, before);
	check_set(&head);
	CHECK_EQ(rmap_cache_topup(&c, 1), -ENOMEM);
	fake_kmalloc_fail_after(~0ULL);

	/* Emptied descriptors go back to the cache while it has room, then to the heap. */
	for (u32 i = 0; i < RMAP_DESC_ENTRIES * 3; i++)
		del(&c, &head, fits - 1 - i); /* newest first: three first descriptors empty */
	CHECK_EQ(c.nobjs, 3);
	check_set(&head);
	rmap_clear(&c, &head); /* 13 more fill the cache */
	CHECK_EQ(c.nobjs, RMAP_CACHE_SIZE);
	model_reset();
	check_set(&head);
	rmap_cache_free(&c);
	CHECK_EQ(c.nobjs, 0);
}

TEST(rmap_add_without_cache_fails_cleanly)
{
	struct rmap_cache c = {0};
	u64 head = 0, before;

	model_reset();
	fake_kmalloc_fail_after(0);
	add(&c, &head, 1); /* an empty head needs no descriptor */
	before = head;
	CHECK_EQ(rmap_add(&c, &head, sp(2)), -ENOMEM); /* inline -> chain */
	CHECK_EQ(rmap_add(NULL, &head, sp(2)), -ENOMEM);
	CHECK_EQ(head, before);
	check_set(&head);
	fake_kmalloc_fail_after(~0ULL);
	for (u32 i = 2; i <= RMAP_DESC_ENTRIES; i++)
		add(NULL, &head, i); /* the heap fallback: c may be NULL */
	fake_kmalloc_fail_after(0);
	before = head;
	CHECK_EQ(rmap_add(&c, &head, sp(100)), -ENOMEM); /* full first descriptor -> a new one */
	CHECK_EQ(head, before);
	check_set(&head);
	fake_kmalloc_fail_after(~0ULL);
	rmap_clear(NULL, &head);
}

TEST(rmap_cache_topup_partial_failure)
{
	struct rmap_cache c = {0};

	fake_kmalloc_fail_after(3);
	CHECK_EQ(rmap_cache_topup(&c, 5), -ENOMEM);
	CHECK_EQ(c.nobjs, 3); /* what was had stays */
	CHECK_EQ(rmap_cache_topup(&c, 3), 0);
	fake_kmalloc_fail_after(~0ULL);
	CHECK_EQ(rmap_cache_topup(&c, 5), 0);
	CHECK_EQ(c.nobjs, RMAP_CACHE_SIZE);
	EXPECT_BUG(rmap_cache_topup(&c, RMAP_CACHE_SIZE + 1));
	rmap_cache_free(&c);
}

/* ---- per-memslot heads ---- */

static void hand_slot(struct memslot *s, gfn_t base, u64 npages)
{
	memset(s, 0, sizeof(*s));
	s->base_gfn = base;
	s->npages = npages;
}

TEST(rmap_slot_heads_lazy_per_level)
{
	struct memslot s;
	/* 3 GiB - 2 MiB + 1 GiB: from 1 GiB - 2 MiB, touching the 1G regions 0..3 partly or wholly. */
	gfn_t base = GIG - M2;
	u64 npages = 3 * GIG + M2;
	u64 n2 = npages / M2, n3 = 4;

	hand_slot(&s, base, npages);
	CHECK_EQ(rmap_slot_bytes(&s), 0);
	EXPECT_BUG(rmap_head(&s, base, 1)); /* not allocated */
	CHECK(s.track == NULL);

	/* Out of memory part way: what was allocated stays, a retry finishes. */
	fake_kmalloc_fail_after(2); /* the track struct and the level-1 array */
	CHECK_EQ(rmap_slot_alloc(&s), -ENOMEM);
	fake_kmalloc_fail_after(~0ULL);
	CHECK(s.track && s.track->rmap[0] && !s.track->rmap[1]);
	CHECK_EQ(rmap_slot_bytes(&s), npages * 8);
	u64 *keep = s.track->rmap[0];
	CHECK_EQ(rmap_slot_alloc(&s), 0);
	CHECK(s.track->rmap[0] == keep);
	CHECK_EQ(rmap_slot_alloc(&s), 0); /* idempotent */
	CHECK_EQ(rmap_slot_bytes(&s), (npages + n2 + n3) * 8);

	/* Level 1: one head per gfn. */
	CHECK(rmap_head(&s, base, 1) == &s.track->rmap[0][0]);
	CHECK(rmap_head(&s, base + 1, 1) == rmap_head(&s, base, 1) + 1);
	CHECK(rmap_head(&s, base + npages - 1, 1) == &s.track->rmap[0][npages - 1]);
	/* Level 2: one per 2M region. */
	CHECK(rmap_head(&s, base, 2) == rmap_head(&s, base + M2 - 1, 2));
	CHECK(rmap_head(&s, base + M2, 2) == rmap_head(&s, base, 2) + 1);
	CHECK(rmap_head(&s, base + npages - 1, 2) == &s.track->rmap[1][n2 - 1]);
	/* Level 3: one per 1G region the slot touches, the partial first and last ones included. */
	CHECK(rmap_head(&s, base, 3) == &s.track->rmap[2][0]);
	CHECK(rmap_head(&s, GIG, 3) == &s.track->rmap[2][1]);
	CHECK(rmap_head(&s, 2 * GIG - 1, 3) == &s.track->rmap[2][1]);
	CHECK(rmap_head(&s, base + npages - 1, 3) == &s.track->rmap[2][3]);
	for (int level = 1; level <= 3; level++)
		CHECK_EQ(*rmap_head(&s, base + 12345, level), 0);

	EXPECT_BUG(rmap_head(&s, base - 1, 1));
	EXPECT_BUG(rmap_head(&s, base + npages, 2));
	EXPECT_BUG(rmap_head(&s, base, 0));
	EXPECT_BUG(rmap_head(&s, base, 4));

	/* The heads work as heads; and are freed by track_slot_free, chains and all (ASan's leak check), with a
	 * warning for the entries left. */
	model_reset();
	for (u32 i = 0; i < 30; i++)
		add(NULL, rmap_head(&s, base + 77, 1), i);
	add(NULL, rmap_head(&s, base + 77, 3), 31);
	track_slot_free(&s);
	CHECK(s.track == NULL);
	CHECK_EQ(rmap_slot_bytes(&s), 0);
}

TEST(rmap_slot_shares_track_state)
{
	struct memslot s;

	/* Write tracking's counts and the rmap live side by side in one track_slot; either may come first. */
	hand_slot(&s, 0, 4 * M2);
	CHECK_EQ(track_disallow_huge(&s, 5), 0);
	struct track_slot *t = s.track;
	CHECK_EQ(rmap_slot_alloc(&s), 0);
	CHECK(s.track == t);
	CHECK_EQ(track_max_level(&s, 5), 1);
	CHECK_EQ(rmap_slot_bytes(&s), (4 * M2 + 4 + 1) * 8);
	track_slot_free(&s);
}

/* The size report `make bench` prints: the heads of a 1 GiB slot, measured on the code. */
TEST(rmap_metadata_bytes_per_gib)
{
	struct memslot s;

	hand_slot(&s, 4 * GIG, GIG);
	CHECK_EQ(rmap_slot_bytes(&s), 0);
	CHECK_EQ(rmap_slot_alloc(&s), 0);
	u64 bytes = rmap_slot_bytes(&s);
	CHECK_EQ(bytes, (GIG + 512 + 1) * 8);
	printf("SIZE rmap_bytes_per_gib before_shadow=0 after_shadow=%llu per_gfn=%llu desc_bytes=%zu "
	       "desc_entries=%d\n",
	       (unsigned long long)bytes, (unsigned long long)(bytes / GIG), sizeof(struct rmap_desc),
	       RMAP_DESC_ENTRIES);
	track_slot_free(&s);
}
