/* The reference model of the guest page walk (gwalk_model.h). Each paging format is spelled out by itself, in the
 * order of the SDM's tables of entry formats (Vol. 3A 4.3: 32-bit, 4.4: PAE, 4.5: 4-level and 5-level), and the
 * access rights follow the list of 4.6.1 item by item, with 4.6.2's protection keys where it names them. */
#include <string.h>

#include "gwalk_model.h"
#include "hv/errno.h"

struct path {
	const struct gwalk_mode *m;
	u32 access;
	gmodel_read_fn read;
	void *ctx;
	struct gmodel *out;
	unsigned int M; /* MAXPHYADDR, clamped as gwalk.h says */
	bool ia32e;	/* 4-level or 5-level paging: leaves have protection keys */
	bool xd;	/* the format has XD bits: PAE or IA-32e paging with EFER.NXE */
	/* What the entries on the path grant, so far. */
	bool user_addr;	 /* U/S = 1 in every entry that has one: a user-mode address (4.6.1) */
	bool writable;	 /* R/W = 1 in every one */
	bool executable; /* XD = 0 in every one (always, without XD bits) */
};

/* Bits hi..lo, built bit by bit; none when lo > hi. */
static u64 mask(int hi, int lo)
{
	u64 m = 0;

	for (int b = lo; b <= hi; b++)
		m |= 1ULL << b;
	return m;
}

/* The error code's access bits (4.7): W/R, U/S for user-mode accesses, I/D for fetches with SMEP or with XD bits. */
static u32 access_bits(const struct path *p)
{
	u32 ec = 0;

	if (p->access & GWALK_WRITE)
		ec |= PFERR_WRITE;
	if ((p->access & GWALK_USER) && !(p->access & GWALK_IMPLICIT))
		ec |= PFERR_USER;
	if ((p->access & GWALK_FETCH) && (p->m->smep || p->xd))
		ec |= PFERR_FETCH;
	return ec;
}

static void fault(struct path *p, unsigned int level, u32 why)
{
	p->out->res.fault = GWALK_FAULT_PF;
	p->out->res.fault_level = (u8)level;
	p->out->res.error_code = why | access_bits(p);
}

static void not_present(struct path *p, unsigned int level)
{
	fault(p, level, 0);
}

static void reserved(struct path *p, unsigned int level)
{
	fault(p, level, PFERR_PRESENT | PFERR_RSVD);
}

/* Reads the entry of `level` at gpa into e, and notes it in the result. False when the read failed (out->ret). */
static bool load(struct path *p, unsigned int level, gpa_t gpa, unsigned int size, u64 *e)
{
	u64 v = 0; /* a 4-byte entry lands in the low half: the host is little-endian, like the guest */
	int r = p->read(p->ctx, gpa, &v, size);

	if (r) {
		p->out->ret = r < 0 ? r : -EIO;
		return false;
	}
	p->out->res.pte[level] = v;
	p->out->res.pte_gpa[level] = gpa;
	*e = v;
	return true;
}

/* A present entry that controls the translation narrows its rights (PAE PDPTEs do not: they have no such bits). */
static void narrow(struct path *p, u64 e)
{
	if (!(e & GPTE_US))
		p->user_addr = false;
	if (!(e & GPTE_RW))
		p->writable = false;
	if (p->xd && (e & GPTE_NX))
		p->executable = false;
}

