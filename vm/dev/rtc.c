/* The MC146818 CMOS RTC at ports 0x70 (index) and 0x71 (data), IRQ8. The time is the epoch given at creation plus the
 * host TSC since, through a 32.768 kHz divider chain whose tick count also paces the periodic and update interrupts.
 * Register C's flags are accounted lazily, and one vtimer is armed only while an enabled interrupt can still rise. */
#include "vm/dev/dev.h"
#include "arch/x86/cpu.h"
#include "hv/errno.h"
#include "hv/platform.h"
#include "hv/spinlock.h"
#include "hv/string.h"
#include "vm/vtimer.h"

#define RTC_PORT_INDEX 0x70
#define RTC_PORT_DATA  0x71
#define RTC_IRQ	       8
#define RTC_HZ	       32768ULL
#define RTC_UIP_TICKS  8 /* UIP rises 244 us before each update */

#define RTC_SEC	       0x00
#define RTC_SEC_ALARM  0x01
#define RTC_MIN	       0x02
#define RTC_MIN_ALARM  0x03
#define RTC_HOUR       0x04
#define RTC_HOUR_ALARM 0x05
#define RTC_WDAY       0x06
#define RTC_MDAY       0x07
#define RTC_MONTH      0x08
#define RTC_YEAR       0x09
#define RTC_A	       0x0a
#define RTC_B	       0x0b
#define RTC_C	       0x0c
#define RTC_D	       0x0d
#define RTC_CENTURY    0x32 /* the PC convention; the FADT's century field points here */

#define A_UIP	 0x80
#define A_DV	 0x70 /* divider: 010 is the 32.768 kHz time base; 11x holds the chain in reset */
#define A_RS	 0x0f /* periodic rate select */
#define B_SET	 0x80
#define B_PIE	 0x40
#define B_AIE	 0x20
#define B_UIE	 0x10
#define B_DM_BIN 0x04
#define B_24H	 0x02
#define C_IRQF	 0x80
#define C_FLAGS	 0x70 /* PF, AF, UF: the same bit positions as PIE, AIE, UIE in B */
#define C_PF	 0x40
#define C_AF	 0x20
#define C_UF	 0x10
#define D_VRT	 0x80

/* The fastest periodic rate (RS = 3, 8192 Hz) is already slower than the 100 us floor under the other guest timers,
 * so the periodic interrupt needs no clamp of its own. */
static_assert((1ULL << 2) * 1000000 / RTC_HZ >= 100, "RTC periodic rate faster than 100 us");

#define SECS_PER_DAY	 86400
#define RTC_MAX_EPOCH	 253402300799LL /* 9999-12-31 23:59:59: four BCD digits of year */
#define HOST_UIP_SPINS	 100000		/* ~100 ms of port reads; an update holds UIP for 2 ms */
#define HOST_READ_PASSES 8

struct rtc {
	struct vm *vm;	     /* constant */
	u64 tsc_hz;	     /* constant */
	struct vtimer timer; /* armed for the next event an enabled interrupt waits for; vm->timers_lock's */
	/*
	 * Everything below. Any vCPU uses the ports (the index and data ports are one state machine: a guest's CPUs
	 * serialise their index-then-data pairs themselves, as on a PC); vCPU 0 runs the timer. Taken before the
	 * interrupt controllers' locks (IRQ8 is driven with it held) and before vm->timers_lock. The __ functions
	 * assert it.
	 */
	spinlock_t lock;
	u8 index;
	u8 cmos[128];	  /* storage, registers A and B, and the time registers while SET holds them */
	s64 base_seconds; /* the time at divider tick 0 */
	u64 div_tsc;	  /* when the divider was at tick0 */
	u64 tick0;
	bool div_running; /* register A lets the divider chain run */
	u64 acct_tick;	  /* flags accounts for the divider ticks up to here */
	u8 flags;	  /* register C's PF, AF, UF */
	bool irq;	  /* IRQ8 as driven: high from IRQF until register C is read */
};

struct rtc_tm {
	s64 year;
	u32 mon, mday, hour, min, sec, wday; /* mon 1-12, mday 1-31, wday 0-6 from Sunday */
};

/* ---- calendar (proleptic Gregorian, days since 1970-01-01; H. Hinnant's algorithms) ---- */

