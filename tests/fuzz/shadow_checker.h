/* The differential checker of the shadow MMU fuzzer (fuzz_shadow.c): the guest paging formats' geometry, which both
 * the operations and the checks use, what the checks must know of the fuzzer's world (the other tracking user, the
 * guest's CPUID), and the checks themselves, in shadow_checker.c: every shadow table where the guest's tables are,
 * every shadow leaf no more than a fresh walk of the guest's tables allows, and the unsync pages where the guest's
 * flushes must have left none. With the sinks of the unit-test harness, where a failed check or a BUG crashes. */
#ifndef FUZZ_SHADOW_CHECKER_H
#define FUZZ_SHADOW_CHECKER_H

#include "tests/unit/shadow_fixture.h"

#define RAM_PAGES (2 * MEMSLOT_CHUNK_PAGES)

/* Guest paging formats: the geometry of their tables (entry size, index bits, where PS counts). */
enum fmt { FMT_4L, FMT_PAE, FMT_32 };

static inline unsigned int esize(enum fmt f)
{
	return f == FMT_32 ? 4 : 8;
}

static inline int top_level(enum fmt f)
{
	return f == FMT_4L ? 4 : f == FMT_PAE ? 3 : 2;
}

static inline unsigned int gindex(enum fmt f, gva_t gva, int level)
{
	if (f == FMT_32)
		return (gva >> (12 + 10 * (level - 1))) & 1023;
	if (f == FMT_PAE && level == 3)
		return (gva >> 30) & 3;
	return (gva >> (12 + 9 * (level - 1))) & 511;
}

static inline gpa_t table_base(enum fmt f, u64 cr3)
{
	return f == FMT_4L ? cr3 & GENMASK_ULL(51, 12) : f == FMT_PAE ? cr3 & 0xffffffe0 : cr3 & 0xfffff000;
}

static inline gpa_t entry_addr(enum fmt f, u64 e)
{
	return e & (f == FMT_32 ? 0xfffff000 : GENMASK_ULL(51, 12));
}

/* Whether PS in a present entry at `level` maps a page (or is reserved, which ends the walk too). */
static inline bool ps_counts(enum fmt f, int level, bool pse)
{
	return f == FMT_4L ? level > 1 : f == FMT_PAE ? level == 2 : level == 2 && pse;
}

/* The linear address of guest-virtual page vpn of root r: canonical in a 4-level root. */
static inline SX_NO_COVERAGE gva_t vpn_gva(const struct mmu_root *r, u64 vpn)
{
	u64 va = vpn << PAGE_SHIFT;

	return r->role.level == 4 ? (u64)((s64)(va << 16) >> 16) : va;
}

/* The fuzzer's world as the checks need it, set for each input (ck.ext by the operations as they go). */
struct check_world {
	bool gbpages; /* the guest's CPUID has 1 GiB pages */
	bool deny;    /* the other tracking user refuses writes to the gfns it tracks (and the walks' A/D updates) */
	u8 maxphy;    /* the guest's MAXPHYADDR */
	u16 ext[RAM_PAGES]; /* the other tracking user's references */
};
extern struct check_world ck;
/* The other tracking user's write notifier, on the fixture's MMU: in deny mode it refuses writes to the gfns it
 * tracks (a protect= range). Its references are the fuzzer's to take and drop (mmu_track_add_gfn, ck.ext). */
void register_other_user(void);

/* After every step: sx_check, then for every root its tables and its leaves against the guest's tables (a leaf of
 * an unsync table exempt: the guest may not rely on it before its flush), the page budget, the tracking counts. */
void check_all(void);
/* After a flushing load of the current root (a MOV to CR3, a paging change): no unsync page is reachable from it. */
void check_root_synced(void);
/* After the guest's INVLPG of gva: the current root's leaf for gva, if there is one, translates as a fresh walk of
 * the guest's tables does, with no more than it allows, unsync table or not. */
void check_invlpg(gva_t gva);
/* Up to max leaves (present or MMIO) of unsync tables that the current root reaches, with their addresses: how many. */
unsigned int unsync_leaves(gva_t *gva, u64 **sptep, unsigned int max);

#endif
