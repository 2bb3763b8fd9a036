/* The shadow MMU: hardware page tables built from the guest's own page tables, for CPUs (or VMs) without EPT/NPT.
 * Every guest page table that is shadowed is write-protected through write tracking (mm/track), so each guest
 * write to one is trapped, emulated, and the shadow entries it affects are zapped (shadow_track_write); every shadow
 * translation therefore equals a fresh guest walk, with the guest's permissions, or is absent.
 *
 * Shape (v1):
 *   - a root per (guest CR3, role), refcounted and cached per vCPU by the MMU layer (mm/root.c);
 *   - below it one shadow page per (guest table, role), shared by every parent entry (of every root) whose walk
 *     reaches that table under that role (sshare.c, as KVM's kvm_mmu_get_shadow_page): address spaces that share
 *     their kernel half share its shadow. A shadow page keeps the set of its parent entries and goes, with what
 *     only it reaches, when the last of them is zapped (the change hook frees the tables and tells the engine:
 *     table_unlinked, table_freed);
 *   - shadow leaves are 4K: a guest 2M/4M/1G page is shadowed by "direct" shadow pages below its level;
 *   - outside long mode the hardware always pages in PAE format (a 4-entry PDPT below 4 GiB, as a PAE CR3 holds 32
 *     bits), whatever the guest does (spage.c):
 *       guest paging off   a direct root, gva == gpa;
 *       PAE paging         the root's 4 directories shadow the guest's, found through the 4 PDPTEs the vCPU loaded
 *                          with CR3 (gwalk_load_pdptes), which are part of the root's key: the PDPT page itself is
 *                          neither read again nor write-protected, as the CPU does not read it again either;
 *       32-bit paging      a guest entry covers twice what a PAE one does: the guest's directory is shadowed by 4
 *                          directories (quadrants, one per GiB) and each guest page table by 2 tables (one per
 *                          2 MiB); a 4 MiB page (PSE, PSE-36) by direct pages of 2 MiB;
 *     the root's directories are part of the root (the CPU may hold the PDPTEs until the next CR3 load): they go
 *     only with it.
 * Guest paging formats: 5-level (CR4.LA57: a 5-level root, walked by the CPU as such since it runs the guest with
 * its LA57), 4-level, PAE, 32-bit (with PSE and PSE-36), and paging off.
 * The SPTEs use the x86 format (pt_format_npt: software bits in 9-11 and 52-58, never 59-62, which are protection
 * keys when the guest turns PKE on).
 */
#ifndef MM_SHADOW_SHADOW_H
#define MM_SHADOW_SHADOW_H

#include "hv/types.h"
#include "mm/shadow/gwalk.h"
#include "mm/shadow/rmap.h"
#include "mm/track/write.h"

struct mmu;
struct mmu_engine;
struct mmu_fault;
struct mmu_root;
struct spage;

#define SHADOW_HASH_BITS 10

struct shadow_stats {
	u64 faults;             /* #PF exits handled by the shadow MMU */
	u64 guest_faults;       /* of those, reflected to the guest (its own tables say #PF) */
	u64 fixed;              /* of those, a shadow leaf installed */
	u64 pte_writes;         /* guest writes to shadowed tables (emulated) */
	u64 sptes_zapped_by_writes;
	u64 flood_zaps;         /* shadow pages zapped because their guest table was written 3 times without a use */
	u64 unprotects;         /* guest tables unshadowed for a write that could not be emulated (vm/ counts them) */
	u64 half_writes_merged; /* second halves of PAE 8-byte entries written as two 4-byte halves (swrite.c) */
	u64 pages_allocated, pages_freed;
	u64 pages_shared;       /* links of an existing shadow page below one more parent entry (sshare.c) */
	u64 root_zaps;          /* of the flood_zaps, roots (made obsolete alone: __shadow_zap_root) */
	u64 pae_root_zaps;      /* of the root_zaps, PAE-format roots (a 32-bit or PAE guest's directory flooded) */
	u64 relinks;            /* parent entries whose child no longer matched the guest's walk, replaced */
	u64 retries;            /* a guest PTE changed between the walk and the lock: the fault is retried */
	u64 unsyncs;            /* shadow pages let go unsync (the guest writes its leaf table directly) */
	u64 syncs;              /* unsync pages brought back in sync (CR3 load, INVLPG, TLB flush) */
	u64 sync_zaps;          /* leaves a sync found changed */
	u64 root_syncs;         /* flushing CR3 loads whose root had bits set below it (unsync pages, or bits not cleared yet) */
	u64 invlpg_zaps;        /* leaves of unsync tables an INVLPG found changed */
	u64 range_zaps;         /* leaves zapped for a gfn range (reclaim: __shadow_zap_gfn_range) */
	u64 pk_emulated;        /* supervisor writes the CPU's WP=1 refused for a protection key, emulated (sfault.c) */
	u64 prefetched;         /* leaves made around a fault's from the guest's entries already there (sprefetch.c) */
	u64 la57_roots;         /* 5-level roots made (a guest with CR4.LA57) */
	u64 la57_faults;        /* of the faults, those through a 5-level root */
};

