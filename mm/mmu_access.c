/* Guest memory as the hypervisor reads and writes it: device models, loaders, the instruction emulator and the
 * guest page walker all come through here, so a write to a write-tracked gfn is seen by the users of tracking
 * whoever makes it. A write is applied page by page; each page of it that is tracked goes past every notifier's
 * pre_write (which may refuse it) and, once applied, their write hook.
 *
 * Ordering with a concurrent mmu_track_add_gfn on another CPU: a write that read "not tracked" may still land after
 * the add returns. The add's own caller decides when tracking starts (the VM's build for protect=, the guest's own
 * vCPU for its hypercall), and a write racing with that from another vCPU is ordered before it, as a guest store
 * racing with the hypercall would be on hardware. */
#include "mm/mmu.h"
#include "hv/bug.h"
#include "hv/errno.h"
#include "hv/log.h"
#include "hv/string.h"

/*
 * Private memory (mm/private.h): the hypervisor touches a private VM's RAM only where the page is shared now, through
 * either view (a device is handed GPAs with the shared bit). A private page is refused, every byte of the access
 * before any is copied, and said: the refusal is the first line of defence, the direct map's hole the second.
 * *gpa loses the shared bit. 0 or -EACCES.
 */
static int private_check(struct mmu *mmu, gpa_t *gpa, u64 len, const char *what)
{
	u64 bit = mmu->priv.shared_gfn << PAGE_SHIFT;

	if (!READ_ONCE(mmu->priv.enabled))
		return 0;
	*gpa &= ~bit;
	for (gpa_t g = *gpa & ~(gpa_t)(PAGE_SIZE - 1); g < *gpa + len; g += PAGE_SIZE) {
		if (!mmu_gfn_is_private(mmu, g >> PAGE_SHIFT))
			continue;
		if (__atomic_fetch_add(&mmu->priv.stats.refused, 1, __ATOMIC_RELAXED) < 16)
			pr_warn("hv: private memory: refused a hypervisor %s of %llu bytes at gpa 0x%llx: the page is private\n",
				what, (unsigned long long)len, (unsigned long long)*gpa);
		return -EACCES;
	}
	return 0;
}

/* The slot holding gpa's page, or NULL. */
static struct memslot *slot_of(struct mmu *mmu, gpa_t gpa)
{
	return (gpa >> PAGE_SHIFT) < PT_MAX_PFN ? memslot_find(&mmu->slots, gpa >> PAGE_SHIFT) : NULL;
}

/* Every byte of [gpa, gpa + len) is guest RAM. */
static bool is_ram(struct mmu *mmu, gpa_t gpa, u64 len)
{
	while (len) {
		u64 n = MIN(len, PAGE_SIZE - (gpa & (PAGE_SIZE - 1)));

		if (!slot_of(mmu, gpa))
			return false;
		gpa += n;
		len -= n;
	}
	return true;
}

/* The host address of gpa in slot s (cleared on first use, allocated again after a reclaim), valid until ram_put:
 * between the two the caller is inside a grace read section in which it saw the chunk clean, so reclaim
 * (mmu_reclaim.c), which marks the chunk and then waits for every such section, cannot free it under the access.
 * NULL with -ENOMEM in *err when a reclaimed chunk cannot be allocated again. No notifier may run in between (it
 * could take mmu->lock). */
static u8 *ram_get(const struct memslot *s, gpa_t gpa, int *err)
{
	gfn_t gfn = gpa >> PAGE_SHIFT;

	*err = 0;
	if (!(s->flags & MEMSLOT_RECLAIM)) { /* a chunk of it, once clean, stays so */
		if (!memslot_chunk_is_clean(s, gfn))
			*err = memslot_prepare(s, gfn, 1);
		return *err ? NULL : (u8 *)phys_to_virt(memslot_gfn_to_hpa(s, gfn)) + (gpa & (PAGE_SIZE - 1));
	}
	for (;;) {
		if (!memslot_chunk_is_clean(s, gfn))
			*err = memslot_prepare(s, gfn, 1);
		if (*err)
			return NULL;
		grace_read_lock();
		if (memslot_chunk_is_clean(s, gfn))
			return (u8 *)phys_to_virt(memslot_gfn_to_hpa(s, gfn)) + (gpa & (PAGE_SIZE - 1));
		grace_read_unlock(); /* reclaimed in between: bring it back */
	}
}

static void ram_put(const struct memslot *s)
{
	if (s->flags & MEMSLOT_RECLAIM)
		grace_read_unlock();
}

