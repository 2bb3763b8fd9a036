/* Phase perm (4-level paging): access rights, #PF error codes and A/D updates, every combination.
 *
 * Three paths, each in a PML4 slot of its own, with the two entries nearest the page varied:
 *   4 KiB: PML4[25] -> PDPTE -> PDE (varied) -> PTE (varied) -> T4
 *   2 MiB: PML4[26] -> PDPTE (varied) -> PDE with PS (varied) -> T2 (2 MiB aligned)
 *   1 GiB: PML4E (varied) -> PDPTE with PS (varied) -> physical 0, read at T4's address
 * U/S, R/W and XD in both varied entries (64 combinations), CPL 0 and 3 (lib/user.S, from PML4[24]), read (offset
 * 8), write (offset 16) and fetch (a RET at offset 0), EFLAGS.AC = 0/1 where CR4.SMAP is on, under every mix of
 * CR0.WP, CR4.SMEP, CR4.SMAP and EFER.NXE the CPU has. Before each access the path is rewritten with A = D = 0 and
 * INVLPG'd (which also empties the paging-structure caches, SDM 4.10.4.1); then rules.c predicts, from the SDM
 * alone, fault or not and the error code, and the CPU must agree: CR2 = the address (SDM 4.7), a read gives T's
 * qword, a write lands in T, a fetch returns; A set in every entry used and D in the leaf exactly on a write; a
 * faulting access leaves D clear (SDM 4.8: D records a write, and a faulting write writes nothing). A in a faulting
 * walk is not looked at: SDM 6.15 (#PF) leaves A in the PTE model-specific. The paths, the CPL 3 pages and the checked
 * access are shared with phase pkey (pkey.c), which adds protection keys to the same leaves. */
#include "ptstorm.h"

#define RD_OFF 8
#define WR_OFF 16

static u64 t4, t2;
static u64 *pml4;
static struct path p4k, p2m, p1g;
static struct perm_paths paths;
struct perm_counts perm_counts;

static void make_target(u64 pa)
{
	fill_pat(pa, PAGE_SIZE);
	*(volatile u8 *)pa = 0xc3; /* RET, for the fetches; the reads and writes stay at offsets 8 and 16 */
}

static const char *mode_str(const struct mode *m, bool ac)
{
	static char b[96];
	int n = snprintf(b, sizeof(b), "WP=%d SMEP=%d SMAP=%d AC=%d NXE=%d", m->wp, m->smep, m->smap, ac, m->nxe);
	if (m->pke || m->pkru)
		snprintf(b + n, sizeof(b) - (unsigned)n, " PKE=%d PKRU=0x%x", m->pke, m->pkru);
	return b;
}

static void describe(const struct path *p)
{
	printf("ptstorm: perm: %s path at 0x%lx:", p->name, p->va);
	for (int i = 0; i < p->n; i++)
		printf(" 0x%lx", *p->e[i]);
	printf(" (as written:");
	for (int i = 0; i < p->n; i++)
		printf(" 0x%lx", p->v[i]);
	printf(")\n");
}

struct rights perm_path_rights(const struct mode *m, const struct path *p)
{
	struct rights r = {.present = true, .user = true, .write = true, .rsvd = p->rsvd};
	for (int i = 0; i < p->n; i++) {
		if (!(p->v[i] & PTE_P)) {
			r.present = false;
			break;
		}
		rights_add(&r, p->v[i]);
		if ((p->v[i] & PTE_NX) && !m->nxe)
			r.rsvd = true; /* XD is a reserved bit unless EFER.NXE = 1 (SDM 4.5.4, Table 4-20 notes) */
	}
	r.pkey = pte_pkey(p->v[p->n - 1]); /* the leaf's key; tables' bits 62:59 are ignored (SDM 4.5, entry formats) */
	return r;
}

