/* Differential libFuzzer target for the shadow MMU: the input is a sequence of operations on a small guest (4 MiB of
 * RAM, a pool of 24 page-table pages, 4 address spaces; once the input is used up, a generator seeded from it goes
 * on, so that every input runs OPS operations) in each guest paging format: 4-level, PAE (the PDPTEs loaded at each
 * CR3 load and paging change, a load with reserved bits refused as the CPU's #GP), 32-bit (4-byte entries, 4 MiB
 * pages with PSE-36 bits, CR4.PSE toggled), and paging off. Operations: writes of guest paging entries (plain,
 * compare-exchange, halves, both halves of a PAE entry, single bytes and misaligned, as the emulator makes them),
 * CR3 switches, faults with random access kinds, NXE/WP/PSE/paging/format changes, invalidations, syncs of unsync
 * tables (when the input lets leaf tables go unsync), INVLPG (with CR4.PCIDE or not), faults and root loads out of
 * memory, write tracking by another user (which may refuse writes), address spaces sharing tables (top-level entries
 * copied between them, with U/S or R/W maybe taken away: shared shadow pages), and the guest's own writes through
 * writable shadow leaves, as the hardware makes them (also while a leaf is losing W, before the flush). After every
 * step it checks (shadow_checker.c), for every root:
 *  - every shadow table is where the guest's tables are: a shadow page of guest table G under an entry that points
 *    to G (a PAE root's directories: under the PDPTEs the root was built from), a direct page under a guest huge
 *    page covering its frames;
 *  - every present shadow leaf translates as a fresh walk of the guest's tables (the gpa's host frame), with no
 *    more than the guest allows: W only with the guest's W and D, U only with U, execute only with X; where the
 *    guest does not translate, no shadow leaf exists. A leaf of an unsync table is exempt until the guest flushes
 *    it: after its INVLPG, the leaf of that address must be right; after a flushing root load (a CR3 load or a
 *    paging change), no unsync page is reachable from the root; and every unsync page has the bits that lead to it
 *    in each of its parents;
 * and through the unit tests' fixture (sx_check) the shadow pages (their quadrants too), the rmap and the tracking
 * counts.
 * (run.sh links what every fuzz-srcs line names: the MMU layer as tests/unit/mmu_srcs.mk has it, the fixture and the
 * checker)
 * fuzz-srcs: mm/pt.c mm/frame_cache.c mm/pt_iter.c mm/spte_change.c mm/root.c mm/mmu.c mm/mmu_track.c mm/mmu_access.c
 * fuzz-srcs: mm/ept/tdp_fault.c mm/ept/tdp_mirror.c mm/private.c mm/ept/tdp_huge.c mm/ept/tdp_zap.c mm/ept/tdp_mmu.c mm/ept/tdp_age.c mm/ept/tdp_fast.c
 * fuzz-srcs: mm/track/level.c mm/track/write.c mm/memslot_dirty.c
 * fuzz-srcs: mm/shadow/rmap.c mm/memslot.c mm/grace.c mm/shadow/gwalk.c mm/shadow/spage.c mm/shadow/sfault.c
 * fuzz-srcs: mm/shadow/swrite.c mm/shadow/unsync.c mm/shadow/sshare.c mm/shadow/sprefetch.c mm/shadow/sage.c mm/shadow/szap.c
 * fuzz-srcs: tests/unit/fake_platform.c
 * fuzz-srcs: tests/unit/shadow_fixture.c tests/fuzz/shadow_checker.c
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "tests/fuzz/shadow_checker.h"

#define NPOOL 24 /* guest page-table pages: gpa SX_TABLES + i * 4K; the first NAS are the top-level tables */
#define NAS   4
#define OPS   64

