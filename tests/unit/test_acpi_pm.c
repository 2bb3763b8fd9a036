/* Unit tests for vm/dev/acpi_pm.c: every access goes through the VM's real port bus, time is a fake TSC the test
 * moves, the SCI is observed at the IOAPIC end of vm_set_irq, and vm_end is the fake that records its arguments. */
#include <stdlib.h>
#include <string.h>

#include "fake_platform.h"
#include "fake_vm.h"
#include "hv/errno.h"
#include "test.h"
#include "vm/dev/acpi_tables.h"
#include "vm/vtimer.h"

#define PM     0x600
#define RESET  0xcf9
#define TSC_HZ 2893456789ULL /* an awkward rate: nothing divides evenly */
#define T0     123456789ULL  /* the TSC when the device is created */

static struct vm vm;
static void *pm;
static u64 fake_tsc;
static int sci_level[VM_NR_IRQS];
static u32 sci_changes;

static u64 fake_now(void)
{
	return fake_tsc;
}

static void fake_ioapic_set_irq(struct vm *v, unsigned int pin, int level)
{
	if (sci_level[pin] != level)
		sci_changes++;
	sci_level[pin] = level;
}

static struct acpi_build_cfg default_cfg(void)
{
	return (struct acpi_build_cfg){
	    .base = 0xe0000,
	    .len = 0x20000,
	    .nr_vcpus = 1,
	    .ioapic_addr = 0xfec00000,
	    .pm_port = PM,
	    .sci_irq = 9,
	    .reset_port = RESET,
	    .reset_value = 0x06,
	    .now = fake_now,
	};
}

static void setup_hz(u64 tsc_hz)
{
	struct acpi_build_cfg cfg = default_cfg();

	free(pm);
	pm = NULL;
	fake_vm_destroy(&vm);
	fake_vm_init(&vm, 0);
	vm.tsc_hz = tsc_hz;
	vm.ioapic_chip.set_irq = fake_ioapic_set_irq;
	memset(sci_level, 0, sizeof(sci_level));
	sci_changes = 0;
	fake_tsc = T0;
	test_last_log[0] = '\0';
	CHECK_EQ(acpi_pm_dev_init(&vm, &cfg, &pm), 0);
	CHECK(pm);
}

static void setup(void)
{
	setup_hz(TSC_HZ);
}

static u64 in(u16 port, unsigned int size)
{
	u64 v = 0xdead;

	CHECK_EQ(io_bus_read(&vm.pio, NULL, port, size, &v), 0);
	return v;
}

static void out(u16 port, unsigned int size, u64 val)
{
	CHECK_EQ(io_bus_write(&vm.pio, NULL, port, size, val), 0);
}

static u32 tmr(void)
{
	return (u32)in(PM + ACPI_PM_TMR, 4);
}

/* The exact count at tsc, computed independently in 128 bits. */
static u64 ref_count(u64 tsc, u64 hz)
{
	return (u64)((unsigned __int128)(tsc - T0) * ACPI_PM_TMR_HZ / hz);
}

static u16 slp(u32 typ, bool en)
{
	return (u16)((typ << ACPI_PM1_SLP_TYP_SHIFT) | (en ? ACPI_PM1_SLP_EN : 0));
}

TEST(timer_counts_at_3579545_hz)
{
	setup();
	CHECK_EQ(tmr(), 0);
	fake_tsc = T0 + TSC_HZ; /* one second */
	CHECK_EQ(tmr(), 3579545);
	fake_tsc = T0 + TSC_HZ / 2;
	CHECK(tmr() >= 3579545 / 2 - 1 && tmr() <= 3579545 / 2 + 1);
	fake_tsc = T0 + 10 * TSC_HZ;
	CHECK_EQ(tmr(), 35795450);
	/* One count is about 808 TSC ticks at this rate. */
	fake_tsc = T0 + 807;
	CHECK_EQ(tmr(), 0);
	fake_tsc = T0 + 809;
	CHECK_EQ(tmr(), 1);
}

