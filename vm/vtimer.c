/* Device timers kept as a short list sorted by deadline: a VM has a handful (PIT, RTC, ACPI PM), so a list beats any
 * cleverer structure. */
#include "vm/vm.h"
#include "vm/vtimer.h"

void vtimer_init(struct vtimer *t, void (*fire)(struct vtimer *t, u64 now))
{
	t->fire = fire;
	t->armed = false;
	t->next = NULL;
}

static void unlink(struct vm *vm, struct vtimer *t)
{
	for (struct vtimer **p = &vm->timers; *p; p = &(*p)->next) {
		if (*p == t) {
			*p = t->next;
			break;
		}
	}
	t->next = NULL;
	t->armed = false;
}

void vtimer_arm(struct vm *vm, struct vtimer *t, u64 deadline)
{
	struct vtimer **p;

	if (t->armed)
		unlink(vm, t);
	t->deadline = deadline;
	for (p = &vm->timers; *p && (*p)->deadline <= deadline; p = &(*p)->next)
		;
	t->next = *p;
	*p = t;
	t->armed = true;
}

void vtimer_disarm(struct vm *vm, struct vtimer *t)
{
	if (t->armed)
		unlink(vm, t);
}

u64 vm_timers_run(struct vm *vm, u64 now)
{
	/* Bounded: a timer that re-arms itself in the past fires once per call, never in a loop here. */
	for (int budget = 64; budget && vm->timers && vm->timers->deadline <= now; budget--) {
		struct vtimer *t = vm->timers;
		vm->timers = t->next;
		t->next = NULL;
		t->armed = false;
		t->fire(t, now);
	}
	return vm_timers_next(vm);
}

u64 vm_timers_next(const struct vm *vm)
{
	return vm->timers ? vm->timers->deadline : ~0ULL;
}
