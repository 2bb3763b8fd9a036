/* Unit tests of the HPET (vm/dev/hpet.c), through the VM's MMIO bus in simulated time: the main counter (halted,
 * enabled, written), one-shot and periodic comparators in 64- and 32-bit mode, edge and level interrupts with
 * GINTR_STA, routes, and legacy replacement cutting the PIT's IRQ0 and the RTC's IRQ8 off. The TSC runs at 3 GHz,
 * 30 cycles per HPET tick. */
#include <string.h>

#include "test.h"
#include "fake_platform.h"
#include "fake_vm.h"
#include "hv/errno.h"
#include "vm/dev/hpet.h"
#include "vm/irq.h"

#define TSC_HZ 3000000000ULL
#define T0     1000000000000ULL
#define TICK   (TSC_HZ / HPET_HZ) /* 30 */

static struct vm vm;
static u64 t_enable; /* TSC at which the counter last started from 0 */

static u64 rd(u64 reg, unsigned int size)
{
	u64 v = 0xdead;

	CHECK_EQ(io_bus_read(&vm.mmio, NULL, HPET_BASE + reg, size, &v), 0);
	return v;
}

static void wr(u64 reg, unsigned int size, u64 val)
{
	CHECK_EQ(io_bus_write(&vm.mmio, NULL, HPET_BASE + reg, size, val), 0);
}

static void setup(void)
{
	fake_vm_destroy(&vm);
	fake_vm_init(&vm, 0);
	vm.tsc_hz = TSC_HZ;
	fake_vm.tsc = T0;
	CHECK_EQ(hpet_dev_init(&vm), 0);
}

static void enable(u64 conf)
{
	wr(HPET_GEN_CONF, 8, HPET_CONF_ENABLE | conf);
	t_enable = fake_vm.tsc;
}

/* Let time run to `ticks` counter ticks after the enable. */
static void at(u64 ticks)
{
	fake_vm_run_until(&vm, t_enable + ticks * TICK);
}

TEST(hpet_capabilities_and_reset_state)
{
	setup();
	u64 cap = rd(HPET_GCAP_ID, 8);
	CHECK_EQ(cap >> 32, 10000000);		     /* 10 ns in femtoseconds */
	CHECK_EQ((cap >> 8) & 0x1f, 2);		     /* three timers */
	CHECK(cap & BIT(13));			     /* 64-bit counter */
	CHECK(cap & BIT(15));			     /* legacy replacement capable */
	CHECK_EQ(cap & 0xff, 1);		     /* revision */
	CHECK_EQ(rd(HPET_GCAP_ID + 4, 4), 10000000); /* the period as a 32-bit read of the upper half */
	CHECK_EQ(rd(HPET_GEN_CONF, 8), 0);
	for (unsigned int n = 0; n < HPET_NR_TIMERS; n++) {
		u64 conf = rd(HPET_TN_CONF(n), 8);
		CHECK_EQ(conf >> 32, 0x00f00000); /* routes 20-23 */
		CHECK(conf & HPET_TN_PER_CAP);
		CHECK(conf & HPET_TN_SIZE_CAP);
		CHECK_EQ(conf & HPET_TN_INT_ENB, 0);
		CHECK_EQ(rd(HPET_TN_CMP(n), 8), ~0ULL);
	}
	/* Read-only bits stay; the rest of the page is not the HPET's. */
	wr(HPET_GCAP_ID, 8, 0);
	CHECK_EQ(rd(HPET_GCAP_ID, 8), cap);
	wr(HPET_TN_CONF(0), 8, ~0ULL);
	CHECK_EQ(rd(HPET_TN_CONF(0), 8) & ~(u64)HPET_TN_WRITABLE, rd(HPET_TN_CONF(1), 8) & ~(u64)HPET_TN_WRITABLE);
	CHECK_EQ(rd(HPET_TN_CONF(0), 8) & HPET_TN_VAL_SET, 0); /* write-only */
}

