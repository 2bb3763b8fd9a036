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

#endif
