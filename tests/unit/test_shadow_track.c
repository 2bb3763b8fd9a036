/* Unit tests of the shadow MMU and write tracking (mm/shadow/spage.c, swrite.c): every guest table on a shadowed
 * path is write-tracked; a writable leaf over a page that becomes a guest table loses W through the rmap; guest
 * writes to shadowed tables (plain writes and compare-exchanges, as the emulator makes them) zap exactly the entries
 * they touch, and the next fault rebuilds them from the new values; write flooding and misaligned writes zap the
 * shadow page and drop its tracking, but never a root's; a guest table that maps itself; A/D updates a tracking user
 * refuses; another vCPU's store to a table racing with its write protection. Every step is followed by sx_check
 * (shadow pages, rmap, tracking). */
#include "shadow_fixture.h"

#define GVA 0x7f1234567000ULL

static gfn_t gfn_of(gpa_t gpa)
{
	return gpa >> PAGE_SHIFT;
}

/* A fresh MMU with GVA mapped to SX_DATA (user, writable, dirty) and faulted in. Returns the leaf PTE's gpa. */
static gpa_t setup_one(void)
{
	sx_setup(64);
	CHECK_EQ(sx_load(), 0);
	gpa_t pte = sx_map(sx.p.cr3, GVA, SX_DATA, 1, G_ALL | G_A, G_ALL | G_A | G_D);
	CHECK_EQ(sx_fault(GVA, 0, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(GVA, SX_DATA, true, true, true);
	return pte;
}

TEST(shadow_track_every_guest_table_on_the_path)
{
	setup_one();
	for (int l = 4; l >= 1; l--) {
		gfn_t t = gfn_of(sx_gpte_gpa(sx.p.cr3, GVA, l));
		CHECK(track_is_write_tracked(memslot_find(&sx.mmu.slots, t), t));
		CHECK_EQ(sx_track_count(t), 1);
		CHECK_EQ(sx_spages_of(t), 1);
	}
	CHECK_EQ(sx_track_count(gfn_of(SX_DATA)), 0);
	CHECK_EQ(sx.mmu.shadow.nr_pages, 4);
	/* Another page of the same PT: nothing new. Another PD entry: one more table, tracked. */
	sx_map(sx.p.cr3, GVA + PAGE_SIZE, SX_DATA + PAGE_SIZE, 1, G_ALL, G_ALL);
	CHECK_EQ(sx_fault(GVA + PAGE_SIZE, 0, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(sx.mmu.shadow.nr_pages, 4);
	gva_t far = GVA + (2ULL << 21);
	sx_map(sx.p.cr3, far, SX_DATA + 2 * PAGE_SIZE, 1, G_ALL, G_ALL);
	CHECK_EQ(sx_fault(far, 0, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(sx.mmu.shadow.nr_pages, 5);
	CHECK_EQ(sx_track_count(gfn_of(sx_gpte_gpa(sx.p.cr3, far, 1))), 1);
	/* A PDPT two PML4 entries with the same permissions point to: one shadow page shared by both parent entries,
	 * one tracking reference, and everything below it is there already (the alias's first access finds its
	 * leaf). */
	gpa_t pml4e = sx_gpte_gpa(sx.p.cr3, GVA, 4);
	gva_t alias = GVA ^ (1ULL << 39);
	sx_write(sx_gpte_gpa(sx.p.cr3, alias, 4), sx_read(pml4e));
	CHECK_EQ(sx_fault(alias, 0, NULL), MMU_FAULT_SPURIOUS);
	sx_check_leaf(alias, SX_DATA, true, true, true);
	gfn_t pdpt = gfn_of(sx_gpte_gpa(sx.p.cr3, GVA, 3));
	CHECK_EQ(sx_spages_of(pdpt), 1);
	CHECK_EQ(sx_track_count(pdpt), 1);
	CHECK_EQ(sx.mmu.shadow.nr_pages, 5);
	sx_teardown();
}

TEST(shadow_track_writable_leaf_loses_w_when_its_page_becomes_a_table)
{
	gpa_t page = SX_DATA + 0x10000;

	setup_one();
	sx_map(sx.p.cr3, GVA + PAGE_SIZE, page, 1, G_ALL, G_ALL | G_D);
	CHECK_EQ(sx_fault(GVA + PAGE_SIZE, PFERR_WRITE, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(GVA + PAGE_SIZE, page, true, true, true);
	/* The same page, writable through a paging-off root too (kept in the vCPU's cache). */
	struct shadow_paging lm = sx.p;
	sx_paging_off();
	CHECK_EQ(sx_load(), 0);
	CHECK_EQ(sx_fault(page, PFERR_WRITE, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(page, page, true, true, true);
	struct mmu_root *off = sx.vcpu.current;
	sx.p = lm;
	CHECK_EQ(sx_load(), 0);
	/* The guest makes it a page table: a PDE of another region points to it, and one of its entries maps. */
	gva_t other = 0x40200000ULL;
	sx_map(sx.p.cr3, other - (1ULL << 21), SX_DATA, 2, G_ALL, G_ALL); /* creates the PD */
	sx_write(sx_gpte_gpa(sx.p.cr3, other, 2), page | G_ALL);
	sx_write(page + 5 * 8, (SX_DATA + 0x20000) | G_ALL | G_D);
	u64 flushes = sx.flushes;
	CHECK_EQ(sx_fault(other + 5 * PAGE_SIZE, PFERR_WRITE, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(sx_track_count(gfn_of(page)), 1);
	/* Both leaves over it lost W (and MMU_WRITABLE), and that was flushed. */
	sx_check_leaf(GVA + PAGE_SIZE, page, false, true, true);
	CHECK(!(sx_leaf(GVA + PAGE_SIZE) & SPTE_MMU_WRITABLE));
	int level;
	u64 *s = sx_spte(off, page, &level);
	CHECK_EQ(level, 1);
	CHECK(spte_is_present(*s) && !(*s & PTE_W));
	CHECK(sx.flushes > flushes);
	/* A guest write through it is emulated now, and its bytes reach the notifier: that entry of the new shadow
	 * page goes. */
	struct mmu_fault f;
	CHECK_EQ(sx_fault(GVA + PAGE_SIZE + 5 * 8, PFERR_PRESENT | PFERR_WRITE, &f), MMU_FAULT_WRITE_PROTECTED);
	CHECK_EQ(f.gpa, page + 5 * 8);
	CHECK(spte_is_present(sx_leaf(other + 5 * PAGE_SIZE)));
	sx_write(f.gpa, (SX_DATA + 0x30000) | G_ALL | G_D);
	CHECK_EQ(sx_leaf(other + 5 * PAGE_SIZE), 0);
	CHECK_EQ(sx_fault(other + 5 * PAGE_SIZE, 0, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(other + 5 * PAGE_SIZE, SX_DATA + 0x30000, true, true, true);
	sx_teardown();
}

TEST(shadow_track_guest_write_zaps_only_that_entry)
{
	gpa_t pte = setup_one();
	gpa_t pte2 = sx_map(sx.p.cr3, GVA + PAGE_SIZE, SX_DATA + PAGE_SIZE, 1, G_ALL, G_ALL | G_A | G_D);
	CHECK_EQ(sx_fault(GVA + PAGE_SIZE, 0, NULL), MMU_FAULT_FIXED);
	u64 leaf2 = sx_leaf(GVA + PAGE_SIZE);
	struct shadow_stats st = sx.mmu.shadow.stats;
	/* A plain write (MOV) of the first PTE: to another page, read-only. */
	sx_write(pte, (SX_DATA + 0x5000) | G_P | G_US | G_A);
	CHECK_EQ(sx_leaf(GVA), 0);
	CHECK_EQ(sx_leaf(GVA + PAGE_SIZE), leaf2);
	CHECK_EQ(sx.mmu.shadow.stats.pte_writes, st.pte_writes + 1);
	CHECK_EQ(sx.mmu.shadow.stats.sptes_zapped_by_writes, st.sptes_zapped_by_writes + 1);
	CHECK_EQ(sx_fault(GVA, 0, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(GVA, SX_DATA + 0x5000, false, true, true);
	/* A locked compare-exchange taking W away (Linux's ptep_set_wrprotect). */
	u64 old = sx_read(pte2);
	CHECK_EQ(mmu_cmpxchg_gpa(&sx.mmu, &sx.vcpu, pte2, old, old & ~G_RW, 8, NULL), 0);
	CHECK_EQ(sx_leaf(GVA + PAGE_SIZE), 0);
	CHECK_EQ(sx_fault(GVA + PAGE_SIZE, PFERR_WRITE, NULL), MMU_FAULT_GUEST_PF);
	CHECK_EQ(sx_fault(GVA + PAGE_SIZE, 0, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(GVA + PAGE_SIZE, SX_DATA + PAGE_SIZE, false, true, true);
	/* One that fails its compare writes nothing, and zaps nothing. */
	leaf2 = sx_leaf(GVA + PAGE_SIZE);
	u64 cur;
	CHECK_EQ(mmu_cmpxchg_gpa(&sx.mmu, &sx.vcpu, pte2, old, 0, 8, &cur), -EAGAIN);
	CHECK_EQ(cur, old & ~G_RW);
	CHECK_EQ(sx_leaf(GVA + PAGE_SIZE), leaf2);
	/* A 4-byte write within one entry (a PAE half-write, or the high half holding NX) zaps that entry. */
	u32 hi = (u32)(G_NX >> 32);
	CHECK_EQ(mmu_write_gpa(&sx.mmu, &sx.vcpu, pte2 + 4, &hi, 4), 0);
	CHECK_EQ(sx_leaf(GVA + PAGE_SIZE), 0);
	CHECK(spte_is_present(sx_leaf(GVA)));
	CHECK_EQ(sx_fault(GVA + PAGE_SIZE, 0, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(GVA + PAGE_SIZE, SX_DATA + PAGE_SIZE, false, true, false);
	CHECK_EQ(sx.mmu.shadow.stats.flood_zaps, 0);
	sx_teardown();
}

TEST(shadow_track_write_to_upper_entry_frees_the_subtree)
{
	setup_one();
	gpa_t pde = sx_gpte_gpa(sx.p.cr3, GVA, 2);
	gfn_t pt = gfn_of(sx_gpte_gpa(sx.p.cr3, GVA, 1));
	u64 old = sx_read(pde);
	/* The PDE moves to another page table: the old one is no longer shadowed, nor tracked. */
	gpa_t pt2 = sx_new_table();
	sx_write(pt2 + ((GVA >> 12) & 511) * 8, (SX_DATA + 0x7000) | G_ALL | G_D);
	sx_write(pde, pt2 | G_ALL);
	CHECK_EQ(sx_leaf(GVA), 0);
	CHECK_EQ(sx_track_count(pt), 0);
	CHECK_EQ(sx.mmu.shadow.nr_pages, 3);
	CHECK_EQ(sx_fault(GVA, PFERR_WRITE, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(GVA, SX_DATA + 0x7000, true, true, true);
	CHECK_EQ(sx_track_count(gfn_of(pt2)), 1);
	/* Back, then the PML4E goes: everything but the root goes. */
	sx_write(pde, old);
	CHECK_EQ(sx_fault(GVA, 0, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(GVA, SX_DATA, true, true, true);
	sx_write(sx_gpte_gpa(sx.p.cr3, GVA, 4), 0);
	CHECK_EQ(sx.mmu.shadow.nr_pages, 1);
	CHECK_EQ(sx_fault(GVA, 0, NULL), MMU_FAULT_GUEST_PF);
	sx_teardown();
}

TEST(shadow_track_write_flooding_zaps_the_shadow_page)
{
	gpa_t pte = setup_one();
	gpa_t pt = pte & ~(PAGE_SIZE - 1);
	gpa_t unused = pt + 100 * 8;

	/* Two writes, then a fault through the page: the count starts again. */
	sx_write(unused, 1);
	sx_write(unused, 2);
	CHECK_EQ(sx.mmu.shadow.stats.flood_zaps, 0);
	CHECK_EQ(sx_fault(GVA, 0, NULL), MMU_FAULT_SPURIOUS);
	sx_write(unused, 3);
	sx_write(unused, 4);
	CHECK_EQ(sx.mmu.shadow.stats.flood_zaps, 0);
	CHECK(spte_is_present(sx_leaf(GVA)));
	CHECK_EQ(sx_track_count(gfn_of(pt)), 1);
	/* The third write without a fault: the page is no longer taken for a page table. */
	sx_write(unused, 5);
	CHECK_EQ(sx.mmu.shadow.stats.flood_zaps, 1);
	CHECK_EQ(sx_read(unused), 5);
	CHECK_EQ(sx_spages_of(gfn_of(pt)), 0);
	CHECK_EQ(sx_track_count(gfn_of(pt)), 0);
	CHECK_EQ(sx_leaf(GVA), 0);
	CHECK_EQ(sx.mmu.shadow.nr_pages, 3);
	/* Writes to it now are not seen at all. */
	u64 writes = sx.mmu.shadow.stats.pte_writes;
	sx_write(unused, 6);
	CHECK_EQ(sx.mmu.shadow.stats.pte_writes, writes);
	/* The next fault through it shadows (and tracks) it again. */
	CHECK_EQ(sx_fault(GVA, 0, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(GVA, SX_DATA, true, true, true);
	CHECK_EQ(sx_track_count(gfn_of(pt)), 1);
	sx_teardown();
}

TEST(shadow_track_misaligned_write_zaps_at_once)
{
	gpa_t pte = setup_one();
	gpa_t pt = pte & ~(PAGE_SIZE - 1);
	u64 v = 0;

	/* 8 bytes across two entries. */
	CHECK_EQ(mmu_write_gpa(&sx.mmu, &sx.vcpu, pt + 200 * 8 + 4, &v, 8), 0);
	CHECK_EQ(sx.mmu.shadow.stats.flood_zaps, 1);
	CHECK_EQ(sx_spages_of(gfn_of(pt)), 0);
	CHECK_EQ(sx_track_count(gfn_of(pt)), 0);
	CHECK_EQ(sx_leaf(GVA), 0);
	CHECK_EQ(sx_fault(GVA, 0, NULL), MMU_FAULT_FIXED);
	/* A 2-byte write within an entry is not. */
	u16 w = 0;
	CHECK_EQ(mmu_write_gpa(&sx.mmu, &sx.vcpu, pt + 200 * 8 + 2, &w, 2), 0);
	CHECK_EQ(sx.mmu.shadow.stats.flood_zaps, 1);
	CHECK(spte_is_present(sx_leaf(GVA)));
	sx_teardown();
}

TEST(shadow_track_flooded_root_is_zapped_alone)
{
	u64 v = 0;

	setup_one();
	gpa_t pml4 = sx.p.cr3;
	struct mmu_root *root = sx.vcpu.current;
	/* Another address space, valid in the vCPU's cache. */
	u64 other = sx_new_table();
	sx_map(other, GVA, SX_DATA, 1, G_ALL, G_ALL | G_D);
	sx.p.cr3 = other;
	CHECK_EQ(sx_load(), 0);
	struct mmu_root *kept = sx.vcpu.current;
	sx.p.cr3 = pml4;
	CHECK_EQ(sx_load(), 0);
	CHECK(sx.vcpu.current == root && sx.vcpu.cached[0] == kept);
	u64 requests = sx.root_requests, roots = sx.mmu.stats.roots_allocated;
	/* Three writes to the PML4 with no fault through it: most likely a PGD no more (a process exited). Only this
	 * root becomes obsolete, emptied, its frame unprotected; the vCPUs are asked to drop obsolete roots. */
	for (int i = 0; i < 3; i++)
		sx_write(pml4 + 3 * 8, i);
	CHECK_EQ(sx.mmu.shadow.stats.flood_zaps, 1);
	CHECK_EQ(sx.mmu.shadow.stats.root_zaps, 1);
	CHECK(mmu_root_is_obsolete(&sx.mmu, root) && !mmu_root_is_obsolete(&sx.mmu, kept));
	CHECK_EQ(sx_spages_of(gfn_of(pml4)), 0);
	CHECK_EQ(sx_track_count(gfn_of(pml4)), 0);
	CHECK_EQ(sx.root_requests, requests + 1);
	CHECK_EQ(sx_leaf(GVA), 0);
	sx_check();
	/* Further writes go to memory untrapped. */
	u64 writes = sx.mmu.shadow.stats.pte_writes;
	sx_write(pml4 + 3 * 8, 0);
	CHECK_EQ(sx.mmu.shadow.stats.pte_writes, writes);
	/* The vCPU drops the obsolete root only: the cached one stays, and the reload builds one root. */
	u64 dropped = sx.vcpu.obsolete_dropped;
	CHECK(mmu_vcpu_free_obsolete_roots(&sx.mmu, &sx.vcpu));
	CHECK_EQ(sx.vcpu.obsolete_dropped, dropped + 1);
	CHECK(sx.vcpu.cached[0] == kept);
	CHECK_EQ(sx_load(), 0);
	CHECK_EQ(sx.mmu.stats.roots_allocated, roots + 1);
	CHECK_EQ(sx_track_count(gfn_of(pml4)), 1);
	CHECK_EQ(sx_fault(GVA, 0, NULL), MMU_FAULT_FIXED);
	/* Writes with a fault through the root in between are no flooding. */
	root = sx.vcpu.current;
	for (int i = 0; i < 4; i++) {
		sx_write(pml4 + 3 * 8, i);
		CHECK_EQ(sx_fault(GVA, 0, NULL), MMU_FAULT_SPURIOUS);
	}
	CHECK(!mmu_root_is_obsolete(&sx.mmu, root));
	/* A misaligned write over the entry in use zaps that entry only. */
	gpa_t pml4e = sx_gpte_gpa(sx.p.cr3, GVA, 4);
	u64 e = sx_read(pml4e);
	CHECK_EQ(mmu_write_gpa(&sx.mmu, &sx.vcpu, pml4e - 4, &e, 4), 0); /* the high half of the entry before */
	CHECK(spte_is_present(sx_leaf(GVA)));
	CHECK_EQ(mmu_write_gpa(&sx.mmu, &sx.vcpu, pml4e + 4, &v, 8), 0); /* our high half and the next entry's low */
	CHECK_EQ(sx_leaf(GVA), 0);
	CHECK(!mmu_root_is_obsolete(&sx.mmu, root));
	CHECK_EQ(sx_fault(GVA, 0, NULL), MMU_FAULT_FIXED);
	sx_teardown();
}

/* PML4[511] points to the PML4 itself (a recursive mapping): the PML4 is shadowed at every level of that path, and
 * a write to it zaps shadow pages of the very gfn the notifier is going through. */
TEST(shadow_track_recursive_guest_table)
{
	setup_one();
	gpa_t pml4 = sx.p.cr3;
	unsigned int k = (GVA >> 39) & 511;
	gva_t rec = 0xffffffffffe00000ULL | ((gva_t)k << 12); /* indices 511, 511, 511, k */

	sx_write(pml4 + 511 * 8, pml4 | G_ALL | G_A);
	CHECK_EQ(sx_fault(rec, 0, NULL), MMU_FAULT_FIXED);
	/* The leaf maps the PDPT GVA uses, a tracked guest table: read-only however the guest maps it. */
	gpa_t pdpt = sx_read(pml4 + k * 8) & GENMASK_ULL(51, 12);
	sx_check_leaf(rec, pdpt, false, true, true);
	CHECK_EQ(sx_spages_of(gfn_of(pml4)), 4);
	CHECK_EQ(sx_track_count(gfn_of(pml4)), 4);
	/* A write through it: the walk sets D in PML4[k] (its own A/D update, which zaps nothing), and the PDPT is
	 * still a shadowed guest table: the write is refused, to be emulated, and the leaf stays read-only. */
	CHECK_EQ(sx_fault(rec, PFERR_WRITE | PFERR_PRESENT, NULL), MMU_FAULT_WRITE_PROTECTED);
	CHECK(sx_read(pml4 + k * 8) & G_D);
	CHECK(spte_is_present(sx_leaf(GVA)));
	CHECK_EQ(sx_track_count(gfn_of(pdpt)), 1);
	sx_check_leaf(rec, pdpt, false, true, true);
	/* A write to PML4[k] reaches all four shadow pages of the PML4: the root's entry k (GVA's subtree) and the
	 * leaf k at the bottom of the recursion. */
	sx_write(pml4 + k * 8, sx_read(pml4 + k * 8));
	CHECK_EQ(sx_leaf(GVA), 0);
	CHECK_EQ(sx_leaf(rec), 0);
	CHECK_EQ(sx_spages_of(gfn_of(pml4)), 4);
	CHECK_EQ(sx_fault(rec, 0, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(sx_fault(GVA, 0, NULL), MMU_FAULT_FIXED);
	/* A write to PML4[511] zaps the root's entry 511, freeing the three other shadow pages of the PML4 while the
	 * notifier goes through them. */
	sx_write(pml4 + 511 * 8, sx_read(pml4 + 511 * 8));
	CHECK_EQ(sx_spages_of(gfn_of(pml4)), 1);
	CHECK_EQ(sx_track_count(gfn_of(pml4)), 1);
	CHECK(spte_is_present(sx_leaf(GVA)));
	CHECK_EQ(sx_fault(rec, 0, NULL), MMU_FAULT_FIXED);
	/* Flooding every level of the recursion through writes to PML4 entries nobody faults on. */
	for (int i = 0; i < 3; i++)
		sx_write(pml4 + 7 * 8, i);
	/* Each of the four is zapped in turn, newest (the level-1 one) first, the root alone (made obsolete). */
	CHECK_EQ(sx.mmu.shadow.stats.flood_zaps, 4);
	CHECK_EQ(sx.mmu.shadow.stats.root_zaps, 1);
	CHECK_EQ(sx_spages_of(gfn_of(pml4)), 0);
	CHECK(mmu_root_is_obsolete(&sx.mmu, sx.vcpu.current));
	sx_reload();
	CHECK_EQ(sx_fault(GVA, 0, NULL), MMU_FAULT_FIXED);
	sx_teardown();
}

/* A tracking user that refuses the guest walk's A/D updates (a protect= range in deny mode over a page table). */
static bool deny;
static u64 denied;

static enum track_verdict deny_pre_write(struct track_notifier *n, void *who, gpa_t gpa, const void *bytes,
					 unsigned int len)
{
	if (!deny)
		return TRACK_WRITE_ALLOW;
	denied++;
	return TRACK_WRITE_DENY;
}

TEST(shadow_track_refused_ad_update_still_maps)
{
	static struct track_notifier n = {.pre_write = deny_pre_write};
	gpa_t pte = setup_one();

	mmu_track_register_notifier(&sx.mmu, &n);
	gpa_t pte2 = pte + 8;
	sx_write(pte2, (SX_DATA + PAGE_SIZE) | G_ALL); /* A and D clear */
	deny = true;
	denied = 0;
	/* The walk's A update is refused and dropped: the fault goes on as if it had been made, as the refusal's
	 * contract says, instead of finding the entry "changed" and retrying forever. */
	struct mmu_fault f;
	int r = sx_fault(GVA + PAGE_SIZE, 0, &f);
	deny = false;
	CHECK_EQ(denied, 1);
	CHECK_EQ(r, MMU_FAULT_FIXED);
	CHECK_EQ(sx_read(pte2), (SX_DATA + PAGE_SIZE) | G_ALL);
	sx_check_leaf(GVA + PAGE_SIZE, SX_DATA + PAGE_SIZE, false, true, true);
	/* A write: A and D refused; mapped writable, since the walk went on as if D had been set. */
	deny = true;
	r = sx_fault(GVA + PAGE_SIZE, PFERR_PRESENT | PFERR_WRITE, &f);
	deny = false;
	CHECK_EQ(r, MMU_FAULT_FIXED);
	CHECK_EQ(sx_read(pte2), (SX_DATA + PAGE_SIZE) | G_ALL);
	sx_check_leaf(GVA + PAGE_SIZE, SX_DATA + PAGE_SIZE, true, true, true);
	sx_teardown();
}

/* Another vCPU's write to the entry lands while the walk's A update is being refused: the entry really changed, and
 * the re-check under the lock must still see it. */
static gpa_t race_gpa;
static u64 race_val;

static enum track_verdict racing_pre_write(struct track_notifier *n, void *who, gpa_t gpa, const void *bytes,
					   unsigned int len)
{
	if (!deny || gpa != race_gpa)
		return TRACK_WRITE_ALLOW;
	deny = false;
	sx_write(race_gpa, race_val); /* allowed, notified: zaps what it touches */
	return TRACK_WRITE_DENY;
}

TEST(shadow_track_refused_ad_update_with_racing_write_retries)
{
	static struct track_notifier n = {.pre_write = racing_pre_write};
	gpa_t pte = setup_one();

	mmu_track_register_notifier(&sx.mmu, &n);
	race_gpa = pte + 8;
	race_val = (SX_DATA + 2 * PAGE_SIZE) | G_ALL | G_A | G_D;
	sx_write(race_gpa, (SX_DATA + PAGE_SIZE) | G_ALL);
	deny = true;
	CHECK_EQ(sx_fault(GVA + PAGE_SIZE, 0, NULL), MMU_FAULT_RETRY);
	CHECK(!deny);
	CHECK_EQ(sx.mmu.shadow.stats.retries, 1);
	CHECK_EQ(sx_leaf(GVA + PAGE_SIZE), 0);
	CHECK_EQ(sx_fault(GVA + PAGE_SIZE, 0, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(GVA + PAGE_SIZE, SX_DATA + 2 * PAGE_SIZE, true, true, true);
	sx_teardown();
}

/* Another vCPU stores to a guest table through its writable leaf while this fault starts shadowing that table: the
 * store lands after the walk (and its re-check) but before the write protection has reached that vCPU (its TLB
 * keeps W until the flush). The fault must see it, or its leaf stays stale with no write ever trapped to zap it. */
static gva_t race_w;
static gpa_t race_pte;

static void store_before_flush(gfn_t vpn, u64 old, u64 new, int level)
{
	if (level != 1 || vpn != gva_to_vpn(race_w, 4) || !(old & PTE_W) || (new &PTE_W))
		return;
	sx.hook = NULL;
	*(u64 *)phys_to_virt(sx_hpa(race_pte)) = (SX_DATA + 0x9000) | G_ALL | G_A | G_D;
}

TEST(shadow_track_store_racing_with_the_write_protection)
{
	sx_setup(64);
	CHECK_EQ(sx_load(), 0);
	race_pte = sx_map(sx.p.cr3, GVA, SX_DATA, 1, G_ALL | G_A, G_ALL | G_A | G_D);
	gpa_t pt = race_pte & ~(PAGE_SIZE - 1);
	/* The page table, mapped writable as data by another gva (its own page table) and written through it. */
	race_w = GVA + (8ULL << 21);
	sx_map(sx.p.cr3, race_w, pt, 1, G_ALL | G_A, G_ALL | G_A | G_D);
	CHECK_EQ(sx_fault(race_w, PFERR_WRITE, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(race_w, pt, true, true, true);
	CHECK_EQ(sx_track_count(pt >> PAGE_SHIFT), 0);
	sx.hook = store_before_flush;
	int r = sx_fault(GVA, 0, NULL);
	CHECK(!sx.hook); /* the store was made */
	CHECK_EQ(sx_read(race_pte), (SX_DATA + 0x9000) | G_ALL | G_A | G_D);
	sx_check_leaf(race_w, pt, false, true, true);
	/* Not mapped from the value the walk read: retried, then mapped from what the guest's entry holds. */
	CHECK_EQ(r, MMU_FAULT_RETRY);
	CHECK_EQ(sx_leaf(GVA), 0);
	CHECK_EQ(sx_fault(GVA, 0, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(GVA, SX_DATA + 0x9000, true, true, true);
	sx_teardown();
}