/* The translation is complete: is the access allowed (4.6)? If it is, which A/D bits it sets (4.8). */
static void leaf(struct path *p, unsigned int level, u64 e, gpa_t gpa, u64 size)
{
	const struct gwalk_mode *m = p->m;
	struct gwalk_result *res = &p->out->res;
	bool fetch = p->access & GWALK_FETCH, write = p->access & GWALK_WRITE;
	bool implicit = p->access & GWALK_IMPLICIT;
	bool user_mode = (p->access & GWALK_USER) && !implicit;
	/* 4.6.2: with IA-32e paging and CR4.PKE, the key of a user-mode address (bits 62:59 of the entry that maps the
	 * page) controls data accesses to it; the key of a supervisor-mode address is ignored. */
	bool keys = p->ia32e && m->pke && p->user_addr && !fetch;
	unsigned int key = (unsigned int)(e >> 59) & 15;
	bool ad = keys && ((m->pkru >> (2 * key)) & 1);
	bool wd = keys && ((m->pkru >> (2 * key + 1)) & 1);
	/* ADi = 1: no data access. WDi = 1: no user-mode write, and no supervisor-mode write if CR0.WP = 1. */
	bool key_reads = !ad;
	bool key_writes = !ad && !(wd && (user_mode || m->wp));
	bool ok;

	res->level = (u8)level;
	res->gpa = gpa;
	res->page_size = size;
	res->perm =
	    (p->writable ? GWALK_PERM_W : 0) | (p->user_addr ? GWALK_PERM_U : 0) | (p->executable ? GWALK_PERM_X : 0);

	if (fetch) {
		/* User-mode fetches: user-mode addresses without XD. Supervisor-mode fetches: any address without XD,
		 * except user-mode ones under SMEP. */
		if (user_mode)
			ok = p->user_addr && p->executable;
		else
			ok = p->executable && !(p->user_addr && m->smep);
	} else if (!user_mode && p->user_addr && m->smap && (implicit || !m->ac)) {
		/* Supervisor-mode data accesses to user-mode addresses with CR4.SMAP: none if implicit or AC = 0. */
		ok = false;
	} else if (!write) {
		/* Reads: user-mode accesses reach user-mode addresses only; both reach those whose key permits it. */
		ok = user_mode ? p->user_addr && key_reads : !p->user_addr || key_reads;
	} else if (user_mode) {
		ok = p->user_addr && p->writable && key_writes;
	} else {
		/* Supervisor-mode writes: R/W counts only with CR0.WP; to a user-mode address the key must permit. */
		ok = (!m->wp || p->writable) && (!p->user_addr || key_writes);
	}
	if (!ok) {
		/* 4.7: PK is 1 when PKRU denies a data access to a user-mode address, whatever else denies it too. */
		bool pk = keys && !(write ? key_writes : key_reads);

		fault(p, level, PFERR_PRESENT | (pk ? PFERR_PK : 0));
		return;
	}
	/* 4.8: A in every entry used (PAE PDPTEs have none), D in the one that maps the page for a write. */
	for (unsigned int l = res->top_level; l >= level; l--) {
		if (l == 3 && !p->ia32e && m->pae)
			continue;
		p->out->ad[l] = GPTE_A & ~res->pte[l];
	}
	if (write)
		p->out->ad[level] |= GPTE_D & ~res->pte[level];
}

/* 32-bit paging (4.3, tables 4-4 to 4-6). */
static void walk_32bit(struct path *p, u64 cr3, u32 va)
{
	u64 pde, pte;

	p->out->res.top_level = 2;
	/* The PDE: bits 31:12 from CR3, bits 11:2 from linear-address bits 31:22. */
	if (!load(p, 2, (cr3 & 0xfffff000) | ((va >> 22) << 2), 4, &pde))
		return;
	if (!(pde & GPTE_P)) {
		not_present(p, 2);
		return;
	}
	if (p->m->pse && (pde & GPTE_PS)) {
		/* A 4-MByte page: bits (M'-20):13 hold physical bits (M'-1):32 and bits 21:(M'-19) are reserved, with
		 * M' = min(MAXPHYADDR, 40) (PSE-36). */
		int M = p->M < 40 ? (int)p->M : 40;
		u64 high = (pde >> 13) & mask(M - 33, 0);

		if (pde & mask(21, M - 19)) {
			reserved(p, 2);
			return;
		}
		narrow(p, pde);
		leaf(p, 2, pde, (pde & 0xffc00000) | (high << 32) | (va & 0x3fffff), 4ULL << 20);
		return;
	}
	narrow(p, pde);
	/* The PTE: bits 31:12 from the PDE, bits 11:2 from linear-address bits 21:12. Nothing is reserved. */
	if (!load(p, 1, (pde & 0xfffff000) | (((va >> 12) & 0x3ff) << 2), 4, &pte))
		return;
	if (!(pte & GPTE_P)) {
		not_present(p, 1);
		return;
	}
	narrow(p, pte);
	leaf(p, 1, pte, (pte & 0xfffff000) | (va & 0xfff), 4096);
}

