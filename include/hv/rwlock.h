/* A phase-fair reader-writer ticket lock (Brandenburg and Anderson's PF-T lock), for the MMU lock: TDP faults take it
 * for read and run in parallel, zaps and every other structural change take it for write.
 *
 * Fairness, and why this kind: a reader-preferring lock would let a steady stream of vCPU faults starve a zap waiting
 * for write (every fault's reader overlaps the next); a writer-preferring one would let back-to-back zaps starve the
 * faults. Phase-fair alternates: a writer waits only for the readers already inside when it arrived (one reader
 * phase), readers that arrive after it wait behind it, and those wait for at most that one writer (one writer
 * phase), since the writer's release, or the next writer's arrival with the other phase bit, lets them all in.
 * Writers among themselves are FIFO by ticket.
 *
 *   rin:  readers admitted, in units of RW_RINC | the present writer's bits (RW_PRES, RW_PHID = its ticket's parity)
 *   rout: readers gone, in units of RW_RINC        win, wout: writer tickets taken and served
 *
 * Ownership is recorded for assertions, as the spinlock does: the writer's CPU, and a byte per CPU saying it reads
 * (each CPU stores only its own byte, a plain store: no locked instruction beyond the two counters), so the `__`
 * functions of the MMU assert which side they hold. Neither side may be taken recursively (a reader re-entering
 * behind a waiting writer would deadlock). Interrupts are not touched.
 */
#ifndef HV_RWLOCK_H
#define HV_RWLOCK_H

#include "hv/bug.h"
#include "hv/platform.h"

#define RW_RINC 0x100u
#define RW_PRES 0x2u
#define RW_PHID 0x1u
#define RW_WBITS (RW_PRES | RW_PHID)

/* All zeroes is a free lock. */
typedef struct rwlock {
	u32 rin, rout;
	u32 win, wout;
	u32 owner;   /* CPU index + 1 of the writer, 0 when none; written only by the writer */
	u8 reading[64]; /* [n]: CPU n holds it for read (assertions); written only by CPU n (MAX_CPUS is 64) */
	/* Counters for the bench and tests (relaxed, racy): how often each side had to wait. */
	u64 read_waits, write_waits;
} rwlock_t;

/* A spin-wait step. The hypervisor's CPUs are never preempted, so a waiter only pauses; host unit tests and benches
 * run the lock on threads the host may preempt (on 2 cores shared with other work), where a waiter that only spins
 * can burn whole time slices while the holder is off the CPU, so it yields now and then (fake_platform.c). */
#ifdef HV_HOST_TEST
void host_spin_relax(unsigned int *spins);
#else
static inline void host_spin_relax(unsigned int *spins)
{
	(void)spins;
	__builtin_ia32_pause();
}
#endif

static inline void rwlock_init(rwlock_t *l)
{
	*l = (rwlock_t){ 0 };
}

static inline bool rwlock_is_read_held_by_me(const rwlock_t *l)
{
	return __atomic_load_n(&l->reading[this_cpu_id()], __ATOMIC_RELAXED) != 0;
}

static inline bool rwlock_is_write_held_by_me(const rwlock_t *l)
{
	return __atomic_load_n(&l->owner, __ATOMIC_RELAXED) == this_cpu_id() + 1;
}

static inline void read_lock(rwlock_t *l)
{
	unsigned int spins = 0;
	u32 w;

	BUG_ON(rwlock_is_read_held_by_me(l) || rwlock_is_write_held_by_me(l));
	w = __atomic_fetch_add(&l->rin, RW_RINC, __ATOMIC_ACQUIRE) & RW_WBITS;
	if (w) {
		__atomic_fetch_add(&l->read_waits, 1, __ATOMIC_RELAXED);
		/* The writer of this phase leaves (bits cleared) or the next one comes (the other parity). */
		while ((__atomic_load_n(&l->rin, __ATOMIC_ACQUIRE) & RW_WBITS) == w)
			host_spin_relax(&spins);
	}
	__atomic_store_n(&l->reading[this_cpu_id()], 1, __ATOMIC_RELAXED);
}

static inline void read_unlock(rwlock_t *l)
{
	BUG_ON(!rwlock_is_read_held_by_me(l));
	__atomic_store_n(&l->reading[this_cpu_id()], 0, __ATOMIC_RELAXED);
	__atomic_fetch_add(&l->rout, RW_RINC, __ATOMIC_RELEASE);
}

static inline void write_lock(rwlock_t *l)
{
	unsigned int spins = 0;
	u32 ticket, in;
	bool waited = false;

	BUG_ON(rwlock_is_read_held_by_me(l) || rwlock_is_write_held_by_me(l));
	ticket = __atomic_fetch_add(&l->win, 1, __ATOMIC_RELAXED);
	while (__atomic_load_n(&l->wout, __ATOMIC_ACQUIRE) != ticket) {
		waited = true;
		host_spin_relax(&spins);
	}
	/* From here on, readers arriving wait; those already in (counted in `in`) are waited out. */
	in = __atomic_fetch_add(&l->rin, RW_PRES | (ticket & RW_PHID), __ATOMIC_ACQUIRE) & ~RW_WBITS;
	while (__atomic_load_n(&l->rout, __ATOMIC_ACQUIRE) != in) {
		waited = true;
		host_spin_relax(&spins);
	}
	if (waited)
		__atomic_fetch_add(&l->write_waits, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&l->owner, this_cpu_id() + 1, __ATOMIC_RELAXED);
}

static inline void write_unlock(rwlock_t *l)
{
	BUG_ON(!rwlock_is_write_held_by_me(l));
	__atomic_store_n(&l->owner, 0, __ATOMIC_RELAXED);
	__atomic_fetch_and(&l->rin, ~RW_WBITS, __ATOMIC_RELEASE);
	__atomic_store_n(&l->wout, __atomic_load_n(&l->wout, __ATOMIC_RELAXED) + 1, __ATOMIC_RELEASE);
}

#define assert_write_held(l) BUG_ON(!rwlock_is_write_held_by_me(l))
#define assert_read_held(l) BUG_ON(!rwlock_is_read_held_by_me(l))
/* Either side: code that runs under the shared lock and also under the exclusive one. */
#define assert_rw_held(l) BUG_ON(!rwlock_is_read_held_by_me(l) && !rwlock_is_write_held_by_me(l))

#endif
