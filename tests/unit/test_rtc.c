/* Unit tests of the CMOS RTC (vm/dev/rtc.c): the date and time a guest reads through ports 0x70/0x71 at chosen points
 * of simulated time, in each register format, across month, leap-day and century boundaries; SET and the divider
 * reset; register C and the IRQ8 edges the fake run loop sees; and the host-clock reader against a fake CMOS. */
#include <string.h>

#include "test.h"
#include "fake_platform.h"
#include "fake_vm.h"
#include "hv/errno.h"
#include "vm/dev/dev.h"

#define TSC_HZ 3000000000ULL
#define T0     1000000000000ULL

/* 2024-06-15 13:45:30, a Saturday. */
#define EPOCH_JUNE 1718459130ULL

static struct vm vm;

static u8 cmos(u8 idx)
{
	u64 v = 0xdead;

	CHECK_EQ(io_bus_write(&vm.pio, NULL, 0x70, 1, idx), 0);
	CHECK_EQ(io_bus_read(&vm.pio, NULL, 0x71, 1, &v), 0);
	return (u8)v;
}

static void cmos_write(u8 idx, u8 val)
{
	CHECK_EQ(io_bus_write(&vm.pio, NULL, 0x70, 1, idx), 0);
	CHECK_EQ(io_bus_write(&vm.pio, NULL, 0x71, 1, val), 0);
}

static void setup(u64 epoch)
{
	fake_vm_destroy(&vm);
	fake_vm_init(&vm, 0);
	vm.tsc_hz = TSC_HZ;
	fake_vm.tsc = T0;
	CHECK_EQ(rtc_dev_init(&vm, epoch), 0);
}

/* Simulated time since creation, in milliseconds and microseconds. */
static void at_us(u64 us)
{
	fake_vm_run_until(&vm, T0 + us * (TSC_HZ / 1000000));
}

static void at_ms(u64 ms)
{
	at_us(ms * 1000);
}

/* Registers 0x00-0x09 and the century, as {sec, min, hour, wday, mday, month, year, century}. */
static void check_time(u8 sec, u8 min, u8 hour, u8 wday, u8 mday, u8 mon, u8 year, u8 century)
{
	CHECK_EQ(cmos(0x00), sec);
	CHECK_EQ(cmos(0x02), min);
	CHECK_EQ(cmos(0x04), hour);
	CHECK_EQ(cmos(0x06), wday);
	CHECK_EQ(cmos(0x07), mday);
	CHECK_EQ(cmos(0x08), mon);
	CHECK_EQ(cmos(0x09), year);
	CHECK_EQ(cmos(0x32), century);
}

/* What a guest's RTC interrupt handler does on each IRQ8 edge until `end` (ms): read register C. Returns the edges. */
static u32 service_irq8_until(u64 end_ms, u8 *last_c)
{
	u64 end = T0 + end_ms * (TSC_HZ / 1000);
	u32 before = fake_vm.irq_rises[8];

	for (int guard = 0; fake_vm.tsc < end && guard < 100000; guard++) {
		u64 next = vm_timers_next(&vm);

		fake_vm_run_until(&vm, MIN(next, end));
		if (fake_vm.irq_level[8]) {
			u8 c = cmos(0x0c);

			if (last_c)
				*last_c = c;
		}
	}
	return fake_vm.irq_rises[8] - before;
}

TEST(rtc_reads_the_epoch_in_bcd_24_hour)
{
	setup(EPOCH_JUNE);
	check_time(0x30, 0x45, 0x13, 0x07, 0x15, 0x06, 0x24, 0x20);
	CHECK_EQ(cmos(0x0a), 0x26);
	CHECK_EQ(cmos(0x0b), 0x02);
	CHECK_EQ(cmos(0x0c), 0x00);
	CHECK_EQ(cmos(0x0d), 0x80);
	CHECK_EQ(fake_vm.irq_calls, 0);
	CHECK_EQ(vm_timers_next(&vm), ~0ULL); /* no interrupt enabled: no timer */
}