TEST(timer_is_exact_and_monotonic_over_long_runs)
{
	u64 last = 0;

	setup();
	/* Up to ~2^60 TSC ticks (12 years at 2.9 GHz): the 64-bit split arithmetic equals the 128-bit reference. */
	for (u64 d = 1, i = 0; d < (1ULL << 60); d = d * 3 + (i++ % 7)) {
		fake_tsc = T0 + d;
		CHECK_EQ(tmr(), (u32)ref_count(fake_tsc, TSC_HZ));
		CHECK(ref_count(fake_tsc, TSC_HZ) >= last);
		last = ref_count(fake_tsc, TSC_HZ);
	}
	/* A TSC behind the base (a skewed CPU) reads as 0, not as a huge count. */
	fake_tsc = T0 - 1000;
	CHECK_EQ(tmr(), 0);
}

TEST(timer_wraps_at_32_bits)
{
	/* 1000 TSC ticks per count makes every count an exact TSC value. */
	setup_hz(ACPI_PM_TMR_HZ * 1000);
	fake_tsc = T0 + 0xffffffffULL * 1000;
	CHECK_EQ(tmr(), 0xffffffff);
	fake_tsc = T0 + 0x100000000ULL * 1000;
	CHECK_EQ(tmr(), 0);
	fake_tsc = T0 + 0x100000005ULL * 1000;
	CHECK_EQ(tmr(), 5);
	CHECK_EQ(in(PM + ACPI_PM_TMR, 4) >> 32, 0); /* a 32-bit read zero-extends */
}

TEST(timer_reads_bytewise_and_straddling)
{
	setup();
	fake_tsc = T0 + 0x123456789ULL;
	u32 t = tmr();
	CHECK(t > 0x10000);
	CHECK_EQ(in(PM + 8, 1) | in(PM + 9, 1) << 8 | in(PM + 10, 1) << 16 | in(PM + 11, 1) << 24, t);
	CHECK_EQ(in(PM + 10, 2), t >> 16);
	/* A dword at +6 spans the undecoded gap (all ones) and the timer's low half. */
	CHECK_EQ(in(PM + 6, 4), 0xffff | (t & 0xffff) << 16);
	/* A dword at +10 runs past the block: the two bytes beyond it read all ones. */
	CHECK_EQ(in(PM + 10, 4), (t >> 16) | 0xffff0000u);
	/* Writes to the timer are ignored. */
	out(PM + 8, 4, 0);
	CHECK_EQ(tmr(), t);
}

TEST(pm1_sts_is_write_one_to_clear)
{
	struct vcpu vc = {.vm = &vm};

	setup();
	CHECK_EQ(in(PM + ACPI_PM1_STS, 2), 0);
	acpi_pm_power_button(pm);
	CHECK_EQ(io_bus_write(&vm.pio, &vc, PM + ACPI_PM1_CNT, 2, slp(1, true)), 0); /* ignored S1: sets WAK_STS */
	CHECK_EQ(in(PM + ACPI_PM1_STS, 2), ACPI_PM1_PWRBTN_STS | ACPI_PM1_WAK_STS);
	out(PM + ACPI_PM1_STS, 2, 0); /* writing 0 changes nothing */
	CHECK_EQ(in(PM + ACPI_PM1_STS, 2), ACPI_PM1_PWRBTN_STS | ACPI_PM1_WAK_STS);
	out(PM + ACPI_PM1_STS, 2, ACPI_PM1_WAK_STS);
	CHECK_EQ(in(PM + ACPI_PM1_STS, 2), ACPI_PM1_PWRBTN_STS);
	out(PM + ACPI_PM1_STS + 1, 1, ACPI_PM1_PWRBTN_STS >> 8); /* byte access to the high half */
	CHECK_EQ(in(PM + ACPI_PM1_STS, 2), 0);
	acpi_pm_power_button(pm);
	out(PM + ACPI_PM1_STS, 2, 0xffff);
	CHECK_EQ(in(PM + ACPI_PM1_STS, 2), 0);
}

