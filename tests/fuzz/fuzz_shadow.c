/* Differential libFuzzer target for the shadow MMU: the input is a sequence of operations on a small guest (4 MiB of
 * RAM, a pool of 24 page-table pages, 4 address spaces; once the input is used up, a generator seeded from it goes
 * on, so that every input runs OPS operations): writes of guest paging entries (plain, compare-exchange,
 * half and misaligned, as the emulator makes them), CR3 switches, faults with random access kinds, NXE/WP/paging
 * toggles, invalidations, faults and root loads out of memory, write tracking by another user (which may refuse
 * writes), and the guest's own writes through writable shadow leaves, as the hardware makes them (also while a leaf
 * is losing W, before the flush). After every step it checks, for every root:
 *  - every shadow table is where the guest's tables are: a shadow page of guest table G under an entry that points
 *    to G, a direct page under a guest huge page covering its frames;
 *  - every present shadow leaf translates as a fresh walk of the guest's tables (the gpa's host frame), with no
 *    more than the guest allows: W only with the guest's W and D, U only with U, execute only with X; where the
 *    guest does not translate, no shadow leaf exists;
 * and through the unit tests' fixture (sx_check) the shadow pages, the rmap and the tracking counts.
 * (run.sh links what every fuzz-srcs line names: the MMU layer as tests/unit/mmu_srcs.mk has it, and the fixture)
 * fuzz-srcs: mm/pt.c mm/pt_iter.c mm/spte_change.c mm/root.c mm/mmu.c mm/mmu_track.c mm/mmu_access.c
 * fuzz-srcs: mm/ept/tdp_fault.c mm/ept/tdp_huge.c mm/ept/tdp_zap.c mm/ept/tdp_mmu.c mm/track/level.c mm/track/write.c
 * fuzz-srcs: mm/shadow/rmap.c mm/memslot.c mm/grace.c mm/shadow/gwalk.c mm/shadow/spage.c mm/shadow/sfault.c
 * fuzz-srcs: mm/shadow/swrite.c mm/shadow/unsync.c tests/unit/fake_platform.c tests/unit/shadow_fixture.c
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests/unit/shadow_fixture.h"

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

#define RAM_PAGES (2 * MEMSLOT_CHUNK_PAGES)
#define NPOOL	  24 /* guest page-table pages: gpa SX_TABLES + i * 4K; the first NAS are the PML4s */
#define NAS	  4
#define OPS	  64

static struct {
	const u8 *in;
	size_t n, pos;
	u64 rng;
	bool gbpages, deny;
	bool pressure; /* allocations may fail (op_pressure) */
	u8 maxphy;
	u16 ext[RAM_PAGES]; /* the other tracking user's references */
	gva_t hist[8];	    /* gvas mapped lately: most operations go back to one, so that paths are built and used */
	unsigned int nhist;
	struct track_notifier deny_notifier;
} fz;

/* The input's next byte, then the generator's (xorshift64*). */
static u8 byte(void)
{
	if (fz.pos < fz.n)
		return fz.in[fz.pos++];
	fz.rng ^= fz.rng >> 12;
	fz.rng ^= fz.rng << 25;
	fz.rng ^= fz.rng >> 27;
	return (u8)((fz.rng * 0x2545f4914f6cdd1dULL) >> 56);
}

static u64 bytes(unsigned int k)
{
	u64 v = 0;

	for (unsigned int i = 0; i < k; i++)
		v |= (u64)byte() << (8 * i);
	return v;
}

static gpa_t pool(unsigned int i)
{
	return SX_TABLES + (gpa_t)(i % NPOOL) * PAGE_SIZE;
}

/* The other tracking user refuses writes to the gfns it tracks, in deny mode (a protect= range). */
static enum track_verdict deny_pre_write(struct track_notifier *n, void *who, gpa_t gpa, const void *b,
					 unsigned int len)
{
	gfn_t g = gpa >> PAGE_SHIFT;

	return fz.deny && g < RAM_PAGES && fz.ext[g] ? TRACK_WRITE_DENY : TRACK_WRITE_ALLOW;
}

/* ---- the differential check ---- */

static int ro_read(void *opaque, gpa_t gpa, void *buf, unsigned int len)
{
	return mmu_read_gpa(&sx.mmu, gpa, buf, len);
}

