/* Unit tests of a guest store racing with the sync that a fault's walk makes when it links an unsync page, or an upper
 * page with unsync pages below, under a new parent (mm/shadow/sshare.c, sfault.c): the walk read the leaf table's
 * entry while the table was unsync, and another vCPU stores to it through its writable leaf until the sync's write
 * protection and flush reach it. As for a new shadow page (test_shadow_track.c's store racing with the write
 * protection), the fault must not then make a leaf from the value its walk read: nothing traps that store once the
 * table is in sync, so the leaf would stay stale for good (KVM's FNAME(fetch) checks gpte_changed at every level
 * after linking, found pages included). */
#include "shadow_fixture.h"

#define KVA   0xffff888000201000ULL /* PML4 entry 273, PD entry 1, PT entry 1 */
#define ALIAS (KVA + (1ULL << 21))  /* PD entry 2, which the guest points to KVA's page table too */
#define SUP   (G_P | G_RW)
#define RACED ((SX_DATA + 0x9000) | SUP | G_A | G_D)

static unsigned int gidx(gva_t gva, int level)
{
	return (gva >> (PAGE_SHIFT + 9 * (level - 1))) & (PT_ENTRIES - 1);
}

/* The other vCPU's store, into KVA's PTE, made when the writable leaf of the page table (at KVA + 4K) loses W. */
static gpa_t race_pte;

static void store_before_flush(gfn_t vpn, u64 old, u64 new, int level)
{
	if (level != 1 || vpn != gva_to_vpn(KVA + PAGE_SIZE, 4) || !(old & PTE_W) || (new &PTE_W))
		return;
	sx.hook = NULL;
	*(u64 *)phys_to_virt(sx_hpa(race_pte)) = RACED;
}

/* KVA mapped and faulted in under cr3, its page table unsync through a write at KVA + 4K, which maps it. */
static struct spage *unsync_kva(u64 cr3)
{
	race_pte = sx_map(cr3, KVA, SX_DATA, 1, SUP, SUP | G_D);
	sx_switch(cr3);
	CHECK_EQ(sx_fault(KVA, 0, NULL), MMU_FAULT_FIXED);
	sx_map(cr3, KVA + PAGE_SIZE, race_pte & ~(PAGE_SIZE - 1), 1, SUP, SUP | G_D);
	CHECK_EQ(sx_fault(KVA + PAGE_SIZE, PFERR_WRITE, NULL), MMU_FAULT_FIXED);
	struct spage *pt = sx_spage_of(race_pte >> PAGE_SHIFT);
	CHECK(pt && pt->unsync);
	return pt;
}

/* The fault at gva that links the unsync table (or its directory) below a new parent, with the store racing with
 * its sync: retried, or mapped from the stored value, never from the one the walk read. */
static void fault_with_racing_store(gva_t gva, struct spage *pt)
{
	sx.hook = store_before_flush;
	int r = sx_fault(gva, 0, NULL);
	CHECK(!sx.hook); /* the store was made */
	CHECK(!pt->unsync);
	CHECK_EQ(sx_track_count(pt->gfn), 1); /* in sync, write-protected: no later store of it goes unseen */
	CHECK_EQ(sx_read(race_pte), RACED);
	if (r == MMU_FAULT_RETRY)
		r = sx_fault(gva, 0, NULL);
	CHECK_EQ(r, MMU_FAULT_FIXED);
	sx_check_leaf(gva, SX_DATA + 0x9000, true, false, true);
}

/* Fails on 59e71df: __shadow_map re-reads the guest entry only below a shadow page it created (`fresh`), not below
 * an unsync one __spage_get found and synced; the leaf maps SX_DATA, the value the walk read. */
TEST(shadow_unsync_race_store_during_the_sync_of_a_table_linked_below_a_new_parent)
{
	sx_setup(64);
	sx.mmu.shadow.allow_unsync = true;
	u64 cr3 = sx.p.cr3;
	struct spage *pt = unsync_kva(cr3);
	/* Another PDE of the same directory points to the page table: ALIAS's fault links its shadow page there. */
	sx_write(sx_gpte_gpa(cr3, ALIAS, 2), sx_read(sx_gpte_gpa(cr3, KVA, 2)));
	fault_with_racing_store(ALIAS, pt);
	sx_check_leaf(KVA, SX_DATA + 0x9000, true, false, true); /* the same leaf */
	sx_teardown();
}

/* Fails on 59e71df: the same for a page table synced by __shadow_sync_children when its directory is linked below a
 * new parent; the walk then finds the page table's shadow already linked below the directory and checks nothing. */
TEST(shadow_unsync_race_store_during_the_sync_below_a_directory_linked_below_a_new_parent)
{
	sx_setup(64);
	sx.mmu.shadow.allow_unsync = true;
	u64 a = sx.p.cr3, b = sx_new_table();
	struct spage *pt = unsync_kva(a);
	/* B's own PDPT points to A's page directory: B's walk links A's directory's shadow below a new parent. */
	gpa_t pdpt_b = sx_new_table();
	sx_write(pdpt_b + gidx(KVA, 3) * 8, sx_read(sx_gpte_gpa(a, KVA, 3)));
	sx_write(b + gidx(KVA, 4) * 8, pdpt_b | SUP);
	sx_switch(b);
	CHECK(pt->unsync); /* B reaches nothing yet */
	fault_with_racing_store(KVA, pt);
	sx_switch(a);
	sx_check_leaf(KVA, SX_DATA + 0x9000, true, false, true);
	sx_teardown();
}
