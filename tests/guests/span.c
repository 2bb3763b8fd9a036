/* span: loads and stores that cross a page end into or out of MMIO (issue 14 item 11). The guest's own page tables
 * put two frames at adjacent virtual pages (V and V + 4K): RAM then unbacked MMIO, unbacked MMIO then RAM, two
 * unbacked MMIO frames, and the LAPIC page before RAM, after RAM and before unbacked MMIO. At each pair, MOVs of 2, 4
 * and 8 bytes and MOVDQU of 16 bytes start 1 to size-1 bytes before the page end. A read must give the RAM bytes the
 * RAM side holds and what the device gives for the rest; a write must land exactly the RAM side's bytes, nothing
 * around them, and the VM must keep running. The CPU performs such accesses (SDM Vol. 3A 4.1.3 and 8.1.1: an
 * unaligned access that crosses a page is carried out as separate accesses, each translated on its own), so the
 * hypervisor must too, whatever pieces the device side leaves.
 * Devices: unbacked memory (default 0xC0000000, `addr=`; outside the memory map) reads all ones and drops writes
 * (`unbacked=zero` for plain QEMU, which reads 0); the LAPIC's first and last 16 bytes are reserved registers (SDM
 * Vol. 3A 11.4.1, table 11-1), which read 0 and ignore writes under KVM, plain QEMU and this hypervisor. */
#include "guest.h"

const char test_name[] = "span";

enum kind { RAM, UNBACKED, LAPIC };
static const char *const kind_name[] = {"RAM", "MMIO", "LAPIC"};

struct side {
	enum kind kind;
	u64 pa; /* the frame */
};

static bool zero;	     /* unbacked=zero */
static u64 unbacked;	     /* two unbacked frames: unbacked and unbacked + 4K */
static u64 ram;		     /* two RAM frames, identity-mapped */
static u64 accesses, errors; /* over all phases */
static u8 seed;

#define LAPIC_PA 0xfee00000ULL

/* The RAM frames get a fresh pattern before each access, so that a stale byte is told from a written one. */
static void ram_fill(void)
{
	seed += 0x3b;
	for (u64 i = 0; i < 2 * PAGE_SIZE; i++)
		((volatile u8 *)ram)[i] = (u8)(seed + i * 7 + (i >> 12) * 0x55);
}

static u8 ram_pattern(u64 pa)
{
	u64 i = pa - ram;
	return (u8)(seed + i * 7 + (i >> 12) * 0x55);
}

/* What a read of the byte at offset off of a side's frame gives. */
static u8 side_byte(const struct side *s, u64 off)
{
	switch (s->kind) {
	case RAM:
		return ((volatile u8 *)s->pa)[off];
	case UNBACKED:
		return zero ? 0 : 0xff;
	default:
		return 0; /* a reserved LAPIC register */
	}
}

/* One access of `size` bytes at V + 4K - k: its byte j is at offset 4K - k + j of the low frame when j < k, else at
 * j - k of the high frame. */
static u8 expect_byte(const struct side *lo, const struct side *hi, unsigned int k, unsigned int j)
{
	return j < k ? side_byte(lo, PAGE_SIZE - k + j) : side_byte(hi, j - k);
}

static int access(u64 va, unsigned int size, u8 *buf, bool write)
{
	u64 v = 0;
	int f;

	if (size == 16) { /* xmm0 is not clobbered: guest C is built without SSE (-mno-sse), nothing else uses it */
		fault_clear();
		if (write)
			asm volatile("movdqu (%0), %%xmm0; " FIXUP("movdqu %%xmm0, (%1)")::"r"(buf), "r"(va)
				     : "memory");
		else
			asm volatile(FIXUP("movdqu (%1), %%xmm0") "; movdqu %%xmm0, (%0)" ::"r"(buf), "r"(va)
				     : "memory");
		return (int)fault.taken;
	}
	if (write) {
		for (unsigned int j = 0; j < size; j++)
			v |= (u64)buf[j] << (8 * j);
		return probe_write(va, (int)size, v);
	}
	f = probe_read(va, (int)size, &v);
	for (unsigned int j = 0; j < size; j++)
		buf[j] = (u8)(v >> (8 * j));
	return f;
}

static void mismatch(const char *pair, const char *what, unsigned int size, unsigned int k, unsigned int j, u8 got,
		     u8 want)
{
	if (errors++ < 10)
		printf("span: %s: %u-byte %s %u bytes before the page end: byte %u is 0x%x, want 0x%x\n", pair, size,
		       what, k, j, got, want);
}

