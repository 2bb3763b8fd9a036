/* The TDP MMU: the guest-physical page tables (EPT on Intel, NPT on AMD) built on demand from guest faults, through
 * one code path for both formats. This header is the contract between the MMU and its users (the vm/ core and the
 * vendor backends); the implementation and its invariants live in mm/ept/ (see tdp_mmu.c for the picture).
 *
 * Locking: mmu->lock (a spinlock) serialises every structural change: faults, zaps, splits, collapses, root
 * allocation and freeing. Every SPTE is written atomically and through one function, so a lockless walker (A/D
 * aging, a later issue) always sees either the old or the new entry. */
#ifndef MM_EPT_TDP_MMU_H
#define MM_EPT_TDP_MMU_H

#include "hv/spinlock.h"
#include "mm/pt.h"

struct memslots;

/* Why a root exists: vCPUs with equal roles share roots. as_id separates address spaces (SMM later). */
union tdp_role {
	u32 word;
	struct {
		u32 levels : 3; /* 4 (5-level paging is not supported) */
		u32 as_id : 1;
		u32 ad_disabled : 1;
	};
};

struct tdp_root {
	hpa_t hpa;              /* the top-level table */
	union tdp_role role;
	u32 refcount;           /* mmu->lock: vCPU current/cached slots and in-flight walks hold references */
	u64 generation;         /* mmu->lock: mmu->generation when the root was built */
	struct tdp_root *next;  /* mmu->lock: list of every live root */
};

struct tdp_stats {
	u64 faults;             /* every fault handled, MMIO included */
	u64 faults_mapped[4];   /* [1] 4K, [2] 2M, [3] 1G leaves installed by faults */
	u64 mmio_faults;        /* faults on gfns no memslot backs */
	u64 spurious_faults;    /* the SPTE already allowed the access */
	u64 splits;             /* huge leaves replaced by a table of smaller ones */
	u64 collapses;          /* tables replaced by (or zapped for) a huge leaf */
	u64 zapped_leaves;
	u64 tables_allocated, tables_freed;
	u64 roots_allocated, roots_freed;
};

/* What the MMU needs from its owner (the VM). */
struct tdp_mmu_ops {
	/* Per-gfn largest level the owner allows (write tracking and huge-page disallow counts), 1..3. */
	int (*max_level)(void *owner, gfn_t gfn);
	/* Ask every vCPU of the owner to flush its guest TLB for this MMU before it next enters the guest. */
	void (*flush_remote_tlbs)(void *owner);
	/* Ask every vCPU to drop the obsolete roots it holds (tdp_vcpu_free_obsolete_roots) before entering. */
	void (*request_free_obsolete_roots)(void *owner);
};

struct tdp_mmu {
	const struct pt_format *fmt;    /* pt_format_ept / pt_format_npt: constant */
	struct memslots *slots;         /* the owner's memslots: constant pointer */
	const struct tdp_mmu_ops *ops;  /* constant */
	void *owner;                    /* constant */
	spinlock_t lock;
	struct tdp_root *roots;         /* lock */
	u64 generation;                 /* lock: bumped by tdp_invalidate_all_roots */
	struct tdp_stats stats;         /* lock (read racily for reports) */
};

/* A vCPU's view: its current root and a small cache of previous ones (each holds a reference). */
#define TDP_CACHED_ROOTS 3
struct tdp_vcpu_roots {
	struct tdp_root *current;
	struct tdp_root *cached[TDP_CACHED_ROOTS];
};

enum tdp_fault_result {
	TDP_FAULT_FIXED,    /* mapped; re-enter the guest */
	TDP_FAULT_SPURIOUS, /* nothing to do (already mapped, or a racing fault did it) */
	TDP_FAULT_MMIO,     /* gfn is not guest RAM: emulate the access */
	TDP_FAULT_RETRY,    /* the root became obsolete; reload roots and re-enter */
};

#define TDP_ACC_READ BIT(0)
#define TDP_ACC_WRITE BIT(1)
#define TDP_ACC_EXEC BIT(2)

void tdp_mmu_init(struct tdp_mmu *mmu, const struct pt_format *fmt, struct memslots *slots,
		  const struct tdp_mmu_ops *ops, void *owner);
/* Free every root and table; no vCPU may hold a root any more. */
void tdp_mmu_destroy(struct tdp_mmu *mmu);

/* Make vr->current a valid root of this role: keep it if it is, else take a matching valid one from the cache or
 * the MMU's list, else build a new one. The previous current root moves into the cache. 0 or -ENOMEM. */
int tdp_vcpu_load_root(struct tdp_mmu *mmu, struct tdp_vcpu_roots *vr, union tdp_role role);
/* Drop the obsolete roots this vCPU holds, current or cached; valid ones stay. Returns true if current was dropped
 * (the caller must load a root again before entering). */
bool tdp_vcpu_free_obsolete_roots(struct tdp_mmu *mmu, struct tdp_vcpu_roots *vr);
/* Drop every root this vCPU holds (vCPU teardown). */
void tdp_vcpu_put_roots(struct tdp_mmu *mmu, struct tdp_vcpu_roots *vr);

/* Handle a guest-physical fault in `root` at gpa for an access of kind TDP_ACC_*. *mapped_level is the level of the
 * leaf now mapping gpa (for FIXED and SPURIOUS). Returns a tdp_fault_result or -ENOMEM. */
int tdp_page_fault(struct tdp_mmu *mmu, struct tdp_root *root, gpa_t gpa, u32 access, int *mapped_level);

/* Zap the leaves mapping [start, end) in every root; flushes remote TLBs if anything was zapped. */
void tdp_zap_gfn_range(struct tdp_mmu *mmu, gfn_t start, gfn_t end);
/* Mark every root obsolete (a new generation) and ask vCPUs to drop them; the roots are freed when the last
 * reference goes. Roots built afterwards are valid. */
void tdp_invalidate_all_roots(struct tdp_mmu *mmu);
/* Split huge leaves in [start, end) down to what max_level now allows (eagerly, preserving translations). */
void tdp_split_huge_range(struct tdp_mmu *mmu, gfn_t start, gfn_t end);
/* Replace tables in [start, end) by huge leaves wherever backing and max_level now allow. */
void tdp_collapse_range(struct tdp_mmu *mmu, gfn_t start, gfn_t end);

/* Look up the leaf mapping gfn in root (tests and reports): the SPTE value (0 if none) and its level. */
u64 tdp_lookup(struct tdp_mmu *mmu, struct tdp_root *root, gfn_t gfn, int *level);

bool tdp_root_is_obsolete(const struct tdp_mmu *mmu, const struct tdp_root *root);

#endif
