/* Unit tests of the vLAPIC timer (vm/dev/vlapic_timer.c) against exact TSC values: one-shot and periodic at every
 * divide, no drift, the current count, divide changes, masking, huge counts, and TSC-deadline mode. */
#include "vlapic_fixture.h"

/* Take the pending interrupt as the owner would at injection, and EOI it. */
static int ack(struct vlapic *l)
{
	int v = vlapic_pending_vector(l);

	if (v >= 0) {
		vlapic_accept(l, (u8)v);
		wr(l, VLAPIC_REG_EOI, 0);
	}
	return v;
}
static const u32 tdcr_enc[8] = {0x0, 0x1, 0x2, 0x3, 0x8, 0x9, 0xa, 0xb};
static const u32 tdcr_div[8] = {2, 4, 8, 16, 32, 64, 128, 1};

TEST(timer_oneshot_every_divide)
{
	for (int i = 0; i < 8; i++) {
		struct vlapic *l = setup(1, 0);
		u64 t0 = 10000, dl = t0 + 1000ULL * tdcr_div[i] * 2;

		sw_enable(l);
		wr(l, LVT_T, 0x40);
		wr(l, VLAPIC_REG_TDCR, tdcr_enc[i]);
		T = t0;
		wr(l, VLAPIC_REG_TMICT, 1000);
		CHECK_EQ(vlapic_next_deadline(l), dl);
		CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 1000);
		T = dl - 1;
		CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 1);
		vlapic_tick(l, dl - 1);
		CHECK_EQ(vlapic_pending_vector(l), -1);
		vlapic_tick(l, dl);
		CHECK_EQ(vlapic_pending_vector(l), 0x40);
		CHECK_EQ(vlapic_next_deadline(l), NONE);
		T = dl + 5;
		CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 0);
		CHECK_EQ(rd(l, VLAPIC_REG_TMICT), 1000);
		CHECK_EQ(ack(l), 0x40);
		vlapic_tick(l, dl + 100000000);
		CHECK_EQ(vlapic_pending_vector(l), -1);
	}
}

TEST(timer_periodic_every_divide)
{
	for (int i = 0; i < 8; i++) {
		struct vlapic *l = setup(1, 0);
		u64 t0 = 777, p = 200000ULL * tdcr_div[i] * 2;

		sw_enable(l);
		wr(l, VLAPIC_REG_TDCR, tdcr_enc[i]);
		wr(l, LVT_T, VLAPIC_LVT_TIMER_PERIODIC | 0x41);
		T = t0;
		wr(l, VLAPIC_REG_TMICT, 200000);
		for (u64 k = 1; k <= 3; k++) {
			CHECK_EQ(vlapic_next_deadline(l), t0 + k * p);
			vlapic_tick(l, t0 + k * p - 1);
			CHECK_EQ(vlapic_pending_vector(l), -1);
			vlapic_tick(l, t0 + k * p);
			CHECK_EQ(ack(l), 0x41);
			T = t0 + k * p;
			CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 200000); /* reloaded */
		}
	}
}

TEST(timer_periodic_no_drift)
{
	struct vlapic *l = setup(1, 0);
	u64 t0 = 12345, p = 1000000; /* 500000 counts at divide 1 */

	sw_enable(l);
	wr(l, VLAPIC_REG_TDCR, 0xb);
	wr(l, LVT_T, VLAPIC_LVT_TIMER_PERIODIC | 0x42);
	T = t0;
	wr(l, VLAPIC_REG_TMICT, 500000);
	for (u64 k = 1; k <= 2000; k++) {
		vlapic_tick(l, t0 + k * p + (k * 7919) % 900000); /* the owner is always a little late */
		CHECK_EQ(ack(l), 0x42);
		CHECK_EQ(vlapic_next_deadline(l), t0 + (k + 1) * p);
	}
	/* A million periods late: one interrupt, and the phase is kept. */
	vlapic_tick(l, t0 + 3000000ULL * p + 17);
	CHECK_EQ(ack(l), 0x42);
	CHECK_EQ(vlapic_pending_vector(l), -1);
	CHECK_EQ(vlapic_next_deadline(l), t0 + 3000001ULL * p);
	T = t0 + 3000000ULL * p + 17;
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 500000 - 8); /* 17 TSC = 8.5 bus cycles elapsed */
}

