/* libFuzzer target for the guest page-table walker: random paging controls (5-level paging, CR4.PKE and PKRU
 * included), cr3, gva and access over a guest memory made of the input (addresses wrap into it, so random entries
 * mostly point somewhere readable). A differential target: each walk is compared with the reference model
 * (tests/unit/gwalk_model.c), field by field, without and with A/D updates. Besides, it checks that every outcome is
 * self-consistent: leaf levels and page sizes that exist in the mode, the page offset carried through, error codes
 * with only the defined bits, PK only where keys apply, A/D updates that only ever add A or D.
 * fuzz-srcs: mm/shadow/gwalk.c tests/unit/gwalk_model.c */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hv/errno.h"
#include "mm/shadow/gwalk.h"
#include "tests/unit/gwalk_model.h"

#define ensure(cond)                                                                                                   \
	do {                                                                                                           \
		if (!(cond))                                                                                           \
			__builtin_trap();                                                                              \
	} while (0)

#define MEM_SIZE 0x8000

struct fuzz {
	u8 mem[MEM_SIZE];
	unsigned int reads, cmpxchgs;
	u8 flags;
};

static int fz_read(void *opaque, gpa_t gpa, void *buf, unsigned int len)
{
	struct fuzz *f = opaque;

	ensure(len == 4 || len == 8);
	ensure((gpa & (len - 1)) == 0); /* entries are naturally aligned */
	f->reads++;
	if ((f->flags & 1) && (gpa >> 12) % 7 == 3)
		return -EFAULT; /* some "MMIO" page-table pages */
	memcpy(buf, f->mem + (gpa % MEM_SIZE), len);
	return 0;
}

static int fz_cmpxchg(void *opaque, gpa_t gpa, u64 old, u64 new, unsigned int len)
{
	struct fuzz *f = opaque;
	u64 cur = 0;

	ensure(len == 4 || len == 8);
	ensure((new & ~old) == GPTE_A || (new & ~old) == GPTE_D || (new & ~old) == (GPTE_A | GPTE_D));
	ensure((old & ~new) == 0);
	f->cmpxchgs++;
	memcpy(&cur, f->mem + (gpa % MEM_SIZE), len);
	if (cur != old || ((f->flags & 2) && f->cmpxchgs % 3 == 0))
		return -EAGAIN;
	memcpy(f->mem + (gpa % MEM_SIZE), &new, len);
	return 0;
}

static const struct gwalk_ops fz_ops = {.read_gpa = fz_read, .cmpxchg_gpa = fz_cmpxchg};
static const struct gwalk_ops fz_ops_ro = {.read_gpa = fz_read};

/* Whether the entries a completed walk used are in distinct places of the (wrapping) memory: the model's A/D bits
 * are then what the walker adds (gmodel_entries_distinct, modulo MEM_SIZE). */
static bool entries_distinct(const struct gwalk_result *r)
{
	for (unsigned int a = r->level; a && a <= r->top_level; a++) {
		for (unsigned int b = a + 1; b <= r->top_level; b++) {
			if (r->pte_gpa[a] % MEM_SIZE == r->pte_gpa[b] % MEM_SIZE)
				return false;
		}
	}
	return true;
}

#define HDR 24