/* Copy n bytes (within one page) between buf and gpa in slot s, into guest RAM when to_guest: 0 or -ENOMEM. */
static int ram_copy(const struct memslot *s, gpa_t gpa, void *buf, u64 n, bool to_guest)
{
	int err;
	u8 *host = ram_get(s, gpa, &err);

	if (!host)
		return err;
	if (to_guest)
		memcpy(host, buf, n);
	else
		memcpy(buf, host, n);
	ram_put(s);
	return 0;
}

/* One slot lookup per page: this is on every emulated access and every guest page-walk step. */
int mmu_read_gpa(struct mmu *mmu, gpa_t gpa, void *buf, u64 len)
{
	u8 *p = buf;
	int r = private_check(mmu, &gpa, len, "read");

	if (r)
		return r;

	while (len) {
		struct memslot *s = slot_of(mmu, gpa);
		u64 n = MIN(len, PAGE_SIZE - (gpa & (PAGE_SIZE - 1)));

		if (!s)
			return -EFAULT;
		int err = ram_copy(s, gpa, p, n, false);
		if (err)
			return err;
		gpa += n;
		p += n;
		len -= n;
	}
	return 0;
}

int mmu_read_gpte(struct mmu *mmu, gpa_t gpa, void *buf, unsigned int len)
{
	int r = mmu_read_gpa(mmu, gpa, buf, len);

	if (r)
		memset(buf, 0xff, len);
	/* A private VM's tables are private: refused, and the walk meets all ones (private.h: no emulation there). */
	return r == -EACCES ? r : 0;
}

/* One range of mmu_gpa_equal, in slot s, its chunk checked to be in memory (under the grace section the caller
 * holds for a reclaimable slot). */
static bool range_equal(const struct memslot *s, const struct mmu_gpa_range *r)
{
	gfn_t gfn = r->gpa >> PAGE_SHIFT;
	const u8 *host;

	if (!memslot_chunk_is_clean(s, gfn))
		return false;
	host = (const u8 *)phys_to_virt(memslot_gfn_to_hpa(s, gfn)) + (r->gpa & (PAGE_SIZE - 1));
	if (r->len == 8) { /* a paging entry: one load */
		u64 a, b;
		__builtin_memcpy(&a, host, 8);
		__builtin_memcpy(&b, r->expect, 8);
		return a == b;
	}
	return !memcmp(host, r->expect, r->len);
}

int mmu_gpa_equal(struct mmu *mmu, const struct mmu_gpa_range *r, unsigned int n)
{
	const struct memslot *s = NULL;
	bool locked = false, eq = true;

	/* A private VM's code and tables are never the hypervisor's to read (vm/exit.c keeps its MMIO exits away). */
	if (READ_ONCE(mmu->priv.enabled))
		return 0;
	for (unsigned int i = 0; i < n && eq; i++) {
		gfn_t gfn = r[i].gpa >> PAGE_SHIFT;

		if ((r[i].gpa & (PAGE_SIZE - 1)) + r[i].len > PAGE_SIZE)
			eq = false;
		else if (!s || gfn - s->base_gfn >= s->npages)
			s = slot_of(mmu, r[i].gpa);
		if (!eq || !s) {
			eq = false;
			break;
		}
		/* A reclaimable chunk stays in memory from a look that finds it clean, inside a grace section, to the
		 * section's end (ram_get): one section for the whole check. */
		if ((s->flags & MEMSLOT_RECLAIM) && !locked) {
			grace_read_lock();
			locked = true;
		}
		eq = range_equal(s, &r[i]);
	}
	if (locked)
		grace_read_unlock();
	return eq;
}

const void *mmu_gpa_stable_hva(struct mmu *mmu, gpa_t gpa, u64 *gen)
{
	const struct memslot *s = slot_of(mmu, gpa);

	*gen = __atomic_load_n(&mmu->slots.generation, __ATOMIC_ACQUIRE);
	/* A chunk of a slot that is never reclaimed, once clean, keeps its frames (ram_get); a private VM's pages may
	 * leave the direct map, and are not the hypervisor's to read anyway. */
	if (!s || (s->flags & MEMSLOT_RECLAIM) || !memslot_chunk_is_clean(s, gpa >> PAGE_SHIFT) ||
	    READ_ONCE(mmu->priv.enabled))
		return NULL;
	return (const u8 *)phys_to_virt(memslot_gfn_to_hpa(s, gpa >> PAGE_SHIFT)) + (gpa & (PAGE_SIZE - 1));
}

static bool pre_write(struct mmu *mmu, void *who, gpa_t gpa, const void *bytes, unsigned int len)
{
	for (struct track_notifier *n = mmu->track.notifiers; n; n = n->next) {
		if (n->pre_write && n->pre_write(n, who, gpa, bytes, len) == TRACK_WRITE_DENY) {
			__atomic_fetch_add(&mmu->stats.tracked_writes_refused, 1, __ATOMIC_RELAXED);
			return false;
		}
	}
	return true;
}

