/* The fixture shared by the shadow MMU unit tests (test_shadow_*.c): one shadow-paging MMU (NPT-format SPTEs) over a
 * few MiB of real guest RAM, one vCPU's roots, the guest's paging state in `sx.p` (with its PDPTE registers in
 * `sx.pdptes` under PAE paging), 4-level, PAE and 32-bit guest page tables built in guest memory, and checkers that
 * read the shadow tables back: a leaf's translation and permissions, and the consistency of the shadow pages, the
 * rmap and write tracking over every root. sx_teardown() destroys the MMU and
 * proves that every frame and every shadow page went back. */
#ifndef SHADOW_FIXTURE_H
#define SHADOW_FIXTURE_H

#include "fake_platform.h"
#include "hv/errno.h"
#include "hv/platform.h"
#include "mm/mmu.h"
#include "mm/shadow/shadow_internal.h"
#include "mm/spte.h"
#include "test.h"

#define SX_RAM_PAGES  (4 * MEMSLOT_CHUNK_PAGES) /* 8 MiB of guest RAM at gpa 0 */
#define SX_TABLES     0x100000ULL		/* guest page tables are allocated from 1 MiB up */
#define SX_TABLES_END 0x400000ULL		/* ... to 4 MiB; data pages live above */
#define SX_DATA	      0x400000ULL
#define SX_MMIO	      0x80000000ULL /* a gpa no slot holds */

#define G_P   GPTE_P
#define G_RW  GPTE_RW
#define G_US  GPTE_US
#define G_A   GPTE_A
#define G_D   GPTE_D
#define G_PS  GPTE_PS
#define G_NX  GPTE_NX
#define G_ALL (G_P | G_RW | G_US)

/* The checkers run after every step of the fuzzer (tests/fuzz/fuzz_shadow.c): not worth coverage feedback there. */
#ifdef __clang__
#define SX_NO_COVERAGE __attribute__((no_sanitize("coverage")))
#else
#define SX_NO_COVERAGE
#endif

struct shadow_fixture {
	struct mmu mmu;
	struct mmu_vcpu vcpu;
	struct shadow_paging p;
	u64 pdptes[4]; /* PAE paging: the vCPU's PDPTE registers (sx_load_pdptes), sx.p.mode.pdptes points here */
	u64 flushes, root_requests;
	u64 age_flush_requests; /* ops->request_tlb_flush: the flush after aging (mmu->age_flush) */
	u64 base_frames;
	gpa_t next_table;    /* the guest-table allocator */
	bool other_trackers; /* a test tracks gfns itself: sx_check skips the exact count of tracking references */
	/* Told of every SPTE change, under the MMU lock (the change hook's spte_changed). */
	void (*hook)(gfn_t vpn, u64 old, u64 new, int level);
};

extern struct shadow_fixture sx;

/* A shadow MMU with a budget of `budget` shadow pages over SX_RAM_PAGES of RAM; no root loaded; the guest in long
 * mode (sx_long_mode) with a fresh, empty PML4 as CR3. */
void sx_setup(u64 budget);
/* The same with ram_pages of RAM at gpa 0 (2 MiB multiples, at least SX_TABLES_END: the fuzzer's 4 MiB). */
void sx_setup_ram(u64 budget, u64 ram_pages);
/* Put the vCPU's roots, destroy the MMU: no root, no shadow page, no frame left. */
void sx_teardown(void);
/* The paging state of a guest in long mode (PG, PE, PAE, LMA, NXE, WP; MAXPHYADDR 40) with this CR3. */
void sx_long_mode(u64 cr3);
/* The same with CR4.LA57: 5-level paging, CR3 a PML5; sx_map and sx_gpte_gpa then build and walk 5 levels. */
void sx_long_mode_la57(u64 cr3);
/* The paging state of a guest with paging off. */
void sx_paging_off(void);
/* 32-bit paging (PG, PE, WP; CR4.PAE clear; no NXE), CR3 a guest page directory of 4-byte entries. */
void sx_legacy32(u64 cr3, bool pse);
/* PAE paging (PG, PE, PAE, WP, NXE; not long mode) with CR3 at a 32-byte aligned PDPT: loads its PDPTEs, which must
 * be valid. */
void sx_pae(u64 cr3);
/* What the CPU does at a MOV to CR3 with PAE paging: the PDPTEs at sx.p.cr3 into sx.pdptes (gwalk_load_pdptes):
 * 0, or -EINVAL (sx.pdptes unchanged). */
int sx_load_pdptes(void);
int sx_load(void);
/* mmu_shadow_fault on the current root with sx.p; f may be NULL. After every fault the shadow state is checked. */
int sx_fault(gva_t gva, u32 pferr, struct mmu_fault *f);
/* Drop the obsolete roots and load again (what the vCPU does after MMU_FAULT_RETRY or an invalidation). */
void sx_reload(void);