TEST(hpet_counter_runs_only_while_enabled)
{
	setup();
	fake_vm.tsc += 1000 * TICK;
	CHECK_EQ(rd(HPET_MAIN_COUNTER, 8), 0);
	enable(0);
	at(1000);
	CHECK_EQ(rd(HPET_MAIN_COUNTER, 8), 1000);
	CHECK_EQ(rd(HPET_MAIN_COUNTER, 4), 1000);
	fake_vm.tsc += TICK - 1;
	CHECK_EQ(rd(HPET_MAIN_COUNTER, 8), 1000); /* no tick yet */
	/* Halted: frozen; enabled again: on from there. */
	wr(HPET_GEN_CONF, 8, 0);
	fake_vm.tsc += 5000 * TICK;
	CHECK_EQ(rd(HPET_MAIN_COUNTER, 8), 1000);
	enable(0);
	fake_vm.tsc += 24 * TICK;
	CHECK_EQ(rd(HPET_MAIN_COUNTER, 8), 1024);
	/* A write sets it; 32-bit writes change their half only. */
	wr(HPET_GEN_CONF, 8, 0);
	wr(HPET_MAIN_COUNTER, 8, 0x1234567800000000ULL);
	wr(HPET_MAIN_COUNTER, 4, 0xfffffff0);
	CHECK_EQ(rd(HPET_MAIN_COUNTER, 8), 0x12345678fffffff0ULL);
	enable(0);
	fake_vm.tsc += 0x20 * TICK;
	CHECK_EQ(rd(HPET_MAIN_COUNTER, 8), 0x1234567900000010ULL); /* carries into the upper half */
	CHECK_EQ(rd(HPET_MAIN_COUNTER + 4, 4), 0x12345679);
}

TEST(hpet_one_shot_edge_fires_once_at_the_match)
{
	setup();
	wr(HPET_TN_CONF(2), 8, HPET_TN_INT_ENB | 21ULL << HPET_TN_ROUTE_SHIFT);
	wr(HPET_TN_CMP(2), 8, 5000);
	enable(0);
	at(4999);
	CHECK_EQ(fake_vm.irq_rises[21], 0);
	at(5000);
	CHECK_EQ(fake_vm.irq_rises[21], 1);
	CHECK_EQ(fake_vm.irq_level[21], 0); /* a pulse */
	CHECK_EQ(rd(HPET_GINTR_STA, 8), 0); /* edge mode leaves the status alone */
	CHECK_EQ(rd(HPET_TN_CMP(2), 8), 5000);
	at(50000000); /* half a second: a 64-bit one-shot does not come back */
	CHECK_EQ(fake_vm.irq_rises[21], 1);
	/* A comparator behind the counter waits for the 64-bit wrap: nothing. Moved ahead, it fires again. */
	wr(HPET_TN_CMP(2), 8, 100);
	at(50001000);
	CHECK_EQ(fake_vm.irq_rises[21], 1);
	wr(HPET_TN_CMP(2), 8, 50002000);
	at(50002000);
	CHECK_EQ(fake_vm.irq_rises[21], 2);
}

/* FSB delivery: every timer has the capability; with Tn_FSB_EN_CNF the match writes Tn_FSB_INT_ROUTE's value to its
 * address (one message per match, level type or not), no IOAPIC line moves and GINTR_STA stays clear; legacy
 * replacement keeps timers 0 and 1 on IRQ0 and IRQ8 even so. */
