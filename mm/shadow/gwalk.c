/* The guest page-table walker (see gwalk.h): one loop serves the paging formats, which differ only in entry width,
 * index bits per level, the top level and reserved-bit masks. Nothing a guest puts in its tables can make it loop,
 * read past an entry, or fail other than with a #PF description or a callback's error.
 *
 *   cr3 ──> level 5 (PML5) ──> level 4 (PML4) ──> level 3 (PDPT) ──> level 2 (PD) ──> level 1 (PT) ──> 4K page
 *                                                     │ PS: 1G page        │ PS: 2M page (4M in 32-bit paging)
 *   5-level: levels 5..1, 9 index bits each (gva bits 56:12), 8-byte entries  } IA-32e paging: leaves carry a
 *   4-level: levels 4..1, 9 index bits each (gva bits 47:12), 8-byte entries  } protection key with CR4.PKE
 *   PAE:     levels 3..1, level 3 holds the 4 PDPTEs (no A bit, no R/W, U/S or XD), 8-byte entries
 *   32-bit:  levels 2..1, 10 index bits each, 4-byte entries, no XD
 */
#include "mm/shadow/gwalk.h"

#include "hv/errno.h"
#include "hv/string.h"

/* Restarts after losing an A/D race, before the caller is told to retry (it re-enters the guest). */
#define GWALK_MAX_RESTARTS 8
#define GWALK_RESTART	   1

/* IA-32e paging is 4-level or 5-level paging: the same entries, one more level on top with CR4.LA57. */
enum gwalk_format { FMT_32BIT, FMT_PAE, FMT_IA32E };

struct walker {
	const struct gwalk_mode *mode;
	enum gwalk_format fmt;
	unsigned int top;    /* the level cr3 points to: 2, 3, 4 or 5 */
	unsigned int maxphy; /* MAXPHYADDR clamped to 32..52 */
	unsigned int esize;  /* entry size in bytes */
	u64 rsvd_nx;	     /* bit 63 when it is reserved (XD without EFER.NXE) */
	u32 access;
};

/* Bits h..l, or nothing when l > h (MAXPHYADDR 52 leaves no reserved address bits). */
static u64 bits(unsigned int h, unsigned int l)
{
	return l > h ? 0 : GENMASK_ULL(h, l);
}

static unsigned int level_shift(const struct walker *w, unsigned int level)
{
	if (w->fmt == FMT_32BIT)
		return 12 + 10 * (level - 1);
	return 12 + 9 * (level - 1);
}

static unsigned int level_index(const struct walker *w, gva_t gva, unsigned int level)
{
	unsigned int shift = level_shift(w, level);

	if (w->fmt == FMT_32BIT)
		return (gva >> shift) & 0x3ff;
	if (w->fmt == FMT_PAE && level == 3)
		return (gva >> shift) & 0x3;
	return (gva >> shift) & 0x1ff;
}

/* Whether a present entry at this level maps a page rather than pointing to the next table. */
static bool is_leaf(const struct walker *w, u64 pte, unsigned int level)
{
	if (level == 1)
		return true;
	if (!(pte & GPTE_PS))
		return false;
	switch (w->fmt) {
	case FMT_32BIT:
		return level == 2 && w->mode->pse;
	case FMT_PAE:
		return level == 2; /* PS in a PDPTE is reserved, so it never gets here */
	case FMT_IA32E:
		return level == 2 || level == 3; /* PS in a PML5E or PML4E, or without 1G pages, is reserved */
	}
	return false;
}

