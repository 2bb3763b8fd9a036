/* The fixture shared by the TDP MMU unit tests (test_tdp_mmu_*.c): one MMU with one vCPU's roots over memslots the
 * test makes, fake ops whose answers the test sets in `fx`, each test run for EPT, EPT without A/D and NPT. Every test
 * ends with teardown(), which destroys the MMU and proves that every table frame went back to the allocator. */
#ifndef TDP_MMU_FIXTURE_H
#define TDP_MMU_FIXTURE_H

#include "fake_platform.h"
#include "hv/errno.h"
#include "hv/platform.h"
#include "mm/ept/tdp_internal.h"
#include "mm/ept/tdp_mmu.h"
#include "mm/mmu.h"
#include "mm/spte.h"
#include "mm/track/level.h"
#include "test.h"
#include "mm/memslot.h"

#define GIG	 (1ULL << 18) /* pages */
#define M2	 512ULL	      /* pages */
#define FAKE_HPA 0x40000000000ULL

extern const struct pt_format *const formats[3];
#define for_each_format(f) for (unsigned int fi_ = 0; fi_ < ARRAY_SIZE(formats) && ((f) = formats[fi_], 1); fi_++)

struct tdp_fixture {
	struct mmu mmu;          /* its memslots are the test's: fake_slot or memslot_add */
	struct mmu_vcpu vcpu;
	bool real_slots; /* slots from memslot_add, freed by mmu_destroy */
	u64 flushes, root_requests;
	u64 age_flush_requests; /* ops->request_tlb_flush: the flush after aging (mmu->age_flush) */
	u64 base_frames;
	void (*hook)(gfn_t gfn, u64 old, u64 new, int level);
};

extern struct tdp_fixture fx;

union mmu_role role(int as_id);
void setup(const struct pt_format *fmt);
/* A made-up slot: chunk i at hpa + i * 2M; 1G regions wholly inside marked contiguous if asked. Its chunks name host
 * addresses far beyond the fake memory, which the MMU never touches (it builds tables, it does not read guest
 * memory), so 1 GiB-contiguous backing costs nothing. */
struct memslot *fake_slot(gfn_t base, u64 npages, hpa_t hpa, bool contig, u32 flags);
void teardown(void);
int fault(gfn_t gfn, u32 access, int *level);
u64 lookup(gfn_t gfn, int *level);
/* __tdp_split_huge_range / __tdp_collapse_range under the lock, with the flush paid. */
void split_range(gfn_t start, gfn_t end);
void collapse_range(gfn_t start, gfn_t end);
/* Guest RAM [base, base + npages) through mmu_add_ram: host memory that mmu_read_gpa / mmu_write_gpa really reach,
 * freed by mmu_destroy (sets fx.real_slots; never mix with fake_slot). Keep it to a few MiB: the fake physical
 * memory is 256 MiB. */
void real_ram(gfn_t base, u64 npages);
/* gfn's write-tracking count: 0 when no slot holds it or nothing was ever tracked. */
u32 track_count(gfn_t gfn);
/* A write-tracking user for tests: its hooks append to one log shared by every recorder, in call order. */
enum track_ev_kind { TRACK_EV_PRE_WRITE, TRACK_EV_WRITE, TRACK_EV_REMOVE_REGION };
struct track_ev {
	int id;                  /* of the recorder */
	enum track_ev_kind kind;
	void *who;
	gpa_t gpa;
	unsigned int len;
	u8 bytes[32];            /* the first bytes handed to the hook */
	u8 mem[32];              /* guest memory at gpa while the hook ran (real slots only) */
	gfn_t gfn;               /* remove_region */
	u64 npages;
};
struct track_rec {
	struct track_notifier n;
	int id;
	enum track_verdict verdict; /* what pre_write answers */
};
#define TRACK_EVS_MAX 64
extern struct track_ev track_evs[TRACK_EVS_MAX];
extern unsigned int track_nevs;
/* Set up r (every hook, verdict ALLOW) and register it with fx.mmu. */
void track_rec_register(struct track_rec *r, int id);
/* Event i is `kind` from recorder `id` about len bytes at gpa (or remove_region of [gpa, gpa + len) pages, who
 * and bytes unused); for writes, with these bytes, and guest memory holding `mem` (NULL: unchecked) meanwhile. */
void check_track_ev(unsigned int i, int id, enum track_ev_kind kind, void *who, gpa_t gpa, unsigned int len,
		    const void *bytes, const void *mem);
/* The two recorders the notifier tests use, A (id 1) then B (id 2), and their setup: the MMU, 4 MiB of real RAM
 * from gfn 0, both registered, no event yet. */
extern struct track_rec rec_a, rec_b;
extern struct track_rec *const rec_both[2];
void setup_notifiers(const struct pt_format *f);
static inline gpa_t gpa_of(gfn_t gfn)
{
	return gfn << PAGE_SHIFT;
}
/* teardown(), then: mmu_destroy told every recorder (in registration order) of every slot's removal. */
void teardown_expecting_remove_region(struct track_rec *const *recs, unsigned int n);
/* The present leaf mapping gfn in root (its entry, which the test may change as the hardware would) and its level;
 * NULL if none. No lock: the caller is alone, or inside a grace read section. */
u64 *leaf_sptep(struct mmu_root *root, gfn_t gfn, int *level);
/* gfn's bit in its slot's dirty log (mm/memslot.h), not cleared. Made-up slots have a dirty log too. */
bool dirty_logged(gfn_t gfn);
/* gfn translates to FAKE_HPA + gfn (for slots made at FAKE_HPA from gfn 0) at `level`. */
void check_translation(gfn_t gfn, int level);

#endif
