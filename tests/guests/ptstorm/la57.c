/* Phase la57: 5-level paging (SDM Vol. 3A 4.5; APM Vol. 2 5.3.4). The guest leaves IA-32e mode, sets CR4.LA57, loads
 * a PML5 and enables paging again (la57.S), then checks that:
 *   - PML5 entry 0 is the boot PML4: the image, its stack and the identity map run on as before;
 *   - PML5 entry 1 (linear 2^48 up: no 4-level address) and entry 511 (0xffff000000000000 up: bit 56 set, canonical
 *     with 57 bits only) map their own test pages: reads see their content, writes reach their frames;
 *   - a PTE change followed by INVLPG of such an address takes effect (4.10.4.1);
 *   - a PML5 entry not present gives #PF with error code P = 0 (W as the access) and CR2 the address (4.7);
 *     clearing a present PML5 entry and reloading CR3 does too;
 *   - an address not canonical with 57 bits (bit 56 unlike bit 57) gives #GP, as does, back in 4-level paging, an
 *     address canonical with 57 bits but not with 48 (SDM Vol. 1 3.3.7.1: canonical is as wide as the paging).
 * Then it returns to 4-level paging, where its boot tables are as they were. SKIP where CPUID.(EAX=7,ECX=0):ECX.LA57
 * is 0 (Bochs's models here), which makes CR4.LA57 reserved. */
#include "ptstorm.h"

#define CR4_LA57 (1ULL << 12)
#define VA_HIGH	 (1UL << 48)		  /* PML5 index 1 */
#define VA_TOP	 0xffff000000000000UL	  /* PML5 index 511 */
#define VA_NONE	 (2UL << 48)		  /* PML5 index 2: never present */
#define VA_NONCANON 0x0100000000000000UL /* bit 56 set, 63:57 clear */
#define GP_VECTOR 13

void la57_switch(u64 cr3, u64 cr4);

/* A 4-level path below a fresh PML4 for va to the 4 KiB page pa; returns the PML4 and *pte the PTE. */
static u64 build_path(u64 va, u64 pa, volatile u64 **pte)
{
	u64 *pml4 = ps_table(), *pdpt = ps_table(), *pd = ps_table(), *pt = ps_table();
	const u64 up = PTE_P | PTE_W;

	pml4[pt_index(va, 4)] = (u64)pdpt | up;
	pdpt[pt_index(va, 3)] = (u64)pd | up;
	pd[pt_index(va, 2)] = (u64)pt | up;
	pt[pt_index(va, 1)] = pa | up;
	*pte = &pt[pt_index(va, 1)];
	return (u64)pml4;
}

static void expect_read(u64 va, u64 want, const char *what)
{
	u64 v;
	int r = kread(va, &v, false);

	if (r)
		fail("%s: read of 0x%lx faulted (vector %d, error 0x%lx, CR2 0x%lx)", what, va, r - 1, pf.error, pf.cr2);
	if (v != want)
		fail("%s: read of 0x%lx gave 0x%lx, not 0x%lx", what, va, v, want);
}

static void expect_pf(u64 va, bool write, const char *what)
{
	u64 v = 0;
	int r = write ? kwrite(va, 1, false) : kread(va, &v, false);
	u32 want = write ? PF_W : 0;

	if (r != PF_VECTOR + 1)
		fail("%s: %s of 0x%lx gave %s%d, not #PF", what, write ? "write" : "read", va, r ? "vector " : "no fault ",
		     r ? r - 1 : 0);
	if (pf.cr2 != va || (pf.error & 0x1f) != want)
		fail("%s: #PF error 0x%lx CR2 0x%lx, not 0x%x at 0x%lx", what, pf.error, pf.cr2, want, va);
}

static void expect_gp(u64 va, const char *what)
{
	u64 v;

	fault_clear();
	int r = probe_read(va, 8, &v);
	if (r != GP_VECTOR + 1)
		fail("%s: read of 0x%lx gave %s%d, not #GP", what, va, r ? "vector " : "no fault ", r ? r - 1 : 0);
}

