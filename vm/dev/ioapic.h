/* The VM's IOAPIC: an 82093AA-style redirection table of 24 pins at 0xfec00000 (version 0x20, so with the EOI register
 * of the ICH IOAPICs). ISA lines arrive through vm->ioapic_chip (vm_set_irq), interrupts leave through a delivery hook
 * the VM core supplies, and level-triggered pins learn of their EOI from the local APIC through ioapic_eoi(). */
#ifndef VM_DEV_IOAPIC_H
#define VM_DEV_IOAPIC_H

#include "vm/vm.h"

#define IOAPIC_BASE    0xfec00000ULL
#define IOAPIC_SIZE    0x1000
#define IOAPIC_NR_PINS 24
#define IOAPIC_VERSION 0x20

/* MMIO registers (32-bit), relative to IOAPIC_BASE. */
#define IOAPIC_REGSEL 0x00
#define IOAPIC_WINDOW 0x10
#define IOAPIC_EOI    0x40 /* write a vector: the same as an EOI broadcast for it */

/* Indirect registers, selected by IOREGSEL. */
#define IOAPIC_REG_ID	  0x00 /* bits 27:24 */
#define IOAPIC_REG_VER	  0x01 /* version, max redirection entry (23) in bits 23:16 */
#define IOAPIC_REG_ARB	  0x02 /* arbitration ID: bits 27:24, read-only (loaded from the ID) */
#define IOAPIC_REG_REDTBL 0x10 /* pin n: low dword at 0x10 + 2n, high dword at 0x11 + 2n */

/* Redirection table entry. */
#define IOAPIC_RTE_VECTOR     0xffULL
#define IOAPIC_RTE_DM_SHIFT   8
#define IOAPIC_RTE_DM	      (7ULL << 8) /* delivery mode: the VLAPIC_DM_* values (vm/dev/vlapic.h) */
#define IOAPIC_RTE_LOGICAL    BIT(11)
#define IOAPIC_RTE_DELIVS     BIT(12) /* delivery status: read-only, always idle here */
#define IOAPIC_RTE_POLARITY   BIT(13) /* active low: stored for the guest; set_irq levels are logical, as in KVM */
#define IOAPIC_RTE_REMOTE_IRR BIT(14) /* read-only */
#define IOAPIC_RTE_LEVEL      BIT(15)
#define IOAPIC_RTE_MASKED     BIT(16)
#define IOAPIC_RTE_DEST_SHIFT 56
/* Bits that exist; the others (17-55) are reserved and read as 0. */
#define IOAPIC_RTE_DEFINED                                                                                             \
	(0xff00000000000000ULL | IOAPIC_RTE_MASKED | IOAPIC_RTE_LEVEL | IOAPIC_RTE_REMOTE_IRR | IOAPIC_RTE_POLARITY |  \
	 IOAPIC_RTE_DELIVS | IOAPIC_RTE_LOGICAL | IOAPIC_RTE_DM | IOAPIC_RTE_VECTOR)
#define IOAPIC_RTE_READ_ONLY (IOAPIC_RTE_REMOTE_IRR | IOAPIC_RTE_DELIVS)

/*
 * Deliver one interrupt message to the local APICs it selects: dest is the 8-bit destination field, logical its
 * mode; mode is the delivery mode (VLAPIC_DM_FIXED, _LOWPRI, _SMI, _NMI, _INIT or _EXTINT, where the vector means
 * nothing: the vCPU fetches it from the PIC with pic_dev_intack); level is the trigger mode, for the LAPIC's TMR.
 * Lowest priority goes to exactly one of the LAPICs selected (which one is the hook's choice: the IOAPIC does not
 * arbitrate). Returns how many LAPICs accepted it (a level-triggered pin sets remote IRR only if one did), or a
 * negative errno; a level-triggered message counted here but later dropped by its LAPIC must still be EOIed to the
 * IOAPIC (ioapic_eoi), or the pin waits for ever.
 * It runs on whichever CPU drove the pin, wrote the entry or EOIed, with the IOAPIC's lock held and perhaps the lock
 * of the device driving the pin: it must not call back into the IOAPIC or take a lock (it posts to the targets'
 * inboxes, vm/inbox.h, and kicks them; a target's vLAPIC belongs to its own CPU).
 */
typedef int (*ioapic_deliver_fn)(struct vm *vm, u32 dest, bool logical, u8 vector, u8 mode, bool level);

/* Create the IOAPIC with every pin masked, map it at IOAPIC_BASE on vm->mmio and set vm->ioapic_chip.set_irq. Returns
 * 0, -EEXIST, -EINVAL (no deliver hook), -ENOMEM, or the io_bus_register error. */
int ioapic_dev_init(struct vm *vm, ioapic_deliver_fn deliver);

/* Drive pin (0-23) to level (logical: 1 asserted). Edge-triggered pins deliver on a rising edge (dropped while
 * masked, as on the 82093AA); level-triggered ones whenever asserted, unmasked and not awaiting an EOI. Any CPU; it
 * takes the IOAPIC's lock, which nests inside the device locks of its callers (vm_set_irq). */
void ioapic_set_irq(struct vm *vm, unsigned int pin, int level);

/*
 * An interrupt message a device writes itself (MSI, the HPET's FSB delivery): a 32-bit write of data to addr, which
 * the platform routes to the local APICs when addr is in 0xfee00000-0xfeefffff (SDM Vol. 3A 11.11.1: destination ID
 * in addr[19:12], destination mode in addr[2]; 11.11.2: vector in data[7:0], delivery mode in data[10:8], trigger
 * mode in data[15]). It goes out through the same hook as the IOAPIC's own messages. Returns how many LAPICs
 * accepted it, -EINVAL for an address outside the interrupt range (the write is dropped: nothing here is RAM the
 * device could write to), -ENODEV without an IOAPIC (a minimal platform). No lock taken; any caller.
 */
int ioapic_send_msi(struct vm *vm, u32 addr, u32 data);

/* EOI of vector from a local APIC (its level-triggered EOI, vlapic_ops.eoi): every level-triggered pin with that vector
 * and remote IRR set clears it, and one whose line is still asserted delivers again. Any vCPU, holding no device or
 * interrupt-controller lock (it takes the IOAPIC's). */
void ioapic_eoi(struct vm *vm, u8 vector);

#endif