static const struct gwalk_ops ro_ops = {.read_gpa = ro_read}; /* no A/D updates */

static SX_NO_COVERAGE void root_mode(const struct mmu_root *r, struct gwalk_mode *m)
{
	*m = (struct gwalk_mode){.pg = !r->role.direct,
				 .pae = true,
				 .lma = !r->role.direct,
				 .wp = true,
				 .nxe = r->role.efer_nx,
				 .gbpages = fz.gbpages,
				 .maxphyaddr = fz.maxphy};
}

static SX_NO_COVERAGE gva_t vpn_gva(const struct mmu_root *r, u64 vpn)
{
	u64 va = vpn << PAGE_SHIFT;

	return r->role.level == 4 ? (u64)((s64)(va << 16) >> 16) : va;
}

/* The guest's entries on gva's path from the top down to `level` (no reserved-bit checks: gwalk does those). False
 * if a table on the way is not RAM. */
static SX_NO_COVERAGE bool guest_entries(u64 cr3, gva_t gva, int level, u64 e[5])
{
	gpa_t table = cr3 & GENMASK_ULL(51, 12);

	for (int l = 4; l >= level; l--) {
		if (mmu_read_gpa(&sx.mmu, table + ((gva >> (12 + 9 * (l - 1))) & 511) * 8, &e[l], 8))
			return false;
		table = e[l] & GENMASK_ULL(51, 12);
	}
	return true;
}

/* The shadow table c, at level L below the entry for vpn at L + 1, is where the guest's tables are. */
static SX_NO_COVERAGE void check_table(const struct mmu_root *r, const struct gwalk_mode *m, u64 vpn,
				       const struct spage *c)
{
	int L = c->role.level;
	gva_t gva = vpn_gva(r, vpn);
	struct gwalk_result res;
	u64 e[5] = {0};
	int rc;

	if (r->role.direct) {
		CHECK(c->role.direct);
		CHECK_EQ(c->gfn, vpn & ~(pt_level_pages(L + 1) - 1)); /* gpa == gva */
		return;
	}
	rc = gwalk(m, r->pgd, gva, 0, &ro_ops, NULL, &res);
	if (!c->role.direct) {
		CHECK(guest_entries(r->pgd, gva, L + 1, e));
		for (int l = 4; l > L + 1; l--)
			CHECK((e[l] & G_P) && !(e[l] & G_PS));
		CHECK((e[L + 1] & G_P) && !(L + 1 < 4 && (e[L + 1] & G_PS)));
		CHECK_EQ(c->gfn, (e[L + 1] & GENMASK_ULL(51, 12)) >> PAGE_SHIFT);
		/* Nothing reserved at or above L + 1: the walk, if it stopped, stopped below (or failed reading below).
		 */
		CHECK(rc == -EFAULT || (rc == 0 && (res.fault == GWALK_FAULT_NONE || res.fault_level <= L)));
		if (rc == 0 && res.fault == GWALK_FAULT_NONE)
			CHECK(res.level <= L);
		return;
	}
	/* Direct: below a guest leaf above L, over the frames that leaf maps. */
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
		CHECK(r->role.direct || (res.pte[res.level] & G_D) || (fz.deny && fz.ext[pte_gfn]));
	}
	if (s & PTE_U)
		CHECK(res.perm & GWALK_PERM_U);
	if (!(s & PTE_NX))
		CHECK(res.perm & GWALK_PERM_X);
}

static SX_NO_COVERAGE void check_entry(const struct mmu_root *r, int level, u64 vpn, u64 *sptep, void *arg)
{
	const struct gwalk_mode *m = arg;
	u64 s = *sptep;

	if (!spte_is_present(s))
		return; /* MMIO: only ever an exit */
	if (level == 1) {
		check_leaf(r, m, vpn, s);
		return;
	}
	struct spage *c = __spage_by_hpa(&sx.mmu, spte_pfn(s) << PAGE_SHIFT);
	CHECK(c);
	check_table(r, m, vpn, c);
}

