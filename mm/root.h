/* MMU roots, shared by both engines: a root is a refcounted top-level table named by what it translates (the
 * guest's page-table base `pgd`, 0 for TDP) and how (`role`). vCPUs hold their current root and a small cache of
 * previous ones, so a switch back (a CR3 load of an earlier process under shadow paging, a change of role) finds its
 * tree populated. Invalidation is by generation: a root built before the MMU's current generation is obsolete, and
 * each vCPU drops only the obsolete roots it holds, never the valid ones. */
#ifndef MM_ROOT_H
#define MM_ROOT_H

#include "mm/frame_cache.h"
#include "hv/compiler.h"

struct mmu;

/*
 * Everything that decides how a root's tree translates. Two vCPUs share a root only when their roles are equal, so
 * every input that changes the translation or the permissions a tree grants is a bit here. A shadow page below a
 * root carries the root's role with its own level, direct, quadrant and access (mm/shadow/): its entries are made
 * under those bits too, and shadow pages are shared by (gfn, role) between every parent entry (of any root) that
 * points to the same guest table (mm/shadow/sshare.c). So every bit a shadow page's contents depend on, besides the
 * guest table itself, must be here, or two parents that need different contents would share one page.
 */
union mmu_role {
	u32 word;
	struct {
		/* Of the hardware table: 5 (a guest with 5-level paging, shadowed), 4 (TDP and 4-level guests) or 3
		 * (PAE format, for every guest outside long mode: a PAE or 32-bit guest, or one with paging off). The
		 * hardware never walks a 2-level table of ours. */
		u32 level : 3;
		u32 direct : 1;          /* maps gpa (TDP, or a guest with paging off), not a guest page table */
		/* The guest's paging controls that change what its PTEs permit, for an engine whose leaves would grant
		 * what only they allow (KVM's shadow MMU maps a read-only page supervisor-writable under CR0.WP=0).
		 * The shadow MMU here leaves all three 0: its leaves grant only what the guest's entries grant, under
		 * any setting (a supervisor write that only WP=0 allows faults and is emulated, SMEP and SMAP are the
		 * hardware's own checks of the guest's CR4 against the leaf's U bit), so one shadow serves them all. */
		u32 cr0_wp : 1;          /* supervisor writes honour R/W */
		u32 smep_andnot_wp : 1;  /* SMEP with WP clear: a supervisor-writable user page must not be executable */
		u32 smap_andnot_wp : 1;  /* SMAP with WP clear: likewise for supervisor reads of user pages */
		/* Bit 63 of a guest entry is XD rather than reserved: leaves made for one setting are wrong for the
		 * other (32-bit guest entries have no bit 63: always 0 there). */
		u32 efer_nx : 1;
		/* Which part of a 32-bit guest table a PAE-format shadow table covers. A guest entry consumes 10
		 * bits of the address and a shadow one 9: a guest page directory (4 GiB) is shadowed by 4
		 * directories, one per GiB (quadrant 0..3, fixed by the root's PDPTE that points to each); a guest
		 * page table (4 MiB) by 2 tables, one per 2 MiB half (quadrant 0/1: bit 21 of the address, the low
		 * bit of the shadow PDE's index). Shadow pages of one guest table differ in nothing else, and a guest
		 * write to that table must find, in each, only the shadow entries of the entry written. 0 for 8-byte
		 * guest entries. */
		u32 quadrant : 2;
		/* 32-bit guest tables: entries of 4 bytes, 1024 per table (the guest's CR4.PAE clear). The same gfn
		 * read as 8-byte entries is another table, so a 32-bit and a PAE root of one CR3 must never share a
		 * shadow page; it also says how a guest write to the table is cut into entries. */
		u32 has_4_byte_gpte : 1;
		/* 32-bit guests only: CR4.PSE, whether PS in a PDE maps a 4 MiB page (shadowed by direct pages) or is
		 * ignored (the PDE points to a page table). A root built under one setting holds the wrong children for
		 * the other. PAE and 4-level paging ignore CR4.PSE: always 0 there. */
		u32 cr4_pse : 1;
		/* Shadow pages below a root only (0 in roots and in a PAE-format root's directories, which nothing
		 * above restricts): the SPTE_ACC_* the guest entries above the shadowed table grant together (W and U
		 * only if every one has R/W and U/S, X unless one has XD). A leaf's permissions are this AND its own
		 * guest entry's, so two parents whose paths grant differently (a user and a supervisor-only mapping of
		 * one page table) must not share the shadow of it. For a direct page below a guest huge page: that
		 * page's whole access, W only once the guest's D bit is set (the leaves then need no per-entry guest
		 * state at all). */
		u32 access : 4;
		/* Shadow pages below a PAE-format root (level 3) only: the hardware walks them in PAE format, which
		 * reserves bits 62:52 of every entry (SDM Vol. 3A, tables 4-9 to 4-11), where the SPTEs of 4-level
		 * tables keep software bits. The same guest table under a 4-level guest and under a PAE one (a guest
		 * switching modes) has two shadows, each in its own format. */
		u32 pae_format : 1;
		u32 ad_disabled : 1;     /* the format has no hardware A/D: aging uses access tracking */
		/* The mirror root of private memory (mm/private.h): built once per private VM, never obsolete by
		 * generation, never loaded by a vCPU as its current root. */
		u32 mirror : 1;
		u32 as_id : 1;           /* address space (SMM later) */
		/* A direct page below a guest huge page: that page's protection key (bits 62:59 of a 4-level guest's
		 * leaf), which its leaves all carry, so two huge pages of one frame under different keys do not share
		 * it. 0 elsewhere. */
		u32 pkey : 4;
	};
};
static_assert(sizeof(union mmu_role) == sizeof(u32), "the role is compared as one word");