/* One access on path p, checked against the prediction. */
u32 perm_run_case(const struct mode *m, struct path *p, int cpl, enum access acc, bool ac)
{
	for (int i = 0; i < p->n; i++)
		*p->e[i] = p->v[i] & ~PTE_AD;
	invlpg(p->va);
	struct rights r = perm_path_rights(m, p);
	u32 want = pf_predict(m, &r, cpl, acc, ac);
	u64 addr = p->va + (acc == ACC_READ ? RD_OFF : acc == ACC_WRITE ? WR_OFF : 0);
	u64 val = 0, wv = rnd() | 1, tw = p->target + WR_OFF;
	int f;
	if (acc == ACC_READ)
		f = cpl ? uread(addr, &val) : kread(addr, &val, ac);
	else if (acc == ACC_WRITE)
		f = cpl ? uwrite(addr, wv) : kwrite(addr, wv, ac);
	else
		f = cpl ? ufetch(addr) : kfetch(addr);
	perm_counts.cases++;
	const char *what = acc_name(acc);
	if (want == PF_NONE) {
		if (f) {
			describe(p);
			fail("%s path: CPL %d %s at 0x%lx faulted (vector %d error 0x%lx), want no fault (%s)", p->name,
			     cpl, what, addr, f - 1, pf.error, mode_str(m, ac));
		}
		if (acc == ACC_READ && val != pat(p->target + RD_OFF)) {
			describe(p);
			fail("%s path: CPL %d read 0x%lx at 0x%lx, want 0x%lx (%s)", p->name, cpl, val, addr,
			     pat(p->target + RD_OFF), mode_str(m, ac));
		}
		if (acc == ACC_WRITE) {
			if (*(volatile u64 *)tw != wv) {
				describe(p);
				fail("%s path: CPL %d write at 0x%lx did not land at 0x%lx (%s)", p->name, cpl, addr,
				     tw, mode_str(m, ac));
			}
			*(volatile u64 *)tw = pat(tw);
		}
		for (int i = 0; i < p->n; i++) {
			u64 e = *p->e[i];
			bool leaf = i == p->n - 1;
			if (!(e & PTE_A) || (leaf && !!(e & PTE_D) != (acc == ACC_WRITE))) {
				describe(p);
				fail("%s path: after a CPL %d %s, entry %d is 0x%lx: want A set%s (SDM 4.8)", p->name,
				     cpl, what, i, e, leaf ? (acc == ACC_WRITE ? " and D set" : " and D clear") : "");
			}
		}
		perm_counts.ad_checks++;
		return want;
	}
	perm_counts.faults++;
	if (f != PF_VECTOR + 1 || !pf_error_matches(m, want, (u32)pf.error) || pf.cr2 != addr) {
		describe(p);
		fail("%s path: CPL %d %s at 0x%lx: %s%d error 0x%lx CR2 0x%lx, want #PF error 0x%x (%s)", p->name, cpl,
		     what, addr, f ? "vector " : "no fault ", f - 1, f ? pf.error : 0, f ? pf.cr2 : 0, want,
		     mode_str(m, ac));
	}
	if (*p->e[p->n - 1] & PTE_D) {
		describe(p);
		fail("%s path: a faulting CPL %d %s set D in the leaf (SDM 4.8)", p->name, cpl, what);
	}
	if (acc == ACC_WRITE && *(volatile u64 *)tw != pat(tw))
		fail("%s path: a faulting write changed 0x%lx", p->name, tw);
	return want;
}

/* Every access kind, at CPL 0 (with AC = 0 and, under SMAP, 1) and CPL 3. */
static void run_all_accesses(const struct mode *m, struct path *p)
{
	for (int acc = ACC_READ; acc <= ACC_FETCH; acc++) {
		perm_run_case(m, p, 0, (enum access)acc, false);
		if (m->smap)
			perm_run_case(m, p, 0, (enum access)acc, true);
		perm_run_case(m, p, 3, (enum access)acc, false);
	}
}

static u64 bits3(int b)
{
	return ((b & 1) ? PTE_U : 0) | ((b & 2) ? PTE_W : 0) | ((b & 4) ? PTE_NX : 0);
}

void perm_set_mode(const struct mode *m)
{
	u64 cr0 = read_cr0(), cr4 = read_cr4();
	write_cr0(m->wp ? cr0 | CR0_WP : cr0 & ~CR0_WP);
	cr4 &= ~(CR4_SMEP | CR4_SMAP);
	write_cr4(cr4 | (m->smep ? CR4_SMEP : 0) | (m->smap ? CR4_SMAP : 0));
	if (feat.nx) {
		u64 efer = rdmsr(MSR_EFER);
		wrmsr(MSR_EFER, m->nxe ? efer | EFER_NXE : efer & ~EFER_NXE);
	}
}

static void combos(const struct mode *m)
{
	struct path *paths[] = {&p4k, &p2m, &p1g};
	for (unsigned i = 0; i < ARRAY_SIZE(paths); i++) {
		struct path *p = paths[i];
		if (!p->n)
			continue;
		u64 upper = p->v[p->n - 2] & ~(PTE_U | PTE_W | PTE_NX),
		    leaf = p->v[p->n - 1] & ~(PTE_U | PTE_W | PTE_NX);
		for (int ub = 0; ub < 8; ub++)
			for (int lb = 0; lb < 8; lb++) {
				p->v[p->n - 2] = upper | bits3(ub);
				p->v[p->n - 1] = leaf | bits3(lb);
				run_all_accesses(m, p);
			}
		p->v[p->n - 2] = upper | PTE_U | PTE_W;
		p->v[p->n - 1] = leaf | PTE_U | PTE_W;
	}
}

