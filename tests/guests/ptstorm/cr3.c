/* Phase cr3: 16 address spaces, each its own PML4 (a copy of the boot one) with
 *
 *   PML4[30] -> PDPT_k -> [0] PD_k -> even k: PT_k -> [0] MARK_k (or its alternate), [1] COMMON
 *                                     odd k:  a 2 MiB page R_k (or R_ALT), or PT'_k -> [0] ALT4K_k, [1] COMMON
 *                      -> [1] PD_grp[k % 4] -> PT_grp -> [0] a page of group k % 4   (shared by 4 spaces at the PD)
 *                      -> [2] PD_all -> PT_all -> [0] one of 4 pages, or nothing      (shared by all at the PD)
 *   PML4[31] -> PDPT_sh -> PD_sh -> PT_sh -> [0] one of 4 pages, [1] a global page     (shared at the PDPT)
 *
 * switched by MOV CR3 in a random order, while the guest changes entries of spaces that are not loaded (with no
 * invalidation at all) and of the one that is (INVLPG of what changed). Without PCIDs, MOV CR3 invalidates every
 * non-global translation (SDM Vol. 3A 4.10.4.1), so each load must show the tables as memory holds them; the
 * reference is a software walk of the same tables. Global pages (CR4.PGE, SDM 4.10.2.4): a changed global PTE may
 * still translate after MOV CR3, but not after INVLPG of it or a change of CR4.PGE.
 *
 * With PCIDs (CR4.PCIDE = 1, space k uses PCID k + 1): a load with bit 63 set invalidates nothing (SDM 4.10.4.1),
 * so a translation may be stale; what stays guaranteed is that a PCID caches only translations its own PML4 gave
 * while it was current. The guest keeps, per space and address, every translation it had since its PCID was last
 * invalidated (flushing load, INVPCID, INVLPG while current) and a read must give one of them; after INVLPG it must
 * be the current one. Only leaf entries change in that part, so a stale paging-structure-cache entry still points
 * at the same tables (4.10.3) and cannot combine old and new into something that was never a translation. */
#include "ptstorm.h"

#define NAS	 16
#define NGRP	 4
#define NV	 5 /* addresses read in each space */
#define MAXALLOW 8
#define SWITCHES 3000

static u64 pml4s[NAS], pdpt[NAS], pd[NAS], pt4k[NAS], alt_pt[NAS];
static u64 mark[NAS][2], alt4k[NAS], region[NAS], region_alt, common;
static u64 pd_grp[NGRP], pt_grp[NGRP], grp_page[NGRP][2];
static u64 pd_all, pt_all, all_page[4], pt_sh, sh_page[4], glob[2];
static u64 vas[NV];
static int cur; /* the space loaded now, -1 for the boot tables */
static u32 mutations, invlpgs, unreached, stale_seen;

static u64 entry(u64 table, unsigned i)
{
	return table_at(table)[i];
}
static void set_entry(u64 table, unsigned i, u64 v)
{
	pte_write(&table_at(table)[i], v, (enum pte_op)rnd_below(NR_PTE_OPS));
}

static u64 walk(int k, int v)
{
	return soft_walk(pml4s[k], vas[v]);
}

static void load(int k, u64 pcid, bool noflush)
{
	write_cr3(pml4s[k] | pcid | (noflush ? CR3_NOFLUSH : 0));
	cur = k;
}

/* Read vas[v] at a random offset: the value must name one of `n` physical addresses (NOT_MAPPED: a #PF with error
 * 0 and CR2 = the address). Returns the index of the one it was. */
static int read_one(int v, const u64 *want, int n, const char *why)
{
	u64 off = (u64)rnd_below(512) * 8, va = vas[v] + off, val;
	int f = kread(va, &val, false);
	for (int i = 0; i < n; i++) {
		if (want[i] == NOT_MAPPED && f == PF_VECTOR + 1 && pf.error == 0 && pf.cr2 == va)
			return i;
		if (want[i] != NOT_MAPPED && !f && val == pat(want[i] + off))
			return i;
	}
	printf("ptstorm: cr3: space %d (CR3 0x%lx) address 0x%lx: %s 0x%lx (error 0x%lx CR2 0x%lx); allowed:", cur,
	       read_cr3(), va, f ? "fault" : "value", f ? (u64)f - 1 : val, pf.error, pf.cr2);
	for (int i = 0; i < n; i++)
		printf(" %s0x%lx", want[i] == NOT_MAPPED ? "not-mapped" : "page ", want[i] == NOT_MAPPED ? 0 : want[i]);
	printf("\n");
	fail("%s: space %d read the wrong thing at 0x%lx", why, cur, va);
}

