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
	hpa_t hpa;              /* the top-level table: constant */
	union tdp_role role;    /* constant */
	u32 refcount;           /* mmu->lock: vCPU current/cached slots and in-flight walks hold references */
	u64 generation;         /* mmu->lock: mmu->generation when the root was built */
	struct tdp_root *next;  /* mmu->lock: list of every live root */
};

struct tdp_stats {
	u64 faults;             /* every fault handled, MMIO included */
	u64 faults_mapped[4];   /* [1] 4K, [2] 2M, [3] 1G leaves installed by faults */
	u64 mmio_faults;        /* faults on gfns no memslot backs */
	u64 spurious_faults;    /* the SPTE already allowed the access */
	u64 write_protected_faults; /* writes refused because the gfn is write-tracked or its slot read-only */
	u64 splits;             /* huge leaves replaced by a table of smaller ones */
	u64 collapses;          /* tables replaced by a huge leaf */
	u64 zapped_leaves;      /* present leaves made not present */
	u64 tables_allocated, tables_freed; /* below the roots */
	u64 roots_allocated, roots_freed;
	u64 remote_flushes;     /* ops->flush_remote_tlbs calls */
	u64 mmio_sweeps;        /* all MMIO SPTEs removed because the generation field would wrap (mm/spte.h) */
	u64 yields;             /* long walks that dropped the lock halfway */
};

/* What the MMU needs from its owner (the VM). */
struct tdp_mmu_ops {
	/* Per-gfn largest level the owner allows (write tracking and huge-page disallow counts, mm/track/level.h),
	 * 1..3. Called under mmu->lock. */
	int (*max_level)(void *owner, gfn_t gfn);
	/* Make every vCPU of the owner drop its guest TLB entries for this MMU, for every root it has used (a freed
	 * root's frame can come back as a new root), before it next runs guest code. Called under mmu->lock; tables
	 * unlinked before the call are freed right after it returns, so it must not return while another CPU may still
	 * walk them in guest mode: the VM's implementation kicks every vCPU in the guest out and waits until each has
	 * left (vm_make_all_vcpus_request with wait); the caller's own vCPU flushes before it re-enters. */
	void (*flush_remote_tlbs)(void *owner);
	/* Ask every vCPU to drop the obsolete roots it holds (tdp_vcpu_free_obsolete_roots) before entering. Called
	 * without the lock. */
	void (*request_free_obsolete_roots)(void *owner);
	/* Optional (NULL: nothing is): whether writes to gfn are tracked, so the MMU maps it read-only and reports
	 * writes as TDP_FAULT_WRITE_PROTECTED. A tracked gfn must also disallow huge pages around it
	 * (track_disallow_huge), so that no huge leaf covers it, and whoever starts tracking must write-protect the
	 * SPTEs that already map it: the fault path only sees gfns that fault. Called under mmu->lock. */
	bool (*gfn_write_tracked)(void *owner, gfn_t gfn);
	/* Optional: told of every SPTE change after it is made, under mmu->lock (tests, tracing). */
	void (*spte_changed)(void *owner, gfn_t gfn, u64 old_spte, u64 new_spte, int level);
};

/* Tables unlinked but not yet freed, waiting for the remote TLB flush; a full batch is flushed and freed early. */
#define TDP_FREE_BATCH 64

struct tdp_mmu {
	const struct pt_format *fmt;    /* pt_format_ept / pt_format_ept_noad / pt_format_npt: constant */
	struct memslots *slots;         /* the owner's memslots: constant pointer */
	const struct tdp_mmu_ops *ops;  /* constant */
	void *owner;                    /* constant */
	int max_huge_level;             /* lock: the CPU's largest TDP leaf, <= fmt->max_leaf_level */
	spinlock_t lock;
	struct tdp_root *roots;         /* lock */
	u64 generation;                 /* lock: bumped by tdp_invalidate_all_roots */
	u64 mmio_gen_base;              /* lock: slots->generation at the last MMIO SPTE sweep (tdp_fault.c) */
	/* lock: what the SPTE changes since the last remote flush owe (tdp_change.c) */
	bool flush_pending;
	u32 nr_free_pending;
	hpa_t free_pending[TDP_FREE_BATCH];
	struct tdp_stats stats;         /* lock (read racily for reports) */
};

/* A vCPU's view: its current root and a small cache of previous ones (each holds a reference). Owned by the vCPU;
 * the MMU changes it only from the tdp_vcpu_* calls that vCPU makes, and the roots' refcounts under mmu->lock. */
#define TDP_CACHED_ROOTS 3
struct tdp_vcpu_roots {
	struct tdp_root *current;
	struct tdp_root *cached[TDP_CACHED_ROOTS]; /* most recent first, NULL-terminated */
};