/* The shadow engine's state, in struct mmu (under mmu->lock, except the notifier, registered at init). */
struct shadow_mmu {
	bool enabled;                                   /* constant: the VM uses shadow paging */
	bool allow_unsync;                              /* constant: leaf tables may go unsync (unsync.c) */
	struct spage *by_gfn[1u << SHADOW_HASH_BITS];   /* lock: every shadow page, by the guest table it shadows */
	struct spage *by_hpa[1u << SHADOW_HASH_BITS];   /* lock: by its table's frame, for table_freed */
	u64 nr_pages;                                   /* lock */
	u64 max_pages;                                  /* constant: the VM's budget of shadow pages */
	u64 write_seq;                                  /* lock: numbers the guest writes to shadowed tables */
	struct spage *unsync;                           /* lock: every unsync shadow page */
	struct track_notifier notifier;                 /* the guest's writes to shadowed tables */
	struct rmap_cache rmap_cache;                   /* lock: descriptors for rmap adds made by the change hook */
	struct shadow_stats stats;                      /* lock (read racily) */
};

extern const struct mmu_engine shadow_engine;

/* The guest's paging state, as the vCPU holds it (the key of its root and the walker's mode). */
struct shadow_paging {
	struct gwalk_mode mode;
	u64 cr3;
	void *who;      /* the vCPU: the writer of the A/D bits the walk sets, for write tracking's notifiers */
};

void shadow_mmu_init(struct mmu *mmu, u64 max_pages);

/* The root role and pgd for a guest paging state: 0; -EINVAL for PAE paging without the loaded PDPTEs
 * (p->mode.pdptes), which are the rest of such a root's key (shadow_role_has_pdptes). */
int shadow_root_key(const struct shadow_paging *p, u64 *pgd, union mmu_role *role);

/* Whether a root of this role is keyed by the guest's loaded PDPTEs too: a PAE guest's. */
static inline bool shadow_role_has_pdptes(union mmu_role role)
{
	return role.level == 3 && !role.direct && !role.has_4_byte_gpte;
}

/* A #PF the hardware reported at gva with error code pferr, in root (valid). Walks the guest tables (before the
 * lock, setting A/D as the CPU would), then under mmu->lock builds the shadow path and the leaf. Returns an
 * mmu_fault_result: FIXED or SPURIOUS (re-enter), GUEST_PF (inject #PF with f->guest_error_code at gva), MMIO or
 * WRITE_PROTECTED (emulate the instruction), RETRY; or a negative errno. */
int shadow_page_fault(struct mmu *mmu, struct mmu_root *root, const struct shadow_paging *p, gva_t gva, u32 pferr,
		      struct mmu_fault *f);

/* Bring every unsync shadow page back in sync: what the guest asks for with a flush of every context (a CR0/CR4
 * paging change, an all-context INVPCID), before which it may not rely on a changed entry. */
void shadow_sync(struct mmu *mmu);
/* The same for the unsync pages root reaches: a flushing CR3 load of it. */
void shadow_sync_root(struct mmu *mmu, struct mmu_root *root);

/* ---- inside the MMU layer (caller holds mmu->lock) ---- */
/* INVLPG of gva in root: if the leaf table for gva is unsync and the guest's entry for gva changed since its shadow
 * leaf was made, the leaf goes (the table stays unsync). The caller flushes the vCPU's TLB. */
void __shadow_invlpg(struct mmu *mmu, struct mmu_root *root, gva_t gva);
/* Take W away from every shadow leaf mapping gfn (its tracking just started): true if an SPTE changed. */
bool __shadow_write_protect_gfn(struct mmu *mmu, gfn_t gfn);
/* Zap every shadow leaf that maps a gfn of [start, end) (mm/shadow/szap.c); the caller flushes. */
void __shadow_zap_gfn_range(struct mmu *mmu, gfn_t start, gfn_t end);

#endif