TEST(timer_periodic_minimum_period)
{
	struct vlapic *l = setup(1, 0);

	sw_enable(l);
	wr(l, VLAPIC_REG_TDCR, 0xb);
	wr(l, LVT_T, VLAPIC_LVT_TIMER_PERIODIC | 0x43);
	T = 100;
	wr(l, VLAPIC_REG_TMICT, 1);
	CHECK_EQ(vlapic_next_deadline(l), 100 + VLAPIC_MIN_PERIOD_NS * 2);
	vlapic_tick(l, 100 + VLAPIC_MIN_PERIOD_NS * 2);
	CHECK_EQ(vlapic_next_deadline(l), 100 + VLAPIC_MIN_PERIOD_NS * 4);
	CHECK_EQ(ack(l), 0x43);
	/* one-shot is not limited */
	wr(l, LVT_T, 0x43);
	T = 1000000;
	wr(l, VLAPIC_REG_TMICT, 1);
	CHECK_EQ(vlapic_next_deadline(l), 1000002);
}

TEST(timer_current_count_midway)
{
	struct vlapic *l = setup(1, 0);
	u64 t0 = 5000;

	sw_enable(l);
	wr(l, VLAPIC_REG_TDCR, 0x0); /* divide by 2: one count = 4 TSC ticks */
	wr(l, LVT_T, 0x44);
	T = t0;
	wr(l, VLAPIC_REG_TMICT, 1000);
	T = t0 + 3;
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 1000);
	T = t0 + 4;
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 999);
	T = t0 + 1000;
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 750);
	T = t0 + 1003;
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 750);
	T = t0 + 1004;
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 749);
	T = t0 + 3999;
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 1);
	CHECK_EQ(vlapic_pending_vector(l), -1);
	T = t0 + 4000; /* a register access catches the timer up too */
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 0);
	CHECK_EQ(vlapic_pending_vector(l), 0x44);
}

TEST(timer_divide_change_while_running)
{
	struct vlapic *l = setup(1, 0);
	u64 t0 = 5000;

	sw_enable(l);
	wr(l, VLAPIC_REG_TDCR, 0xb);
	wr(l, LVT_T, 0x45);
	T = t0;
	wr(l, VLAPIC_REG_TMICT, 1000);
	CHECK_EQ(vlapic_next_deadline(l), t0 + 2000);
	T = t0 + 1000;
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 500);
	wr(l, VLAPIC_REG_TDCR, 0x1); /* divide by 4: the 500 counts left take 4x as long */
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 500);
	CHECK_EQ(vlapic_next_deadline(l), t0 + 1000 + 4000);
	T = t0 + 3000;
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 250);
	/* a periodic reload after a change runs the whole count at the new divider */
	wr(l, LVT_T, VLAPIC_LVT_TIMER_PERIODIC | 0x45); /* one-shot -> periodic keeps the countdown */
	CHECK_EQ(vlapic_next_deadline(l), t0 + 5000);
	wr(l, VLAPIC_REG_TMICT, 100000);
	CHECK_EQ(vlapic_next_deadline(l), t0 + 3000 + 800000);
	vlapic_tick(l, t0 + 3000 + 800000);
	CHECK_EQ(vlapic_next_deadline(l), t0 + 3000 + 1600000);
}

TEST(timer_masked_raises_nothing)
{
	struct vlapic *l = setup(1, 0);

	sw_enable(l);
	wr(l, LVT_T, VLAPIC_LVT_MASKED | 0x46);
	wr(l, VLAPIC_REG_TDCR, 0xb);
	wr(l, VLAPIC_REG_TMICT, 1000);
	CHECK_EQ(vlapic_next_deadline(l), NONE); /* nothing to wake up for */
	T = 1000 + 1000;
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 500); /* but it counts */
	vlapic_tick(l, 1000 + 2000);
	CHECK_EQ(vlapic_pending_vector(l), -1);
	T = 1000 + 2500;
	wr(l, LVT_T, 0x46); /* unmasking after the expiry raises nothing */
	CHECK_EQ(vlapic_pending_vector(l), -1);
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 0);
	/* periodic, masked for a while, then unmasked: the phase is kept */
	wr(l, LVT_T, VLAPIC_LVT_TIMER_PERIODIC | VLAPIC_LVT_MASKED | 0x46);
	T = 10000;
	wr(l, VLAPIC_REG_TMICT, 500000); /* 1e6 TSC period */
	T = 7510000;
	wr(l, LVT_T, VLAPIC_LVT_TIMER_PERIODIC | 0x46);
	CHECK_EQ(vlapic_pending_vector(l), -1);
	CHECK_EQ(vlapic_next_deadline(l), 8010000);
	/* a software-disabled APIC masks the timer */
	wr(l, VLAPIC_REG_SVR, 0xff);
	vlapic_tick(l, 9010000);
	CHECK_EQ(vlapic_pending_vector(l), -1);
}