/* Reserved bits of a present entry (SDM Vol. 3A, tables 4-4 to 4-19). */
static u64 rsvd_mask(const struct walker *w, u64 pte, unsigned int level)
{
	unsigned int m = w->maxphy;
	bool ps = pte & GPTE_PS;

	switch (w->fmt) {
	case FMT_32BIT:
		/* A 4M PDE holds physical bits (M-1):32 in bits (M-20):13, M = min(MAXPHYADDR, 40) (PSE-36); bits
		 * 21:(M-19) are reserved. Nothing else is reserved in 32-bit paging. */
		if (level == 2 && ps && w->mode->pse)
			return bits(21, MIN(m, 40u) - 19);
		return 0;
	case FMT_PAE:
		if (level == 3)
			return gwalk_pdpte_rsvd((u8)m);
		return bits(62, m) | w->rsvd_nx | (level == 2 && ps ? bits(20, 13) : 0);
	case FMT_IA32E:
		/* Bits 62:52 are ignored (62:59 are the protection key of a leaf with CR4.PKE): never reserved. */
		switch (level) {
		case 5:
		case 4:
			return bits(51, m) | w->rsvd_nx | GPTE_PS;
		case 3:
			if (!ps)
				return bits(51, m) | w->rsvd_nx;
			return bits(51, m) | w->rsvd_nx | (w->mode->gbpages ? bits(29, 13) : GPTE_PS);
		case 2:
			return bits(51, m) | w->rsvd_nx | (ps ? bits(20, 13) : 0);
		default:
			return bits(51, m) | w->rsvd_nx;
		}
	}
	return 0;
}

static unsigned int clamp_maxphy(u8 maxphyaddr)
{
	return MIN(MAX(maxphyaddr, 32u), 52u);
}

u64 gwalk_pdpte_rsvd(u8 maxphyaddr)
{
	return bits(63, clamp_maxphy(maxphyaddr)) | bits(8, 5) | bits(2, 1);
}

int gwalk_load_pdptes(const struct gwalk_ops *ops, void *opaque, u64 cr3, u8 maxphyaddr, u64 out[4])
{
	u64 pdpte[4], rsvd = gwalk_pdpte_rsvd(maxphyaddr);

	for (unsigned int i = 0; i < 4; i++) {
		int r = ops->read_gpa(opaque, (cr3 & 0xffffffe0) + i * 8, &pdpte[i], 8);
		if (r)
			return r < 0 ? r : -EIO;
		if ((pdpte[i] & GPTE_P) && (pdpte[i] & rsvd))
			return -EINVAL;
	}
	memcpy(out, pdpte, sizeof(pdpte));
	return 0;
}

/* The physical address a leaf maps gva to. */
static gpa_t leaf_gpa(const struct walker *w, u64 pte, unsigned int level, gva_t gva)
{
	if (w->fmt == FMT_32BIT) {
		if (level == 1)
			return (pte & 0xfffff000) | (gva & 0xfff);
		/* PSE-36: bits 20:13 of the PDE are physical bits 39:32 (the reserved ones were checked to be 0). */
		return (pte & 0xffc00000) | (((pte >> 13) & 0xff) << 32) | (gva & 0x3fffff);
	}
	u64 size = 1ULL << level_shift(w, level);
	return (pte & GENMASK_ULL(51, 12) & ~(size - 1)) | (gva & (size - 1));
}

static bool is_user_access(u32 access)
{
	return (access & GWALK_USER) && !(access & GWALK_IMPLICIT);
}

/* The error code describes the access, not the entry; I/D only where the SDM reports it. */
static u32 pf_error_code(const struct walker *w, bool present, bool rsvd)
{
	const struct gwalk_mode *mode = w->mode;
	u32 ec = w->access & PFERR_WRITE;

	if (is_user_access(w->access))
		ec |= PFERR_USER;
	if ((w->access & GWALK_FETCH) && (mode->smep || (mode->nxe && w->fmt != FMT_32BIT)))
		ec |= PFERR_FETCH;
	if (present || rsvd)
		ec |= PFERR_PRESENT;
	if (rsvd)
		ec |= PFERR_RSVD;
	return ec;
}

/* SDM Vol. 3A, 4.6.1: may this access use a translation with these accumulated permissions? Protection keys are
 * pkru_denies()'s business. */
static bool access_allowed(const struct walker *w, u8 perm)
{
	const struct gwalk_mode *mode = w->mode;
	bool write = w->access & GWALK_WRITE, fetch = w->access & GWALK_FETCH;
	bool implicit = w->access & GWALK_IMPLICIT;

	if (is_user_access(w->access)) {
		if (!(perm & GWALK_PERM_U))
			return false;
		if (write && !(perm & GWALK_PERM_W))
			return false;
		return !(fetch && !(perm & GWALK_PERM_X));
	}
	if (fetch) {
		if (!(perm & GWALK_PERM_X))
			return false;
		if (mode->smep && (perm & GWALK_PERM_U))
			return false;
	}
	if (!fetch && mode->smap && (perm & GWALK_PERM_U) && (implicit || !mode->ac))
		return false;
	return !(write && !(perm & GWALK_PERM_W) && mode->wp);
}

