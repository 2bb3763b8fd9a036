/* The VM queue's bookkeeping: which configuration starts next, and what becomes of one whose build found too little
 * free memory. Pure state under the caller's lock (vm/sched.c's sched_lock), so the host tests drive it directly;
 * vm/sched.c adds the CPUs. */
#ifndef VM_QUEUE_H
#define VM_QUEUE_H

#include "hv/types.h"

/*
 * VMs start in configuration order, the head of the queue first, whatever holds it back: too few idle CPUs (vm/sched.c
 * looks at those) or too little free memory (here). Guest RAM is allocated whole when a VM is built, so a build that
 * fails with -ENOMEM while other VMs hold memory is no error: the VM goes back to the head of the queue and waits
 * until one of them is torn down, said once. Only when nothing else held memory during the attempt can it never fit:
 * then it is refused. `frees` counts the teardowns, of VMs that ran and of failed builds:
 *
 *   WAITING --take--> BUILDING --built--> RUNNING --ended--> DONE
 *      ^                 |  |  \
 *      |   -ENOMEM, other|  |   -ENOMEM, and a teardown came during the attempt: BUILDING again at once (RETRY)
 *      +---VMs hold some-+  +-- other error, or -ENOMEM with nothing else holding memory: DONE (refused)
 *
 * A waiting entry is taken again once `frees` moved past the value it saw. Whoever tears a VM down then looks at the
 * queue, so a waiting head is never forgotten: it waits only while another VM holds memory, and that VM's teardown
 * comes. A RETRY's own teardown is not counted, since it takes its memory straight back: two VMs that do not fit
 * together do not take turns failing against each other's half-built memory.
 */
enum vmq_state {
	VMQ_WAITING,  /* in the queue */
	VMQ_BUILDING, /* taken: its memory is being allocated and its kernel loaded */
	VMQ_RUNNING,
	VMQ_DONE, /* ended, or refused */
};

struct vmq_entry {
	u8 state;	  /* enum vmq_state */
	bool mem_wait;	  /* it waits for another VM's teardown (its last build ran out of memory) */
	bool said_wait;	  /* vmq_finish answered VMQ_WAIT for it: the next wait is VMQ_WAIT_AGAIN */
	u64 frees_seen;	  /* mem_wait: frees when it began to wait */
	u64 frees_at_try; /* BUILDING: frees when the attempt began */
};

struct vm_queue {
	struct vmq_entry *e;
	u32 n;
	u64 frees;	 /* teardowns so far, each of which gave memory back */
	u32 nr_holding;	 /* entries BUILDING or RUNNING: they hold memory */
	u32 nr_building; /* entries BUILDING: they may come back to the queue */
};

/* vmq_head's answers besides an index. */
#define VMQ_EMPTY   (-1) /* nothing waits and nothing may come back: the queue is done */
#define VMQ_NOT_NOW (-2) /* the head waits for memory, or nothing waits but a build under way may come back */

/* What a finished attempt or run comes to (vmq_finish). */
enum vmq_verdict {
	VMQ_ENDED,	/* the VM ran and ended, or its build failed for a reason other than memory: DONE */
	VMQ_RETRY,	/* -ENOMEM, but a teardown gave memory back during the attempt: build it again now */
	VMQ_WAIT,	/* -ENOMEM while other VMs hold memory: back in the queue until one is torn down; say so */
	VMQ_WAIT_AGAIN, /* the same, for an entry that was told to say so before */
	VMQ_NEVER_FITS, /* -ENOMEM with no other VM holding memory: it can never be built, and is DONE */
};

/* e[0..n) all WAITING. */
void vmq_init(struct vm_queue *q, struct vmq_entry *e, u32 n);
/* Leave entry i out before anything starts (refused at boot): DONE. */
void vmq_refuse(struct vm_queue *q, u32 i);
/* The entry to take now: the first WAITING one, unless it waits for memory; VMQ_NOT_NOW or VMQ_EMPTY. */
int vmq_head(const struct vm_queue *q);
/* Entry i (vmq_head's answer) is taken: BUILDING. */
void vmq_take(struct vm_queue *q, u32 i);
/* Entry i's build succeeded: RUNNING. */
void vmq_built(struct vm_queue *q, u32 i);
/* Entry i, BUILDING or RUNNING, was torn down after build error err (0 for a VM that was built and ran). */
enum vmq_verdict vmq_finish(struct vm_queue *q, u32 i, int err);

#endif
