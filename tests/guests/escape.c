/* escape: from the inside, try to see memory that is not this guest's. Every guest-physical address outside the
 * memory map must read as all ones and drop writes (nothing backs it: an MMIO exit, never host memory); addresses at
 * or above MAXPHYADDR must not even be reachable (#PF with RSVD). Routes tried:
 *   1. leaks: no RAM page outside the image and modules may hold the hypervisor's strings;
 *   2. fixed probes (RAM end, RAM end + 4 KiB, 1, 2, 3, 4, 64, 512 GiB, the top of MAXPHYADDR and of the 52-bit space)
 *      through 4 KiB, 2 MiB and 1 GiB mappings, 1/2/4/8-byte reads, a marker write and a re-read;
 *   3. a scan: every 2 MiB from the end of the map to 3 GiB, every 1 GiB from 4 GiB to 1 TiB or MAXPHYADDR, then
 *      every power of two up to MAXPHYADDR;
 *   4. string instructions: rep movsq out of an unbacked page, and rep movsb across the end of RAM (`nostring` skips);
 *   5. page-table entries with reserved bits (address bits >= MAXPHYADDR, NX with EFER.NXE clear, a 2 MiB / 1 GiB page
 *      with bit 13 set, PS in a PML4E): each must #PF with RSVD in the error code, caught and counted;
 *   6. its own page tables reached through other mappings: a window onto the PML4, a recursive PML4 entry, and a PTE
 *      rewritten through that recursive alias, which must take effect after INVLPG;
 *   7. RAM through windows: sample pages read the same through the identity map and a window.
 * PASS when nothing but all ones (or faults where they belong) and its own RAM was seen. The scan skips 3-4 GiB
 * (PCI hole, IOAPIC, LAPIC, firmware) and every memory-map entry. `unbacked=zero` expects zeros instead of ones, for
 * plain QEMU (7.2 TCG reads unassigned memory as 0). Needs >= 64 MiB; ~3000 MMIO exits. */
#include "guest.h"

const char test_name[] = "escape";

#define PF_P	  0x1
#define PF_RSVD	  0x8
#define PF_VECTOR 14

static bool zero_mode;
static u32 failures, probes, skipped, rsvd_faults, rsvd_without_p;

#define MAX_REPORTS 24
#define FAILED(...)                                                                                                    \
	do {                                                                                                           \
		if (failures < MAX_REPORTS) {                                                                          \
			printf("escape: FAIL ");                                                                       \
			printf(__VA_ARGS__);                                                                           \
			printf("\n");                                                                                  \
		} else if (failures == MAX_REPORTS) {                                                                  \
			printf("escape: further failures are counted, not printed\n");                                 \
		}                                                                                                      \
		failures++;                                                                                            \
	} while (0)

static u64 unbacked(int size)
{
	return zero_mode ? 0 : ones(size);
}

enum kind { UNBACKED, BEYOND_MAXPHY, SKIP_MAP, SKIP_DEVICE };

static enum kind classify(u64 pa)
{
	if (cpu.phys_bits < 64 && pa >= (1ULL << cpu.phys_bits))
		return BEYOND_MAXPHY;
	if (mmap_overlaps(pa, pa + PAGE_SIZE))
		return SKIP_MAP;
	if ((pa >= 0xa0000 && pa < 1 * MiB) || (pa >= 0xc0000000 + 0x3ec00000 && pa < 4 * GiB))
		return SKIP_DEVICE; /* legacy VGA/BIOS; IOAPIC, LAPIC, flash from 0xFEC00000 */
	return UNBACKED;
}

/* One access that must #PF with RSVD at va. Hardware also sets P (the entry was present); QEMU TCG 7.2 does not,
 * so a missing P is counted and reported, not failed. */