static struct {
	const u8 *in;
	size_t n, pos;
	u64 rng;
	bool pressure; /* allocations may fail (op_pressure) */
	enum fmt fmt;  /* the guest's format, also while its paging is off (the tables the ops build) */
	gva_t hist[8]; /* gvas mapped lately: most operations go back to one, so that paths are built and used */
	unsigned int nhist;
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

/* ---- the formats ---- */

static u64 read_entry(enum fmt f, gpa_t gpa)
{
	u64 v = 0;

	CHECK_EQ(mmu_read_gpa(&sx.mmu, gpa, &v, esize(f)), 0);
	return v;
}

static enum fmt mode_fmt(const struct gwalk_mode *m)
{
	return m->lma ? FMT_4L : m->pae ? FMT_PAE : FMT_32;
}

static bool pae_paging(void)
{
	return sx.p.mode.pg && fz.fmt == FMT_PAE;
}

/* ---- the guest's paging state ---- */

/* A CR3 for address space k in the guest's format: with PWT/PCD for 4-level and 32-bit paging (not part of any
 * key), the PDPT at one of two places of the page for PAE. */
static u64 space_cr3(unsigned int k, u8 bits)
{
	if (fz.fmt == FMT_PAE)
		return pool(k) + ((bits & 1) ? 0xfe0 : 0);
	return pool(k) | (bits & 0x18);
}

/* A change of the paging state, as a MOV to CR0/CR3/CR4 or a WRMSR to EFER makes it. `loads`: the CPU loads the
 * PDPTEs if PAE paging is in use after it (vm/pdptes.c), and a PDPTE with reserved bits makes it #GP: nothing
 * changes then. */
static void set_paging(struct gwalk_mode m, u64 cr3, enum fmt f, bool loads)
{
	struct gwalk_mode old_mode = sx.p.mode;
	u64 old_cr3 = sx.p.cr3;
	enum fmt old_fmt = fz.fmt;

	m.pae = f != FMT_32;
	m.lma = m.pg && f == FMT_4L;
	m.pdptes = sx.pdptes;
	sx.p.mode = m;
	sx.p.cr3 = cr3;
	fz.fmt = f;
	if (loads && pae_paging() && sx_load_pdptes()) {
		sx.p.mode = old_mode;
		sx.p.cr3 = old_cr3;
		fz.fmt = old_fmt;
	}
}

/* ---- the operations ---- */

/* Table indices the gvas and the entry writes share, so that paths meet: 9-bit ones, and for 32-bit paging 10-bit
 * ones that meet both halves of a table and each quadrant of a directory. */
static const u16 idx[8] = {0, 1, 2, 3, 255, 256, 510, 511};
static const u16 idx10[8] = {0, 1, 255, 256, 511, 512, 767, 1023};

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
	if (fz.fmt == FMT_PAE)
		return (u64)(a & 3) << 30 | (u64)idx[(a >> 2) & 7] << 21 | (u64)idx[b & 7] << 12 | (u64)(b >> 6) << 10;
	if (fz.fmt == FMT_32)
		return (u64)idx10[a & 7] << 22 | (u64)idx10[(a >> 3) & 7] << 12 | (u64)(b >> 6) << 10;
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

/* A guest paging entry: some flags, an address among the tables, RAM, huge-page frames or outside RAM; maybe
 * PSE-36 bits (13-21) of a 32-bit 4 MiB PDE, or bits reserved there or in a 2 MiB PDE. */
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
		addr = 0; /* the 1G and 4M frames holding RAM */
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
	if ((k & 0x78) == 0x38)
		e |= BIT(13 + (x & 7) + (x >> 7)); /* PSE-36 address bits, bit 21 */
	return e;
}

static void guest_write(gpa_t gpa, const void *b, unsigned int len)
{
	int r = mmu_write_gpa(&sx.mmu, &sx.vcpu, gpa, b, len);

	CHECK(r == 0 || (r == -EPERM && ck.deny));
}

/* The address space an operation works on: the current one, or with paging off one of the NAS. */
static u64 target_cr3(u8 k)
{
	return sx.p.mode.pg ? sx.p.cr3 : space_cr3(k & (NAS - 1), k >> 2);
}

/* PDPTE i of the PAE space at cr3: the loaded one where the CPU walks with it, else the PDPT in memory. */
static u64 pdpte(u64 cr3, unsigned int i)
{
	return pae_paging() && cr3 == sx.p.cr3 ? sx.pdptes[i] : read_entry(FMT_PAE, table_base(FMT_PAE, cr3) + i * 8);
}

/* The gpa of the guest entry at `level` (at most the top) on gva's path under cr3, or of the entry above where the
 * path ends (not present, a leaf, or a table outside RAM). A PAE PDPTE's is in the PDPT in memory. */
static gpa_t path_entry(u64 cr3, gva_t gva, int level)
{
	enum fmt f = fz.fmt;
	gpa_t table = table_base(f, cr3);

	for (int l = top_level(f);; l--) {
		gpa_t ea = table + gindex(f, gva, l) * esize(f);
		u64 e = f == FMT_PAE && l == 3 ? pdpte(cr3, gindex(f, gva, l)) : read_entry(f, ea);

		table = entry_addr(f, e);
		if (l <= level || !(e & G_P) || (ps_counts(f, l, sx.p.mode.pse) && (e & G_PS)) ||
		    table >= (gpa_t)RAM_PAGES << PAGE_SHIFT)
			return ea;
	}
}

