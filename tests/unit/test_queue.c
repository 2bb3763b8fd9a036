/* Unit tests of the VM queue's bookkeeping (vm/queue.c): VMs start in order; one whose build ran out of memory while
 * other VMs held some waits at the head, says so once, and is taken again after the next teardown; one that runs out
 * with nothing else holding memory can never fit and is refused; a failure during which memory came back is retried
 * at once. vm/sched.c runs this under sched_lock with real builds; here the builds' outcomes are given. */
#include <string.h>

#include "hv/errno.h"
#include "test.h"
#include "vm/queue.h"

static struct vm_queue q;
static struct vmq_entry e[8];

TEST(queue_starts_in_order_and_empties)
{
	vmq_init(&q, e, 3);
	CHECK_EQ(vmq_head(&q), 0);
	vmq_take(&q, 0);
	CHECK_EQ(vmq_head(&q), 1);
	vmq_take(&q, 1);
	vmq_take(&q, 2);
	/* Nothing waits, but builds under way may come back: not empty yet. */
	CHECK_EQ(vmq_head(&q), VMQ_NOT_NOW);
	vmq_built(&q, 0);
	vmq_built(&q, 1);
	CHECK_EQ(vmq_finish(&q, 2, -ENOEXEC), VMQ_ENDED); /* a build error other than memory: refused, done */
	CHECK_EQ(vmq_head(&q), VMQ_EMPTY);		  /* running VMs never come back */
	CHECK_EQ(vmq_finish(&q, 0, 0), VMQ_ENDED);
	CHECK_EQ(vmq_finish(&q, 1, 0), VMQ_ENDED);
	CHECK_EQ(vmq_head(&q), VMQ_EMPTY);
	CHECK_EQ(q.nr_holding, 0);
	CHECK_EQ(q.frees, 3);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(e[i].state, VMQ_DONE);
}

TEST(queue_refused_at_boot_is_skipped)
{
	vmq_init(&q, e, 3);
	vmq_refuse(&q, 0);
	vmq_refuse(&q, 2);
	CHECK_EQ(vmq_head(&q), 1);
	vmq_take(&q, 1);
	vmq_built(&q, 1);
	CHECK_EQ(vmq_head(&q), VMQ_EMPTY);
	CHECK_EQ(q.frees, 0); /* a refusal at boot held no memory */
}

/* Two VMs that do not fit together: the second to be built waits for the first, says so once, and starts after the
 * first ends; a VM behind a waiting head waits too (VMs start in order). */
TEST(queue_waits_for_memory_another_vm_holds)
{
	vmq_init(&q, e, 3);
	vmq_take(&q, 0);
	vmq_take(&q, 1);
	vmq_built(&q, 0);
	CHECK_EQ(vmq_finish(&q, 1, -ENOMEM), VMQ_WAIT);
	CHECK_EQ(e[1].state, VMQ_WAITING);
	CHECK_EQ(vmq_head(&q), VMQ_NOT_NOW); /* entry 2 fits, but starts after entry 1 */
	CHECK_EQ(q.nr_holding, 1);
	CHECK_EQ(vmq_finish(&q, 0, 0), VMQ_ENDED); /* the teardown gives memory back */
	CHECK_EQ(vmq_head(&q), 1);
	vmq_take(&q, 1);
	CHECK(!e[1].mem_wait);
	vmq_built(&q, 1);
	CHECK_EQ(vmq_head(&q), 2);

	CHECK_EQ(vmq_finish(&q, 1, 0), VMQ_ENDED);

	/* Three built at once: the one that fails waits, fails again once the first ended (the third still holds
	 * memory), and says so only the first time. */
	vmq_init(&q, e, 3);
	vmq_take(&q, 0);
	vmq_take(&q, 1);
	vmq_take(&q, 2);
	vmq_built(&q, 0);
	vmq_built(&q, 2);
	CHECK_EQ(vmq_finish(&q, 1, -ENOMEM), VMQ_WAIT);
	CHECK_EQ(vmq_finish(&q, 0, 0), VMQ_ENDED);
	CHECK_EQ(vmq_head(&q), 1);
	vmq_take(&q, 1);
	CHECK_EQ(vmq_finish(&q, 1, -ENOMEM), VMQ_WAIT_AGAIN);
	CHECK_EQ(vmq_head(&q), VMQ_NOT_NOW);
	CHECK_EQ(vmq_finish(&q, 2, 0), VMQ_ENDED);
	CHECK_EQ(vmq_head(&q), 1);
}