/* Input: [0..1] paging controls, [2] MAXPHYADDR, [3] access and switches, [4..11] cr3, [12..19] gva, [20..23] PKRU,
 * rest memory. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fuzz f;
	struct gwalk_result res;
	struct gmodel want;
	u64 cr3, gva, pdptes[4];
	u32 access, pkru;
	int r;

	if (size < HDR)
		return 0;
	memset(&f, 0, sizeof(f));
	memcpy(f.mem, data + HDR, MIN(size - HDR, (size_t)MEM_SIZE));
	memcpy(&cr3, data + 4, 8);
	memcpy(&gva, data + 12, 8);
	memcpy(&pkru, data + 20, 4);
	memcpy(pdptes, f.mem, sizeof(pdptes));
	f.flags = data[3] >> 4;

	struct gwalk_mode m = {
	    .pg = data[0] & 1,
	    .wp = data[0] & 2,
	    .pae = data[0] & 4,
	    .pse = data[0] & 8,
	    .smep = data[0] & 16,
	    .smap = data[0] & 32,
	    .la57 = data[0] & 64,
	    .lma = data[0] & 128,
	    .nxe = data[1] & 1,
	    .ac = data[1] & 2,
	    .gbpages = data[1] & 4,
	    .pke = data[1] & 32,
	    .maxphyaddr = data[2],
	    .pkru = pkru,
	    .pdptes = (data[1] & 8) ? pdptes : NULL,
	};
	access = (data[3] & 1 ? GWALK_WRITE : 0) | (data[3] & 2 ? GWALK_USER : 0) | (data[3] & 4 ? GWALK_FETCH : 0) |
		 (data[3] & 8 ? GWALK_IMPLICIT : 0);

	/* The model, and the walker without A/D updates: the same outcome, exactly. A write that is also a fetch is no
	 * access a CPU makes, and the model does not define it. */
	gmodel_walk(&m, cr3, gva, access, fz_read, &f, &want);
	if (gmodel_access_is_defined(access)) {
		r = gwalk(&m, cr3, gva, access, &fz_ops_ro, &f, &res);
		ensure(r == want.ret);
		ensure(r || !gmodel_compare(&res, &want, false));
	}

	f.reads = 0;
	r = gwalk(&m, cr3, gva, access, (data[1] & 16) ? &fz_ops_ro : &fz_ops, &f, &res);
	ensure(r == 0 || r == -EFAULT || r == -EAGAIN);
	ensure(f.reads <= GWALK_MAX_LEVELS * 8);
	if (r)
		return 0;
	/* With A/D updates too (restarts after lost races included), unless two levels share an entry. */
	if (gmodel_access_is_defined(access) && entries_distinct(&want.res))
		ensure(!gmodel_compare(&res, &want, !(data[1] & 16)));
	switch (res.fault) {
	case GWALK_FAULT_NONE:
		if (!m.pg) {
			ensure(res.level == 0 && res.gpa == (u32)gva);
			break;
		}
		ensure(res.level >= 1 && res.level <= 3 && res.level <= res.top_level);
		ensure(res.page_size == PAGE_SIZE || res.page_size == HUGE_2M_SIZE || res.page_size == (4ULL << 20) ||
		       res.page_size == HUGE_1G_SIZE);
		ensure((res.gpa & (res.page_size - 1)) == (gva & (res.page_size - 1)));
		ensure(res.gpa < (1ULL << 52));
		if (access & GWALK_WRITE && ((access & GWALK_USER) && !(access & GWALK_IMPLICIT)))
			ensure(res.perm & GWALK_PERM_W);
		break;
	case GWALK_FAULT_PF:
		ensure(m.pg);
		ensure(res.fault_level >= 1 && res.fault_level <= res.top_level);
		ensure((res.error_code &
			~(u32)(PFERR_PRESENT | PFERR_WRITE | PFERR_USER | PFERR_RSVD | PFERR_FETCH | PFERR_PK)) == 0);
		ensure(!(res.error_code & PFERR_RSVD) || (res.error_code & PFERR_PRESENT));
		/* PK: a present translation (no RSVD), IA-32e paging with PKE, a data access to a user-mode address. */
		if (res.error_code & PFERR_PK)
			ensure((res.error_code & (PFERR_PRESENT | PFERR_RSVD | PFERR_FETCH)) == PFERR_PRESENT &&
			       m.lma && m.pke && !(access & GWALK_FETCH) && (res.perm & GWALK_PERM_U));
		break;
	case GWALK_FAULT_NONCANONICAL:
		ensure(m.pg && m.lma && !(m.la57 ? gwalk_is_canonical_la57(gva) : gwalk_is_canonical(gva)));
		break;
	default:
		ensure(0);
	}
	return 0;
}
