/* Phase remap (4-level paging): 64 windows of 4 KiB, each PTE rewritten thousands of times to another of 128 pages
 * and other permissions, in the ways Linux writes PTEs; after each change the window must show exactly the page and
 * rights the PTE now gives. Then one PDE moved between two page tables, a 2 MiB page and nothing.
 *
 * Invalidation follows SDM Vol. 3A 4.10.4: INVLPG (or a CR3 load) after any change to a present entry; nothing after
 * a change from not present (4.10.4.3: no TLB or paging-structure-cache entry is made from an entry with P = 0, so
 * none can be stale). A PDE change is followed by a CR3 load or by INVLPG of every 4 KiB page the old PDE could have
 * translated (4.10.4.2); page tables are edited while no PDE points at them and their pages were flushed when they
 * were left, so again nothing may be stale. CR0.WP = 1 throughout (entry.S). */
#include "ptstorm.h"

#define SLOTS	    64
#define POOL	    128
#define WRITES	    20000 /* `remap_writes=` changes it */
#define SWEEP_EVERY 64
#define PDE_ROUNDS  1000
#define PDE_SMALL   16			  /* 4 KiB pages used under the switched PDE */
#define PD_ABSENT   0xfff00000deadb000ULL /* P = 0 with reserved bits: still only "not present" (SDM 4.7) */

static u64 pool[POOL];
static volatile u64 *pt;
static u64 model[SLOTS]; /* the PTE as last written (A and D may have been added by the CPU since) */
static u64 base;
static u32 counts[NR_PTE_OPS + 4], invlpgs, cr3_loads, no_flush, write_checks, fault_checks;

static u64 va_of(int s)
{
	return base + (u64)s * PAGE_SIZE;
}

/* Which pool page, or other known page, a wrong value came from: for the failure message. */
static const char *whose(u64 v, u64 off)
{
	static char buf[48];
	int i = pat_which(v, pool, POOL, off);
	if (i >= 0)
		snprintf(buf, sizeof(buf), " (the qword of pool page 0x%lx)", pool[i]);
	else
		snprintf(buf, sizeof(buf), " (no pool page's)");
	return buf;
}

/* Only A and D may differ between what was written and what an atomic op returns: the CPU sets them, never
 * clears them (SDM 4.8). */
static void check_old(const char *how, int s, u64 got, u64 want)
{
	if ((got | PTE_AD) != (want | PTE_AD) || (want & ~got & PTE_AD))
		fail("%s on slot %d returned 0x%lx, the PTE held 0x%lx (only A/D may be added, SDM 4.8)", how, s, got,
		     want);
}

/* A read through the window after its PTE changed. A not-present PTE: #PF with error 0 (P = 0, read, CPL 0) and
 * CR2 = the address (SDM 4.7). */
static void check_read(int s, u64 off, const char *why)
{
	u64 va = va_of(s) + off, v, e = model[s];
	int f = kread(va, &v, false);
	if (e & PTE_P) {
		u64 pa = (e & PTE_ADDR) + off;
		if (f)
			fail("%s: slot %d read at 0x%lx: #PF error 0x%lx, but PTE 0x%lx maps 0x%lx", why, s, va,
			     pf.error, pt[s], pa);
		if (v != pat(pa))
			fail("%s: slot %d read 0x%lx at 0x%lx, want the qword of 0x%lx%s (PTE 0x%lx)", why, s, v, va,
			     pa, whose(v, off), pt[s]);
		if (!(pt[s] & PTE_A))
			fail("%s: slot %d: A clear after a read through PTE 0x%lx (SDM 4.8)", why, s, pt[s]);
	} else {
		if (f != PF_VECTOR + 1)
			fail("%s: slot %d read 0x%lx%s at 0x%lx through a not-present PTE 0x%lx", why, s, v,
			     whose(v, off), va, pt[s]);
		if (pf.error != 0 || pf.cr2 != va)
			fail("%s: slot %d, not present: #PF error 0x%lx CR2 0x%lx, want 0 and 0x%lx", why, s, pf.error,
			     pf.cr2, va);
		fault_checks++;
	}
}

/* A write through the window: lands in the page and sets D (SDM 4.8), is seen through every other window on the
 * same page; or, read-only with CR0.WP = 1, #PF with P | W and memory unchanged (SDM 4.6.1, 4.7). */