TEST(timer_initial_count_zero_stops)
{
	struct vlapic *l = setup(1, 0);

	sw_enable(l);
	wr(l, LVT_T, VLAPIC_LVT_TIMER_PERIODIC | 0x47);
	wr(l, VLAPIC_REG_TMICT, 300000);
	CHECK(vlapic_next_deadline(l) != NONE);
	T = 2000;
	wr(l, VLAPIC_REG_TMICT, 0);
	CHECK_EQ(vlapic_next_deadline(l), NONE);
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 0);
	vlapic_tick(l, 1ULL << 40);
	CHECK_EQ(vlapic_pending_vector(l), -1);
}

TEST(timer_huge_counts_do_not_overflow)
{
	struct vlapic_config cfg = config(0, 0, 0);
	struct vlapic *l;
	u64 t0 = 1ULL << 62, bus = 0xffffffffULL * 128;

	cfg.tsc_hz = 3000000000ULL;
	l = setup_cfg(cfg);
	sw_enable(l);
	wr(l, VLAPIC_REG_TDCR, 0xa); /* 128 */
	wr(l, LVT_T, 0x48);
	T = t0;
	wr(l, VLAPIC_REG_TMICT, 0xffffffff);
	CHECK_EQ(vlapic_next_deadline(l), t0 + bus * 3);
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 0xffffffff);
	T = t0 + 3 * 128;
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 0xfffffffe);
	T = t0 + bus * 3 - 1;
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 1);

	/* An odd ratio whose products need 128 bits: deadline = ceil(count * divide * tsc_hz / timer_hz). */
	cfg.tsc_hz = (1ULL << 40) - 1;
	cfg.timer_hz = 1000000007ULL;
	l = setup_cfg(cfg);
	sw_enable(l);
	wr(l, VLAPIC_REG_TDCR, 0xa);
	wr(l, LVT_T, 0x48);
	T = 0;
	wr(l, VLAPIC_REG_TMICT, 0xffffffff);
	unsigned __int128 num = (unsigned __int128)bus * cfg.tsc_hz;
	u64 want = (u64)((num + cfg.timer_hz - 1) / cfg.timer_hz);
	CHECK_EQ(vlapic_next_deadline(l), want);
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 0xffffffff);
	T = want / 2;
	u32 half = rd(l, VLAPIC_REG_TMCCT);
	CHECK(half >= 0x7fffffff && half <= 0x80000001);
	vlapic_tick(l, want - 1);
	CHECK_EQ(vlapic_pending_vector(l), -1);
	vlapic_tick(l, want);
	CHECK_EQ(vlapic_pending_vector(l), 0x48);

	/* Near the end of time the deadline saturates instead of wrapping into the past. */
	l = setup(1, 0);
	sw_enable(l);
	wr(l, VLAPIC_REG_TDCR, 0xa);
	wr(l, LVT_T, VLAPIC_LVT_TIMER_PERIODIC | 0x48);
	T = ~0ULL - 1000;
	wr(l, VLAPIC_REG_TMICT, 0xffffffff);
	CHECK_EQ(vlapic_next_deadline(l), ~0ULL);
	CHECK_EQ(vlapic_pending_vector(l), -1);
}

TEST(timer_tsc_deadline_mode)
{
	struct vlapic *l = setup(1, VLAPIC_F_TSC_DEADLINE);

	sw_enable(l);
	wr(l, LVT_T, VLAPIC_LVT_TIMER_TSC_DEADLINE | 0x49);
	CHECK_EQ(rd(l, LVT_T), VLAPIC_LVT_TIMER_TSC_DEADLINE | 0x49);
	mwr(l, MSR_IA32_TSC_DEADLINE, 50000);
	CHECK_EQ(mrd(l, MSR_IA32_TSC_DEADLINE), 50000);
	CHECK_EQ(vlapic_next_deadline(l), 50000);
	wr(l, VLAPIC_REG_TMICT, 1000); /* ignored in this mode */
	CHECK_EQ(rd(l, VLAPIC_REG_TMICT), 0);
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 0);
	CHECK_EQ(vlapic_next_deadline(l), 50000);
	vlapic_tick(l, 49999);
	CHECK_EQ(vlapic_pending_vector(l), -1);
	vlapic_tick(l, 50000);
	CHECK_EQ(ack(l), 0x49);
	T = 50001;
	CHECK_EQ(mrd(l, MSR_IA32_TSC_DEADLINE), 0); /* disarmed by the expiry */
	CHECK_EQ(vlapic_next_deadline(l), NONE);
	/* a write of 0 disarms */
	mwr(l, MSR_IA32_TSC_DEADLINE, 90000);
	mwr(l, MSR_IA32_TSC_DEADLINE, 0);
	CHECK_EQ(vlapic_next_deadline(l), NONE);
	vlapic_tick(l, 100000);
	CHECK_EQ(vlapic_pending_vector(l), -1);
	/* a deadline already passed fires at once */
	T = 200000;
	mwr(l, MSR_IA32_TSC_DEADLINE, 150000);
	CHECK_EQ(vlapic_pending_vector(l), 0x49);
	CHECK_EQ(mrd(l, MSR_IA32_TSC_DEADLINE), 0);
}

