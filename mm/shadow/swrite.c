/* Guest writes to shadowed page tables. Every such write was trapped (the table is write-protected through write
 * tracking), applied by the hypervisor, and reaches shadow_track_write through the tracking notifier: the shadow
 * entries built from the written guest entries are zapped, so the next access faults and rebuilds them from what
 * the guest wrote. Linux's set_pte, ptep_get_and_clear, ptep_set_wrprotect and clear_bit all arrive here, each as
 * one emulated write (MOV, XCHG, CMPXCHG, a locked bit operation).
 *
 * A write is cut into the guest entries it touches, in the table's own entry size (4 bytes for a 32-bit guest's
 * tables, 8 otherwise), and each guest entry into the shadow entries made from it, which depend on the shadow page's
 * quadrant for a 32-bit table (shadow_internal.h): two 2 MiB entries for a 4 MiB guest PDE, none in the shadow page
 * of the other half of the table. A write within one entry is the normal case; one that spans two entries is
 * "misaligned" (KVM's detect_write_misaligned), which no OS's PTE update is.
 *
 * PAE half-writes. A 32-bit guest with PAE paging updates an 8-byte entry with two 4-byte stores (Linux's set_pte
 * writes the high half, then the low one; ptep_get_and_clear the low, then the high). Each half is a write of the
 * whole entry (KVM widens it to the 8-byte gpte): its shadow entry is zapped, and the next fault walks the entry as
 * memory holds it then, as the CPU would, torn or not. For write flooding the two halves of one entry, one after
 * the other, are merged into one write: otherwise every PAE PTE update would count twice.
 *
 * Write flooding (after KVM): a guest table written 3 times with no fault through its shadow in between is most
 * likely no longer a page table (the guest reuses the page), so its shadow page is zapped and the gfn's tracking
 * reference dropped: the guest writes it at full speed again. A misaligned write is taken as the same sign. A root
 * is zapped for flooding too, alone (KVM's "zap only obsolete roots", which zaps a root of any format): a process's
 * exit frees its PGD, whose frame the guest then reuses, and its root, kept in the vCPUs' caches, would otherwise
 * trap every store to that frame for good. The root becomes obsolete and each vCPU drops it (a vCPU whose current
 * root it is reloads). That holds for a 4-level root's table, and for the directories of a PAE-format root: a 32-bit
 * guest's directory (shadowed by all four, one quadrant each) or a PAE guest's directory its PDPTEs name; such a
 * root goes whole (__shadow_zap_root says why the PDPTE registers' semantics stay intact). The root's use that
 * resets its count (all its directories' counts) is any fault through it. A misaligned write to a root's table
 * zaps only the written entries. */
#include "hv/bug.h"
#include "mm/shadow/shadow_internal.h"

#define FLOOD_WRITES 3

/* A write of one 4-byte half of an 8-byte guest entry. */
static bool is_half_write(const struct spage *sp, unsigned int off, unsigned int len)
{
	return len == 4 && !(off & 3) && spage_gpte_size(sp) == 8;
}

static void __zap_gpte(struct mmu *mmu, struct spage *sp, unsigned int gidx)
{
	u64 *spt = phys_to_virt(sp->hpa);
	unsigned int first, n = spage_gpte_sptes(sp, gidx, &first);

	for (unsigned int i = first; i < first + n; i++) {
		if (!__atomic_load_n(&spt[i], __ATOMIC_RELAXED))
			continue;
		__shadow_set_sptep(mmu, &spt[i], sp->vpn + i * pt_level_pages(sp->role.level), sp->role.level, 0);
		mmu->shadow.stats.sptes_zapped_by_writes++;
	}
}

/* Returns true when it zapped a root (the caller asks the vCPUs to drop obsolete roots after the unlock). */
static bool __write_one(struct mmu *mmu, struct spage *sp, gpa_t gpa, unsigned int len)
{
	unsigned int off = gpa & (PAGE_SIZE - 1), gsize = spage_gpte_size(sp);
	unsigned int first = off / gsize, last = (off + len - 1) / gsize;
	bool misaligned = first != last, half = is_half_write(sp, off, len);
	/* The other half of the entry whose half the previous write to this table wrote. */
	bool merged = half && sp->half_written == (off ^ 4) + 1;
	/* A root's table (a 4-level root's, a PAE-format root's directory) goes only with its root, for flooding. */
	bool root = spage_is_pinned(sp);

	assert_write_held(&mmu->lock);
	mmu->shadow.stats.pte_writes++;
	sp->half_written = half && !merged ? off + 1 : 0;
	if (merged)
		mmu->shadow.stats.half_writes_merged++;
	else if (!misaligned)
		sp->write_count++;
	if (root && sp->write_count >= FLOOD_WRITES) {
		mmu->shadow.stats.flood_zaps++;
		__shadow_zap_root(mmu, sp);
		return true;
	}
	if (!root && (misaligned || sp->write_count >= FLOOD_WRITES)) {
		mmu->shadow.stats.flood_zaps++;
		__spage_zap(mmu, sp); /* from every parent: a shared table is flooded for all of them */
		return false;
	}
	for (unsigned int g = first; g <= last; g++)
		__zap_gpte(mmu, sp, g);
	return false;
}

static void shadow_track_write(struct track_notifier *n, void *who, gpa_t gpa, const void *bytes, unsigned int len)
{
	struct mmu *mmu = container_of(n, struct mmu, shadow.notifier);
	gfn_t gfn = gpa >> PAGE_SHIFT;
	struct spage *sp;

	write_lock(&mmu->lock);
	/* Any zap may free shadow pages of this very chain (a guest table that maps itself): each shadow page of the
	 * gfn is handled once (marked with this write's number), and the scan starts over after each. */
	u64 seq = ++mmu->shadow.write_seq;
	bool root_zapped = false;
	for (bool again = true; again;) {
		again = false;
		for_each_spage_of_gfn(mmu, sp, gfn) {
			if (sp->write_seq == seq)
				continue;
			sp->write_seq = seq;
			root_zapped |= __write_one(mmu, sp, gpa, len);
			again = true;
			break;
		}
	}
	__mmu_flush_and_free(mmu);
	write_unlock(&mmu->lock);
	if (root_zapped)
		mmu->ops->request_free_obsolete_roots(mmu->owner);
}

void shadow_mmu_init(struct mmu *mmu, u64 max_pages)
{
	mmu->shadow.enabled = true;
	mmu->shadow.max_pages = max_pages;
	mmu->shadow.notifier.write = shadow_track_write;
	mmu_track_register_notifier(mmu, &mmu->shadow.notifier);
}
