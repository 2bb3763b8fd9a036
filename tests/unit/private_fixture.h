/* The fixture of the private-memory tests (test_private*.c): a private VM on the TDP MMU fixture, with a fake owner
 * whose external table is a model of the hypervisor's direct map. set_external_spte makes the frame's page of the
 * fake physical memory inaccessible (mprotect PROT_NONE), remove_external_spte zeroes it and makes it accessible
 * again, so any read of a private frame by the code under test is a SIGSEGV, reported as such. Every hook call and
 * every remote flush is recorded in call order, with what the mirror root held at that moment, and failures can be
 * injected into set_external_spte. */
#ifndef PRIVATE_FIXTURE_H
#define PRIVATE_FIXTURE_H

#include "tdp_mmu_fixture.h"

#define SHARED_BIT 39
#define SHARED_GPA (1ULL << SHARED_BIT)
#define SHARED_GFN (SHARED_GPA >> PAGE_SHIFT)
#define RAM_PAGES  (2 * M2) /* real RAM from gfn 0: two last-level tables' worth */
#define PF_FRAMES  ((256ULL << 20) >> PAGE_SHIFT) /* the fake physical memory (fake_platform.c) */
#define PF_LOG_MAX 4096

enum pf_ev_kind {
	PF_SET,      /* set_external_spte (also the refused ones) */
	PF_REMOVE,   /* remove_external_spte */
	PF_FREE_SPT, /* free_external_spt */
	PF_FLUSH,    /* ops->flush_remote_tlbs */
	PF_ZAP,      /* ops->spte_changed: a present leaf went (either tree) */
};

struct pf_ev {
	enum pf_ev_kind kind;
	gfn_t gfn;
	hpa_t hpa;        /* the frame (SET, REMOVE, ZAP) or the table (FREE_SPT) */
	int level;        /* FREE_SPT: the level of the table's entries; ZAP: the leaf's */
	int result;       /* SET: what the fake answered */
	u64 mirror_spte;  /* SET: the mirror root's level-1 entry for gfn while the hook ran */
	hpa_t hw_hpa;     /* SET: what the hardware root translated gfn's private GPA to meanwhile */
	u64 flushes;      /* remote flushes before this event */
};

struct priv_fixture {
	struct pf_ev log[PF_LOG_MAX];
	u32 nlog;           /* atomic */
	bool no_log;        /* the stress test keeps per-frame state only */
	/* Failure injection: the next fail_next calls of set_external_spte answer fail_err; with fail_every, one call
	 * in fail_every does (atomic counter). */
	int fail_next, fail_err;
	u32 fail_every, set_calls;
	u64 flushes;        /* atomic */
	u64 sets, removes, refused, spts_freed; /* atomic */
	/* Per frame of the fake physical memory: out of the direct map now (atomic), set and remove calls, and the
	 * remote flushes counted when it was last taken out. */
	u8 absent[PF_FRAMES];
	u32 nset[PF_FRAMES], nremove[PF_FRAMES];
	u64 set_flushes[PF_FRAMES];
	/* The stress test's vCPU threads: in_guest[i] while thread i walks the hardware root (flush waits for 0). */
	int nvcpus;
	int in_guest[8];
	/* Called from set_external_spte, after the checks above, for the stress test's own (NULL: none). */
	void (*on_set)(gfn_t gfn, hpa_t frame);
	/* Failures seen inside hooks, where a CHECK cannot longjmp (they may run on other threads): first one kept. */
	char err[256];
	int nerr;
};

extern struct priv_fixture pf;
extern const struct mmu_external_ops pf_ext_ops;

/* fixture setup(f), RAM_PAGES of real RAM from gfn 0, the fake ops in place, the VM made private with SHARED_BIT, and
 * the vCPU's root loaded again through mmu_load_root (which makes it hw_top's shared half). */
void priv_setup(const struct pt_format *f);
/* The fixture's setup and real RAM with the fake ops, not yet private. */
void priv_setup_shared_only(const struct pt_format *f);
/* teardown() (mmu_destroy), then: no frame left out of the direct map, every set matched by one remove, no hook
 * failure recorded. */
void priv_teardown(void);

/* A fault at gpa for fx.vcpu: the mmu_fault_result, or an error. */
int pfault(gpa_t gpa, u32 access);
static inline gpa_t priv_gpa(gfn_t gfn)
{
	return gfn << PAGE_SHIFT;
}
static inline gpa_t shared_gpa(gfn_t gfn)
{
	return (gfn << PAGE_SHIFT) | SHARED_GPA;
}
/* The host frame behind gfn (RAM). */
hpa_t ram_hpa(gfn_t gfn);
/* The entry a raw walk from top (any 4-level TDP table: a root or hw_top) ends on for gfn: the level-1 entry, or the
 * first one above it that is not a table (a hole, a frozen entry, a huge leaf). Lockless, atomic loads. */
u64 *raw_walk(hpa_t top, gfn_t gfn, int *level);
/* The mirror root's level-1 entry for gfn: its value, 0 when the path to it is missing. */
u64 mirror_spte(gfn_t gfn);
/* The present 4K leaf of the mirror root / of the vCPU's current root for gfn, 0 if none. */
u64 mirror_leaf(gfn_t gfn);
u64 leaf_of(hpa_t top, gfn_t gfn);
u64 direct_leaf(gfn_t gfn);
/* What the hardware root translates gpa to (INVALID_HPA: it faults). */
hpa_t hw_translate(gpa_t gpa);
/* Whether the hypervisor can read the frame through its direct map (false: absent, the read faulted). Single-thread
 * tests only. */
bool frame_readable(hpa_t frame);
bool frame_is_zero(hpa_t frame);
/* Events since index `from` of a kind (and frame, if not INVALID_HPA). */
u32 pf_count(u32 from, enum pf_ev_kind kind, hpa_t hpa);
/* The index of the first event at or after `from` of that kind and frame; ~0u if none. */
u32 pf_find(u32 from, enum pf_ev_kind kind, hpa_t hpa);
/* A hook failure recorded (from any thread). */
void pf_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