TEST(rtc_binary_and_12_hour_formats)
{
	setup(EPOCH_JUNE);
	cmos_write(0x0b, 0x06); /* binary, 24 h */
	check_time(30, 45, 13, 7, 15, 6, 24, 20);
	cmos_write(0x0b, 0x04); /* binary, 12 h: 1 PM */
	CHECK_EQ(cmos(0x04), 0x81);
	cmos_write(0x0b, 0x00); /* BCD, 12 h */
	CHECK_EQ(cmos(0x04), 0x81);
	setup(1718411400ULL); /* 00:30:00 is 12 AM */
	cmos_write(0x0b, 0x00);
	CHECK_EQ(cmos(0x04), 0x12);
	cmos_write(0x0b, 0x04);
	CHECK_EQ(cmos(0x04), 12);
	at_ms(12 * 3600 * 1000ULL); /* 12:30:00 is 12 PM */
	CHECK_EQ(cmos(0x04), 0x80 | 12);
	cmos_write(0x0b, 0x00);
	CHECK_EQ(cmos(0x04), 0x92);
}

TEST(rtc_advances_with_the_tsc)
{
	setup(EPOCH_JUNE);
	at_ms(999);
	CHECK_EQ(cmos(0x00), 0x30);
	at_ms(1000);
	CHECK_EQ(cmos(0x00), 0x31);
	at_ms(30000);
	CHECK_EQ(cmos(0x00), 0x00);
	CHECK_EQ(cmos(0x02), 0x46);
	at_ms((10 * 3600 + 14 * 60 + 30) * 1000ULL); /* 24:00:00: Sunday the 16th */
	check_time(0x00, 0x00, 0x00, 0x01, 0x16, 0x06, 0x24, 0x20);
	at_ms((15 * 24 * 3600 + 10 * 3600 + 14 * 60 + 30) * 1000ULL); /* July 1st */
	check_time(0x00, 0x00, 0x00, 0x02, 0x01, 0x07, 0x24, 0x20);
}

TEST(rtc_leap_day_rollovers)
{
	setup(1709164798ULL); /* 2024-02-28 23:59:58 */
	at_ms(2000);
	check_time(0x00, 0x00, 0x00, 0x05, 0x29, 0x02, 0x24, 0x20);
	at_ms(2000 + 86400 * 1000ULL);
	check_time(0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x24, 0x20);
	setup(1677628799ULL); /* 2023-02-28 23:59:59 */
	at_ms(1000);
	check_time(0x00, 0x00, 0x00, 0x04, 0x01, 0x03, 0x23, 0x20);
	setup(951782399ULL); /* 2000-02-28: divisible by 400, a leap year */
	at_ms(1000);
	CHECK_EQ(cmos(0x07), 0x29);
	setup(4107542399ULL); /* 2100-02-28: divisible by 100, not one */
	at_ms(1000);
	check_time(0x00, 0x00, 0x00, 0x02, 0x01, 0x03, 0x00, 0x21);
}

TEST(rtc_year_and_century_rollover)
{
	setup(4102444799ULL); /* 2099-12-31 23:59:59, Thursday */
	check_time(0x59, 0x59, 0x23, 0x05, 0x31, 0x12, 0x99, 0x20);
	at_ms(1000);
	check_time(0x00, 0x00, 0x00, 0x06, 0x01, 0x01, 0x00, 0x21);
	setup(946684799ULL); /* 1999-12-31 23:59:59 */
	CHECK_EQ(cmos(0x32), 0x19);
	at_ms(1000);
	check_time(0x00, 0x00, 0x00, 0x07, 0x01, 0x01, 0x00, 0x20);
	cmos_write(0x0b, 0x06);
	CHECK_EQ(cmos(0x32), 20);
}

