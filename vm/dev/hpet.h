/* The HPET (IA-PC HPET specification 1.0a) at 0xfed00000: a 64-bit main counter at 100 MHz and three comparators,
 * as QEMU's and the ICH's. Register layout, the bits guests use, and what the model does with them. */
#ifndef VM_DEV_HPET_H
#define VM_DEV_HPET_H

#include "vm/vm.h"

#define HPET_BASE      0xfed00000ULL
#define HPET_SIZE      0x400 /* the registers; the rest of the 4K page is unclaimed */
#define HPET_NR_TIMERS 3
#define HPET_HZ	       100000000ULL /* 10 ns: COUNTER_CLK_PERIOD 10^7 fs, as QEMU's */
#define HPET_PERIOD_FS 10000000ULL

/* Registers (offsets from HPET_BASE, all 64 bits). */
#define HPET_GCAP_ID	  0x000
#define HPET_GEN_CONF	  0x010
#define HPET_GINTR_STA	  0x020
#define HPET_MAIN_COUNTER 0x0f0
#define HPET_TN_CONF(n)	  (0x100 + 0x20 * (n))
#define HPET_TN_CMP(n)	  (0x108 + 0x20 * (n))
#define HPET_TN_FSB(n)	  (0x110 + 0x20 * (n)) /* Tn_FSB_INT_ROUTE: the message's data in [31:0], address in [63:32] */

/* GCAP_ID: revision 1, NUM_TIM_CAP = timers - 1, COUNT_SIZE_CAP (64-bit), LEG_RT_CAP, the vendor (Intel, as QEMU). */
#define HPET_GCAP_REV		0x01ULL
#define HPET_GCAP_NUM_TIM_SHIFT 8
#define HPET_GCAP_COUNT_SIZE	BIT(13)
#define HPET_GCAP_LEG_RT	BIT(15)
#define HPET_GCAP_VENDOR	(0x8086ULL << 16)
#define HPET_GCAP_PERIOD_SHIFT	32

#define HPET_GCAP_ID_VALUE                                                                                             \
	(HPET_GCAP_REV | (u64)(HPET_NR_TIMERS - 1) << HPET_GCAP_NUM_TIM_SHIFT | HPET_GCAP_COUNT_SIZE |                 \
	 HPET_GCAP_LEG_RT | HPET_GCAP_VENDOR | HPET_PERIOD_FS << HPET_GCAP_PERIOD_SHIFT)

/* A periodic timer interrupts at most once per this many ticks (100 us), whatever period the guest programs: the
 * floor the PIT and the vLAPIC also put under periodic timers, so that a period of one tick cannot make the host
 * fire a timer every 10 ns. The comparator still steps by the programmed period; the ticks in between are passed
 * over as missed ones are. The ACPI HPET table publishes it as the minimum periodic clock tick. */
#define HPET_MIN_PERIOD_TICKS 10000

#define HPET_CONF_ENABLE BIT(0)
#define HPET_CONF_LEG_RT BIT(1) /* legacy replacement: timer 0 drives IRQ0 (IOAPIC pin 2), timer 1 IRQ8 */

/* Tn_CONF_CAP. */
#define HPET_TN_LEVEL		BIT(1) /* Tn_INT_TYPE_CNF: level-triggered, held until GINTR_STA bit n is cleared */
#define HPET_TN_INT_ENB		BIT(2)
#define HPET_TN_PERIODIC	BIT(3) /* Tn_TYPE_CNF */
#define HPET_TN_PER_CAP		BIT(4) /* read-only: every timer here, as QEMU (the ICH: timer 0 only) */
#define HPET_TN_SIZE_CAP	BIT(5) /* read-only: a 64-bit comparator (every timer here) */
#define HPET_TN_VAL_SET		BIT(6) /* write-only: the next comparator write sets a periodic timer's accumulator */
#define HPET_TN_32BIT		BIT(8) /* Tn_32MODE_CNF */
#define HPET_TN_FSB_EN		BIT(14) /* Tn_FSB_EN_CNF: interrupts go out as the message in Tn_FSB_INT_ROUTE */
#define HPET_TN_FSB_CAP		BIT(15) /* read-only: FSB delivery supported (every timer here, as QEMU's) */
#define HPET_TN_ROUTE_SHIFT	9
#define HPET_TN_ROUTE		(0x1fULL << HPET_TN_ROUTE_SHIFT)
#define HPET_TN_ROUTE_CAP_SHIFT 32
/* The IOAPIC pins a timer may route to outside legacy replacement: 20-23, as the ICH's HPET (pins that no ISA device
 * shares). A route the capability does not allow raises nothing. */
#define HPET_ROUTE_CAP 0x00f00000ULL
/* What the guest may write in Tn_CONF_CAP (the rest is read-only or reserved). */
#define HPET_TN_WRITABLE                                                                                               \
	(HPET_TN_LEVEL | HPET_TN_INT_ENB | HPET_TN_PERIODIC | HPET_TN_32BIT | HPET_TN_ROUTE | HPET_TN_FSB_EN)

/*
 * Create the HPET on vm->mmio at HPET_BASE (VM_DEV_HPET); it needs vm->tsc_hz. The counter is a function of the TSC,
 * like the PIT's; each comparator arms a vtimer for its next match. Interrupts go through vm_set_irq: in legacy
 * replacement timers 0 and 1 take ISA lines 0 and 8, and the PIT's and RTC's drives of those lines are cut off
 * (vm->irq_cut) for as long as LEG_RT_CNF is set, as on the ICH; otherwise a timer drives its routed pin (20-23),
 * or with Tn_FSB_EN_CNF sends the message of its Tn_FSB_INT_ROUTE (an edge: no GINTR_STA, no line).
 * Both lines start low when legacy replacement starts and ends (as QEMU); the RTC's IRQ8 level comes back with the
 * RTC's next change of it.
 * Accesses of any size and alignment work byte-wise on the 64-bit registers (the specification asks for 32- and 64-bit
 * ones); writes to read-only bits are ignored. 0, -EEXIST, -EINVAL (tsc_hz 0), -ENOMEM, or io_bus_register's error.
 */
int hpet_dev_init(struct vm *vm);

#endif