/* Every size and every split at the pair lo, hi mapped at V, V + 4K. */
static void run_pair(const char *name, struct side lo, struct side hi)
{
	static const unsigned int sizes[] = {2, 4, 8, 16};
	u64 before = errors;
	u64 va = win_map(1, 0, lo.pa, PTE_W | (lo.kind == RAM ? 0 : PTE_UC));
	char pair[32];

	win_map(1, 1, hi.pa, PTE_W | (hi.kind == RAM ? 0 : PTE_UC));
	snprintf(pair, sizeof(pair), "%s to %s", kind_name[lo.kind], kind_name[hi.kind]);
	for (unsigned int i = 0; i < ARRAY_SIZE(sizes); i++) {
		unsigned int size = sizes[i];
		for (unsigned int k = 1; k < size; k++) {
			u64 at = va + PAGE_SIZE - k;
			u8 buf[16], marker[16];
			int f;

			ram_fill();
			f = access(at, size, buf, false);
			accesses++;
			if (f)
				test_fail("%s: %u-byte read at 0x%lx faulted (vector %d, error 0x%lx)", pair, size, at,
					  f - 1, fault.error);
			for (unsigned int j = 0; j < size; j++)
				if (buf[j] != expect_byte(&lo, &hi, k, j))
					mismatch(pair, "read", size, k, j, buf[j], expect_byte(&lo, &hi, k, j));

			ram_fill();
			for (unsigned int j = 0; j < size; j++)
				marker[j] = (u8)(0xa0 + 0x11 * j + k);
			f = access(at, size, marker, true);
			accesses++;
			if (f)
				test_fail("%s: %u-byte write at 0x%lx faulted (vector %d, error 0x%lx)", pair, size, at,
					  f - 1, fault.error);
			/* The RAM side: its bytes of the access hold the marker, the 16 bytes around them their
			 * pattern (nothing written twice, shifted or beyond the access). */
			for (int j = -16; j < (int)size + 16; j++) {
				const struct side *s = j < (int)k ? &lo : &hi;
				u64 pa = j < (int)k ? lo.pa + PAGE_SIZE - k + j : hi.pa + (j - k);
				if (s->kind != RAM || pa < s->pa || pa >= s->pa + PAGE_SIZE)
					continue;
				u8 got = *(volatile u8 *)pa;
				u8 want = j >= 0 && j < (int)size ? marker[j] : ram_pattern(pa);
				if (got != want)
					mismatch(pair, "write", size, k, (unsigned int)j, got, want);
			}
		}
	}
	if (errors != before)
		test_fail("%s: %lu bytes differed", pair, errors - before);
	printf("TEST span_%s PASS\n", name);
}

int test_main(void)
{
	unbacked = 0xc0000000;
	zero = cmdline_has("unbacked=zero");
	cmdline_u64("addr", &unbacked);
	if (unbacked >= 4 * GiB || (unbacked & 0xfff))
		test_fail("addr=0x%lx: want a page-aligned address below 4 GiB", unbacked);
	if (mmap_overlaps(unbacked, unbacked + 2 * PAGE_SIZE))
		test_fail("0x%lx is inside the memory map: not an unbacked address", unbacked);
	ram = ram_find_free(2 * PAGE_SIZE, PAGE_SIZE, 2 * MiB, 3 * GiB);
	if (!ram)
		test_fail("no two free RAM pages");
	/* SSE on for MOVDQU: CR4.OSFXSR and OSXMMEXCPT, CR0.EM clear and MP set. */
	write_cr4(read_cr4() | (1u << 9) | (1u << 10));
	write_cr0((read_cr0() & ~(1ULL << 2)) | (1u << 1));

	bool counters = counters_available();
	u64 exits = counters ? stat_read(VM_STAT_MMIO_EXITS) : 0;
	const struct side r0 = {RAM, ram}, r1 = {RAM, ram + PAGE_SIZE};
	const struct side u0 = {UNBACKED, unbacked}, u1 = {UNBACKED, unbacked + PAGE_SIZE};
	const struct side apic = {LAPIC, LAPIC_PA};

	run_pair("ram_mmio", r0, u0);
	run_pair("mmio_ram", u0, r1);
	run_pair("mmio_mmio", u0, u1);
	run_pair("lapic_ram", apic, r0);
	run_pair("ram_lapic", r1, apic);
	run_pair("lapic_mmio", apic, u1);

	printf("span: %lu accesses across a page end, RAM at 0x%lx, unbacked at 0x%lx\n", accesses, ram, unbacked);
	if (!counters) {
		printf("span: MMIO_EXITS not checked: no test device\n");
		test_pass();
	}
	/* Each access touched a device: each took at least one MMIO exit (the pieces may count more). */
	exits = stat_read(VM_STAT_MMIO_EXITS) - exits;
	printf("span: MMIO_EXITS +%lu for %lu accesses\n", exits, accesses);
	if (exits < accesses)
		test_fail("MMIO_EXITS grew by %lu for %lu accesses", exits, accesses);
	test_pass();
}