TEST(hpet_fsb_delivery_sends_the_message)
{
	setup();
	for (unsigned int n = 0; n < HPET_NR_TIMERS; n++)
		CHECK(rd(HPET_TN_CONF(n), 8) & HPET_TN_FSB_CAP);
	wr(HPET_TN_FSB(2), 8, 0xfee01000ULL << 32 | 0x4051);
	CHECK_EQ(rd(HPET_TN_FSB(2), 8), 0xfee01000ULL << 32 | 0x4051);
	wr(HPET_TN_FSB(2), 4, 0x52); /* the data alone, as a 32-bit write */
	CHECK_EQ(rd(HPET_TN_FSB(2) + 4, 4), 0xfee01000);
	wr(HPET_TN_CONF(2), 8, HPET_TN_INT_ENB | HPET_TN_FSB_EN | HPET_TN_LEVEL | 21ULL << HPET_TN_ROUTE_SHIFT);
	CHECK(rd(HPET_TN_CONF(2), 8) & HPET_TN_FSB_EN);
	wr(HPET_TN_CMP(2), 8, 5000);
	enable(0);
	at(4999);
	CHECK_EQ(fake_vm.msis, 0);
	at(5000);
	CHECK_EQ(fake_vm.msis, 1);
	CHECK_EQ(fake_vm.msi_addr, 0xfee01000);
	CHECK_EQ(fake_vm.msi_data, 0x52);
	CHECK_EQ(fake_vm.irq_rises[21], 0);
	CHECK_EQ(rd(HPET_GINTR_STA, 8), 0);
	at(50000000);
	CHECK_EQ(fake_vm.msis, 1);
	/* Legacy replacement: timer 0 with FSB enabled still drives IRQ0. */
	wr(HPET_TN_FSB(0), 8, 0xfee00000ULL << 32 | 0x53);
	wr(HPET_TN_CONF(0), 8, HPET_TN_INT_ENB | HPET_TN_FSB_EN);
	wr(HPET_TN_CMP(0), 8, 50001000);
	wr(HPET_GEN_CONF, 8, HPET_CONF_ENABLE | HPET_CONF_LEG_RT);
	at(50001000);
	CHECK_EQ(fake_vm.msis, 1);
	CHECK_EQ(fake_vm.irq_rises[0], 1);
}

TEST(hpet_32bit_one_shot_matches_again_after_the_wrap)
{
	setup();
	wr(HPET_TN_CONF(1), 8, HPET_TN_INT_ENB | HPET_TN_32BIT | 20ULL << HPET_TN_ROUTE_SHIFT);
	wr(HPET_TN_CMP(1), 8, 0x1200000010ULL); /* the upper half does not exist in 32-bit mode */
	CHECK_EQ(rd(HPET_TN_CMP(1), 8), 0x10);
	enable(0);
	at(0x10);
	CHECK_EQ(fake_vm.irq_rises[20], 1);
	at(0x100000000ULL + 0xf);
	CHECK_EQ(fake_vm.irq_rises[20], 1);
	at(0x100000000ULL + 0x10);
	CHECK_EQ(fake_vm.irq_rises[20], 2);
}

/* Linux's periodic set-up (hpet_clkevt_set_periodic): 32-bit mode, VAL_SET with the first comparator write, which
 * sets the accumulator, then the period alone. */
TEST(hpet_periodic_fires_every_period_and_skips_missed_ones)
{
	setup();
	enable(0);
	at(100);
	wr(HPET_TN_CONF(0), 8,
	   HPET_TN_INT_ENB | HPET_TN_PERIODIC | HPET_TN_VAL_SET | HPET_TN_32BIT | 22ULL << HPET_TN_ROUTE_SHIFT);
	wr(HPET_TN_CMP(0), 4, 100 + 20000);
	wr(HPET_TN_CMP(0), 4, 20000);
	at(20099);
	CHECK_EQ(fake_vm.irq_rises[22], 0);
	at(20100);
	CHECK_EQ(fake_vm.irq_rises[22], 1);
	CHECK_EQ(rd(HPET_TN_CMP(0), 8), 40100); /* the accumulator moved on by the period */
	at(200100);
	CHECK_EQ(fake_vm.irq_rises[22], 10);
	/* A host 5.5 periods late: one interrupt, and the accumulator beyond the counter on the same grid. */
	fake_vm_run_late(&vm, t_enable + 310100 * TICK);
	CHECK_EQ(fake_vm.irq_rises[22], 11);
	CHECK_EQ(rd(HPET_TN_CMP(0), 8), 320100);
	at(320100);
	CHECK_EQ(fake_vm.irq_rises[22], 12);
	/* Interrupt disabled: nothing, and nothing armed. */
	wr(HPET_TN_CONF(0), 8, HPET_TN_PERIODIC | HPET_TN_32BIT | 22ULL << HPET_TN_ROUTE_SHIFT);
	at(600000);
	CHECK_EQ(fake_vm.irq_rises[22], 12);
	CHECK_EQ(vm_timers_next(&vm), ~0ULL);
}

