/* The local APIC timer: one-shot, periodic and TSC-deadline modes with the divide configuration, kept as a TSC
 * deadline. The timer counts bus cycles of timer_hz (1 GHz unless the owner chose otherwise), so one count lasts
 * divide / timer_hz seconds; every conversion to TSC ticks is 128-bit and saturates instead of wrapping. */
#include "vm/dev/vlapic.h"

#include "hv/compiler.h"
#include "hv/muldiv.h"

#define NSEC_PER_SEC 1000000000ULL

enum timer_mode { TIMER_ONESHOT, TIMER_PERIODIC, TIMER_DEADLINE };

static inline u64 mul_div(u64 a, u64 b, u64 c, bool round_up)
{
	return mul_div_u64(a, b, c, round_up);
}

static u64 sat_add(u64 a, u64 b)
{
	u64 r;

	return __builtin_add_overflow(a, b, &r) ? ~0ULL : r;
}

static u32 reg(const struct vlapic *l, u32 off)
{
	return l->regs[off / 4];
}

static void reg_set(struct vlapic *l, u32 off, u32 val)
{
	l->regs[off / 4] = val;
}

/* Mode 3 is reserved, and mode 2 cannot be written without TSC-deadline (vlapic.c masks bit 18): both act as
 * one-shot, as they do in KVM. */
static enum timer_mode mode_of(const struct vlapic *l, u32 lvt)
{
	switch (lvt & VLAPIC_LVT_TIMER_MODE) {
	case VLAPIC_LVT_TIMER_PERIODIC:
		return TIMER_PERIODIC;
	case VLAPIC_LVT_TIMER_TSC_DEADLINE:
		return (l->features & VLAPIC_F_TSC_DEADLINE) ? TIMER_DEADLINE : TIMER_ONESHOT;
	default:
		return TIMER_ONESHOT;
	}
}

static enum timer_mode mode(const struct vlapic *l)
{
	return mode_of(l, reg(l, VLAPIC_REG_LVT_TIMER));
}

/* TDCR bits 3,1,0 (SDM Figure 11-10): 000 -> 2, 001 -> 4, ..., 110 -> 128, 111 -> 1. */
static u32 divide(const struct vlapic *l)
{
	u32 v = reg(l, VLAPIC_REG_TDCR);
	u32 e = (v & 3) | ((v & 8) >> 1);

	return e == 7 ? 1 : 2u << e;
}

/* TSC ticks for the whole initial count, rounded up so the interrupt is never early; at least 1 for a non-zero
 * count, so no expiry loop can spin. TMICT * divide < 2^39 always fits. */
static u64 full_period(const struct vlapic *l)
{
	return mul_div((u64)reg(l, VLAPIC_REG_TMICT) * divide(l), l->tsc_hz, l->timer_hz, true);
}

static u64 periodic_period(const struct vlapic *l)
{
	return MAX(l->timer.period, l->timer.min_period);
}

void vlapic_timer_init(struct vlapic *l)
{
	l->timer.min_period = MAX(mul_div(VLAPIC_MIN_PERIOD_NS, l->tsc_hz, NSEC_PER_SEC, true), 1);
	vlapic_timer_reset(l);
}

void vlapic_timer_reset(struct vlapic *l)
{
	l->timer.armed = false;
	l->timer.deadline = 0;
	l->timer.period = 0;
	vlapic_timer_commit(l);
}

void vlapic_timer_commit(struct vlapic *l)
{
	l->timer.lvt = reg(l, VLAPIC_REG_LVT_TIMER);
	l->timer.tdcr = reg(l, VLAPIC_REG_TDCR);
	l->timer.tmict = reg(l, VLAPIC_REG_TMICT);
}

void vlapic_timer_restore(struct vlapic *l, u32 off)
{
	if (off == VLAPIC_REG_LVT_TIMER)
		reg_set(l, off, l->timer.lvt);
	else if (off == VLAPIC_REG_TDCR)
		reg_set(l, off, l->timer.tdcr);
	else if (off == VLAPIC_REG_TMICT)
		reg_set(l, off, l->timer.tmict);
}

void vlapic_tick(struct vlapic *l, u64 now)
{
	struct vlapic_timer *t = &l->timer;
	u32 lvt = reg(l, VLAPIC_REG_LVT_TIMER);

	if (!t->armed || now < t->deadline)
		return;
	if (mode_of(l, lvt) == TIMER_PERIODIC) {
		/* Re-arm from the previous deadline, not from now, so periods do not drift; expiries the owner was
		 * late for coalesce into the one IRR bit they would have set anyway. O(1) however late it is. */
		u64 p = periodic_period(l);
		u64 n = (now - t->deadline) / p, adv;

		if (__builtin_add_overflow(n, 1, &n) || __builtin_mul_overflow(n, p, &adv))
			t->deadline = ~0ULL;
		else
			t->deadline = sat_add(t->deadline, adv);
	} else {
		/* One-shot: the count stays 0. TSC-deadline: the MSR reads 0 again (SDM 11.5.4.1). */
		t->armed = false;
		if (mode_of(l, lvt) == TIMER_DEADLINE)
			t->deadline = 0;
	}
	if (!(lvt & VLAPIC_LVT_MASKED))
		vlapic_set_irq(l, lvt & VLAPIC_LVT_VECTOR, false);
}