TEST(rtc_set_freezes_the_clock_and_sets_the_time)
{
	setup(EPOCH_JUNE);
	cmos_write(0x0b, 0x12); /* UIE */
	at_ms(10500);
	cmos_write(0x0b, 0x92); /* SET clears UIE */
	CHECK_EQ(cmos(0x0b), 0x82);
	CHECK_EQ(cmos(0x00), 0x40);
	at_ms(15999); /* frozen, and no update in progress is ever shown */
	CHECK_EQ(cmos(0x00), 0x40);
	CHECK_EQ(cmos(0x0a) & 0x80, 0);
	/* 2030-01-02 03:04:05, a Wednesday (the day of the week is computed, whatever is written) */
	cmos_write(0x09, 0x30);
	cmos_write(0x08, 0x01);
	cmos_write(0x07, 0x02);
	cmos_write(0x04, 0x03);
	cmos_write(0x02, 0x04);
	cmos_write(0x00, 0x05);
	cmos_write(0x06, 0x07);
	CHECK_EQ(cmos(0x09), 0x30); /* raw while SET */
	CHECK_EQ(cmos(0x06), 0x07);
	at_ms(20500);
	cmos_write(0x0b, 0x02);
	check_time(0x05, 0x04, 0x03, 0x04, 0x02, 0x01, 0x30, 0x20);
	at_ms(20999); /* the divider kept its phase: the next update is on the whole second */
	CHECK_EQ(cmos(0x00), 0x05);
	at_ms(21000);
	CHECK_EQ(cmos(0x00), 0x06);
	at_ms(22500);
	CHECK_EQ(cmos(0x00), 0x07);
	/* No update interrupt happened while SET held the clock, and UIE stayed off. */
	CHECK_EQ(cmos(0x0c) & 0x10, 0x10); /* updates since the release */
	CHECK_EQ(fake_vm.irq_rises[8], 1); /* only the one before SET */
}

TEST(rtc_12_hour_values_survive_set)
{
	setup(EPOCH_JUNE);
	cmos_write(0x0b, 0x80); /* SET, BCD, 12 h */
	cmos_write(0x04, 0x92); /* 12 PM */
	cmos_write(0x02, 0x00);
	cmos_write(0x00, 0x00);
	cmos_write(0x0b, 0x00);
	CHECK_EQ(cmos(0x04), 0x92);
	cmos_write(0x0b, 0x02);
	CHECK_EQ(cmos(0x04), 0x12);
	cmos_write(0x0b, 0x80);
	cmos_write(0x04, 0x81); /* 1 PM, in the 12-hour format B now selects */
	cmos_write(0x0b, 0x00);
	CHECK_EQ(cmos(0x04), 0x81);
	cmos_write(0x0b, 0x02);
	CHECK_EQ(cmos(0x04), 0x13);
	/* Garbage in a time register is clamped into range, never trusted: hour 0x3f (BCD "3F") is no hour. */
	cmos_write(0x0b, 0x82);
	cmos_write(0x04, 0x3f);
	cmos_write(0x08, 0x00);
	cmos_write(0x07, 0x99);
	cmos_write(0x0b, 0x02);
	CHECK_EQ(cmos(0x04), 0x23);
	CHECK_EQ(cmos(0x08), 0x01);
	CHECK_EQ(cmos(0x07), 0x31);
	/* February 29th is kept in 2000 and 2024, and clamped to the 28th in 2100. */
	static const u8 years[][3] = {{0x20, 0x00, 0x29}, {0x20, 0x24, 0x29}, {0x21, 0x00, 0x28}};
	for (size_t i = 0; i < ARRAY_SIZE(years); i++) {
		cmos_write(0x0b, 0x82);
		cmos_write(0x32, years[i][0]);
		cmos_write(0x09, years[i][1]);
		cmos_write(0x08, 0x02);
		cmos_write(0x07, 0x29);
		cmos_write(0x0b, 0x02);
		CHECK_EQ(cmos(0x07), years[i][2]);
		CHECK_EQ(cmos(0x32), years[i][0]);
	}
}

TEST(rtc_time_written_while_running_keeps_the_phase)
{
	setup(EPOCH_JUNE);
	at_ms(250);
	cmos_write(0x02, 0x00);					    /* minutes */
	cmos_write(0x09, 0x25);					    /* and the year */
	check_time(0x30, 0x00, 0x13, 0x01, 0x15, 0x06, 0x25, 0x20); /* 2025-06-15 is a Sunday */
	at_ms(999);
	CHECK_EQ(cmos(0x00), 0x30);
	at_ms(1000);
	CHECK_EQ(cmos(0x00), 0x31);
}