static void check_write(int s, u64 off)
{
	u64 va = va_of(s) + off, e = model[s], pa = (e & PTE_ADDR) + off, v = rnd() | 1;
	u64 d_before = pt[s] & PTE_D;
	int f = kwrite(va, v, false);
	if (e & PTE_W) {
		if (f)
			fail("slot %d: write at 0x%lx: #PF error 0x%lx through writable PTE 0x%lx", s, va, pf.error,
			     pt[s]);
		if (*(volatile u64 *)pa != v)
			fail("slot %d: the write at 0x%lx did not land at 0x%lx (reads 0x%lx)", s, va, pa,
			     *(volatile u64 *)pa);
		if ((pt[s] & PTE_AD) != PTE_AD)
			fail("slot %d: PTE 0x%lx after a write: A and D must be set (SDM 4.8)", s, pt[s]);
		for (int t = 0; t < SLOTS; t++) {
			u64 w;
			if (t == s || !(model[t] & PTE_P) || (model[t] & PTE_ADDR) != (e & PTE_ADDR))
				continue;
			if (kread(va_of(t) + off, &w, false) || w != v)
				fail("slot %d maps the page slot %d just wrote, but reads 0x%lx, want 0x%lx", t, s, w,
				     v);
		}
		*(volatile u64 *)pa = pat(pa);
		write_checks++;
	} else {
		if (f != PF_VECTOR + 1 || pf.error != (PF_P | PF_W) || pf.cr2 != va)
			fail(
			    "slot %d: write at 0x%lx through read-only PTE 0x%lx: fault %d error 0x%lx CR2 0x%lx, want "
			    "#PF 0x3",
			    s, va, pt[s], f - 1, pf.error, pf.cr2);
		if (*(volatile u64 *)pa != pat(pa))
			fail("slot %d: a faulting write changed 0x%lx", s, pa);
		if (!d_before && (pt[s] & PTE_D))
			fail("slot %d: a faulting write set D in PTE 0x%lx (SDM 4.8: D marks a write)", s, pt[s]);
		fault_checks++;
	}
}

static u64 random_pte(void)
{
	u64 e = pool[rnd_below(POOL)] | PTE_P;
	u64 r = rnd();
	e |= (r & 1) ? PTE_W : 0;
	e |= (r & 2) ? PTE_U : 0;
	e |= (r & 0x1c) == 0 ? PTE_PCD | PTE_PWT : 0; /* uncached now and then: the translation does not care */
	e |= (r & 0x20) ? PTE_A : 0;
	e |= (r & 0xc0) == 0xc0 ? PTE_D : 0;
	return e;
}

/* One change to slot s, in one of the ways Linux changes a PTE; returns the new value (as memory holds it now). */
static u64 change(int s)
{
	volatile u64 *p = &pt[s];
	u64 old = *p, got;
	u32 r = rnd_below(100);
	if (r < 60 || !(old & PTE_ADDR)) { /* (a cleared PTE has no page to make present again) */
		enum pte_op how = (enum pte_op)rnd_below(NR_PTE_OPS);
		got = pte_write(p, random_pte(), how);
		check_old(pte_op_name(how), s, got, old);
		counts[how]++;
	} else if (r < 75) {
		/* ptep_set_wrprotect() is clear_bit(_PAGE_BIT_RW); the opposite and P for variety */
		if (!(old & PTE_P))
			pte_set_bit(p, 0);
		else if (old & PTE_W)
			pte_clear_bit(p, 1);
		else
			pte_set_bit(p, 1);
		counts[NR_PTE_OPS]++;
	} else if (r < 88) {
		got = pte_get_and_clear(p);
		check_old("XCHG with 0", s, got, old);
		counts[NR_PTE_OPS + 1]++;
	} else {
		pte_clear_bit(p, 0); /* not present, the rest kept (as a swap or migration entry would be) */
		counts[NR_PTE_OPS + 2]++;
	}
	return *p;
}

static void remap_ptes(u64 writes)
{
	for (u64 i = 0; i < writes; i++) {
		int s = (int)rnd_below(SLOTS);
		bool was_present = model[s] & PTE_P;
		model[s] = change(s);
		if (was_present || rnd_below(2)) {
			if (rnd_below(16) == 0) {
				flush_tlb();
				cr3_loads++;
			} else {
				invlpg(va_of(s));
				invlpgs++;
			}
		} else {
			no_flush++; /* SDM 4.10.4.3: from P = 0, nothing to invalidate */
		}
		u64 off = (u64)rnd_below(512) * 8;
		check_read(s, off, "after the change");
		if ((model[s] & PTE_P) && rnd_below(4) == 0)
			check_write(s, (u64)rnd_below(512) * 8);
		if (i % SWEEP_EVERY == SWEEP_EVERY - 1)
			for (int t = 0; t < SLOTS; t++)
				check_read(t, (u64)rnd_below(512) * 8, "sweep of every slot");
		if (i % 4096 == 4095) {
			/* one whole page, every qword */
			int t = (int)rnd_below(SLOTS);
			for (u64 o = 0; o < PAGE_SIZE && (model[t] & PTE_P); o += 8)
				check_read(t, o, "whole-page check");
		}
	}
}

/* ---- the PDE: two page tables, a 2 MiB page, or nothing ---- */

enum pde_state { PDE_NONE, PDE_TABLE_A, PDE_TABLE_B, PDE_LEAF, NR_PDE_STATES };

