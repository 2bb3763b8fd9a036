/* Host TLB shootdown, for changes to the hypervisor's own page tables that take a translation away (a private
 * guest frame leaving the direct map, vm/private.c). Every host CPU shares kernel_pml4, and each may cache any of
 * its translations, so the change is only complete once every online CPU has flushed. */
#ifndef ARCH_X86_TLB_H
#define ARCH_X86_TLB_H

/* Flush this CPU's host TLB, then make every other online CPU flush its own, and return once all have. Any
 * context but an NMI handler; may be called with locks held (the others flush from their NMI handler, which no
 * lock holds up). */
void host_tlb_shootdown(void);
/* From the NMI handler, on every NMI sent on purpose: flush if a shootdown asked for it since this CPU last did. */
void host_tlb_shootdown_ack(void);

#endif
