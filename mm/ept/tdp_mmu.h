/* The TDP MMU: the guest-physical page tables (EPT on Intel, NPT on AMD) built on demand from guest faults, through
 * one code path for both formats, which differ only in their bits (struct pt_format). It is one engine of the MMU
 * layer (mm/mmu.h), which owns the lock, the roots and the change hook; this header is what that layer calls. The
 * picture is in tdp_mmu.c. */
#ifndef MM_EPT_TDP_MMU_H
#define MM_EPT_TDP_MMU_H

#include "hv/types.h"

struct mmu;
struct mmu_fault;
struct mmu_root;
struct mmu_engine;
struct memslot;

#define TDP_ROOT_LEVEL 4

/* The TDP engine's own state, in struct mmu (under mmu->lock). */
struct tdp_mmu {
	int max_huge_level;     /* the CPU's (or configuration's) largest TDP leaf, <= fmt->max_leaf_level */
	u64 mmio_gen_base;      /* slots.generation at the last MMIO SPTE sweep (tdp_fault.c) */
	/* Constant after tdp_mmu_init: a fault's RAM leaf but for its address, [huge][writability] with writability
	 * 0 (read-only slot), 1 (host-writable, the gfn write-tracked), 2 (both writable): make_leaf_spte's bits for
	 * every access, worked out once rather than from a dozen format fields on every fault (tdp_ram_leaf_bits). */
	u64 ram_leaf[2][3];
};

extern const struct mmu_engine tdp_engine;

void tdp_mmu_init(struct mmu *mmu, int max_level);

/* The fault in `root` (valid, gfn below PT_MAX_PFN). Returns an mmu_fault_result or -ENOMEM. */
int __tdp_page_fault(struct mmu *mmu, struct mmu_root *root, struct mmu_fault *f);
/* tdp_mmio_sweep_needed(mmu): inline in mm/mmu.h. */
/* Zap the leaves mapping [start, end) in every root, obsolete ones too; tables wholly inside the range are freed,
 * and a huge leaf that sticks out of it goes whole. */
void __tdp_zap_gfn_range(struct mmu *mmu, gfn_t start, gfn_t end);
/* The same in the trees the filter names (enum mmu_zap_filter, mm/private.h). */
void __tdp_zap_gfn_range_filter(struct mmu *mmu, gfn_t start, gfn_t end, int filter);
/* Split huge leaves in [start, end) down to what the levels now allow (eagerly, preserving translations). Where no
 * table frame is left, the leaf is zapped instead: either way no leaf is larger than allowed afterwards. */
void __tdp_split_huge_range(struct mmu *mmu, gfn_t start, gfn_t end);
/* Replace tables in [start, end) by huge leaves wherever backing and levels now allow (installed directly, with the
 * permissions a fault would give; the subtree is freed after a flush). */
void __tdp_collapse_range(struct mmu *mmu, gfn_t start, gfn_t end);
/* Clear W and MMU_WRITABLE in every leaf mapping gfn, in every root (huge leaves must already be split in the valid
 * roots; an obsolete root's huge leaf is zapped): true if an SPTE changed. */
bool __tdp_write_protect_gfn(struct mmu *mmu, gfn_t gfn);

/* The aging walk (tdp_age.c; the engine's age_gfn_range): no lock, grace read sections. MMU_AGE_* flags. */
unsigned int tdp_age_gfn_range(struct mmu *mmu, gfn_t start, gfn_t end, bool test_only);
/* The same walk, ageing, with each gfn of a young leaf marked in young (bit i: gfn start + i); the engine's
 * age_gfn_range_young: true when it made a leaf old. */
bool tdp_age_gfn_range_young(struct mmu *mmu, gfn_t start, gfn_t end, u64 *young);
/* The lockless fault path (tdp_fast.c): fix f (RAM, gfn below PT_MAX_PFN) in root by restoring an access-tracked
 * leaf, or W where MMU_WRITABLE allows it, with one compare-exchange; true if fixed (f->mapped_level set), false for
 * the locked path to decide. root is held by the faulting vCPU. */
bool tdp_fast_page_fault(struct mmu *mmu, struct mmu_root *root, struct mmu_fault *f);

/* The entry a walk towards gfn ends on in root: the leaf mapping gfn, an MMIO SPTE, or 0; *level is its level
 * (tests and reports; takes the lock). */
u64 tdp_lookup(struct mmu *mmu, struct mmu_root *root, gfn_t gfn, int *level);
u64 __tdp_lookup(struct mmu *mmu, struct mmu_root *root, gfn_t gfn, int *level);

#endif
