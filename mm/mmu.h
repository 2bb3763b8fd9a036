/* The per-VM MMU layer: the one interface vm/ uses for guest memory. It owns the lock, the memslots, the roots,
 * the pending flush-and-free batch, the generation and the statistics, and embeds the engines that build the
 * hardware's tables: the TDP MMU (mm/ept/) today, the shadow MMU next. A guest memory fault is described once in a
 * struct mmu_fault and handed to the engine of the vCPU's root; write tracking (mm/track/) is consulted by the
 * engines directly.
 *
 *   vm/exit.c -> mmu_page_fault (struct mmu_fault) -> tdp_page_fault (mm/ept/) -> __mmu_set_spte (spte_change.c)
 *   vm/vcpu.c -> mmu_load_root / mmu_vcpu_free_obsolete_roots (root.c)
 *   vm/ (any) -> mmu_read_gpa / mmu_write_gpa / mmu_cmpxchg_gpa (mmu_access.c): every write honours tracking
 *
 * Locking: mmu->lock is a phase-fair reader-writer lock (hv/rwlock.h). TDP faults take it for read and run in
 * parallel; everything else that changes structure takes it for write: zaps, root allocation and freeing, collapses,
 * write tracking, dirty logging, reclaim, memslot changes, and every shadow-MMU path (as KVM's shadow MMU does).
 * Under the read lock the fault path only ever adds: tables into holes, leaves into holes or over MMIO SPTEs,
 * permissions to a leaf, and splits of a huge leaf into a table repeating it; each by compare-exchange from the value
 * it read, so a fault that loses a race sees the winner's value, frees a table it did not link, and retries or finds
 * the work done. A multi-step change (a split, a collapse, and later the private-memory hooks) first freezes the entry
 * (SPTE_FROZEN, mm/spte.h): no walker takes a frozen entry for present, nor for a hole it may fill; the hooks run,
 * then the final value is stored. A fault meeting a frozen entry backs off and re-enters the guest. Nothing under
 * the read lock unlinks a table or needs a TLB flush (mm/spte_change.c asserts it), so the fault walkers need no
 * grace period: every table they can reach is freed only under the write lock, after they have all left.
 * A `__` prefix means the caller holds the lock: each asserts the side it needs (assert_write_held, or
 * assert_rw_held where the fault path under the read lock and the write side share the code).
 * Two paths take no lock at all: aging (mmu_age_gfn_range) and the fast fault path (an access-tracked leaf
 * restored), both changing only the bits spte_lockless_mask names, by atomic operations (the lockless half of the
 * hook, spte_change.h). The TDP MMU's run inside grace read sections (mm/grace.h); the shadow MMU's aging walk holds
 * one rmap head's read lock bit at a time (mm/shadow/sage.c), which the hook's rmap changes wait for. The
 * hypervisor's own copies to and from guest RAM (mmu_access.c) run in short grace read sections too where reclaim is
 * enabled, in which they see their chunk clean: reclaim (mmu_reclaim.c) marks a chunk under the write lock, zaps it,
 * and waits those sections out before it reads and frees it.
 */
#ifndef MM_MMU_H
#define MM_MMU_H

#include "hv/rwlock.h"
#include "hv/spinlock.h"
#include "mm/ept/tdp_mmu.h"
#include "mm/grace.h"
#include "mm/memslot.h"
#include "mm/private.h"
#include "mm/pt.h"
#include "mm/root.h"
#include "mm/shadow/shadow.h"
#include "mm/spte.h"
#include "mm/spte_change.h"
#include "mm/track/write.h"