/*
 * SDM Vol. 3A, 4.6.2: does PKRU deny this access to the page the leaf maps? Only in IA-32e paging with CR4.PKE, only
 * for data accesses (fetches never consult PKRU) and only to user-mode addresses (U/S set at every level): the key of
 * a supervisor-mode address is ignored. Supervisor-mode accesses, implicit ones included, are subject to it like
 * user-mode ones, except that WD stops their writes only with CR0.WP (4.6.1 lets a supervisor write with WP = 0 reach
 * any user-mode address "with a protection key for which write access is permitted", i.e. AD = 0).
 */
static bool pkru_denies(const struct walker *w, u8 perm, u64 leaf)
{
	const struct gwalk_mode *mode = w->mode;
	unsigned int key = gwalk_pte_pkey(leaf);

	if (w->fmt != FMT_IA32E || !mode->pke || (w->access & GWALK_FETCH) || !(perm & GWALK_PERM_U))
		return false;
	if (mode->pkru & PKRU_AD(key))
		return true;
	return (w->access & GWALK_WRITE) && (mode->pkru & PKRU_WD(key)) && (is_user_access(w->access) || mode->wp);
}

static int read_entry(const struct walker *w, const struct gwalk_ops *ops, void *opaque, gpa_t gpa, u64 *pte)
{
	u32 e32 = 0;
	u64 e64 = 0;
	int r;

	if (w->esize == 4)
		r = ops->read_gpa(opaque, gpa, &e32, 4);
	else
		r = ops->read_gpa(opaque, gpa, &e64, 8);
	if (r)
		return r < 0 ? r : -EIO;
	*pte = w->esize == 4 ? e32 : e64;
	return 0;
}

static void set_pf(struct gwalk_result *res, const struct walker *w, unsigned int level, bool present, bool rsvd)
{
	res->fault = GWALK_FAULT_PF;
	res->fault_level = level;
	res->error_code = pf_error_code(w, present, rsvd);
}

/* Set A on every entry walked and D on the leaf for a write. GWALK_RESTART when an entry changed under us. */
static int update_ad(const struct walker *w, const struct gwalk_ops *ops, void *opaque, struct gwalk_result *res)
{
	for (unsigned int level = res->top_level; level >= res->level; level--) {
		u64 old = res->pte[level], new = old | GPTE_A;
		int r;

		if (w->fmt == FMT_PAE && level == 3)
			continue; /* PDPTEs have no accessed flag */
		if (level == res->level && (w->access & GWALK_WRITE))
			new |= GPTE_D;
		if (new == old)
			continue;
		r = ops->cmpxchg_gpa(opaque, res->pte_gpa[level], old, new, w->esize);
		if (r == -EAGAIN)
			return GWALK_RESTART;
		if (r)
			return r < 0 ? r : -EIO;
		res->pte[level] = new;
	}
	return 0;
}

static int walk_once(const struct walker *w, u64 cr3, gva_t gva, const struct gwalk_ops *ops, void *opaque,
		     struct gwalk_result *res)
{
	unsigned int level;
	gpa_t table;
	u8 perm = GWALK_PERM_W | GWALK_PERM_U | GWALK_PERM_X;
	bool ad_missing = false; /* an A (or, for a write, the leaf's D) bit update_ad must set */
	bool pk;

	memset(res, 0, sizeof(*res));
	switch (w->fmt) {
	case FMT_32BIT:
		table = cr3 & 0xfffff000;
		break;
	case FMT_PAE:
		table = cr3 & 0xffffffe0;
		break;
	default:
		table = cr3 & GENMASK_ULL(51, 12);
		break;
	}
	level = w->top;
	res->top_level = level;