static void check_small(volatile u64 *pde, u64 *const tabs[2], enum pde_state st, u64 leaf, u64 xbase)
{
	for (int j = 0; j < PDE_SMALL; j++) {
		u64 off = (u64)rnd_below(512) * 8, va = xbase + (u64)j * PAGE_SIZE + off, v, want = NOT_MAPPED;
		if (st == PDE_LEAF)
			want = leaf + (u64)j * PAGE_SIZE + off;
		else if (st != PDE_NONE && (tabs[st - PDE_TABLE_A][j] & PTE_P))
			want = (tabs[st - PDE_TABLE_A][j] & PTE_ADDR) + off;
		int f = kread(va, &v, false);
		if (want == NOT_MAPPED) {
			if (f != PF_VECTOR + 1 || pf.error != 0 || pf.cr2 != va)
				fail("PDE 0x%lx (state %d): read at 0x%lx gave fault %d error 0x%lx CR2 0x%lx value "
				     "0x%lx, "
				     "want #PF error 0",
				     *pde, st, va, f - 1, pf.error, pf.cr2, v);
		} else if (f || v != pat(want)) {
			fail("PDE 0x%lx (state %d): read at 0x%lx gave fault %d value 0x%lx%s, want the qword of 0x%lx",
			     *pde, st, va, f - 1, v, whose(v, off & (PAGE_SIZE - 1)), want);
		}
	}
}

static void remap_pde(volatile u64 *pd, u64 xbase)
{
	u64 *tabs[2] = {ps_table(), ps_table()};
	u64 leaf = ps_alloc(SIZE_2M, SIZE_2M);
	fill_pat(leaf, SIZE_2M);
	for (int t = 0; t < 2; t++)
		for (int j = 0; j < PDE_SMALL; j++)
			tabs[t][j] = pool[rnd_below(POOL)] | PTE_P | PTE_W;
	volatile u64 *pde = &pd[pt_index(xbase, 2)];
	enum pde_state st = PDE_NONE;
	*pde = PD_ABSENT;
	u32 edits = 0;
	for (int r = 0; r < PDE_ROUNDS; r++) {
		/* Edit the table no PDE points at now (nothing to invalidate), or the one in use (INVLPG). */
		for (int n = (int)rnd_below(3); n > 0; n--) {
			int t = (int)rnd_below(2), j = (int)rnd_below(PDE_SMALL);
			tabs[t][j] = rnd_below(8) ? pool[rnd_below(POOL)] | PTE_P | PTE_W : 0;
			if ((int)st == PDE_TABLE_A + t)
				invlpg(xbase + (u64)j * PAGE_SIZE);
			edits++;
		}
		enum pde_state next = (enum pde_state)((st + 1 + rnd_below(NR_PDE_STATES - 1)) % NR_PDE_STATES);
		u64 v = next == PDE_NONE      ? PD_ABSENT
			: next == PDE_LEAF    ? leaf | PTE_P | PTE_W | PTE_PS
			: next == PDE_TABLE_A ? (u64)tabs[0] | PTE_P | PTE_W
					      : (u64)tabs[1] | PTE_P | PTE_W;
		pte_write(pde, v, (enum pte_op)rnd_below(NR_PTE_OPS));
		if (rnd_below(2)) {
			flush_tlb();
		} else {
			for (int j = 0; j < PDE_SMALL; j++)
				invlpg(xbase + (u64)j * PAGE_SIZE);
		}
		st = next;
		check_small(pde, tabs, st, leaf, xbase);
	}
	printf("ptstorm: remap: PDE: %u switches between 2 page tables, a 2M page and not present; %u edits of "
	       "the tables\n",
	       PDE_ROUNDS, edits);
}

void phase_remap(void)
{
	if (!(read_cr0() & CR0_WP))
		fail("CR0.WP is clear; entry.S sets it");
	u64 pdpt = slot_link(SLOT_REMAP);
	u64 *pd = ps_table();
	table_at(pdpt)[0] = (u64)pd | PTE_P | PTE_W | PTE_U;
	pt = ps_table();
	pd[0] = (u64)pt | PTE_P | PTE_W | PTE_U;
	base = slot_va(SLOT_REMAP);
	u64 pages = ps_alloc(POOL * PAGE_SIZE, PAGE_SIZE);
	fill_pat(pages, POOL * PAGE_SIZE);
	for (int i = 0; i < POOL; i++)
		pool[i] = pages + (u64)i * PAGE_SIZE;
	for (int s = 0; s < SLOTS; s++)
		check_read(s, 0, "before any mapping");
	u64 writes = WRITES;
	cmdline_u64("remap_writes", &writes);
	remap_ptes(writes);
	printf("ptstorm: remap: %lu PTE changes (MOV %u, XCHG %u, LOCK CMPXCHG %u, LOCK BTS/BTR %u, XCHG 0 %u, BTR P "
	       "%u)\n",
	       writes, counts[OP_MOV], counts[OP_XCHG], counts[OP_CMPXCHG], counts[NR_PTE_OPS], counts[NR_PTE_OPS + 1],
	       counts[NR_PTE_OPS + 2]);
	printf("ptstorm: remap: INVLPG %u, CR3 loads %u, none (P was 0) %u; %u writes landed, %u faults as "
	       "predicted\n",
	       invlpgs, cr3_loads, no_flush, write_checks, fault_checks);
	remap_pde(pd, base + SIZE_2M);
	pass();
}
