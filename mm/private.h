/*
 * Private guest memory on a mirror root (mm/private.c), in the manner of KVM's TDX support, with the hypervisor's own
 * direct map as the external table: while a page is mapped private, its frame is absent from the direct map, so
 * the hypervisor itself cannot read it (guest_memfd without the direct map).
 *
 * One GPA bit (`shared_bit`, the top one the guest's MAXPHYADDR allows) splits the guest-physical space: with it
 * clear an access is to the page's private view, with it set to its shared view. Each gfn is private or shared at
 * any time (a bit per gfn in its memslot; private at launch), and only the view of its current kind maps:
 *
 *   mirror root (role.mirror)     private GPAs: 4K leaves only, each set up under a frozen SPTE by set_external
 *                                 (the frame leaves the direct map first); built once, torn down at VM end only
 *   direct roots (TDP, as ever)   shared GPAs, indexed by gfn without the shared bit: every range operation of the
 *                                 TDP MMU works on both trees unchanged, and filters by root kind (zap_filter)
 *   hw_top                        the table the hardware walks: a copy of the mirror's top-level entries for the
 *                                 private half and of the current direct root's for the shared half, kept equal by
 *                                 the change hook (__mmu_private_top_changed)
 *
 * Since the shared bit is at least bit 39, the halves split at the top level (entry 0.. of each root maps the half
 * its GPAs fall in), so one top-level copy makes the two trees one translation; the hardware sets A/D in the copies
 * of top-level entries only, where nothing reads them. A leaf leaving the mirror root owes remove_external, run after
 * the remote flush that ends every vCPU's use of it (__mmu_flush_and_free): the frame is zeroed and mapped back.
 */
#ifndef MM_PRIVATE_H
#define MM_PRIVATE_H

#include "hv/types.h"

struct mmu;
struct mmu_fault;
struct mmu_root;
struct mmu_vcpu;

/* What the owner does to the external table (the direct map), as KVM's {set,remove}_external_spte and
 * free_external_spt. */
struct mmu_external_ops {
	/* The frame will be mapped private at gfn: make it unreachable by the hypervisor (absent from the direct map,
	 * every CPU's TLB flushed) before returning 0. An error refuses the mapping: the SPTE keeps its old value. */
	int (*set_external_spte)(void *owner, gfn_t gfn, hpa_t frame);
	/* The frame is no longer mapped private, and no vCPU can reach it: zero it and make it reachable again. */
	void (*remove_external_spte)(void *owner, gfn_t gfn, hpa_t frame);
	/* Optional: a table of the mirror root went (KVM frees the external copy of it; a direct map has none). */
	void (*free_external_spt)(void *owner, hpa_t table, int level);
};

/* Which trees a range zap covers (KVM's kvm_gfn_range_filter). */
enum mmu_zap_filter {
	MMU_ZAP_PRIVATE = 1, /* the mirror root */
	MMU_ZAP_SHARED = 2,  /* direct (and shadow) roots */
	MMU_ZAP_ALL = 3,
};

#define MMU_SCRUB_BATCH 64

struct mmu_private_stats {
	u64 external_set;        /* frames taken out of the direct map for a private leaf */
	u64 external_refused;    /* set_external_spte failures: the leaf was not installed */
	u64 external_removed;    /* frames zeroed and mapped back after their private leaf went */
	u64 external_tables_freed;
	u64 to_shared, to_private; /* pages converted */
	u64 wrong_kind_faults;   /* accesses to the view of a gfn that is not its current kind */
	u64 refused;             /* hypervisor reads and writes of private pages refused (mm/mmu_access.c) */
};

struct mmu_private {
	bool enabled;                         /* constant once the vCPUs run */
	u8 shared_bit;                        /* constant: GPA bit */
	gfn_t shared_gfn;                     /* constant: 1 << (shared_bit - 12) */
	const struct mmu_external_ops *ext;   /* constant */
	struct mmu_root *mirror;              /* constant: the MMU holds a reference until mmu_destroy */
	hpa_t hw_top;                         /* constant frame; its entries are the hook's (write or read lock) */
	/* write lock: the direct root whose top-level entries hw_top's shared half copies (the newest valid one) */
	struct mmu_root *shared_root;
	/* write lock: frames whose private leaf went, to hand to remove_external_spte after the next flush */
	u32 nr_scrub_pending;
	hpa_t scrub_pending[MMU_SCRUB_BATCH];
	gfn_t scrub_gfn[MMU_SCRUB_BATCH];
	struct mmu_private_stats stats;       /* atomic where the read side adds (wrong_kind_faults, external_*) */
};

/* Make the VM private: every gfn of every memslot private, a mirror root and the hardware root built. Once, after
 * the memslots are added and guest RAM loaded (the loaders write through the direct map, so before sealing), before
 * any vCPU runs. shared_bit: 39..47. 0, -EINVAL, -ENOMEM, -EEXIST. */
int mmu_private_enable(struct mmu *mmu, unsigned int shared_bit, const struct mmu_external_ops *ext);
/* The table the hardware must walk for mv: hw_top in a private VM, else mv's current root. */
hpa_t mmu_hw_root(struct mmu *mmu, const struct mmu_vcpu *mv);
/* Whether gfn (without the shared bit) is private now. False for a VM that is not private. Racy by nature: the
 * refusals of vm/ use it, and a conversion racing with an access of the hypervisor is the guest's own race. */
bool mmu_gfn_is_private(struct mmu *mmu, gfn_t gfn);
/* Convert [gfn, gfn + npages) to shared or private (HC_MAP_GPA): each page whose kind changes is zapped from the
 * side it leaves only (the mirror root, or the direct roots), zeroed, and then mapped by faults on its new side.
 * 0; -EINVAL (not a private VM, empty or overflowing range); -EFAULT (not all guest RAM: nothing changed). */
int mmu_private_convert(struct mmu *mmu, gfn_t gfn, u64 npages, bool to_shared);
/* Zap [start, end) in the trees the filter names. */
void mmu_zap_gfn_range_filter(struct mmu *mmu, gfn_t start, gfn_t end, enum mmu_zap_filter filter);

/* ---- for the MMU layer (under mmu->lock) ---- */
/* An entry of a root's top-level table changed: copy it into hw_top if that root is the mirror or the shared one. */
void __mmu_private_top_changed(struct mmu *mmu, const u64 *sptep, u64 new_spte);
/* A vCPU's current direct root is `root`: make it the shared half of hw_top if it is newer (write lock). */
void __mmu_private_set_shared_root(struct mmu *mmu, struct mmu_root *root);
/* The fault is to the view of its gfn that is not the gfn's kind now (f->slot set; either side of the lock). */
bool __mmu_private_wrong_kind(struct mmu *mmu, struct mmu_fault *f);
/* A root was freed: if it was the shared one, hw_top copies none now. */
void __mmu_private_root_freed(struct mmu *mmu, struct mmu_root *root);
/* After the remote flush: hand every frame whose private leaf went to remove_external_spte. */
void __mmu_private_scrub(struct mmu *mmu);
/* Release the mirror root and hw_top (mmu_destroy, before the roots are freed). */
void __mmu_private_destroy(struct mmu *mmu);

#endif