static SX_NO_COVERAGE void check_all(void)
{
	sx_check();
	for (struct mmu_root *r = sx.mmu.roots; r; r = r->next) {
		struct gwalk_mode m;

		root_mode(r, &m);
		sx_walk(r, check_entry, &m);
	}
	/* The budget is soft for roots only (one page, five for a PAE root): past it, what a load adds beyond the
	 * roots the vCPU holds (current and 3 cached) is at most the one root it just pushed out of its cache. */
	CHECK(sx.mmu.shadow.nr_pages <= sx.mmu.shadow.max_pages + 5 * (1 + MMU_CACHED_ROOTS + 1));
	/* The tracking counts: the shadow pages of each gfn plus the other user's references. */
	for (gfn_t g = 0; g < RAM_PAGES; g++)
		CHECK_EQ(sx_track_count(g), sx_spages_of(g) + fz.ext[g]);
}

/* ---- the operations ---- */

/* Table indices the gvas and the entry writes share, so that paths meet. */
static const u16 idx[8] = {0, 1, 2, 3, 255, 256, 510, 511};

/* A new gva from the small set of indices per level; canonical. With paging off, mostly in RAM. */
static gva_t new_gva(void)
{
	u8 a = byte(), b = byte();
	u64 va = ((u64)idx[a & 7] << 39) | ((u64)idx[(a >> 3) & 7] << 30) | ((u64)idx[b & 7] << 21) |
		 ((u64)idx[(b >> 3) & 7] << 12) | ((u64)(b >> 6) << 10);

	if (!sx.p.mode.pg && (a & 1))
		return (u64)(b & 1) << 21 | (u64)(a >> 1) << 12;
	if (!sx.p.mode.pg)
		return (u64)(a >> 1 & 3) << 30 | (u64)(b & 63) << 24 | (u64)(a >> 3) << 12;
	return (u64)((s64)(va << 16) >> 16);
}

/* Mostly a gva mapped lately (or its neighbour), else a new one. */
static gva_t make_gva(void)
{
	u8 k = byte();

	if ((k & 7) && fz.nhist) {
		gva_t gva = fz.hist[(k >> 3) % MIN(fz.nhist, 8u)];
		/* The next page, unless that leaves the canonical half (the CPU raises #GP there, never #PF). */
		return gwalk_is_canonical(gva + PAGE_SIZE) && (k & 0xc0) == 0xc0 ? gva + PAGE_SIZE : gva;
	}
	return new_gva();
}

/* A guest paging entry: some flags, an address among the tables, RAM, huge-page frames or outside RAM. */
static u64 make_entry(void)
{
	static const u64 flagbits[8] = {G_RW, G_US, G_A, G_D, G_PS, G_NX, BIT(3) | BIT(4), BIT(8)};
	u8 f = byte(), k = byte(), x = byte();
	u64 e = (k & 0xc0) == 0xc0 ? 0 : G_P, addr;

	for (int i = 0; i < 8; i++)
		e |= (f & (1u << i)) ? flagbits[i] : 0;
	switch (k & 7) {
	case 0:
	case 1:
	case 2:
		addr = pool(x);
		break;
	case 3:
		addr = (gpa_t)(x % 2) << 21; /* a 2M frame in RAM */
		break;
	case 4:
		addr = 0; /* the 1G frame holding RAM */
		break;
	case 5:
		addr = SX_MMIO + ((gpa_t)x << 21);
		break;
	default:
		addr = (gpa_t)(((u64)x << 3 | (k >> 3 & 7)) % RAM_PAGES) << PAGE_SHIFT;
		break;
	}
	e |= addr;
	if ((k & 0x78) == 0x78)
		e |= BIT(40 + (x & 15)); /* maybe reserved, depending on MAXPHYADDR */
	return e;
}

static void guest_write(gpa_t gpa, const void *b, unsigned int len)
{
	int r = mmu_write_gpa(&sx.mmu, &sx.vcpu, gpa, b, len);

	CHECK(r == 0 || (r == -EPERM && fz.deny));
}

static unsigned int gindex(gva_t gva, int level)
{
	return (gva >> (PAGE_SHIFT + 9 * (level - 1))) & 511;
}

/* The address space an operation works on: the current one, or with paging off one of the NAS. */
static u64 target_cr3(u8 k)
{
	return sx.p.mode.pg ? sx.p.cr3 : pool(k & (NAS - 1));
}

