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

enum kind { RAM, UNBACKED, LAPIC, HPET };
static const char *const kind_name[] = {"RAM", "MMIO", "LAPIC", "HPET"};

struct side {
	enum kind kind;
	u64 pa; /* the frame */
};

static bool zero;	     /* unbacked=zero */
static u64 unbacked;	     /* two unbacked frames: unbacked and unbacked + 4K */
static u64 ram;		     /* two RAM frames, identity-mapped */
static u64 accesses, errors; /* over all phases */
static u8 seed;

#define LAPIC_PA  0xfee00000ULL
#define HPET_PA	  0xfed00000ULL /* the PC platform's (platform=pc): 0x400 bytes of registers, GCAP_ID first */
#define HPET_REGS 0x400
#define IOAPIC_PA 0xfec00000ULL

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
	case HPET: /* GCAP_ID and the reserved register after it are read-only; past the registers: unclaimed */
		if (off >= HPET_REGS)
			return zero ? 0 : 0xff;
		return (u8)(*(volatile u64 *)(HPET_PA + (off & ~7ULL)) >> (8 * (off & 7)));
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

/* Every size from min_size up and every split at the pair lo, hi mapped at V, V + 4K. */
static void run_pair(const char *name, struct side lo, struct side hi, unsigned int min_size)
{
	static const unsigned int sizes[] = {2, 4, 8, 16};
	u64 before = errors;
	u64 va = win_map(1, 0, lo.pa, PTE_W | (lo.kind == RAM ? 0 : PTE_UC));
	char pair[32];

	win_map(1, 1, hi.pa, PTE_W | (hi.kind == RAM ? 0 : PTE_UC));
	snprintf(pair, sizeof(pair), "%s to %s", kind_name[lo.kind], kind_name[hi.kind]);
	for (unsigned int i = 0; i < ARRAY_SIZE(sizes); i++) {
		unsigned int size = sizes[i];
		if (size < min_size)
			continue;
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

static u32 ioapic_window(u32 reg)
{
	*(volatile u32 *)IOAPIC_PA = reg;
	return *(volatile u32 *)(IOAPIC_PA + 0x10);
}

/* RAM then the IOAPIC: a write whose last 4, then 3, bytes land on IOREGSEL (as one 4-byte piece; as 2 + 1) must
 * select register 1 (the version) with exactly the bytes the guest wrote there, while the RAM side gets its own. */
static void ioapic_regsel(struct side r)
{
	u32 version = ioapic_window(1);
	u64 va = win_map(1, 0, r.pa, PTE_W);

	win_map(1, 1, IOAPIC_PA, PTE_W | PTE_UC);
	if (version == ~0u || version == 0)
		test_fail("ioapic: version register reads 0x%x", version);
	for (unsigned int k = 4; k <= 5; k++) {
		u8 marker[8] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
		*(volatile u32 *)IOAPIC_PA = 0; /* select the ID register */
		marker[k] = 1;			/* IOREGSEL's low byte; the bytes above it 0 */
		for (unsigned int j = k + 1; j < 8; j++)
			marker[j] = 0;
		ram_fill();
		if (access(va + PAGE_SIZE - k, 8, marker, true))
			test_fail("ioapic: 8-byte write %u bytes before the IOAPIC page faulted", k);
		accesses++;
		u32 got = *(volatile u32 *)(IOAPIC_PA + 0x10);
		if (got != version)
			test_fail(
			    "ioapic: after a write with %u bytes on IOREGSEL, IOWIN reads 0x%x, not the version 0x%x",
			    8 - k, got, version);
		for (unsigned int j = 0; j < k; j++)
			if (((volatile u8 *)r.pa)[PAGE_SIZE - k + j] != marker[j])
				test_fail("ioapic: RAM byte %u of the write not written", j);
	}
	printf("TEST span_ram_ioapic PASS\n");
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

	run_pair("ram_mmio", r0, u0, 2);
	run_pair("mmio_ram", u0, r1, 2);
	run_pair("mmio_mmio", u0, u1, 2);
	run_pair("lapic_ram", apic, r0, 2);
	run_pair("ram_lapic", r1, apic, 2);
	run_pair("lapic_mmio", apic, u1, 2);

	/* A device model behind the split: the HPET's GCAP_ID read through 1 to 15 byte remnants (the pieces of 3, 5, 6
	 * and 7 bytes included), and the IOAPIC's IOREGSEL written through a 4- and a 3-byte one, checked by what IOWIN
	 * then gives. Only with the PC platform. From 4 bytes up for the HPET, whose registers are defined for 32- and
	 * 64-bit accesses only (HPET 1.0a 2.3.1): plain QEMU reads a 2-byte access there as 0, and this hypervisor's
	 * model answers any size byte-wise, so the two agree on every access a guest may make. */
	if (*(volatile u64 *)HPET_PA != ~0ULL) {
		const struct side hpet = {HPET, HPET_PA};
		run_pair("ram_hpet", r0, hpet, 4);
		run_pair("hpet_ram", hpet, r1, 4);
		ioapic_regsel(r0);
	} else {
		printf("span: no HPET or IOAPIC (platform=minimal): device phases skipped\n");
	}

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
