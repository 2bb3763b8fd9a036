/* Ticketless test-and-test-and-set spinlock that records its owner, so `__`-prefixed functions can assert that their
 * caller holds the lock. Interrupts are not touched: the hypervisor takes no lock from an interrupt handler. */
#ifndef HV_SPINLOCK_H
#define HV_SPINLOCK_H

#include "hv/bug.h"
#include "hv/platform.h"

/* All zeroes is a free lock, so a lock inside kzalloc'ed or static memory needs no initialisation. */
#define SPIN_UNOWNED 0u

typedef struct spinlock {
	u32 locked;
	u32 owner; /* CPU index + 1 of the holder, SPIN_UNOWNED when free; written only by the holder */
} spinlock_t;

#define SPINLOCK_INIT { .locked = 0, .owner = SPIN_UNOWNED }

static inline void spin_lock_init(spinlock_t *l)
{
	l->locked = 0;
	l->owner = SPIN_UNOWNED;
}

static inline u32 __spin_me(void)
{
	return this_cpu_id() + 1;
}

static inline void spin_lock(spinlock_t *l)
{
	BUG_ON(__atomic_load_n(&l->owner, __ATOMIC_RELAXED) == __spin_me()); /* recursive acquisition */
	for (;;) {
		if (!__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
			break;
		while (__atomic_load_n(&l->locked, __ATOMIC_RELAXED))
			__builtin_ia32_pause();
	}
	__atomic_store_n(&l->owner, __spin_me(), __ATOMIC_RELAXED);
}

/* One try: true with the lock held. For work any of several CPUs may do (the console poll), where waiting is waste. */
static inline bool spin_trylock(spinlock_t *l)
{
	BUG_ON(__atomic_load_n(&l->owner, __ATOMIC_RELAXED) == __spin_me());
	if (__atomic_load_n(&l->locked, __ATOMIC_RELAXED) || __atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
		return false;
	__atomic_store_n(&l->owner, __spin_me(), __ATOMIC_RELAXED);
	return true;
}

static inline void spin_unlock(spinlock_t *l)
{
	BUG_ON(__atomic_load_n(&l->owner, __ATOMIC_RELAXED) != __spin_me());
	__atomic_store_n(&l->owner, SPIN_UNOWNED, __ATOMIC_RELAXED);
	__atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}

static inline bool spin_is_held_by_me(const spinlock_t *l)
{
	return __atomic_load_n(&l->locked, __ATOMIC_RELAXED) &&
	       __atomic_load_n(&l->owner, __ATOMIC_RELAXED) == __spin_me();
}

#define assert_spin_held(l) BUG_ON(!spin_is_held_by_me(l))

#endif