struct mmu_stats {
	/* Atomic: the fault path adds to them under the read lock (mmu_stat_inc). */
	u64 faults;                 /* every fault handled under the lock, MMIO included */
	u64 faults_mapped[4];       /* [1] 4K, [2] 2M, [3] 1G leaves installed by faults */
	u64 mmio_faults;            /* faults on gfns no memslot backs */
	u64 spurious_faults;        /* the SPTE already allowed the access */
	u64 write_protected_faults; /* writes refused because the gfn is write-tracked or its slot read-only */
	u64 splits;                 /* huge leaves replaced by a table of smaller ones */
	u64 tables_allocated;       /* below the roots */
	/* Of `faults`, those run under the write lock (the rest ran under the read lock, in parallel: mmu_shared_faults):
	 * counted on that rare path, so a shared fault pays one atomic add for the statistics, not two. */
	u64 write_locked_faults;
	u64 fault_races;            /* compare-exchanges a fault lost to another (it retried or found the work done) */
	u64 tables_raced;           /* tables a fault allocated but lost the race to link: back to its vCPU's cache */
	u64 frozen_backoffs;        /* faults that met a frozen entry and re-entered the guest */
	/* The vCPUs' caches of zeroed table frames (mm/frame_cache.h), refilled before the lock. A cached frame is
	 * the VM's memory as much as a linked table is: taken from the allocator at a refill, it goes back when its
	 * vCPU is torn down (mmu_vcpu_put_roots), or, once linked, with its table. */
	u64 table_cache_refills;    /* refills (each clears up to FRAME_CACHE_CAPACITY frames) */
	u64 table_cache_zeroed;     /* frames a refill took from the allocator and cleared */
	u64 table_cache_freed;      /* frames given back from the caches at vCPU teardown */
	u64 exclusive_retries;      /* faults under the read lock that needed the write lock (a collapse, a sweep) */
	/* Write lock: */
	u64 collapses;              /* tables replaced by a huge leaf */
	u64 zapped_leaves;          /* present leaves made not present */
	u64 tables_freed;           /* below the roots */
	u64 roots_allocated, roots_freed;
	u64 remote_flushes;         /* ops->flush_remote_tlbs calls */
	u64 mmio_sweeps;            /* all MMIO SPTEs removed because the generation field would wrap (mm/spte.h) */
	u64 yields;                 /* long walks that dropped the lock halfway */
	u64 track_adds, track_removes; /* write-tracking references taken and dropped */
	u64 write_protected_sptes;  /* SPTEs that lost W because tracking of their gfn started */
	u64 tracked_writes;         /* writes to tracked gfns applied through mmu_write_gpa/mmu_cmpxchg_gpa */
	u64 tracked_writes_refused; /* of those, refused by a notifier */
	/* Atomic (the lockless paths add to them): */
	u64 aged_leaves;            /* young leaves aged: A cleared, or access-tracked (no A/D) */
	u64 age_sections;           /* aging walks that left their grace read section midway (tdp_age.c) */
	u64 fast_faults;            /* faults fixed without the lock (not in `faults`), tdp_fast.c */
	u64 access_track_faults;    /* of those, an access-tracked leaf restored: the price of aging without A/D */
	u64 dirty_harvested;        /* dirty leaves whose state went to the dirty log (mm/memslot.h) */
	u64 age_flushes;            /* TLB flushes asked for after aging passes that made a leaf old (age_flush) */
};

/* For the counters the read side shares. */
#define mmu_stat_inc(mmu, field) __atomic_fetch_add(&(mmu)->stats.field, 1, __ATOMIC_RELAXED)
#define mmu_stat_add(mmu, field, n) __atomic_fetch_add(&(mmu)->stats.field, (n), __ATOMIC_RELAXED)

/* The faults run under the read lock. A statistic read while faults run: the two counts are read apart, so a pass
 * under way may be seen in one and not the other; never below zero. */
static inline u64 mmu_shared_faults(struct mmu_stats *s)
{
	u64 w = __atomic_load_n(&s->write_locked_faults, __ATOMIC_RELAXED);
	u64 f = __atomic_load_n(&s->faults, __ATOMIC_RELAXED);

	return f > w ? f - w : 0;
}