/* PAE paging (4.4, tables 4-8 to 4-11). */
static void walk_pae(struct path *p, u64 cr3, u32 va)
{
	int M = (int)p->M;
	u64 xd_rsvd = p->m->nxe ? 0 : GPTE_NX;
	unsigned int i = va >> 30;
	gpa_t at = (cr3 & 0xffffffe0) + i * 8;
	u64 pdpte, pde, pte;

	p->out->res.top_level = 3;
	/* The PDPTE: from the PDPTE registers the CPU loaded with CR3, or read at CR3 bits 31:5. */
	if (p->m->pdptes) {
		pdpte = p->m->pdptes[i];
		p->out->res.pte[3] = pdpte;
		p->out->res.pte_gpa[3] = at;
	} else if (!load(p, 3, at, 8, &pdpte)) {
		return;
	}
	if (!(pdpte & GPTE_P)) {
		not_present(p, 3);
		return;
	}
	if (pdpte & (mask(63, M) | mask(8, 5) | mask(2, 1))) {
		reserved(p, 3);
		return;
	}
	/* The PDE: bits (M-1):12 from the PDPTE, bits 11:3 from linear-address bits 29:21. */
	if (!load(p, 2, (pdpte & mask(M - 1, 12)) | (((va >> 21) & 0x1ff) << 3), 8, &pde))
		return;
	if (!(pde & GPTE_P)) {
		not_present(p, 2);
		return;
	}
	if (pde & GPTE_PS) {
		/* A 2-MByte page: bits 62:M and 20:13 are reserved, and 63 without NXE. */
		if (pde & (mask(62, M) | mask(20, 13) | xd_rsvd)) {
			reserved(p, 2);
			return;
		}
		narrow(p, pde);
		leaf(p, 2, pde, (pde & mask(M - 1, 21)) | (va & mask(20, 0)), 2ULL << 20);
		return;
	}
	if (pde & (mask(62, M) | xd_rsvd)) {
		reserved(p, 2);
		return;
	}
	narrow(p, pde);
	if (!load(p, 1, (pde & mask(M - 1, 12)) | (((va >> 12) & 0x1ff) << 3), 8, &pte))
		return;
	if (!(pte & GPTE_P)) {
		not_present(p, 1);
		return;
	}
	if (pte & (mask(62, M) | xd_rsvd)) {
		reserved(p, 1);
		return;
	}
	narrow(p, pte);
	leaf(p, 1, pte, (pte & mask(M - 1, 12)) | (va & 0xfff), 4096);
}

/* 4-level and 5-level paging (4.5, tables 4-14 to 4-20): PML5E (5-level only), PML4E, PDPTE, PDE, PTE. */
static void walk_ia32e(struct path *p, u64 cr3, u64 va)
{
	int M = (int)p->M;
	unsigned int top = p->m->la57 ? 5 : 4;
	/* Bits 51:M are reserved in every entry, bit 63 without NXE; bits 62:52 are ignored (62:59 a leaf's key). */
	u64 common_rsvd = mask(51, M) | (p->m->nxe ? 0 : GPTE_NX);
	/* CR3 bits 51:M cannot be set (MOV to CR3 faults), so 51:12 is the table's address whatever M is. */
	u64 table = cr3 & mask(51, 12);

	p->out->res.top_level = (u8)top;
	for (unsigned int level = top;; level--) {
		int shift = 12 + 9 * ((int)level - 1); /* the entry maps 2^shift bytes */
		u64 e, rsvd = common_rsvd;
		bool large = false;

		/* Bits 11:3 of the entry's address are linear-address bits (shift + 8):shift. */
		if (!load(p, level, table | (((va >> shift) & 0x1ff) << 3), 8, &e))
			return;
		if (!(e & GPTE_P)) {
			not_present(p, level);
			return;
		}
		switch (level) {
		case 5: /* a PML5E: bit 7 is reserved */
		case 4: /* a PML4E: likewise */
			rsvd |= GPTE_PS;
			break;
		case 3: /* a PDPTE: PS maps a 1-GByte page (bits 29:13 reserved), where 1-GByte pages exist */
			if (e & GPTE_PS) {
				rsvd |= p->m->gbpages ? mask(29, 13) : GPTE_PS;
				large = true;
			}
			break;
		case 2: /* a PDE: PS maps a 2-MByte page (bits 20:13 reserved) */
			if (e & GPTE_PS) {
				rsvd |= mask(20, 13);
				large = true;
			}
			break;
		}
		if (e & rsvd) {
			reserved(p, level);
			return;
		}
		narrow(p, e);
		if (level == 1 || large) {
			leaf(p, level, e, (e & mask(51, shift)) | (va & mask(shift - 1, 0)), 1ULL << shift);
			return;
		}
		table = e & mask(51, 12);
	}
}

