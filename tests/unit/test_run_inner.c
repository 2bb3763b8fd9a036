/* The run loop's inner part (vm/run_inner.h: vcpu_run_inner), driven by a scripted entry and dispatch: it enters
 * only with no request pending, with the mode and the entry count in run_state; it re-enters at once after an exit
 * while may_reenter_fast allows (a simple exit, nothing pending or changed, fast_until not reached) and counts each
 * such exit's cycles; it returns to the loop's full pass otherwise, with the last exit's TSC for the pass to count;
 * an entry failure and a handler failure leave as the loop expects. Also vcpu_stat: the exit counts derive from the
 * dispatch's per-reason counts. The guest runs (bench, every guest suite) show the loop end to end. */
#include <string.h>
#include "test.h"
#include "hv/errno.h"
#include "vm/run_inner.h"

const struct virt_ops *virt_ops;

/* The script: what each exit's handler leaves (exit_simple, and the flags it may set), its return value. */
#define MAX_EXITS 16
static struct {
	bool simple, changed, timer;
	int r;
	bool request; /* a request arrives while this exit is handled */
} script[MAX_EXITS];
static int entries, dispatches, rearms, failed_r, enter_r;

static int enter(struct vcpu *v)
{
	CHECK_EQ(v->run_state & VCPU_MODE_MASK, VCPU_IN_GUEST);
	CHECK(!v->requests);
	entries++;
	if (enter_r)
		return enter_r;
	v->exit.reason = EXIT_CPUID;
	return 0;
}

int exit_dispatch(struct vcpu *v)
{
	CHECK_EQ(v->run_state & VCPU_MODE_MASK, VCPU_OUTSIDE_GUEST);
	CHECK(dispatches < MAX_EXITS);
	v->exits_by_reason[v->exit.reason]++;
	v->exit_simple = script[dispatches].simple;
	v->irq_changed = script[dispatches].changed;
	v->timer_moved = script[dispatches].timer;
	if (script[dispatches].request)
		v->requests = 1;
	return script[dispatches++].r;
}

void vcpu_exit_failed(struct vcpu *v, int r)
{
	failed_r = r;
}

void vcpu_fast_rearm(struct vcpu *v)
{
	rearms++;
	v->timer_moved = false;
}

static struct vm vm;
static struct vcpu v;

static void setup(void)
{
	memset(&vm, 0, sizeof(vm));
	memset(&v, 0, sizeof(v));
	memset(script, 0, sizeof(script));
	entries = dispatches = rearms = failed_r = enter_r = 0;
	v.vm = &vm;
	v.irq_idle = true; /* the last full pass found nothing to deliver */
	v.fast_until = ~0ULL;
}

static u64 run(void)
{
	u64 at = 12345;
	int r = vcpu_run_inner(&v, &at, enter);

	CHECK_EQ(v.run_state & VCPU_MODE_MASK, VCPU_OUTSIDE_GUEST);
	CHECK_EQ(v.run_state / VCPU_ENTRY_ONE, (u64)entries + (r == 1)); /* every entry counted, a refused one too */
	CHECK_EQ(r, 0);
	return at;
}

TEST(run_inner_request_pending_does_not_enter)
{
	setup();
	v.requests = 1;
	u64 at = 12345;
	CHECK_EQ(vcpu_run_inner(&v, &at, enter), 1);
	CHECK_EQ(entries, 0);
	CHECK_EQ(at, 0); /* nothing left for the pass to count */
	CHECK_EQ(v.run_state & VCPU_MODE_MASK, VCPU_OUTSIDE_GUEST);
}

TEST(run_inner_reenters_after_simple_exits_only)
{
	setup();
	script[0].simple = script[1].simple = script[2].simple = true; /* the fourth is not */
	u64 before = rdtsc();
	u64 at = run();
	CHECK_EQ(entries, 4);
	CHECK_EQ(dispatches, 4);
	CHECK(at >= before && at <= rdtsc()); /* the last exit's TSC, for the pass */
	CHECK(v.exit_cycles[EXIT_CPUID] > 0); /* the three fast ones counted here */
	CHECK_EQ(v.exits_by_reason[EXIT_CPUID], 4);
}

TEST(run_inner_stops_on_deadline_change_or_request)
{
	setup();
	script[0].simple = true;
	v.fast_until = 0; /* a deadline the pass serves has come */
	run();
	CHECK_EQ(entries, 1);
	CHECK_EQ(v.exit_cycles[EXIT_CPUID], 0); /* left to the pass */

	setup();
	script[0].simple = script[1].simple = script[2].simple = true;
	script[1].changed = true; /* a new IRR bit on this CPU */
	run();
	CHECK_EQ(entries, 2);

	setup();
	script[0].simple = script[1].simple = true;
	v.irq_idle = false; /* something was pending at the last pass */
	run();
	CHECK_EQ(entries, 1);

	setup();
	script[0].simple = script[1].simple = true;
	script[0].request = true; /* another CPU's request: seen after the mode store, no entry */
	u64 at = 12345;
	CHECK_EQ(vcpu_run_inner(&v, &at, enter), 1);
	CHECK_EQ(entries, 1);
	CHECK_EQ(at, 0);
}

TEST(run_inner_timer_moved_rearms_and_reenters)
{
	setup();
	script[0].simple = script[0].timer = true; /* WRMSR TSC_DEADLINE */
	run();
	CHECK_EQ(rearms, 1);
	CHECK_EQ(entries, 2);
}

TEST(run_inner_failures)
{
	setup();
	enter_r = -EIO; /* the backend could not enter */
	u64 at = 12345;
	CHECK_EQ(vcpu_run_inner(&v, &at, enter), -EIO);
	CHECK_EQ(dispatches, 0);
	CHECK_EQ(at, 0);
	CHECK_EQ(v.run_state & VCPU_MODE_MASK, VCPU_OUTSIDE_GUEST);

	setup();
	script[0].simple = true;
	script[0].r = -EINVAL; /* the handler failed: the VM ends, the pass sees it */
	run();
	CHECK_EQ(failed_r, -EINVAL);
	CHECK_EQ(entries, 1);
}

TEST(vcpu_stat_derives_exit_counts)
{
	setup();
	v.exits_by_reason[EXIT_IO] = 7;
	v.exits_by_reason[EXIT_CPUID] = 5;
	v.exits_by_reason[EXIT_MSR_READ] = 2;
	v.exits_by_reason[EXIT_MSR_WRITE] = 3;
	v.exits_by_reason[EXIT_HYPERCALL] = 11;
	v.exits_by_reason[EXIT_HLT] = 1;
	v.stats[VM_STAT_HLT_EXITS] = 1;
	CHECK_EQ(vcpu_stat(&v, VM_STAT_EXITS), 29);
	CHECK_EQ(vcpu_stat(&v, VM_STAT_IO_EXITS), 7);
	CHECK_EQ(vcpu_stat(&v, VM_STAT_CPUID_EXITS), 5);
	CHECK_EQ(vcpu_stat(&v, VM_STAT_MSR_EXITS), 5);
	CHECK_EQ(vcpu_stat(&v, VM_STAT_HYPERCALLS), 11);
	CHECK_EQ(vcpu_stat(&v, VM_STAT_HLT_EXITS), 1); /* the others are kept as counted */
}