static void expect_rsvd(u64 va, bool write, const char *what)
{
	u64 v = 0;
	int f = write ? probe_write(va, 8, 0x5eed5eed5eed5eedULL) : probe_read(va, 8, &v);
	if (f == PF_VECTOR + 1 && (fault.error & PF_RSVD) && fault.cr2 == va) {
		rsvd_faults++;
		rsvd_without_p += !(fault.error & PF_P);
		return;
	}
	if (!f)
		FAILED("%s: %s at 0x%lx did not fault (read 0x%lx)", what, write ? "write" : "read", va, v);
	else
		FAILED("%s: %s at 0x%lx: vector %d error 0x%lx CR2 0x%lx, want #PF with RSVD", what,
		       write ? "write" : "read", va, f - 1, fault.error, fault.cr2);
}

/* Reads of every size at va, a marker write, a re-read: all must see the unbacked value. */
static void expect_unbacked(u64 va, u64 pa, const char *what)
{
	static const int sizes[] = {8, 4, 2, 1};
	for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++) {
		u64 v;
		int f = probe_read(va, sizes[i], &v);
		if (f)
			FAILED("%s: %d-byte read of gpa 0x%lx faulted: vector %d error 0x%lx", what, sizes[i], pa,
			       f - 1, fault.error);
		else if (v != unbacked(sizes[i]))
			FAILED("%s: %d-byte read of unbacked gpa 0x%lx gave 0x%lx, want 0x%lx", what, sizes[i], pa, v,
			       unbacked(sizes[i]));
	}
	u64 marker = 0xe5ca9e0000000000ULL | (pa >> 12);
	if (probe_write(va, 8, marker))
		FAILED("%s: write to gpa 0x%lx faulted: vector %u error 0x%lx", what, pa, fault.taken - 1, fault.error);
	u64 v;
	if (!probe_read(va, 8, &v) && v != unbacked(8))
		FAILED("%s: gpa 0x%lx reads 0x%lx after writing 0x%lx%s", what, pa, v, marker,
		       v == marker ? ": the write landed in memory" : "");
}

/* Probe physical page pa through a window of the given level (1 = 4K, 2 = 2M, 3 = 1G). */
static void probe(u64 pa, int level, const char *what)
{
	enum kind k = classify(pa);
	if (k == SKIP_MAP || k == SKIP_DEVICE) {
		skipped++;
		return;
	}
	if (level == 3 && !cpu.has_1g)
		level = 2;
	u64 size = level_size(level), base = ALIGN_DOWN(pa, size);
	u64 va = win_map(level, 0, base, PTE_W | PTE_UC) + (pa - base);
	probes++;
	if (k == BEYOND_MAXPHY) {
		expect_rsvd(va, false, what);
		expect_rsvd(va, true, what);
	} else {
		expect_unbacked(va, pa, what);
	}
	pt_set_raw(win_va(level, 0), level, 0);
}

static void probe_all_sizes(u64 pa, const char *what)
{
	printf("escape: probe %-28s gpa 0x%013lx: %s\n", what, pa,
	       (const char *[]){"unbacked", "beyond MAXPHYADDR", "in the memory map: skipped",
				"device range: skipped"}[classify(pa)]);
	for (int level = 1; level <= 3; level++)
		probe(pa, level, what);
}

/* 1. Leaks. */
static const char *const needles[] = {"micro-hypervisor", "hv: mm:", "hv: virt:", "hv: boot"};

/* The guest's image, the boot information and the modules (not the blanket "below 1 MiB" entry). */
static bool scan_exempt(u64 pa)
{
	for (u32 i = 0; i < boot.nr_reserved; i++) {
		const struct mem_region *r = &boot.reserved[i];
		if (!(r->start == 0 && r->end == 1 * MiB) && pa >= r->start && pa < r->end)
			return true;
	}
	return false;
}

