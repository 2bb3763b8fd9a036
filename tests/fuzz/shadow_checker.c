/* The differential checker of the shadow MMU fuzzer: see shadow_checker.h. */
#include <stdarg.h>
#include <stdio.h>

#include "tests/fuzz/shadow_checker.h"

struct check_world ck;

/* The sinks the unit-test harness provides elsewhere: here every failed check and every BUG is a crash. */
void test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	__builtin_trap();
}

void bug_report(const char *file, int line, const char *expr)
{
	fprintf(stderr, "BUG at %s:%d: %s\n", file, line, expr);
	__builtin_trap();
}

void warn_report(const char *file, int line, const char *expr)
{
	fprintf(stderr, "WARNING at %s:%d: %s\n", file, line, expr);
	__builtin_trap();
}

void log_printf(int level, const char *fmt, ...) {}

/* The other tracking user refuses writes to the gfns it tracks, in deny mode (a protect= range). */
static SX_NO_COVERAGE enum track_verdict deny_pre_write(struct track_notifier *n, void *who, gpa_t gpa, const void *b,
							unsigned int len)
{
	gfn_t g = gpa >> PAGE_SHIFT;

	return ck.deny && g < RAM_PAGES && ck.ext[g] ? TRACK_WRITE_DENY : TRACK_WRITE_ALLOW;
}

static struct track_notifier other_user = {.pre_write = deny_pre_write};

void register_other_user(void)
{
	mmu_track_register_notifier(&sx.mmu, &other_user);
}

static int ro_read(void *opaque, gpa_t gpa, void *buf, unsigned int len)
{
	return mmu_read_gpa(&sx.mmu, gpa, buf, len);
}

static const struct gwalk_ops ro_ops = {.read_gpa = ro_read}; /* no A/D updates */

static SX_NO_COVERAGE enum fmt root_fmt(const struct mmu_root *r)
{
	return r->role.level == 4 ? FMT_4L : r->role.has_4_byte_gpte ? FMT_32 : FMT_PAE;
}

static SX_NO_COVERAGE void root_mode(const struct mmu_root *r, struct gwalk_mode *m)
{
	enum fmt f = root_fmt(r);

	*m = (struct gwalk_mode){.pg = !r->role.direct,
				 .pae = f != FMT_32,
				 .pse = r->role.cr4_pse,
				 .lma = !r->role.direct && f == FMT_4L,
				 .wp = true,
				 .nxe = r->role.efer_nx,
				 .gbpages = ck.gbpages,
				 .maxphyaddr = ck.maxphy,
				 .pdptes = shadow_role_has_pdptes(r->role) ? r->pdptes : NULL};
}

/* The guest's entries on gva's path from the top down to `level` (no reserved-bit checks: gwalk does those), the
 * PDPTEs of a PAE root as it was built. False if a table on the way is not RAM. */
static SX_NO_COVERAGE bool guest_entries(const struct mmu_root *r, gva_t gva, int level, u64 e[5])
{
	enum fmt f = root_fmt(r);
	gpa_t table = table_base(f, r->pgd);

	for (int l = top_level(f); l >= level; l--) {
		if (f == FMT_PAE && l == 3)
			e[l] = r->pdptes[gindex(f, gva, l)];
		else if (mmu_read_gpa(&sx.mmu, table + gindex(f, gva, l) * esize(f), &e[l], esize(f)))
			return false;
		table = entry_addr(f, e[l]);
	}
	return true;
}