TEST(rtc_update_in_progress_window)
{
	setup(EPOCH_JUNE);
	at_us(1000000 - 300);
	CHECK_EQ(cmos(0x0a), 0x26);
	at_us(1000000 - 200); /* within 244 us of the update */
	CHECK_EQ(cmos(0x0a), 0xa6);
	CHECK_EQ(cmos(0x00), 0x30);
	at_us(1000000 + 10);
	CHECK_EQ(cmos(0x0a), 0x26);
	CHECK_EQ(cmos(0x00), 0x31);
	cmos_write(0x0a, 0xa6); /* UIP is read-only */
	at_us(1500000);
	CHECK_EQ(cmos(0x0a), 0x26);
}

TEST(rtc_register_c_and_the_periodic_interrupt)
{
	u8 c = 0;

	setup(EPOCH_JUNE);
	cmos_write(0x0b, 0x42); /* PIE at 1024 Hz */
	at_us(976);		/* 32 ticks = 976.56 us */
	CHECK_EQ(fake_vm.irq_rises[8], 0);
	at_us(977);
	CHECK_EQ(fake_vm.irq_rises[8], 1);
	CHECK_EQ(fake_vm.irq_level[8], 1);
	/* Until register C is read, IRQ8 stays high and no timer runs; the flags keep accumulating. */
	CHECK_EQ(vm_timers_next(&vm), ~0ULL);
	at_ms(1500);
	CHECK_EQ(fake_vm.irq_rises[8], 1);
	CHECK_EQ(cmos(0x0c), 0xd0); /* IRQF, PF, and UF (set even with UIE off) */
	CHECK_EQ(fake_vm.irq_level[8], 0);
	CHECK_EQ(cmos(0x0c), 0x00);
	/* A handler that reads C on each edge sees 1024 per second. */
	CHECK_EQ(service_irq8_until(2500, &c), 1024);
	CHECK_EQ(c, 0xc0);
	/* Rate select 15: 2 Hz; 3: 8192 Hz, the fastest. */
	cmos_write(0x0a, 0x2f);
	CHECK_EQ(service_irq8_until(4500, NULL), 4);
	cmos_write(0x0a, 0x23);
	CHECK_EQ(service_irq8_until(4600, NULL), 819);
	/* PIE off: no timer, and PF is still flagged, without IRQF. */
	cmos_write(0x0b, 0x02);
	cmos(0x0c);
	CHECK_EQ(vm_timers_next(&vm), ~0ULL);
	at_ms(4700);
	CHECK_EQ(cmos(0x0c), 0x40);
	/* Enabling PIE while PF is already set raises IRQ8 at once. */
	at_ms(4800);
	u32 before = fake_vm.irq_rises[8];
	cmos_write(0x0b, 0x42);
	CHECK_EQ(fake_vm.irq_rises[8], before + 1);
}

/* Several vCPUs: vCPU 0 takes the RTC's timer off the list and calls it without the lock, so another vCPU's access
 * can come in between (fake_vm_timer_take opens that window). The callback brings IRQ8 up to date from the registers
 * as they are then, and adds nothing another vCPU already consumed. */
TEST(rtc_callback_after_another_vcpu_access)
{
	struct vtimer *t;
	u64 due;

	setup(EPOCH_JUNE);
	cmos_write(0x0b, 0x42); /* PIE at 1024 Hz */
	due = vm_timers_next(&vm);
	CHECK_EQ(due, T0 + (32 * TSC_HZ + 32767) / 32768);
	fake_vm.tsc = due;
	t = fake_vm_timer_take(&vm);
	CHECK(t);
	/* vCPU 1 reads register C at the very tick: it takes PF itself, and IRQ8 never rises for it. */
	fake_cpu_id = 1;
	CHECK_EQ(cmos(0x0c), 0xc0);
	fake_cpu_id = 0;
	t->fire(t, due);
	CHECK_EQ(fake_vm.irq_rises[8], 0);
	CHECK_EQ(cmos(0x0c), 0x00);
	CHECK_EQ(vm_timers_next(&vm), T0 + (64 * TSC_HZ + 32767) / 32768); /* the next period, once */
	at_us(1954);
	CHECK_EQ(fake_vm.irq_rises[8], 1);
	CHECK_EQ(cmos(0x0c), 0xc0);

	/* vCPU 2 turns PIE off in the window: nothing rises, nothing stays armed. */
	due = vm_timers_next(&vm);
	fake_vm.tsc = due;
	t = fake_vm_timer_take(&vm);
	fake_cpu_id = 2;
	cmos_write(0x0b, 0x02);
	fake_cpu_id = 0;
	t->fire(t, due - 1000); /* `now` from before vCPU 2's access */
	CHECK_EQ(fake_vm.irq_rises[8], 1);
	CHECK_EQ(fake_vm.irq_level[8], 0);
	CHECK_EQ(vm_timers_next(&vm), ~0ULL);
}

