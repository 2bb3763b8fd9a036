/* Device timers kept as a short list sorted by deadline: a VM has a handful (PIT, RTC, ACPI PM), so a list beats any
 * cleverer structure. Any vCPU arms and disarms (from a device's register write, its own lock held); vCPU 0 fires
 * them and sleeps until the earliest, so a new earliest deadline armed elsewhere must wake it. */
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
	assert_spin_held(&vm->timers_lock);
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

	spin_lock(&vm->timers_lock);
	if (t->armed)
		unlink(vm, t);
	t->deadline = deadline;
	for (p = &vm->timers; *p && (*p)->deadline <= deadline; p = &(*p)->next)
		;
	t->next = *p;
	*p = t;
	t->armed = true;
	bool earliest = vm->timers == t;
	spin_unlock(&vm->timers_lock);
	/* vCPU 0 may be asleep, or in the guest, with its host timer set for a later deadline. */
	if (earliest && vm->nr_vcpus && vm->vcpus[0])
		vcpu_kick(vm->vcpus[0]);
}

void vtimer_disarm(struct vm *vm, struct vtimer *t)
{
	/* A disarm only makes vCPU 0 wake early and find nothing due: no kick needed. */
	spin_lock(&vm->timers_lock);
	if (t->armed)
		unlink(vm, t);
	spin_unlock(&vm->timers_lock);
}

u64 vm_timers_run(struct vm *vm, u64 now)
{
	/* Bounded: a timer that re-arms itself in the past fires once per call, never in a loop here. The callback runs
	 * without timers_lock: it takes its device's lock, which nests outside timers_lock, and may re-arm. A timer
	 * disarmed by another vCPU after being taken off the list still fires once: every callback re-checks its
	 * device's state under the device lock, as a real device's comparator would race a register write. */
	for (int budget = 64; budget; budget--) {
		spin_lock(&vm->timers_lock);
		struct vtimer *t = vm->timers;
		if (!t || t->deadline > now) {
			spin_unlock(&vm->timers_lock);
			break;
		}
		vm->timers = t->next;
		t->next = NULL;
		t->armed = false;
		spin_unlock(&vm->timers_lock);
		t->fire(t, now);
	}
	return vm_timers_next(vm);
}

u64 vm_timers_next(struct vm *vm)
{
	/* A racy peek is enough: whoever makes an earlier deadline the head kicks vCPU 0, which then looks again. */
	struct vtimer *t = __atomic_load_n(&vm->timers, __ATOMIC_ACQUIRE);
	return t ? __atomic_load_n(&t->deadline, __ATOMIC_RELAXED) : ~0ULL;
}
