/* The VM queue's bookkeeping (vm/queue.h): the order VMs start in, and the wait for memory another VM holds. */
#include "vm/queue.h"
#include "hv/bug.h"
#include "hv/errno.h"
#include "hv/string.h"

void vmq_init(struct vm_queue *q, struct vmq_entry *e, u32 n)
{
	memset(q, 0, sizeof(*q));
	memset(e, 0, sizeof(*e) * n);
	q->e = e;
	q->n = n;
	for (u32 i = 0; i < n; i++)
		e[i].state = VMQ_WAITING;
}

void vmq_refuse(struct vm_queue *q, u32 i)
{
	BUG_ON(i >= q->n || q->e[i].state != VMQ_WAITING);
	q->e[i].state = VMQ_DONE;
}

int vmq_head(const struct vm_queue *q)
{
	for (u32 i = 0; i < q->n; i++) {
		const struct vmq_entry *e = &q->e[i];

		if (e->state != VMQ_WAITING)
			continue;
		/* In order: a head that waits for memory holds back those behind it, as one that waits for CPUs does.
		 */
		return e->mem_wait && e->frees_seen == q->frees ? VMQ_NOT_NOW : (int)i;
	}
	return q->nr_building ? VMQ_NOT_NOW : VMQ_EMPTY;
}

void vmq_take(struct vm_queue *q, u32 i)
{
	struct vmq_entry *e = &q->e[i];

	BUG_ON(i >= q->n || e->state != VMQ_WAITING);
	e->state = VMQ_BUILDING;
	e->mem_wait = false;
	e->frees_at_try = q->frees;
	q->nr_holding++;
	q->nr_building++;
}

void vmq_built(struct vm_queue *q, u32 i)
{
	BUG_ON(i >= q->n || q->e[i].state != VMQ_BUILDING);
	q->e[i].state = VMQ_RUNNING;
	q->nr_building--;
}

enum vmq_verdict vmq_finish(struct vm_queue *q, u32 i, int err)
{
	struct vmq_entry *e = &q->e[i];

	BUG_ON(i >= q->n || (e->state != VMQ_BUILDING && e->state != VMQ_RUNNING));
	BUG_ON(e->state == VMQ_RUNNING && err);
	if (e->state == VMQ_BUILDING && err == -ENOMEM && q->frees != e->frees_at_try) {
		/* A teardown during the attempt: it may have failed only for what that VM held then, so it is built
		 * again before anything is judged. Its own teardown is not counted: it takes the memory back at once,
		 * which frees nothing for a waiting VM. */
		e->frees_at_try = q->frees;
		return VMQ_RETRY;
	}
	q->frees++;
	q->nr_holding--;
	if (e->state == VMQ_BUILDING)
		q->nr_building--;
	if (e->state == VMQ_RUNNING || err != -ENOMEM) {
		e->state = VMQ_DONE;
		return VMQ_ENDED;
	}
	if (!q->nr_holding) {
		/* Nothing else held memory during the whole attempt, and no teardown happened: it cannot fit. */
		e->state = VMQ_DONE;
		return VMQ_NEVER_FITS;
	}
	e->state = VMQ_WAITING;
	e->mem_wait = true;
	e->frees_seen = q->frees;
	if (e->said_wait)
		return VMQ_WAIT_AGAIN;
	e->said_wait = true;
	return VMQ_WAIT;
}