TEST(rtc_update_ended_interrupt_once_a_second)
{
	u8 c = 0;

	setup(EPOCH_JUNE);
	cmos_write(0x0a, 0x20); /* no periodic rate, so PF stays out of register C */
	cmos_write(0x0b, 0x12);
	CHECK_EQ(service_irq8_until(5500, &c), 5);
	CHECK_EQ(c, 0x90);
	CHECK_EQ(cmos(0x00), 0x35);
}

TEST(rtc_alarm_interrupt_with_dont_care_fields)
{
	u8 c = 0;

	setup(EPOCH_JUNE);
	cmos_write(0x01, 0x35); /* 13:45:35 */
	cmos_write(0x03, 0x45);
	cmos_write(0x05, 0x13);
	cmos_write(0x0b, 0x22); /* AIE */
	at_ms(4999);
	CHECK_EQ(fake_vm.irq_rises[8], 0);
	at_ms(5000);
	CHECK_EQ(fake_vm.irq_rises[8], 1);
	c = cmos(0x0c);
	CHECK_EQ(c & 0xa0, 0xa0);
	/* Seconds 00, any minute, any hour: once a minute, at 13:46:00, 13:47:00 ... */
	cmos_write(0x01, 0x00);
	cmos_write(0x03, 0xc0);
	cmos_write(0x05, 0xff);
	CHECK_EQ(service_irq8_until(29999, NULL), 0);
	CHECK_EQ(service_irq8_until(30000, &c), 1);
	CHECK_EQ(c & 0xa0, 0xa0);
	CHECK_EQ(service_irq8_until(150000, NULL), 2);
	/* An alarm no time matches (BCD 60 seconds) never fires and arms nothing. */
	cmos_write(0x01, 0x60);
	CHECK_EQ(vm_timers_next(&vm), ~0ULL);
	CHECK_EQ(service_irq8_until(300000, NULL), 0);
	/* 12-hour alarm: 1 PM is 0x81. */
	cmos_write(0x0b, 0x20); /* AIE, BCD, 12 h */
	cmos_write(0x01, 0x00);
	cmos_write(0x03, 0x00);
	cmos_write(0x05, 0x81);
	CHECK_EQ(service_irq8_until(24 * 3600 * 1000ULL, NULL), 1); /* 2024-06-16 13:00:00 */
}

TEST(rtc_cmos_storage_index_and_read_only_registers)
{
	u64 v;

	setup(EPOCH_JUNE);
	CHECK_EQ(io_bus_write(&vm.pio, NULL, 0x70, 1, 0x8e), 0); /* NMI-disable bit: ignored */
	CHECK_EQ(io_bus_write(&vm.pio, NULL, 0x71, 1, 0x5a), 0);
	CHECK_EQ(cmos(0x0e), 0x5a);
	cmos_write(0x0f, 0x0a); /* shutdown status: plain storage */
	CHECK_EQ(cmos(0x0f), 0x0a);
	cmos_write(0x7f, 0xa5);
	CHECK_EQ(cmos(0x7f), 0xa5);
	CHECK_EQ(cmos(0x50), 0x00);
	cmos_write(0x0d, 0x00);
	CHECK_EQ(cmos(0x0d), 0x80);
	cmos_write(0x0c, 0xff);
	CHECK_EQ(cmos(0x0c), 0x00);
	CHECK_EQ(io_bus_read(&vm.pio, NULL, 0x70, 1, &v), 0);
	CHECK_EQ(v, 0xff);
	CHECK_EQ(rtc_dev_init(&vm, 0), -EEXIST);
	fake_vm_destroy(&vm);
	fake_vm_init(&vm, 0);
	CHECK_EQ(rtc_dev_init(&vm, 0), -EINVAL); /* no TSC rate */
	vm.tsc_hz = TSC_HZ;
	CHECK_EQ(rtc_dev_init(&vm, 0), 0);
	check_time(0x00, 0x00, 0x00, 0x05, 0x01, 0x01, 0x70, 0x19); /* 1970-01-01, a Thursday */
}