TEST(tmr_sts_sets_when_bit_31_toggles)
{
	setup_hz(ACPI_PM_TMR_HZ * 1000);
	fake_tsc = T0 + ((1ULL << 31) - 1) * 1000;
	CHECK_EQ(in(PM + ACPI_PM1_STS, 2) & ACPI_PM1_TMR_STS, 0);
	fake_tsc = T0 + (1ULL << 31) * 1000;
	CHECK_EQ(in(PM + ACPI_PM1_STS, 2) & ACPI_PM1_TMR_STS, ACPI_PM1_TMR_STS);
	out(PM + ACPI_PM1_STS, 2, ACPI_PM1_TMR_STS);
	CHECK_EQ(in(PM + ACPI_PM1_STS, 2) & ACPI_PM1_TMR_STS, 0);
	/* The next toggle (bit 31 falling as the counter wraps) sets it again. */
	fake_tsc = T0 + ((1ULL << 32) - 1) * 1000;
	CHECK_EQ(in(PM + ACPI_PM1_STS, 2) & ACPI_PM1_TMR_STS, 0);
	fake_tsc = T0 + (1ULL << 32) * 1000;
	CHECK_EQ(in(PM + ACPI_PM1_STS, 2) & ACPI_PM1_TMR_STS, ACPI_PM1_TMR_STS);
	CHECK_EQ(sci_changes, 0); /* TMR_EN is clear: no SCI */
}

TEST(pm1_en_keeps_defined_bits_only)
{
	setup();
	out(PM + ACPI_PM1_EN, 2, 0xffff);
	CHECK_EQ(in(PM + ACPI_PM1_EN, 2), ACPI_PM1_TMR_EN | ACPI_PM1_GBL_EN | ACPI_PM1_PWRBTN_EN | ACPI_PM1_SLPBTN_EN |
					      ACPI_PM1_RTC_EN | ACPI_PM1_PCIEXP_WAKE_DIS);
	out(PM + ACPI_PM1_EN, 1, 0); /* the low byte only */
	CHECK_EQ(in(PM + ACPI_PM1_EN, 2),
		 ACPI_PM1_PWRBTN_EN | ACPI_PM1_SLPBTN_EN | ACPI_PM1_RTC_EN | ACPI_PM1_PCIEXP_WAKE_DIS);
	/* One dword write covers PM1_STS (clear nothing) and PM1_EN. */
	out(PM + ACPI_PM1_STS, 4, (u64)ACPI_PM1_GBL_EN << 16);
	CHECK_EQ(in(PM + ACPI_PM1_STS, 4), (u64)ACPI_PM1_GBL_EN << 16);
	CHECK_EQ(sci_changes, 0);
}

TEST(pm1_cnt_sci_en_always_reads_one)
{
	setup();
	CHECK_EQ(in(PM + ACPI_PM1_CNT, 2), ACPI_PM1_SCI_EN);
	out(PM + ACPI_PM1_CNT, 2, 0);
	CHECK_EQ(in(PM + ACPI_PM1_CNT, 2), ACPI_PM1_SCI_EN);
	/* BM_RLD and SLP_TYP stick, GBL_RLS and SLP_EN do not, reserved bits read 0. */
	out(PM + ACPI_PM1_CNT, 2, ACPI_PM1_BM_RLD | ACPI_PM1_GBL_RLS | slp(3, false) | 0xc000 | 0x1f8);
	CHECK_EQ(in(PM + ACPI_PM1_CNT, 2), ACPI_PM1_SCI_EN | ACPI_PM1_BM_RLD | slp(3, false));
	CHECK_EQ(fake_vm.end_calls, 0);
}

TEST(slp_en_with_s5_ends_vm)
{
	setup();
	/* ACPICA's sequence: SLP_TYP first, then SLP_TYP | SLP_EN, 16 bits each. */
	out(PM + ACPI_PM1_CNT, 2, slp(ACPI_SLP_TYP_S5, false) | ACPI_PM1_SCI_EN);
	CHECK_EQ(fake_vm.end_calls, 0);
	out(PM + ACPI_PM1_CNT, 2, slp(ACPI_SLP_TYP_S5, true) | ACPI_PM1_SCI_EN);
	CHECK_EQ(fake_vm.end_calls, 1);
	CHECK_EQ(fake_vm.end_reason, VM_END_POWEROFF);
	CHECK_EQ(fake_vm.end_status, 0);
	CHECK(vm.ended);
}

