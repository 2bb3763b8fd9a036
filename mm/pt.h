/* Page-table formats and the host mapper. Every table this hypervisor builds is an x86 4-level radix tree; a
 * `struct pt_format` names the bits one kind of entry uses (host, EPT with or without A/D, NPT), and one walker
 * (mm/pt_iter.h) serves them all. pt_map/pt_lookup/pt_translate build and read the host tables with it.
 *
 *   level 4 (PML4) --> level 3 (PDPT, 1G leaves) --> level 2 (PD, 2M leaves) --> level 1 (PT, 4K leaves)
 *   va bits: [47:39]            [38:30]                   [29:21]                  [20:12]
 */
#ifndef MM_PT_H
#define MM_PT_H

#include "hv/compiler.h"
#include "hv/platform.h"

#define PT_LEVELS 4
/* The deepest tree any walk meets: a shadow root of a guest with 5-level paging (CR4.LA57). Only the iterator and the
 * change hook need it; TDP and host tables, which PT_LEVELS and PT_MAX_PFN describe, stay 4-level. */
#define PT_MAX_LEVELS 5
#define PT_ENTRIES 512
#define PT_ADDR_MASK GENMASK_ULL(51, 12)
/* Page numbers a 4-level tree reaches: 48-bit addresses. */
#define PT_MAX_PFN (1ULL << (9 * PT_LEVELS))

/* Host and NPT (ordinary x86-64) entry bits. */
#define PTE_P BIT(0)
#define PTE_W BIT(1)
#define PTE_U BIT(2)
#define PTE_PWT BIT(3)
#define PTE_PCD BIT(4)
#define PTE_A BIT(5)
#define PTE_D BIT(6)
#define PTE_PS BIT(7)
#define PTE_G BIT(8)
#define PTE_NX BIT(63)
/* Bits the x86 hardware may interpret: 0-8, the address, NX, and 59-62 (protection keys in some contexts, which
 * software must therefore avoid). Bits 9-11 and 52-58 are available to software. */
#define X86_PTE_HW_MASK (GENMASK_ULL(8, 0) | PT_ADDR_MASK | GENMASK_ULL(63, 59))

/* EPT entry bits (SDM vol. 3C, "EPT Translation Mechanism"). */
#define EPT_R BIT(0)
#define EPT_W BIT(1)
#define EPT_X BIT(2)
#define EPT_RWX (EPT_R | EPT_W | EPT_X)
#define EPT_MT_SHIFT 3
#define EPT_MT_MASK GENMASK_ULL(5, 3)
#define EPT_MT_UC (0ULL << EPT_MT_SHIFT)
#define EPT_MT_WB (6ULL << EPT_MT_SHIFT)
#define EPT_IPAT BIT(6) /* ignore the guest PAT: the memory type is the EPT one */
#define EPT_PS BIT(7)   /* leaf at level 2 or 3 */
#define EPT_A BIT(8)    /* only when EPTP bit 6 enables A/D */
#define EPT_D BIT(9)
#define EPT_UX BIT(10)  /* user-mode execute under mode-based execute control, which is never enabled */
#define EPT_SVE BIT(63) /* suppress #VE */
/* Bits the EPT hardware may interpret. 52-62 are ignored as long as the paging-write, guest-paging-verification,
 * supervisor-shadow-stack and sub-page-permission controls stay off, which they do; bit 11 is always ignored. */
#define EPT_HW_MASK (GENMASK_ULL(10, 0) | PT_ADDR_MASK | EPT_SVE)

/* What one kind of entry looks like. The TDP MMU builds every SPTE from these fields (mm/spte.h), so EPT and NPT
 * differ in data, not in code. */