/* Guest memory through the MMU (writes to shadowed tables reach the notifier, as the emulator's do). */
u64 sx_read(gpa_t gpa);
void sx_write(gpa_t gpa, u64 v);
gpa_t sx_new_table(void);
/* Map gva to gpa in the tables under cr3 (4 or 5 levels, as sx.p.mode says) with a leaf at `leaf` (1: 4K, 2: 2M, 3: 1G) holding leaf_flags; the entries
 * above it that do not exist yet are made with `upper`, the existing ones are kept. Returns the leaf entry's gpa. */
gpa_t sx_map(u64 cr3, gva_t gva, gpa_t gpa, int leaf, u64 upper, u64 leaf_flags);
/* The gpa of the guest entry at `level` on gva's path (the tables above it must exist). */
gpa_t sx_gpte_gpa(u64 cr3, gva_t gva, int level);
/* The same for 32-bit paging: leaf 1 (4K) or 2 (a 4M page: gpa holds the PDE's address bits, PSE-36 ones included,
 * as the PDE does; PS is added). 4-byte entries. */
gpa_t sx_map32(u64 cr3, gva_t gva, gpa_t gpa, int leaf, u32 upper, u32 leaf_flags);
gpa_t sx_gpte_gpa32(u64 cr3, gva_t gva, int level);
/* The same for PAE paging under the PDPT at cr3: a missing PDPTE is made with P only (load the PDPTEs again for it
 * to take effect); leaf 1 (4K) or 2 (2M). */
gpa_t sx_map_pae(u64 cr3, gva_t gva, gpa_t gpa, int leaf, u64 upper, u64 leaf_flags);
gpa_t sx_gpte_gpa_pae(u64 cr3, gva_t gva, int level);
u32 sx_read32(gpa_t gpa);
void sx_write32(gpa_t gpa, u32 v);

/* The host address of guest RAM at gpa. */
hpa_t sx_hpa(gpa_t gpa);
/* The shadow entry where a walk of root for gva stops (a leaf, or the first entry not present) and its level. */
u64 *sx_spte(const struct mmu_root *root, gva_t gva, int *level);
/* The current root's 4K leaf for gva, or 0 when it has none (an MMIO SPTE is returned as it is). */
u64 sx_leaf(gva_t gva);
/* The current root maps gva with a 4K leaf to gpa's host frame, with exactly these permissions. */
void sx_check_leaf(gva_t gva, gpa_t gpa, bool w, bool u, bool x);

/* Address spaces and the pages their roots reach, for the tests of shared and unsync pages. */
/* The guest's flushing MOV to CR3: cr3's root loaded (sx_load), which must succeed. */
void sx_switch(u64 cr3);
/* The root of the address space at cr3, valid or obsolete; NULL if none. */
struct mmu_root *sx_root_of(u64 cr3);
/* The one shadow page of guest table gfn (not direct); NULL if none, a failed check if several. */
struct spage *sx_spage_of(gfn_t gfn);
/* The shadow page holding the entry for gva at `level` in root's tree (the path above it must exist). */
struct spage *sx_spage_at(const struct mmu_root *root, gva_t gva, int level);
/* Whether the unsync-children bitmap of sp has the bit of entry idx. */
bool sx_unsync_bit(const struct spage *sp, unsigned int idx);

/* Every non-zero entry of root's tree (present, or MMIO) in pre-order, with its level and first guest-virtual page:
 * fn(root, level, vpn, sptep, arg). A plain recursion over the tables, which the fuzzer can afford after every step
 * (pt_iter visits every entry of every table, holes too). */
typedef void (*sx_entry_fn)(const struct mmu_root *r, int level, u64 vpn, u64 *sptep, void *arg);
void sx_walk(const struct mmu_root *r, sx_entry_fn fn, void *arg);

/* Every root, valid or obsolete: every table reachable is a hashed shadow page of its level (and nothing else is
 * hashed), every present leaf is a 4K leaf in the rmap of the gfn its shadow page records and maps that gfn's host
 * frame, the rmaps hold nothing else, no leaf is writable over a write-tracked gfn, and (unless other_trackers) each
 * gfn's tracking count equals the number of shadow pages of it that are not unsync. PAE-format roots: their
 * directories are root_pd and shadow what their PDPTEs name (a 32-bit guest's: its directory, quadrant by quadrant),
 * no entry holds a bit PAE paging reserves, and a 32-bit guest's page tables have the quadrant of their 2 MiB. */
void sx_check(void);
/* Shadow pages of gfn (not direct), in the hash; of those, the ones holding a tracking reference (not unsync). */
unsigned int sx_spages_of(gfn_t gfn);
/* A shadow page's parent entries: how many, and whether sptep is one. */
u32 sx_nr_parents(const struct spage *sp);
bool sx_is_parent(const struct spage *sp, u64 *sptep);
unsigned int sx_tracked_spages_of(gfn_t gfn);
u32 sx_track_count(gfn_t gfn);

#endif