static void check_space(int k, const char *why)
{
	for (int v = 0; v < NV; v++) {
		u64 w = walk(k, v);
		read_one(v, &w, 1, why);
	}
}

/* ---- building the spaces ---- */

static u64 page(void)
{
	u64 p = ps_alloc(PAGE_SIZE, PAGE_SIZE);
	fill_pat(p, PAGE_SIZE);
	return p;
}

static u64 region2m(void)
{
	u64 r = ps_alloc(SIZE_2M, SIZE_2M);
	fill_pat(r, 2 * PAGE_SIZE); /* only the first two pages are read */
	return r;
}

static void build(void)
{
	const u64 T = PTE_P | PTE_W | PTE_U;
	u64 boot = read_cr3() & PTE_ADDR;
	common = page();
	region_alt = region2m();
	for (int g = 0; g < NGRP; g++) {
		pd_grp[g] = (u64)ps_table();
		pt_grp[g] = (u64)ps_table();
		grp_page[g][0] = page();
		grp_page[g][1] = page();
		table_at(pd_grp[g])[0] = pt_grp[g] | T;
		table_at(pt_grp[g])[0] = grp_page[g][0] | T;
	}
	pd_all = (u64)ps_table();
	pt_all = (u64)ps_table();
	table_at(pd_all)[0] = pt_all | T;
	for (int i = 0; i < 4; i++) {
		all_page[i] = page();
		sh_page[i] = page();
	}
	table_at(pt_all)[0] = all_page[0] | T;
	u64 pdpt_sh = (u64)ps_table(), pd_sh = (u64)ps_table();
	pt_sh = (u64)ps_table();
	table_at(pdpt_sh)[0] = pd_sh | T;
	table_at(pd_sh)[0] = pt_sh | T;
	table_at(pt_sh)[0] = sh_page[0] | T;
	glob[0] = page();
	glob[1] = page();
	for (int k = 0; k < NAS; k++) {
		pml4s[k] = (u64)ps_table();
		memcpy(table_at(pml4s[k]), table_at(boot), PAGE_SIZE);
		pdpt[k] = (u64)ps_table();
		pd[k] = (u64)ps_table();
		table_at(pml4s[k])[SLOT_CR3] = pdpt[k] | T;
		table_at(pml4s[k])[SLOT_SHARE] = pdpt_sh | T;
		table_at(pdpt[k])[0] = pd[k] | T;
		table_at(pdpt[k])[1] = pd_grp[k % NGRP] | T;
		table_at(pdpt[k])[2] = pd_all | T;
		if (k % 2 == 0) {
			pt4k[k] = (u64)ps_table();
			mark[k][0] = page();
			mark[k][1] = page();
			table_at(pd[k])[0] = pt4k[k] | T;
			table_at(pt4k[k])[0] = mark[k][0] | T;
			table_at(pt4k[k])[1] = common | T;
		} else {
			region[k] = region2m();
			alt_pt[k] = (u64)ps_table();
			alt4k[k] = page();
			table_at(alt_pt[k])[0] = alt4k[k] | T;
			table_at(alt_pt[k])[1] = common | T;
			table_at(pd[k])[0] = region[k] | T | PTE_PS;
		}
	}
	u64 b = slot_va(SLOT_CR3);
	vas[0] = b;
	vas[1] = b + PAGE_SIZE;
	vas[2] = b + SIZE_1G;
	vas[3] = b + 2 * SIZE_1G;
	vas[4] = slot_va(SLOT_SHARE);
}

/* ---- changes ---- */

/* One random change of a paging-structure entry. leaf_only: retarget leaves (4 KiB and 2 MiB) only. */
static void mutate_one(bool leaf_only)
{
	const u64 T = PTE_P | PTE_W | PTE_U;
	int m = (int)rnd_below(NAS);
	switch (rnd_below(leaf_only ? 5 : 7)) {
	case 0:
		set_entry(pt_all, 0, rnd_below(5) ? all_page[rnd_below(4)] | T : 0);
		break;
	case 1:
		set_entry(pt_sh, 0, sh_page[rnd_below(4)] | T);
		break;
	case 2:
		set_entry(pt_grp[m % NGRP], 0, grp_page[m % NGRP][rnd_below(2)] | T);
		break;
	case 3:
		if (m % 2 == 0)
			set_entry(pt4k[m], 0, mark[m][rnd_below(2)] | T);
		else if (entry(pd[m], 0) & PTE_PS) /* a 2 MiB leaf moved to the other region */
			set_entry(pd[m], 0, (rnd_below(2) ? region[m] : region_alt) | T | PTE_PS);
		break;
	case 4:
		if (m % 2 == 0)
			set_entry(pt4k[m], 1, rnd_below(4) ? common | T : 0);
		break;
	case 5: /* a 2 MiB page replaced by a page table, or back */
		if (m % 2)
			set_entry(pd[m], 0,
				  (entry(pd[m], 0) & PTE_PS) ? alt_pt[m] | T
							     : (rnd_below(2) ? region[m] : region_alt) | T | PTE_PS);
		break;
	default: /* a PDPTE cleared or restored */
		set_entry(pdpt[m], 1, (entry(pdpt[m], 1) & PTE_P) ? 0 : pd_grp[m % NGRP] | T);
		break;
	}
	mutations++;
}

