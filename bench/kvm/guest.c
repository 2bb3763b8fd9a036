/* benchkvm: the guest of the KVM peer (bench/kvm/vmm.c). It times the loops of tests/guests/bench.c and
 * benchfault.c, the same functions (tests/guests/lib/benchloops.c), under Linux KVM, in short loops repeated: in the
 * emulators the L1 kernel takes a timer tick every 200k instructions or so, and a short loop (n operations, default
 * 20) repeated `reps` times (default 30) has most repeats free of it. Each repeat is bracketed by marks to the VMM
 * (bench/kvm/peer.h): the phase's name and operation count, then the loop's rdtsc delta; the VMM reads KVM's
 * counters at each mark and prints the most frequent total. Phases, as named in bench.c and benchfault.c:
 *   loop, cpuid, pio_out (OUT to 0x5fc, an ioeventfd: handled in KVM), hypercall (number 0: KVM answers -ENOSYS
 *   without leaving the kernel, its cheapest hypercall, as HC_NOP is ours), mmio4k_table (`table` reads, each the
 *   first of a fresh 2M of unbacked space: a 4K TDP table and an MMIO SPTE), mmio4k_first (`mmio` further pages of a 2M
 *   whose table exists: an MMIO SPTE each), mmio4k_again (the same pages: the cached MMIO SPTE), mmio_ioapic (the
 *   IOAPIC's index register: KVM's in-kernel IOAPIC answers).
 * KVM completes an unbacked read in the VMM (KVM_EXIT_MMIO), which answers all ones as our hypervisor does.
 * An MMIO read costs about 6,500 instructions when KVM completes it in the VMM: those loops run `mmio` operations
 * (default 8), so that most repeats fit between two of Bochs' ticks (at 20, two thirds of them did not).
 * Command line: n=, reps=, table= (default 8, as benchfault's regions), mmio=; `nohypercall` leaves the hypercall out
 * (a host whose KVM is not hardware-assisted, PVM for one, may loop on VMCALL). */
#include "guest.h"
#include "benchloops.h"
#include "peer.h" /* the mark ports, PEER_MAX_REPEATS: the VMM's side of them */

const char test_name[] = "benchkvm";

#define MMIO_BASE   0xc0000000ull
#define IOAPIC_MMIO 0xfec00000ull /* benchfault's addr=: unbacked, in the guest's uncached 3-4 GiB */

static u64 n = 20, reps = 30, table = 8, mmio = 8;

static void mark_begin(const char *name, u64 ops)
{
	for (const char *p = name; *p; p++)
		outb(PEER_PORT_NAME, (u8)*p);
	outl(PEER_PORT_BEGIN, (u32)ops);
}

static void mark_end(u64 total)
{
	if (total >> 32)
		test_fail("a loop took %lu cycles: more than the mark's 32 bits", total);
	outl(PEER_PORT_END, (u32)total);
}

int test_main(void)
{
	cmdline_u64("n", &n);
	cmdline_u64("reps", &reps);
	cmdline_u64("table", &table);
	cmdline_u64("mmio", &mmio);
	if (!n || !reps || reps > PEER_MAX_REPEATS || !table || !mmio)
		test_fail("n=%lu reps=%lu table=%lu mmio=%lu: want n, table, mmio >= 1 and reps 1-%u", n, reps, table,
			  mmio, PEER_MAX_REPEATS);
	/* 2M regions of MMIO space: the warm-up's, `table` per repeat, one per repeat for first/again. */
	u64 regions = 1 + reps * table + reps;
	if (regions > 512 || mmio > 511)
		test_fail("n=%lu reps=%lu table=%lu need %lu 2M regions in the 1G at 0x%llx", n, reps, table, regions,
			  MMIO_BASE);
	if (mmap_overlaps(MMIO_BASE, MMIO_BASE + SIZE_1G))
		test_fail("0x%llx is inside the memory map: not unbacked", MMIO_BASE);
	cli();

	bool hc = !cmdline_has("nohypercall");
	u64 ret = 0;
	int f = hc ? hypercall_try(HC_NOP, 0, &ret) : 0;
	if (f)
		test_fail("%s faulted (vector %d)", cpu.is_amd ? "VMMCALL" : "VMCALL", f - 1);
	printf("guest benchkvm: hypercall %lu returned %ld; n=%lu reps=%lu table=%lu\n", (u64)HC_NOP, (long)ret, n,
	       reps, table);

	for (u64 r = 0; r < reps; r++) {
		mark_begin("loop", n);
		mark_end(bench_loop_empty(n));
	}
	for (u64 r = 0; r < reps; r++) {
		mark_begin("cpuid", n);
		mark_end(bench_loop_cpuid(n));
	}
	for (u64 r = 0; r < reps; r++) {
		mark_begin("pio_out", n);
		mark_end(bench_loop_out(TESTDEV_RESERVED, n));
	}
	for (u64 r = 0; r < reps && hc; r++) {
		mark_begin("hypercall", n);
		mark_end(bench_loop_hypercall(HC_NOP, n));
	}

	/* Warm-up, as in benchfault: the first read of the 1G also allocates the 2M-level table. */
	bench_loop_mmio_read(MMIO_BASE, 0, 1);
	for (u64 r = 0; r < reps; r++) {
		mark_begin("mmio4k_table", table);
		mark_end(bench_loop_mmio_read(MMIO_BASE + (1 + r * table) * SIZE_2M, SIZE_2M, table));
	}
	for (u64 r = 0; r < reps; r++) {
		u64 region = MMIO_BASE + (1 + reps * table + r) * SIZE_2M;
		bench_loop_mmio_read(region, 0, 1); /* its 4K table, untimed */
		mark_begin("mmio4k_first", mmio);
		mark_end(bench_loop_mmio_read(region + PAGE_SIZE, PAGE_SIZE, mmio));
		mark_begin("mmio4k_again", mmio);
		mark_end(bench_loop_mmio_read(region + PAGE_SIZE, PAGE_SIZE, mmio));
	}
	printf("guest benchkvm: mmio: %lu reads, %lu all ones\n", bench_mmio_reads, bench_mmio_ones);
	if (bench_mmio_ones != bench_mmio_reads)
		test_fail("%lu of %lu unbacked reads were not all ones", bench_mmio_reads - bench_mmio_ones,
			  bench_mmio_reads);
	/* The IOAPIC's index register: KVM's in-kernel IOAPIC answers, no exit to the VMM (benchfault's mmio_ioapic).
	 */
	bench_loop_mmio_read(IOAPIC_MMIO, 0, 1);
	for (u64 r = 0; r < reps; r++) {
		mark_begin("mmio_ioapic", mmio);
		mark_end(bench_loop_mmio_read(IOAPIC_MMIO, 0, mmio));
	}
	test_pass();
}