/* Reserved bits in present entries give RSVD | P (SDM 4.7); in an entry with P = 0 nothing is reserved (the entry
 * is not used: only "not present"). */
static void reserved_bits(const struct mode *m)
{
	const u64 bit51 = 1ULL << 51, maxphy = feat.phys_bits < 52 ? 1ULL << feat.phys_bits : 0;
	struct {
		struct path *p;
		int i; /* which entry */
		u64 set, clear;
		bool rsvd;
	} t[] = {
	    {&p4k, 3, maxphy, 0, true},				 /* PTE: the first address bit at MAXPHYADDR */
	    {&p4k, 3, feat.phys_bits < 52 ? bit51 : 0, 0, true}, /* PTE: bit 51 */
	    {&p4k, 2, feat.phys_bits < 52 ? bit51 : 0, 0, true}, /* PDE pointing to a table */
	    {&p4k, 1, maxphy, 0, true},				 /* PDPTE */
	    {&p4k, 0, PTE_PS, 0, true},				 /* PS in a PML4E is reserved (SDM 4.5.4) */
	    {&p2m, 2, 1ULL << 13, 0, true},			 /* 2 MiB page: bits 20:13 reserved */
	    {&p2m, 2, 1ULL << 20, 0, true},
	    {&p1g, 1, 1ULL << 13, 0, true}, /* 1 GiB page: bits 29:13 reserved */
	    {&p1g, 1, 1ULL << 29, 0, true},
	    {&p4k, 3, bit51 | PTE_NX | 0xff0ULL << 52, PTE_P, false}, /* P = 0: not present, whatever else */
	    {&p4k, 2, bit51 | PTE_PS | PTE_NX, PTE_P, false},
	    {&p2m, 1, bit51 | PTE_PS, PTE_P, false},
	};
	for (unsigned i = 0; i < ARRAY_SIZE(t); i++) {
		struct path *p = t[i].p;
		if (!p->n || !t[i].set)
			continue;
		u64 keep = p->v[t[i].i];
		p->v[t[i].i] = (keep | t[i].set) & ~t[i].clear;
		p->rsvd = t[i].rsvd;
		run_all_accesses(m, p);
		p->rsvd = false;
		p->v[t[i].i] = keep;
	}
}

/* CR0.WP and CR4.SMAP are applied at each access, also to a translation already cached: the TLB holds the AND of the
 * R/W and U/S flags (SDM 4.10.2.2), and MOV to CR0 or a CR4.SMAP change need not invalidate it (4.10.4.1). */
static void cached_rights(void)
{
	struct mode m = {.paging = PAGING_4LEVEL, .wp = false, .nxe = false};
	struct path *p = &p4k;
	u64 saved2 = p->v[2], saved3 = p->v[3], v = 0;
	perm_set_mode(&m);
	p->v[2] = (saved2 & PTE_ADDR) | PTE_P | PTE_W | PTE_U;
	p->v[3] = (saved3 & PTE_ADDR) | PTE_P; /* supervisor, read-only */
	for (int i = 0; i < p->n; i++)
		*p->e[i] = p->v[i];
	invlpg(p->va);
	if (kwrite(p->va + WR_OFF, 0x1234, false))
		fail("WP=0: a CPL 0 write to a read-only page faulted (error 0x%lx)", pf.error);
	write_cr0(read_cr0() | CR0_WP);
	if (kwrite(p->va + WR_OFF, 0x5678, false) != PF_VECTOR + 1 || pf.error != (PF_P | PF_W))
		fail("CR0.WP 0 -> 1 without INVLPG: the write to a read-only page did not fault with 0x3");
	*(volatile u64 *)(p->target + WR_OFF) = pat(p->target + WR_OFF);
	if (feat.smap) {
		*p->e[3] = (saved3 & PTE_ADDR) | PTE_P | PTE_U;
		invlpg(p->va);
		if (kread(p->va + RD_OFF, &v, false))
			fail("SMAP=0: a CPL 0 read of a user page faulted");
		write_cr4(read_cr4() | CR4_SMAP);
		if (kread(p->va + RD_OFF, &v, false) != PF_VECTOR + 1 || pf.error != PF_P)
			fail("CR4.SMAP 0 -> 1 without INVLPG: the CPL 0 read of a user page did not fault with 0x1");
		if (kread(p->va + RD_OFF, &v, true) || v != pat(p->target + RD_OFF))
			fail("CR4.SMAP = 1, EFLAGS.AC = 1: the CPL 0 read of a user page failed");
		write_cr4(read_cr4() & ~CR4_SMAP);
	}
	p->v[2] = saved2;
	p->v[3] = saved3;
	printf("ptstorm: perm: CR0.WP%s took effect on cached translations\n", feat.smap ? " and CR4.SMAP" : "");
}

