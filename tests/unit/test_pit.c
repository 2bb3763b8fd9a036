/* Unit tests of the i8254 PIT and port 0x61 (vm/dev/pit.c): counters read through the I/O bus at chosen points of
 * simulated time, outputs read through the read-back status and port 0x61, and IRQ0 edges counted while the fake run
 * loop fires the device timers. The TSC runs at 3 GHz, which is no multiple of the PIT's 1.193182 MHz. */
#include <string.h>

#include "test.h"
#include "fake_platform.h"
#include "fake_vm.h"
#include "hv/errno.h"
#include "vm/dev/dev.h"

#define TSC_HZ 3000000000ULL
#define PIT_HZ 1193182ULL
#define T0     1000000000000ULL /* the TSC at VM creation: a host that has been up a while */

static struct vm vm;
static u64 t_load; /* TSC of the last count write, the origin of at() */

static u8 inb(u16 port)
{
	u64 v = 0xdead;

	CHECK_EQ(io_bus_read(&vm.pio, NULL, port, 1, &v), 0);
	return (u8)v;
}

static void outb(u16 port, u8 val)
{
	CHECK_EQ(io_bus_write(&vm.pio, NULL, port, 1, val), 0);
}

static void setup(void)
{
	fake_vm_destroy(&vm);
	fake_vm_init(&vm, 0);
	vm.tsc_hz = TSC_HZ;
	fake_vm.tsc = T0;
	CHECK_EQ(pit_dev_init(&vm), 0);
}

/* The TSC `clocks` PIT clocks after t_load, rounded up so the counter has counted them all. */
static u64 tsc_at(u64 clocks)
{
	return t_load + (clocks * TSC_HZ + PIT_HZ - 1) / PIT_HZ;
}

static void at(u64 clocks)
{
	fake_vm_run_until(&vm, tsc_at(clocks));
}

/* Program channel ch: control word, then the count LSB and MSB, and note the load time. */
static void program(unsigned int ch, u8 mode, u16 count)
{
	outb(0x43, (u8)(ch << 6 | 0x30 | mode << 1));
	outb((u16)(0x40 + ch), (u8)count);
	outb((u16)(0x40 + ch), (u8)(count >> 8));
	t_load = fake_vm.tsc;
}

/* Two reads of a channel port, LSB first. */
static u16 read16(u16 port)
{
	u16 lo = inb(port);

	return (u16)(lo | inb(port) << 8);
}

/* Counter latch, then LSB and MSB: what Linux's i8253 clocksource does. */
static u16 latch_read(unsigned int ch)
{
	outb(0x43, (u8)(ch << 6));
	return read16((u16)(0x40 + ch));
}

/* Read-back of one channel's status byte. */
static u8 status(unsigned int ch)
{
	outb(0x43, (u8)(0xe0 | 2u << ch));
	return inb((u16)(0x40 + ch));
}

static bool out(unsigned int ch)
{
	return status(ch) & 0x80;
}

TEST(pit_mode2_rate_generator_counts_and_reloads)
{
	setup();
	program(0, 2, 1000);
	CHECK_EQ(latch_read(0), 1000);
	at(1);
	CHECK_EQ(latch_read(0), 999);
	at(998);
	CHECK_EQ(latch_read(0), 2);
	CHECK(out(0));
	at(999);
	CHECK_EQ(latch_read(0), 1);
	CHECK(!out(0)); /* low for the one clock before the reload */
	at(1000);
	CHECK_EQ(latch_read(0), 1000);
	CHECK(out(0));
	at(2500);
	CHECK_EQ(latch_read(0), 500);
}

TEST(pit_mode0_counts_through_zero_and_out_rises_once)
{
	setup();
	program(0, 0, 100);
	CHECK(!out(0));
	at(50);
	CHECK_EQ(latch_read(0), 50);
	CHECK_EQ(fake_vm.irq_rises[0], 0);
	at(99);
	CHECK(!out(0));
	at(100);
	CHECK_EQ(latch_read(0), 0);
	CHECK(out(0));
	CHECK_EQ(fake_vm.irq_rises[0], 1);
	at(101);
	CHECK_EQ(latch_read(0), 0xffff); /* the counter goes on wrapping; OUT stays high */
	at(100 + 65536 * 3);
	CHECK(out(0));
	CHECK_EQ(fake_vm.irq_rises[0], 1);
	/* A new count restarts it: OUT low again, one more edge at the new terminal count. */
	program(0, 0, 10);
	CHECK(!out(0));
	at(10);
	CHECK_EQ(fake_vm.irq_rises[0], 2);
}

