/* The fake owner of the shadow MMU under test, guest page tables in real guest RAM, and the checkers that read the
 * shadow tables, the rmap and write tracking back; see shadow_fixture.h. */
#include <stdlib.h>
#include <string.h>

#include "shadow_fixture.h"

struct shadow_fixture sx;

static hpa_t table_of(u64 spte)
{
	return spte_pfn(spte) << PAGE_SHIFT;
}

static void sx_flush(void *owner)
{
	CHECK(owner == &sx);
	sx.flushes++;
}

static void sx_request_tlb_flush(void *owner)
{
	CHECK(owner == &sx);
	sx.age_flush_requests++;
}

static void sx_request_free_obsolete(void *owner)
{
	CHECK(owner == &sx);
	sx.root_requests++;
}

static void sx_spte_changed(void *owner, gfn_t vpn, u64 old, u64 new, int level)
{
	if (sx.hook)
		sx.hook(vpn, old, new, level);
}

static const struct mmu_ops sx_ops = {
    .spte_changed = sx_spte_changed,
    .flush_remote_tlbs = sx_flush,
    .request_free_obsolete_roots = sx_request_free_obsolete,
    .request_tlb_flush = sx_request_tlb_flush,
};

void sx_long_mode(u64 cr3)
{
	sx.p.mode =
	    (struct gwalk_mode){.pg = true, .wp = true, .pae = true, .lma = true, .nxe = true, .maxphyaddr = 40};
	sx.p.cr3 = cr3;
}

void sx_long_mode_la57(u64 cr3)
{
	sx_long_mode(cr3);
	sx.p.mode.la57 = true;
}

void sx_paging_off(void)
{
	sx.p.mode = (struct gwalk_mode){.maxphyaddr = 40};
	sx.p.cr3 = 0;
}

void sx_legacy32(u64 cr3, bool pse)
{
	sx.p.mode = (struct gwalk_mode){.pg = true, .wp = true, .pse = pse, .maxphyaddr = 40};
	sx.p.cr3 = cr3;
}

static int sx_read_gpte(void *opaque, gpa_t gpa, void *buf, unsigned int len)
{
	return mmu_read_gpte(&sx.mmu, gpa, buf, len);
}

int sx_load_pdptes(void)
{
	static const struct gwalk_ops ops = {.read_gpa = sx_read_gpte};

	return gwalk_load_pdptes(&ops, NULL, sx.p.cr3, sx.p.mode.maxphyaddr, sx.pdptes);
}

void sx_pae(u64 cr3)
{
	sx.p.mode = (struct gwalk_mode){.pg = true, .wp = true, .pae = true, .nxe = true, .maxphyaddr = 40,
					.pdptes = sx.pdptes};
	sx.p.cr3 = cr3;
	CHECK_EQ(sx_load_pdptes(), 0);
}

void sx_setup(u64 budget)
{
	sx_setup_ram(budget, SX_RAM_PAGES);
}

void sx_setup_ram(u64 budget, u64 ram_pages)
{
	memset(&sx, 0, sizeof(sx));
	/* A test that failed halfway may have left the allocators limited. */
	fake_mem_fail_after(~0ULL);
	fake_kmalloc_fail_after(~0ULL);
	sx.base_frames = fake_mem_frames_in_use();
	mmu_init(&sx.mmu, &pt_format_npt, 3, &sx_ops, &sx, budget);
	CHECK(sx.mmu.shadow.enabled && sx.mmu.engine == &shadow_engine);
	CHECK(ram_pages * PAGE_SIZE >= SX_TABLES_END);
	CHECK_EQ(mmu_add_ram(&sx.mmu, 0, ram_pages, 0), 0);
	sx.next_table = SX_TABLES;
	sx.p.who = &sx.vcpu;
	sx_long_mode(sx_new_table());
}