TEST(rtc_divider_reset_and_linux_set_time_sequence)
{
	setup(EPOCH_JUNE);
	at_ms(2300);
	cmos_write(0x0a, 0x66); /* divider reset */
	at_ms(9000);
	CHECK_EQ(cmos(0x00), 0x32);
	cmos_write(0x0a, 0x26); /* first update half a second later */
	at_ms(9499);
	CHECK_EQ(cmos(0x00), 0x32);
	at_ms(9500);
	CHECK_EQ(cmos(0x00), 0x33);
	/* Linux's mc146818_set_time: SET, divider reset, the registers, then B and A restored. */
	at_ms(10100);
	cmos_write(0x0b, 0x82);
	cmos_write(0x0a, 0x76);
	cmos_write(0x00, 0x00);
	cmos_write(0x02, 0x00);
	cmos_write(0x04, 0x08);
	cmos_write(0x07, 0x01);
	cmos_write(0x08, 0x01);
	cmos_write(0x09, 0x25);
	at_ms(10200);
	cmos_write(0x0b, 0x02);
	cmos_write(0x0a, 0x26);
	check_time(0x00, 0x00, 0x08, 0x04, 0x01, 0x01, 0x25, 0x20); /* 2025-01-01 was a Wednesday */
	at_ms(10699);
	CHECK_EQ(cmos(0x00), 0x00);
	at_ms(10700);
	CHECK_EQ(cmos(0x00), 0x01);
}

struct fake_cmos {
	u8 regs[128];
	u32 uip_reads; /* reads of register A that still show UIP */
	u32 reads;
	u32 tick_at; /* on this read, the seconds register moves on (0: never) */
};

static u8 fake_cmos_read(void *ctx, u8 index)
{
	struct fake_cmos *f = ctx;

	f->reads++;
	if (f->tick_at && f->reads == f->tick_at)
		f->regs[0]++;
	if (index == 0x0a && f->uip_reads) {
		f->uip_reads--;
		return 0xa6;
	}
	return f->regs[index & 0x7f];
}

TEST(rtc_host_epoch_from_cmos)
{
	struct fake_cmos f = {0};

	f.regs[0x00] = 0x30;
	f.regs[0x02] = 0x45;
	f.regs[0x04] = 0x13;
	f.regs[0x07] = 0x15;
	f.regs[0x08] = 0x06;
	f.regs[0x09] = 0x24;
	f.regs[0x32] = 0x20;
	f.regs[0x0b] = 0x02;
	f.uip_reads = 50;
	CHECK_EQ(rtc_epoch_from_cmos(fake_cmos_read, &f), EPOCH_JUNE);
	CHECK_EQ(f.uip_reads, 0);
	/* A second passes between the reads: the reader goes round until two passes agree. */
	f.reads = 0;
	f.tick_at = 11; /* the seconds read of the second pass */
	CHECK_EQ(rtc_epoch_from_cmos(fake_cmos_read, &f), EPOCH_JUNE + 1);
	f.tick_at = 0;
	/* Binary, 12-hour, and no century register (taken as the 21st). */
	f.regs[0x0b] = 0x04;
	f.regs[0x00] = 30;
	f.regs[0x02] = 45;
	f.regs[0x04] = 0x81;
	f.regs[0x07] = 15;
	f.regs[0x08] = 6;
	f.regs[0x09] = 24;
	f.regs[0x32] = 0;
	CHECK_EQ(rtc_epoch_from_cmos(fake_cmos_read, &f), EPOCH_JUNE);
	/* No RTC at all: every port reads 0xff. */
	memset(f.regs, 0xff, sizeof(f.regs));
	CHECK_EQ(rtc_epoch_from_cmos(fake_cmos_read, &f), 0);
	/* UIP stuck on: the reader gives up in bounded time. */
	f.uip_reads = ~0u;
	CHECK_EQ(rtc_epoch_from_cmos(fake_cmos_read, &f), 0);
}
