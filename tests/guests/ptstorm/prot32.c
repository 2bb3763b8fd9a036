/* Phases pae and legacy32: remap and access rights in 32-bit protected mode, with PAE paging (SDM Vol. 3A 4.4) and
 * with 32-bit paging (4.3). The guest has no 32-bit C, so each part is a script (lib/mode32.h) that lib/mode32.S runs
 * after leaving long mode (SDM 9.8.5.4); every expectation is recorded next to the operation it concerns and checked
 * when the script is back.
 *
 * Linear layout in both modes (the 32-bit tables are built here):
 *   0 - 1 GiB          identity, supervisor, writable: the image, its stack, the script and the tables themselves
 *   0x40000000         4 KiB path: PDE -> PTE -> T4 (PDE and PTE under test)
 *   0x40400000 (legacy32) / 0x40200000 (pae)   the large page under test: 4 MiB T4M / 2 MiB T2M
 *   0x40800000         remap windows: 64 PTEs in one page table
 *   0x80000000         CPL 3: lib/user.S's page (read-only) and a stack page, U/S = 1
 * In PAE paging the PDPTEs carry no access rights (4.4.2), and MOV CR3 loads them (4.4.1). 32-bit paging has no XD:
 * the #PF I/D bit comes only with SMEP there (4.7). Both phases end with a directory's frame reused as data
 * (pd_reuse), which a shadow MMU floods out of its shadow. */
#include "mode32.h"
#include "ptstorm.h"

#define MAX_OPS	   12000
#define VA_4K	   0x40000000u
#define VA_REMAP   0x40800000u
#define VA_USER	   0x80000000u
#define VA_PDPTE3  0xc0000000u /* pae: a fourth PDPTE made present and absent again */
#define SLOTS	   64
#define POOL	   96
#define REMAP_ITER 2000
#define RD_OFF	   8
#define WR_OFF	   16

enum wkind { W_NONE, W_ACCESS, W_LOAD_EQ, W_LOAD_AD, W_OLD };
struct want {
	u8 kind, cpl, acc, ac;
	u32 err, cr2;		  /* W_ACCESS: PF_NONE or the error code, and CR2 */
	u64 val;		  /* W_ACCESS (read), W_LOAD_EQ: the qword; W_OLD: the entry as last written */
	u64 must_set, must_clear; /* W_LOAD_AD */
	const char *what;
	u64 ent[2]; /* the entries of an access case (upper, leaf), for the message */
};

static struct m32_op *ops;
static struct want *wants;
static u32 nops;
static struct m32_params params;
static struct mode mode;
static bool pae;
static u32 cr3_32, va_big;
static u64 pd_id_end; /* the identity map covers [0, pd_id_end) */
static u64 t4, tbig, pool[POOL];
/* the entries under test: 64-bit (pae) or 32-bit (legacy32), reached through the identity map */
static u64 pde_4k, pte_4k, pde_big, pt_remap, pdpt_pa;
static u64 model[SLOTS];
static u32 runs, accesses, faults;

/* ---- the script ---- */

static u32 emit(u32 kind, u64 addr, u64 v)
{
	if (nops + 1 >= MAX_OPS)
		fail("script longer than %u operations", MAX_OPS);
	if (addr >> 32)
		fail("script address 0x%lx above 4 GiB", addr);
	ops[nops] = (struct m32_op){.kind = kind, .addr = (u32)addr, .lo = (u32)v, .hi = (u32)(v >> 32)};
	wants[nops] = (struct want){.kind = W_NONE};
	return nops++;
}

static u64 res64(u32 i)
{
	return (u64)ops[i].res_hi << 32 | ops[i].res_lo;
}

/* An entry of the mode's size: PAE entries are qwords written as Linux's set_pte() writes them (high half first),
 * 32-bit ones one MOV. */
static void store_entry(u64 pa, u64 v)
{
	emit(pae ? M32_STORE64 : M32_STORE32, pa, v);
}
static u32 load_entry(u64 pa)
{
	return emit(M32_LOAD64, pa, 0);
}
static u64 entry_value(u32 i)
{
	return pae ? res64(i) : ops[i].res_lo;
}

