/* Time: the TSC, calibrated at boot against the ACPI PM timer (or the PIT when there is none). */
#ifndef DRIVERS_TIMER_H
#define DRIVERS_TIMER_H

#include "hv/types.h"

extern u64 tsc_hz;

/* pm_tmr_port: the FADT's PM timer port, 0 if none. */
void timer_calibrate(u16 pm_tmr_port, bool pm_tmr_32bit);
void udelay(u64 us);
void mdelay(u64 ms);

#endif