u64 vlapic_next_deadline(struct vlapic *l)
{
	/* A masked timer raises nothing, and every entry point catches the timer up before it looks at it, so
	 * there is nothing to wake up for. */
	if (!l->timer.armed || (reg(l, VLAPIC_REG_LVT_TIMER) & VLAPIC_LVT_MASKED))
		return ~0ULL;
	return l->timer.deadline;
}

/* Current count from the time left: the count drops by one every `divide` bus cycles, so it is the remaining bus
 * cycles divided by the divider, rounded up (it reads the initial count until a full count has elapsed). The
 * caller has caught the timer up to now, so an armed timer's deadline is in the future. */
u32 vlapic_timer_read_tmcct(struct vlapic *l, u64 now)
{
	struct vlapic_timer *t = &l->timer;
	u64 bus, count, div = divide(l);

	if (!t->armed || mode(l) == TIMER_DEADLINE || now >= t->deadline)
		return 0;
	bus = mul_div(t->deadline - now, l->timer_hz, l->tsc_hz, true);
	count = bus / div + (bus % div != 0);
	return (u32)MIN(count, (u64)reg(l, VLAPIC_REG_TMICT));
}

static void start(struct vlapic *l, u64 now)
{
	struct vlapic_timer *t = &l->timer;

	t->period = full_period(l);
	t->armed = reg(l, VLAPIC_REG_TMICT) != 0;
	if (t->armed)
		t->deadline = sat_add(now, mode(l) == TIMER_PERIODIC ? periodic_period(l) : t->period);
}

void vlapic_timer_write_tmict(struct vlapic *l, u32 val, u64 now)
{
	/* SDM 11.5.4.1: in TSC-deadline mode writes to the initial count are ignored. A write of 0 stops the timer. */
	if (mode(l) == TIMER_DEADLINE)
		return;
	reg_set(l, VLAPIC_REG_TMICT, val);
	l->timer.tmict = val;
	start(l, now);
}

/* KVM's approach (update_target_expiration): a divide change while the timer runs keeps the counts already
 * elapsed and runs the remaining counts at the new rate; later periods use the new divider. Hardware behaviour here
 * is not architected. */
void vlapic_timer_write_tdcr(struct vlapic *l, u32 val, u64 now)
{
	struct vlapic_timer *t = &l->timer;
	u32 old = divide(l), new;

	reg_set(l, VLAPIC_REG_TDCR, val);
	l->timer.tdcr = val;
	new = divide(l);
	if (old == new || mode(l) == TIMER_DEADLINE)
		return;
	t->period = full_period(l);
	if (t->armed && t->deadline > now)
		t->deadline = sat_add(now, mul_div(t->deadline - now, new, old, true));
}

/* Entering or leaving TSC-deadline mode stops the timer and clears the initial count and IA32_TSC_DEADLINE (as
 * KVM's apic_update_lvtt does); one-shot <-> periodic keeps a running countdown, and its end decides. */
void vlapic_timer_write_lvt(struct vlapic *l, u32 val)
{
	bool was_deadline = mode(l) == TIMER_DEADLINE;

	reg_set(l, VLAPIC_REG_LVT_TIMER, val);
	if (was_deadline != (mode(l) == TIMER_DEADLINE)) {
		reg_set(l, VLAPIC_REG_TMICT, 0);
		vlapic_timer_reset(l);
	}
	vlapic_timer_commit(l);
}

u64 vlapic_timer_read_deadline_msr(struct vlapic *l, u64 now)
{
	vlapic_tick(l, now);
	/* Outside TSC-deadline mode (also while globally disabled: the LVT is then reset) the MSR reads 0. */
	if (mode(l) != TIMER_DEADLINE || !l->timer.armed)
		return 0;
	return l->timer.deadline;
}

void vlapic_timer_write_deadline_msr(struct vlapic *l, u64 val, u64 now)
{
	vlapic_tick(l, now);
	/* Ignored outside TSC-deadline mode (KVM); 0 disarms; a deadline already passed fires at once. */
	if (mode(l) != TIMER_DEADLINE)
		return;
	l->timer.armed = val != 0;
	l->timer.deadline = val;
	vlapic_tick(l, now);
}