/* An entry to write: one on the path of a gva (any level), or anywhere in a pool page. */
static gpa_t pick_entry(void)
{
	u8 k = byte();

	if (k & 1)
		return path_entry(target_cr3(k >> 1), make_gva(), (k & 0x18) ? 1 + (k >> 5) % 4 : 1);
	if (fz.fmt == FMT_32)
		return pool(byte()) + (u64)((k & 6) == 6 ? byte() * 4u % 1024 : idx10[k >> 3 & 7]) * 4;
	return pool(byte()) + (u64)((k & 6) == 6 ? byte() * 2u % 512 : idx[k >> 3 & 7]) * 8;
}

static void op_write_entry(void)
{
	u8 how = byte();
	gpa_t ea = pick_entry();
	unsigned int es = esize(fz.fmt);
	u64 v = make_entry(), old = read_entry(fz.fmt, ea);
	u32 half;

	switch (how & 3) {
	case 0:
		guest_write(ea, &v, es);
		break;
	case 1: { /* the emulator's locked CMPXCHG, old value right or wrong */
		int r = mmu_cmpxchg_gpa(&sx.mmu, &sx.vcpu, ea, (how & 0x80) ? v : old, v, es, NULL);
		CHECK(r == 0 || r == -EAGAIN || (r == -EPERM && ck.deny));
		break;
	}
	case 2:
		if (es == 4) { /* a 32-bit entry: one byte of it (Linux's clear_bit is a locked AND of a byte) */
			u8 b = (u8)v;
			guest_write(ea + (how >> 6), &b, 1);
			break;
		}
		if (how & 0x40) { /* both halves, high first, as Linux's PAE set_pte */
			half = (u32)(v >> 32);
			guest_write(ea + 4, &half, 4);
			half = (u32)v;
			guest_write(ea, &half, 4);
			break;
		}
		half = (how & 0x80) ? (u32)(v >> 32) : (u32)v;
		guest_write(ea + ((how & 0x80) ? 4 : 0), &half, 4);
		break;
	default:
		if ((ea & (PAGE_SIZE - 1)) + es / 2 + 8 <= PAGE_SIZE)
			guest_write(ea + es / 2, &v, 8); /* across two entries */
		break;
	}
}

/* A whole path for a gva: the missing tables from the pool, then a leaf (4K, 2M/4M or 1G) with random rights. A
 * missing PDPTE is written to the PDPT and loaded by a MOV to CR3 (which may #GP: the path is then left). */
static void op_map(void)
{
	u8 k = byte(), f = byte();
	enum fmt fm = fz.fmt;
	gva_t gva = (k & 0x20) ? make_gva() : new_gva();
	int leaf = fm == FMT_4L ? 1 + (k & 3) % (ck.gbpages ? 3 : 2) : 1 + (k & 1);
	u64 nx = sx.p.mode.nxe && fm != FMT_32 ? G_NX : 0; /* reserved without NXE */
	u64 cr3 = target_cr3(k >> 2), amask = entry_addr(fm, ~0ULL);
	unsigned int es = esize(fm);

	fz.hist[fz.nhist++ % 8] = gva;
	gpa_t table = table_base(fm, cr3);

	for (int l = top_level(fm); l > leaf; l--) {
		gpa_t ea = table + gindex(fm, gva, l) * es;

		if (fm == FMT_PAE && l == 3) {
			u64 e = pdpte(cr3, gindex(fm, gva, l));
			if (!(e & G_P) || (e & ~(amask | G_P)) || (e & amask) >= (gpa_t)RAM_PAGES << PAGE_SHIFT) {
				e = pool(byte()) | G_P;
				guest_write(ea, &e, 8);
				if (pae_paging() && cr3 == sx.p.cr3 && sx_load_pdptes())
					return;
			}
			table = e & amask;
			continue;
		}
		u64 e = read_entry(fm, ea);
		/* Anything but a plain pointer to a table in RAM is replaced. */
		if (!(e & G_P) || (e & ~(amask | G_ALL | G_A | G_D | nx)) ||
		    (e & amask) >= (gpa_t)RAM_PAGES << PAGE_SHIFT) {
			e = pool(byte()) | G_ALL | ((k & 0x40) ? G_A : 0) | ((k & 0x80) && l == 2 ? nx : 0);
			guest_write(ea, &e, es);
		}
		table = e & amask;
	}
	u64 v = G_P | ((f & 3) ? G_RW : 0) | ((f & 12) ? G_US : 0) | ((f & 16) ? G_A : 0) | ((f & 32) ? G_D : 0) |
		((f & 0xc0) == 0xc0 ? nx : 0) | (leaf > 1 ? G_PS : 0);
	u8 a = byte();
	if ((a & 0xf) == 0xf)
		v |= SX_MMIO;
	else if (leaf == 2 && fm == FMT_32)
		v |= (a & 0x30) == 0x30 ? BIT(13) : 0; /* the 4 MiB at 0, or (PSE-36) at 4 GiB: not RAM */
	else if (leaf == 2)
		v |= (gpa_t)(a >> 4 & 1) << 21;
	else if (leaf == 1)
		v |= (a & 0xf) >= 0xc ? pool(a >> 4) : (gpa_t)((a >> 4 | (u64)byte() << 4) % RAM_PAGES) << PAGE_SHIFT;
	guest_write(table + gindex(fm, gva, leaf) * es, &v, es);
}

