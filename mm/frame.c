/* The global frame allocator: one buddy allocator (mm/pmm.c) covering all usable RAM, built from the multiboot2 map
 * minus everything that is already in use when the hypervisor starts. This file supplies the platform's
 * frame_alloc()/frame_free(). Until the final page tables map all memory, allocations are kept below the 4 GiB the
 * early tables map, so every frame handed out can be zeroed through the direct map. */
#include "hv/bug.h"
#include "hv/errno.h"
#include "hv/layout.h"
#include "hv/log.h"
#include "hv/platform.h"
#include "hv/string.h"
#include "mm/memmap.h"
#include "mm/mm.h"
#include "mm/pmm.h"

#define MAX_RANGES 512

static struct pmm pmm;
static bool direct_map_complete; /* set once by mm_paging_init, before any AP runs */
/* End of what the direct map covers: all usable and ACPI memory, and at least the 4 GiB the early map covers.
 * Set by mm_frames_init; firmware-table parsers check against it before they dereference. */
static u64 direct_map_top = EARLY_MAP_SIZE;
static u64 direct_map_top_target; /* what mm_paging_init will map */

bool phys_range_mapped(hpa_t pa, u64 len)
{
	return pa <= direct_map_top && len <= direct_map_top - pa;
}


hpa_t virt_to_phys(const void *va)
{
	u64 v = (u64)va;
	if (v >= KERNEL_VIRT_BASE)
		return v - KERNEL_VIRT_BASE;
	BUG_ON(v < PHYS_MAP_BASE);
	return v - PHYS_MAP_BASE;
}

hpa_t frame_alloc_below(unsigned int order, hpa_t limit)
{
	hfn_t f;

	if (pmm_alloc_below(&pmm, order, limit >> PAGE_SHIFT, &f))
		return INVALID_HPA;
	hpa_t pa = f << PAGE_SHIFT;
	memset(phys_to_virt(pa), 0, PAGE_SIZE << order);
	return pa;
}

hpa_t frame_alloc_dirty(unsigned int order)
{
	hfn_t f;

	if (!direct_map_complete)
		return frame_alloc_below(order, EARLY_MAP_SIZE);
	if (pmm_alloc(&pmm, order, &f))
		return INVALID_HPA;
	return f << PAGE_SHIFT;
}

hpa_t frame_alloc(unsigned int order)
{
	hpa_t pa = frame_alloc_dirty(order);

	if (pa != INVALID_HPA && direct_map_complete)
		memset(phys_to_virt(pa), 0, PAGE_SIZE << order);
	return pa;
}

void frame_free(hpa_t pa, unsigned int order)
{
	/* A bad free is the hypervisor's own bug; pmm has already said which frame. */
	BUG_ON(pmm_free(&pmm, pa >> PAGE_SHIFT, order) != 0);
}

u64 mm_free_frames(void)
{
	return pmm_free_frames(&pmm);
}

u64 mm_total_frames(void)
{
	return pmm_total_frames(&pmm);
}

u64 mm_phys_top(void)
{
	return (pmm.base + pmm.nframes) << PAGE_SHIFT;
}

u64 mm_direct_map_target(void)
{
	return direct_map_top_target;
}

void mm_mark_direct_map_complete(void)
{
	direct_map_top = direct_map_top_target;
	direct_map_complete = true;
}

int mm_frames_init(const struct boot_info *bi)
{
	extern char __image_start[], __image_end[];
	static struct mem_range usable[BOOT_MAX_MMAP], unusable[BOOT_MAX_MMAP], reserved[BOOT_MAX_MODULES + 4];
	static struct mem_range free[MAX_RANGES];
	u32 nu = 0, nn = 0, nr = 0, nfree;

	u64 top = EARLY_MAP_SIZE;
	for (u32 i = 0; i < bi->nr_mmap; i++) {
		const struct boot_mem_region *m = &bi->mmap[i];
		struct mem_range r = { m->base, m->len };
		if (m->type == BOOT_MEM_USABLE)
			usable[nu++] = r;
		else
			unusable[nn++] = r;
		/* ACPI tables live in reclaimable or NVS memory, possibly above all usable RAM. */
		if (m->type == BOOT_MEM_USABLE || m->type == BOOT_MEM_ACPI_RECLAIM || m->type == BOOT_MEM_ACPI_NVS)
			top = MAX(top, ALIGN_UP(m->base + m->len, HUGE_1G_SIZE));
	}
	/* Frame 0 holds the real-mode IVT and is never a valid allocation (0 reads as "no frame" in places). */
	reserved[nr++] = (struct mem_range){ 0, PAGE_SIZE };
	reserved[nr++] = (struct mem_range){ (u64)__image_start - KERNEL_VIRT_BASE,
					     (u64)(__image_end - __image_start) };
	reserved[nr++] = (struct mem_range){ bi->mbi_start, bi->mbi_end - bi->mbi_start };
	for (u32 i = 0; i < bi->nr_modules; i++)
		reserved[nr++] = (struct mem_range){ bi->modules[i].start, bi->modules[i].end - bi->modules[i].start };

	if (memmap_build_free(usable, nu, unusable, nn, reserved, nr, free, MAX_RANGES - 1, &nfree))
		pr_warn("hv: mm: more than %d free ranges; the highest ones are left unused\n", MAX_RANGES);
	if (!nfree) {
		pr_err("hv: mm: the memory map leaves no usable memory\n");
		return -ENOMEM;
	}

	hfn_t lo = free[0].base >> PAGE_SHIFT;
	hfn_t hi = (free[nfree - 1].base + free[nfree - 1].len) >> PAGE_SHIFT;
	if (hi - lo > PMM_MAX_FRAMES) {
		pr_warn("hv: mm: memory above %llu GiB is left unused\n",
			(unsigned long long)(((lo + PMM_MAX_FRAMES) << PAGE_SHIFT) >> 30));
		hi = lo + PMM_MAX_FRAMES;
	}
	size_t meta_size = ALIGN_UP(pmm_metadata_size(lo, hi - lo), PAGE_SIZE);
	u64 meta;
	if (!memmap_find_fit(free, nfree, meta_size, PAGE_SIZE, EARLY_MAP_SIZE, &meta)) {
		pr_err("hv: mm: no room below 4 GiB for %zu bytes of frame metadata\n", meta_size);
		return -ENOMEM;
	}
	/* The carve can need one more slot; build_free never fills the last one, so it always has it. */
	BUG_ON(memmap_carve(free, &nfree, MAX_RANGES, meta, meta_size) != 0);

	pmm_init(&pmm, lo, hi - lo, phys_to_virt(meta));
	/* Until the final tables exist only the early 4 GiB are mapped; mm_paging_init raises this. */
	direct_map_top_target = MAX(top, ALIGN_UP(hi << PAGE_SHIFT, HUGE_1G_SIZE));
	for (u32 i = 0; i < nfree; i++) {
		hfn_t s = free[i].base >> PAGE_SHIFT, e = (free[i].base + free[i].len) >> PAGE_SHIFT;
		if (s >= hi)
			break;
		BUG_ON(pmm_add_free(&pmm, s, MIN(e, hi) - s) != 0); /* ranges are disjoint and inside the span */
	}
	pr_info("hv: mm: %llu MiB usable in %u ranges, frame metadata %zu KiB at 0x%llx\n",
		(unsigned long long)(pmm_total_frames(&pmm) >> 8), nfree, meta_size >> 10, (unsigned long long)meta);
	return 0;
}
