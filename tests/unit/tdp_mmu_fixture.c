/* The fake owner of the TDP MMU under test (its ops answer from `fx`) and the slot, fault, lookup and translation
 * helpers behind the TDP MMU tests; see tdp_mmu_fixture.h. */
#include <stdlib.h>
#include <string.h>

#include "tdp_mmu_fixture.h"

const struct pt_format *const formats[] = {&pt_format_ept, &pt_format_ept_noad, &pt_format_npt};

struct tdp_fixture fx;

static int t_max_level(void *owner, gfn_t gfn)
{
	int level = fx.max_level;
	struct memslot *s = fx.use_track ? memslot_find(&fx.slots, gfn) : NULL;

	if (s)
		level = MIN(level, track_max_level(s, gfn));
	return level;
}

static void t_flush(void *owner)
{
	CHECK(owner == &fx);
	fx.flushes++;
}

static void t_request_free_obsolete(void *owner)
{
	fx.root_requests++;
}

static bool t_write_tracked(void *owner, gfn_t gfn)
{
	for (int i = 0; i < fx.ntracked; i++) {
		if (fx.tracked[i] == gfn)
			return true;
	}
	return false;
}

static void t_spte_changed(void *owner, gfn_t gfn, u64 old, u64 new, int level)
{
	if (fx.hook)
		fx.hook(gfn, old, new, level);
}

static const struct tdp_mmu_ops t_ops = {
    .max_level = t_max_level,
    .flush_remote_tlbs = t_flush,
    .request_free_obsolete_roots = t_request_free_obsolete,
    .gfn_write_tracked = t_write_tracked,
    .spte_changed = t_spte_changed,
};

union tdp_role role(int as_id)
{
	union tdp_role r = {.word = 0};

	r.levels = 4;
	r.as_id = as_id;
	return r;
}

void setup(const struct pt_format *fmt)
{
	memset(&fx, 0, sizeof(fx));
	fx.max_level = 3;
	fx.base_frames = fake_mem_frames_in_use();
	tdp_mmu_init(&fx.mmu, fmt, &fx.slots, &t_ops, &fx);
	CHECK_EQ(tdp_vcpu_load_root(&fx.mmu, &fx.vcpu, role(0)), 0);
}

struct memslot *fake_slot(gfn_t base, u64 npages, hpa_t hpa, bool contig, u32 flags)
{
	struct memslots *ms = &fx.slots;
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
	tdp_vcpu_put_roots(&fx.mmu, &fx.vcpu);
	tdp_mmu_destroy(&fx.mmu);
	CHECK(!fx.mmu.roots);
	CHECK_EQ(fx.mmu.stats.roots_allocated, fx.mmu.stats.roots_freed);
	CHECK_EQ(fx.mmu.stats.tables_allocated, fx.mmu.stats.tables_freed);
	if (fx.real_slots) {
		memslots_destroy(&fx.slots);
	} else {
		for (u32 i = 0; i < fx.slots.n; i++) {
			track_slot_free(&fx.slots.slots[i]);
			free(fx.slots.slots[i].chunks);
			free(fx.slots.slots[i].contig_1g);
			free(fx.slots.slots[i].chunk_state);
		}
	}
	CHECK_EQ(fake_mem_frames_in_use(), fx.base_frames);
}

int fault(gfn_t gfn, u32 access, int *level)
{
	int l = -1;
	int r = tdp_page_fault(&fx.mmu, fx.vcpu.current, (gfn << PAGE_SHIFT) | 0x123, access, &l);

	if (level)
		*level = l;
	return r;
}

u64 lookup(gfn_t gfn, int *level)
{
	return tdp_lookup(&fx.mmu, fx.vcpu.current, gfn, level);
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