/* Change something; INVLPG in the loaded space whatever it now translates differently (SDM 4.10.4.2), nothing
 * elsewhere. before[k][v] are the walks before; the caller gets them updated. */
static void mutate(bool leaf_only, u64 before[NAS][NV], bool changed[NAS][NV])
{
	mutate_one(leaf_only);
	for (int k = 0; k < NAS; k++)
		for (int v = 0; v < NV; v++) {
			u64 w = walk(k, v);
			changed[k][v] = w != before[k][v];
			before[k][v] = w;
			if (changed[k][v] && k == cur) {
				invlpg(vas[v]);
				invlpgs++;
			} else if (changed[k][v]) {
				unreached++;
			}
		}
}

static void without_pcid(void)
{
	static u64 walks[NAS][NV];
	static bool changed[NAS][NV];
	for (int k = 0; k < NAS; k++)
		for (int v = 0; v < NV; v++)
			walks[k][v] = walk(k, v);
	u32 switches = SWITCHES;
	for (u32 i = 0; i < switches; i++) {
		int k = (int)rnd_below(NAS);
		load(k, 0, false);
		check_space(k, "after MOV CR3");
		if (rnd_below(3) == 0) {
			mutate(false, walks, changed);
			check_space(k, "after a change and INVLPG in the loaded space");
		}
	}
	printf("ptstorm: cr3: %u CR3 switches among %d spaces, %u changes (%u INVLPGs in the loaded space, %u changes "
	       "seen only by others)\n",
	       switches, NAS, mutations, invlpgs, unreached);
}

/* SDM 4.10.2.4: a global translation may survive MOV CR3; INVLPG removes it (4.10.4.1), and so does a change of
 * CR4.PGE. */
static void global_pages(void)
{
	if (!feat.pge) {
		printf("ptstorm: cr3: no PGE in CPUID: global pages not checked\n");
		return;
	}
	const u64 T = PTE_P | PTE_W | PTE_G;
	u64 va = slot_va(SLOT_SHARE) + PAGE_SIZE, v, off = 8;
	table_at(pt_sh)[1] = glob[0] | T;
	load(0, 0, false);
	write_cr4(read_cr4() | CR4_PGE);
	if (kread(va + off, &v, false) || v != pat(glob[0] + off))
		fail("global page: reads 0x%lx, want the qword of 0x%lx", v, glob[0] + off);
	table_at(pt_sh)[1] = glob[1] | T;
	load(1, 0, false);
	u64 both[2] = {glob[0], glob[1]};
	if (kread(va + off, &v, false) || pat_which(v, both, 2, off) < 0)
		fail("global page after MOV CR3: reads 0x%lx, neither the old page 0x%lx nor the new 0x%lx", v, glob[0],
		     glob[1]);
	bool survived = v == pat(glob[0] + off);
	invlpg(va);
	if (kread(va + off, &v, false) || v != pat(glob[1] + off))
		fail("global page after INVLPG: reads 0x%lx, want the qword of 0x%lx", v, glob[1] + off);
	table_at(pt_sh)[1] = glob[0] | T;
	write_cr4(read_cr4() & ~CR4_PGE);
	if (kread(va + off, &v, false) || v != pat(glob[0] + off))
		fail("global page after clearing CR4.PGE: reads 0x%lx, want the qword of 0x%lx", v, glob[0] + off);
	table_at(pt_sh)[1] = 0;
	invlpg(va);
	printf("ptstorm: cr3: global page: the stale translation %s MOV CR3; INVLPG and CR4.PGE removed it\n",
	       survived ? "survived" : "did not survive");
}

/* ---- with PCIDs ---- */

static u64 allow[NAS][NV][MAXALLOW];
static int nallow[NAS][NV];

static void allow_only(int k, int v)
{
	allow[k][v][0] = walk(k, v);
	nallow[k][v] = 1;
}

static void allow_add(int k, int v, u64 w)
{
	for (int i = 0; i < nallow[k][v]; i++)
		if (allow[k][v][i] == w)
			return;
	if (nallow[k][v] == MAXALLOW)
		fail("PCID: more than %d translations to remember for one address", MAXALLOW);
	allow[k][v][nallow[k][v]++] = w;
}

