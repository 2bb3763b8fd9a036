/* Sleeps whose wake-up can be told apart from an interrupt that came just before them (the NMI HLT test of smp.c).
 * Each announces itself (++*entries) with IF=0, then halts unless *stop is set: with IF still 0, or right after STI
 * (whose shadow covers the HLT). An NMI that wakes the HLT interrupts at _after. One that lands between the
 * announcement and the HLT (_armed to _at) would leave the CPU asleep with nothing to wake it: the handler moves its
 * return past the HLT, so every NMI is followed by a new announcement or by a return that sees *stop. */
#ifndef GUEST_HLT_PROBE_H
#define GUEST_HLT_PROBE_H

#include "guest.h"

void nmi_cli_hlt(volatile u64 *entries, volatile u32 *stop);
void nmi_sti_hlt(volatile u64 *entries, volatile u32 *stop);
extern const char nmi_cli_hlt_armed[], nmi_cli_hlt_at[], nmi_cli_hlt_after[];
extern const char nmi_sti_hlt_armed[], nmi_sti_hlt_at[], nmi_sti_hlt_after[];

#endif