/* The shadow table c, at level L below the entry for vpn at L + 1, is where the guest's tables are. */
static SX_NO_COVERAGE void check_table(const struct mmu_root *r, const struct gwalk_mode *m, u64 vpn,
				       const struct spage *c)
{
	int L = c->role.level;
	gva_t gva = vpn_gva(r, vpn);
	enum fmt f = root_fmt(r);
	struct gwalk_result res;
	u64 e[5] = {0};
	int rc;

	if (r->role.direct) {
		CHECK(c->role.direct);
		CHECK_EQ(c->gfn, vpn & ~(pt_level_pages(L + 1) - 1)); /* gpa == gva */
		return;
	}
	if (c->root_pd)
		return; /* made with the root from its key: sx_check checks them */
	rc = gwalk(m, r->pgd, gva, 0, &ro_ops, NULL, &res);
	if (!c->role.direct) {
		CHECK(guest_entries(r, gva, L + 1, e));
		for (int l = top_level(f); l >= L + 1; l--)
			CHECK((e[l] & G_P) && !(ps_counts(f, l, m->pse) && (e[l] & G_PS)));
		CHECK_EQ(c->gfn, entry_addr(f, e[L + 1]) >> PAGE_SHIFT);
		/* Nothing reserved at or above L + 1: the walk, if it stopped, stopped below (or failed reading below).
		 */
		CHECK(rc == -EFAULT || (rc == 0 && (res.fault == GWALK_FAULT_NONE || res.fault_level <= L)));
		if (rc == 0 && res.fault == GWALK_FAULT_NONE)
			CHECK(res.level <= L);
		return;
	}
	/* Direct: below a guest leaf above L, over the frames that leaf maps (2 MiB of a 32-bit guest's 4 MiB). */
	CHECK_EQ(rc, 0);
	CHECK_EQ(res.fault, GWALK_FAULT_NONE);
	CHECK(res.level > L);
	CHECK_EQ(c->gfn, (res.gpa >> PAGE_SHIFT) & ~(pt_level_pages(L + 1) - 1));
}

/* A present shadow leaf at vpn translates as the guest does, with no more than it allows. */
static SX_NO_COVERAGE void check_leaf(const struct mmu_root *r, const struct gwalk_mode *m, u64 vpn, u64 s)
{
	gva_t gva = vpn_gva(r, vpn);
	struct gwalk_result res;

	CHECK_EQ(gwalk(m, r->pgd, gva, 0, &ro_ops, NULL, &res), 0);
	CHECK_EQ(res.fault, GWALK_FAULT_NONE);
	gfn_t gfn = res.gpa >> PAGE_SHIFT;
	CHECK(gfn < RAM_PAGES);
	CHECK_EQ(spte_pfn(s), sx_hpa(gfn << PAGE_SHIFT) >> PAGE_SHIFT);
	if (s & PTE_W) {
		CHECK(res.perm & GWALK_PERM_W);
		/* D set, unless the other user refused the walk's update of the guest entry (the walk went on as if).
		 */
		gfn_t pte_gfn = res.pte_gpa[res.level] >> PAGE_SHIFT;
		CHECK(r->role.direct || (res.pte[res.level] & G_D) || (ck.deny && ck.ext[pte_gfn]));
	}
	if (s & PTE_U)
		CHECK(res.perm & GWALK_PERM_U);
	if (!(s & PTE_NX))
		CHECK(res.perm & GWALK_PERM_X);
	/* The guest leaf's protection key where the hardware walks 4-level tables (PAE format reserves the bits). */
	CHECK_EQ(s & SPTE_PKEY_MASK, root_fmt(r) == FMT_4L ? res.pte[res.level] & SPTE_PKEY_MASK : 0);
}

static SX_NO_COVERAGE void check_entry(const struct mmu_root *r, int level, u64 vpn, u64 *sptep, void *arg)
{
	const struct gwalk_mode *m = arg;
	u64 s = *sptep;
	unsigned int idx;

	if (!spte_is_present(s))
		return; /* MMIO: only ever an exit */
	if (level == 1) {
		if (!__spage_of_sptep(&sx.mmu, sptep, &idx)->unsync)
			check_leaf(r, m, vpn, s);
		return;
	}
	struct spage *c = __spage_by_hpa(&sx.mmu, spte_pfn(s) << PAGE_SHIFT);
	CHECK(c);
	check_table(r, m, vpn, c);
}

/* What lets a flushing CR3 load and INVLPG find every unsync page its root reaches by the bits alone: each parent
 * entry of an unsync page, and of a page with bits set, has its bit set in its parent, and each page's count is the
 * number of its bits (unsync.c). Bits may be stale; a missing one would hide an unsync page from some root. */