static void want_ad(u32 i, u64 set, u64 clear, const char *what)
{
	wants[i] = (struct want){.kind = W_LOAD_AD, .must_set = set, .must_clear = clear, .what = what};
}

static void check_fatal(void)
{
	if (params.fatal_vector)
		fail("%s: exception %u (error 0x%x) at EIP 0x%x CR2 0x%x in 32-bit mode, after %u of %u operations",
		     pae ? "PAE" : "32-bit paging", params.fatal_vector - 1, params.fatal_error, params.fatal_eip,
		     params.fatal_cr2, params.done, nops);
}

static void verify(void)
{
	for (u32 i = 0; i < nops; i++) {
		struct m32_op *o = &ops[i];
		struct want *w = &wants[i];
		u64 got = w->kind == W_LOAD_AD || w->kind == W_OLD ? entry_value(i) : res64(i);
		switch (w->kind) {
		case W_ACCESS:
			accesses++;
			if (w->err == PF_NONE) {
				if (o->fault)
					fail("%s: CPL %u %s at 0x%x faulted (error 0x%x CR2 0x%x), want no fault; "
					     "entries 0x%lx "
					     "0x%lx; WP=%d SMEP=%d SMAP=%d AC=%u NXE=%d",
					     w->what, w->cpl, acc_name(w->acc), o->addr, o->error, o->cr2, w->ent[0],
					     w->ent[1], mode.wp, mode.smep, mode.smap, w->ac, mode.nxe);
				if (w->acc == ACC_READ && got != w->val)
					fail("%s: CPL %u read 0x%lx at 0x%x, want 0x%lx", w->what, w->cpl, got, o->addr,
					     w->val);
			} else {
				faults++;
				if (o->fault != PF_VECTOR + 1 || !pf_error_matches(&mode, w->err, o->error) ||
				    o->cr2 != w->cr2)
					fail("%s: CPL %u %s at 0x%x: %s error 0x%x CR2 0x%x, want #PF error 0x%x CR2 "
					     "0x%x; "
					     "entries 0x%lx 0x%lx; WP=%d SMEP=%d SMAP=%d AC=%u NXE=%d",
					     w->what, w->cpl, acc_name(w->acc), o->addr,
					     o->fault ? "fault" : "no fault", o->error, o->cr2, w->err, w->cr2,
					     w->ent[0], w->ent[1], mode.wp, mode.smep, mode.smap, w->ac, mode.nxe);
			}
			break;
		case W_LOAD_EQ:
			if (got != w->val)
				fail("%s: the qword at 0x%x is 0x%lx, want 0x%lx", w->what, o->addr, got, w->val);
			break;
		case W_LOAD_AD:
			if ((got & w->must_set) != w->must_set || (got & w->must_clear))
				fail("%s: entry at 0x%x is 0x%lx: want A%s%s set, %s clear (SDM 4.8)", w->what, o->addr,
				     got, (w->must_set & PTE_A) ? "" : " not necessarily",
				     (w->must_set & PTE_D) ? " and D" : "", (w->must_clear & PTE_D) ? "D" : "nothing");
			break;
		case W_OLD:
			if ((got | PTE_AD) != (w->val | PTE_AD) || (w->val & ~got & PTE_AD))
				fail("%s: the atomic op at 0x%x returned 0x%lx, the entry held 0x%lx (only A/D may be "
				     "added)",
				     w->what, o->addr, got, w->val);
			break;
		default:
			break;
		}
	}
}

static void run_script(void)
{
	emit(M32_END, 0, 0);
	params.ops = (u32)(u64)ops;
	mode32_run(&params);
	check_fatal();
	if (params.done != nops - 1)
		fail("the 32-bit script stopped after %u of %u operations", params.done, nops - 1);
	verify();
	nops = 0;
	runs++;
}

static void set_mode(const struct mode *m, bool pse)
{
	mode = *m;
	u64 cr0 = read_cr0(), efer = rdmsr(MSR_EFER);
	params.cr0 = (u32)((cr0 & ~CR0_WP) | (m->wp ? CR0_WP : 0));
	params.cr4 =
	    (u32)(((read_cr4() & ~(CR4_SMEP | CR4_SMAP | CR4_PAE | CR4_PSE | CR4_PGE | CR4_PCIDE)) |
		   (m->smep ? CR4_SMEP : 0) | (m->smap ? CR4_SMAP : 0) | (pae ? CR4_PAE : 0) | (pse ? CR4_PSE : 0)));
	params.efer = (u32)((efer & ~((1ULL << 8) | (1ULL << 10) | EFER_NXE)) | (m->nxe ? EFER_NXE : 0));
	params.cr3 = cr3_32;
}

