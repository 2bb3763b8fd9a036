/* The debug registers' architectural rules as pure functions (vm/dr.c), for the vCPU's debug glue (vm/debug.c) and
 * host unit tests: what DR6 holds after a #DB, what a MOV to DR6/DR7 leaves there, which exceptions are faults (RF),
 * and which enabled breakpoints an access the hypervisor performed for the guest (a port access, an emulated data
 * access) would have hit (SDM Vol. 3B 18.2, 18.3; APM Vol. 2 13.1). */
#ifndef VM_DR_H
#define VM_DR_H

#include "hv/compiler.h"
#include "hv/types.h"

/* DR6 (SDM Vol. 3B 18.2.3). B0-B3 report breakpoint matches, BD a DR7.GD access, BS a single step, BT a task
 * switch to a TSS with T set. Bit 16 (RTM) is active low and reads 1 without RTM, which no guest CPUID here
 * offers; bit 11 (bus-lock detect) too. Bits 4-10 and 16-31 read as 1, bit 12 as 0: 0xffff0ff0 after reset. */
#define DR6_B0_3     0xfULL
#define DR6_BD	     BIT(13)
#define DR6_BS	     BIT(14)
#define DR6_BT	     BIT(15)
#define DR6_RESET    0xffff0ff0ULL /* also the bits that read as fixed 1s (the "active low" ones) */
#define DR6_WRITABLE (DR6_B0_3 | DR6_BD | DR6_BS | DR6_BT)

/* DR7 (SDM Vol. 3B 18.2.4): L0/G0..L3/G3 in bits 0-7, LE 8, GE 9, bit 10 reads 1, GD 13, R/W and LEN per
 * breakpoint from bit 16. Bits 11 (RTM, absent here), 12, 14, 15 read 0. */
#define DR7_LOCAL_ENABLES (BIT(0) | BIT(2) | BIT(4) | BIT(6))
#define DR7_LE		  BIT(8)
#define DR7_GD		  BIT(13)
#define DR7_RESET	  0x400ULL
#define DR7_WRITABLE	  0xffff23ffULL

/* The #DB payload: the DR6 bits one #DB reports (B0-B3, BD, BS, BT), all active high. */

/* DR6 after a #DB with this payload is delivered (SDM 18.2.3: "certain debug exceptions may clear bits 0-3; the
 * remaining contents of DR6 are never cleared by the processor"): B0-B3 become the payload's, BD/BS/BT accumulate,
 * the fixed bits read as they must. KVM's kvm_deliver_exception_payload does the same. */
u64 dr6_after_db(u64 dr6, u64 payload);
/* What a MOV to DR6 / DR7 of val leaves there (the fixed bits forced). -EINVAL (the #GP of SDM Vol. 2 "MOV--Move
 * to/from Debug Registers") when bits 63:32 are not zero, which only a 64-bit-mode MOV can write. */
int dr6_from_write(u64 val, u64 *dr6);
int dr7_from_write(u64 val, u64 *dr7);

/* Whether an exception is a fault, whose delivery pushes RFLAGS with RF = 1 (SDM Vol. 3B 18.3.1.1: every
 * fault-class exception but an instruction-breakpoint #DB; Vol. 3A 6.5 for the classes). #DB itself is left out (its
 * class depends on its cause: instruction breakpoints and DR7.GD are faults that push RF = 0 in KVM's reading, the
 * others traps), as are the traps #BP and #OF and the aborts #DF and #MC. VMX and SVM injection push RFLAGS as the
 * guest state has it, so the hypervisor sets RF itself for these (as KVM's inject_pending_event does). */
bool exc_is_fault(u8 vector);
/* A second exception raised while the first one was being delivered (SDM Vol. 3A 6.15, Table 6-5; APM Vol. 2 8.2.9):
 * the vector to deliver, 8 (#DF) for contributory on contributory or on #PF, and #PF or contributory on #PF; -1
 * (shutdown, a triple fault) when the first was #DF itself; else the second, handled serially. */
int exc_merge(u8 first, u8 second);

/*
 * Enabled breakpoints an access hits: the B0-B3 bits a #DB trap after it reports. dr[0..3] are DR0-DR3, dr7 DR7.
 * - dr_io_hits: a port access of size bytes at port; I/O breakpoints (R/W = 10b) exist only with CR4.DE (de), else
 *   that encoding is undefined and nothing matches (SDM 18.2.4).
 * - dr_data_hits: a data access of size bytes at linear address addr; R/W = 01b breaks on writes, 11b on reads and
 *   writes.
 * A breakpoint matches when any byte of the access lies in the LENn-aligned range at DRn (LEN 00b 1 byte, 01b 2,
 * 11b 4, 10b 8), as SDM 18.2.5 describes. A breakpoint counts when its L or G bit is set.
 */
u64 dr_io_hits(const u64 dr[4], u64 dr7, bool de, u16 port, unsigned int size);
u64 dr_data_hits(const u64 dr[4], u64 dr7, u64 addr, unsigned int size, bool write);

#endif