/* The gpa of the guest entry at `level` on gva's path under cr3, or of the entry above where the path ends (not
 * present, a leaf, or a table outside RAM). */
static gpa_t path_entry(u64 cr3, gva_t gva, int level)
{
	gpa_t table = cr3 & GENMASK_ULL(51, 12);

	for (int l = 4;; l--) {
		gpa_t ea = table + gindex(gva, l) * 8;
		u64 e = sx_read(ea);

		table = e & GENMASK_ULL(51, 12);
		if (l == level || !(e & G_P) || (l < 4 && (e & G_PS)) || table >= (gpa_t)RAM_PAGES << PAGE_SHIFT)
			return ea;
	}
}

/* An entry to write: one on the path of a gva (any level), or anywhere in a pool page. */
static gpa_t pick_entry(void)
{
	u8 k = byte();

	if (k & 1)
		return path_entry(target_cr3(k >> 1), make_gva(), (k & 0x18) ? 1 + (k >> 5) % 4 : 1);
	return pool(byte()) + (u64)((k & 6) == 6 ? byte() * 2u % 512 : idx[k >> 3 & 7]) * 8;
}

static void op_write_entry(void)
{
	u8 how = byte();
	gpa_t ea = pick_entry();
	u64 v = make_entry(), old = sx_read(ea);
	u32 half;

	switch (how & 3) {
	case 0:
		guest_write(ea, &v, 8);
		break;
	case 1: { /* the emulator's locked CMPXCHG, old value right or wrong */
		int r = mmu_cmpxchg_gpa(&sx.mmu, &sx.vcpu, ea, (how & 0x80) ? v : old, v, 8, NULL);
		CHECK(r == 0 || r == -EAGAIN || (r == -EPERM && fz.deny));
		break;
	}
	case 2:
		half = (how & 0x80) ? (u32)(v >> 32) : (u32)v;
		guest_write(ea + ((how & 0x80) ? 4 : 0), &half, 4);
		break;
	default:
		if ((ea & (PAGE_SIZE - 1)) + 12 <= PAGE_SIZE)
			guest_write(ea + 4, &v, 8); /* across two entries */
		break;
	}
}

/* A whole path for a gva: the missing tables from the pool, then a leaf (4K, 2M or 1G) with random rights. */
static void op_map(void)
{
	u8 k = byte(), f = byte();
	gva_t gva = (k & 0x20) ? make_gva() : new_gva();
	int leaf = 1 + (k & 3) % (fz.gbpages ? 3 : 2);
	u64 nx = sx.p.mode.nxe ? G_NX : 0; /* reserved without NXE */

	fz.hist[fz.nhist++ % 8] = gva;
	gpa_t table = target_cr3(k >> 2) & GENMASK_ULL(51, 12);

	for (int l = 4; l > leaf; l--) {
		gpa_t ea = table + gindex(gva, l) * 8;
		u64 e = sx_read(ea);

		/* Anything but a plain pointer to a table in RAM is replaced. */
		if (!(e & G_P) || (e & ~(GENMASK_ULL(51, 12) | G_ALL | G_A | G_D | nx)) ||
		    (e & GENMASK_ULL(51, 12)) >= (gpa_t)RAM_PAGES << PAGE_SHIFT) {
			e = pool(byte()) | G_ALL | ((k & 0x40) ? G_A : 0) | ((k & 0x80) && l == 2 ? nx : 0);
			guest_write(ea, &e, 8);
		}
		table = e & GENMASK_ULL(51, 12);
	}
	u64 v = G_P | ((f & 3) ? G_RW : 0) | ((f & 12) ? G_US : 0) | ((f & 16) ? G_A : 0) | ((f & 32) ? G_D : 0) |
		((f & 0xc0) == 0xc0 ? nx : 0) | (leaf > 1 ? G_PS : 0);
	u8 a = byte();
	if ((a & 0xf) == 0xf)
		v |= SX_MMIO;
	else if (leaf == 2)
		v |= (gpa_t)(a >> 4 & 1) << 21;
	else if (leaf == 1)
		v |= (a & 0xf) >= 0xc ? pool(a >> 4) : (gpa_t)((a >> 4 | (u64)byte() << 4) % RAM_PAGES) << PAGE_SHIFT;
	guest_write(table + gindex(gva, leaf) * 8, &v, 8);
}