/* ---- tables ---- */

static u32 *table32(void)
{
	return (u32 *)ps_table();
}

static void build_legacy(void)
{
	u32 *pd = table32();
	for (u64 a = 0; a < pd_id_end; a += 4 * MiB) {
		u32 *pt = table32();
		for (int i = 0; i < 1024; i++)
			pt[i] = (u32)(a + (u64)i * PAGE_SIZE) | PTE_P | PTE_W;
		pd[a >> 22] = (u32)(u64)pt | PTE_P | PTE_W;
	}
	u32 *pt_t = table32(), *pt_r = table32(), *pt_u = table32();
	pd[VA_4K >> 22] = (u32)(u64)pt_t | PTE_P | PTE_W | PTE_U;
	pt_t[0] = (u32)t4 | PTE_P | PTE_W | PTE_U;
	va_big = VA_4K + 4 * MiB;
	pd[va_big >> 22] = (u32)tbig | PTE_P | PTE_W | PTE_U | PTE_PS;
	pd[VA_REMAP >> 22] = (u32)(u64)pt_r | PTE_P | PTE_W | PTE_U;
	pd[VA_USER >> 22] = (u32)(u64)pt_u | PTE_P | PTE_W | PTE_U;
	pt_u[0] = (u32)(u64)user_page | PTE_P | PTE_U;
	pt_u[1] = (u32)ps_alloc(PAGE_SIZE, PAGE_SIZE) | PTE_P | PTE_W | PTE_U;
	pde_4k = (u64)&pd[VA_4K >> 22];
	pte_4k = (u64)&pt_t[0];
	pde_big = (u64)&pd[va_big >> 22];
	pt_remap = (u64)pt_r;
	pdpt_pa = 0;
	cr3_32 = (u32)(u64)pd;
}

static void build_pae(void)
{
	u64 *pdpt = ps_table(), *pd_id = ps_table(), *pd_t = ps_table(), *pd_u = ps_table();
	for (u64 i = 0; i < 512; i++)
		pd_id[i] = (i * SIZE_2M) | PTE_P | PTE_W | PTE_PS;
	pdpt[0] = (u64)pd_id | PTE_P; /* PDPTEs: P and the address; R/W, U/S are reserved there (4.4.1) */
	pdpt[1] = (u64)pd_t | PTE_P;
	pdpt[2] = (u64)pd_u | PTE_P;
	u64 *pt_t = ps_table(), *pt_r = ps_table(), *pt_u = ps_table();
	pd_t[0] = (u64)pt_t | PTE_P | PTE_W | PTE_U;
	pt_t[0] = t4 | PTE_P | PTE_W | PTE_U;
	va_big = VA_4K + (u32)SIZE_2M;
	pd_t[1] = tbig | PTE_P | PTE_W | PTE_U | PTE_PS;
	pd_t[(VA_REMAP >> 21) & 511] = (u64)pt_r | PTE_P | PTE_W | PTE_U;
	pd_u[0] = (u64)pt_u | PTE_P | PTE_W | PTE_U;
	pt_u[0] = (u64)user_page | PTE_P | PTE_U;
	pt_u[1] = ps_alloc(PAGE_SIZE, PAGE_SIZE) | PTE_P | PTE_W | PTE_U;
	pde_4k = (u64)&pd_t[0];
	pte_4k = (u64)&pt_t[0];
	pde_big = (u64)&pd_t[1];
	pt_remap = (u64)pt_r;
	pdpt_pa = (u64)pdpt;
	cr3_32 = (u32)(u64)pdpt;
}