void sx_teardown(void)
{
	mmu_vcpu_put_roots(&sx.mmu, &sx.vcpu);
	/* What mmu_destroy does first; then every rmap must be empty, before the slots go. */
	write_lock(&sx.mmu.lock);
	__mmu_free_unused_roots(&sx.mmu);
	__mmu_flush_and_free(&sx.mmu);
	write_unlock(&sx.mmu.lock);
	CHECK(!sx.mmu.roots);
	CHECK_EQ(sx.mmu.shadow.nr_pages, 0);
	for (u32 i = 0; i < sx.mmu.slots.n; i++) {
		struct memslot *s = &sx.mmu.slots.slots[i];
		for (gfn_t g = s->base_gfn; s->track && s->track->rmap[0] && g < s->base_gfn + s->npages; g++)
			CHECK_EQ(rmap_get(rmap_head(s, g, 1)), 0);
	}
	mmu_destroy(&sx.mmu);
	CHECK_EQ(sx.mmu.stats.roots_allocated, sx.mmu.stats.roots_freed);
	CHECK_EQ(sx.mmu.shadow.stats.pages_allocated, sx.mmu.shadow.stats.pages_freed);
	CHECK_EQ(fake_mem_frames_in_use(), sx.base_frames);
}

int sx_load(void)
{
	int r = mmu_load_root(&sx.mmu, &sx.vcpu, &sx.p);

	/* As the vCPU does for the guest's MOV to CR3, which flushes: what the new root reaches is synced. */
	if (!r)
		mmu_shadow_sync_current(&sx.mmu, &sx.vcpu);

	sx_check();
	return r;
}

void sx_reload(void)
{
	mmu_vcpu_free_obsolete_roots(&sx.mmu, &sx.vcpu);
	CHECK_EQ(sx_load(), 0);
}

int sx_fault(gva_t gva, u32 pferr, struct mmu_fault *f)
{
	struct mmu_fault tmp;
	int r = mmu_shadow_fault(&sx.mmu, &sx.vcpu, &sx.p, gva, pferr, f ? f : &tmp);

	sx_check();
	return r;
}

u64 sx_read(gpa_t gpa)
{
	u64 v = 0;

	CHECK_EQ(mmu_read_gpa(&sx.mmu, gpa, &v, 8), 0);
	return v;
}

void sx_write(gpa_t gpa, u64 v)
{
	CHECK_EQ(mmu_write_gpa(&sx.mmu, &sx.vcpu, gpa, &v, 8), 0);
}

gpa_t sx_new_table(void)
{
	gpa_t t = sx.next_table;

	CHECK(t < SX_TABLES_END);
	sx.next_table += PAGE_SIZE;
	/* Zeroed through the MMU: the page may be shadowed already (a test that reuses pages). */
	for (unsigned int i = 0; i < PT_ENTRIES; i++) {
		if (sx_read(t + i * 8))
			sx_write(t + i * 8, 0);
	}
	return t;
}

static unsigned int gindex(gva_t gva, int level)
{
	return (gva >> (PAGE_SHIFT + 9 * (level - 1))) & (PT_ENTRIES - 1);
}

/* The depth of the guest's long-mode tables: 5 with CR4.LA57. */
static int top_level(void)
{
	return sx.p.mode.la57 ? 5 : 4;
}

gpa_t sx_gpte_gpa(u64 cr3, gva_t gva, int level)
{
	gpa_t table = cr3 & GENMASK_ULL(51, 12);

	for (int l = top_level(); l > level; l--) {
		u64 e = sx_read(table + gindex(gva, l) * 8);
		CHECK(e & G_P);
		table = e & GENMASK_ULL(51, 12);
	}
	return table + gindex(gva, level) * 8;
}

gpa_t sx_map(u64 cr3, gva_t gva, gpa_t gpa, int leaf, u64 upper, u64 leaf_flags)
{
	gpa_t table = cr3 & GENMASK_ULL(51, 12);

	for (int l = top_level(); l > leaf; l--) {
		gpa_t ea = table + gindex(gva, l) * 8;
		u64 e = sx_read(ea);
		if (!(e & G_P)) {
			e = sx_new_table() | upper;
			sx_write(ea, e);
		}
		table = e & GENMASK_ULL(51, 12);
	}
	gpa_t ea = table + gindex(gva, leaf) * 8;
	sx_write(ea, gpa | leaf_flags | (leaf > 1 ? G_PS : 0));
	return ea;
}

u32 sx_read32(gpa_t gpa)
{
	u32 v = 0;

	CHECK_EQ(mmu_read_gpa(&sx.mmu, gpa, &v, 4), 0);
	return v;
}