struct pt_format {
	const char *name;
	/* Walkers test `e & present` for "maps or points to something". Host: P. TDP formats: the software bit
	 * SPTE_MMU_PRESENT, because neither EPT's R/W/X nor x86's P tells a live SPTE from an MMIO one (mm/spte.h). */
	u64 present;
	u64 readable;   /* EPT R; x86: P (every present x86 entry is readable) */
	u64 writable;   /* EPT W; x86 W */
	u64 executable; /* EPT X; 0 for x86, where execution is the absence of nx */
	u64 nx;         /* x86 NX; 0 for EPT */
	u64 user;       /* x86 U. NPT needs it at every level: the nested walk treats every access as a user access */
	u64 accessed;   /* hardware A and D bits; both 0 when the format does not enable them */
	u64 dirty;
	u64 huge;        /* leaf at level 2 or 3 (bit 7 in every format) */
	u64 leaf_attrs;  /* added to every TDP leaf: EPT memory type WB + ignore-PAT; 0 for x86 (PAT entry 0 is WB) */
	u64 table_attrs; /* an entry pointing to a lower table: every permission, so the leaf alone decides */
	/* (e & mmio_mask) == mmio_value marks an MMIO SPTE: an entry the hardware refuses with an exit that names the
	 * gpa (EPT misconfiguration: W without R; NPT: P with reserved bit 51, an #NPF with RSVD set). A format with
	 * mmio_value 0 caches no MMIO SPTEs (for an NPT host with MAXPHYADDR 52, where no bit 51 is reserved). */
	u64 mmio_mask;
	u64 mmio_value;
	u64 hw_mask;        /* every bit the hardware may interpret; software bits must stay outside it */
	u8 max_leaf_level;  /* 3: the format has 1G leaves (the CPU may still lack them: tdp_mmu_set_max_level) */
	bool ad_enabled;    /* accessed/dirty are maintained by the hardware */
};

extern const struct pt_format pt_format_host;
extern const struct pt_format pt_format_ept;      /* EPT, A/D enabled (EPTP bit 6) */
extern const struct pt_format pt_format_ept_noad; /* EPT without A/D (Sandy Bridge) */
extern const struct pt_format pt_format_npt;      /* AMD nested paging: ordinary x86-64 entries */

static inline unsigned int pt_index(u64 va, int level)
{
	return (va >> (PAGE_SHIFT + 9 * (level - 1))) & (PT_ENTRIES - 1);
}

static inline u64 pt_level_size(int level)
{
	return 1ULL << (PAGE_SHIFT + 9 * (level - 1));
}

/* Page frames one entry at `level` covers: 1, 512, 512^2, 512^3. */
static inline u64 pt_level_pages(int level)
{
	return 1ULL << (9 * (level - 1));
}

static inline bool pt_is_present(const struct pt_format *fmt, u64 e)
{
	return (e & fmt->present) != 0;
}

static inline bool pt_is_leaf(const struct pt_format *fmt, u64 e, int level)
{
	return level == 1 || (e & fmt->huge);
}

/* The table a present non-leaf entry points to. */
static inline u64 *pt_child_table(u64 e)
{
	return phys_to_virt(e & PT_ADDR_MASK);
}

/* The address a leaf at `level` maps (its low bits are attributes, such as a huge page's PAT bit 12). */
static inline hpa_t pt_leaf_hpa(u64 e, int level)
{
	return e & PT_ADDR_MASK & ~(pt_level_size(level) - 1);
}

/* Entry i of the table that replaces the huge leaf `huge` at `level`: the same attributes and the matching slice of
 * its translation, so the split changes no translation and no permission. In a 4K entry bit 7 is PAT (x86) or
 * ignored (EPT), never "huge", so it is cleared there. */
static inline u64 pt_huge_child(const struct pt_format *fmt, u64 huge, int level, unsigned int i)
{
	u64 attrs = huge & ~PT_ADDR_MASK;

	if (level - 1 == 1)
		attrs &= ~fmt->huge;
	return (pt_leaf_hpa(huge, level) + i * pt_level_size(level - 1)) | attrs;
}

/* Supplies zeroed table frames; returns INVALID_HPA when out of memory. */
typedef hpa_t (*pt_alloc_fn)(void);

/* Map [va, va+size) to [pa, pa+size) with `leaf_attrs`, using the largest leaves that alignment, the format and
 * `max_level` allow. Existing leaves in the range are replaced; a huge leaf that is only partly covered is split
 * first so the rest of it keeps its translation. Where a lower table already exists it is kept and filled (pt_map
 * never frees tables). va (canonical), pa and size must be page-aligned (-EINVAL otherwise). Returns 0 or -ENOMEM
 * (mappings made so far stay). No locking: the caller serialises changes to one tree. */
int pt_map(const struct pt_format *fmt, hpa_t root, u64 va, hpa_t pa, u64 size, u64 leaf_attrs, int max_level,
	   pt_alloc_fn alloc);

/* The leaf entry translating va and its level, or NULL when va is not mapped. */
u64 *pt_lookup(const struct pt_format *fmt, hpa_t root, u64 va, int *level);

/* Translate va; INVALID_HPA when not mapped. */
hpa_t pt_translate(const struct pt_format *fmt, hpa_t root, u64 va);

#endif
