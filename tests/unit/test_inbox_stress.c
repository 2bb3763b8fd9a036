/* The inbox (vm/inbox.c) under concurrency: poster threads race the owner's drains into a real vLAPIC, and no post
 * is ever lost and nothing unposted ever appears. */
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "inbox_fixture.h"

/* Three senders post known vector sets while the owner drains and takes everything, continuously. Each post is
 * logged with the drain round that was current when it began, and the owner logs, per round, how far each sender's
 * returned posts reach before that round's drain. Posts of one vector coalesce, so deliveries are not counted one
 * for one, but after the senders are joined these must hold:
 *   - never lost: every post is delivered by a drain no earlier than the round current when it began and no later
 *     than the first drain that began after it returned (so the last post of each vector is delivered);
 *   - never invented: the j-th delivery of a vector (in round order) has at least j posts of it that began no later
 *     than that round; a vector nobody posted is never delivered; one drain delivers a vector at most once;
 *   - nothing is left: after the final drain the inbox, IRR and ISR are empty;
 *   - a vector always posted level makes one IOAPIC EOI per delivery, an edge one none.
 * Each sender posts a few hot vectors shared with the others (coalescing across senders) and many cold ones of its
 * own, rare enough that a lost post of one is not hidden by a later post of the same vector. */
#define NPOSTERS   3
#define NPOSTS	   100000
#define NPASSES	   3 /* the whole run, with a different seed each time */
#define SYNC_EVERY 4 /* a sender waits for a new drain round this often, so drains really interleave posts */

static const u8 hot_vecs[] = {63, 64, 127, 200};

static bool is_level_vec(u8 v)
{
	return v == 127 || v == 200 || v % 5 == 0;
}

/* Sender t's cold vectors: 16..255 with v % 8 == t + 1. Vectors with v % 8 in {0, 4, 5, 6, 7}, hot ones aside,
 * are never posted. */
static bool is_cold_of(u8 v, int t)
{
	return v >= 16 && v % 8 == t + 1;
}

static struct {
	struct vcpu_inbox box;
	u64 seed;
	u64 started[256];	     /* atomic: posts of the vector begun */
	u64 done[NPOSTERS];	     /* atomic: posts of the sender returned */
	u64 round;		     /* atomic: the owner's current drain round, 1 for the first */
	int running;		     /* atomic: senders not yet finished */
	int stop;		     /* atomic: the owner saw a failure */
	int bad_post;		     /* atomic: an inbox_post returned false */
	u8 vec[NPOSTERS][NPOSTS];    /* sender's log: vector of its i-th post */
	u32 begun[NPOSTERS][NPOSTS]; /* sender's log: the round current when its i-th post began */
	u32 bound[NPOSTERS][NPOSTS]; /* owner's log: the first round whose drain began after the i-th post returned */
	u64 seen_done[NPOSTERS];     /* owner: st.done as of the last round */
} st;

