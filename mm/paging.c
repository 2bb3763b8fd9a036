/* The final host page tables. The direct map covers every byte up to the end of RAM (and at least 4 GiB, for the
 * MMIO below it) with the largest pages the CPU has, read-write and non-executable. The image is mapped with 4K
 * pages so that text is read-only and executable, and everything else non-executable (W^X). */
#include "arch/x86/cpu.h"
#include "hv/errno.h"
#include "hv/layout.h"
#include "hv/log.h"
#include "hv/platform.h"
#include "hv/spinlock.h"
#include "mm/mm.h"
#include "mm/pt.h"

hpa_t kernel_pml4;

static hpa_t alloc_table_early(void)
{
	return frame_alloc_below(0, EARLY_MAP_SIZE);
}

static hpa_t alloc_table(void)
{
	return frame_alloc(0);
}

int mm_paging_init(void)
{
	extern char __text_start[], __text_end[], __image_end[];
	u64 nx = cpu_has_nx() ? PTE_NX : 0;
	int big = cpu_has_feature_1gpage() ? 3 : 2;
	hpa_t root = alloc_table_early();
	int r;

	if (root == INVALID_HPA)
		return -ENOMEM;
	u64 top = mm_direct_map_target();

	r = pt_map(&pt_format_host, root, PHYS_MAP_BASE, 0, top, PTE_P | PTE_W | nx, big, alloc_table_early);
	if (r)
		return r;

	u64 text = (u64)__text_start, etext = (u64)__text_end, end = ALIGN_UP((u64)__image_end, PAGE_SIZE);
	r = pt_map(&pt_format_host, root, text, text - KERNEL_VIRT_BASE, etext - text, PTE_P, 1, alloc_table_early);
	if (!r)
		r = pt_map(&pt_format_host, root, etext, etext - KERNEL_VIRT_BASE, end - etext, PTE_P | PTE_W | nx, 1,
			   alloc_table_early);
	if (r)
		return r;

	write_cr3(root);
	kernel_pml4 = root;
	mm_mark_direct_map_complete();
	pr_info("hv: mm: direct map of %llu GiB with %s pages, image W^X%s\n", (unsigned long long)(top >> 30),
		big == 3 ? "1G" : "2M", nx ? "" : " (no NX on this CPU)");
	return 0;
}

static spinlock_t ioremap_lock = SPINLOCK_INIT; /* protects ioremap_next and the ioremap page tables */
static u64 ioremap_next = IOREMAP_BASE;

void *ioremap(hpa_t pa, u64 size)
{
	u64 off = pa & (PAGE_SIZE - 1), len = ALIGN_UP(size + off, PAGE_SIZE);
	u64 nx = cpu_has_nx() ? PTE_NX : 0;
	void *va = NULL;

	spin_lock(&ioremap_lock);
	if (ioremap_next + len <= IOREMAP_BASE + IOREMAP_SIZE &&
	    pt_map(&pt_format_host, kernel_pml4, ioremap_next, pa - off, len, PTE_P | PTE_W | PTE_PCD | PTE_PWT | nx,
		   1, alloc_table) == 0) {
		va = (void *)(ioremap_next + off);
		ioremap_next += len;
	}
	spin_unlock(&ioremap_lock);
	return va;
}