TEST(pit_mode3_square_wave_on_channel2_output)
{
	setup();
	outb(0x61, 0x01); /* gate 2 on, speaker off */
	program(2, 3, 100);
	CHECK_EQ(inb(0x61) & 0x21, 0x21);
	at(10);
	CHECK_EQ(latch_read(2), 80); /* by twos */
	at(49);
	CHECK(inb(0x61) & 0x20);
	at(50);
	CHECK(!(inb(0x61) & 0x20));
	CHECK_EQ(latch_read(2), 100);
	at(99);
	CHECK(!(inb(0x61) & 0x20));
	at(100);
	CHECK(inb(0x61) & 0x20);
	/* Gate low stops mode 3 with OUT high; the rising edge reloads. */
	at(160);
	CHECK(!(inb(0x61) & 0x20));
	outb(0x61, 0x00);
	CHECK(inb(0x61) & 0x20);
	u16 held = latch_read(2);
	at(1000);
	CHECK_EQ(latch_read(2), held);
	outb(0x61, 0x01);
	t_load = fake_vm.tsc;
	CHECK_EQ(latch_read(2), 100);
	at(60);
	CHECK(!(inb(0x61) & 0x20));
	CHECK_EQ(fake_vm.irq_rises[0], 0); /* channel 2 has no IRQ */
}

TEST(pit_mode4_strobe_raises_irq0_once)
{
	setup();
	program(0, 4, 50); /* Linux's one-shot clockevent: control word 0x38 */
	CHECK(out(0));
	at(49);
	CHECK(out(0));
	CHECK_EQ(fake_vm.irq_rises[0], 0);
	at(50);
	CHECK(!out(0));
	CHECK_EQ(latch_read(0), 0);
	at(51);
	CHECK(out(0));
	CHECK_EQ(fake_vm.irq_rises[0], 1);
	at(51 + 200000);
	CHECK_EQ(fake_vm.irq_rises[0], 1);
	/* Linux's next event writes only the count: the strobe re-arms. */
	outb(0x40, 20);
	outb(0x40, 0);
	t_load = fake_vm.tsc;
	at(21);
	CHECK_EQ(fake_vm.irq_rises[0], 2);
}

TEST(pit_modes_1_and_5_wait_for_a_gate_trigger)
{
	setup();
	program(2, 1, 100);
	CHECK(out(2));
	CHECK(status(2) & 0x40); /* null count until the trigger */
	at(500);
	CHECK(out(2));
	outb(0x61, 0x01); /* trigger */
	t_load = fake_vm.tsc;
	CHECK(!out(2));
	at(40);
	CHECK_EQ(latch_read(2), 60);
	outb(0x61, 0x00); /* the gate level does not matter once triggered */
	at(100);
	CHECK(out(2));
	/* Mode 5: a strobe one clock long, one trigger later. */
	program(2, 5, 30);
	at(100);
	CHECK(out(2));
	outb(0x61, 0x01);
	t_load = fake_vm.tsc;
	at(30);
	CHECK(!out(2));
	at(31);
	CHECK(out(2));
	/* Channel 0's gate never rises: mode 1 there never starts, and raises nothing. */
	program(0, 1, 10);
	at(100000);
	CHECK(out(0));
	CHECK_EQ(fake_vm.irq_rises[0], 0);
}

TEST(pit_counter_latch_holds_until_read)
{
	setup();
	program(0, 2, 1000);
	at(100);
	outb(0x43, 0x00);
	at(300);
	outb(0x43, 0x00); /* a second latch before the first is read is ignored */
	CHECK_EQ(inb(0x40), 900 & 0xff);
	at(400);
	CHECK_EQ(inb(0x40), 900 >> 8);
	/* Unlatched, the lohi flip-flop reads the live counter. */
	CHECK_EQ(read16(0x40), 600);
	CHECK_EQ(latch_read(0), 600);
}