/* What the MMU needs from its owner (the VM). */
struct mmu_ops {
	/* Make every vCPU of the owner drop its guest TLB entries for this MMU, for every root it has used (a freed
	 * root's frame can come back as a new root), before it next runs guest code. Called under mmu->lock; tables
	 * unlinked before the call are freed after it returns, so it must not return while another CPU may still walk
	 * them in guest mode: the VM kicks every vCPU in the guest out and waits until each has left; the caller's own
	 * vCPU flushes before it re-enters. */
	void (*flush_remote_tlbs)(void *owner);
	/* Ask every vCPU to drop the obsolete roots it holds (mmu_vcpu_free_obsolete_roots) before entering. Called
	 * without the lock. */
	void (*request_free_obsolete_roots)(void *owner);
	/* Optional; needed with age_flush: make every vCPU of the owner drop its guest TLB entries for this MMU before
	 * it next runs guest code, and return at once (a vCPU in the guest is kicked out; nobody waits for it). The
	 * flush after an aging pass, asked for without any lock: nothing is freed behind it, so nobody must wait. */
	void (*request_tlb_flush)(void *owner);
	/* Optional: told of every SPTE change after it is made, under mmu->lock (tests, tracing); under the read lock
	 * (TDP faults) several CPUs may call it at once. */
	void (*spte_changed)(void *owner, gfn_t gfn, u64 old_spte, u64 new_spte, int level);
};

/* An engine: what builds and tears down the trees of its roots, and what it must hear of every leaf change. */
struct mmu_engine {
	int (*alloc_tree)(struct mmu *mmu, struct mmu_root *root);  /* set root->hpa; 0 or -ENOMEM */
	void (*free_tree)(struct mmu *mmu, struct mmu_root *root);  /* through the change hook; the top table too */
	/* Optional: a leaf appeared (old 0), went (new 0) or changed, under the lock (the shadow MMU's rmap). */
	void (*leaf_changed)(struct mmu *mmu, gfn_t gfn, u64 *sptep, u64 old_leaf, u64 new_leaf, int level);
	/* Optional: a table at `level` was unlinked and emptied; its frame is freed after the flush and grace period
	 * (the shadow MMU drops the shadow page that owned it). */
	void (*table_freed)(struct mmu *mmu, hpa_t table, int level);
	/* Optional, for an engine whose tables may have several parents (the shadow MMU's, shared by (gfn, role)):
	 * the entry at sptep now points to the table at `level` (linked), or no longer does (unlinked). unlinked
	 * returns whether that was the table's last parent: only then does the hook empty it and free it. Without
	 * them a table has exactly one parent and goes with it (the TDP MMU). */
	void (*table_linked)(struct mmu *mmu, u64 *sptep, hpa_t table, int level);
	bool (*table_unlinked)(struct mmu *mmu, u64 *sptep, hpa_t table, int level);
	/* The gfn the hook is given with a leaf is the guest frame the leaf maps (the TDP MMU). Then the hook harvests
	 * a dirty leaf's state into the memslot's dirty log itself; an engine whose tables are indexed otherwise (the
	 * shadow MMU's, by guest-virtual address) must do it in leaf_changed, where it knows the frame. */
	bool indexed_by_gfn;
	/* The engine's aging walk (mmu_age_gfn_range), run without mmu->lock: whether a leaf mapping [start, end) was
	 * accessed since it was last aged, clearing that state unless test_only. Each engine protects its walk its
	 * own way: the TDP MMU's with grace read sections (mm/ept/tdp_age.c), the shadow MMU's with the rmap heads'
	 * read lock bit (mm/shadow/sage.c).
	 * Returns MMU_AGE_YOUNG (a young leaf was found) and MMU_AGE_MADE_OLD (this walk made one old: the caller's
	 * flush policy, mmu->age_flush, keys on it); no flush of its own. */
	unsigned int (*age_gfn_range)(struct mmu *mmu, gfn_t start, gfn_t end, bool test_only);
	/* Optional: the same walk (ageing), saying which gfns a young leaf maps: bit i of young for gfn start + i
	 * (the caller clears the bitmap); true when it made a leaf old. Without it, mmu_age_gfn_range_young asks
	 * age_gfn_range gfn by gfn. */
	bool (*age_gfn_range_young)(struct mmu *mmu, gfn_t start, gfn_t end, u64 *young);
	/* Under mmu->lock: every leaf that maps a gfn of [start, end) goes, through the change hook; the caller
	 * flushes (__mmu_flush_and_free) before the frames behind the range may be reused. */
	void (*zap_gfn_range)(struct mmu *mmu, gfn_t start, gfn_t end);
	/* Optional (the mirror root's engine, mm/ept/tdp_mirror.c): a present leaf is about to appear at an entry
	 * frozen for it (__mmu_set_spte_frozen): make the external table agree first. Nonzero refuses the change, and
	 * the entry gets its old value back. */
	int (*set_external)(struct mmu *mmu, gfn_t gfn, u64 new_leaf, int level);
};

