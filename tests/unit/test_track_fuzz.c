/* Randomised sequences of write-tracking adds and removes mixed with faults, writes, compare-exchanges, zaps and root
 * invalidations (fixed seeds, so a failure replays), checked after every step against a model of the counts: a gfn
 * with references never has a writable SPTE in any root, obsolete ones included, nor a huge leaf over it; every
 * call answers as the model says; and guest memory holds exactly what the model says was written (refused pages
 * keep their bytes). A gfn without references and without a tracked neighbour may be mapped any way. */
#include <stdlib.h>

#include "tdp_mmu_fixture.h"

static u64 rng;

static u64 rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static u64 rnd_below(u64 n)
{
	return rnd() % n;
}

/* ---- the model ---- */

#define MAX_GFN (3 * GIG)
static u32 *model;      /* [gfn]: references */
static u32 *model_2m;   /* [gfn / M2]: gfns of the 2M region with references */
static u32 *set_pos;    /* [gfn]: index in set[] of a gfn with references */
static gfn_t set[8192]; /* the gfns with references, in no order */
static u32 set_n;
static u8 *shadow_mem;  /* real RAM: what guest memory should hold, [gpa] */

static bool in_slot(gfn_t g)
{
	return g < PT_MAX_PFN && memslot_find(&fx.mmu.slots, g);
}

/* ---- a notifier that checks each report against the model and may refuse ---- */

static struct {
	struct track_notifier n;
	bool deny;
	u64 pre_writes, writes, bytes;
} watcher;

static enum track_verdict w_pre_write(struct track_notifier *n, void *who, gpa_t gpa, const void *bytes,
				      unsigned int len)
{
	CHECK(model[gpa >> PAGE_SHIFT] > 0);
	CHECK_EQ(gpa >> PAGE_SHIFT, (gpa + len - 1) >> PAGE_SHIFT);
	watcher.pre_writes++;
	return watcher.deny ? TRACK_WRITE_DENY : TRACK_WRITE_ALLOW;
}

static void w_write(struct track_notifier *n, void *who, gpa_t gpa, const void *bytes, unsigned int len)
{
	u8 now[PAGE_SIZE];

	CHECK(!watcher.deny);
	CHECK(model[gpa >> PAGE_SHIFT] > 0);
	CHECK_EQ(mmu_read_gpa(&fx.mmu, gpa, now, len), 0);
	CHECK(memcmp(now, bytes, len) == 0);
	watcher.writes++;
	watcher.bytes += len;
}

/* ---- the invariant ---- */

/* Every present leaf of every root in [0, end) agrees with the model. */
static void check_roots(gfn_t end)
{
	const struct pt_format *f = fx.mmu.fmt;
	struct pt_iter iter;

	write_lock(&fx.mmu.lock);
	for (struct mmu_root *root = fx.mmu.roots; root; root = root->next) {
		for_each_tdp_pte(iter, &fx.mmu, root, 0, end) {
			u64 spte = iter.old_spte;

			if (!spte_is_present(spte) || !spte_is_leaf(spte, iter.level))
				continue;
			if (iter.level == 1) {
				if (model[iter.gfn]) {
					CHECK(!(spte & f->writable));
					CHECK(!(spte & SPTE_MMU_WRITABLE));
				}
				continue;
			}
			/* A huge leaf: no gfn under it is tracked. */
			for (gfn_t r = iter.gfn / M2; r < (iter.gfn + pt_level_pages(iter.level)) / M2; r++)
				CHECK_EQ(model_2m[r], 0);
		}
	}
	write_unlock(&fx.mmu.lock);
}

static void check_counts(gfn_t g)
{
	if (in_slot(g))
		CHECK_EQ(track_count(g), model[g]);
	if (model[g] || (g < MAX_GFN && model_2m[g / M2]))
		CHECK_EQ(mmu_track_max_mapping_level(&fx.mmu, g), 1);
}

/* ---- the operations ---- */

static void op_add(gfn_t g)
{
	int r = mmu_track_add_gfn(&fx.mmu, g);

	if (!in_slot(g)) {
		CHECK_EQ(r, -EFAULT);
		return;
	}
	CHECK_EQ(r, 0);
	if (!model[g]++) {
		model_2m[g / M2]++;
		CHECK(set_n < ARRAY_SIZE(set));
		set_pos[g] = set_n;
		set[set_n++] = g;
	}
}

