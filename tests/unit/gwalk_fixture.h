/* The fixture shared by the guest page-table walker's unit tests (test_gwalk*.c): a fake guest-physical memory with
 * read and compare-exchange callbacks that can be made to fail or to lose races, a bump allocator of table pages,
 * helpers that build IA-32e (4- or 5-level) page tables mapping one address, and walk wrappers that check the
 * outcome. */
#ifndef GWALK_FIXTURE_H
#define GWALK_FIXTURE_H

#include "hv/errno.h"
#include "mm/shadow/gwalk.h"
#include "test.h"

#define GMEM_SIZE (4ULL << 20)

extern u8 gmem[GMEM_SIZE];
extern gpa_t fail_gpa;	/* read_gpa fails on this address ... */
extern int fail_err;	/* ... with this */
extern int races;	/* cmpxchg calls left that first change the entry and report -EAGAIN */
extern int cmpxchg_err; /* when nonzero, what cmpxchg returns */
extern unsigned int nreads, ncmpxchg;
extern struct gwalk_result res; /* the last walk's, by walk(), expect_ok() and expect_pf() */

extern const struct gwalk_ops ops_ad; /* reads and A/D updates */
extern const struct gwalk_ops ops_ro; /* reads only */

#define P	GPTE_P
#define RW	GPTE_RW
#define US	GPTE_US
#define PS	GPTE_PS
#define NX	GPTE_NX
#define ALL	(P | RW | US)
#define PKEY(k) ((u64)(k) << GPTE_PKEY_SHIFT)

/* Empty memory, no failures, counters at zero, tables allocated from 64 KiB up. */
void reset(void);
gpa_t new_table(void);
u64 r64(gpa_t a);
void w64(gpa_t a, u64 v);
u32 r32(gpa_t a);
void w32(gpa_t a, u32 v);

/*
 * IA-32e tables with `top` levels (4 or 5) mapping gva with a leaf at `leaf` (1: 4K, 2: 2M, 3: 1G); entries already
 * present on the way are reused. upper[l] are the flags of the entry at level l (top..leaf+1), so upper has top + 1
 * elements; leaf_flags are the leaf's (PS is added for a large leaf). Returns cr3: a new root.
 */
u64 map_ia32e(unsigned int top, gva_t gva, u64 leaf_addr, unsigned int leaf, const u64 *upper, u64 leaf_flags);
/* The same in an existing root. */
void map_ia32e_at(u64 root, unsigned int top, gva_t gva, u64 leaf_addr, unsigned int leaf, const u64 *upper,
		  u64 leaf_flags);
/* 4-level tables: map_ia32e(4, ...). */
u64 map4(gva_t gva, u64 leaf_addr, unsigned int leaf, const u64 upper[5], u64 leaf_flags);

extern const u64 up_all[GWALK_MAX_LEVELS + 1]; /* ALL at every level */

/* Long mode, CR0.WP, NXE, 1G pages, MAXPHYADDR 46; no SMEP, SMAP, PKE or LA57. */
struct gwalk_mode lm_mode(void);

int walk(const struct gwalk_mode *m, u64 cr3, gva_t gva, u32 access);
void expect_ok(const struct gwalk_mode *m, u64 cr3, gva_t gva, u32 access, gpa_t gpa);
void expect_pf(const struct gwalk_mode *m, u64 cr3, gva_t gva, u32 access, u32 ec, unsigned int level);

#endif