static void setup(bool with_pae)
{
	pae = with_pae;
	accesses = faults = 0;
	if (!ops) {
		ops = (struct m32_op *)ps_alloc(ALIGN_UP(MAX_OPS * sizeof(*ops), PAGE_SIZE), PAGE_SIZE);
		wants = (struct want *)ps_alloc(ALIGN_UP(MAX_OPS * sizeof(*wants), PAGE_SIZE), PAGE_SIZE);
		t4 = ps_alloc(PAGE_SIZE, PAGE_SIZE);
		tbig = ps_alloc(4 * MiB, 4 * MiB); /* also serves as the 2 MiB page */
		u64 p = ps_alloc(POOL * PAGE_SIZE, PAGE_SIZE);
		fill_pat(p, POOL * PAGE_SIZE);
		for (int i = 0; i < POOL; i++)
			pool[i] = p + (u64)i * PAGE_SIZE;
		fill_pat(t4, PAGE_SIZE);
		fill_pat(tbig, PAGE_SIZE);
		*(volatile u8 *)t4 = 0xc3; /* RET */
		*(volatile u8 *)tbig = 0xc3;
		pd_id_end = ALIGN_UP(boot.ram_top, 4 * MiB);
		if (pd_id_end > PS_RAM_LIMIT)
			pd_id_end = PS_RAM_LIMIT;
	}
	nops = 0;
	memset(model, 0, sizeof(model));
	if (pae)
		build_pae();
	else
		build_legacy();
	params.user_esp = VA_USER + 2 * PAGE_SIZE;
	params.user_read = VA_USER + (u32)user_page_offset(user32_read);
	params.user_write = VA_USER + (u32)user_page_offset(user32_write);
	params.user_fetch = VA_USER + (u32)user_page_offset(user32_fetch);
}

/* ---- one access, with its prediction ---- */

static u64 written_qword(u64 pa, u32 lo)
{
	return (pat(pa) & ~0xffffffffULL) | lo;
}

/* Access `va` (the page at physical `target`) at CPL cpl; entries[] are the entries the walk uses, as written. */
static u32 access(const char *what, u32 va, u64 target, const u64 *ent, int n, bool rsvd, int cpl, enum access acc,
		  bool ac)
{
	struct rights r = {.present = true, .user = true, .write = true, .rsvd = rsvd};
	for (int i = 0; i < n; i++) {
		if (!(ent[i] & PTE_P)) {
			r.present = false;
			break;
		}
		rights_add(&r, ent[i]);
		if (pae && (ent[i] & PTE_NX) && !mode.nxe)
			r.rsvd = true;
	}
	u32 want = pf_predict(&mode, &r, cpl, acc, ac);
	u32 addr = va + (acc == ACC_READ ? RD_OFF : acc == ACC_WRITE ? WR_OFF : 0);
	u32 lo = (u32)rnd() | 1;
	u32 kind = (acc == ACC_READ    ? M32_READ
		    : acc == ACC_WRITE ? M32_WRITE
				       : M32_FETCH) |
		   (cpl ? M32_USER : 0) | (ac ? M32_AC : 0);
	u32 i = emit(kind, addr, lo);
	wants[i] = (struct want){.kind = W_ACCESS,
				 .cpl = (u8)cpl,
				 .acc = (u8)acc,
				 .ac = ac,
				 .err = want,
				 .cr2 = addr,
				 .val = pat(target + RD_OFF),
				 .what = what,
				 .ent = {n > 1 ? ent[n - 2] : 0, ent[n - 1]}};
	u64 tw = target + WR_OFF;
	if (acc == ACC_WRITE) {
		u32 j = emit(M32_LOAD64, tw, 0);
		wants[j] = (struct want){.kind = W_LOAD_EQ,
					 .val = want == PF_NONE ? written_qword(tw, lo) : pat(tw),
					 .what = want == PF_NONE ? "a write that must land" : "a write that faulted"};
		emit(M32_STORE32, tw, (u32)pat(tw));
	}
	return want;
}

/* ---- perm: the combinations ---- */

static u64 rights_bits(int b)
{
	return ((b & 1) ? PTE_U : 0) | ((b & 2) ? PTE_W : 0) | ((b & 4) && pae ? PTE_NX : 0);
}