enum tdp_fault_result {
	TDP_FAULT_FIXED,    /* mapped; re-enter the guest */
	TDP_FAULT_SPURIOUS, /* nothing to do (already mapped, or a racing fault did it) */
	TDP_FAULT_MMIO,     /* gfn is not guest RAM: emulate the access */
	TDP_FAULT_RETRY,    /* the root became obsolete; reload roots and re-enter */
	/* A write to a gfn the MMU maps read-only on purpose: it is write-tracked, or its memslot is read-only. The
	 * gfn stays mapped (readable, executable); the caller must emulate the write instruction (a tracked page
	 * table's user sees the write that way), and re-entering without emulating would fault forever. */
	TDP_FAULT_WRITE_PROTECTED,
};

#define TDP_ACC_READ BIT(0)
#define TDP_ACC_WRITE BIT(1)
#define TDP_ACC_EXEC BIT(2)

void tdp_mmu_init(struct tdp_mmu *mmu, const struct pt_format *fmt, struct memslots *slots,
		  const struct tdp_mmu_ops *ops, void *owner);
/* Limit leaves to `level` (2 on CPUs without 1G TDP pages, e.g. Sandy Bridge EPT); call before the first fault
 * (leaves already larger stay until tdp_split_huge_range). */
void tdp_mmu_set_max_level(struct tdp_mmu *mmu, int level);
/* Free every root and table; no vCPU may hold a root any more. */
void tdp_mmu_destroy(struct tdp_mmu *mmu);

/* Make vr->current a valid root of this role: keep it if it is, else take a matching valid one from the cache or
 * the MMU's list, else build a new one. The previous current root moves into the cache (or is dropped if obsolete).
 * 0, -ENOMEM (vr unchanged), or -EINVAL for a role the MMU cannot build (levels != 4). */
int tdp_vcpu_load_root(struct tdp_mmu *mmu, struct tdp_vcpu_roots *vr, union tdp_role role);
/* Drop the obsolete roots this vCPU holds, current or cached; valid ones stay. Returns true if current was dropped
 * (the caller must load a root again before entering). */
bool tdp_vcpu_free_obsolete_roots(struct tdp_mmu *mmu, struct tdp_vcpu_roots *vr);
/* Drop every root this vCPU holds (vCPU teardown). */
void tdp_vcpu_put_roots(struct tdp_mmu *mmu, struct tdp_vcpu_roots *vr);

/* Handle a guest-physical fault in `root` at gpa for an access of kind TDP_ACC_*. *mapped_level is the level of the
 * leaf now mapping gpa (for FIXED, SPURIOUS and WRITE_PROTECTED). Returns a tdp_fault_result or -ENOMEM. */
int tdp_page_fault(struct tdp_mmu *mmu, struct tdp_root *root, gpa_t gpa, u32 access, int *mapped_level);

/* Zap the leaves mapping [start, end) in every root, obsolete ones too; tables wholly inside the range are freed,
 * and a huge leaf that sticks out of it goes whole. Flushes remote TLBs if anything present was zapped. */
void tdp_zap_gfn_range(struct tdp_mmu *mmu, gfn_t start, gfn_t end);
/* Mark every root obsolete (a new generation) and ask vCPUs to drop them; the roots are freed when the last
 * reference goes. Roots built afterwards are valid. */
void tdp_invalidate_all_roots(struct tdp_mmu *mmu);
/* Split huge leaves in [start, end) down to what max_level now allows (eagerly, preserving translations). Where no
 * table frame is left, the leaf is zapped instead: either way no leaf is larger than allowed afterwards. */
void tdp_split_huge_range(struct tdp_mmu *mmu, gfn_t start, gfn_t end);
/* Replace tables in [start, end) by huge leaves wherever backing and max_level now allow (installed directly, with
 * the permissions a fault would give; the subtree is freed after a flush). */
void tdp_collapse_range(struct tdp_mmu *mmu, gfn_t start, gfn_t end);

/* Look up gfn in root (tests and reports): the entry the walk ends on, that is the leaf mapping gfn, an MMIO SPTE,
 * or 0 when there is neither; *level is that entry's level. */
u64 tdp_lookup(struct tdp_mmu *mmu, struct tdp_root *root, gfn_t gfn, int *level);

bool tdp_root_is_obsolete(const struct tdp_mmu *mmu, const struct tdp_root *root);

/* The VMCS EPT pointer for root: WB paging-structure memory type, 4-level walk, A/D enable (bit 6) when the format
 * has A/D. (NPT needs no helper: nCR3 is root->hpa.) */
u64 tdp_eptp(const struct tdp_mmu *mmu, const struct tdp_root *root);

#endif