static void reload(void)
{
	mmu_vcpu_free_obsolete_roots(&sx.mmu, &sx.vcpu);
	int r = sx_load();
	CHECK(r == 0 || (fz.pressure && r == -ENOMEM));
}

static void op_fault(void)
{
	static const u32 kinds[8] = {0,
				     PFERR_WRITE,
				     PFERR_USER,
				     PFERR_WRITE | PFERR_USER,
				     PFERR_FETCH,
				     PFERR_FETCH | PFERR_USER,
				     PFERR_PRESENT,
				     PFERR_PRESENT | PFERR_WRITE};
	u8 k = byte();
	gva_t gva = make_gva() | (k >> 4);
	struct mmu_fault f;
	u64 pages = sx.mmu.shadow.nr_pages;
	int r = sx_fault(gva, kinds[k & 7], &f);

	switch (r) {
	case MMU_FAULT_FIXED:
	case MMU_FAULT_SPURIOUS:
		break;
	case MMU_FAULT_RETRY:
		reload();
		break;
	case MMU_FAULT_GUEST_PF:
		CHECK_EQ(sx.mmu.shadow.nr_pages, pages);
		CHECK(!(f.guest_error_code & ~(PFERR_PRESENT | PFERR_WRITE | PFERR_USER | PFERR_RSVD | PFERR_FETCH)));
		break;
	case MMU_FAULT_MMIO:
		CHECK(!f.slot);
		break;
	case MMU_FAULT_WRITE_PROTECTED: {
		/* Emulate the write, as the VM does: its bytes reach the trackers. */
		u64 v = (k & 8) ? make_entry() : sx_read(f.gpa & ~7ULL);
		CHECK(f.slot);
		guest_write(f.gpa & ~7ULL, &v, 8);
		break;
	}
	default:
		if (fz.pressure && r == -ENOMEM)
			break;	      /* what was built before it stays, consistent */
		CHECK_EQ(r, -EFAULT); /* a guest table outside RAM: the walk cannot be made */
		CHECK_EQ(sx.mmu.shadow.nr_pages, pages);
		break;
	}
}

/* Out of frames or heap for one fault or root load: -ENOMEM at any point, and everything consistent after it. */
static void op_pressure(void)
{
	u8 k = byte();

	fz.pressure = true;
	if (k & 1)
		fake_mem_fail_after(k >> 1 & 7);
	else
		fake_kmalloc_fail_after(k >> 1 & 7);
	if (k & 0x10) {
		sx.p.cr3 = pool(k >> 5 & (NAS - 1));
		int r = sx_load();
		CHECK(r == 0 || r == -ENOMEM);
	} else {
		op_fault();
	}
	fake_mem_fail_after(~0ULL);
	fake_kmalloc_fail_after(~0ULL);
	fz.pressure = false;
}

/* The guest writes through a writable shadow leaf of its current root, as the hardware does: no notifier sees it,
 * and the hardware sets the leaf's D. */
static void op_hw_write(void)
{
	gva_t gva = make_gva();
	u64 v = make_entry();
	u64 s = sx_leaf(gva);

	if (!spte_is_present(s) || !(s & PTE_W))
		return;
	*(u64 *)phys_to_virt((spte_pfn(s) << PAGE_SHIFT) + idx[byte() & 7] * 8) = v;
	int level;
	__atomic_fetch_or(sx_spte(sx.vcpu.current, gva, &level), PTE_A | PTE_D, __ATOMIC_RELAXED);
}

/* Another vCPU's store in flight while a leaf loses W (its page becomes a guest table the MMU shadows): its TLB keeps
 * allowing it until the flush. */
static void store_in_flight(gfn_t vpn, u64 old, u64 new, int level)
{
	if (level != 1 || !spte_is_present(old) || !(old & PTE_W) || (new &PTE_W) || (byte() & 1))
		return;
	u64 v = make_entry();
	*(u64 *)phys_to_virt((spte_pfn(old) << PAGE_SHIFT) + idx[byte() & 7] * 8) = v;
}

