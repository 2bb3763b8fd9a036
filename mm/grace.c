/* Epoch-based grace periods (grace.h): the global epoch, the per-CPU read-section slots, and each owner's ring of
 * retired frames. Readers only publish which epoch they entered in; owners advance the epoch when every reader has
 * caught up, and free what was retired two epochs ago. */
#include "mm/grace.h"
#include "hv/bug.h"
#include "hv/platform.h"
#include "kernel/percpu.h"

/*
 * The scheme is the classic three-epoch one (Fraser's EBR). The global epoch never wraps (u64, +1 per advance). A
 * reader publishes the epoch it saw in its CPU's slot; the epoch may go from G to G+1 only when every CPU inside a
 * section has published G. So while a reader that published e is inside, the epoch goes no further than e+1 (or
 * stays where it was, if it had moved on between the reader's load and its store). A frame retired while the epoch
 * read E is freed once the epoch has reached E+2: every reader that could still reach it published at most E (shown
 * below), so the second advance could only happen after each of them left.
 *
 *   reader R (any CPU)              retirer (owner's lock)           advancer (any owner's reclaim)
 *   ------------------              ----------------------           ------------------------------
 *   e = load(epoch)                 unlink X from its parent         G = load(epoch)
 *   store(slot, e|ACTIVE) release
 *   ==== F_R: fence seq_cst ====    ==== F_W: fence seq_cst ====     ==== F_A: fence seq_cst ====
 *   walk: load entries, follow      E = load(epoch)                  s = load(slot[c]) acquire, every CPU c
 *     them into tables              ring <- (X, E)                   each active s published G?
 *   store(slot, 0) release                                             CAS(epoch, G -> G+1)
 *                                                                    free ring entries with stamp + 2 <= epoch
 *
 * Why X is never freed under a walk that can reach it. The epoch loads, the CAS and the three fences are seq_cst,
 * so they all lie in one total order S; take the retire of X (stamp E) and any reader R.
 *  - F_W before F_R in S: the walk loads after F_R, so it sees the unlink of X (or a later store) and cannot reach
 *    X. This half is a store-buffering (Dekker) pattern; without F_R an x86 CPU could run the walk's loads ahead of
 *    its slot store, and without F_W the retirer's loads could run ahead of its unlink.
 *  - F_R before F_W: X is freed only after some advance E+1 -> E+2, whose advancer read E+1 before its F_A. The
 *    retirer's load after F_W read E, so it precedes the write of E+1 in S, and F_W, F_R precede that F_A. So the
 *    advancer's load of R's slot, after F_A, sees R's publishing store or a later one. R's epoch load lies before F_R,
 *    hence before the retirer's load, so e <= E. If R is still inside, its slot says e != E+1 and the advance does not
 *    happen. Otherwise the slot load read R's unpin (or a later pin, also a release store): R's walk happens before
 *    the advance, and the CAS (release; later CASes continue its release sequence) read by the freer's epoch load
 *    (acquire) carries that to frame_free.
 * Costs on x86: seq_cst loads are plain moves, each fence is one MFENCE. A read section is one load, two stores and
 * one fence; a retire one fence; an advance one fence, a scan of every CPU's slot and one locked CMPXCHG.
 *
 * Why a ring and not a list chained through the retired frames: until its grace period is over a retired table is
 * still being read by walks that began before the retire (that is the whole point), and every one of its 512 entries
 * may be followed as an SPTE, so no byte of it is free to hold a link. The ring lives in struct grace, so retiring
 * never allocates and cannot fail; the owner reclaims on every deferred-free pass, so it only holds about two epochs'
 * worth of frames, and when a burst fills it, grace_retire waits for the readers instead.
 *
 * One epoch and one set of slots serve every struct grace: a walker does not have to say which MMU it reads, and a
 * reader slows reclamation everywhere only for as long as its short section lasts.
 */

static_assert(MAX_CPUS <= GRACE_MAX_CPUS, "a CPU without a read-section slot");
static_assert((GRACE_RING_SIZE & (GRACE_RING_SIZE - 1)) == 0, "free-running u32 indices need a power of two");

#define SLOT_ACTIVE 1ULL
/* Order is kept in the low bits of the page-aligned hpa; 1 GiB frames are the largest anything retires. */
#define GRACE_MAX_ORDER (HUGE_1G_SHIFT - PAGE_SHIFT)
static_assert(GRACE_MAX_ORDER < PAGE_SIZE, "order must fit below the page offset");

struct grace_cpu {
	u64 slot; /* atomic: 0 outside any section, else epoch << 1 | SLOT_ACTIVE; written by its CPU only */
	u32 nest; /* its CPU only: depth of nested sections */
} __aligned(64);  /* a line per CPU, so publishing does not bounce the neighbours' slots */

static struct grace_cpu grace_cpus[GRACE_MAX_CPUS];
static u64 grace_epoch __aligned(64); /* atomic: advanced by grace_try_advance only; read by every pin */

static struct grace_cpu *this_grace_cpu(void)
{
	unsigned int cpu = this_cpu_id();

	BUG_ON(cpu >= GRACE_MAX_CPUS);
	return &grace_cpus[cpu];
}