static void op_remove(gfn_t g)
{
	int r = mmu_track_remove_gfn(&fx.mmu, g);

	if (!in_slot(g)) {
		CHECK_EQ(r, -EFAULT);
		return;
	}
	if (!model[g]) {
		CHECK_EQ(r, -ERANGE);
		return;
	}
	CHECK_EQ(r, 0);
	if (!--model[g]) {
		model_2m[g / M2]--;
		set[set_pos[g]] = set[--set_n];
		set_pos[set[set_pos[g]]] = set_pos[g];
	}
}

static void reload_root(void)
{
	mmu_vcpu_free_obsolete_roots(&fx.mmu, &fx.vcpu);
	CHECK_EQ(mmu_vcpu_load_root(&fx.mmu, &fx.vcpu, 0, role(0)), 0);
}

static void op_fault(gfn_t g)
{
	static const u32 kinds[] = {SPTE_ACC_READ, SPTE_ACC_WRITE, SPTE_ACC_EXEC, SPTE_ACC_READ | SPTE_ACC_WRITE};
	u32 access = kinds[rnd_below(ARRAY_SIZE(kinds))];
	int level, r = fault(g, access, &level);

	if (r == MMU_FAULT_RETRY) {
		CHECK(mmu_root_is_obsolete(&fx.mmu, fx.vcpu.current));
		reload_root();
		r = fault(g, access, &level);
	}
	if (!in_slot(g)) {
		CHECK_EQ(r, MMU_FAULT_MMIO);
		return;
	}
	if ((access & SPTE_ACC_WRITE) && model[g]) {
		CHECK_EQ(r, MMU_FAULT_WRITE_PROTECTED);
		CHECK_EQ(level, 1);
	} else {
		CHECK(r == MMU_FAULT_FIXED || r == MMU_FAULT_SPURIOUS);
		CHECK(spte_allows(fx.mmu.fmt, lookup(g, &level), access));
	}
	if (model_2m[g / M2])
		CHECK_EQ(level, 1);
}

/* Tracked pages covered by [gpa, gpa + len) and their bytes. */
static void tracked_part(gpa_t gpa, u64 len, u64 *pages, u64 *bytes)
{
	*pages = *bytes = 0;
	while (len) {
		u64 n = MIN(len, PAGE_SIZE - (gpa & (PAGE_SIZE - 1)));

		if (model[gpa >> PAGE_SHIFT]) {
			++*pages;
			*bytes += n;
		}
		gpa += n;
		len -= n;
	}
}

/* At a random place in page g, or anywhere below limit. */
static gpa_t pick_gpa(gfn_t g, gpa_t limit)
{
	return rnd_below(4) ? (g << PAGE_SHIFT) + rnd_below(PAGE_SIZE) : rnd_below(limit);
}

static void op_write(gfn_t g, gpa_t limit)
{
	static u8 buf[3 * PAGE_SIZE];
	u64 len = 1 + rnd_below(rnd_below(4) ? 64 : sizeof(buf));
	gpa_t gpa = pick_gpa(g, limit);
	u64 pages, bytes, pre = watcher.pre_writes, writes = watcher.writes, wbytes = watcher.bytes;
	bool ram = true;

	for (gpa_t p = gpa & ~(PAGE_SIZE - 1); p < gpa + len; p += PAGE_SIZE)
		ram = ram && in_slot(p >> PAGE_SHIFT);
	for (u64 i = 0; i < len; i++)
		buf[i] = (u8)rnd();
	watcher.deny = rnd_below(4) == 0;
	int r = mmu_write_gpa(&fx.mmu, NULL, gpa, buf, len);
	if (!ram) {
		CHECK_EQ(r, -EFAULT);
		CHECK_EQ(watcher.pre_writes, pre);
		return;
	}
	tracked_part(gpa, len, &pages, &bytes);
	CHECK_EQ(r, watcher.deny && pages ? -EPERM : 0);
	CHECK_EQ(watcher.pre_writes, pre + pages);
	CHECK_EQ(watcher.writes, writes + (watcher.deny ? 0 : pages));
	CHECK_EQ(watcher.bytes, wbytes + (watcher.deny ? 0 : bytes));
	/* The model: every page written, but a refused one. */
	for (u64 i = 0; i < len; i++) {
		if (!(watcher.deny && model[(gpa + i) >> PAGE_SHIFT]))
			shadow_mem[gpa + i] = buf[i];
	}
	static u8 back[3 * PAGE_SIZE];
	CHECK_EQ(mmu_read_gpa(&fx.mmu, gpa, back, len), 0);
	CHECK(memcmp(back, shadow_mem + gpa, len) == 0);
}