/* An aging walk's answer (struct mmu_engine's age_gfn_range). */
#define MMU_AGE_YOUNG    1u /* a leaf mapping the range was young */
#define MMU_AGE_MADE_OLD 2u /* and this walk made it old (cleared A, or access-tracked it) */

/* Tables unlinked but not yet freed, waiting for the remote TLB flush; a full batch is flushed early. */
#define MMU_FREE_BATCH 64

struct mmu {
	rwlock_t lock;                   /* read: TDP faults; write: everything else that changes structure (above) */
	/* Constant while vCPUs run: TDP faults take the write lock, as before parallel faults (hv.mmu_lock=exclusive,
	 * for the bench's side-by-side figure). */
	bool exclusive_faults;
	/* Constant while vCPUs run: an aging pass that made a leaf old ends with one TLB flush of every vCPU (`age_flush=`
	 * on the VM's line, default `hv.age_flush`; off as in KVM). mmu_age_gfn_range says why it is a choice. */
	bool age_flush;
	/* Set up before the vCPUs run, constant while they run (changes bump slots.generation). The per-gfn arrays of
	 * each slot (track counts, later the rmap) are the MMU's, under the lock. */
	struct memslots slots;
	const struct mmu_ops *ops;       /* constant */
	void *owner;                     /* constant */
	const struct pt_format *fmt;     /* constant: the TDP format (EPT, EPT without A/D, NPT) */
	/* Constant once set (mmu_set_apic_access_page, before the vCPUs run): the one gfn outside the memslots that the
	 * TDP MMU maps to a frame, the APIC-access page of VMX APIC virtualization; ~0 when unused. */
	gfn_t apic_access_gfn;
	hpa_t apic_access_hpa;
	const struct mmu_engine *engine; /* constant: the TDP MMU, or the shadow MMU (shadow.enabled) */
	/* lock for writers; lockless walkers read it in a grace read section (root.h: mmu_roots_lockless_first) */
	struct mmu_root *roots;
	u64 root_serial;                 /* lock: the serial of the newest root (struct mmu_root.serial) */
	u64 generation;                  /* lock (read racily by mmu_root_is_obsolete): bumped by invalidation */
	/* write lock: what the SPTE changes since the last remote flush owe (spte_change.c; nothing done under the
	 * read lock owes a flush or a free) */
	bool flush_pending;
	u32 nr_free_pending;
	hpa_t free_pending[MMU_FREE_BATCH];
	struct grace grace;              /* write lock: flushed tables waiting out lockless walkers (mm/grace.h) */
	struct mmu_stats stats;          /* per field (struct mmu_stats; read racily for reports) */
	/* The TDP engine's own state: written under the write lock, read under either side. */
	struct tdp_mmu tdp;
	struct shadow_mmu shadow;        /* write lock: the shadow engine's own state */
	/* Write tracking's VM-wide state and notifiers: written under the write lock (the counts too), read under
	 * either side. */
	struct track_vm track;
	/* Private memory (mm/private.h): constant once the vCPUs run but for the fields it marks. */
	struct mmu_private priv;
};

/* Inline, as the fault path's checks of the root and of the MMIO generation, each made once or twice per fault: as
 * calls they cost a tenth of a 4K TDP fault's net count. */
static inline bool mmu_root_is_obsolete(const struct mmu *mmu, const struct mmu_root *root)
{
	/* The mirror root holds private memory, which an invalidation of every root must not drop (its frames would
	 * have to be scrubbed and faulted private again): it goes only at the VM's end (mm/private.c). */
	return READ_ONCE(root->invalid) || (!root->role.mirror && root->generation != READ_ONCE(mmu->generation));
}