/* Running out with nothing else holding memory and no teardown during the attempt: it can never fit. */
TEST(queue_never_fits_alone)
{
	vmq_init(&q, e, 2);
	vmq_take(&q, 0);
	CHECK_EQ(vmq_finish(&q, 0, -ENOMEM), VMQ_NEVER_FITS);
	CHECK_EQ(e[0].state, VMQ_DONE);
	CHECK_EQ(vmq_head(&q), 1); /* the next one goes ahead */

	/* A waiting VM whose holder ended, and which still fails alone, is refused then: it waits no more. */
	vmq_init(&q, e, 2);
	vmq_take(&q, 0);
	vmq_take(&q, 1);
	vmq_built(&q, 0);
	CHECK_EQ(vmq_finish(&q, 1, -ENOMEM), VMQ_WAIT);
	CHECK_EQ(vmq_finish(&q, 0, 0), VMQ_ENDED);
	CHECK_EQ(vmq_head(&q), 1);
	vmq_take(&q, 1);
	CHECK_EQ(vmq_finish(&q, 1, -ENOMEM), VMQ_NEVER_FITS);
	CHECK_EQ(vmq_head(&q), VMQ_EMPTY);
}

/* Two builds at once that both run out: the first to fail waits for the other, whose failure then saw a teardown
 * (the first's) during its attempt and is built again at once; that retry's own teardown frees nothing for the
 * waiter, which starts only once the retried VM ends. */
TEST(queue_concurrent_failures_retry_then_wait)
{
	vmq_init(&q, e, 2);
	vmq_take(&q, 0);
	vmq_take(&q, 1);
	CHECK_EQ(vmq_finish(&q, 0, -ENOMEM), VMQ_WAIT);
	CHECK_EQ(vmq_finish(&q, 1, -ENOMEM), VMQ_RETRY);
	CHECK_EQ(e[1].state, VMQ_BUILDING);
	CHECK_EQ(q.nr_holding, 1);
	CHECK_EQ(vmq_head(&q), VMQ_NOT_NOW);
	/* The retry fails again with no teardown during it and the waiter holding nothing: alone, it cannot fit. */
	CHECK_EQ(vmq_finish(&q, 1, -ENOMEM), VMQ_NEVER_FITS);
	CHECK_EQ(vmq_head(&q), 0); /* its teardown counts: the waiter is taken again */

	/* The same, with the retry succeeding. */
	vmq_init(&q, e, 2);
	vmq_take(&q, 0);
	vmq_take(&q, 1);
	CHECK_EQ(vmq_finish(&q, 1, -ENOMEM), VMQ_WAIT); /* the second fails first this time */
	CHECK_EQ(vmq_finish(&q, 0, -ENOMEM), VMQ_RETRY);
	vmq_built(&q, 0);
	CHECK_EQ(vmq_head(&q), VMQ_NOT_NOW);
	CHECK_EQ(vmq_finish(&q, 0, 0), VMQ_ENDED);
	CHECK_EQ(vmq_head(&q), 1);
}

/* A failed build for another reason is a teardown too: a VM waiting for memory is taken again after it. */
TEST(queue_failed_build_frees_memory_for_a_waiter)
{
	vmq_init(&q, e, 3);
	vmq_take(&q, 0);
	vmq_take(&q, 1);
	vmq_take(&q, 2);
	vmq_built(&q, 2);
	CHECK_EQ(vmq_finish(&q, 0, -ENOMEM), VMQ_WAIT);
	CHECK_EQ(vmq_head(&q), VMQ_NOT_NOW);
	CHECK_EQ(vmq_finish(&q, 1, -EINVAL), VMQ_ENDED);
	CHECK_EQ(vmq_head(&q), 0);
}

TEST(queue_misuse_is_a_bug)
{
	vmq_init(&q, e, 2);
	EXPECT_BUG(vmq_built(&q, 0));	  /* not taken */
	EXPECT_BUG(vmq_finish(&q, 0, 0)); /* not taken */
	vmq_take(&q, 0);
	EXPECT_BUG(vmq_take(&q, 0)); /* taken twice */
	vmq_built(&q, 0);
	EXPECT_BUG(vmq_finish(&q, 0, -ENOMEM)); /* a VM that ran has no build error */
	EXPECT_BUG(vmq_refuse(&q, 0));		/* refused once running */
}