void grace_read_lock(void)
{
	struct grace_cpu *c = this_grace_cpu();

	if (c->nest++)
		return;
	u64 e = __atomic_load_n(&grace_epoch, __ATOMIC_SEQ_CST);
	__atomic_store_n(&c->slot, e << 1 | SLOT_ACTIVE, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* F_R: the slot is visible before the walk loads anything */
}

void grace_read_unlock(void)
{
	struct grace_cpu *c = this_grace_cpu();

	BUG_ON(!c->nest);
	if (--c->nest)
		return;
	/* Release: an advancer that reads this also sees every load of the walk as done. */
	__atomic_store_n(&c->slot, 0, __ATOMIC_RELEASE);
}

bool grace_in_read_section(void)
{
	return this_grace_cpu()->nest != 0;
}

void grace_init(struct grace *g, const spinlock_t *owner_lock)
{
	*g = (struct grace){.lock = owner_lock};
}

void grace_init_rw(struct grace *g, const rwlock_t *owner_lock)
{
	*g = (struct grace){.rwlock = owner_lock};
}

static void grace_assert_owner(const struct grace *g)
{
	if (g->lock)
		assert_spin_held(g->lock);
	if (g->rwlock)
		assert_write_held(g->rwlock);
}

/* One attempt to move the epoch on. Leaves the current epoch in *epoch, read with acquire semantics, so frames it
 * shows to be expired may be freed at once. Whether it advanced (this caller or a racing one). */
static bool grace_try_advance(struct grace *g, u64 *epoch)
{
	u64 e = __atomic_load_n(&grace_epoch, __ATOMIC_SEQ_CST);

	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* F_A */
	for (unsigned int c = 0; c < GRACE_MAX_CPUS; c++) {
		u64 s = __atomic_load_n(&grace_cpus[c].slot, __ATOMIC_ACQUIRE);

		if ((s & SLOT_ACTIVE) && s >> 1 != e) {
			*epoch = e;
			return false;
		}
	}
	if (__atomic_compare_exchange_n(&grace_epoch, &e, e + 1, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		if (g)
			g->stats.advances++;
		e++;
	}
	/* A failed CAS loaded the newer epoch into e: another owner advanced past the same readers. */
	*epoch = e;
	return true;
}

static bool is_expired(const struct grace_retired *r, u64 epoch)
{
	return r->epoch + 2 <= epoch;
}

void grace_reclaim(struct grace *g)
{
	grace_assert_owner(g);
	if (g->head == g->tail)
		return;
	u64 epoch = __atomic_load_n(&grace_epoch, __ATOMIC_SEQ_CST);
	const struct grace_retired *newest = &g->ring[(g->tail - 1) % GRACE_RING_SIZE];

	/* Every stamp is at most the epoch read above, so two advances expire the whole ring unless a reader is in an
	 * older epoch; trying more would only scan the slots again. */
	for (int i = 0; i < 2 && !is_expired(newest, epoch); i++)
		if (!grace_try_advance(g, &epoch))
			break;
	/* Stamps never decrease from head to tail (grace_retire checks), so the expired ones are a prefix. */
	while (g->head != g->tail) {
		const struct grace_retired *r = &g->ring[g->head % GRACE_RING_SIZE];

		if (!is_expired(r, epoch))
			break;
		if (r->obj) {
			kfree(r->obj);
			g->stats.objects_freed++;
		} else {
			frame_free(r->frame_order & PAGE_MASK, (unsigned int)(r->frame_order & ~PAGE_MASK));
			g->stats.freed++;
		}
		g->head++;
	}
}

/* Reclaim until at most max_pending frames are queued, pausing between tries: only readers still inside their
 * sections can hold it back, and they leave by themselves. */
static void grace_wait(struct grace *g, u32 max_pending)
{
	BUG_ON(grace_in_read_section()); /* it would wait for itself */
	for (grace_reclaim(g); g->tail - g->head > max_pending; grace_reclaim(g))
		__builtin_ia32_pause();
}

static void grace_queue(struct grace *g, u64 frame_order, void *obj)
{
	grace_assert_owner(g);
	if (g->tail - g->head == GRACE_RING_SIZE) {
		g->stats.full_waits++;
		grace_wait(g, GRACE_RING_SIZE - 1);
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* F_W: the caller's unlink is visible before the stamp is read */
	u64 epoch = __atomic_load_n(&grace_epoch, __ATOMIC_SEQ_CST);

	/* The owner's lock orders retires and the epoch only grows, so stamps are nondecreasing along the ring. */
	BUG_ON(g->head != g->tail && g->ring[(g->tail - 1) % GRACE_RING_SIZE].epoch > epoch);
	g->ring[g->tail % GRACE_RING_SIZE] = (struct grace_retired){.frame_order = frame_order, .epoch = epoch, .obj = obj};
	g->tail++;
	if (obj)
		g->stats.objects++;
	else
		g->stats.retired++;
}

void grace_retire(struct grace *g, hpa_t frame, unsigned int order)
{
	BUG_ON(order > GRACE_MAX_ORDER || !IS_ALIGNED(frame, PAGE_SIZE << order)); /* INVALID_HPA is not aligned */
	grace_queue(g, frame | order, NULL);
}

void grace_retire_object(struct grace *g, void *obj)
{
	BUG_ON(!obj);
	grace_queue(g, 0, obj);
}

void grace_synchronize(struct grace *g)
{
	grace_assert_owner(g);
	grace_wait(g, 0);
}

/* The same argument as for a retired frame stamped E (above): the caller's store that made the thing unreachable
 * comes before F_W, and the epoch must reach E + 2. */
void grace_wait_readers(void)
{
	BUG_ON(grace_in_read_section()); /* it would wait for itself */
	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* F_W */
	u64 stamp = __atomic_load_n(&grace_epoch, __ATOMIC_SEQ_CST), epoch = stamp;

	while (epoch < stamp + 2) {
		if (!grace_try_advance(NULL, &epoch))
			__builtin_ia32_pause();
	}
}
