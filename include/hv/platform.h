/* The platform interface: everything the portable code (boot parsers, mm/, vm/) needs from the machine. The
 * hypervisor implements it in mm/ and kernel/; host unit tests implement it over fake physical memory
 * (tests/unit/fake_platform.c). Portable code includes this header and touches no hardware directly. */
#ifndef HV_PLATFORM_H
#define HV_PLATFORM_H

#include "hv/types.h"

#define INVALID_HPA (~0ULL)
#define INVALID_GPA (~0ULL)

/* Direct map: every host frame is reachable at a fixed virtual offset. */
void *phys_to_virt(hpa_t pa);
hpa_t virt_to_phys(const void *va);
/* Whether [pa, pa+len) is reachable through phys_to_virt; parsers of firmware tables check before they read. */
bool phys_range_mapped(hpa_t pa, u64 len);

/* 2^order contiguous, naturally aligned, zeroed host frames; INVALID_HPA when none are left. */
hpa_t frame_alloc(unsigned int order);
/* The same, but holding whatever their last owner left: the caller clears them before anything can read them
 * (guest RAM, cleared chunk by chunk on first use: mm/memslot.h). */
hpa_t frame_alloc_dirty(unsigned int order);
void frame_free(hpa_t pa, unsigned int order);
/* frame_alloc, from below `limit` (tables the hardware reaches through a 32-bit register: a PAE CR3). */
hpa_t frame_alloc_below(unsigned int order, hpa_t limit);

/* General-purpose heap. kzalloc zeroes. Both return NULL on exhaustion. */
void *kmalloc(size_t size);
void *kzalloc(size_t size);
void kfree(void *p);

/* Index of the executing CPU, 0..ncpus-1; lock assertions record it. */
unsigned int this_cpu_id(void);

#endif