struct mmu_root {
	hpa_t hpa;              /* the top-level table: constant */
	union mmu_role role;    /* constant */
	gpa_t pgd;              /* constant: the guest page table the root shadows; 0 for direct roots */
	/* constant: a PAE guest's shadow root (mm/shadow: shadow_role_has_pdptes) is built from the 4 PDPTEs the vCPU
	 * loaded with CR3, not from the PDPT in memory, which the guest may change after the load without effect
	 * until its next load (SDM Vol. 3A 4.4.1): they are part of the key, with pgd and role. 0 for other roots. */
	u64 pdptes[4];
	u32 refcount;           /* mmu->lock: vCPU current/cached slots and in-flight walks hold references */
	u64 generation;         /* mmu->lock: mmu->generation when the root was built */
	/* mmu->lock (read racily, as generation): zapped alone, whatever the generation, so obsolete: each vCPU drops
	 * it as any other obsolete root, and no load finds it again. A shadow root whose guest table was flooded with
	 * writes (mm/shadow/swrite.c), or whose frame the guest now writes as data (__mmu_invalidate_roots_of_gfn). */
	bool invalid;
	/* constant: the order roots were built in (mm/mmu.c numbers them 1, 2, ...). The list below is kept newest
	 * first, so it is also sorted by serial, descending: a lockless walker that left its read section finds its
	 * place again by serial (mm/ept/tdp_age.c), whatever roots came and went meanwhile. */
	u64 serial;
	/* The list of every live root. Written under mmu->lock with release stores; lockless walkers (aging) follow it
	 * inside a grace read section (mmu_roots_lockless_first/next): a removed root keeps its next pointer and is
	 * kfree'd only after a grace period (grace_retire_object), so a walker standing on it can still go on. */
	struct mmu_root *next;
};