void sx_write32(gpa_t gpa, u32 v)
{
	CHECK_EQ(mmu_write_gpa(&sx.mmu, &sx.vcpu, gpa, &v, 4), 0);
}

gpa_t sx_gpte_gpa32(u64 cr3, gva_t gva, int level)
{
	gpa_t table = cr3 & 0xfffff000;

	if (level == 1) {
		u32 pde = sx_read32(table + ((gva >> 22) & 1023) * 4);
		CHECK(pde & G_P);
		return (pde & 0xfffff000) + ((gva >> 12) & 1023) * 4;
	}
	return table + ((gva >> 22) & 1023) * 4;
}

gpa_t sx_map32(u64 cr3, gva_t gva, gpa_t gpa, int leaf, u32 upper, u32 leaf_flags)
{
	gpa_t ea = sx_gpte_gpa32(cr3, gva, 2);

	if (leaf == 2) {
		sx_write32(ea, (u32)gpa | leaf_flags | G_PS);
		return ea;
	}
	if (!(sx_read32(ea) & G_P))
		sx_write32(ea, (u32)sx_new_table() | upper);
	ea = sx_gpte_gpa32(cr3, gva, 1);
	sx_write32(ea, (u32)gpa | leaf_flags);
	return ea;
}

gpa_t sx_gpte_gpa_pae(u64 cr3, gva_t gva, int level)
{
	gpa_t table = (cr3 & 0xffffffe0) + ((gva >> 30) & 3) * 8;

	for (int l = 3; l > level; l--) {
		u64 e = sx_read(table);
		CHECK(e & G_P);
		table = (e & GENMASK_ULL(51, 12)) + ((gva >> (12 + 9 * (l - 2))) & 511) * 8;
	}
	return table;
}

gpa_t sx_map_pae(u64 cr3, gva_t gva, gpa_t gpa, int leaf, u64 upper, u64 leaf_flags)
{
	gpa_t pdpte = sx_gpte_gpa_pae(cr3, gva, 3);

	if (!(sx_read(pdpte) & G_P))
		sx_write(pdpte, sx_new_table() | G_P);
	if (leaf == 1) {
		gpa_t pde = sx_gpte_gpa_pae(cr3, gva, 2);
		if (!(sx_read(pde) & G_P))
			sx_write(pde, sx_new_table() | upper);
	}
	gpa_t ea = sx_gpte_gpa_pae(cr3, gva, leaf);
	sx_write(ea, gpa | leaf_flags | (leaf > 1 ? G_PS : 0));
	return ea;
}

hpa_t sx_hpa(gpa_t gpa)
{
	struct memslot *s = memslot_find(&sx.mmu.slots, gpa >> PAGE_SHIFT);

	CHECK(s);
	return memslot_gfn_to_hpa(s, gpa >> PAGE_SHIFT) + (gpa & (PAGE_SIZE - 1));
}

u64 *sx_spte(const struct mmu_root *root, gva_t gva, int *level)
{
	struct pt_iter it;
	u64 vpn = gva_to_vpn(root->role.level == 3 ? (u32)gva : gva, root->role.level); /* the PAE root: 32-bit addresses */

	for_each_pt_entry(it, shadow_fmt, root->hpa, root->role.level, vpn, vpn + 1)
	{
		if (!spte_is_present(it.old_spte) || spte_is_leaf(it.old_spte, it.level)) {
			*level = it.level;
			return it.sptep;
		}
	}
	CHECK(0);
	return NULL;
}

u64 sx_leaf(gva_t gva)
{
	int level;
	u64 *sptep;

	CHECK(sx.vcpu.current);
	sptep = sx_spte(sx.vcpu.current, gva, &level);
	return level == 1 ? *sptep : 0;
}

void sx_check_leaf(gva_t gva, gpa_t gpa, bool w, bool u, bool x)
{
	u64 s = sx_leaf(gva);

	CHECK(spte_is_present(s));
	CHECK_EQ(spte_pfn(s), sx_hpa(gpa) >> PAGE_SHIFT);
	CHECK(s & PTE_P);
	CHECK_EQ(!!(s & PTE_W), w);
	CHECK_EQ(!!(s & PTE_U), u);
	CHECK_EQ(!(s & PTE_NX), x);
	CHECK(!(s & PTE_PS));
}