static s64 floor_div(s64 a, s64 b)
{
	s64 q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static s64 days_from_civil(s64 y, u32 m, u32 d)
{
	s64 era;
	u32 yoe, doy, doe;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = (u32)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(s64 z, struct rtc_tm *tm)
{
	s64 era;
	u32 doe, yoe, doy, mp;

	z += 719468;
	era = floor_div(z, 146097);
	doe = (u32)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	tm->mday = doy - (153 * mp + 2) / 5 + 1;
	tm->mon = mp < 10 ? mp + 3 : mp - 9;
	tm->year = yoe + era * 400 + (tm->mon <= 2);
}

static u32 days_in_month(s64 y, u32 m)
{
	static const u8 days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return days[m - 1] + (m == 2 && leap);
}

static void rtc_time_to_tm(s64 secs, struct rtc_tm *tm)
{
	s64 days = floor_div(secs, SECS_PER_DAY);
	u32 tod = (u32)(secs - days * SECS_PER_DAY);

	civil_from_days(days, tm);
	tm->hour = tod / 3600;
	tm->min = tod / 60 % 60;
	tm->sec = tod % 60;
	tm->wday = (u32)((days % 7 + 11) % 7); /* 1970-01-01 was a Thursday */
}

/* ---- register formats ---- */

static u8 to_bcd(u32 v)
{
	return (u8)((v / 10 % 10) << 4 | v % 10);
}

static u32 from_reg(u8 regb, u8 v)
{
	return (regb & B_DM_BIN) ? v : (u32)(v >> 4) * 10 + (v & 0xf);
}

static u8 to_reg(u8 regb, u32 v)
{
	return (regb & B_DM_BIN) ? (u8)v : to_bcd(v);
}

static u8 hour_to_reg(u8 regb, u32 h)
{
	if (regb & B_24H)
		return to_reg(regb, h);
	return (u8)(to_reg(regb, h % 12 ? h % 12 : 12) | (h >= 12 ? 0x80 : 0));
}

/* 0-23, or 24 and up for a value no clock shows. */
static u32 hour_from_reg(u8 regb, u8 v)
{
	u32 h12;

	if (regb & B_24H)
		return from_reg(regb, v);
	h12 = from_reg(regb, v & 0x7f);
	if (h12 < 1 || h12 > 12)
		return 24;
	return h12 % 12 + ((v & 0x80) ? 12 : 0);
}

static u32 mod100(s64 v)
{
	return (u32)((v % 100 + 100) % 100);
}

static bool rtc_is_time_reg(u8 idx)
{
	return idx == RTC_SEC || idx == RTC_MIN || idx == RTC_HOUR || (idx >= RTC_WDAY && idx <= RTC_YEAR) ||
	       idx == RTC_CENTURY;
}

/* The time registers showing secs, in the format of register B value regb. */
static void rtc_fill_time_regs(s64 secs, u8 regb, u8 *regs)
{
	struct rtc_tm tm;

	rtc_time_to_tm(secs, &tm);
	regs[RTC_SEC] = to_reg(regb, tm.sec);
	regs[RTC_MIN] = to_reg(regb, tm.min);
	regs[RTC_HOUR] = hour_to_reg(regb, tm.hour);
	regs[RTC_WDAY] = to_reg(regb, tm.wday + 1);
	regs[RTC_MDAY] = to_reg(regb, tm.mday);
	regs[RTC_MONTH] = to_reg(regb, tm.mon);
	regs[RTC_YEAR] = to_reg(regb, mod100(tm.year));
	regs[RTC_CENTURY] = to_reg(regb, mod100(floor_div(tm.year, 100)));
}

/* The time the time registers hold, read in format regb (the day of the week is ignored: it follows from the date).
 * Fields out of range are clamped into it, so nothing a guest writes leads anywhere odd; *valid says whether all
 * were in range. */
static s64 rtc_regs_to_time(const u8 *regs, u8 regb, bool *valid)
{
	u32 sec = from_reg(regb, regs[RTC_SEC]), min = from_reg(regb, regs[RTC_MIN]);
	u32 hour = hour_from_reg(regb, regs[RTC_HOUR]), mday = from_reg(regb, regs[RTC_MDAY]);
	u32 mon = from_reg(regb, regs[RTC_MONTH]), yy = from_reg(regb, regs[RTC_YEAR]);
	u32 cc = from_reg(regb, regs[RTC_CENTURY]);
	s64 year;

	*valid = sec < 60 && min < 60 && hour < 24 && mon >= 1 && mon <= 12 && mday >= 1 && yy < 100 && cc < 100;
	year = (s64)MIN(cc, 99u) * 100 + MIN(yy, 99u);
	mon = MIN(MAX(mon, 1u), 12u);
	*valid = *valid && mday <= days_in_month(year, mon);
	mday = MIN(MAX(mday, 1u), days_in_month(year, mon));
	return (days_from_civil(year, mon, mday) * SECS_PER_DAY + MIN(hour, 23u) * 3600 + MIN(min, 59u) * 60 +
		MIN(sec, 59u));
}

/* ---- the divider chain and the flags ---- */

static u64 rtc_ticks(const struct rtc *r, u64 now)
{
	if (!r->div_running || now <= r->div_tsc)
		return r->tick0;
	return r->tick0 + dev_mul_div(now - r->div_tsc, RTC_HZ, r->tsc_hz, false);
}

static s64 rtc_seconds_at(const struct rtc *r, u64 ticks)
{
	return r->base_seconds + (s64)(ticks / RTC_HZ);
}

/* The TSC at which the divider reaches tick (> tick0), rounded up so that it has counted it by then. */
static u64 rtc_tick_to_tsc(const struct rtc *r, u64 tick)
{
	u64 d = dev_mul_div(tick - r->tick0, r->tsc_hz, RTC_HZ, true);

	return d > ~0ULL - r->div_tsc ? ~0ULL : r->div_tsc + d;
}

static u64 rtc_period_ticks(u8 rega)
{
	unsigned int rs = rega & A_RS;

	if (!rs)
		return 0;
	if (rs < 3) /* RS 1 and 2 give 256 Hz and 128 Hz with a 32.768 kHz base, as RS 8 and 9 do */
		rs += 7;
	return 1ULL << (rs - 1);
}

static bool rtc_divider_runs(u8 rega)
{
	return (rega & A_DV) <= 0x20; /* the time bases 000, 001 and 010; QEMU runs the same ones */
}

#define ALARM_ANY   (-1)
#define ALARM_NEVER (-2)

/* An alarm byte: ALARM_ANY for "don't care" (bits 7:6 both set), the value, or ALARM_NEVER if no time matches it. */
static int rtc_alarm_field(u8 regb, u8 v, u32 max, bool hour)
{
	u32 x;

	if ((v & 0xc0) == 0xc0)
		return ALARM_ANY;
	x = hour ? hour_from_reg(regb, v) : from_reg(regb, v);
	return x <= max ? (int)x : ALARM_NEVER;
}

static bool field_matches(int f, int v)
{
	return f == ALARM_ANY || f == v;
}

/* The smallest value above v that f matches, up to max, or -1. */
static int field_next(int f, int v, int max)
{
	if (f == ALARM_ANY)
		return v < max ? v + 1 : -1;
	return f > v ? f : -1;
}

static int field_first(int f)
{
	return f == ALARM_ANY ? 0 : f;
}

/* The first second after `after` at which the alarm registers match the time, or INT64_MAX if none ever does:
 * later in the same minute, the same hour, the same day, or else the first match of the next day. */
static s64 rtc_next_alarm(const struct rtc *r, s64 after)
{
	u8 b = r->cmos[RTC_B];
	int as = rtc_alarm_field(b, r->cmos[RTC_SEC_ALARM], 59, false);
	int am = rtc_alarm_field(b, r->cmos[RTC_MIN_ALARM], 59, false);
	int ah = rtc_alarm_field(b, r->cmos[RTC_HOUR_ALARM], 23, true);
	s64 day = floor_div(after, SECS_PER_DAY);
	int tod = (int)(after - day * SECS_PER_DAY), h = tod / 3600, m = tod / 60 % 60, s = tod % 60, x;

	if (as == ALARM_NEVER || am == ALARM_NEVER || ah == ALARM_NEVER)
		return INT64_MAX;
	day *= SECS_PER_DAY;
	if (field_matches(ah, h) && field_matches(am, m) && (x = field_next(as, s, 59)) >= 0)
		return day + h * 3600 + m * 60 + x;
	if (field_matches(ah, h) && (x = field_next(am, m, 59)) >= 0)
		return day + h * 3600 + x * 60 + field_first(as);
	if ((x = field_next(ah, h, 23)) >= 0)
		return day + x * 3600 + field_first(am) * 60 + field_first(as);
	return day + SECS_PER_DAY + field_first(ah) * 3600 + field_first(am) * 60 + field_first(as);
}

/* Bring register C's flags up to now: PF for each periodic boundary crossed, UF for each update cycle (none while SET
 * holds the time or the divider is in reset), AF when an update landed on an alarm match. */
static void rtc_account(struct rtc *r, u64 now)
{
	u64 t = rtc_ticks(r, now), a = r->acct_tick, p = rtc_period_ticks(r->cmos[RTC_A]);

	if (t <= a)
		return;
	if (p && t / p > a / p)
		r->flags |= C_PF;
	if (!(r->cmos[RTC_B] & B_SET) && t / RTC_HZ > a / RTC_HZ) {
		r->flags |= C_UF;
		if (rtc_next_alarm(r, rtc_seconds_at(r, a)) <= rtc_seconds_at(r, t))
			r->flags |= C_AF;
	}
	r->acct_tick = t;
}

/* The TSC of the next event an enabled interrupt waits for, or ~0. */
static u64 rtc_next_event(const struct rtc *r, u64 now)
{
	u8 b = r->cmos[RTC_B];
	u64 t = rtc_ticks(r, now), p = rtc_period_ticks(r->cmos[RTC_A]), next = ~0ULL;
	s64 alarm;

	if (!r->div_running)
		return ~0ULL;
	if ((b & B_PIE) && p)
		next = (t / p + 1) * p;
	if (!(b & B_SET) && (b & B_UIE))
		next = MIN(next, (t / RTC_HZ + 1) * RTC_HZ);
	if (!(b & B_SET) && (b & B_AIE)) {
		alarm = rtc_next_alarm(r, rtc_seconds_at(r, t));
		if (alarm != INT64_MAX)
			next = MIN(next, (u64)(alarm - r->base_seconds) * RTC_HZ);
	}
	return next == ~0ULL ? ~0ULL : rtc_tick_to_tsc(r, next);
}

/* Account, drive IRQ8 from IRQF, and arm the timer for the next edge if IRQ8 is low. While it is high nothing can
 * raise it again before register C is read, so no timer runs (flags still accumulate, lazily). */
static void __rtc_sync(struct rtc *r, u64 now)
{
	bool level;
	u64 next;

	assert_spin_held(&r->lock);
	rtc_account(r, now);
	level = r->flags & r->cmos[RTC_B] & C_FLAGS;
	if (level != r->irq) {
		r->irq = level;
		vm_set_irq(r->vm, RTC_IRQ, level);
	}
	vtimer_disarm(r->vm, &r->timer);
	next = level ? ~0ULL : rtc_next_event(r, now);
	if (next != ~0ULL)
		vtimer_arm(r->vm, &r->timer, next);
}

/* vCPU 0's run loop took the timer off the list and calls this without the lock: another vCPU may have read
 * register C or reprogrammed the chip since, so the call only brings the flags and IRQ8 up to date from the registers,
 * and finds nothing new if nothing fell due. `now` was read before the lock was taken, perhaps before another vCPU's
 * access with a later TSC; the later of the two is used, so the divider is never looked at in the past. */
static void rtc_timer_fire(struct vtimer *t, u64 now)
{
	struct rtc *r = container_of(t, struct rtc, timer);
	u64 tsc;

	spin_lock(&r->lock);
	tsc = dev_tsc_now();
	__rtc_sync(r, MAX(now, tsc));
	spin_unlock(&r->lock);
}

static bool rtc_uip(const struct rtc *r, u64 now)
{
	return !(r->cmos[RTC_B] & B_SET) && r->div_running && rtc_ticks(r, now) % RTC_HZ >= RTC_HZ - RTC_UIP_TICKS;
}

/* ---- register writes that move the clock ---- */

/* A time register written while the clock runs: the time changes to what the registers now say, and the divider keeps
 * its phase within the second. */
static void rtc_write_running_time(struct rtc *r, u8 idx, u8 val, u64 now)
{
	u8 regs[128];
	u64 t;
	bool valid;

	rtc_account(r, now);
	t = rtc_ticks(r, now);
	rtc_fill_time_regs(rtc_seconds_at(r, t), r->cmos[RTC_B], regs);
	regs[idx] = val;
	r->base_seconds = rtc_regs_to_time(regs, r->cmos[RTC_B], &valid) - (s64)(t / RTC_HZ);
}

static void rtc_write_a(struct rtc *r, u8 val, u64 now)
{
	bool was = r->div_running, runs = rtc_divider_runs(val);
	s64 s;

	rtc_account(r, now);
	s = rtc_seconds_at(r, rtc_ticks(r, now));
	r->cmos[RTC_A] = val & ~A_UIP;
	if (was && !runs) {
		/* Divider reset: the chain stops at the start of the current second. */
		r->div_running = false;
		r->tick0 = r->acct_tick = 0;
		r->base_seconds = s;
	} else if (!was && runs) {
		/* Released from reset, the chain's first update comes half a second later (MC146818 datasheet). */
		r->div_running = true;
		r->div_tsc = now;
		r->tick0 = r->acct_tick = RTC_HZ / 2;
		r->base_seconds = s;
	}
}

static void rtc_write_b(struct rtc *r, u8 val, u64 now)
{
	u8 old = r->cmos[RTC_B];
	u64 t;
	bool valid;

	if (val & B_SET) /* SET going high clears UIE (datasheet) */
		val &= ~B_UIE;
	rtc_account(r, now);
	t = rtc_ticks(r, now);
	/* SET freezes the time registers at the time now, in the format they were in; the guest then writes them. */
	if (!(old & B_SET) && (val & B_SET))
		rtc_fill_time_regs(rtc_seconds_at(r, t), old, r->cmos);
	r->cmos[RTC_B] = val;
	/* Released, the clock runs on from what they say, in the (new) format, at the divider's phase. */
	if ((old & B_SET) && !(val & B_SET))
		r->base_seconds = rtc_regs_to_time(r->cmos, val, &valid) - (s64)(t / RTC_HZ);
}

/* ---- the ports ---- */

static u8 rtc_read_data(struct rtc *r, u64 now)
{
	u8 idx = r->index, v;

	if (rtc_is_time_reg(idx)) {
		u8 regs[128];

		if (r->cmos[RTC_B] & B_SET)
			return r->cmos[idx];
		rtc_fill_time_regs(rtc_seconds_at(r, rtc_ticks(r, now)), r->cmos[RTC_B], regs);
		return regs[idx];
	}
	switch (idx) {
	case RTC_A:
		return (u8)(r->cmos[RTC_A] | (rtc_uip(r, now) ? A_UIP : 0));
	case RTC_C:
		/* Read-to-clear: the flags and IRQF go, IRQ8 drops, and the timer looks for the next event. */
		rtc_account(r, now);
		v = r->flags;
		if (v & r->cmos[RTC_B] & C_FLAGS)
			v |= C_IRQF;
		r->flags = 0;
		__rtc_sync(r, now);
		return v;
	case RTC_D:
		return D_VRT; /* the battery is always good */
	default:
		return r->cmos[idx];
	}
}

static void rtc_write_data(struct rtc *r, u8 val, u64 now)
{
	u8 idx = r->index;

	if (rtc_is_time_reg(idx)) {
		if (r->cmos[RTC_B] & B_SET)
			r->cmos[idx] = val;
		else
			rtc_write_running_time(r, idx, val, now);
	} else if (idx == RTC_A) {
		rtc_write_a(r, val, now);
	} else if (idx == RTC_B) {
		rtc_write_b(r, val, now);
	} else if (idx != RTC_C && idx != RTC_D) { /* C and D are read-only */
		r->cmos[idx] = val;
	}
	__rtc_sync(r, now);
}

static u8 __rtc_read_byte(void *dev, u64 port)
{
	struct rtc *r = dev;

	assert_spin_held(&r->lock);
	if (port == RTC_PORT_INDEX)
		return 0xff; /* the index register is write-only */
	return rtc_read_data(r, dev_tsc_now());
}

static void __rtc_write_byte(void *dev, u64 port, u8 val)
{
	struct rtc *r = dev;

	assert_spin_held(&r->lock);
	if (port == RTC_PORT_INDEX)
		r->index = val & 0x7f; /* bit 7 is the PC's NMI mask: the guest has no NMI source to mask */
	else
		rtc_write_data(r, val, dev_tsc_now());
}

static int rtc_read(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 *val)
{
	struct rtc *r = dev;

	spin_lock(&r->lock);
	*val = dev_split_read(dev, addr, size, RTC_PORT_INDEX, RTC_PORT_DATA + 1, __rtc_read_byte);
	spin_unlock(&r->lock);
	return 0;
}

static int rtc_write(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 val)
{
	struct rtc *r = dev;

	spin_lock(&r->lock);
	dev_split_write(dev, addr, size, val, RTC_PORT_INDEX, RTC_PORT_DATA + 1, __rtc_write_byte);
	spin_unlock(&r->lock);
	return 0;
}

static const struct io_handler rtc_ops = {.name = "mc146818", .read = rtc_read, .write = rtc_write};

/* Registers as a BIOS leaves them: 32.768 kHz base with the 1024 Hz periodic rate selected (A = 0x26), 24-hour BCD
 * (B = 0x02), no flags, valid RAM and time. */
int rtc_dev_init(struct vm *vm, u64 epoch_seconds)
{
	struct rtc *r;

	if (vm->devices[VM_DEV_RTC])
		return -EEXIST;
	if (!vm->tsc_hz)
		return -EINVAL;
	r = kzalloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->vm = vm;
	r->tsc_hz = vm->tsc_hz;
	spin_lock_init(&r->lock);
	vtimer_init(&r->timer, rtc_timer_fire);
	r->cmos[RTC_A] = 0x26;
	r->cmos[RTC_B] = B_24H;
	r->base_seconds = (s64)MIN(epoch_seconds, (u64)RTC_MAX_EPOCH);
	r->div_running = true;
	r->div_tsc = dev_tsc_now();
	vm->devices[VM_DEV_RTC] = r;
	return io_bus_register(&vm->pio, RTC_PORT_INDEX, 2, &rtc_ops, r);
}

/* ---- the host's clock ---- */

u64 rtc_epoch_from_cmos(u8 (*read)(void *ctx, u8 index), void *ctx)
{
	static const u8 idx[] = {RTC_SEC, RTC_MIN, RTC_HOUR, RTC_MDAY, RTC_MONTH, RTC_YEAR, RTC_CENTURY, RTC_B};
	u8 regs[128] = {0}, prev[ARRAY_SIZE(idx)], cur[ARRAY_SIZE(idx)];
	bool stable = false, valid;
	u32 cc;
	s64 s;

	for (int pass = 0; pass < HOST_READ_PASSES && !stable; pass++) {
		/* The registers are unstable during an update (UIP covers it): wait for it to end, bounded. */
		for (u32 spin = 0; spin < HOST_UIP_SPINS && (read(ctx, RTC_A) & A_UIP); spin++)
			;
		for (size_t i = 0; i < ARRAY_SIZE(idx); i++)
			cur[i] = read(ctx, idx[i]);
		/* An update between the UIP check and the last read shows as a difference from the pass before. */
		stable = pass > 0 && !memcmp(cur, prev, sizeof(cur));
		memcpy(prev, cur, sizeof(prev));
	}
	if (!stable)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(idx); i++)
		regs[idx[i]] = cur[i];
	/* Not every firmware keeps register 0x32; outside 19..99 it is not a century, and this one is the 21st. */
	cc = from_reg(regs[RTC_B], regs[RTC_CENTURY]);
	if (cc < 19 || cc > 99)
		regs[RTC_CENTURY] = to_reg(regs[RTC_B], 20);
	s = rtc_regs_to_time(regs, regs[RTC_B], &valid);
	return valid && s >= 0 ? (u64)s : 0;
}

static u8 host_cmos_read(void *ctx, u8 index)
{
	outb(RTC_PORT_INDEX, index); /* bit 7 clear: NMIs stay enabled */
	return inb(RTC_PORT_DATA);
}

u64 rtc_host_epoch_seconds(void)
{
	static spinlock_t lock = SPINLOCK_INIT; /* VMs may be created on several CPUs at once */
	u64 s;

	spin_lock(&lock);
	s = rtc_epoch_from_cmos(host_cmos_read, NULL);
	spin_unlock(&lock);
	return s;
}
