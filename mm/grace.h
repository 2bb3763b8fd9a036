/* Grace periods for freeing page-table frames that lockless walkers may still be reading (epoch-based reclamation,
 * an RCU of our own). The MMU unlinks a table under its lock, retires it here, and the frame goes back to the frame
 * allocator only once every read section that could have reached it has ended. See grace.c for the scheme and its
 * memory-ordering argument. */
#ifndef MM_GRACE_H
#define MM_GRACE_H

#include "hv/rwlock.h"
#include "hv/spinlock.h"

/* Read sections are tracked per CPU in one global table; kernel/percpu.h's MAX_CPUS must fit (grace.c asserts). */
#define GRACE_MAX_CPUS 64

/* Retired frames waiting for their grace period, per struct grace. A fixed ring, so retiring never allocates (see
 * grace.c for why the frames cannot carry the list themselves). Reclaim runs whenever the owner's deferred-free
 * path does, so the ring only has to cover about two epochs of retirements; a full ring makes grace_retire wait. */
#define GRACE_RING_SIZE 256

/*
 * A lockless walk of tables that may be unlinked and retired concurrently. Between lock and unlock every frame the
 * walk reaches stays allocated, with whatever contents it had (a retired table is not cleared).
 *  - Sections nest on one CPU (a counter), so a walker may call helpers that open their own.
 *  - A section is short and bounded: while it lasts, no frame retired anywhere in the hypervisor is freed, and a
 *    full ring or grace_synchronize waits for it. So it must not spin on a lock whose holder may wait for a grace
 *    period (an MMU lock: its holder can be in grace_retire), must not enter a guest, and is not used from interrupt
 *    or NMI handlers (the nesting counter is not interrupt-safe).
 * Readers write only their own CPU's slot and never wait.
 */
void grace_read_lock(void);
void grace_read_unlock(void);
/* Whether the executing CPU is inside a read section (for assertions). */
bool grace_in_read_section(void);

struct grace_stats {
	u64 retired;	/* frames queued by grace_retire */
	u64 freed;	/* frames handed to frame_free */
	u64 objects;	   /* heap objects queued by grace_retire_object */
	u64 objects_freed; /* of those, handed to kfree */
	u64 advances;	/* global epoch advances made by this grace's reclaim calls */
	u64 full_waits; /* grace_retire calls that found the ring full and had to wait for readers */
};

/* One queued frame: its hpa with the order in the low bits (hpas are page aligned), and the epoch it was retired
 * in; or, for grace_retire_object, the heap object (frame_order unused). */
struct grace_retired {
	u64 frame_order;
	u64 epoch;
	void *obj;
};

/*
 * One per owner (per MMU). All-zero is a valid, empty grace that does not check locking; grace_init records the
 * owner's lock so that every call asserts it is held. Every field is protected by that lock: grace_retire,
 * grace_reclaim and grace_synchronize change the ring and the counters, and the caller serialises them per grace.
 * Readers never touch a struct grace, so it needs no atomics.
 */
struct grace {
	const spinlock_t *lock;			    /* grace_init: constant; NULL means unchecked */
	const rwlock_t *rwlock;			    /* grace_init_rw: constant, held for write */
	struct grace_retired ring[GRACE_RING_SIZE]; /* owner's lock: [head, tail) modulo the size, oldest first */
	u32 head, tail;				    /* owner's lock: free-running indices */
	struct grace_stats stats;		    /* owner's lock */
};

void grace_init(struct grace *g, const spinlock_t *owner_lock);
/* The same for an owner whose lock is a reader-writer lock, held for write around every call (the MMU's). */
void grace_init_rw(struct grace *g, const rwlock_t *owner_lock);

/* Queue 2^order frames at frame, already unreachable from every table a new walk can start at, to be freed once
 * every read section that began before this call has ended. Never allocates. Waits for readers only if the ring is
 * full (counted in stats.full_waits); then the caller must not be inside a read section itself. */
void grace_retire(struct grace *g, hpa_t frame, unsigned int order);

/* The same for a heap object (kmalloc) that lockless walkers may still read: kfree'd once its grace period is over.
 * For the few structures such walkers follow besides tables (the MMU's roots, which aging walks without the lock). */
void grace_retire_object(struct grace *g, void *obj);

/* Free every queued frame whose grace period is over, advancing the global epoch where the readers allow it; never
 * waits. With no reader inside a section, one call frees everything queued before it. */
void grace_reclaim(struct grace *g);

/* Wait until every read section in progress anywhere when it is called has ended, without the owner's lock or a
 * struct grace (synchronize_rcu): for a caller that has made something unreachable other than by retiring a frame
 * (mm/mmu_reclaim.c: a chunk of guest RAM marked reclaiming) and must know no reader still uses it. Must not be
 * called inside a read section. */
void grace_wait_readers(void);

/* Wait until every queued frame can be freed, and free them (teardown). Must not be called inside a read section:
 * it would wait for itself. */
void grace_synchronize(struct grace *g);

#endif