void sx_switch(u64 cr3)
{
	sx.p.cr3 = cr3;
	CHECK_EQ(sx_load(), 0);
}

struct mmu_root *sx_root_of(u64 cr3)
{
	for (struct mmu_root *r = sx.mmu.roots; r; r = r->next) {
		if (r->pgd == (cr3 & PT_ADDR_MASK))
			return r;
	}
	return NULL;
}

struct spage *sx_spage_of(gfn_t gfn)
{
	struct spage *sp, *found = NULL;

	for_each_spage_of_gfn(&sx.mmu, sp, gfn)
	{
		CHECK(!found);
		found = sp;
	}
	return found;
}

struct spage *sx_spage_at(const struct mmu_root *root, gva_t gva, int level)
{
	struct pt_iter it;
	u64 vpn = gva_to_vpn(root->role.level == 3 ? (u32)gva : gva, root->role.level);

	for_each_pt_entry(it, shadow_fmt, root->hpa, root->role.level, vpn, vpn + 1)
	{
		if (it.level == level) {
			unsigned int idx;
			return __spage_of_sptep(&sx.mmu, it.sptep, &idx);
		}
		CHECK(spte_is_present(it.old_spte) && !spte_is_leaf(it.old_spte, it.level));
	}
	CHECK(0);
	return NULL;
}

bool sx_unsync_bit(const struct spage *sp, unsigned int idx)
{
	return sp->unsync_child_bitmap[idx / 64] & BIT(idx % 64);
}

SX_NO_COVERAGE unsigned int sx_spages_of(gfn_t gfn)
{
	unsigned int n = 0;
	struct spage *sp;

	for_each_spage_of_gfn(&sx.mmu, sp, gfn) n++;
	return n;
}

SX_NO_COVERAGE unsigned int sx_tracked_spages_of(gfn_t gfn)
{
	unsigned int n = 0;
	struct spage *sp;

	for_each_spage_of_gfn(&sx.mmu, sp, gfn) n += sp->tracked;
	return n;
}

/* Read straight from the slot's arrays (not through memslot_find and track_write_count), as the fuzzer asks this of
 * every gfn after every step. */
SX_NO_COVERAGE u32 sx_track_count(gfn_t gfn)
{
	for (u32 i = 0; i < sx.mmu.slots.n; i++) {
		const struct memslot *s = &sx.mmu.slots.slots[i];

		if (gfn >= s->base_gfn && gfn < s->base_gfn + s->npages)
			return s->track && s->track->write_count ? s->track->write_count[gfn - s->base_gfn] : 0;
	}
	return 0;
}

/* Whether sptep is in the rmap of gfn. */
static SX_NO_COVERAGE bool in_rmap(struct memslot *s, gfn_t gfn, u64 *sptep)
{
	struct rmap_iter it;
	u64 *e;

	for_each_rmap_spte(rmap_head(s, gfn, 1), &it, e)
	{
		if (e == sptep)
			return true;
	}
	return false;
}

static SX_NO_COVERAGE void walk_table(const struct mmu_root *r, hpa_t table, int level, u64 vpn, sx_entry_fn fn,
				      void *arg)
{
	u64 *t = phys_to_virt(table);

	for (unsigned int i = 0; i < PT_ENTRIES; i++) {
		u64 e = __atomic_load_n(&t[i], __ATOMIC_RELAXED);
		u64 v = vpn + i * pt_level_pages(level);

		if (!e)
			continue;
		fn(r, level, v, &t[i], arg);
		if (level > 1 && spte_is_present(e) && !spte_is_leaf(e, level))
			walk_table(r, table_of(e), level - 1, v, fn, arg);
	}
}

void sx_walk(const struct mmu_root *r, sx_entry_fn fn, void *arg)
{
	walk_table(r, r->hpa, r->role.level, 0, fn, arg);
}

struct tree_counts {
	u64 tables, leaves;
};