TEST(slp_en_with_s5_by_byte_and_dword)
{
	setup();
	out(PM + ACPI_PM1_CNT + 1, 1, slp(ACPI_SLP_TYP_S5, true) >> 8);
	CHECK_EQ(fake_vm.end_calls, 1);
	CHECK_EQ(fake_vm.end_reason, VM_END_POWEROFF);

	setup();
	/* A dword at +2 writes PM1_EN and PM1_CNT together. */
	out(PM + ACPI_PM1_EN, 4, (u64)slp(ACPI_SLP_TYP_S5, true) << 16);
	CHECK_EQ(fake_vm.end_calls, 1);
	CHECK_EQ(fake_vm.end_status, 0);
}

TEST(other_sleep_types_are_ignored)
{
	struct vcpu vc = {.vm = &vm};

	for (u32 typ = 0; typ < 8; typ++) {
		if (typ == ACPI_SLP_TYP_S5)
			continue;
		setup();
		vc.log_budget = 0;
		CHECK_EQ(io_bus_write(&vm.pio, &vc, PM + ACPI_PM1_CNT, 2, slp(typ, true)), 0);
		CHECK_EQ(fake_vm.end_calls, 0);
		CHECK(!vm.ended);
		CHECK(strstr(test_last_log, "sleep type") != NULL);
		/* The "wake" is immediate, so an OS polling WAK_STS goes on; SLP_EN itself never reads back. */
		CHECK_EQ(in(PM + ACPI_PM1_STS, 2), ACPI_PM1_WAK_STS);
		CHECK_EQ(in(PM + ACPI_PM1_CNT, 2), slp(typ, false) | ACPI_PM1_SCI_EN);
	}
	/* A guest hammering the register cannot flood the log: the vCPU's budget runs out. */
	for (int i = 0; i < 100; i++)
		CHECK_EQ(io_bus_write(&vm.pio, &vc, PM + ACPI_PM1_CNT, 2, slp(1, true)), 0);
	CHECK(vc.log_budget <= 32);
}

TEST(reset_port_ends_vm_with_reset_status)
{
	setup();
	out(RESET, 1, 0x02); /* SYS_RST alone only selects the kind of reset */
	CHECK_EQ(fake_vm.end_calls, 0);
	CHECK_EQ(in(RESET, 1), 0x02);
	out(RESET, 1, 0x06);
	CHECK_EQ(fake_vm.end_calls, 1);
	CHECK_EQ(fake_vm.end_reason, VM_END_RESET);
	CHECK_EQ(fake_vm.end_status, 0x06);
	CHECK_EQ(in(RESET, 1), 0x02); /* RST_CPU does not stick */

	setup();
	out(RESET, 1, 0x0e); /* full reset */
	CHECK_EQ(fake_vm.end_reason, VM_END_RESET);
	CHECK_EQ(fake_vm.end_status, 0x0e);
	CHECK_EQ(in(RESET, 1), 0x0a);

	setup();
	out(RESET, 1, 0xfb); /* everything but RST_CPU */
	CHECK_EQ(fake_vm.end_calls, 0);
	/* A word at 0xcf9 reaches the RCR with its first byte only; the second byte is not decoded. */
	out(RESET, 2, 0x040a);
	CHECK_EQ(fake_vm.end_calls, 0);
	CHECK_EQ(in(RESET, 2), 0xff0a);
	out(RESET, 4, 0xffffff06);
	CHECK_EQ(fake_vm.end_reason, VM_END_RESET);
	CHECK_EQ(fake_vm.end_status, 0x06);
	/* 0xcf8 stays free for a PCI host bridge. */
	CHECK_EQ(in(0xcf8, 1), 0xff);
}

