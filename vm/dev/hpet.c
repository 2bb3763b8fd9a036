/* The HPET (vm/dev/hpet.h): nothing ticks. The main counter is a function of the host TSC since it was last enabled
 * or written, at HPET_HZ; each comparator keeps the counter value of its next match and arms a vtimer for the TSC at
 * which the counter gets there. Register semantics follow the IA-PC HPET specification 1.0a, and QEMU's hpet.c where
 * the specification leaves room (the comparator and period writes of a periodic timer, one interrupt for a run of
 * missed periods). */
#include "vm/dev/hpet.h"
#include "hv/errno.h"
#include "hv/platform.h"
#include "hv/spinlock.h"
#include "vm/dev/dev.h"
#include "vm/dev/ioapic.h"
#include "vm/irq.h"
#include "vm/vtimer.h"

/* A match further ahead than this many counter ticks (about 3 hours) arms the vtimer only that far, and the timer
 * looks again then: a 64-bit comparator can be centuries away, which no TSC deadline should be. */
#define HPET_MAX_ARM_TICKS (1ULL << 40)

struct hpet;

struct hpet_timer {
	struct hpet *h;	  /* constant */
	unsigned int n;	  /* constant: the timer's number */
	struct vtimer vt; /* armed while a match is ahead and its interrupt enabled; vm->timers_lock's */
	/* The rest under h->lock. */
	u64 conf;     /* the writable bits of Tn_CONF_CAP (HPET_TN_WRITABLE) */
	u64 cmp;      /* the comparator (a periodic timer's accumulator) */
	u64 period;   /* a periodic timer's increment */
	u64 fsb;      /* Tn_FSB_INT_ROUTE: the FSB message's address (high half) and data (low half) */
	bool val_set; /* Tn_VAL_SET_CNF was written: the next comparator write sets cmp of a periodic timer */
	bool pending; /* a match is ahead at `target` */
	u64 target;   /* the main counter value of that match (64 bits, never wrapped) */
};

struct hpet {
	struct vm *vm; /* constant */
	u64 tsc_hz;    /* constant */
	/*
	 * Everything below. Any vCPU reads and writes the registers; vCPU 0 runs the comparator timers. Taken before
	 * the interrupt controllers' locks (lines are driven with it held) and before vm->timers_lock. The __ functions
	 * assert it.
	 */
	spinlock_t lock;
	u64 conf;	  /* GEN_CONF: ENABLE_CNF, LEG_RT_CNF */
	u64 isr;	  /* GINTR_STA: level-triggered interrupts active */
	u64 counter_base; /* the main counter at start_tsc while enabled; its frozen value while halted */
	u64 start_tsc;
	u32 lines_high; /* the lines this HPET holds high (level interrupts), by line number */
	struct hpet_timer t[HPET_NR_TIMERS];
};

static u64 width_mask(const struct hpet_timer *t)
{
	return (t->conf & HPET_TN_32BIT) ? 0xffffffffULL : ~0ULL;
}

static u64 __hpet_counter(const struct hpet *h, u64 now)
{
	assert_spin_held(&h->lock);
	if (!(h->conf & HPET_CONF_ENABLE) || now <= h->start_tsc)
		return h->counter_base;
	return h->counter_base + dev_mul_div(now - h->start_tsc, HPET_HZ, h->tsc_hz, false);
}

/* The line a timer's interrupt goes to, or -1 (a route the capability does not allow). */
static int timer_line(const struct hpet *h, const struct hpet_timer *t)
{
	unsigned int route = (unsigned int)((t->conf & HPET_TN_ROUTE) >> HPET_TN_ROUTE_SHIFT);

	if ((h->conf & HPET_CONF_LEG_RT) && t->n < 2)
		return t->n == 0 ? 0 : 8;
	return (HPET_ROUTE_CAP & BIT(route)) ? (int)route : -1;
}

/* Level interrupts: a line is high while any timer routed to it has its GINTR_STA bit set with its interrupt enabled
 * in level mode and the HPET enabled (a wired OR of the timers sharing it). Drive only the lines that change. */