/* A load of the paging state's root as the vCPU makes it for a MOV to CR3 or a paging change, which flush: what the
 * root reaches is synced (sx_load), so nothing unsync is left below it. */
static int load(void)
{
	int r = sx_load();

	if (!r)
		check_root_synced();
	return r;
}

static void reload(void)
{
	mmu_vcpu_free_obsolete_roots(&sx.mmu, &sx.vcpu);
	int r = load();
	CHECK(r == 0 || (fz.pressure && r == -ENOMEM));
}

/* A fault at gva of kind pferr, handled as the vCPU does; k: the input's choices for it. */
static void fault_at(gva_t gva, u32 pferr, u8 k)
{
	struct mmu_fault f;
	u64 pages = sx.mmu.shadow.nr_pages;
	int r = sx_fault(gva, pferr, &f);
	unsigned int es = esize(fz.fmt);

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
		u64 v = (k & 8) ? make_entry() : read_entry(fz.fmt, f.gpa & ~(gpa_t)(es - 1));
		CHECK(f.slot);
		guest_write(f.gpa & ~(gpa_t)(es - 1), &v, es);
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

	fault_at(make_gva() | (k >> 4), kinds[k & 7], k);
}

/* Address spaces that share tables, as every process shares its kernel half: an entry of space a's top table copied
 * into the same slot of space b's, maybe without U/S or R/W (the same tables below, under another inherited access,
 * must not share a shadow). Not for PAE, whose PDPTEs take effect only when loaded and carry no permissions. */
static void op_share(void)
{
	u8 k = byte(), i = byte();
	enum fmt f = fz.fmt;
	unsigned int es = esize(f);

	if (f == FMT_PAE)
		return;
	unsigned int slot = es == 4 ? (i | (k & 0xc0) << 2) % 1024 : (i | (k & 0x40) << 2) % 512;
	gpa_t from = table_base(f, space_cr3(k & (NAS - 1), 0)) + slot * es;
	gpa_t to = table_base(f, space_cr3(k >> 2 & (NAS - 1), 0)) + slot * es;
	u64 e = read_entry(f, from);

	if (k & 0x10)
		e &= ~G_US;
	if (k & 0x20)
		e &= ~G_RW;
	guest_write(to, &e, es);
}

/* The guest maps the page table of a gva it uses and writes it through that mapping (as an OS edits its page
 * tables through a kernel mapping): the table may go unsync instead of every store being emulated. */
static void op_self_write(void)
{
	u8 k = byte();
	gva_t x = make_gva(), y = x ^ ((gva_t)(k >> 4 | 1) << PAGE_SHIFT); /* in x's page table */
	u64 cr3 = target_cr3(k);
	gpa_t pt = path_entry(cr3, x, 1) & entry_addr(fz.fmt, ~0ULL) & ~(PAGE_SIZE - 1);
	gpa_t ea = path_entry(cr3, y, 1);

	if (!sx.p.mode.pg || (ea & (PAGE_SIZE - 1)) != gindex(fz.fmt, y, 1) * esize(fz.fmt))
		return; /* y's path has no page table of its own */
	u64 v = pt | G_P | G_RW | ((k & 2) ? G_US : 0) | ((k & 4) ? G_D : 0);
	guest_write(ea, &v, esize(fz.fmt));
	fz.hist[fz.nhist++ % 8] = y;
	fault_at(x, 0, k);
	fault_at(y, PFERR_WRITE | ((k & 8) ? PFERR_USER : 0), k);
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
		set_paging(sx.p.mode, space_cr3(k >> 5 & (NAS - 1), k >> 7), fz.fmt, true);
		int r = load();
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

	if (!ck.ext[g] || (!ck.deny && (g & 1))) {
		CHECK_EQ(mmu_track_add_gfn(&sx.mmu, g), 0);
		ck.ext[g]++;
	} else if (!ck.deny) {
		CHECK_EQ(mmu_track_remove_gfn(&sx.mmu, g), 0);
		ck.ext[g]--;
	}
}