static void scan_leaks(void)
{
	u64 pages = 0, nonzero = 0;
	for (u32 r = 0; r < boot.nr_regions; r++) {
		const struct mem_region *m = &boot.regions[r];
		if (m->type != MEM_RAM || m->start >= 4 * GiB)
			continue;
		for (u64 pa = ALIGN_UP(m->start, PAGE_SIZE); pa + PAGE_SIZE <= m->end && pa < 4 * GiB;
		     pa += PAGE_SIZE) {
			if (scan_exempt(pa))
				continue;
			pages++;
			const u64 *q = (const u64 *)pa;
			u64 acc = 0;
			for (int i = 0; i < 512; i++)
				acc |= q[i];
			if (!acc)
				continue;
			nonzero++;
			const char *p = (const char *)pa;
			for (unsigned n = 0; n < ARRAY_SIZE(needles); n++) {
				size_t len = strlen(needles[n]);
				for (u64 off = 0; off + len <= PAGE_SIZE; off++)
					if (p[off] == needles[n][0] && !memcmp(p + off, needles[n], len))
						FAILED("leak: \"%s\" in guest RAM at 0x%lx", needles[n], pa + off);
			}
		}
	}
	printf("escape: leak scan: %lu RAM pages, %lu not zero, no hypervisor strings unless reported\n", pages,
	       nonzero);
}

/* 3. The scan. */
static void scan_unbacked(void)
{
	u64 start = 0;
	for (u32 i = 0; i < boot.nr_regions; i++)
		if (boot.regions[i].end <= 3 * GiB && boot.regions[i].end > start)
			start = boot.regions[i].end;
	u32 before = probes;
	for (u64 pa = ALIGN_UP(start, SIZE_2M); pa < 3 * GiB; pa += SIZE_2M)
		probe(pa, 1, "scan below 3 GiB");
	u64 top = cpu.phys_bits >= 64 ? ~0ULL : 1ULL << cpu.phys_bits;
	u64 lim = top < 1024 * GiB ? top : 1024 * GiB;
	for (u64 pa = 4 * GiB; pa < lim; pa += SIZE_1G)
		probe(pa, 3, "scan above 4 GiB");
	for (u64 pa = 2048 * GiB; pa < top; pa <<= 1)
		probe(pa, 3, "scan, powers of two");
	printf("escape: scan: %u addresses probed from 0x%lx (skipping 3-4 GiB and map entries)\n", probes - before,
	       ALIGN_UP(start, SIZE_2M));
}

/* 4. String instructions. */
static void string_copies(void)
{
	u64 buf = ram_find_free(2 * PAGE_SIZE, PAGE_SIZE, 0, 4 * GiB);
	u64 src = 0xc0000000;
	if (!buf || classify(src) != UNBACKED) {
		printf("escape: string copies skipped (no buffer or 0xc0000000 is not unbacked)\n");
		return;
	}
	memset((void *)buf, 0x3c, PAGE_SIZE);
	u64 n = 512, s = src, d = buf;
	asm volatile("cld; rep movsq" : "+S"(s), "+D"(d), "+c"(n) : : "memory");
	u64 bad = 0;
	for (u64 i = 0; i < 512; i++)
		bad += ((u64 *)buf)[i] != unbacked(8);
	if (bad)
		FAILED("rep movsq from unbacked gpa 0x%lx: %lu of 512 words are not 0x%lx (first 0x%lx)", src, bad,
		       unbacked(8), ((u64 *)buf)[0]);
	/* Across the end of RAM: the last 64 bytes of RAM then 64 unbacked bytes. */
	u64 end = boot.ram_top;
	if (end < 4 * GiB && classify(end) == UNBACKED && ram_is_free(end - PAGE_SIZE, end)) {
		u8 *tail = (u8 *)(end - 64);
		for (int i = 0; i < 64; i++)
			tail[i] = (u8)(0x80 + i);
		u8 *out = (u8 *)(buf + PAGE_SIZE);
		n = 128;
		s = end - 64;
		d = (u64)out;
		asm volatile("cld; rep movsb" : "+S"(s), "+D"(d), "+c"(n) : : "memory");
		for (int i = 0; i < 128; i++) {
			u8 want = i < 64 ? (u8)(0x80 + i) : (u8)unbacked(1);
			if (out[i] != want) {
				FAILED("rep movsb across the end of RAM (0x%lx): byte %d is 0x%x, want 0x%x", end, i,
				       out[i], want);
				break;
			}
		}
		printf("escape: string copies: rep movsq from 0x%lx, rep movsb across 0x%lx\n", src, end);
	} else {
		printf("escape: string copies: rep movsq from 0x%lx (RAM end 0x%lx is not followed by a hole)\n", src,
		       end);
	}
}