TEST(power_button_raises_sci_only_when_enabled)
{
	setup();
	CHECK(!acpi_pm_power_button(pm));
	CHECK_EQ(sci_level[9], 0);
	CHECK_EQ(sci_changes, 0);
	/* Enabling an event whose status is already set raises the SCI at once, as the level is STS & EN. */
	out(PM + ACPI_PM1_EN, 2, ACPI_PM1_PWRBTN_EN);
	CHECK_EQ(sci_level[9], 1);
	out(PM + ACPI_PM1_STS, 2, ACPI_PM1_PWRBTN_STS);
	CHECK_EQ(sci_level[9], 0);
	CHECK(acpi_pm_power_button(pm));
	CHECK_EQ(sci_level[9], 1);
	CHECK_EQ(in(PM + ACPI_PM1_STS, 2), ACPI_PM1_PWRBTN_STS);
	out(PM + ACPI_PM1_EN, 2, 0); /* disabling drops the line too */
	CHECK_EQ(sci_level[9], 0);
	CHECK_EQ(sci_changes, 4);
}

TEST(tmr_en_arms_a_timer_for_the_sci)
{
	u64 deadline;

	setup();
	out(PM + ACPI_PM1_EN, 2, ACPI_PM1_TMR_EN);
	deadline = vm_timers_next(&vm);
	CHECK(deadline != ~0ULL);
	/* The deadline is the first TSC at which the count reaches 2^31. */
	CHECK_EQ(ref_count(deadline, TSC_HZ), 1ULL << 31);
	CHECK_EQ(ref_count(deadline - 1, TSC_HZ), (1ULL << 31) - 1);
	CHECK_EQ(vm_timers_run(&vm, deadline - 1), deadline);
	CHECK_EQ(sci_level[9], 0);
	fake_tsc = deadline;
	vm_timers_run(&vm, deadline);
	CHECK_EQ(sci_level[9], 1);
	CHECK_EQ(vm_timers_next(&vm), ~0ULL); /* nothing to wait for while TMR_STS is set */
	out(PM + ACPI_PM1_STS, 2, ACPI_PM1_TMR_STS);
	CHECK_EQ(sci_level[9], 0);
	/* Re-armed for the next toggle, 2^31 counts later. */
	CHECK_EQ(ref_count(vm_timers_next(&vm), TSC_HZ), 1ULL << 32);
	out(PM + ACPI_PM1_EN, 2, 0);
	CHECK_EQ(vm_timers_next(&vm), ~0ULL);
}

TEST(every_access_is_safe)
{
	static const unsigned int sizes[] = {1, 2, 4};

	setup();
	srand(7);
	/* Reads of every size at every port of the block and just past it, and random writes that avoid SLP_EN. */
	for (int round = 0; round < 2000; round++) {
		u16 port = (u16)(PM - 3 + rand() % (ACPI_PM_PORTS + 6));
		unsigned int size = sizes[rand() % 3];
		u64 v = (u64)rand() << 16 ^ (u64)rand();
		u16 hi = PM + ACPI_PM1_CNT + 1; /* SLP_EN is bit 5 of this byte */

		in(port, size);
		if (port <= hi && port + size > hi)
			v &= ~(1ULL << (5 + 8 * (hi - port)));
		out(port, size, v);
		fake_tsc += (u64)rand();
	}
	CHECK_EQ(fake_vm.end_calls, 0);
	/* The SCI follows STS & EN whatever happened. */
	out(PM + ACPI_PM1_STS, 2, 0xffff);
	out(PM + ACPI_PM1_EN, 2, 0);
	CHECK_EQ(sci_level[9], 0);
	CHECK_EQ(vm_timers_next(&vm), ~0ULL);
}

/*
 * Several vCPUs. vCPU 0's run loop takes the TMR_STS timer off the list and then calls the callback without the
 * device's lock; other vCPUs' accesses can land in between (fake_vm_timer_take opens that window). The callback must
 * act on the registers as they are by then.
 */