static void op_track(void)
{
	gfn_t g = (byte() & 1) ? pool(byte()) >> PAGE_SHIFT : (gfn_t)bytes(2) % RAM_PAGES;

	if (!fz.ext[g] || (!fz.deny && (g & 1))) {
		CHECK_EQ(mmu_track_add_gfn(&sx.mmu, g), 0);
		fz.ext[g]++;
	} else if (!fz.deny) {
		CHECK_EQ(mmu_track_remove_gfn(&sx.mmu, g), 0);
		fz.ext[g]--;
	}
}

static void op_mode(void)
{
	u8 k = byte();

	switch (k & 7) {
	case 0:
		sx.p.mode.nxe = !sx.p.mode.nxe;
		break;
	case 1:
		sx.p.mode.wp = !sx.p.mode.wp;
		break;
	case 2:
		sx.p.mode.pg = sx.p.mode.lma = !sx.p.mode.pg;
		break;
	default:
		sx.p.cr3 = pool(k >> 3 & (NAS - 1)) | (k >> 2 & 0x18); /* with PWT/PCD, not part of the key */
		break;
	}
	CHECK_EQ(sx_load(), 0);
}

static void op_invalidate(void)
{
	u8 k = byte();

	if (k & 1)
		mmu_invalidate_all_roots(&sx.mmu);
	else
		mmu_zap_gfn_range(&sx.mmu, k, k + 1);
	if (k & 2)
		reload();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const u64 budgets[8] = {6, 8, 10, 12, 16, 24, 64, 1024};
	static const u8 maxphys[4] = {36, 40, 46, 52};

	if (size < 1)
		return 0;
	memset(&fz, 0, sizeof(fz));
	fz.in = data;
	fz.n = size;
	fz.rng = 0x9e3779b97f4a7c15ULL;
	for (size_t i = 0; i < size; i++)
		fz.rng = (fz.rng ^ data[i]) * 0x100000001b3ULL;
	u8 h = byte();
	sx_setup_ram(budgets[h & 7], RAM_PAGES);
	fz.gbpages = h & 8;
	fz.deny = (h & 0x18) == 0x18;
	fz.maxphy = maxphys[h >> 5 & 3];
	CHECK_EQ(sx.p.cr3, pool(0)); /* fresh RAM reads as zero: the pool needs no clearing */
	sx.other_trackers = true;
	if (h & 0x80)
		sx.hook = store_in_flight;
	fz.deny_notifier.pre_write = deny_pre_write;
	mmu_track_register_notifier(&sx.mmu, &fz.deny_notifier);
	sx.p.mode.gbpages = fz.gbpages;
	sx.p.mode.maxphyaddr = fz.maxphy;
	CHECK_EQ(sx_load(), 0);

	for (int ops = 0; ops < OPS; ops++) {
		u8 op = byte();

		switch (op % 16) {
		case 0:
		case 1:
		case 2:
			op_write_entry();
			break;
		case 3:
		case 4:
		case 5:
			op_map();
			break;
		case 6:
		case 7:
		case 8:
		case 9:
		case 10:
			op_fault();
			break;
		case 11:
			op_hw_write();
			break;
		case 12:
			op_mode();
			break;
		case 13:
			op_track();
			break;
		case 14:
			if (byte() & 1)
				op_invalidate();
			else
				op_pressure();
			break;
		default: { /* flooding: three writes of one entry */
			gpa_t ea = pick_entry();
			u64 v = make_entry();
			for (int i = 0; i < 3; i++)
				guest_write(ea, &v, 8);
			break;
		}
		}
		/* The vCPU enters only on the root of its paging state (a load that failed is made again). */
		union mmu_role role;
		u64 pgd;
		CHECK_EQ(shadow_root_key(&sx.p, &pgd, &role), 0);
		if (!sx.vcpu.current || sx.vcpu.current->pgd != pgd || sx.vcpu.current->role.word != role.word)
			reload();
		check_all();
	}
	for (gfn_t g = 0; g < RAM_PAGES; g++) {
		for (; fz.ext[g]; fz.ext[g]--)
			CHECK_EQ(mmu_track_remove_gfn(&sx.mmu, g), 0);
	}
	sx_teardown();
	return 0;
}