static void post_write(struct mmu *mmu, void *who, gpa_t gpa, const void *bytes, unsigned int len,
		       const struct track_notifier *skip)
{
	__atomic_fetch_add(&mmu->stats.tracked_writes, 1, __ATOMIC_RELAXED);
	for (struct track_notifier *n = mmu->track.notifiers; n; n = n->next) {
		if (n->write && n != skip)
			n->write(n, who, gpa, bytes, len);
	}
}

int mmu_write_gpa(struct mmu *mmu, void *who, gpa_t gpa, const void *buf, u64 len)
{
	const u8 *p = buf;
	int r = private_check(mmu, &gpa, len, "write");

	if (r)
		return r;
	/* A write that crosses a page is checked whole first, so that -EFAULT never leaves part of it written; within
	 * one page the loop's own lookup decides. */
	if ((gpa & (PAGE_SIZE - 1)) + len > PAGE_SIZE && !is_ram(mmu, gpa, len))
		return -EFAULT;
	while (len) {
		struct memslot *s = slot_of(mmu, gpa);
		unsigned int n = MIN(len, PAGE_SIZE - (gpa & (PAGE_SIZE - 1)));

		if (!s)
			return -EFAULT;
		bool tracked = track_is_write_tracked(s, gpa >> PAGE_SHIFT);

		if (tracked && !pre_write(mmu, who, gpa, p, n)) {
			r = -EPERM;
		} else {
			int err = ram_copy(s, gpa, (void *)p, n, true);
			if (err)
				return err;
			if (tracked)
				post_write(mmu, who, gpa, p, n, NULL);
		}
		gpa += n;
		p += n;
		len -= n;
	}
	return r;
}

static int cmpxchg_gpa(struct mmu *mmu, void *who, gpa_t gpa, u64 old, u64 new, unsigned int len, u64 *cur,
		       const struct track_notifier *skip)
{
	struct memslot *s;
	bool tracked, ok;
	u8 *host;

	if (len != 1 && len != 2 && len != 4 && len != 8)
		return -EINVAL;
	/* Naturally aligned, as a locked access that the hardware makes atomically; a guest's split-lock access is
	 * emulated as such by its caller, not here. */
	if (gpa & (len - 1))
		return -EINVAL;
	if (private_check(mmu, &gpa, len, "compare-exchange"))
		return -EACCES;
	s = slot_of(mmu, gpa);
	if (!s)
		return -EFAULT;
	tracked = track_is_write_tracked(s, gpa >> PAGE_SHIFT);
	/* Asked before the compare, as the hardware's locked CMPXCHG writes the destination whether or not it matches
	 * (SDM Vol. 2A, CMPXCHG: a failed compare writes the old value back), so a write-protected page faults either
	 * way. */
	if (tracked && !pre_write(mmu, who, gpa, &new, len))
		return -EPERM;
	int err;
	host = ram_get(s, gpa, &err);
	if (!host)
		return err;
	switch (len) {
	case 1: {
		u8 e = (u8)old;
		ok = __atomic_compare_exchange_n((u8 *)host, &e, (u8)new, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		old = e;
		break;
	}
	case 2: {
		u16 e = (u16)old;
		ok = __atomic_compare_exchange_n((u16 *)host, &e, (u16)new, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		old = e;
		break;
	}
	case 4: {
		u32 e = (u32)old;
		ok = __atomic_compare_exchange_n((u32 *)host, &e, (u32)new, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		old = e;
		break;
	}
	default:
		ok = __atomic_compare_exchange_n((u64 *)host, &old, new, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		break;
	}
	ram_put(s);
	if (!ok) {
		if (cur)
			*cur = old;
		return -EAGAIN;
	}
	if (tracked)
		post_write(mmu, who, gpa, &new, len, skip);
	return 0;
}

int mmu_cmpxchg_gpa(struct mmu *mmu, void *who, gpa_t gpa, u64 old, u64 new, unsigned int len, u64 *cur)
{
	return cmpxchg_gpa(mmu, who, gpa, old, new, len, cur, NULL);
}

/* The shadow MMU's write hook is skipped: setting A or D grants more, never less, so no shadow entry built from the
 * entry before is wrong afterwards (a leaf mapped read-only for a clean D stays read-only until the write faults).
 * Every other tracking user, a protection that may refuse the update included, sees it as any write. */
int mmu_cmpxchg_gpa_ad(struct mmu *mmu, void *who, gpa_t gpa, u64 old, u64 new, unsigned int len, u64 *cur)
{
	return cmpxchg_gpa(mmu, who, gpa, old, new, len, cur, &mmu->shadow.notifier);
}