static void op_cmpxchg(gfn_t g, gpa_t limit)
{
	gpa_t gpa = pick_gpa(g, limit) & ~7ULL;
	u64 old = 0, cur = 0, new = rnd(), pre = watcher.pre_writes;
	bool match = rnd_below(4) != 0;

	if (!in_slot(gpa >> PAGE_SHIFT)) {
		CHECK_EQ(mmu_cmpxchg_gpa(&fx.mmu, NULL, gpa, 0, new, 8, NULL), -EFAULT);
		return;
	}
	memcpy(&old, shadow_mem + gpa, 8);
	watcher.deny = rnd_below(4) == 0;
	int r = mmu_cmpxchg_gpa(&fx.mmu, NULL, gpa, match ? old : old ^ 1, new, 8, &cur);
	bool tracked = model[gpa >> PAGE_SHIFT];
	if (tracked && watcher.deny) {
		CHECK_EQ(r, -EPERM);
	} else if (!match) {
		CHECK_EQ(r, -EAGAIN);
		CHECK_EQ(cur, old);
	} else {
		CHECK_EQ(r, 0);
		memcpy(shadow_mem + gpa, &new, 8);
	}
	CHECK_EQ(watcher.pre_writes, pre + tracked);
	u64 now = 0;
	CHECK_EQ(mmu_read_gpa(&fx.mmu, gpa, &now, 8), 0);
	CHECK(memcmp(&now, shadow_mem + gpa, 8) == 0);
}

enum op { OP_ADD, OP_REMOVE, OP_FAULT, OP_WRITE, OP_CMPXCHG, OP_ZAP, OP_INVALIDATE };

/* Epochs of 250 steps alternate between taking references (adds outweigh removes) and draining them (removes
 * dominate, mostly of gfns that have references), so regions go back to no references at all and their huge
 * leaves return, then get split again. */
static bool is_draining(unsigned int step)
{
	return (step / 250) % 2;
}

static enum op pick_op(unsigned int step)
{
	bool drain = is_draining(step);
	unsigned int r = (unsigned int)rnd_below(32), add = drain ? 2 : 8, remove = drain ? 10 : 4;

	if (r < add)
		return OP_ADD;
	if ((r -= add) < remove)
		return OP_REMOVE;
	r -= remove;
	if (r < 8)
		return OP_FAULT;
	if (r < 13)
		return OP_WRITE;
	if (r < 15)
		return OP_CMPXCHG;
	if (r < 17)
		return OP_ZAP;
	return r < 18 ? OP_INVALIDATE : OP_FAULT;
}

/* A vCPU's root becomes obsolete; half the time the vCPU drops it at once, else it keeps running on it until a
 * fault answers MMU_FAULT_RETRY. */
static void invalidate(void)
{
	mmu_invalidate_all_roots(&fx.mmu);
	if (rnd_below(2))
		reload_root();
}

/* A gfn: most often one of a few hot ones (so references nest and neighbours share regions), else anywhere in
 * [0, span), holes included. */
static gfn_t pick_gfn(const gfn_t *hot, unsigned int nhot, gfn_t span)
{
	if (rnd_below(3))
		return hot[rnd_below(nhot)] + rnd_below(2);
	return rnd_below(span);
}

static gfn_t pick_remove(unsigned int step, gfn_t g)
{
	if (!is_draining(step) || !set_n || !rnd_below(4))
		return g;
	return set[rnd_below(set_n)];
}

static void model_reset(void)
{
	if (!model) {
		model = calloc(MAX_GFN, sizeof(*model));
		model_2m = calloc(MAX_GFN / M2, sizeof(*model_2m));
		set_pos = calloc(MAX_GFN, sizeof(*set_pos));
	}
	set_n = 0;
	memset(model, 0, MAX_GFN * sizeof(*model));
	memset(model_2m, 0, MAX_GFN / M2 * sizeof(*model_2m));
	memset(&watcher, 0, sizeof(watcher));
	watcher.n.pre_write = w_pre_write;
	watcher.n.write = w_write;
}

