/* mmio: a guest-physical address with nothing behind it (default 0xC0000000, `addr=` to change; it must lie outside
 * every memory-map entry) reads as all ones for 1-, 2-, 4- and 8-byte loads, drops writes of every size, and each
 * access reaches the hypervisor as an MMIO exit (the MMIO_EXITS counter grows by at least the number of accesses).
 * The guest keeps running afterwards. The page is mapped uncached by the boot tables (identity, 3-4 GiB).
 * `unbacked=zero` expects zeros instead of ones: plain QEMU (7.2, TCG, pc and q35) reads unassigned memory as 0. */
#include "guest.h"

const char test_name[] = "mmio";

static u64 accesses, mismatches;
static bool zero; /* unbacked=zero */

static void expect_unbacked(u64 va, int size, const char *when)
{
	u64 v;
	int f = probe_read(va, size, &v);
	accesses++;
	if (f)
		test_fail("%s: %d-byte read at 0x%lx faulted (vector %d, error 0x%lx)", when, size, va, f - 1,
			  fault.error);
	u64 want = zero ? 0 : ones(size);
	if (v != want) {
		printf("mmio: %s: %d-byte read at 0x%lx gave 0x%lx, want 0x%lx\n", when, size, va, v, want);
		mismatches++;
	}
}

int test_main(void)
{
	u64 addr = 0xc0000000;
	zero = cmdline_has("unbacked=zero");
	cmdline_u64("addr", &addr);
	if (addr >= 4 * GiB || (addr & 0xfff))
		test_fail("addr=0x%lx: want a page-aligned address below 4 GiB", addr);
	if (mmap_overlaps(addr, addr + PAGE_SIZE))
		test_fail("0x%lx is inside the memory map: not an unbacked address", addr);

	bool counters = counters_available();
	u64 before = counters ? stat_read(VM_STAT_MMIO_EXITS) : 0;
	static const int sizes[] = {1, 2, 4, 8};
	for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++) {
		expect_unbacked(addr, sizes[i], "read");
		expect_unbacked(addr + 0x10 + sizes[i], sizes[i], "read at an offset");
		expect_unbacked(addr + PAGE_SIZE - sizes[i], sizes[i], "read at the page end");
	}
	for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++) {
		int size = sizes[i];
		u64 marker = 0x1122334455667788ULL & ones(size);
		if (probe_write(addr + 0x100, size, marker))
			test_fail("%d-byte write at 0x%lx faulted (vector %u)", size, addr + 0x100, fault.taken - 1);
		accesses++;
		for (unsigned j = 0; j < ARRAY_SIZE(sizes); j++)
			expect_unbacked(addr + 0x100, sizes[j], "read after write");
	}
	/* Still running correctly after the exits: registers and memory hold across them. */
	u64 x = 1;
	for (int i = 0; i < 1000; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		if (i % 100 == 0)
			expect_unbacked(addr + 0x200, 8, "read in a loop");
	}
	if (x != 0xf517ff66df0cbea9ULL)
		test_fail("computation across MMIO exits gave 0x%lx, want 0xf517ff66df0cbea9", x);

	u64 after = counters ? stat_read(VM_STAT_MMIO_EXITS) : 0;
	printf("mmio: %lu accesses at 0x%lx, %lu not %s\n", accesses, addr, mismatches, zero ? "zeros" : "all ones");
	if (mismatches)
		test_fail("%lu of %lu accesses at 0x%lx did not read as %s", mismatches, accesses, addr,
			  zero ? "zeros" : "all ones");

	if (!counters) {
		printf("mmio: MMIO_EXITS not checked: no test device\n");
		test_pass();
	}
	printf("mmio: MMIO_EXITS %lu -> %lu (+%lu)\n", before, after, after - before);
	if (after - before < accesses)
		test_fail("MMIO_EXITS grew by %lu for %lu accesses", after - before, accesses);
	test_pass();
}