/* One entry of a root's tree: a table where a shadow page of its level is, or a leaf in the rmap. */
static SX_NO_COVERAGE void check_entry(const struct mmu_root *r, int level, u64 vpn, u64 *sptep, void *arg)
{
	struct tree_counts *n = arg;
	struct mmu *mmu = &sx.mmu;
	u64 e = *sptep;

	if (!spte_is_present(e)) {
		/* MMIO SPTEs, at level 1 only. */
		CHECK(level == 1 && spte_is_mmio(shadow_fmt, e));
		return;
	}
	/* PAE format reserves bits 62:52 (SDM Vol. 3A, tables 4-8 to 4-11) and, in a PDPTE, all but P and the address
	 * (bit 11, our "present", is ignored there). */
	if (r->role.level == 3)
		CHECK(!(e & GENMASK_ULL(62, 52)));
	if (r->role.level == 3 && level == 3)
		CHECK_EQ(e & ~PT_ADDR_MASK, PTE_P | SPTE_MMU_PRESENT);
	if (level > 1) {
		CHECK(!(e & PTE_PS)); /* shadow leaves are 4K */
		struct spage *c = __spage_by_hpa(mmu, table_of(e));
		CHECK(c);
		CHECK_EQ(c->role.level, level - 1);
		CHECK(sx_is_parent(c, sptep)); /* shared pages: one of its parents, whichever root this is */
		CHECK_EQ(c->tracked, !c->role.direct && !c->unsync && !c->root_zapped &&
				       memslot_find(&mmu->slots, c->gfn) != NULL);
		CHECK_EQ(!!c->leaf_gfns, c->role.level == 1);
		/* A PAE-format root's directories: part of it, each for its GiB (a 32-bit guest's: the quadrant). */
		CHECK_EQ(c->root_pd, level == 3 && r->role.level == 3);
		if (c->root_pd && !c->role.direct && r->role.has_4_byte_gpte)
			CHECK(c->gfn == r->pgd >> PAGE_SHIFT && c->role.quadrant == vpn >> 18);
		else if (c->root_pd && !c->role.direct)
			CHECK_EQ(c->gfn, (r->pdptes[vpn >> 18] & GENMASK_ULL(51, 12)) >> PAGE_SHIFT);
		/* Below them, a 32-bit guest's page table is shadowed per 2 MiB half: the quadrant is bit 21. */
		if (!c->root_pd && !c->role.direct)
			CHECK_EQ(c->role.quadrant, r->role.has_4_byte_gpte ? (vpn >> 9) & 1 : 0);
		CHECK_EQ(c->role.has_4_byte_gpte, r->role.has_4_byte_gpte);
		n->tables++;
		return;
	}
	unsigned int idx;
	struct spage *sp = __spage_of_sptep(mmu, sptep, &idx);
	CHECK(sp && sp->leaf_gfns);
	gfn_t gfn = sp->leaf_gfns[idx];
	struct memslot *s = memslot_find(&mmu->slots, gfn);
	CHECK(s);
	CHECK_EQ(spte_pfn(e), memslot_gfn_to_hpa(s, gfn) >> PAGE_SHIFT);
	CHECK(in_rmap(s, gfn, sptep));
	if (e & PTE_W)
		CHECK(!track_is_write_tracked(s, gfn));
	n->leaves++;
}

SX_NO_COVERAGE u32 sx_nr_parents(const struct spage *sp)
{
	return rmap_count(rmap_get(&sp->parents));
}

SX_NO_COVERAGE bool sx_is_parent(const struct spage *sp, u64 *sptep)
{
	struct rmap_iter it;
	u64 *e;

	for_each_rmap_spte(&sp->parents, &it, e)
	{
		if (e == sptep)
			return true;
	}
	return false;
}

/* One hashed shadow page: its parent set (each entry points to it, from a hashed page one level up), that it is the
 * only valid shareable page of its (gfn, role), and its present leaves (returned). */