/* 5. Reserved bits in the guest's own page tables. */
static void reserved_bits(void)
{
	u64 some_ram = (u64)__image_start; /* a valid target, so only the reserved bit can be at fault */
	u64 va;
	if (cpu.phys_bits < 52) {
		va = win_va(1, 3);
		pt_set_raw(va, 1, some_ram | (1ULL << cpu.phys_bits) | PTE_P | PTE_W);
		expect_rsvd(va, false, "PTE address bit MAXPHYADDR");
		expect_rsvd(va, true, "PTE address bit MAXPHYADDR");
		pt_set_raw(va, 1, 0);
	}
	if (!(rdmsr(MSR_EFER) & (1u << 11))) {
		va = win_va(1, 3);
		pt_set_raw(va, 1, some_ram | PTE_NX | PTE_P | PTE_W);
		expect_rsvd(va, false, "PTE NX with EFER.NXE clear");
		pt_set_raw(va, 1, 0);
	}
	va = win_va(2, 3);
	pt_set_raw(va, 2, (1 * GiB) | (1ULL << 13) | PTE_PS | PTE_P | PTE_W);
	expect_rsvd(va, false, "2M PDE with bit 13 set");
	pt_set_raw(va, 2, 0);
	va = win_va(3, 3);
	if (cpu.has_1g) {
		pt_set_raw(va, 3, (1ULL << 13) | PTE_PS | PTE_P | PTE_W);
		expect_rsvd(va, false, "1G PDPTE with bit 13 set");
	} else {
		/* PS in a PDPTE without 1G pages in CPUID is reserved, but a CPU that has them underneath (hardware
		 * with the bit masked, QEMU TCG) maps the 1G page anyway: either is fine if what it shows is our own
		 * RAM. */
		pt_set_raw(va, 3, PTE_PS | PTE_P | PTE_W);
		u64 v, own;
		int f = probe_read(va + 0x400, 8, &v);
		if (f == PF_VECTOR + 1 && (fault.error & PF_RSVD)) {
			rsvd_faults++;
			rsvd_without_p += !(fault.error & PF_P);
		} else if (f) {
			FAILED("PDPTE with PS, no 1G pages: vector %d error 0x%lx", f - 1, fault.error);
		} else if (probe_read(0x400, 8, &own) || v != own) {
			FAILED("PDPTE with PS, no 1G pages: read 0x%lx, but gpa 0x400 holds 0x%lx", v, own);
		} else {
			printf("escape: note: a PDPTE with PS maps a 1G page although CPUID has no 1G pages (the CPU "
			       "underneath has them); it shows our own RAM\n");
		}
	}
	pt_set_raw(va, 3, 0);
	/* PS in a PML4E: a fresh PML4 slot pointing at a zeroed table. */
	va = 100ULL << 39;
	u64 *pml4 = (u64 *)(read_cr3() & PTE_ADDR);
	pml4[100] = pt_alloc_page() | PTE_PS | PTE_P | PTE_W;
	flush_tlb();
	expect_rsvd(va, false, "PML4E with PS");
	pml4[100] = 0;
	flush_tlb();
	printf("escape: reserved bits: %u #PF with RSVD so far\n", rsvd_faults);
}

/* 6. Own page tables. */
static u64 rva(u64 a, u64 b, u64 c, u64 d)
{
	return a << 39 | b << 30 | c << 21 | d << 12;
}