/* Whether the next fault must first sweep the MMIO SPTEs (a write-lock job); racy, re-checked under the lock.
 * MMIO SPTEs keep only the low SPTE_MMIO_GEN_BITS of the memslot generation. Once the generation has moved
 * SPTE_MMIO_GEN_SPAN or more since the last sweep, an old MMIO SPTE could match the current low bits by wrap-around,
 * so every MMIO SPTE in every root goes first (mm/ept/tdp_fault.c). */
static inline bool tdp_mmio_sweep_needed(const struct mmu *mmu)
{
	return READ_ONCE(mmu->slots.generation) - READ_ONCE(mmu->tdp.mmio_gen_base) >= SPTE_MMIO_GEN_SPAN;
}

/* One guest memory fault, described once: filled by mmu_page_fault (and the engine, under the lock, for the fields
 * that depend on write tracking), consumed by the engine. Nothing on the fault path looks anything up twice. */
struct mmu_fault { /* mmu_page_fault sets every field: a new one must be set there too */
	gpa_t gpa;
	gva_t gva;              /* shadow faults: the guest-virtual address; TDP: 0 */
	u32 access;             /* SPTE_ACC_* */
	gfn_t gfn;
	struct memslot *slot;   /* NULL: not guest RAM (MMIO) */
	struct frame_cache *tables; /* the faulting vCPU's zeroed frames for new tables, topped up before the lock */
	int backing_level;      /* the largest leaf the backing allows (memslot_backing_level); 0 without a slot */
	int max_level;          /* under the lock: MIN(backing, CPU, write tracking and disallow counts) */
	bool host_writable;     /* the slot is writable */
	bool mmu_writable;      /* under the lock: the gfn is not write-tracked */
	bool is_private;        /* private memory: the GPA's shared bit is clear (gfn is without it); the mirror root */
	u32 guest_error_code;   /* GUEST_PF: the #PF error code the guest's own tables give (PFERR_*) */
	int mapped_level;       /* out: the level of the leaf now mapping gfn (FIXED, SPURIOUS, WRITE_PROTECTED) */
};

enum mmu_fault_result {
	MMU_FAULT_FIXED,    /* mapped; re-enter the guest */
	MMU_FAULT_SPURIOUS, /* nothing to do (already mapped, or a racing fault did it) */
	MMU_FAULT_MMIO,     /* gfn is not guest RAM: emulate the access */
	MMU_FAULT_RETRY,    /* the root became obsolete, or the fault met a frozen entry; reload roots and re-enter */
	/* A write to a gfn the MMU maps read-only on purpose: it is write-tracked, or its memslot is read-only. The
	 * gfn stays mapped (readable, executable); the caller must emulate the write instruction (the trackers see the
	 * write that way), and re-entering without emulating would fault forever. */
	MMU_FAULT_WRITE_PROTECTED,
	/* Shadow paging: the guest's own page tables refuse the access: inject #PF(guest_error_code) at the gva. */
	MMU_FAULT_GUEST_PF,
	/* Shadow paging: the CPU refused what the guest's paging allows, and would again: emulate the instruction
	 * under the guest's rules (f->gpa is the translation). */
	MMU_FAULT_EMULATE,
	/* Private memory: the access is to the private view of a gfn that is shared now, or the opposite (the
	 * guest must convert it first, mm/private.h). Nothing mapped. */
	MMU_FAULT_WRONG_KIND,
	/* Inside the MMU only (never returned by mmu_page_fault): the fault needs the write lock (tdp_fault.c). */
	MMU_FAULT_NEED_EXCLUSIVE,
};

/* max_level: the CPU's (or the configuration's) largest TDP leaf, 1..3. shadow_pages: 0 for a TDP VM; else the VM
 * uses the shadow MMU, with that budget of shadow page tables. */
void mmu_init(struct mmu *mmu, const struct pt_format *fmt, int max_level, const struct mmu_ops *ops, void *owner,
	      u64 shadow_pages);
/* Free every root, table and memslot; no vCPU may hold a root any more. */
void mmu_destroy(struct mmu *mmu);