TEST(pit_read_back_status_then_count)
{
	setup();
	outb(0x43, 0x34);
	CHECK_EQ(status(0), 0x80 | 0x40 | 0x30 | 0x04); /* OUT high, null count, lohi, mode 2 */
	outb(0x40, 0x10);
	outb(0x40, 0x27); /* 10000 */
	t_load = fake_vm.tsc;
	at(10);
	/* 0xc2: count and status of channel 0. Status comes first, then LSB and MSB. */
	outb(0x43, 0xc2);
	at(20);
	CHECK_EQ(inb(0x40), 0xb4);
	CHECK_EQ(inb(0x40), (9990 & 0xff));
	CHECK_EQ(inb(0x40), 9990 >> 8);
	/* 0xea: status only, of channels 0 and 2, each latched for its own port; 0xd2: count only. */
	outb(0x43, 0xea);
	CHECK_EQ(inb(0x42), 0xf6); /* channel 2 at power-on: OUT high, no count yet, lohi, mode 3 */
	CHECK_EQ(inb(0x40), 0xb4);
	outb(0x43, 0xd2);
	CHECK_EQ(read16(0x40), 9980);
	/* Mode bits 6 and 7 read back as written and behave as 2 and 3. */
	outb(0x43, 0x3c | 0x02);
	CHECK_EQ(status(0) & 0x0e, 0x0e);
	CHECK_EQ(inb(0x43), 0xff); /* the control register is write-only */
}

TEST(pit_lsb_msb_and_lohi_access_orders)
{
	setup();
	/* LSB only: the MSB of the count is 0, and every read returns the LSB. */
	outb(0x43, 0x14);
	outb(0x40, 0x50);
	t_load = fake_vm.tsc;
	at(0x10);
	CHECK_EQ(inb(0x40), 0x40);
	CHECK_EQ(inb(0x40), 0x40);
	/* MSB only: the LSB is 0. */
	outb(0x43, 0x24);
	outb(0x40, 0x12);
	t_load = fake_vm.tsc;
	at(0x100);
	CHECK_EQ(inb(0x40), 0x11);
	outb(0x43, 0x00);
	CHECK_EQ(inb(0x40), 0x11); /* a latch in MSB mode gives one byte */
	CHECK_EQ(inb(0x40), 0x11);
	/* LSB then MSB, and a count of 0 is 65536. */
	outb(0x43, 0x34);
	outb(0x40, 0x00);
	CHECK_EQ(fake_vm.irq_rises[0], 0);
	outb(0x40, 0x00);
	t_load = fake_vm.tsc;
	at(1);
	CHECK_EQ(inb(0x40), 0xff);
	CHECK_EQ(inb(0x40), 0xff);
	at(65536);
	CHECK_EQ(fake_vm.irq_rises[0], 1);
	/* Mode 0 stops on the first byte of a new count and restarts on the second. */
	program(0, 0, 1000);
	at(100);
	outb(0x40, 0x20);
	at(5000);
	CHECK(!out(0));
	CHECK_EQ(latch_read(0), 900);
	outb(0x40, 0x00);
	t_load = fake_vm.tsc;
	at(0x20);
	CHECK(out(0));
}

TEST(pit_bcd_counts_in_decimal)
{
	setup();
	outb(0x43, 0x35); /* mode 2, BCD */
	outb(0x40, 0x00);
	outb(0x40, 0x10); /* 1000 decimal */
	t_load = fake_vm.tsc;
	at(1);
	CHECK_EQ(latch_read(0), 0x0999);
	at(990);
	CHECK_EQ(latch_read(0), 0x0010);
	CHECK_EQ(status(0) & 1, 1);
	/* Count 0 is 10000 in BCD; mode 0 wraps from 0 to 9999. */
	outb(0x43, 0x31);
	outb(0x40, 0x00);
	outb(0x40, 0x00);
	t_load = fake_vm.tsc;
	at(1);
	CHECK_EQ(latch_read(0), 0x9999);
	at(10000);
	CHECK_EQ(latch_read(0), 0x0000);
	CHECK_EQ(fake_vm.irq_rises[0], 1);
	/* Nonsense digits are taken at face value and never crash: 0xffff is 15*1111 = 16665, mod 10000. */
	outb(0x43, 0x35);
	outb(0x40, 0xff);
	outb(0x40, 0xff);
	t_load = fake_vm.tsc;
	CHECK_EQ(latch_read(0), 0x6665);
}