static void __hpet_update_lines(struct hpet *h)
{
	u32 want = 0, change;

	assert_spin_held(&h->lock);
	for (unsigned int n = 0; n < HPET_NR_TIMERS; n++) {
		const struct hpet_timer *t = &h->t[n];
		int line = timer_line(h, t);

		if (line >= 0 && (h->isr & BIT(n)) && (t->conf & HPET_TN_LEVEL) && (t->conf & HPET_TN_INT_ENB) &&
		    !(t->conf & HPET_TN_FSB_EN) && (h->conf & HPET_CONF_ENABLE))
			want |= BIT(line);
	}
	change = want ^ h->lines_high;
	for (unsigned int line = 0; change; line++, change >>= 1)
		if (change & 1)
			vm_drive_irq(h->vm, line, (want >> line) & 1);
	h->lines_high = want;
}

/* A comparator matched with its interrupt enabled: a level interrupt sets GINTR_STA and holds the line, an edge one
 * pulses it (and leaves GINTR_STA alone: the specification says to ignore it in edge mode, QEMU clears it). */
static void __hpet_raise(struct hpet *h, struct hpet_timer *t)
{
	int line = timer_line(h, t);

	/* FSB delivery: the HPET writes Tn_FSB_INT_VAL to Tn_FSB_INT_ADDR itself (the specification's Tn_FSB_EN_CNF:
	 * "directly as an FSB message, rather than using the I/O APIC"), so Tn_INT_ROUTE_CNF and the trigger type
	 * play no part and no GINTR_STA bit is set, as in QEMU. Legacy replacement still takes timers 0 and 1. */
	if ((t->conf & HPET_TN_FSB_EN) && !((h->conf & HPET_CONF_LEG_RT) && t->n < 2)) {
		ioapic_send_msi(h->vm, (u32)(t->fsb >> 32), (u32)t->fsb);
		return;
	}
	if (t->conf & HPET_TN_LEVEL) {
		h->isr |= BIT(t->n);
		__hpet_update_lines(h);
	} else if (line >= 0) {
		vm_drive_irq(h->vm, (unsigned int)line, 1);
		vm_drive_irq(h->vm, (unsigned int)line, 0);
	}
}

/* Arm for the TSC at which the counter reaches the timer's target, or HPET_MAX_ARM_TICKS past cnt (the counter now)
 * if that is sooner. */
static void __hpet_schedule(struct hpet *h, struct hpet_timer *t, u64 cnt)
{
	u64 tick = t->target - cnt > HPET_MAX_ARM_TICKS ? cnt + HPET_MAX_ARM_TICKS : t->target;
	u64 tsc = dev_mul_div(tick - h->counter_base, h->tsc_hz, HPET_HZ, true); /* cnt >= counter_base */

	assert_spin_held(&h->lock);
	vtimer_arm(h->vm, &t->vt, tsc > ~0ULL - h->start_tsc ? ~0ULL : h->start_tsc + tsc);
}

/* Recompute a timer's next match from its comparator and the counter now, and arm for it. A comparator equal to the
 * counter matches now. Nothing is armed while the HPET is halted or the timer's interrupt is disabled (as QEMU: a
 * disabled periodic timer's accumulator does not advance). */
static void __hpet_arm(struct hpet *h, struct hpet_timer *t, u64 now)
{
	u64 cnt = __hpet_counter(h, now);

	t->pending = false;
	vtimer_disarm(h->vm, &t->vt);
	if (!(h->conf & HPET_CONF_ENABLE) || !(t->conf & HPET_TN_INT_ENB))
		return;
	t->target = cnt + ((t->cmp - cnt) & width_mask(t));
	if (t->target < cnt)
		return; /* a 64-bit comparator behind the counter: its match is after the wrap, 5,800 years away */
	t->pending = true;
	__hpet_schedule(h, t, cnt);
}

static void __hpet_arm_all(struct hpet *h, u64 now)
{
	for (unsigned int n = 0; n < HPET_NR_TIMERS; n++)
		__hpet_arm(h, &h->t[n], now);
}