static void all_accesses(const char *what, u32 va, u64 target, const u64 *ent, const u64 *pa, int n, bool rsvd)
{
	for (int acc = ACC_READ; acc <= ACC_FETCH; acc++)
		for (int cpl = 0; cpl <= 3; cpl += 3)
			for (int ac = 0; ac <= (cpl == 0 && mode.smap); ac++) {
				for (int i = 0; i < n; i++)
					store_entry(pa[i], ent[i] & ~PTE_AD);
				emit(M32_INVLPG, va, 0);
				bool ok = access(what, va, target, ent, n, rsvd, cpl, (enum access)acc, ac) == PF_NONE;
				/* A in every entry used and D in the leaf after a success; D clear after a fault */
				for (int e = 0; e < n; e++) {
					bool leaf = e == n - 1;
					u64 set = ok ? PTE_A | (leaf && acc == ACC_WRITE ? PTE_D : 0) : 0;
					u64 clear = leaf && !(ok && acc == ACC_WRITE) ? PTE_D : 0;
					if (set || clear)
						want_ad(load_entry(pa[e]), set, clear, what);
				}
			}
}

static void perm_mode(const struct mode *m)
{
	set_mode(m, true);
	int nb = pae ? 8 : 4;
	u64 pde = (u64)pte_4k & PTE_ADDR; /* the page table of the 4 KiB path */
	u64 pa2[2] = {pde_4k, pte_4k};
	for (int ub = 0; ub < nb; ub++)
		for (int lb = 0; lb < nb; lb++) {
			u64 ent[2] = {pde | PTE_P | rights_bits(ub), t4 | PTE_P | rights_bits(lb)};
			all_accesses(pae ? "PAE 4K PDE+PTE" : "32-bit 4K PDE+PTE", VA_4K, t4, ent, pa2, 2, false);
		}
	run_script();
	for (int lb = 0; lb < nb; lb++) {
		u64 ent[1] = {tbig | PTE_P | PTE_PS | rights_bits(lb)};
		all_accesses(pae ? "PAE 2M PDE" : "32-bit 4M PDE", va_big, tbig, ent, &pde_big, 1, false);
	}
	/* Reserved bits (4.3, 4.4.2): an address bit at MAXPHYADDR in a PAE PTE, bit 13 of a 2 MiB PDE, bit 21 of a
	 * 4 MiB PDE; and absent entries full of ones, which are only absent. */
	u64 full = pde | PTE_P | PTE_U | PTE_W, big = tbig | PTE_P | PTE_PS | PTE_U | PTE_W;
	if (pae && feat.phys_bits < 52) {
		u64 ent[2] = {full, t4 | PTE_P | PTE_U | PTE_W | 1ULL << feat.phys_bits};
		all_accesses("PAE PTE with an address bit at MAXPHYADDR", VA_4K, t4, ent, pa2, 2, true);
	}
	u64 rb[1] = {big | (pae ? 1ULL << 13 : 1ULL << 21)};
	all_accesses(pae ? "PAE 2M PDE with bit 13" : "32-bit 4M PDE with bit 21", va_big, tbig, rb, &pde_big, 1, true);
	u64 absent[2] = {full, pae ? 0x7ff00000fffff0feULL : 0xfffffffeULL};
	all_accesses("an absent PTE full of ones", VA_4K, t4, absent, pa2, 2, false);
	store_entry(pde_4k, full); /* the paths as they were */
	store_entry(pte_4k, t4 | PTE_P | PTE_U | PTE_W);
	store_entry(pde_big, big);
	run_script();
}

static void perm_all(void)
{
	u32 modes = 0;
	for (int nxe = 0; nxe <= (int)feat.nx; nxe++)
		for (int wp = 0; wp <= 1; wp++)
			for (int smep = 0; smep <= (int)feat.smep; smep++)
				for (int smap = 0; smap <= (int)feat.smap; smap++) {
					struct mode m = {.paging = pae ? PAGING_PAE : PAGING_32BIT,
							 .wp = wp,
							 .smep = smep,
							 .smap = smap,
							 .nxe = nxe};
					perm_mode(&m);
					modes++;
				}
	printf("ptstorm: %s: %u accesses in %u modes, %u faults as predicted\n", phase, accesses, modes, faults);
}

/* ---- remap ---- */

static u64 slot_pte(int s)
{
	return pt_remap + (u64)s * (pae ? 8 : 4);
}

