/* The fake owner of the TDP MMU under test (its ops answer from `fx`) and the slot, fault, lookup and translation
 * helpers behind the TDP MMU tests; see tdp_mmu_fixture.h. */
#include <stdlib.h>
#include <string.h>

#include "tdp_mmu_fixture.h"

const struct pt_format *const formats[] = {&pt_format_ept, &pt_format_ept_noad, &pt_format_npt};

struct tdp_fixture fx;

static void t_flush(void *owner)
{
	CHECK(owner == &fx);
	fx.flushes++;
}

static void t_request_tlb_flush(void *owner)
{
	CHECK(owner == &fx);
	fx.age_flush_requests++;
}

static void t_request_free_obsolete(void *owner)
{
	fx.root_requests++;
}

static void t_spte_changed(void *owner, gfn_t gfn, u64 old, u64 new, int level)
{
	if (fx.hook)
		fx.hook(gfn, old, new, level);
}

static const struct mmu_ops t_ops = {
    .flush_remote_tlbs = t_flush,
    .request_free_obsolete_roots = t_request_free_obsolete,
    .request_tlb_flush = t_request_tlb_flush,
    .spte_changed = t_spte_changed,
};

union mmu_role role(int as_id)
{
	union mmu_role r = {.word = 0};

	r.level = 4;
	r.direct = 1;
	r.ad_disabled = !fx.mmu.fmt->ad_enabled;
	r.as_id = as_id;
	return r;
}

void setup(const struct pt_format *fmt)
{
	memset(&fx, 0, sizeof(fx));
	fx.base_frames = fake_mem_frames_in_use();
	mmu_init(&fx.mmu, fmt, 3, &t_ops, &fx, 0);
	CHECK_EQ(mmu_vcpu_load_root(&fx.mmu, &fx.vcpu, 0, role(0)), 0);
}

struct memslot *fake_slot(gfn_t base, u64 npages, hpa_t hpa, bool contig, u32 flags)
{
	struct memslots *ms = &fx.mmu.slots;
	u64 first = base / GIG, n1g = (base + npages - 1) / GIG - first + 1;
	u32 pos;

	CHECK(ms->n < MAX_MEMSLOTS);
	for (pos = ms->n; pos > 0 && ms->slots[pos - 1].base_gfn > base; pos--)
		ms->slots[pos] = ms->slots[pos - 1];
	struct memslot *s = &ms->slots[pos];
	memset(s, 0, sizeof(*s));
	s->base_gfn = base;
	s->npages = npages;
	s->flags = flags;
	s->id = ms->n;
	s->chunks = calloc(npages / M2, sizeof(hpa_t));
	s->contig_1g = calloc(n1g, 1);
	s->chunk_state = malloc(npages / M2);
	memset(s->chunk_state, CHUNK_CLEAN, npages / M2); /* made-up host addresses: never cleared */
	s->dirty_log = calloc(npages / 64, sizeof(u64));
	for (u64 i = 0; i < npages / M2; i++)
		s->chunks[i] = hpa + i * (M2 << PAGE_SHIFT);
	for (u64 g = 0; g < n1g && contig; g++) {
		gfn_t start = (first + g) * GIG;
		s->contig_1g[g] = start >= base && start + GIG <= base + npages;
	}
	ms->n++;
	ms->generation++;
	return s;
}

void teardown(void)
{
	mmu_vcpu_put_roots(&fx.mmu, &fx.vcpu);
	if (!fx.real_slots) {
		/* Made-up slots: their arrays are the test's; mmu_destroy must not free their "host memory". */
		for (u32 i = 0; i < fx.mmu.slots.n; i++) {
			track_slot_free(&fx.mmu.slots.slots[i]);
			free(fx.mmu.slots.slots[i].chunks);
			free(fx.mmu.slots.slots[i].contig_1g);
			free(fx.mmu.slots.slots[i].chunk_state);
			free(fx.mmu.slots.slots[i].dirty_log);
		}
		fx.mmu.slots.n = 0;
	}
	mmu_destroy(&fx.mmu);
	CHECK(!fx.mmu.roots);
	struct mmu_stats st = fx.mmu.stats;
	CHECK_EQ(st.roots_allocated, st.roots_freed);
	CHECK_EQ(st.tables_allocated, st.tables_freed);
	CHECK_EQ(fake_mem_frames_in_use(), fx.base_frames);
}

int fault(gfn_t gfn, u32 access, int *level)
{
	struct mmu_fault f;
	int r = mmu_page_fault(&fx.mmu, &fx.vcpu, (gfn << PAGE_SHIFT) | 0x123, access, &f);

	CHECK_EQ(f.gfn, gfn);
	if (level)
		*level = f.mapped_level;
	return r;
}

u64 lookup(gfn_t gfn, int *level)
{
	return tdp_lookup(&fx.mmu, fx.vcpu.current, gfn, level);
}

void split_range(gfn_t start, gfn_t end)
{
	write_lock(&fx.mmu.lock);
	__tdp_split_huge_range(&fx.mmu, start, end);
	__mmu_flush_and_free(&fx.mmu);
	write_unlock(&fx.mmu.lock);
}

void collapse_range(gfn_t start, gfn_t end)
{
	write_lock(&fx.mmu.lock);
	__tdp_collapse_range(&fx.mmu, start, end);
	__mmu_flush_and_free(&fx.mmu);
	write_unlock(&fx.mmu.lock);
}

void real_ram(gfn_t base, u64 npages)
{
	CHECK(fx.real_slots || fx.mmu.slots.n == 0);
	fx.real_slots = true;
	CHECK_EQ(mmu_add_ram(&fx.mmu, base, npages, 0), 0);
}