TEST(tmr_timer_callback_after_other_vcpus_accesses)
{
	u64 d1, d3;
	struct vtimer *t;

	/* 1000 TSC ticks per count: TMR_STS sets at T0 + k * 2^31 * 1000. */
	setup_hz(ACPI_PM_TMR_HZ * 1000);
	out(PM + ACPI_PM1_EN, 2, ACPI_PM1_TMR_EN);
	d1 = vm_timers_next(&vm);
	CHECK_EQ(d1, T0 + (1ULL << 31) * 1000);

	/* A PM_TMR read by vCPU 1 in the window, with a TSC just short of the deadline: nothing is due for it, and it
	 * leaves the timer to the callback, which raises the SCI. */
	t = fake_vm_timer_take(&vm);
	CHECK(t);
	fake_cpu_id = 1;
	fake_tsc = d1 - 1;
	CHECK_EQ(tmr(), (1u << 31) - 1);
	CHECK_EQ(sci_level[9], 0);
	CHECK_EQ(vm_timers_next(&vm), ~0ULL); /* not re-armed for the same deadline */
	fake_cpu_id = 0;
	fake_tsc = d1;
	t->fire(t, d1);
	CHECK_EQ(sci_level[9], 1);
	CHECK_EQ(vm_timers_next(&vm), ~0ULL); /* TMR_STS is set: nothing to wait for */
	CHECK_EQ(in(PM + ACPI_PM1_STS, 2) & ACPI_PM1_TMR_STS, ACPI_PM1_TMR_STS);

	/* vCPU 2 clears TMR_STS much later (the counter's bit 31 has toggled twice since d1) and so re-arms for the
	 * next toggle; then vCPU 0's callback for d1, whose `now` is older than vCPU 2's access, comes in. It must not
	 * see the counter run backwards and report a toggle that was already acknowledged. */
	out(PM + ACPI_PM1_STS, 2, ACPI_PM1_TMR_STS);
	CHECK_EQ(sci_level[9], 0);
	t = fake_vm_timer_take(&vm);
	CHECK(t);
	fake_cpu_id = 2;
	fake_tsc = T0 + (2ULL << 31) * 1000 + 5;
	CHECK_EQ(in(PM + ACPI_PM1_STS, 2) & ACPI_PM1_TMR_STS, ACPI_PM1_TMR_STS);
	CHECK_EQ(sci_level[9], 1);
	out(PM + ACPI_PM1_STS, 2, ACPI_PM1_TMR_STS);
	CHECK_EQ(sci_level[9], 0);
	d3 = vm_timers_next(&vm);
	CHECK_EQ(d3, T0 + (3ULL << 31) * 1000);
	fake_cpu_id = 0;
	t->fire(t, T0 + (2ULL << 31) * 1000 - 7);
	CHECK_EQ(sci_level[9], 0);
	CHECK_EQ(in(PM + ACPI_PM1_STS, 2) & ACPI_PM1_TMR_STS, 0);
	CHECK_EQ(vm_timers_next(&vm), d3);

	/* vCPU 1 clears TMR_EN in the window: the callback finds nothing enabled, raises nothing, arms nothing. */
	t = fake_vm_timer_take(&vm);
	CHECK(t);
	fake_cpu_id = 1;
	out(PM + ACPI_PM1_EN, 2, 0);
	fake_cpu_id = 0;
	fake_tsc = d3;
	t->fire(t, d3);
	CHECK_EQ(sci_level[9], 0);
	CHECK_EQ(vm_timers_next(&vm), ~0ULL);
	CHECK_EQ(in(PM + ACPI_PM1_STS, 2) & ACPI_PM1_TMR_STS, ACPI_PM1_TMR_STS); /* the status still shows */

	/* A stray callback with the timer disarmed and nothing due is harmless. */
	t->fire(t, d3);
	CHECK_EQ(vm_timers_next(&vm), ~0ULL);
	CHECK_EQ(sci_level[9], 0);
}

/* Every entry point drops the lock it takes: a second call on the same CPU would hit spin_lock's recursion check,
 * and one from another CPU would spin. Accesses from three CPUs and the timer, in turn, keep the registers right. */
