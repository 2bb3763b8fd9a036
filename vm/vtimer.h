/* Device timers: a device arms a vtimer for a TSC deadline; vCPU 0's run loop fires expired ones and sleeps, or
 * arms the host timer, until the earliest. The list is under vm->timers_lock, taken inside these calls (a device's
 * own lock may be held around them); callbacks run without it. */
#ifndef VM_VTIMER_H
#define VM_VTIMER_H

#include "hv/types.h"

struct vm;

struct vtimer {
	u64 deadline;                                  /* vm->timers_lock; TSC value, valid while armed */
	void (*fire)(struct vtimer *t, u64 now);       /* constant; runs once per expiry, may re-arm itself */
	struct vtimer *next;                           /* vm->timers_lock: the VM's list of armed timers */
	bool armed;                                    /* vm->timers_lock */
};

void vtimer_init(struct vtimer *t, void (*fire)(struct vtimer *t, u64 now));
void vtimer_arm(struct vm *vm, struct vtimer *t, u64 deadline);
void vtimer_disarm(struct vm *vm, struct vtimer *t);
/* Fire every timer due at `now` (in deadline order); the earliest remaining deadline, or ~0. */
u64 vm_timers_run(struct vm *vm, u64 now);
/* The earliest armed deadline, or ~0, without firing anything. */
u64 vm_timers_next(struct vm *vm);

#endif