static void hpet_timer_fire(struct vtimer *vt, u64 now)
{
	struct hpet_timer *t = container_of(vt, struct hpet_timer, vt);
	struct hpet *h = t->h;
	u64 mask = width_mask(t), cnt;

	spin_lock(&h->lock);
	now = MAX(now, dev_tsc_now());
	/* A register write may have changed everything since this timer was taken off the list. */
	if (!t->pending || !(h->conf & HPET_CONF_ENABLE) || !(t->conf & HPET_TN_INT_ENB))
		goto out;
	cnt = __hpet_counter(h, now);
	if (cnt < t->target) { /* armed short of a far match, or re-armed by a write: not yet */
		__hpet_schedule(h, t, cnt);
		goto out;
	}
	__hpet_raise(h, t);
	if ((t->conf & HPET_TN_PERIODIC) && (t->period & mask)) {
		/* The accumulator moves on by the period; periods the host missed give no interrupts of their own, nor
		 * do those inside the HPET_MIN_PERIOD_TICKS floor. */
		u64 period = t->period & mask, k = (cnt - t->target) / period + 1;
		u64 k_min = (HPET_MIN_PERIOD_TICKS + period - 1) / period;

		k = MAX(k, k_min);
		t->target += k * period;
		t->cmp = (t->cmp + k * period) & mask;
	} else if (mask != ~0ULL) {
		t->target += mask + 1; /* a one-shot 32-bit comparator matches again when the counter wraps to it */
	} else {
		t->pending = false; /* 2^64 ticks away */
		goto out;
	}
	__hpet_schedule(h, t, cnt);
out:
	spin_unlock(&h->lock);
}

static u64 __hpet_reg_read(struct hpet *h, u64 reg, u64 now)
{
	switch (reg) {
	case HPET_GCAP_ID:
		return HPET_GCAP_ID_VALUE;
	case HPET_GEN_CONF:
		return h->conf;
	case HPET_GINTR_STA:
		return h->isr;
	case HPET_MAIN_COUNTER:
		return __hpet_counter(h, now);
	}
	if (reg >= HPET_TN_CONF(0) && reg < HPET_TN_CONF(HPET_NR_TIMERS)) {
		const struct hpet_timer *t = &h->t[(reg - HPET_TN_CONF(0)) / 0x20];

		switch ((reg - HPET_TN_CONF(0)) % 0x20) {
		case 0:
			return t->conf | HPET_TN_PER_CAP | HPET_TN_SIZE_CAP | HPET_TN_FSB_CAP |
			       HPET_ROUTE_CAP << HPET_TN_ROUTE_CAP_SHIFT;
		case 8:
			return t->cmp & width_mask(t);
		case 0x10:
			return t->fsb;
		}
	}
	return 0; /* reserved registers */
}

/* A write of the bits in mask (whole bytes) of one 64-bit register. */
static void __hpet_reg_write(struct hpet *h, u64 reg, u64 bits, u64 mask, u64 now)
{
	bits &= mask;
	if (reg == HPET_GEN_CONF) {
		u64 old = h->conf, conf = ((old & ~mask) | bits) & (HPET_CONF_ENABLE | HPET_CONF_LEG_RT);

		if ((old ^ conf) & HPET_CONF_ENABLE) {
			h->counter_base =
			    __hpet_counter(h, now); /* halting freezes it; enabling starts it from there */
			h->start_tsc = now;
		}
		if ((old ^ conf) & HPET_CONF_LEG_RT) {
			/* The PIT and RTC lose (or get back) IRQ0 and IRQ8; a line either left high would hide the next
			 * edge, so both start low, as QEMU lowers them. */
			if (conf & HPET_CONF_LEG_RT)
				__atomic_fetch_or(&h->vm->irq_cut, BIT(0) | BIT(8), __ATOMIC_SEQ_CST);
			vm_drive_irq(h->vm, 0, 0);
			vm_drive_irq(h->vm, 8, 0);
			h->lines_high &= ~(u32)(BIT(0) | BIT(8));
			if (!(conf & HPET_CONF_LEG_RT))
				__atomic_fetch_and(&h->vm->irq_cut, ~(u32)(BIT(0) | BIT(8)), __ATOMIC_SEQ_CST);
		}
		h->conf = conf;
		__hpet_arm_all(h, now);
		__hpet_update_lines(h);
	} else if (reg == HPET_GINTR_STA) {
		h->isr &= ~(bits & (BIT(HPET_NR_TIMERS) - 1)); /* write 1 to clear */
		__hpet_update_lines(h);
	} else if (reg == HPET_MAIN_COUNTER) {
		/* The specification wants the counter halted for this; a running one is simply restarted from the
		 * value written. */
		h->counter_base = (__hpet_counter(h, now) & ~mask) | bits;
		h->start_tsc = now;
		__hpet_arm_all(h, now);
	} else if (reg >= HPET_TN_CONF(0) && reg < HPET_TN_CONF(HPET_NR_TIMERS)) {
		struct hpet_timer *t = &h->t[(reg - HPET_TN_CONF(0)) / 0x20];

		switch ((reg - HPET_TN_CONF(0)) % 0x20) {
		case 0:
			if (bits & HPET_TN_VAL_SET)
				t->val_set = true;
			t->conf = ((t->conf & ~mask) | bits) & HPET_TN_WRITABLE;
			if (t->conf & HPET_TN_32BIT) { /* a 32-bit timer keeps the low halves */
				t->cmp &= 0xffffffffULL;
				t->period &= 0xffffffffULL;
			}
			break;
		case 8:
			if (t->conf & HPET_TN_32BIT) { /* the upper half is not there */
				mask &= 0xffffffffULL;
				bits &= 0xffffffffULL;
			}
			/* A periodic timer's write sets the period, and the accumulator too when VAL_SET asked for it
			 * (QEMU sets both, as Linux's periodic set-up expects); the flag lasts one write. */
			if (!(t->conf & HPET_TN_PERIODIC) || t->val_set)
				t->cmp = (t->cmp & ~mask) | bits;
			if (t->conf & HPET_TN_PERIODIC)
				t->period = (t->period & ~mask) | bits;
			t->val_set = false;
			break;
		case 0x10:
			t->fsb = (t->fsb & ~mask) | bits;
			return;
		default:
			return; /* reserved */
		}
		__hpet_arm(h, t, now);
		__hpet_update_lines(h);
	}
}

