/* The local APIC of the executing CPU, in xAPIC (MMIO) or x2APIC (MSR) mode, whichever the firmware left on. */
#ifndef ARCH_X86_APIC_H
#define ARCH_X86_APIC_H

#include "hv/types.h"

/* BSP: find the LAPIC and map it; every CPU then calls lapic_enable(). `madt_base` is the MADT's LAPIC address, used
 * only if IA32_APIC_BASE disagrees (never seen, but the MSR is authoritative). Returns 0 or -ENOMEM. */
int lapic_init(u64 madt_base);
void lapic_enable(void);
u32 lapic_id(void);
bool lapic_is_x2apic(void);
void lapic_eoi(void);
void lapic_send_init(u32 apic_id);
void lapic_send_sipi(u32 apic_id, u8 vector_page);
void lapic_send_nmi_others(void);
/* Wake a CPU sleeping in HLT (VEC_WAKE, acknowledged and otherwise ignored). */
void lapic_send_wake(u32 apic_id);
/* An NMI to one CPU: forces it out of a guest whatever the guest's state (NMI exiting), see vcpu.c. */
void lapic_send_nmi(u32 apic_id);
void lapic_send_wake_others(void);
/* VEC_WAKE to this CPU. Sent with interrupts off before entering a guest, it stays pending and makes the guest exit
 * at its first instruction boundary where the CPU takes interrupts: KVM's immediate exit (svm_nmi.c). */
void lapic_send_wake_self(void);

/* The host timer that bounds how long a guest runs: an interrupt at TSC `deadline` makes the running guest exit.
 * ~0 disarms. TSC-deadline mode where the CPU has it, else one-shot mode calibrated against the TSC at boot. */
void host_timer_init(void);
void host_timer_arm(u64 deadline);
/* Idle (HLT with the timer armed for deadline) until the first interrupt: the timer, a wake IPI, anything. Called
 * with interrupts off; returns at once if deadline has passed. The caller re-checks why it slept. */
void host_idle(u64 deadline);
/* Let a host interrupt that caused a VM exit be taken (the handler just acknowledges it). */
void host_take_pending_interrupt(void);

#endif