/* One PTE change the way Linux makes it in this mode; records what the atomic ops must return. */
static void remap_change(int s)
{
	u64 old = model[s], pa = slot_pte(s), v = pool[rnd_below(POOL)] | PTE_P;
	v |= (rnd() & 1) ? PTE_W : 0;
	v |= (rnd() & 1) ? PTE_U : 0;
	u32 how = rnd_below(5), i;
	if (how == 4 && (old & PTE_ADDR)) { /* ptep_set_wrprotect() / the opposite: one LOCK BTR or BTS */
		emit((old & PTE_W) ? M32_BTR : M32_BTS, pa, 1);
		model[s] = old ^ PTE_W;
		return;
	}
	if (how == 0) {
		store_entry(pa, v); /* set_pte(): high half, then low */
	} else if (how == 1) {
		i = emit(pae ? M32_CMPXCHG8B : M32_XCHG32, pa, v); /* set_pte_atomic() / xchg */
		wants[i] = (struct want){.kind = W_OLD, .val = old, .what = pae ? "LOCK CMPXCHG8B" : "XCHG"};
	} else if (how == 2) {
		i = emit(pae ? M32_CLEAR64 : M32_XCHG32, pa, 0); /* ptep_get_and_clear() */
		wants[i] = (struct want){.kind = W_OLD, .val = old, .what = "get-and-clear"};
		v = 0;
	} else {
		i = emit(M32_XCHG32, pa, (u32)v); /* the low half only: the high half stays 0 here */
		wants[i] = (struct want){.kind = W_OLD, .val = old & 0xffffffffULL, .what = "XCHG of the low half"};
		v = (u32)v | (old & ~0xffffffffULL);
	}
	model[s] = v;
}

static void remap_read(int s)
{
	u32 off = rnd_below(512) * 8, va = VA_REMAP + (u32)s * (u32)PAGE_SIZE + off;
	u32 i = emit(M32_READ, va, 0);
	bool p = model[s] & PTE_P;
	wants[i] = (struct want){.kind = W_ACCESS,
				 .acc = ACC_READ,
				 .err = p ? PF_NONE : 0,
				 .cr2 = va,
				 .val = p ? pat((model[s] & PTE_ADDR) + off) : 0,
				 .what = "remap read",
				 .ent = {0, model[s]}};
}

static void remap_write(int s)
{
	u32 off = rnd_below(512) * 8, va = VA_REMAP + (u32)s * (u32)PAGE_SIZE + off, lo = (u32)rnd() | 1;
	bool w = model[s] & PTE_W;
	u64 pa = (model[s] & PTE_ADDR) + off;
	u32 i = emit(M32_WRITE, va, lo);
	wants[i] = (struct want){.kind = W_ACCESS,
				 .acc = ACC_WRITE,
				 .err = w ? PF_NONE : PF_P | PF_W,
				 .cr2 = va,
				 .what = "remap write",
				 .ent = {0, model[s]}};
	i = emit(M32_LOAD64, pa, 0);
	wants[i] = (struct want){.kind = W_LOAD_EQ, .val = w ? written_qword(pa, lo) : pat(pa), .what = "remap write"};
	if (w)
		want_ad(load_entry(slot_pte(s)), PTE_AD, 0, "remap write");
	emit(M32_STORE32, pa, (u32)pat(pa));
}

static void remap(void)
{
	struct mode m = {.paging = pae ? PAGING_PAE : PAGING_32BIT, .wp = true};
	set_mode(&m, true);
	for (int it = 0; it < REMAP_ITER; it++) {
		int s = (int)rnd_below(SLOTS);
		bool was = model[s] & PTE_P;
		remap_change(s);
		if (was || rnd_below(2))
			emit(rnd_below(16) ? M32_INVLPG : M32_RELOAD_CR3, VA_REMAP + (u64)s * PAGE_SIZE, 0);
		remap_read(s);
		if ((model[s] & PTE_P) && rnd_below(4) == 0)
			remap_write(s);
		if (it % 64 == 63)
			for (int t = 0; t < SLOTS; t++)
				remap_read(t);
		if (nops > MAX_OPS - 256)
			run_script();
	}
	run_script();
	printf("ptstorm: %s: remap: %u PTE changes in 64 windows, each read back, %u script runs so far\n", phase,
	       REMAP_ITER, runs);
}