u32 track_count(gfn_t gfn)
{
	struct memslot *s = memslot_find(&fx.mmu.slots, gfn);
	u32 n;

	write_lock(&fx.mmu.lock);
	n = s ? track_write_count(s, gfn) : 0;
	write_unlock(&fx.mmu.lock);
	return n;
}

struct track_ev track_evs[TRACK_EVS_MAX];
unsigned int track_nevs;

static struct track_ev *track_ev_add(struct track_notifier *n, enum track_ev_kind kind)
{
	struct track_ev *e;

	CHECK(track_nevs < TRACK_EVS_MAX);
	e = &track_evs[track_nevs++];
	memset(e, 0, sizeof(*e));
	e->id = container_of(n, struct track_rec, n)->id;
	e->kind = kind;
	return e;
}

static void track_ev_write(struct track_ev *e, void *who, gpa_t gpa, const void *bytes, unsigned int len)
{
	e->who = who;
	e->gpa = gpa;
	e->len = len;
	memcpy(e->bytes, bytes, MIN(len, sizeof(e->bytes)));
	if (fx.real_slots)
		CHECK_EQ(mmu_read_gpa(&fx.mmu, gpa, e->mem, MIN(len, sizeof(e->mem))), 0);
}

static enum track_verdict rec_pre_write(struct track_notifier *n, void *who, gpa_t gpa, const void *bytes,
					unsigned int len)
{
	track_ev_write(track_ev_add(n, TRACK_EV_PRE_WRITE), who, gpa, bytes, len);
	return container_of(n, struct track_rec, n)->verdict;
}

static void rec_write(struct track_notifier *n, void *who, gpa_t gpa, const void *bytes, unsigned int len)
{
	track_ev_write(track_ev_add(n, TRACK_EV_WRITE), who, gpa, bytes, len);
}

static void rec_remove_region(struct track_notifier *n, gfn_t gfn, u64 npages)
{
	struct track_ev *e = track_ev_add(n, TRACK_EV_REMOVE_REGION);

	e->gfn = gfn;
	e->npages = npages;
}

void track_rec_register(struct track_rec *r, int id)
{
	memset(r, 0, sizeof(*r));
	r->n.pre_write = rec_pre_write;
	r->n.write = rec_write;
	r->n.remove_region = rec_remove_region;
	r->id = id;
	r->verdict = TRACK_WRITE_ALLOW;
	mmu_track_register_notifier(&fx.mmu, &r->n);
}

void check_track_ev(unsigned int i, int id, enum track_ev_kind kind, void *who, gpa_t gpa, unsigned int len,
		    const void *bytes, const void *mem)
{
	const struct track_ev *e = &track_evs[i];

	CHECK(i < track_nevs);
	CHECK_EQ(e->id, id);
	CHECK_EQ(e->kind, kind);
	if (kind == TRACK_EV_REMOVE_REGION) {
		CHECK_EQ(e->gfn, gpa);
		CHECK_EQ(e->npages, len);
		return;
	}
	CHECK(e->who == who);
	CHECK_EQ(e->gpa, gpa);
	CHECK_EQ(e->len, len);
	if (bytes)
		CHECK(memcmp(e->bytes, bytes, MIN(len, sizeof(e->bytes))) == 0);
	if (mem)
		CHECK(memcmp(e->mem, mem, MIN(len, sizeof(e->mem))) == 0);
}

void teardown_expecting_remove_region(struct track_rec *const *recs, unsigned int n)
{
	struct memslot slots[MAX_MEMSLOTS];
	u32 nslots = fx.mmu.slots.n;
	unsigned int first = track_nevs;

	CHECK(fx.real_slots); /* made-up slots are taken out before mmu_destroy */
	memcpy(slots, fx.mmu.slots.slots, sizeof(slots));
	teardown();
	CHECK_EQ(track_nevs, first + n * nslots);
	for (unsigned int r = 0; r < n; r++) {
		for (u32 i = 0; i < nslots; i++)
			check_track_ev(first + r * nslots + i, recs[r]->id, TRACK_EV_REMOVE_REGION, NULL,
				       slots[i].base_gfn, slots[i].npages, NULL, NULL);
	}
}

void check_translation(gfn_t gfn, int level)
{
	int l;
	u64 spte = lookup(gfn, &l);

	CHECK(spte_is_present(spte));
	CHECK_EQ(l, level);
	CHECK_EQ(pt_leaf_hpa(spte, l) + ((gfn & (pt_level_pages(l) - 1)) << PAGE_SHIFT),
		 FAKE_HPA + (gfn << PAGE_SHIFT));
}

struct track_rec rec_a, rec_b;
struct track_rec *const rec_both[2] = {&rec_a, &rec_b};

void setup_notifiers(const struct pt_format *f)
{
	setup(f);
	real_ram(0, 2 * M2);
	track_rec_register(&rec_a, 1);
	track_rec_register(&rec_b, 2);
	track_nevs = 0;
}

u64 *leaf_sptep(struct mmu_root *root, gfn_t gfn, int *level)
{
	struct pt_iter iter;

	for_each_tdp_pte(iter, &fx.mmu, root, gfn, gfn + 1) {
		if (!spte_is_present(iter.old_spte))
			return NULL;
		if (spte_is_leaf(iter.old_spte, iter.level)) {
			if (level)
				*level = iter.level;
			return iter.sptep;
		}
	}
	return NULL;
}

bool dirty_logged(gfn_t gfn)
{
	const struct memslot *s = memslot_find(&fx.mmu.slots, gfn);
	u64 i;

	if (!s || !s->dirty_log)
		return false;
	i = gfn - s->base_gfn;
	return (__atomic_load_n(&s->dirty_log[i / 64], __ATOMIC_RELAXED) >> (i % 64)) & 1;
}
