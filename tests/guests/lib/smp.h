/* Local APIC access (xAPIC, MMIO at the default base) and starting application processors the way firmware does:
 * INIT, SIPI, SIPI to a real-mode trampoline below 1 MiB, which takes the AP through protected mode into long mode
 * with the BSP's GDT, page tables and IDT, on a stack the caller provides (lib/ap_start.S). */
#ifndef GUEST_SMP_H
#define GUEST_SMP_H

#include "guest.h"

#define LAPIC_BASE    ((u64)0xfee00000) /* uncached through the boot tables (at and above 3 GiB) */
#define LAPIC_ID      0x020
#define LAPIC_VERSION 0x030
#define LAPIC_TPR     0x080
#define LAPIC_EOI     0x0b0
#define LAPIC_LDR     0x0d0
#define LAPIC_DFR     0x0e0
#define LAPIC_SVR     0x0f0
#define LAPIC_ESR     0x280
#define LAPIC_ICR_LO  0x300
#define LAPIC_ICR_HI  0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TMICT   0x380
#define LAPIC_TDCR    0x3e0
#define LAPIC_TIMER_PERIODIC (1u << 17)

#define SVR_ENABLE (1u << 8)
#define DFR_FLAT   0xffffffffu

/* ICR low word: vector, delivery mode, destination mode, level, trigger, shorthand. */
#define ICR_FIXED	 (0u << 8)
#define ICR_NMI		 (4u << 8) /* the vector field is ignored */
#define ICR_INIT	 (5u << 8)
#define ICR_STARTUP	 (6u << 8)
#define ICR_LOGICAL	 (1u << 11)
#define ICR_BUSY	 (1u << 12)
#define ICR_ASSERT	 (1u << 14)
#define ICR_LEVEL	 (1u << 15)
#define ICR_SELF	 (1u << 18)
#define ICR_ALL		 (2u << 18)
#define ICR_ALL_BUT_SELF (3u << 18)

#define APIC_BASE_BSP	 ((u64)1 << 8)
#define APIC_BASE_ENABLE ((u64)1 << 11)

/* The MP specification's waits (10 ms after INIT, 200 us after each SIPI) in TSC cycles, for a TSC of 1-2 GHz. A
 * virtual CPU needs no delay; they keep the sequence the one real firmware sends. */
#define SMP_INIT_DELAY ((u64)10000000)
#define SMP_SIPI_DELAY ((u64)400000)

static inline u32 lapic_read(u32 reg)
{
	return *(volatile u32 *)(LAPIC_BASE + reg);
}
static inline void lapic_write(u32 reg, u32 v)
{
	*(volatile u32 *)(LAPIC_BASE + reg) = v;
}
static inline u32 lapic_id(void)
{
	return lapic_read(LAPIC_ID) >> 24;
}
static inline void lapic_eoi(void)
{
	lapic_write(LAPIC_EOI, 0);
}
/* The APIC ID CPUID reports: leaf 1, EBX[31:24]. */
static inline u32 cpuid_apic_id(void)
{
	u32 a, b, c, d;
	cpuid(1, 0, &a, &b, &c, &d);
	return b >> 24;
}

/* Busy-wait for `cycles` TSC cycles. */
void tsc_delay(u64 cycles);
/* Send one IPI: ICR high = dest << 24 (ignored with a shorthand), then ICR low = lo. Interrupts stay off between the
 * two writes, so an IPI sent from an interrupt handler cannot interleave. Waits for the delivery status to clear;
 * false if it stays busy for `timeout` cycles. */
bool lapic_send_ipi(u32 dest, u32 lo, u64 timeout);

/* Errors of the functions below (negated). */
#define SMP_EBUSY     16  /* an IPI stayed busy */
#define SMP_EINVAL    22  /* GDT, CR3 or stack unusable from the trampoline */
#define SMP_ENOSPC    28  /* no free page below 1 MiB for the trampoline */
#define SMP_ETIMEDOUT 110 /* no AP took the trampoline */

typedef void (*ap_entry_t)(u64 arg);
/* Copy the trampoline to a free page below 1 MiB (0x8000 if free) and point it at the BSP's GDT. Returns the SIPI
 * vector (page number), or a negative error when no page below 1 MiB is free. Called by smp_arm() when needed. */
int smp_init(void);
/* Arm the trampoline: the next CPU that takes a SIPI to it runs entry(arg) on stack_top (16-byte aligned) with
 * interrupts off and the BSP's CR3 and IDT. The trampoline holds one set of these at a time: start APs one by one. */
int smp_arm(ap_entry_t entry, u64 arg, u64 stack_top);
/* INIT (assert, then de-assert), SIPI, SIPI to apic_id, with the MP specification's delays. False when an IPI stays
 * busy for `timeout` cycles. */
bool smp_send_init_sipi(u32 apic_id, u64 timeout);
/* Whether a CPU took the armed entry within `timeout` cycles (it has read the trampoline's parameters). */
bool smp_wait_checkin(u64 timeout);
/* smp_arm + smp_send_init_sipi + smp_wait_checkin: 0 when the AP runs entry(arg), else a negative error. */
int smp_start_ap(u32 apic_id, ap_entry_t entry, u64 arg, u64 stack_top, u64 timeout);

#endif