/* Real RAM (4 MiB at gfn 0, 2 MiB at gfn 2048, a hole between): every operation, writes included. */
TEST(track_fuzz_real_ram_against_model)
{
	const struct pt_format *f;
	static const gfn_t hot[] = {3, 7, 300, M2 + 5, M2 + 500, 4 * M2 + 1, 4 * M2 + 260};
	const gfn_t span = 5 * M2 + 16;

	for_each_format(f) {
		setup(f);
		real_ram(0, 2 * M2);
		real_ram(4 * M2, M2);
		model_reset();
		mmu_track_register_notifier(&fx.mmu, &watcher.n);
		shadow_mem = calloc(1, span << PAGE_SHIFT);
		rng = 0x9e3779b97f4a7c15ULL + fi_;
		for (unsigned int step = 0; step < 6000; step++) {
			gfn_t g = pick_gfn(hot, ARRAY_SIZE(hot), span);

			switch (pick_op(step)) {
			case OP_ADD:
				op_add(g);
				break;
			case OP_REMOVE:
				g = pick_remove(step, g);
				op_remove(g);
				break;
			case OP_FAULT:
				op_fault(g);
				break;
			case OP_WRITE:
				op_write(g, span << PAGE_SHIFT);
				break;
			case OP_CMPXCHG:
				op_cmpxchg(g, span << PAGE_SHIFT);
				break;
			case OP_ZAP:
				mmu_zap_gfn_range(&fx.mmu, g, g + 1 + rnd_below(2 * M2));
				break;
			case OP_INVALIDATE:
				invalidate();
				break;
			}
			check_counts(g);
			check_roots(span);
		}
		for (gfn_t g = 0; g < span; g++)
			check_counts(g);
		static u8 page[PAGE_SIZE];
		for (gfn_t g = 0; g < span; g++) {
			if (in_slot(g)) {
				CHECK_EQ(mmu_read_gpa(&fx.mmu, g << PAGE_SHIFT, page, PAGE_SIZE), 0);
				CHECK(memcmp(page, shadow_mem + (g << PAGE_SHIFT), PAGE_SIZE) == 0);
			}
		}
		CHECK(fx.mmu.stats.track_adds > 100 && fx.mmu.stats.write_protected_faults > 10);
		CHECK(watcher.writes > 50 && fx.mmu.stats.tracked_writes_refused > 20);
		CHECK(fx.mmu.stats.splits > 10 && fx.mmu.stats.collapses > 10);
		free(shadow_mem);
		teardown();
	}
}

/* A 2 GiB 1G-contiguous made-up slot, so 1G and 2M leaves are split and collapsed back: no writes. */
TEST(track_fuzz_huge_leaves_against_model)
{
	const struct pt_format *f;
	static const gfn_t hot[] = {5, M2 + 9, GIG + 5 * M2 + 3, GIG + 5 * M2 + 400, GIG + 6 * M2, 2 * GIG - 2};
	const gfn_t span = 2 * GIG + M2;

	for_each_format(f) {
		setup(f);
		fake_slot(0, 2 * GIG, FAKE_HPA, true, 0);
		model_reset();
		rng = 0x2545f4914f6cdd1dULL + fi_;
		for (unsigned int step = 0; step < 4000; step++) {
			gfn_t g = pick_gfn(hot, ARRAY_SIZE(hot), span);

			switch (pick_op(step)) {
			case OP_ADD:
				op_add(g);
				break;
			case OP_REMOVE:
				g = pick_remove(step, g);
				op_remove(g);
				break;
			case OP_FAULT:
			case OP_WRITE:   /* made-up slots have no memory to write */
			case OP_CMPXCHG:
				op_fault(g);
				break;
			case OP_ZAP:
				mmu_zap_gfn_range(&fx.mmu, g, g + 1 + rnd_below(GIG));
				break;
			case OP_INVALIDATE:
				invalidate();
				break;
			}
			check_counts(g);
			check_roots(span);
		}
		for (unsigned int i = 0; i < ARRAY_SIZE(hot); i++)
			check_counts(hot[i]);
		CHECK(fx.mmu.stats.splits > 10 && fx.mmu.stats.collapses > 10);
		CHECK(fx.mmu.stats.faults_mapped[3] > 0 && fx.mmu.stats.faults_mapped[2] > 0);
		teardown();
	}
}
