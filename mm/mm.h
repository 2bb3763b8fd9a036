/* Memory-manager bring-up: frames from the multiboot2 map, then the final host page tables, then the heap. */
#ifndef MM_MM_H
#define MM_MM_H

#include "boot/mb2.h"
#include "hv/types.h"

/* Build the frame allocator from the boot memory map, excluding the image, the modules and the information block.
 * Returns 0 or a negative errno (logged) when no usable memory is left. */
int mm_frames_init(const struct boot_info *bi);
/* Replace the early page tables by the final ones: the direct map of all memory, the image with W^X. */
int mm_paging_init(void);
void mm_heap_init(void);

/* A frame of 2^order pages below `limit` (a physical address), zeroed; INVALID_HPA if none. */
hpa_t frame_alloc_below(unsigned int order, hpa_t limit);
/* Free and total frames, for reports. */
u64 mm_free_frames(void);
u64 mm_total_frames(void);
/* One past the highest frame the allocator covers, as a physical address. */
u64 mm_phys_top(void);
/* The end of the direct map mm_paging_init builds, and the hook it calls once it is live. */
u64 mm_direct_map_target(void);
void mm_mark_direct_map_complete(void);

/* The final host page-table root (PML4), for APs and the trampoline. */
extern hpa_t kernel_pml4;

/* Map device memory uncached at a fresh virtual address; NULL when out of space or memory. */
void *ioremap(hpa_t pa, u64 size);

/* The direct map, frame by frame (private memory): remap [pa, pa + len) with 4K pages (0, -ENOMEM, -EINVAL);
 * then make one 4K frame of it absent (every CPU's TLB flushed before return) or present again (0, -EINVAL where
 * direct_map_split has not been); and read back whether it is present. */
int direct_map_split(hpa_t pa, u64 len);
int direct_map_set_present(hpa_t pa, bool present);
bool direct_map_is_present(hpa_t pa);

#endif