static void *poster(void *arg)
{
	int t = (int)(uintptr_t)arg;
	u64 x = 0x9e3779b97f4a7c15ULL * (u64)(t + 1) + st.seed;
	u64 synced = 0;
	u8 cold[32];
	int ncold = 0;

	for (int v = 0; v < 256; v++)
		if (is_cold_of((u8)v, t))
			cold[ncold++] = (u8)v;
	for (int i = 0; i < NPOSTS && !__atomic_load_n(&st.stop, __ATOMIC_RELAXED); i++) {
		if (i % SYNC_EVERY == SYNC_EVERY - 1) {
			while (__atomic_load_n(&st.round, __ATOMIC_SEQ_CST) == synced &&
			       !__atomic_load_n(&st.stop, __ATOMIC_RELAXED))
				sched_yield();
			synced = __atomic_load_n(&st.round, __ATOMIC_SEQ_CST);
		}
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		u8 v = (x >> 32) % 2 ? hot_vecs[x % sizeof(hot_vecs)] : cold[x % (u64)ncold];
		u32 icr = (is_level_vec(v) ? LEVEL(v) : EDGE(v)) | (i % 2 ? DM(VLAPIC_DM_LOWPRI) : 0);

		st.vec[t][i] = v;
		st.begun[t][i] = (u32)__atomic_load_n(&st.round, __ATOMIC_SEQ_CST);
		__atomic_fetch_add(&st.started[v], 1, __ATOMIC_SEQ_CST);
		if (!inbox_post(&st.box, icr))
			__atomic_store_n(&st.bad_post, 1, __ATOMIC_SEQ_CST);
		__atomic_fetch_add(&st.done[t], 1, __ATOMIC_SEQ_CST);
	}
	__atomic_fetch_sub(&st.running, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* Failures seen while the senders run are recorded, not raised: test_fail() would longjmp away from live threads. */
static char stress_err[256];

static __attribute__((format(printf, 1, 2))) void stress_fail(const char *fmt, ...)
{
	va_list ap;

	if (stress_err[0])
		return;
	va_start(ap, fmt);
	vsnprintf(stress_err, sizeof(stress_err), fmt, ap);
	va_end(ap);
	__atomic_store_n(&st.stop, 1, __ATOMIC_SEQ_CST);
}

/* The rounds in which each vector was delivered, ascending. */
static struct {
	u32 *round;
	u64 n, cap;
} deliv[256];
static u64 rounds, busy_rounds;

static void log_delivery(int v, u32 k)
{
	if (deliv[v].n == deliv[v].cap) {
		deliv[v].cap = deliv[v].cap ? 2 * deliv[v].cap : 1024;
		deliv[v].round = realloc(deliv[v].round, deliv[v].cap * sizeof(u32));
		if (!deliv[v].round) {
			stress_fail("out of memory");
			return;
		}
	}
	deliv[v].round[deliv[v].n++] = k;
}

/* One round of the owner: note which posts have returned, drain, take and EOI everything. Whether it delivered. */
static bool owner_round(void)
{
	bool got[256] = {false};
	bool any = false;
	int v;

	u32 k = (u32)__atomic_add_fetch(&st.round, 1, __ATOMIC_SEQ_CST);
	/* Every post these counts include returned before the drain below began: this drain or an earlier one must
	 * take it. */
	for (int t = 0; t < NPOSTERS; t++) {
		u64 d = __atomic_load_n(&st.done[t], __ATOMIC_SEQ_CST);
		for (u64 i = st.seen_done[t]; i < d; i++)
			st.bound[t][i] = k;
		st.seen_done[t] = d;
	}
	bool drained = inbox_drain(&st.box, &lapic, dropped_level, &own);
	while ((v = vlapic_pending_vector(&lapic)) >= 0) {
		if (got[v])
			stress_fail("round %u: vector %d delivered twice by one drain", k, v);
		got[v] = true;
		any = true;
		log_delivery(v, k);
		vlapic_accept(&lapic, (u8)v);
		if (vlapic_mmio_write(&lapic, VLAPIC_REG_EOI, 4, 0, T) != 0)
			stress_fail("EOI write failed");
	}
	rounds++;
	busy_rounds += any;
	/* Every vector posted is legal and the vLAPIC is enabled with IRR empty: a drain that took anything set IRR. */
	if (drained != any)
		stress_fail("round %u: drain returned %d, delivered %d", k, drained, any);
	for (int i = 0; i < 256; i++)
		if (deliv[i].n > __atomic_load_n(&st.started[i], __ATOMIC_SEQ_CST))
			stress_fail("round %u: vector %d delivered %" PRIu64 " times, posted fewer", k, i, deliv[i].n);
	return any;
}

static int cmp_u32(const void *a, const void *b)
{
	u32 x = *(const u32 *)a, y = *(const u32 *)b;

	return x < y ? -1 : x > y;
}

/* Check every logged post and delivery of vector v (see above). */
static void check_vector(u8 v, u32 *begun_sorted)
{
	u64 nposts = 0;
	const u32 *d = deliv[v].round;
	u64 nd = deliv[v].n;

	for (int t = 0; t < NPOSTERS; t++)
		for (u64 i = 0; i < NPOSTS; i++) {
			if (st.vec[t][i] != v)
				continue;
			u32 lo = st.begun[t][i], hi = st.bound[t][i];
			begun_sorted[nposts++] = lo;
			/* The first delivery in or after round lo must come no later than round hi. */
			u64 a = 0, b = nd;
			while (a < b) {
				u64 m = (a + b) / 2;
				if (d[m] < lo)
					a = m + 1;
				else
					b = m;
			}
			if (a == nd || d[a] > hi)
				test_fail(__FILE__, __LINE__,
					  "vector %u: post %" PRIu64
					  " of sender %d (rounds %u-%u) lost: next delivery %s%u",
					  v, i, t, lo, hi, a == nd ? "never, last " : "in round ",
					  a == nd ? (nd ? d[nd - 1] : 0) : d[a]);
		}
	CHECK_EQ(nposts, st.started[v]);
	if (nposts == 0) {
		CHECK_EQ(nd, 0);
		return;
	}
	qsort(begun_sorted, nposts, sizeof(u32), cmp_u32);
	CHECK(nd <= nposts);
	for (u64 j = 0; j < nd; j++) {
		if (j && d[j] <= d[j - 1])
			test_fail(__FILE__, __LINE__, "vector %u delivered twice in round %u", v, d[j]);
		if (begun_sorted[j] > d[j])
			test_fail(__FILE__, __LINE__,
				  "vector %u: delivery %" PRIu64 " in round %u, but only %" PRIu64
				  " posts of it began by then",
				  v, j, d[j], j);
	}
	CHECK_EQ(own.eoi[v], is_level_vec(v) ? nd : 0);
}

static void stress_pass(int pass)
{
	pthread_t th[NPOSTERS];
	static u32 scratch[NPOSTERS * NPOSTS];
	u64 total_delivered = 0;
	int posted_vectors = 0;

	setup(true);
	memset(&st, 0, sizeof(st));
	st.seed = (u64)pass * 0x2545f4914f6cdd1dULL;
	for (int v = 0; v < 256; v++) {
		free(deliv[v].round); /* from an earlier run: kept reachable so a failed run does not read as a leak */
		deliv[v].round = NULL;
		deliv[v].n = deliv[v].cap = 0;
	}
	stress_err[0] = 0;
	rounds = busy_rounds = 0;
	st.running = NPOSTERS;

	for (int t = 0; t < NPOSTERS; t++)
		CHECK_EQ(pthread_create(&th[t], NULL, poster, (void *)(uintptr_t)t), 0);
	while (__atomic_load_n(&st.running, __ATOMIC_SEQ_CST) && !__atomic_load_n(&st.stop, __ATOMIC_SEQ_CST))
		if (!owner_round())
			sched_yield(); /* an idle owner must not starve the senders on a host with few CPUs */
	for (int t = 0; t < NPOSTERS; t++)
		CHECK_EQ(pthread_join(th[t], NULL), 0);
	if (!stress_err[0])
		owner_round(); /* the final drain, after every post has returned */
	if (stress_err[0])
		test_fail(__FILE__, __LINE__, "%s", stress_err);
	CHECK_EQ(st.bad_post, 0);
	for (int t = 0; t < NPOSTERS; t++)
		CHECK_EQ(st.done[t], NPOSTS);

	CHECK(!inbox_pending(&st.box));
	CHECK(!inbox_drain(&st.box, &lapic, dropped_level, &own));
	check_vec_reg(VLAPIC_REG_IRR, none);
	check_vec_reg(VLAPIC_REG_ISR, none);

	for (int v = 0; v < 256; v++) {
		bool expected = memchr(hot_vecs, v, sizeof(hot_vecs)) != NULL;
		for (int t = 0; t < NPOSTERS; t++)
			expected |= is_cold_of((u8)v, t);
		/* Each listed vector was posted (the generator reaches all of them), the others never. */
		CHECK_EQ(st.started[v] != 0, expected);
		check_vector((u8)v, scratch);
		total_delivered += deliv[v].n;
		posted_vectors += expected;
	}
	CHECK(posted_vectors > 80);
	CHECK_EQ(own.kicks, total_delivered); /* each delivery newly set IRR */
	CHECK_EQ(own.ndropped, 0);
	CHECK_EQ(esr(), 0);
	/* The senders waited for a new round every SYNC_EVERY posts, so drains really ran between posts: posts of one
	 * sender three waits apart are taken by different drains. */
	CHECK(busy_rounds >= NPOSTS / SYNC_EVERY / 3);
	if (getenv("INBOX_STATS"))
		fprintf(stderr, "  pass %d: %" PRIu64 " rounds, %" PRIu64 " with deliveries, %" PRIu64 " deliveries\n",
			pass, rounds, busy_rounds, total_delivered);
}

TEST(concurrent_posts_never_lost)
{
	for (int pass = 0; pass < NPASSES; pass++)
		stress_pass(pass);
}