/* Map gfn (not in any memslot) to a fresh frame of the MMU's own, freed with it: the APIC-access page, which the CPU
 * recognizes by the host-physical address a guest access translates to (SDM Vol. 3 30.4) and which is never read
 * or written as memory while the guest's APIC is in xAPIC mode at that gfn (every access is virtualized or exits).
 * TDP only, before any vCPU runs. The frame's address, or INVALID_HPA (no memory, shadow paging, private VM). As
 * KVM's private memslot, the mapping stays when the guest moves its APIC away or enters x2APIC mode; the guest then
 * reads and writes a page of its own there. */
hpa_t mmu_set_apic_access_page(struct mmu *mmu, gfn_t gfn);

/* Guest RAM [base_gfn, base_gfn + npages), 2 MiB multiples: memslot_add. Only while no vCPU runs. */
int mmu_add_ram(struct mmu *mmu, gfn_t base_gfn, u64 npages, u32 flags);

/* Load the vCPU's root for its current mode: mv->current is then valid (its hpa and role.level go to the
 * hardware: 3 is PAE format, below 4 GiB). p: the guest's paging state (shadow VMs; NULL under TDP), with the PDPTEs
 * the vCPU loaded when it is in PAE paging. 0, -ENOMEM, or -EINVAL (PAE paging without p->mode.pdptes). */
int mmu_load_root(struct mmu *mmu, struct mmu_vcpu *mv, const struct shadow_paging *p);

/* Shadow paging, the guest's own TLB flushes (never the MMU's: a zap's remote flush must not re-protect a table the
 * guest is writing), which bring unsync shadow pages back in sync (mm/shadow/unsync.c):
 *   mmu_shadow_flush         every context (a CR0/CR4 paging change, an all-context INVPCID): every unsync page;
 *   mmu_shadow_sync_current  a flushing CR3 load, after the root is loaded: what mv's current root reaches;
 *   mmu_shadow_invlpg        INVLPG or a one-address INVPCID: gva's leaf in mv's current root, and in its
 *                            cached ones if the guest has CR4.PCIDE set (pcide). */
void mmu_shadow_flush(struct mmu *mmu);
void mmu_shadow_sync_current(struct mmu *mmu, struct mmu_vcpu *mv);
void mmu_shadow_invlpg(struct mmu *mmu, struct mmu_vcpu *mv, gva_t gva, bool pcide);
/* Zap the shadow pages of gfn so that the guest may write it natively again: true when nothing will write-protect it
 * (roots of it are made obsolete and go as the vCPUs drop them), false when mv's current root shadows it or another
 * write-tracking user holds it. mm/shadow/sunprotect.c. */
bool mmu_shadow_unprotect_gfn(struct mmu *mmu, const struct mmu_vcpu *mv, gfn_t gfn);
/* Shadow paging: the #PF the hardware reported at gva with error code pferr (shadow_page_fault). */
int mmu_shadow_fault(struct mmu *mmu, struct mmu_vcpu *mv, const struct shadow_paging *p, gva_t gva, u32 pferr,
		     struct mmu_fault *f);
/* A guest-physical fault at gpa for an access of kind SPTE_ACC_*: returns an mmu_fault_result or -ENOMEM; *f holds
 * the fault as the MMU saw it. */
int mmu_page_fault(struct mmu *mmu, struct mmu_vcpu *mv, gpa_t gpa, u32 access, struct mmu_fault *f);

/*
 * Aging (KVM's kvm_age_gfn / kvm_test_age_gfn): whether a leaf mapping any gfn of [start, end) was accessed since it
 * was last aged; mmu_age_gfn_range also clears that state in every such leaf. Without mmu->lock: each engine's own
 * walk, under grace read sections, so it never makes a fault wait, and races with faults, zaps, splits and
 * write-protects without losing a D bit or resurrecting a leaf. With hardware A/D (EPT with A/D, NPT, and every
 * shadow leaf) the A bit is cleared; without (EPT without A/D, or hv.ept_ad=0) the leaf is access-tracked and the
 * next access restores it in the fast fault path. Dirty state is never cleared by aging.
 * The TLB flush after aging is a policy, mmu->age_flush. Off (the default, KVM's choice), a vCPU that keeps using a
 * page through a translation its TLB still holds sets no A (takes no access-tracking fault), so the page may be
 * reported idle for a scan. On, a call that made any leaf old ends with one ops->request_tlb_flush (every vCPU
 * drops its TLB entries for this MMU before it next runs guest code; nobody waits, no lock is taken) and counts it
 * in stats.age_flushes; a test-only call, or one that found nothing young, never flushes. README, "Aging and the
 * TLB", has the measured trade-off. A shadow VM's walk goes through the per-gfn rmaps, and a fault that changes the
 * rmap of a gfn being aged waits for the walk of that one gfn (mm/shadow/sage.c).
 * Any CPU, no lock held, not inside a grace read section of its own, not from anything that interrupts a holder of
 * mmu->lock; never while memslots change (mmu_add_ram) nor once mmu_destroy may have begun.
 */