const struct perm_paths *perm_build(void)
{
	const u64 T = PTE_P | PTE_W | PTE_U;
	if (paths.path[0])
		return &paths;
	pml4 = table_at(read_cr3() & PTE_ADDR);
	/* CPL 3 code and stack: user_page (read-only, executable) and a writable page, U/S = 1 all the way. */
	u64 pdpt_u = slot_link(SLOT_USER);
	u64 *pd_u = ps_table(), *pt_u = ps_table();
	table_at(pdpt_u)[0] = (u64)pd_u | T;
	pd_u[0] = (u64)pt_u | T;
	pt_u[0] = (u64)user_page | PTE_P | PTE_U;
	pt_u[1] = ps_alloc(PAGE_SIZE, PAGE_SIZE) | T;
	probes_set_user(slot_va(SLOT_USER), slot_va(SLOT_USER) + 2 * PAGE_SIZE);
	if (user_page_end - user_page != PAGE_SIZE || ((u64)user_page & (PAGE_SIZE - 1)))
		fail("lib/user.S: user_page is not one aligned page");

	t4 = ps_alloc(PAGE_SIZE, PAGE_SIZE);
	make_target(t4);
	u64 pdpt4 = slot_link(SLOT_4K), *pd4 = ps_table(), *pt4 = ps_table();
	p4k = (struct path){"4K",
			    {&pml4[SLOT_4K], &table_at(pdpt4)[0], &pd4[0], &pt4[0]},
			    {pdpt4 | T, (u64)pd4 | T, (u64)pt4 | T, t4 | T},
			    4,
			    slot_va(SLOT_4K),
			    t4,
			    false};

	t2 = ps_alloc(SIZE_2M, SIZE_2M);
	make_target(t2);
	u64 pdpt2 = slot_link(SLOT_2M), *pd2 = ps_table();
	p2m = (struct path){"2M",
			    {&pml4[SLOT_2M], &table_at(pdpt2)[0], &pd2[0]},
			    {pdpt2 | T, (u64)pd2 | T, t2 | T | PTE_PS},
			    3,
			    slot_va(SLOT_2M),
			    t2,
			    false};

	if (feat.g1) {
		u64 pdpt1 = slot_link(SLOT_1G);
		p1g = (struct path){"1G",
				    {&pml4[SLOT_1G], &table_at(pdpt1)[0]},
				    {pdpt1 | T, 0 | T | PTE_PS},
				    2,
				    slot_va(SLOT_1G) + t4,
				    t4,
				    false};
	}
	paths = (struct perm_paths){{&p4k, &p2m, &p1g}, &pt_u[1], slot_va(SLOT_USER) + PAGE_SIZE};
	return &paths;
}

void phase_perm(void)
{
	perm_build();
	perm_counts = (struct perm_counts){0};
	u64 cr0 = read_cr0(), cr4 = read_cr4(), efer = rdmsr(MSR_EFER);
	u32 modes = 0;
	for (int nxe = 0; nxe <= (int)feat.nx; nxe++)
		for (int wp = 0; wp <= 1; wp++)
			for (int smep = 0; smep <= (int)feat.smep; smep++)
				for (int smap = 0; smap <= (int)feat.smap; smap++) {
					struct mode m = {
					    .paging = PAGING_4LEVEL, .wp = wp, .smep = smep, .smap = smap, .nxe = nxe};
					perm_set_mode(&m);
					combos(&m);
					reserved_bits(&m);
					modes++;
				}
	cached_rights();
	write_cr0(cr0);
	write_cr4(cr4);
	wrmsr(MSR_EFER, efer);
	printf("ptstorm: perm: %u accesses in %u modes (4K, 2M%s paths), %u faults as predicted, A/D right after %u\n",
	       perm_counts.cases, modes, feat.g1 ? ", 1G" : "", perm_counts.faults, perm_counts.ad_checks);
	pass();
}