/* A period below the floor: at most one interrupt per HPET_MIN_PERIOD_TICKS, the accumulator still on its grid. */
TEST(hpet_periodic_floor_bounds_the_interrupt_rate)
{
	setup();
	wr(HPET_TN_CONF(0), 8, HPET_TN_INT_ENB | HPET_TN_PERIODIC | HPET_TN_VAL_SET | 22ULL << HPET_TN_ROUTE_SHIFT);
	wr(HPET_TN_CMP(0), 8, 7);
	wr(HPET_TN_CMP(0), 8, 3); /* a period of 3 ticks, 30 ns */
	enable(0);
	u64 runs = fake_vm_run_until(&vm, t_enable + 100 * HPET_MIN_PERIOD_TICKS * TICK);
	CHECK(fake_vm.irq_rises[22] >= 99 && fake_vm.irq_rises[22] <= 101);
	CHECK(runs <= 101);
	CHECK_EQ((rd(HPET_TN_CMP(0), 8) - 7) % 3, 0);
}

TEST(hpet_level_interrupt_holds_until_status_cleared)
{
	setup();
	wr(HPET_TN_CONF(1), 8, HPET_TN_INT_ENB | HPET_TN_LEVEL | 23ULL << HPET_TN_ROUTE_SHIFT);
	wr(HPET_TN_CMP(1), 8, 300);
	enable(0);
	at(300);
	CHECK_EQ(fake_vm.irq_level[23], 1);
	CHECK_EQ(rd(HPET_GINTR_STA, 8), BIT(1));
	wr(HPET_GINTR_STA, 8, BIT(0)); /* another timer's bit: nothing */
	CHECK_EQ(fake_vm.irq_level[23], 1);
	wr(HPET_GINTR_STA, 4, BIT(1));
	CHECK_EQ(fake_vm.irq_level[23], 0);
	CHECK_EQ(rd(HPET_GINTR_STA, 8), 0);
	/* Halting the HPET with the status set drops the line; enabling again raises it. */
	wr(HPET_TN_CMP(1), 8, 400);
	at(400);
	CHECK_EQ(fake_vm.irq_level[23], 1);
	wr(HPET_GEN_CONF, 8, 0);
	CHECK_EQ(fake_vm.irq_level[23], 0);
	wr(HPET_GEN_CONF, 8, HPET_CONF_ENABLE);
	CHECK_EQ(fake_vm.irq_level[23], 1);
	CHECK_EQ(fake_vm.irq_rises[23], 3);
}

TEST(hpet_route_outside_the_capability_raises_nothing)
{
	setup();
	wr(HPET_TN_CONF(2), 8, HPET_TN_INT_ENB | 5ULL << HPET_TN_ROUTE_SHIFT);
	wr(HPET_TN_CMP(2), 8, 10);
	enable(0);
	at(20);
	for (unsigned int i = 0; i < VM_NR_IRQS; i++)
		CHECK_EQ(fake_vm.irq_rises[i], 0);
}

/* Legacy replacement: timer 0 on IRQ0, timer 1 on IRQ8, whatever their routes say; the PIT's and RTC's drives of
 * those lines reach nothing until LEG_RT_CNF is cleared again. Timer 2 keeps its route. */