bool mmu_age_gfn_range(struct mmu *mmu, gfn_t start, gfn_t end);
bool mmu_test_age_gfn_range(struct mmu *mmu, gfn_t start, gfn_t end);
/* Age [start, end) like mmu_age_gfn_range, and set bit i of young (zeroed by the caller, end - start bits) when gfn
 * start + i is mapped by a leaf that was young: every gfn of a young 2M leaf, as the leaf was one access bit. The
 * working-set estimator's scan (vm/ws.c). An engine without its own walk for it is asked gfn by gfn with the
 * test-only walk, then the range is aged once (an access between the two is seen at the next call); an engine with
 * no aging walk at all reports every gfn young. Same context as mmu_age_gfn_range. */
bool mmu_age_gfn_range_young(struct mmu *mmu, gfn_t start, gfn_t end, u64 *young);
/* mmu_age_gfn_range_young is one piece of a pass (the working-set scan ages chunk by chunk) and does not flush: it
 * returns whether it made a leaf old, and the caller ends its pass with mmu_age_end_pass(mmu, any of them did), so
 * a pass costs the vCPUs one flush at most whatever its number of pieces. */
void mmu_age_end_pass(struct mmu *mmu, bool made_old);

/*
 * Reclaim (mmu_reclaim.c): give back the 2 MiB chunk of guest RAM holding gfn if it reads as all zero: its leaves
 * are zapped and its frames freed; the next use of it (a fault, a hypervisor access) gets a fresh zeroed chunk, or
 * fails with -ENOMEM if the allocator has none. 1 when given back; 0 when not (it holds data, was not in use, or is
 * being prepared or reclaimed); -EINVAL (not guest RAM, read-only, not enabled by mmu_enable_reclaim, or part of a
 * 1 GiB block, or a private VM); -EOPNOTSUPP (shadow
 * paging). Any CPU, no lock held, not inside a grace read section; one caller per MMU at a time (the working-set
 * scan): its first look at the chunk's contents races only with writers, not with another reclaim. Reads 2 MiB.
 */
int mmu_reclaim_chunk(struct mmu *mmu, gfn_t gfn);
/* Let mmu_reclaim_chunk take chunks of every memslot (MEMSLOT_RECLAIM): from then on the hypervisor's copies to and
 * from them run in grace read sections. Once, after the slots are added, before any vCPU runs. Without it,
 * mmu_reclaim_chunk refuses (-EINVAL) and guest RAM accesses pay nothing for reclaim. */
void mmu_enable_reclaim(struct mmu *mmu);
/* Chunks given back so far, and of those, allocated again, over every memslot. */
void mmu_reclaim_stats(struct mmu *mmu, u64 *reclaimed, u64 *refaulted);

/* Zap the leaves mapping [start, end) in every root, obsolete ones too. Flushes if anything present went. */
void mmu_zap_gfn_range(struct mmu *mmu, gfn_t start, gfn_t end);
/* Mark every root obsolete and ask the vCPUs to drop them; roots built afterwards are valid. */
void mmu_invalidate_all_roots(struct mmu *mmu);

/* ---- write tracking (mmu_track.c) ---- */

/* Take a write-tracking reference on gfn: from then on no SPTE maps it writable or huge. The first reference raises
 * the huge-page disallow counts around it, splits huge leaves that cover it, and write-protects every mapping of it
 * (flushing only if an SPTE changed). 0; -EFAULT (not guest RAM); -EPERM (a private VM); -ERANGE (the 16-bit count would overflow:
 * warned once, nothing changed); -ENOMEM (first use: the counts could not be allocated). */