/* A vCPU's roots. Owned by the vCPU; the MMU changes it only from the mmu_* calls that vCPU makes. */
#define MMU_CACHED_ROOTS 3
struct mmu_vcpu {
	struct mmu_root *current;
	struct mmu_root *cached[MMU_CACHED_ROOTS]; /* most recent first, NULL-terminated */
	u64 root_loads;         /* roots made current: from the cache, the MMU's list, or built */
	u64 root_cache_hits;    /* of those, taken back from this vCPU's cache */
	u64 obsolete_dropped;   /* obsolete roots this vCPU let go, current or cached */
	struct frame_cache tables; /* zeroed frames for the tables this vCPU's faults link (mm/frame_cache.h) */
};

/* mmu_root_is_obsolete(mmu, root): inline in mm/mmu.h. */
/* Make the roots that shadow guest frame gfn (their pgd's frame) obsolete, and ask the vCPUs to drop those and only
 * those: the seed patch's "zap only obsolete roots". false, and nothing done, if one of them is keep (a vCPU runs on
 * it and would only build it again); true if any shadows gfn (made obsolete now or before). Under the lock. */
bool __mmu_invalidate_roots_of_gfn(struct mmu *mmu, gfn_t gfn, const struct mmu_root *keep);

/* Make mv->current a valid root of (pgd, role): keep it if it is, else take it back from the cache or the MMU's
 * list, else build it. The previous current root moves into the cache (or goes, if obsolete). 0, -ENOMEM (mv
 * unchanged), or -EINVAL for a role no engine builds. */
int mmu_vcpu_load_root(struct mmu *mmu, struct mmu_vcpu *mv, gpa_t pgd, union mmu_role role);
/* The same for a root whose key also holds 4 PDPTEs (a PAE guest's shadow root); pdptes NULL: none (zero). */
int mmu_vcpu_load_root_pdptes(struct mmu *mmu, struct mmu_vcpu *mv, gpa_t pgd, union mmu_role role,
			      const u64 *pdptes);
/* Drop the obsolete roots this vCPU holds, current or cached; valid ones stay. True if current went (the caller
 * must load a root again before entering). */
bool mmu_vcpu_free_obsolete_roots(struct mmu *mmu, struct mmu_vcpu *mv);
/* Drop every root this vCPU holds, and give back the frames of its table cache (vCPU teardown). */
void mmu_vcpu_put_roots(struct mmu *mmu, struct mmu_vcpu *mv);

/* ---- for lockless walkers, inside a grace read section (mm/grace.h), without mmu->lock ---- */
/* The newest root, then each older one; NULL at the end. Every root on the list when the section began is seen
 * (unless it was removed meanwhile), each at most once, newest first; the struct and its tree stay allocated until
 * the section ends, but the tree may be emptied under the walker (the engine's free_tree) at any time. */
struct mmu_root *mmu_roots_lockless_first(struct mmu *mmu);
struct mmu_root *mmu_roots_lockless_next(struct mmu_root *root);

/* ---- for the engines and mm/mmu.c (caller holds mmu->lock) ---- */
/* Build a root of (pgd, role) with one reference, the caller's (pdptes NULL: none). 0, -ENOMEM, -EINVAL. */
int __mmu_alloc_root(struct mmu *mmu, gpa_t pgd, union mmu_role role, const u64 *pdptes, struct mmu_root **out);
void __mmu_get_root(struct mmu *mmu, struct mmu_root *root);
/* Drop a reference; an obsolete root goes with its last one. */
void __mmu_put_root(struct mmu *mmu, struct mmu_root *root);
/* Free every root no vCPU holds, valid or not (invalidation, teardown). */
void __mmu_free_unused_roots(struct mmu *mmu);
/* The root after prev (the first for NULL) with a reference taken, prev's dropped; NULL at the end. */
struct mmu_root *__mmu_next_root(struct mmu *mmu, struct mmu_root *prev, bool only_valid);

/* Every root (or every valid one), each held by a reference while the body runs, so the body may yield the lock. */
#define for_each_mmu_root_yield_safe(mmu, root, only_valid)                                                            \
	for (root = __mmu_next_root(mmu, NULL, only_valid); root; root = __mmu_next_root(mmu, root, only_valid))

#endif