/* ---- pae: PDPTEs come from memory at MOV CR3 (SDM 4.4.1) ---- */

static void pdpte_reload(void)
{
	struct mode m = {.paging = PAGING_PAE, .wp = true};
	set_mode(&m, true);
	u64 *pd3 = ps_table(), *pt3 = ps_table();
	pd3[0] = (u64)pt3 | PTE_P | PTE_W;
	pt3[0] = t4 | PTE_P | PTE_W;
	u64 pdpte3 = pdpt_pa + 3 * 8;
	emit(M32_STORE64, pdpte3, (u64)pd3 | PTE_P);
	emit(M32_RELOAD_CR3, 0, 0);
	u32 i = emit(M32_READ, VA_PDPTE3 + RD_OFF, 0);
	wants[i] = (struct want){.kind = W_ACCESS, .err = PF_NONE, .val = pat(t4 + RD_OFF), .what = "PDPTE 3 loaded"};
	emit(M32_STORE64, pdpte3, 0);
	emit(M32_RELOAD_CR3, 0, 0);
	i = emit(M32_READ, VA_PDPTE3 + RD_OFF, 0);
	wants[i] = (struct want){.kind = W_ACCESS, .err = 0, .cr2 = VA_PDPTE3 + RD_OFF, .what = "PDPTE 3 cleared"};
	run_script();
	printf("ptstorm: pae: a PDPTE set and cleared took effect at MOV CR3\n");
	if (feat.amd) {
		printf("ptstorm: pae: AMD: PDPTE loads by MOV CR0/CR4 not checked (an Intel rule, SDM 4.4.1)\n");
		return;
	}
	/* SDM 4.4.1: MOV to CR0 changing CD, NW or PG, or to CR4 changing PAE, PGE, PSE or SMEP, also loads the
	 * PDPTEs from memory when PAE paging stays in use. No translation for VA_PDPTE3 is cached when CR0.CD changes
	 * (it was not present); the CR4.PGE changes also invalidate the TLB (4.10.4.1). */
	emit(M32_STORE64, pdpte3, (u64)pd3 | PTE_P);
	emit(M32_SET_CR0, 0, params.cr0 | (1u << 30)); /* CD */
	emit(M32_SET_CR0, 0, params.cr0);
	i = emit(M32_READ, VA_PDPTE3 + RD_OFF, 0);
	wants[i] = (struct want){.kind = W_ACCESS,
				 .err = PF_NONE,
				 .val = pat(t4 + RD_OFF),
				 .what = "PDPTE 3 set, then MOV CR0 changing CD (SDM 4.4.1)"};
	emit(M32_STORE64, pdpte3, 0);
	emit(M32_SET_CR4, 0, params.cr4 | (u32)CR4_PGE);
	emit(M32_SET_CR4, 0, params.cr4);
	i = emit(M32_READ, VA_PDPTE3 + RD_OFF, 0);
	wants[i] = (struct want){.kind = W_ACCESS,
				 .err = 0,
				 .cr2 = VA_PDPTE3 + RD_OFF,
				 .what = "PDPTE 3 cleared, then MOV CR4 changing PGE (SDM 4.4.1)"};
	run_script();
	printf("ptstorm: pae: a PDPTE set and cleared took effect at MOV CR0 (CD) and MOV CR4 (PGE)\n");
}

/* ---- legacy32: without CR4.PSE, PS in a PDE is ignored: the PDE points to a page table (SDM 4.3, Table 4-5) ---- */

