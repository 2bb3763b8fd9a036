/* The final host page tables. The direct map covers every byte up to the end of RAM (and at least 4 GiB, for the
 * MMIO below it) with the largest pages the CPU has, read-write and non-executable. The image is mapped with 4K
 * pages so that text is read-only and executable, and everything else non-executable (W^X). */
#include "arch/x86/cpu.h"
#include "arch/x86/tlb.h"
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

/*
 * Taking guest frames out of the direct map (private memory, vm/private.c). The direct map is built with the largest
 * pages; a private VM's RAM is first remapped with 4K pages (direct_map_split), so that one frame can go absent and
 * come back without touching its neighbours. Splits keep every translation and attribute (pt_map builds each table
 * whole before it links it), so other CPUs using the range see no gap.
 */
static spinlock_t direct_map_lock = SPINLOCK_INIT; /* serialises splits of the direct map's tables */

int direct_map_split(hpa_t pa, u64 len)
{
	u64 nx = cpu_has_nx() ? PTE_NX : 0;
	int r;

	if (pa + len > mm_direct_map_target())
		return -EINVAL;
	spin_lock(&direct_map_lock);
	r = pt_map(&pt_format_host, kernel_pml4, PHYS_MAP_BASE + pa, pa, len, PTE_P | PTE_W | nx, 1, alloc_table);
	spin_unlock(&direct_map_lock);
	/* The huge translations the CPUs cached would outlive a 4K entry cleared later. */
	host_tlb_shootdown();
	return r;
}

/* The 4K entry of the direct map for pa; NULL unless direct_map_split covered it. */
static u64 *direct_map_pte(hpa_t pa)
{
	u64 va = PHYS_MAP_BASE + pa, *t = phys_to_virt(kernel_pml4);

	for (int level = PT_LEVELS; level > 1; level--) {
		u64 e = __atomic_load_n(&t[pt_index(va, level)], __ATOMIC_ACQUIRE);

		if (!(e & PTE_P) || (e & PTE_PS))
			return NULL;
		t = phys_to_virt(e & PT_ADDR_MASK);
	}
	return &t[pt_index(va, 1)];
}

int direct_map_set_present(hpa_t pa, bool present)
{
	u64 nx = cpu_has_nx() ? PTE_NX : 0;
	u64 *pte = direct_map_pte(pa);

	if (!pte || !IS_ALIGNED(pa, PAGE_SIZE))
		return -EINVAL;
	if (present) {
		/* A translation that appears needs no flush: no CPU caches a non-present entry. */
		__atomic_store_n(pte, pa | PTE_P | PTE_W | nx, __ATOMIC_RELEASE);
		return 0;
	}
	if (!(__atomic_exchange_n(pte, 0, __ATOMIC_SEQ_CST) & PTE_P))
		return 0;
	host_tlb_shootdown();
	return 0;
}

bool direct_map_is_present(hpa_t pa)
{
	u64 *pte = direct_map_pte(pa);

	return !pte || (__atomic_load_n(pte, __ATOMIC_ACQUIRE) & PTE_P);
}