TEST(timer_tsc_deadline_mode_switches)
{
	struct vlapic *l = setup(1, VLAPIC_F_TSC_DEADLINE);

	sw_enable(l);
	/* outside TSC-deadline mode the MSR reads 0 and ignores writes */
	mwr(l, MSR_IA32_TSC_DEADLINE, 50000);
	CHECK_EQ(mrd(l, MSR_IA32_TSC_DEADLINE), 0);
	CHECK_EQ(vlapic_next_deadline(l), NONE);
	/* one-shot running -> TSC-deadline: stopped, initial count cleared */
	wr(l, LVT_T, 0x4a);
	wr(l, VLAPIC_REG_TMICT, 1000);
	wr(l, LVT_T, VLAPIC_LVT_TIMER_TSC_DEADLINE | 0x4a);
	CHECK_EQ(rd(l, VLAPIC_REG_TMICT), 0);
	CHECK_EQ(vlapic_next_deadline(l), NONE);
	/* armed deadline -> one-shot: disarmed, and it stays so back in TSC-deadline mode */
	mwr(l, MSR_IA32_TSC_DEADLINE, 70000);
	wr(l, LVT_T, 0x4a);
	CHECK_EQ(mrd(l, MSR_IA32_TSC_DEADLINE), 0);
	wr(l, LVT_T, VLAPIC_LVT_TIMER_TSC_DEADLINE | 0x4a);
	CHECK_EQ(mrd(l, MSR_IA32_TSC_DEADLINE), 0);
	vlapic_tick(l, 80000);
	CHECK_EQ(vlapic_pending_vector(l), -1);
	/* a masked deadline timer expires silently */
	wr(l, LVT_T, VLAPIC_LVT_TIMER_TSC_DEADLINE | VLAPIC_LVT_MASKED | 0x4a);
	mwr(l, MSR_IA32_TSC_DEADLINE, 90000);
	CHECK_EQ(vlapic_next_deadline(l), NONE);
	vlapic_tick(l, 90000);
	CHECK_EQ(vlapic_pending_vector(l), -1);
}

TEST(timer_tsc_deadline_not_advertised)
{
	struct vlapic *l = setup(1, 0);
	u64 v;

	sw_enable(l);
	CHECK_EQ(vlapic_msr_read(l, MSR_IA32_TSC_DEADLINE, &v, T), -EINVAL);
	CHECK_EQ(vlapic_msr_write(l, MSR_IA32_TSC_DEADLINE, 5000, T), -EINVAL);
	wr(l, LVT_T, VLAPIC_LVT_TIMER_TSC_DEADLINE | 0x4b); /* mode 2 is reserved: bit 18 drops, one-shot */
	CHECK_EQ(rd(l, LVT_T), 0x4b);
	wr(l, VLAPIC_REG_TMICT, 10);
	CHECK_EQ(vlapic_next_deadline(l), T + 40);
	/* with TSC-deadline, the reserved mode 3 counts as one-shot */
	l = setup(1, VLAPIC_F_TSC_DEADLINE);
	sw_enable(l);
	wr(l, LVT_T, VLAPIC_LVT_TIMER_MODE | 0x4b);
	wr(l, VLAPIC_REG_TMICT, 10);
	vlapic_tick(l, T + 40);
	CHECK_EQ(vlapic_pending_vector(l), 0x4b);
	CHECK_EQ(vlapic_next_deadline(l), NONE);
}

TEST(timer_illegal_vector_sets_esr)
{
	struct vlapic *l = setup(1, 0);

	sw_enable(l);
	wr(l, LVT_T, 0x05);
	wr(l, VLAPIC_REG_TMICT, 10);
	vlapic_tick(l, T + 40);
	CHECK_EQ(vlapic_pending_vector(l), -1);
	CHECK_EQ(esr(l), VLAPIC_ESR_RECV_ILLEGAL_VECTOR);
}
