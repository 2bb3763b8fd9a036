/* lapicipi's shared parts (tests/guests/lapicipi.c: the APs, IPI destinations, the timer, TPR, IF, x2APIC;
 * tests/guests/lapicipi/nmi.c: nested NMIs). */
#ifndef GUESTS_LAPICIPI_H
#define GUESTS_LAPICIPI_H

#include "guest.h"
#include "smp.h"

#define MAX_CPUS      8
#define SETTLE_CYCLES ((u64)2000000) /* after an IPI: time for a late or duplicated one to show up */

extern u64 timeout; /* TSC cycles any wait may take (`timeout=`) */

/* This CPU's APIC ID, in either APIC mode. */
u32 my_id(void);
/* One IPI: any delivery mode, from either mode of the sender's APIC. */
void send(u32 dest, u32 lo);

void test_nmi(void);

#endif