static void op_mode(void)
{
	u8 k = byte();
	struct gwalk_mode m = sx.p.mode;

	switch (k & 7) {
	case 0: /* EFER.NXE: no PDPTE load */
		m.nxe = !m.nxe;
		set_paging(m, sx.p.cr3, fz.fmt, false);
		break;
	case 1: /* CR0.WP: no PDPTE load either */
		m.wp = !m.wp;
		set_paging(m, sx.p.cr3, fz.fmt, false);
		break;
	case 2: /* CR0.PG */
		m.pg = !m.pg;
		set_paging(m, sx.p.cr3, fz.fmt, true);
		break;
	case 3: /* another format (CR4.PAE, EFER.LME), on the same CR3 */
		set_paging(m, sx.p.cr3, (enum fmt)((k >> 3) % 3), true);
		break;
	case 4: /* CR4.PSE */
		m.pse = !m.pse;
		set_paging(m, sx.p.cr3, fz.fmt, true);
		break;
	default: /* MOV to CR3, maybe of the same address space: PAE PDPTEs loaded again */
		set_paging(m, space_cr3(k >> 3 & (NAS - 1), k >> 5), fz.fmt, true);
		break;
	}
	CHECK_EQ(load(), 0);
}

static void op_invalidate(void)
{
	u8 k = byte();

	if (k & 4)
		mmu_shadow_flush(&sx.mmu); /* the guest's TLB flush: unsync tables are synced */
	else if (k & 1)
		mmu_invalidate_all_roots(&sx.mmu);
	else
		mmu_zap_gfn_range(&sx.mmu, k, k + 1);
	if (k & 2)
		reload();
}

/* A leaf (present or MMIO) of an unsync table the current root reaches (*sptep), where the guest's own stores make
 * stale leaves; false if there is none. */
static bool pick_unsync_leaf(gva_t *gva, u64 **sptep)
{
	gva_t gvas[16];
	u64 *spteps[16];
	unsigned int n = unsync_leaves(gvas, spteps, 16), i = byte();

	if (!n)
		return false;
	*gva = gvas[i % n];
	*sptep = spteps[i % n];
	return true;
}

/* The guest's own store to an entry of an unsync table that a leaf was made from (through a writable mapping of the
 * table it has or may make at any time: nothing traps it): another frame, other rights or A/D bits, or anything. */
static void op_unsync_store(void)
{
	u8 k = byte();
	gva_t gva;
	u64 *sptep, old = 0, v;
	unsigned int idx;

	if (!pick_unsync_leaf(&gva, &sptep))
		return;
	struct spage *sp = __spage_of_sptep(&sx.mmu, sptep, &idx);
	unsigned int es = spage_gpte_size(sp);
	u8 *e = phys_to_virt(sx_hpa(((gpa_t)sp->gfn << PAGE_SHIFT) + spage_leaf_gidx(sp, idx) * es));

	memcpy(&old, e, es);
	switch (k & 3) {
	case 0:
		v = make_entry();
		break;
	case 1:
		v = old ^ (G_RW << (k >> 2 & 3)); /* R/W, U/S, PWT or PCD */
		break;
	case 2:
		v = old ^ ((k & 4) ? G_A : G_D) ^ ((k & 8) ? G_NX : 0);
		break;
	default:
		v = (old & ~entry_addr(FMT_PAE, ~0ULL)) | (gpa_t)(bytes(2) % RAM_PAGES) << PAGE_SHIFT;
		break;
	}
	memcpy(e, &v, es);
	fz.hist[fz.nhist++ % 8] = gva;
}

/* The guest's INVLPG of an address, with CR4.PCIDE or not, as the vCPU handles it: the leaf of the current root
 * for it must then be what a fresh walk gives, in an unsync table too. Mostly of a leaf of an unsync table, where it
 * has work to do. Without another vCPU's store racing with it (the change hook's): the guest may not rely on what
 * such a store changes before its own INVLPG of it. */