TEST(hpet_legacy_replacement_takes_irq0_and_irq8)
{
	setup();
	vm_pulse_irq(&vm, 0); /* the PIT, before */
	CHECK_EQ(fake_vm.irq_rises[0], 1);
	wr(HPET_TN_CONF(0), 8, HPET_TN_INT_ENB | 20ULL << HPET_TN_ROUTE_SHIFT);
	wr(HPET_TN_CMP(0), 8, 100);
	wr(HPET_TN_CONF(1), 8, HPET_TN_INT_ENB | 20ULL << HPET_TN_ROUTE_SHIFT);
	wr(HPET_TN_CMP(1), 8, 200);
	wr(HPET_TN_CONF(2), 8, HPET_TN_INT_ENB | 20ULL << HPET_TN_ROUTE_SHIFT);
	wr(HPET_TN_CMP(2), 8, 300);
	enable(HPET_CONF_LEG_RT);
	vm_pulse_irq(&vm, 0);  /* the PIT, cut off */
	vm_set_irq(&vm, 8, 1); /* the RTC, cut off */
	CHECK_EQ(fake_vm.irq_rises[0], 1);
	CHECK_EQ(fake_vm.irq_rises[8], 0);
	at(100);
	CHECK_EQ(fake_vm.irq_rises[0], 2);
	at(200);
	CHECK_EQ(fake_vm.irq_rises[8], 1);
	CHECK_EQ(fake_vm.irq_rises[20], 0);
	at(300);
	CHECK_EQ(fake_vm.irq_rises[20], 1);
	/* Legacy off: the PIT has its line back. */
	wr(HPET_GEN_CONF, 8, HPET_CONF_ENABLE);
	vm_pulse_irq(&vm, 0);
	CHECK_EQ(fake_vm.irq_rises[0], 3);
}

/* Odd sizes and offsets work byte-wise on the 64-bit registers, and a write across two registers reaches both. */
TEST(hpet_any_access_size_works_bytewise)
{
	setup();
	CHECK_EQ(rd(HPET_GCAP_ID + 1, 1), 0xa2); /* NUM_TIM_CAP 2, COUNT_SIZE_CAP, LEG_RT_CAP */
	CHECK_EQ(rd(HPET_GCAP_ID + 2, 2), 0x8086);
	wr(HPET_TN_CMP(0) + 4, 8, 0x0000000b0000000aULL); /* comparator 0 high half, then timer 0's FSB route */
	CHECK_EQ(rd(HPET_TN_CMP(0), 8), 0x0000000affffffffULL);
	wr(HPET_TN_CMP(0) + 1, 2, 0x1234);
	CHECK_EQ(rd(HPET_TN_CMP(0), 8), 0x0000000aff1234ffULL);
	CHECK_EQ(rd(HPET_SIZE - 4, 8), 0xffffffff00000000ULL); /* the last register, then past the HPET */
}

TEST(hpet_init_checks)
{
	setup();
	CHECK_EQ(hpet_dev_init(&vm), -EEXIST);
	fake_vm_destroy(&vm);
	fake_vm_init(&vm, 0);
	CHECK_EQ(hpet_dev_init(&vm), -EINVAL); /* no TSC rate */
}

/* A match beyond the longest arm (2^40 ticks) is reached in steps, and fires once, at its tick. */
TEST(hpet_far_match_is_armed_in_steps)
{
	setup();
	wr(HPET_TN_CONF(0), 8, HPET_TN_INT_ENB | 20ULL << HPET_TN_ROUTE_SHIFT);
	wr(HPET_TN_CMP(0), 8, (3ULL << 40) + 7);
	enable(0);
	at((3ULL << 40) + 6);
	CHECK_EQ(fake_vm.irq_rises[20], 0);
	CHECK(vm_timers_next(&vm) <= t_enable + ((3ULL << 40) + 7) * TICK);
	at((3ULL << 40) + 7);
	CHECK_EQ(fake_vm.irq_rises[20], 1);
}

/* vCPU 0 took the due timer off the list; another vCPU disables its interrupt before the callback runs: nothing. */
TEST(hpet_fire_rechecks_after_a_racing_write)
{
	setup();
	wr(HPET_TN_CONF(0), 8, HPET_TN_INT_ENB | 20ULL << HPET_TN_ROUTE_SHIFT);
	wr(HPET_TN_CMP(0), 8, 10);
	enable(0);
	fake_vm.tsc = t_enable + 10 * TICK;
	struct vtimer *t = fake_vm_timer_take(&vm);
	CHECK(t != NULL);
	wr(HPET_TN_CONF(0), 8, 20ULL << HPET_TN_ROUTE_SHIFT);
	t->fire(t, fake_vm.tsc);
	CHECK_EQ(fake_vm.irq_rises[20], 0);
	CHECK_EQ(vm_timers_next(&vm), ~0ULL);
}
