/* TSC calibration and busy-wait delays. The ACPI PM timer runs at exactly 3.579545 MHz on every machine that has
 * one and needs no setup; the PIT is the fallback (UEFI-only machines may lack a working PIT gate). Under Bochs
 * with clock sync=none both advance with emulated instructions, which keeps runs reproducible. */
#include "arch/x86/cpu.h"
#include "drivers/timer.h"
#include "hv/log.h"

#define PM_TIMER_HZ 3579545ULL
#define PIT_HZ 1193182ULL
#define CALIBRATE_MS 10

u64 tsc_hz = 1000000000ULL; /* a safe-ish guess until calibrated */

static u64 calibrate_pm_timer(u16 port, bool wide)
{
	u32 mask = wide ? 0xffffffffu : 0xffffffu;
	u64 need = PM_TIMER_HZ * CALIBRATE_MS / 1000, elapsed = 0;
	u32 last = inl(port) & mask;
	u64 t0 = rdtsc();

	while (elapsed < need) {
		u32 now = inl(port) & mask;
		elapsed += (now - last) & mask;
		last = now;
	}
	return (rdtsc() - t0) * PM_TIMER_HZ / elapsed;
}

static u64 calibrate_pit(void)
{
	u16 count = (u16)(PIT_HZ * CALIBRATE_MS / 1000);
	u8 gate = inb(0x61);

	outb(0x61, (gate & ~0x02) | 0x01); /* channel 2 gate on, speaker off */
	outb(0x43, 0xb0);                  /* channel 2, lobyte/hibyte, mode 0 */
	outb(0x42, count & 0xff);
	outb(0x42, count >> 8);
	u64 t0 = rdtsc();
	u64 spins = 0;
	while (!(inb(0x61) & 0x20)) {
		if (++spins > 100000000ULL)
			return 0; /* no PIT behind port 0x61 */
	}
	u64 t1 = rdtsc();
	outb(0x61, gate);
	return (t1 - t0) * 1000 / CALIBRATE_MS;
}

void timer_calibrate(u16 pm_tmr_port, bool pm_tmr_32bit)
{
	const char *src = "ACPI PM timer";
	u64 hz = 0;

	if (pm_tmr_port)
		hz = calibrate_pm_timer(pm_tmr_port, pm_tmr_32bit);
	if (!hz) {
		src = "PIT";
		hz = calibrate_pit();
	}
	if (!hz) {
		pr_warn("hv: timer: no PM timer or PIT; assuming a 1 GHz TSC\n");
		return;
	}
	tsc_hz = hz;
	pr_info("hv: timer: TSC %llu.%03llu MHz (calibrated against the %s)\n", (unsigned long long)(hz / 1000000),
		(unsigned long long)(hz / 1000 % 1000), src);
}

void udelay(u64 us)
{
	u64 end = rdtsc() + tsc_hz / 1000000 * us;
	while ((s64)(rdtsc() - end) < 0)
		cpu_relax();
}

void mdelay(u64 ms)
{
	udelay(ms * 1000);
}