static SX_NO_COVERAGE void check_unsync_marks(struct spage *sp)
{
	struct rmap_iter it;
	unsigned int n = 0;
	u64 *e;

	for (unsigned int w = 0; w < PT_ENTRIES / 64; w++)
		n += (unsigned int)__builtin_popcountll(sp->unsync_child_bitmap[w]);
	CHECK_EQ(n, sp->unsync_children);
	CHECK(!sp->unsync_children || sp->role.level > 1);
	if (!sp->unsync && !sp->unsync_children)
		return;
	for_each_rmap_spte(&sp->parents, &it, e)
	{
		unsigned int idx;
		struct spage *p = __spage_of_sptep(&sx.mmu, e, &idx);

		CHECK(p && sx_unsync_bit(p, idx));
	}
}

SX_NO_COVERAGE void check_all(void)
{
	sx_check();
	for (struct mmu_root *r = sx.mmu.roots; r; r = r->next) {
		struct gwalk_mode m;

		root_mode(r, &m);
		sx_walk(r, check_entry, &m);
	}
	/* The budget is soft for roots only (one page, five for a PAE-format root): past it, what a load adds beyond
	 * the roots the vCPU holds (current and 3 cached) is at most the one root it just pushed out of its cache. */
	CHECK(sx.mmu.shadow.nr_pages <= sx.mmu.shadow.max_pages + 5 * (1 + MMU_CACHED_ROOTS + 1));
	for (unsigned int i = 0; i < (1u << SHADOW_HASH_BITS); i++) {
		for (struct spage *sp = sx.mmu.shadow.by_hpa[i]; sp; sp = sp->hpa_next)
			check_unsync_marks(sp);
	}
	/* The tracking counts: the shadow pages of each gfn that are not unsync plus the other user's references. */
	for (gfn_t g = 0; g < RAM_PAGES; g++)
		CHECK_EQ(sx_track_count(g), sx_tracked_spages_of(g) + ck.ext[g]);
}

static SX_NO_COVERAGE void check_no_unsync(const struct mmu_root *r, int level, u64 vpn, u64 *sptep, void *arg)
{
	if (level > 1 && spte_is_present(*sptep))
		CHECK(!__spage_by_hpa(&sx.mmu, spte_pfn(*sptep) << PAGE_SHIFT)->unsync);
}

SX_NO_COVERAGE void check_root_synced(void)
{
	CHECK(sx.vcpu.current);
	sx_walk(sx.vcpu.current, check_no_unsync, NULL);
}

SX_NO_COVERAGE void check_invlpg(gva_t gva)
{
	struct mmu_root *r = sx.vcpu.current;
	struct gwalk_mode m;
	int level;
	u64 *sptep;

	if (!r || mmu_root_is_obsolete(&sx.mmu, r))
		return; /* INVLPG skips it: the vCPU enters on no obsolete root */
	sptep = sx_spte(r, gva, &level);
	if (level != 1 || !spte_is_present(*sptep))
		return;
	root_mode(r, &m);
	check_leaf(r, &m, gva_to_vpn(r->role.level == 3 ? (u32)gva : gva, r->role.level), *sptep);
}

struct unsync_leaves {
	gva_t *gva;
	u64 **sptep;
	unsigned int n, max;
};

static SX_NO_COVERAGE void collect_unsync_leaf(const struct mmu_root *r, int level, u64 vpn, u64 *sptep, void *arg)
{
	struct unsync_leaves *u = arg;
	unsigned int idx;

	if (level == 1 && *sptep && u->n < u->max && __spage_of_sptep(&sx.mmu, sptep, &idx)->unsync) {
		u->gva[u->n] = vpn_gva(r, vpn);
		u->sptep[u->n++] = sptep;
	}
}

SX_NO_COVERAGE unsigned int unsync_leaves(gva_t *gva, u64 **sptep, unsigned int max)
{
	struct unsync_leaves u = {.gva = gva, .sptep = sptep, .n = 0, .max = max};

	if (sx.mmu.shadow.unsync && sx.vcpu.current)
		sx_walk(sx.vcpu.current, collect_unsync_leaf, &u);
	return u.n;
}