TEST(pit_channel2_gate_and_output_through_port61)
{
	setup();
	CHECK_EQ(inb(0x61) & 0x0f, 0x00);
	CHECK(inb(0x61) & 0x20); /* mode 3, gate off: OUT high */
	/* Linux's pit_calibrate_tsc: gate high, speaker off, channel 2 mode 0, 50 ms, poll OUT2. */
	outb(0x61, (u8)((inb(0x61) & ~0x02) | 0x01));
	outb(0x43, 0xb0);
	outb(0x42, (u8)59659);
	outb(0x42, (u8)(59659 >> 8));
	t_load = fake_vm.tsc;
	CHECK(!(inb(0x61) & 0x20));
	at(59658);
	CHECK(!(inb(0x61) & 0x20));
	at(59659);
	CHECK(inb(0x61) & 0x20);
	/* Gate low pauses mode 0 and gate high resumes it. */
	program(2, 0, 1000);
	at(300);
	outb(0x61, 0x00);
	fake_vm_run_until(&vm, fake_vm.tsc + TSC_HZ);
	CHECK_EQ(latch_read(2), 700);
	outb(0x61, 0x0d); /* the other writable bits read back */
	CHECK_EQ(inb(0x61) & 0x0f, 0x0d);
	t_load = fake_vm.tsc;
	at(699);
	CHECK(!(inb(0x61) & 0x20));
	at(700);
	CHECK(inb(0x61) & 0x20);
	/* Bit 4 toggles with the refresh clock every 15.085 us (66291 Hz): sample the middle of three intervals. */
	for (u64 k = 1000000; k < 1000003; k++) {
		fake_vm_run_until(&vm, T0 + (2 * k + 1) * TSC_HZ / (2 * 66291));
		CHECK_EQ(inb(0x61) & 0x10, (k & 1) << 4);
	}
}

/* Edges at k * count clocks after the load, for k >= 1, up to `clocks`. */
TEST(pit_irq0_pulses_at_the_programmed_rate_without_drift)
{
	u64 runs;

	setup();
	program(0, 2, 11932); /* 100 Hz */
	runs = fake_vm_run_until(&vm, tsc_at(PIT_HZ));
	CHECK_EQ(fake_vm.irq_rises[0], PIT_HZ / 11932);
	CHECK_EQ(runs, PIT_HZ / 11932);
	CHECK_EQ(fake_vm.irq_level[0], 0); /* each edge is a pulse */
	/* Linux's periodic tick at HZ=250 for ten seconds: no edge lost or gained to rounding. */
	program(0, 2, 4773);
	u32 before = fake_vm.irq_rises[0];
	at(10 * PIT_HZ);
	CHECK_EQ(fake_vm.irq_rises[0] - before, 10 * PIT_HZ / 4773);
	/* Mode 3 raises at the same rate. */
	program(0, 3, 4773);
	before = fake_vm.irq_rises[0];
	at(PIT_HZ);
	CHECK_EQ(fake_vm.irq_rises[0] - before, PIT_HZ / 4773);
}

TEST(pit_late_host_replays_missed_ticks)
{
	setup();
	program(0, 2, 1000);
	fake_vm_run_late(&vm, tsc_at(5500)); /* five edges were due: one pulse now, four owed */
	CHECK_EQ(fake_vm.irq_rises[0], 1);
	at(5999); /* one replay a quarter period later, at 5750 */
	CHECK_EQ(fake_vm.irq_rises[0], 2);
	at(6000); /* the real edge stays on the original grid */
	CHECK_EQ(fake_vm.irq_rises[0], 3);
	at(7000); /* the other three replays, then the edge at 7000: no tick lost, seven edges in all */
	CHECK_EQ(fake_vm.irq_rises[0], 7);
	at(9000); /* caught up: back to one per period */
	CHECK_EQ(fake_vm.irq_rises[0], 9);
}

/* Several vCPUs: vCPU 0 takes the IRQ0 timer off the list and calls it without the PIT's lock, so another vCPU can
 * reprogram channel 0 in between (fake_vm_timer_take opens that window). The callback must follow the channel as it
 * is by then: no pulse for an edge the new count does not have, and the new schedule, not the old one. */