static void invpcid(u64 type, u64 pcid, u64 addr)
{
	struct {
		u64 pcid, addr;
	} __attribute__((aligned(16))) d = {pcid, addr};
	asm volatile("invpcid %0, %1" : : "m"(d), "r"(type) : "memory");
}

static void with_pcid(void)
{
	static u64 walks[NAS][NV];
	static bool changed[NAS][NV];
	u64 boot = read_cr3() & PTE_ADDR;
	/* Leaves only from here: every odd space back to its 2 MiB page, every PDPTE[1] present. */
	for (int k = 0; k < NAS; k++) {
		table_at(pdpt[k])[1] = pd_grp[k % NGRP] | PTE_P | PTE_W | PTE_U;
		if (k % 2)
			table_at(pd[k])[0] = region[k] | PTE_P | PTE_W | PTE_U | PTE_PS;
	}
	write_cr3(boot);
	write_cr4(read_cr4() | CR4_PCIDE); /* CR3[11:0] = 0 here, as SDM 4.10.1 requires */
	/* PCIDs 1-16 were never current: nothing is cached for them yet. */
	for (int k = 0; k < NAS; k++)
		for (int v = 0; v < NV; v++) {
			walks[k][v] = walk(k, v);
			allow_only(k, v);
		}
	u32 noflush = 0, flushing = 0, inv = 0, invs = 0;
	for (u32 i = 0; i < SWITCHES; i++) {
		int k = (int)rnd_below(NAS);
		u32 how = rnd_below(feat.invpcid ? 5 : 3);
		if (how == 3) { /* INVPCID single context, from another PCID, then a no-flush load */
			invpcid(1, (u64)k + 1, 0);
			for (int v = 0; v < NV; v++)
				allow_only(k, v);
			inv++;
		} else if (how == 4) { /* INVPCID individual address */
			int v = (int)rnd_below(NV);
			invpcid(0, (u64)k + 1, vas[v]);
			allow_only(k, v);
			inv++;
		}
		bool nf = how != 0;
		load(k, (u64)k + 1, nf);
		if (nf) {
			noflush++;
		} else {
			for (int v = 0; v < NV; v++)
				allow_only(k, v);
			flushing++;
		}
		if (read_cr3() != (pml4s[k] | ((u64)k + 1)))
			fail("PCID: CR3 reads 0x%lx after loading 0x%lx%s (bit 63 is not stored, SDM 4.10.4.1)",
			     read_cr3(), pml4s[k] | ((u64)k + 1), nf ? " with bit 63" : "");
		for (int v = 0; v < NV; v++) {
			int got =
			    read_one(v, allow[k][v], nallow[k][v], nf ? "PCID, no-flush load" : "PCID, flushing load");
			if (allow[k][v][got] != walk(k, v))
				stale_seen++;
			if (rnd_below(2)) {
				invlpg(vas[v]);
				allow_only(k, v);
				read_one(v, allow[k][v], 1, "PCID, after INVLPG in the loaded space");
			}
		}
		if (rnd_below(2) == 0) {
			mutate(true, walks, changed);
			for (int j = 0; j < NAS; j++)
				for (int v = 0; v < NV; v++) {
					if (!changed[j][v])
						continue;
					if (j == k)
						allow_only(j, v); /* mutate() did INVLPG in the loaded space */
					else
						allow_add(j, v, walks[j][v]);
				}
		}
		if (feat.invpcid && rnd_below(64) == 0) {
			invpcid(rnd_below(2) ? 3 : 2, 0, 0); /* all PCIDs, without / with globals */
			for (int j = 0; j < NAS; j++)
				for (int v = 0; v < NV; v++)
					allow_only(j, v);
			invs++;
		}
	}
	write_cr3(boot);
	write_cr4(read_cr4() & ~CR4_PCIDE);
	cur = -1;
	printf("ptstorm: cr3: PCID: %u switches (%u no-flush, %u flushing, %u after INVPCID), %u INVPCID all; %u stale "
	       "translations seen (allowed)\n",
	       SWITCHES, noflush, flushing, inv, invs, stale_seen);
}

void phase_cr3(void)
{
	u64 boot = read_cr3();
	cur = -1;
	build();
	without_pcid();
	global_pages();
	write_cr3(boot);
	cur = -1;
	if (feat.pcid)
		with_pcid();
	else
		printf("ptstorm: cr3: no PCID in CPUID: the PCID part is not run\n");
	/* The spaces' PDPTs stay out of the boot PML4: nothing else reads slots 30 and 31. */
	pass();
}