static void own_tables(void)
{
	u64 pml4_pa = read_cr3() & PTE_ADDR;
	u64 *pml4 = (u64 *)pml4_pa;
	/* A window onto the PML4 page, and larger pages around it. */
	u64 w = win_map(1, 2, pml4_pa, 0);
	if (*(volatile u64 *)w != pml4[0] || *(volatile u64 *)(w + 17 * 8) != pml4[17])
		FAILED("window onto the PML4 at 0x%lx reads 0x%lx, want 0x%lx", pml4_pa, *(volatile u64 *)w, pml4[0]);
	w = win_map(2, 2, ALIGN_DOWN(pml4_pa, SIZE_2M), 0) + (pml4_pa & (SIZE_2M - 1));
	if (*(volatile u64 *)w != pml4[0])
		FAILED("2M window onto the PML4 reads 0x%lx, want 0x%lx", *(volatile u64 *)w, pml4[0]);
	if (cpu.has_1g) {
		w = win_map(3, 2, 0, 0) + pml4_pa;
		if (*(volatile u64 *)w != pml4[0])
			FAILED("1G window onto the PML4 reads 0x%lx, want 0x%lx", *(volatile u64 *)w, pml4[0]);
	}

	/* A recursive PML4 entry, and a PTE rewritten through it. */
	const u64 R = 200;
	u64 page_b = pt_alloc_page(), page_c = pt_alloc_page();
	for (int i = 0; i < 512; i++) {
		((u64 *)page_b)[i] = 0xbbbbbbbb00000000ULL | (u64)i;
		((u64 *)page_c)[i] = 0xcccccccc00000000ULL | (u64)i;
	}
	u64 target = win_map(1, 5, page_b, PTE_W); /* PML4[17] -> PDPT[0] -> PD[0] -> PT[5] */
	if (*(volatile u64 *)target != 0xbbbbbbbb00000000ULL)
		FAILED("window slot 5 does not show page B");
	pml4[R] = pml4_pa | PTE_P | PTE_W;
	flush_tlb();
	volatile u64 *self = (volatile u64 *)rva(R, R, R, R);
	if ((self[0] & ~(PTE_A | PTE_D)) != (pml4[0] & ~(PTE_A | PTE_D)) ||
	    (self[R] & ~(PTE_A | PTE_D)) != (pml4[R] & ~(PTE_A | PTE_D)))
		FAILED("recursive view of the PML4: [0] 0x%lx [%lu] 0x%lx, want 0x%lx 0x%lx", self[0], R, self[R],
		       pml4[0], pml4[R]);
	volatile u64 *pt = (volatile u64 *)rva(R, 17, 0, 0);
	u64 *real_pte = pt_entry(target, 1, false);
	if ((pt[5] & PTE_ADDR) != page_b || &pt[5] == (volatile u64 *)real_pte)
		FAILED("recursive view of the window PTE reads 0x%lx, want page 0x%lx", pt[5], page_b);
	pt[5] = page_c | PTE_P | PTE_W;
	invlpg(target);
	if (*(volatile u64 *)target != 0xcccccccc00000000ULL ||
	    (*real_pte & ~(PTE_A | PTE_D)) != (page_c | PTE_P | PTE_W))
		FAILED("PTE rewritten through the recursive alias: window reads 0x%lx, PTE 0x%lx, want page C",
		       *(volatile u64 *)target, *real_pte);
	pt[5] = page_b | PTE_P | PTE_W;
	invlpg(target);
	if (*(volatile u64 *)(target + 8) != (0xbbbbbbbb00000000ULL | 1))
		FAILED("PTE restored through the recursive alias: window reads 0x%lx, want page B",
		       *(volatile u64 *)(target + 8));
	pml4[R] = 0;
	flush_tlb();
	printf("escape: own page tables: PML4 at 0x%lx through 4K/2M/1G windows and a recursive entry, PTE rewrite "
	       "through the alias\n",
	       pml4_pa);
}