static void op_invlpg(void)
{
	u8 k = byte();
	gva_t gva;
	u64 *sptep;

	if ((k & 6) == 6 || !pick_unsync_leaf(&gva, &sptep))
		gva = make_gva();
	gva |= k >> 4;
	void (*hook)(gfn_t, u64, u64, int) = sx.hook;

	sx.hook = NULL;
	mmu_shadow_invlpg(&sx.mmu, &sx.vcpu, gva, k & 1);
	sx.hook = hook;
	check_invlpg(gva);
}

/* One of n operations by the lowest bit set in a byte (the last if none of the n - 1 below it is): each half as
 * often as the one before. */
static void op_by_bits(void (*const *ops)(void), unsigned int n)
{
	u8 b = byte();
	unsigned int i = 0;

	while (i + 1 < n && !(b & (1u << i)))
		i++;
	ops[i]();
}

/* The unsync tables' operations: INVLPG, the guest's stores to one, one going unsync. */
static void op_unsync(void)
{
	static void (*const ops[3])(void) = {op_invlpg, op_unsync_store, op_self_write};

	op_by_bits(ops, 3);
}

static void op_rare(void)
{
	static void (*const ops[3])(void) = {op_invalidate, op_pressure, op_share};

	op_by_bits(ops, 3);
}

/* Flooding: three writes of one entry. */
static void op_flood(void)
{
	gpa_t ea = pick_entry();
	u64 v = make_entry();

	for (int i = 0; i < 3; i++)
		guest_write(ea, &v, esize(fz.fmt));
}

/* An operation per value of the low 4 bits of a byte: faults, entry writes and maps most often. */
static void (*const ops_by_byte[16])(void) = {
    op_write_entry, op_write_entry, op_write_entry, op_map,	 op_map,  op_map,   op_fault, op_fault,
    op_fault,	    op_fault,	    op_unsync,	    op_hw_write, op_mode, op_track, op_rare,  op_flood,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const u64 budgets[8] = {6, 8, 10, 12, 16, 24, 64, 1024};
	static const u8 maxphys[4] = {36, 40, 46, 52};

	if (size < 2)
		return 0;
	memset(&fz, 0, sizeof(fz));
	memset(&ck, 0, sizeof(ck));
	fz.in = data;
	fz.n = size;
	fz.rng = 0x9e3779b97f4a7c15ULL;
	for (size_t i = 0; i < size; i++)
		fz.rng = (fz.rng ^ data[i]) * 0x100000001b3ULL;
	u8 h = byte(), h2 = byte();
	sx_setup_ram(budgets[h & 7], RAM_PAGES);
	ck.gbpages = h & 8;
	ck.deny = (h & 0x18) == 0x18;
	ck.maxphy = maxphys[h >> 5 & 3];
	CHECK_EQ(sx.p.cr3, pool(0)); /* fresh RAM reads as zero: the pool needs no clearing */
	sx.other_trackers = true;
	sx.mmu.shadow.allow_unsync = h2 & 1;
	if (h & 0x80)
		sx.hook = store_in_flight;
	register_other_user();
	sx.p.mode.gbpages = ck.gbpages;
	sx.p.mode.maxphyaddr = ck.maxphy;
	/* The first format: 4-level, PAE (the PDPT at pool(0), all zero: no PDPTE present) or 32-bit. */
	set_paging(sx.p.mode, pool(0), (enum fmt)((h2 >> 1) % 3), true);
	CHECK_EQ(mode_fmt(&sx.p.mode), fz.fmt);
	CHECK_EQ(load(), 0);

	for (int ops = 0; ops < OPS; ops++) {
		u8 op = byte();

		ops_by_byte[op % 16]();
		/* The vCPU enters only on the root of its paging state (a load that failed is made again), PAE PDPTEs
		 * included. */
		union mmu_role role;
		u64 pgd;
		CHECK_EQ(shadow_root_key(&sx.p, &pgd, &role), 0);
		struct mmu_root *cur = sx.vcpu.current;
		if (!cur || cur->pgd != pgd || cur->role.word != role.word ||
		    (shadow_role_has_pdptes(role) && memcmp(cur->pdptes, sx.pdptes, sizeof(sx.pdptes))))
			reload();
		check_all();
	}
	for (gfn_t g = 0; g < RAM_PAGES; g++) {
		for (; ck.ext[g]; ck.ext[g]--)
			CHECK_EQ(mmu_track_remove_gfn(&sx.mmu, g), 0);
	}
	sx_teardown();
	return 0;
}