TEST(entry_points_release_the_lock_on_every_cpu)
{
	for (unsigned int cpu = 0; cpu < 3; cpu++) {
		setup_hz(ACPI_PM_TMR_HZ * 1000);
		fake_cpu_id = cpu;
		out(PM + ACPI_PM1_EN, 2, ACPI_PM1_TMR_EN | ACPI_PM1_PWRBTN_EN);
		CHECK_EQ(in(PM + ACPI_PM1_EN, 2), ACPI_PM1_TMR_EN | ACPI_PM1_PWRBTN_EN);
		fake_cpu_id = (cpu + 1) % 3;
		CHECK(acpi_pm_power_button(pm));
		CHECK_EQ(sci_level[9], 1);
		out(PM + ACPI_PM1_STS, 2, ACPI_PM1_PWRBTN_STS);
		CHECK_EQ(sci_level[9], 0);
		fake_cpu_id = (cpu + 2) % 3;
		out(RESET, 1, 0x02);
		CHECK_EQ(in(RESET, 1), 0x02);
		/* vCPU 0 fires the timer whatever CPU touched the device last. */
		fake_cpu_id = 0;
		fake_tsc = T0 + (1ULL << 31) * 1000;
		fake_vm_run_until(&vm, fake_tsc);
		CHECK_EQ(sci_level[9], 1);
		fake_cpu_id = cpu;
		CHECK_EQ(in(PM + ACPI_PM1_STS, 2), ACPI_PM1_TMR_STS);
		CHECK_EQ(tmr(), 1u << 31);
		/* The power-off and reset paths end the VM after dropping the lock: the device is usable afterwards
		 * (other vCPUs may still be finishing an access), and only the first reason counts. */
		out(PM + ACPI_PM1_CNT, 2, slp(ACPI_SLP_TYP_S5, true));
		fake_cpu_id = (cpu + 1) % 3;
		out(RESET, 1, 0x06);
		CHECK_EQ(fake_vm.end_calls, 2);
		CHECK_EQ(vm.end_reason, VM_END_POWEROFF);
		CHECK_EQ(in(PM + ACPI_PM1_CNT, 2), slp(ACPI_SLP_TYP_S5, false) | ACPI_PM1_SCI_EN);
		CHECK_EQ(in(RESET, 1), 0x02);
	}
	fake_cpu_id = 0;
}

TEST(init_checks_cfg_and_clock)
{
	struct acpi_build_cfg cfg = default_cfg();
	void *st = NULL;

	setup();
	/* A second instance collides with the first on the bus; the state is still handed over to be freed. */
	CHECK_EQ(acpi_pm_dev_init(&vm, &cfg, &st), (u64)-EEXIST);
	CHECK(st);
	free(st);
	st = NULL;
	free(pm);
	pm = NULL;

	fake_vm_destroy(&vm);
	fake_vm_init(&vm, 0);
	CHECK_EQ(acpi_pm_dev_init(&vm, &cfg, &st), (u64)-EINVAL); /* tsc_hz 0 */
	vm.tsc_hz = ~0ULL / ACPI_PM_TMR_HZ + 1;
	CHECK_EQ(acpi_pm_dev_init(&vm, &cfg, &st), (u64)-EINVAL);
	vm.tsc_hz = TSC_HZ;
	cfg.reset_port = PM + 4;
	CHECK_EQ(acpi_pm_dev_init(&vm, &cfg, &st), (u64)-EINVAL);
	cfg = default_cfg();
	cfg.pm_port = 0xfffc;
	CHECK_EQ(acpi_pm_dev_init(&vm, &cfg, &st), (u64)-EINVAL);
	CHECK_EQ(acpi_pm_dev_init(&vm, NULL, &st), (u64)-EINVAL);
	CHECK_EQ(acpi_pm_dev_init(&vm, &cfg, NULL), (u64)-EINVAL);
	CHECK(!st);
	CHECK_EQ(vm.pio.n, 0);

	/* Without a clock hook the device reads the TSC. */
	cfg = default_cfg();
	cfg.now = NULL;
	CHECK_EQ(acpi_pm_dev_init(&vm, &cfg, &st), 0);
	CHECK_EQ(vm.pio.n, 2);
	u64 a = in(PM + ACPI_PM_TMR, 4), b = in(PM + ACPI_PM_TMR, 4);
	CHECK(b - a < 0x80000000u);
	free(st);
	fake_vm_init(&vm, 0);
}