void phase_la57(void)
{
	u32 a, b, c, d;

	cpuid(7, 0, &a, &b, &c, &d);
	if (cpu.max_leaf < 7 || !(c & (1u << 16))) {
		skip("no 5-level paging (CPUID.(EAX=7,ECX=0):ECX.LA57 = 0)");
		return;
	}
	u64 cr3 = read_cr3(), cr4 = read_cr4(), base_cr4 = cr4 & ~CR4_PCIDE;
	u64 boot_pml4 = cr3 & PTE_ADDR;
	if (!(cr4 & CR4_PAE) || (cr4 & CR4_LA57))
		fail("unexpected CR4 0x%lx at the start", cr4);

	u64 t_high = ps_alloc(PAGE_SIZE, PAGE_SIZE), t_top = ps_alloc(PAGE_SIZE, PAGE_SIZE);
	u64 t_new = ps_alloc(PAGE_SIZE, PAGE_SIZE);
	fill_pat(t_high, PAGE_SIZE);
	fill_pat(t_top, PAGE_SIZE);
	fill_pat(t_new, PAGE_SIZE);
	volatile u64 *pte_high, *pte_top;
	u64 *pml5 = ps_table();
	pml5[0] = boot_pml4 | PTE_P | PTE_W | PTE_U; /* the boot PML4's own entries decide the rights below */
	pml5[1] = build_path(VA_HIGH, t_high, &pte_high) | PTE_P | PTE_W;
	pml5[511] = build_path(VA_TOP, t_top, &pte_top) | PTE_P | PTE_W;

	/* Before: in 4-level paging the address with bit 56 set is not canonical (48 bits). */
	expect_gp(VA_TOP, "4-level, before");

	if (cr4 & CR4_PCIDE)
		write_cr4(base_cr4); /* CR0.PG = 0 is #GP with PCIDE set; the PCID of CR3 is 0 here */
	la57_switch((u64)pml5, base_cr4 | CR4_LA57);
	if (!(read_cr4() & CR4_LA57) || (read_cr3() & PTE_ADDR) != (u64)pml5)
		fail("5-level paging not entered: CR4 0x%lx CR3 0x%lx", read_cr4(), read_cr3());

	/* PML5 entry 0: the identity map of the image (this code runs from it) and of the test pages. */
	expect_read(t_high + 64, pat(t_high + 64), "PML5[0] identity");
	/* Entries 1 and 511: their own pages. */
	expect_read(VA_HIGH + 8, pat(t_high + 8), "PML5[1]");
	expect_read(VA_TOP + 16, pat(t_top + 16), "PML5[511]");
	if (kwrite(VA_HIGH + 24, 0x1234567890abcdefULL, false))
		fail("write to 0x%lx faulted (error 0x%lx)", VA_HIGH + 24, pf.error);
	if (*(volatile u64 *)(t_high + 24) != 0x1234567890abcdefULL)
		fail("the write at 0x%lx did not reach its frame 0x%lx", VA_HIGH + 24, t_high + 24);
	if (kwrite(VA_TOP + 32, 0xfedcba0987654321ULL, false) || *(volatile u64 *)(t_top + 32) != 0xfedcba0987654321ULL)
		fail("write at 0x%lx did not reach its frame 0x%lx", VA_TOP + 32, t_top + 32);
	/* A remap of the page at VA_HIGH, then INVLPG (SDM 4.10.4.1): the new frame. */
	*pte_high = t_new | PTE_P | PTE_W;
	invlpg(VA_HIGH);
	expect_read(VA_HIGH + 40, pat(t_new + 40), "PML5[1] after remap and INVLPG");
	/* No PML5 entry: #PF with P = 0 (SDM 4.7), for a read and a write. */
	expect_pf(VA_NONE + 0x123000, false, "PML5[2] not present");
	expect_pf(VA_NONE + 0x456008, true, "PML5[2] not present");
	/* A present PML5 entry cleared, CR3 reloaded: #PF there too, and entry 1 untouched. */
	pml5[511] = 0;
	write_cr3(read_cr3());
	expect_pf(VA_TOP + 16, false, "PML5[511] cleared");
	expect_read(VA_HIGH + 48, pat(t_new + 48), "PML5[1] after PML5[511] went");
	/* Not canonical with 57 bits: #GP (SDM Vol. 3A 6.15, interrupt 13). */
	expect_gp(VA_NONCANON, "5-level, bit 56 unlike 57");

	la57_switch(boot_pml4, base_cr4);
	if (cr4 & CR4_PCIDE)
		write_cr4(cr4);
	write_cr3(cr3);
	if (read_cr4() != cr4 || read_cr3() != cr3)
		fail("4-level paging not restored: CR4 0x%lx CR3 0x%lx", read_cr4(), read_cr3());
	/* Back in 4-level paging: 48-bit canonical again, and the boot tables serve as before. */
	expect_gp(VA_HIGH, "4-level, after");
	expect_read(t_new + 56, pat(t_new + 56), "identity, after");
	printf("ptstorm: la57: PML5 entries 0, 1 and 511, remap, #PF at PML5 entries 2 and 511, #GP in both depths\n");
	pass();
}