/* 7. RAM through windows. */
static void ram_windows(void)
{
	u64 cursor = 0, s, e, total = 0;
	while (ram_next_free(&cursor, 4 * GiB, &s, &e))
		total += e - s;
	u64 step = ALIGN_DOWN(total / 64, PAGE_SIZE), seen = 0, n = 0, next = 0;
	cursor = 0;
	while (step && ram_next_free(&cursor, 4 * GiB, &s, &e)) {
		for (u64 pa = s; pa < e; pa += PAGE_SIZE, seen += PAGE_SIZE) {
			if (seen < next)
				continue;
			next += step;
			u64 val = 0x0123456700000000ULL ^ pa;
			*(volatile u64 *)(pa + 0x18) = val;
			u64 w = win_map(1, 6, pa, PTE_W);
			if (*(volatile u64 *)(w + 0x18) != val)
				FAILED("gpa 0x%lx reads 0x%lx through a window, 0x%lx through the identity map", pa,
				       *(volatile u64 *)(w + 0x18), val);
			*(volatile u64 *)(w + 0x20) = ~val;
			if (*(volatile u64 *)(pa + 0x20) != ~val)
				FAILED("gpa 0x%lx: a write through a window is not seen through the identity map", pa);
			n++;
		}
	}
	printf("escape: RAM through windows: %lu pages agree\n", n);
}

int test_main(void)
{
	zero_mode = cmdline_has("unbacked=zero");
	if (!boot.mbi || !boot.nr_regions)
		test_fail("no memory map");
	printf("escape: RAM top 0x%lx, MAXPHYADDR %u, 1G pages %s, unbacked memory must read 0x%lx\n", boot.ram_top,
	       cpu.phys_bits, cpu.has_1g ? "yes" : "no", unbacked(8));

	scan_leaks();

	u64 map_top = 0; /* the end of the map below 3 GiB: firmware entries near 4 GiB do not count */
	for (u32 i = 0; i < boot.nr_regions; i++)
		if (boot.regions[i].end <= 3 * GiB && boot.regions[i].end > map_top)
			map_top = boot.regions[i].end;
	u64 top = cpu.phys_bits >= 52 ? 1ULL << 52 : 1ULL << cpu.phys_bits;
	struct {
		u64 pa;
		const char *what;
	} fixed[] = {
	    {ALIGN_UP(boot.ram_top, PAGE_SIZE), "RAM end"},
	    {ALIGN_UP(boot.ram_top, PAGE_SIZE) + PAGE_SIZE, "RAM end + 4K"},
	    {ALIGN_UP(map_top, PAGE_SIZE), "end of the map"},
	    {1 * GiB, "1 GiB"},
	    {2 * GiB, "2 GiB"},
	    {3 * GiB, "3 GiB"},
	    {4 * GiB, "4 GiB"},
	    {64 * GiB, "64 GiB"},
	    {512 * GiB, "512 GiB"},
	    {top - PAGE_SIZE, "top of MAXPHYADDR"},
	    {top, "MAXPHYADDR"},
	    {(1ULL << 52) - PAGE_SIZE, "top of the 52-bit space"},
	};
	for (unsigned i = 0; i < ARRAY_SIZE(fixed); i++) {
		if (fixed[i].pa >= (1ULL << 52))
			continue; /* MAXPHYADDR 52: a PTE cannot name 2^52 (bit 52 is an ignored bit) */
		probe_all_sizes(fixed[i].pa, fixed[i].what);
	}

	scan_unbacked();
	if (!cmdline_has("nostring"))
		string_copies();
	reserved_bits();
	own_tables();
	ram_windows();

	printf("escape: %u probes, %u skipped, %u reserved-bit faults (%u without P in the error code), %u fixed-up "
	       "faults in all, %u failures\n",
	       probes, skipped, rsvd_faults, rsvd_without_p, fault.count, failures);
	if (failures)
		test_fail("%u failures (first ones above)", failures);
	test_pass();
}