int __mmu_track_add_gfn(struct mmu *mmu, gfn_t gfn);
int mmu_track_add_gfn(struct mmu *mmu, gfn_t gfn);
/* Drop a reference. When the last goes, writability comes back lazily on the next write fault (MMU_WRITABLE) and
 * huge pages through a collapse of the region if nothing else disallows it. 0, -EFAULT, -ERANGE (underflow). */
int __mmu_track_remove_gfn(struct mmu *mmu, gfn_t gfn);
int mmu_track_remove_gfn(struct mmu *mmu, gfn_t gfn);
/* For users of tracking (KVM's kvm_page_track_max_mapping_level): the largest level the MMU would map gfn with,
 * 1 (4K) when gfn is tracked, a region around it is disallowed, or there is no slot. */
int mmu_track_max_mapping_level(struct mmu *mmu, gfn_t gfn);
/* Register a user (before the vCPUs run; notifiers are called in registration order). */
void mmu_track_register_notifier(struct mmu *mmu, struct track_notifier *n);

/* ---- guest memory access by the hypervisor (mmu_access.c) ---- */

/* Read or write guest RAM; -EFAULT when any byte is not RAM (nothing is written then); -EACCES when any page is
 * private (mm/private.h; nothing copied, a log line said so). Writes to write-tracked gfns
 * go past the trackers' notifiers page by page (mm/track/write.h): a refusing notifier drops that page's part of the
 * write (-EPERM; the other pages of a write that crosses pages are still written). `who` is the accessor handed to
 * notifiers (the vCPU, or NULL for the hypervisor itself). */
int mmu_read_gpa(struct mmu *mmu, gpa_t gpa, void *buf, u64 len);
/* A guest page walk's read of a paging entry: guest RAM, or all ones where the gpa is not RAM, as the bus returns
 * to a CPU walking tables in unbacked or MMIO space (the walk then meets reserved bits and faults, as hardware's). */
int mmu_read_gpte(struct mmu *mmu, gpa_t gpa, void *buf, unsigned int len);
/* Whether guest RAM still holds what an earlier read saw: n ranges of len bytes (each within one page) at gpa equal
 * expect. 1 when all do; 0 when one differs, is not RAM, or is in a chunk not in memory now (the caller then takes
 * its slow path, which reads it properly). No copy and one slot lookup for ranges in the same slot: the guard of the
 * emulator's decode cache (vm/mmio_fast.c) re-checks a few paging entries and an instruction on every MMIO exit. */
struct mmu_gpa_range {
	gpa_t gpa;
	const void *expect;
	unsigned int len;
};
int mmu_gpa_equal(struct mmu *mmu, const struct mmu_gpa_range *r, unsigned int n);
/* The host address of guest RAM at gpa, valid for as long as slots.generation stays what *gen gets (KVM's
 * gfn_to_hva_cache): NULL where the slot is reclaimable (a flag set before the vCPUs run) or the chunk not yet in
 * memory, whose frames may change. */
const void *mmu_gpa_stable_hva(struct mmu *mmu, gpa_t gpa, u64 *gen);
int mmu_write_gpa(struct mmu *mmu, void *who, gpa_t gpa, const void *buf, u64 len);
/* Atomically replace the len-byte (1, 2, 4, 8) value at gpa with new if it holds old: 0 when replaced, -EAGAIN
 * when it held something else (*cur gets it, if cur), -EFAULT, -EINVAL (misaligned across a page), -EPERM
 * (refused by a tracker). The guest page walker sets A/D bits with it; the emulator's locked instructions too. */
int mmu_cmpxchg_gpa(struct mmu *mmu, void *who, gpa_t gpa, u64 old, u64 new, unsigned int len, u64 *cur);
/* The same for the A/D bits a guest page walk sets (the walker's cmpxchg_gpa op): the shadow MMU does not zap for
 * them (mmu_access.c says why). */
int mmu_cmpxchg_gpa_ad(struct mmu *mmu, void *who, gpa_t gpa, u64 old, u64 new, unsigned int len, u64 *cur);

#endif