	for (;; level--) {
		gpa_t gpa = table + (gpa_t)level_index(w, gva, level) * w->esize;
		u64 pte;

		if (w->fmt == FMT_PAE && level == 3 && w->mode->pdptes) {
			pte = w->mode->pdptes[level_index(w, gva, level)];
		} else {
			int r = read_entry(w, ops, opaque, gpa, &pte);
			if (r)
				return r;
		}
		res->pte[level] = pte;
		res->pte_gpa[level] = gpa;

		if (!(pte & GPTE_P)) {
			set_pf(res, w, level, false, false);
			return 0;
		}
		if (pte & rsvd_mask(w, pte, level)) {
			set_pf(res, w, level, true, true);
			return 0;
		}
		/* PAE PDPTEs carry no permissions; elsewhere every level narrows them. */
		if (!(w->fmt == FMT_PAE && level == 3)) {
			if (!(pte & GPTE_RW))
				perm &= ~GWALK_PERM_W;
			if (!(pte & GPTE_US))
				perm &= ~GWALK_PERM_U;
			if (w->fmt != FMT_32BIT && w->mode->nxe && (pte & GPTE_NX))
				perm &= ~GWALK_PERM_X;
			ad_missing |= !(pte & GPTE_A);
		}
		if (is_leaf(w, pte, level)) {
			ad_missing |= (w->access & GWALK_WRITE) && !(pte & GPTE_D);
			res->level = level;
			res->gpa = leaf_gpa(w, pte, level, gva);
			res->page_size = 1ULL << level_shift(w, level);
			break;
		}
		table = w->fmt == FMT_32BIT ? (pte & 0xfffff000) : (pte & GENMASK_ULL(51, 12));
	}

	res->perm = perm;
	/* PK reports PKRU's denial even when paging denies the access too (SDM Vol. 3A 4.7 defines the bit by PKRU
	 * alone), so both are checked and either faults. */
	pk = pkru_denies(w, perm, res->pte[res->level]);
	if (!access_allowed(w, perm) || pk) {
		set_pf(res, w, res->level, true, false);
		if (pk)
			res->error_code |= PFERR_PK;
		return 0;
	}
	/* Most walks find every bit set already: the update, and its compare-exchanges, only when one is not. */
	if (ops->cmpxchg_gpa && ad_missing)
		return update_ad(w, ops, opaque, res);
	return 0;
}

int gwalk(const struct gwalk_mode *mode, u64 cr3, gva_t gva, u32 access, const struct gwalk_ops *ops, void *opaque,
	  struct gwalk_result *res)
{
	struct walker w = {.mode = mode, .access = access};

	memset(res, 0, sizeof(*res));
	if (!mode->pg) {
		res->gpa = (u32)gva;
		res->page_size = PAGE_SIZE;
		res->perm = GWALK_PERM_W | GWALK_PERM_U | GWALK_PERM_X;
		return 0;
	}
	/* EFER.LMA implies PAE; a caller passing LMA without PAE still gets IA-32e paging, as LMA decides. CR4.LA57
	 * means something only with it. */
	if (mode->lma) {
		if (mode->la57 ? !gwalk_is_canonical_la57(gva) : !gwalk_is_canonical(gva)) {
			res->fault = GWALK_FAULT_NONCANONICAL;
			return 0;
		}
		w.fmt = FMT_IA32E;
		w.top = mode->la57 ? 5 : 4;
	} else {
		gva = (u32)gva;
		w.fmt = mode->pae ? FMT_PAE : FMT_32BIT;
		w.top = mode->pae ? 3 : 2;
	}
	w.esize = w.fmt == FMT_32BIT ? 4 : 8;
	w.maxphy = clamp_maxphy(mode->maxphyaddr);
	w.rsvd_nx = mode->nxe ? 0 : GPTE_NX;

	for (unsigned int i = 0; i < GWALK_MAX_RESTARTS; i++) {
		int r = walk_once(&w, cr3, gva, ops, opaque, res);
		if (r != GWALK_RESTART)
			return r;
	}
	return -EAGAIN;
}

u64 gwalk_pte_rsvd(const struct gwalk_mode *mode)
{
	struct walker w = { .mode = mode, .maxphy = clamp_maxphy(mode->maxphyaddr),
			    .rsvd_nx = mode->nxe ? 0 : GPTE_NX };

	w.fmt = mode->lma ? FMT_IA32E : mode->pae ? FMT_PAE : FMT_32BIT;
	return rsvd_mask(&w, 0, 1);
}