void gmodel_walk(const struct gwalk_mode *mode, u64 cr3, gva_t gva, u32 access, gmodel_read_fn read, void *ctx,
		 struct gmodel *out)
{
	struct path p = {.m = mode, .access = access, .read = read, .ctx = ctx, .out = out};

	memset(out, 0, sizeof(*out));
	if (!mode->pg) {
		out->res.gpa = (u32)gva;
		out->res.page_size = 4096;
		out->res.perm = GWALK_PERM_W | GWALK_PERM_U | GWALK_PERM_X;
		return;
	}
	p.M = mode->maxphyaddr < 32 ? 32 : mode->maxphyaddr > 52 ? 52 : mode->maxphyaddr;
	p.user_addr = p.writable = p.executable = true;
	if (mode->lma) {
		/* Canonical: bits 63:47 (4-level) or 63:56 (5-level) all equal (3.3.7.1, 4.5). */
		u64 upper = mode->la57 ? gva >> 56 : gva >> 47;
		u64 ones = mode->la57 ? 0xff : 0x1ffff;

		if (upper != 0 && upper != ones) {
			out->res.fault = GWALK_FAULT_NONCANONICAL;
			return;
		}
		p.ia32e = true;
		p.xd = mode->nxe;
		walk_ia32e(&p, cr3, gva);
	} else if (mode->pae) {
		p.xd = mode->nxe;
		walk_pae(&p, cr3, (u32)gva);
	} else {
		walk_32bit(&p, cr3, (u32)gva);
	}
}

const char *gmodel_compare(const struct gwalk_result *res, const struct gmodel *model, bool ad_applied)
{
	const struct gwalk_result *want = &model->res;

	if (res->fault != want->fault)
		return "fault";
	if (res->gpa != want->gpa)
		return "gpa";
	if (res->level != want->level)
		return "level";
	if (res->page_size != want->page_size)
		return "page_size";
	if (res->perm != want->perm)
		return "perm";
	if (res->error_code != want->error_code)
		return "error_code";
	if (res->fault_level != want->fault_level)
		return "fault_level";
	if (res->top_level != want->top_level)
		return "top_level";
	for (unsigned int l = 0; l <= GWALK_MAX_LEVELS; l++) {
		if (res->pte[l] != (want->pte[l] | (ad_applied ? model->ad[l] : 0)))
			return "pte[]";
		if (res->pte_gpa[l] != want->pte_gpa[l])
			return "pte_gpa[]";
	}
	return NULL;
}

bool gmodel_entries_distinct(const struct gmodel *model)
{
	const struct gwalk_result *r = &model->res;

	/* Only a completed translation reads every level from the top down to its leaf (r->level). */
	if (r->level == 0)
		return true;
	for (unsigned int a = r->level; a <= r->top_level; a++) {
		for (unsigned int b = a + 1; b <= r->top_level; b++) {
			if (r->pte_gpa[a] == r->pte_gpa[b])
				return false;
		}
	}
	return true;
}