static void pse_off(void)
{
	struct mode m = {.paging = PAGING_32BIT, .wp = true};
	set_mode(&m, false);
	u32 *pt = table32();
	pt[0] = (u32)t4 | PTE_P | PTE_W;
	emit(M32_STORE32, pde_big, (u32)(u64)pt | PTE_P | PTE_W | PTE_PS);
	emit(M32_INVLPG, va_big, 0);
	u32 i = emit(M32_READ, va_big + RD_OFF, 0);
	wants[i] = (struct want){.kind = W_ACCESS, .err = PF_NONE, .val = pat(t4 + RD_OFF), .what = "CR4.PSE=0, PS=1"};
	i = emit(M32_READ, va_big + PAGE_SIZE + RD_OFF, 0);
	wants[i] = (struct want){
	    .kind = W_ACCESS, .err = 0, .cr2 = va_big + (u32)PAGE_SIZE + RD_OFF, .what = "CR4.PSE=0, PS=1, PTE 1"};
	emit(M32_STORE32, pde_big, (u32)tbig | PTE_P | PTE_W | PTE_U | PTE_PS);
	run_script();
	printf("ptstorm: legacy32: with CR4.PSE clear a PDE with PS set maps a page table\n");
}

/* ---- a page directory freed and its frame reused as data, as when a process exits ----
 * The script runs on another address space (B: its own directory for the test's GiB, or its own 32-bit directory)
 * while it writes the old directory's frame (A's) with data: a shadow-paging hypervisor stops trapping those stores
 * after a few (write flooding: the counter of the VM's end report, which the runner checks). Each value written must
 * read back, and A, when loaded again, translates as it did (the directory's entries in use were not touched). */
#define REUSE_WRITES 8

static void pd_reuse(void)
{
	struct mode m = {.paging = pae ? PAGING_PAE : PAGING_32BIT, .wp = true};
	set_mode(&m, !pae);
	u32 cr3_a = cr3_32;
	u64 frame; /* A's directory that B does not use */

	if (pae) {
		u64 *pdpt_b = ps_table(), *pd_b = ps_table();
		const u64 *pdpt_a = table_at(pdpt_pa);
		for (int i = 0; i < 4; i++)
			pdpt_b[i] = pdpt_a[i];
		frame = pdpt_a[1] & ~0xfffULL;
		for (int i = 0; i < 512; i++)
			pd_b[i] = table_at(frame)[i];
		pdpt_b[1] = (u64)pd_b | PTE_P;
		params.cr3 = (u32)(u64)pdpt_b;
	} else {
		u32 *pd_b = table32();
		frame = cr3_a;
		for (int i = 0; i < 1024; i++)
			pd_b[i] = ((const u32 *)frame)[i];
		params.cr3 = (u32)(u64)pd_b;
	}
	/* On B: A's directory written as data, one entry A does not use (the last), each value read back. */
	u64 slot = frame + PAGE_SIZE - 8;
	for (u32 k = 1; k <= REUSE_WRITES; k++) {
		u64 v = 0x5a5a0000ULL + k;
		emit(pae ? M32_STORE64 : M32_STORE32, slot, v);
		u32 i = emit(M32_LOAD64, slot, 0);
		wants[i] = (struct want){.kind = W_LOAD_EQ, .val = v, .what = "a directory's frame reused as data"};
	}
	u32 i = emit(M32_READ, VA_4K + RD_OFF, 0);
	wants[i] = (struct want){.kind = W_ACCESS, .err = PF_NONE, .val = pat(t4 + RD_OFF), .what = "address space B"};
	run_script();
	/* Back on A, whose directory now holds the data in an entry it does not use. */
	if (pae)
		table_at(frame)[511] = 0;
	else
		*(u64 *)slot = 0;
	params.cr3 = cr3_a;
	i = emit(M32_READ, VA_4K + RD_OFF, 0);
	wants[i] = (struct want){.kind = W_ACCESS, .err = PF_NONE, .val = pat(t4 + RD_OFF), .what = "A loaded again"};
	i = emit(M32_READ, VA_USER + 3 * PAGE_SIZE, 0);
	wants[i] = (struct want){.kind = W_ACCESS, .err = 0, .cr2 = VA_USER + 3 * (u32)PAGE_SIZE,
				 .what = "A loaded again, a page it does not map"};
	run_script();
	printf("ptstorm: %s: a directory's frame written %u times as data from another address space, then used "
	       "again\n", pae ? "pae" : "legacy32", REUSE_WRITES);
}

void phase_pae(void)
{
	setup(true);
	remap();
	perm_all();
	pdpte_reload();
	pd_reuse();
	pass();
}

void phase_legacy32(void)
{
	setup(false);
	remap();
	perm_all();
	pse_off();
	pd_reuse();
	pass();
}