static SX_NO_COVERAGE u64 check_spage(struct mmu *mmu, struct spage *sp)
{
	struct rmap_iter it;
	u64 *e, leaves = 0;

	CHECK(sp->root ? !sx_nr_parents(sp) : sx_nr_parents(sp) >= 1);
	if (sp->root_pd)
		CHECK_EQ(sx_nr_parents(sp), 1);
	for_each_rmap_spte(&sp->parents, &it, e)
	{
		unsigned int idx;
		struct spage *p = __spage_of_sptep(mmu, e, &idx);

		CHECK(p && p->role.level == sp->role.level + 1);
		CHECK(spte_is_present(*e) && table_of(*e) == sp->hpa);
	}
	if (!sp->root && !sp->root_pd && sp->generation == mmu->generation) {
		for (struct spage *o = sp->gfn_next; o; o = o->gfn_next)
			CHECK(!(o->gfn == sp->gfn && o->role.word == sp->role.word && !o->root && !o->root_pd &&
				o->generation == mmu->generation));
	}
	if (sp->role.level == 1) {
		const u64 *t = phys_to_virt(sp->hpa);

		for (unsigned int i = 0; i < PT_ENTRIES; i++)
			leaves += spte_is_present(t[i]);
	}
	return leaves;
}

/* One root's tree: the tables it reaches and its leaves. */
static SX_NO_COVERAGE void check_tree(struct mmu *mmu, struct mmu_root *root, struct tree_counts *n)
{
	struct spage *rsp = __spage_by_hpa(mmu, root->hpa);
	union mmu_role role = root->role;

	/* A PAE-format root's PDPT shadows no guest table: its shadow page is direct. */
	if (root->role.level == 3)
		role.direct = 1;
	CHECK(rsp && rsp->role.word == role.word && rsp->root && !sx_nr_parents(rsp) && rsp->vpn == 0 && !rsp->root_pd);
	if (!rsp->role.direct)
		CHECK_EQ(rsp->gfn, root->pgd >> PAGE_SHIFT);
	if (root->role.level == 3)
		CHECK(root->hpa + PAGE_SIZE <= (1ULL << 32)); /* a PAE CR3 holds 32 bits */
	if (!shadow_role_has_pdptes(root->role))
		CHECK(!root->pdptes[0] && !root->pdptes[1] && !root->pdptes[2] && !root->pdptes[3]);
	n->tables++;
	sx_walk(root, check_entry, n);
}

SX_NO_COVERAGE void sx_check(void)
{
	struct mmu *mmu = &sx.mmu;
	struct tree_counts n = {0, 0};
	u64 hashed = 0, in_rmaps = 0;

	u64 roots = 0, root_pages = 0, leaves = 0;

	write_lock(&mmu->lock);
	for (struct mmu_root *r = mmu->roots; r; r = r->next) {
		check_tree(mmu, r, &n);
		roots++;
	}
	for (unsigned int i = 0; i < (1u << SHADOW_HASH_BITS); i++) {
		for (struct spage *sp = mmu->shadow.by_hpa[i]; sp; sp = sp->hpa_next) {
			hashed++;
			root_pages += sp->root;
			leaves += check_spage(mmu, sp);
		}
	}
	CHECK_EQ(hashed, mmu->shadow.nr_pages);
	/* Every page is a root's, or has parents, each an entry of a hashed page one level up: by induction over the
	 * levels every shadow page is reachable from a root, and shared by all its parents. */
	CHECK_EQ(root_pages, roots);
	n.leaves = leaves; /* each leaf once, however many roots reach its page */
	for (u32 i = 0; i < mmu->slots.n; i++) {
		struct memslot *s = &mmu->slots.slots[i];
		const u64 *heads = s->track ? s->track->rmap[0] : NULL;

		for (gfn_t g = s->base_gfn; g < s->base_gfn + s->npages; g++) {
			struct rmap_iter it;
			u64 *e;

			if (heads && heads[g - s->base_gfn]) {
				for_each_rmap_spte(rmap_head(s, g, 1), &it, e)
				{
					CHECK(spte_is_present(*e));
					CHECK_EQ(spte_pfn(*e), memslot_gfn_to_hpa(s, g) >> PAGE_SHIFT);
					in_rmaps++;
				}
			}
			if (!sx.other_trackers)
				CHECK_EQ(sx_track_count(g), sx_tracked_spages_of(g));
		}
	}
	CHECK_EQ(in_rmaps, n.leaves); /* the rmaps hold the leaves and nothing else */
	write_unlock(&mmu->lock);
}
