/* The platform interface: everything the portable code (boot parsers, mm/, vm/) needs from the machine. The
 * hypervisor implements it in mm/ and kernel/; host unit tests implement it over fake physical memory
 * (tests/unit/fake_platform.c). Portable code includes this header and touches no hardware directly. */
#ifndef HV_PLATFORM_H
#define HV_PLATFORM_H

#include "hv/types.h"

#define INVALID_HPA (~0ULL)
#define INVALID_GPA (~0ULL)

/* Direct map: every host frame is reachable at a fixed virtual offset. Inline in the hypervisor, where every table
 * walk step goes through it; host unit tests supply fake memory instead (tests/unit/fake_platform.c). */
#ifdef HV_HOST_TEST
void *phys_to_virt(hpa_t pa);
#else
#include "hv/layout.h"
static inline void *phys_to_virt(hpa_t pa)
{
	return (void *)(pa + PHYS_MAP_BASE);
}
#endif
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

/* Index of the executing CPU, 0..ncpus-1; lock assertions record it. In the hypervisor one %gs-relative load of
 * struct percpu.cpu_id (kernel/percpu.h asserts the offset): the MMU lock's assertions read it several times per
 * fault, and a call each time was a tenth of the fault path. */
#ifdef HV_HOST_TEST
unsigned int this_cpu_id(void);
#else
#define PERCPU_CPU_ID_OFFSET 8
static inline unsigned int this_cpu_id(void)
{
	unsigned int id;

	__asm__ __volatile__("movl %%gs:%c1, %0" : "=r"(id) : "i"(PERCPU_CPU_ID_OFFSET));
	return id;
}
#endif

#endif