TEST(pit_irq0_callback_after_another_vcpu_reprograms)
{
	struct vtimer *t;
	u64 due;

	setup();
	program(0, 2, 1000);
	due = vm_timers_next(&vm);
	CHECK_EQ(due, tsc_at(1000));
	fake_vm.tsc = due;
	t = fake_vm_timer_take(&vm);
	CHECK(t);
	fake_cpu_id = 1;
	program(0, 2, 5000); /* a new count from now */
	fake_cpu_id = 0;
	CHECK_EQ(vm_timers_next(&vm), tsc_at(5000));
	t->fire(t, due);
	CHECK_EQ(fake_vm.irq_rises[0], 0);
	CHECK_EQ(vm_timers_next(&vm), tsc_at(5000));
	at(5000);
	CHECK_EQ(fake_vm.irq_rises[0], 1);
	at(10000);
	CHECK_EQ(fake_vm.irq_rises[0], 2);

	/* Stopped by a control word in the window: no pulse, no timer. */
	due = vm_timers_next(&vm);
	fake_vm.tsc = due;
	t = fake_vm_timer_take(&vm);
	fake_cpu_id = 2;
	outb(0x43, 0x34);
	fake_cpu_id = 0;
	t->fire(t, due);
	CHECK_EQ(fake_vm.irq_rises[0], 2);
	CHECK_EQ(vm_timers_next(&vm), ~0ULL);

	/* A callback whose `now` is older than another vCPU's load: the channel's time does not run backwards. */
	program(0, 2, 3000);
	due = vm_timers_next(&vm);
	fake_vm.tsc = due;
	t = fake_vm_timer_take(&vm);
	fake_cpu_id = 1;
	fake_vm.tsc = due + 10;
	program(0, 2, 3000); /* reloaded 10 TSC ticks after the edge it replaces */
	fake_cpu_id = 0;
	t->fire(t, due);
	CHECK_EQ(fake_vm.irq_rises[0], 2);
	CHECK_EQ(vm_timers_next(&vm), tsc_at(3000));
	at(3000);
	CHECK_EQ(fake_vm.irq_rises[0], 3);
}

TEST(pit_tiny_periods_are_clamped)
{
	u64 runs;

	setup();
	program(0, 2, 2);
	runs = fake_vm_run_until(&vm, tsc_at(PIT_HZ));
	/* At most one edge per 120 clocks (100 us), on the grid of whole periods. */
	CHECK_EQ(fake_vm.irq_rises[0], PIT_HZ / 120);
	CHECK(runs <= PIT_HZ / 120);
	/* The counter itself still runs at the programmed count. */
	at(PIT_HZ + 1);
	CHECK_EQ(latch_read(0), 1);
	program(0, 3, 1);
	u32 before = fake_vm.irq_rises[0];
	at(PIT_HZ);
	CHECK_EQ(fake_vm.irq_rises[0] - before, PIT_HZ / 120);
}

TEST(pit_power_on_state_and_control_word_stop)
{
	setup();
	t_load = T0;
	/* No BIOS: mode 3 and lohi selected, no count, nothing ticking, no host timer armed. */
	CHECK_EQ(status(0), 0xf6);
	CHECK_EQ(vm_timers_next(&vm), ~0ULL);
	at(PIT_HZ);
	CHECK_EQ(fake_vm.irq_rises[0], 0);
	CHECK_EQ(latch_read(0), 0);
	/* The first count starts it: 18.2 Hz from a count of 0 (65536), as a BIOS would program it. */
	outb(0x40, 0);
	outb(0x40, 0);
	t_load = fake_vm.tsc;
	at(PIT_HZ);
	CHECK_EQ(fake_vm.irq_rises[0], PIT_HZ / 65536);
	CHECK_EQ(status(0) & 0x3f, 0x36);
	/* A control word alone stops the channel until its count arrives. */
	program(0, 2, 100);
	at(50);
	outb(0x43, 0x34);
	u32 before = fake_vm.irq_rises[0];
	at(100000);
	CHECK_EQ(fake_vm.irq_rises[0], before);
	CHECK_EQ(latch_read(0), 50);
	CHECK_EQ(vm_timers_next(&vm), ~0ULL); /* and no host timer is armed for it */
}

TEST(pit_init_errors_and_wide_access)
{
	setup();
	CHECK_EQ(pit_dev_init(&vm), -EEXIST);
	fake_vm_destroy(&vm);
	fake_vm_init(&vm, 0);
	CHECK_EQ(pit_dev_init(&vm), -EINVAL); /* no TSC rate */
	vm.tsc_hz = TSC_HZ;
	CHECK_EQ(pit_dev_init(&vm), 0);
	/* Wider accesses are byte runs: a 16-bit IN at 0x42 reads channel 2, then the write-only control port. */
	u64 v;
	outb(0x43, 0xb4);
	CHECK_EQ(io_bus_write(&vm.pio, NULL, 0x42, 2, 0x0034), 0); /* LSB 0x34, then 0x00 to 0x43: a latch of ch 0 */
	outb(0x42, 0x12);
	CHECK_EQ(io_bus_read(&vm.pio, NULL, 0x42, 2, &v), 0);
	CHECK_EQ(v, 0xff34);
	CHECK_EQ(io_bus_read(&vm.pio, NULL, 0x61, 4, &v), 0);
	CHECK_EQ(v >> 8, 0xffffff);
}