/* Accesses of any size at any offset, split at the 64-bit registers they cover. Bytes past the registers read as
 * all ones and drop writes, as the bus's unclaimed bytes do. */
static int hpet_mmio_read(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 *val)
{
	struct hpet *h = dev;
	u64 off = addr - HPET_BASE, out = 0;

	spin_lock(&h->lock);
	u64 now = dev_tsc_now();
	for (unsigned int i = 0; i < size;) {
		u64 o = off + i;
		unsigned int sh = (unsigned int)(o & 7), n = MIN(size - i, 8 - sh);
		u64 r = o < HPET_SIZE ? __hpet_reg_read(h, o & ~7ULL, now) : ~0ULL;
		u64 bytes = n == 8 ? ~0ULL : (1ULL << (8 * n)) - 1;

		out |= ((r >> (8 * sh)) & bytes) << (8 * i);
		i += n;
	}
	spin_unlock(&h->lock);
	*val = out;
	return 0;
}

static int hpet_mmio_write(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 val)
{
	struct hpet *h = dev;
	u64 off = addr - HPET_BASE;

	spin_lock(&h->lock);
	u64 now = dev_tsc_now();
	for (unsigned int i = 0; i < size;) {
		u64 o = off + i;
		unsigned int sh = (unsigned int)(o & 7), n = MIN(size - i, 8 - sh);
		u64 bytes = n == 8 ? ~0ULL : (1ULL << (8 * n)) - 1;

		if (o < HPET_SIZE)
			__hpet_reg_write(h, o & ~7ULL, ((val >> (8 * i)) & bytes) << (8 * sh), bytes << (8 * sh), now);
		i += n;
	}
	spin_unlock(&h->lock);
	return 0;
}

static const struct io_handler hpet_ops = {.name = "hpet", .read = hpet_mmio_read, .write = hpet_mmio_write};

int hpet_dev_init(struct vm *vm)
{
	struct hpet *h;

	if (vm->devices[VM_DEV_HPET])
		return -EEXIST;
	if (!vm->tsc_hz)
		return -EINVAL;
	h = kzalloc(sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->vm = vm;
	h->tsc_hz = vm->tsc_hz;
	spin_lock_init(&h->lock);
	for (unsigned int n = 0; n < HPET_NR_TIMERS; n++) {
		h->t[n] = (struct hpet_timer){.h = h, .n = n, .cmp = ~0ULL}; /* comparators reset to all ones */
		vtimer_init(&h->t[n].vt, hpet_timer_fire);
	}
	vm->devices[VM_DEV_HPET] = h;
	return io_bus_register(&vm->mmio, HPET_BASE, HPET_SIZE, &hpet_ops, h);
}
