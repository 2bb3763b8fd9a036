/* bench: the cost of the common exits and of TDP fault-in, in TSC cycles per operation (exact instruction counts
 * under Bochs or QEMU -icount). Lines `BENCH <name> <cycles-per-op>`:
 *   loop      the empty measuring loop (subtract it from the others if it matters)
 *   cpuid     CPUID leaf 0 (always exits)
 *   pio_out   OUT to the test device's reserved port 0x5fc
 *   hypercall hypercall 0 (NOP)
 *   hypercall_unknown  hypercall 0x7fff, which no hypervisor version defines: it must cost no more than the NOP
 *             (issue 15: an unknown number is answered -ENOSYS on the same path, and logs nothing)
 *   fault_4k  first write to each of N fresh 4 KiB pages (a 2M-aligned region never touched before)
 *   fault_2m  first write to each of up to 32 fresh 2 MiB frames (one write per frame)
 *   apic_eoi  a MOV store to the xAPIC EOI register (nothing in service), as an interrupt handler ends
 *   self_ipi  a fixed self-IPI through the xAPIC ICR, taken by a handler that counts it and writes EOI
 *   timer     a timer tick as a tickless kernel takes it: WRMSR IA32_TSC_DEADLINE (here with a deadline already
 *             passed, so the interrupt comes at once), the interrupt, a handler that counts it and writes EOI
 *   timer_hw  a whole tick as a busy tickless kernel pays it: WRMSR IA32_TSC_DEADLINE TIMER_AHEAD cycles ahead, then
 *             work (a counted spin of 4 instructions per turn) until the handler has run; everything but the work
 *             (the WRMSR's exit, the host timer's exit, the delivery, the handler and its EOI, the loop)
 * With the test device it also checks that each CPUID, OUT and hypercall was one exit of its kind (the counters'
 * deltas), and that the hypercall ABI holds (0 = NOP returns 0; 1 reads a counter; others return -ENOSYS), and prints
 * the TDP_MAPPED_* deltas of the fault runs so the reader knows which page size was mapped. Without a hypervisor the
 * hypercall #UDs: reported as SKIP. `n=` sets N (default 1000). Needs >= 128 MiB for 32 2M frames. */
#include "guest.h"
#include "benchloops.h"

const char test_name[] = "bench";

static u64 N = 1000;
static u32 failures;
static bool counters; /* counters_available() */

static const enum vm_stat fault_stats[] = {VM_STAT_TDP_FAULTS, VM_STAT_TDP_MAPPED_4K, VM_STAT_TDP_MAPPED_2M,
					   VM_STAT_TDP_MAPPED_1G, VM_STAT_EXITS};

static void snap(u64 *v)
{
	for (unsigned i = 0; i < ARRAY_SIZE(fault_stats); i++)
		v[i] = counters ? stat_read(fault_stats[i]) : 0;
}

static void print_deltas(const char *name, const u64 *a, const u64 *b)
{
	if (!counters) {
		printf("bench: %s: counters SKIP no test device\n", name);
		return;
	}
	printf("bench: %s:", name);
	for (unsigned i = 0; i < ARRAY_SIZE(fault_stats); i++)
		printf(" %s +%lu", stat_name(fault_stats[i]), b[i] - a[i]);
	printf("\n");
}

static void report(const char *name, u64 cycles, u64 ops)
{
	u64 per = cycles / ops, frac = (cycles % ops) * 10 / ops;
	printf("BENCH %s %lu.%lu\n", name, per, frac);
}

/* The counter `s` must have grown by `ops` over a loop; the reads themselves may add a few port exits. */
static void check_exits(const char *name, enum vm_stat s, u64 before, u64 after, u64 ops, u64 slack)
{
	if (!counters)
		return;
	u64 d = after - before;
	printf("bench: %s: %s +%lu for %lu operations\n", name, stat_name(s), d, ops);
	if (d < ops || d > ops + slack) {
		printf("bench: FAIL %s: %s grew by %lu, want %lu\n", name, stat_name(s), d, ops);
		failures++;
	}
}

static void bench_exits(void)
{
	report("loop", bench_loop_empty(N), N);

	u64 c0 = counters ? stat_read(VM_STAT_CPUID_EXITS) : 0;
	u64 t = bench_loop_cpuid(N);
	u64 c1 = counters ? stat_read(VM_STAT_CPUID_EXITS) : 0;
	report("cpuid", t, N);
	check_exits("cpuid", VM_STAT_CPUID_EXITS, c0, c1, N, 0);

	c0 = counters ? stat_read(VM_STAT_IO_EXITS) : 0;
	t = bench_loop_out(TESTDEV_RESERVED, N);
	c1 = counters ? stat_read(VM_STAT_IO_EXITS) : 0;
	report("pio_out", t, N);
	check_exits("pio_out", VM_STAT_IO_EXITS, c0, c1, N, 6);

	u64 ret;
	int f = hypercall_try(HC_NOP, 0, &ret);
	if (f) {
		printf("BENCH hypercall SKIP %s faulted (vector %d): no hypervisor\n",
		       cpu.is_amd ? "VMMCALL" : "VMCALL", f - 1);
		if (counters || (cpu.hv_features & HV_FEATURE_HYPERCALL)) {
			printf("bench: FAIL this hypervisor has hypercalls (test device or CPUID) but the hypercall "
			       "faults\n");
			failures++;
		}
		return;
	}
	if (ret != 0) {
		printf("bench: FAIL hypercall NOP returned 0x%lx, want 0\n", ret);
		failures++;
	}
	u64 via_port = stat_read(VM_STAT_HYPERCALLS), via_hc = hypercall(HC_READ_STAT, VM_STAT_HYPERCALLS);
	printf("bench: HYPERCALLS counter: %lu through the port, %lu through hypercall 1\n", via_port, via_hc);
	if (counters && (via_hc < via_port || via_hc > via_port + 1)) {
		printf("bench: FAIL hypercall 1 read HYPERCALLS as %lu, the port as %lu\n", via_hc, via_port);
		failures++;
	}
	u64 bogus = hypercall(0x7fff, 0);
	if (bogus != HC_ENOSYS) {
		printf("bench: FAIL unknown hypercall returned 0x%lx, want -38 (-ENOSYS)\n", bogus);
		failures++;
	}
	c0 = counters ? stat_read(VM_STAT_HYPERCALLS) : 0;
	t = bench_loop_hypercall(HC_NOP, N);
	c1 = counters ? stat_read(VM_STAT_HYPERCALLS) : 0;
	report("hypercall", t, N);
	check_exits("hypercall", VM_STAT_HYPERCALLS, c0, c1, N, 0);

	c0 = counters ? stat_read(VM_STAT_HYPERCALLS) : 0;
	u64 tu = bench_loop_hypercall(0x7fff, N);
	c1 = counters ? stat_read(VM_STAT_HYPERCALLS) : 0;
	report("hypercall_unknown", tu, N);
	check_exits("hypercall_unknown", VM_STAT_HYPERCALLS, c0, c1, N, 0);
	/* The switch reaches the default after the known numbers' compares: a few instructions of slack per call. A
	 * log line or a slower path (the 1,661 against 486) fails this. */
	if (tu > t + 8 * N) {
		printf("bench: FAIL an unknown hypercall costs %lu per call, the NOP %lu\n", tu / N, t / N);
		failures++;
	}
}

#define APIC_BASE   ((u64)0xfee00000)
#define APIC_SVR    0x0f0
#define APIC_ICR_LO 0x300
#define IPI_VECTOR  0x41
#define TIMER_VECTOR 0x42
#define MSR_TSC_DEADLINE 0x6e0
#define TIMER_AHEAD	 3000

static volatile u64 ipis, ticks;

static void apic_write(u32 reg, u32 v)
{
	*(volatile u32 *)(APIC_BASE + reg) = v;
}

static void timer_irq(struct trap_frame *f)
{
	(void)f;
	ticks++;
	apic_write(0xb0, 0);
}

static void ipi_irq(struct trap_frame *f)
{
	(void)f;
	ipis++;
	apic_write(0xb0, 0);
}

/* The two APIC operations every interrupt-heavy guest pays: the EOI write, and a self-IPI (ICR write, delivery, a
 * handler, its EOI). Under the hypervisor each EOI is one MMIO exit where APIC accesses are not virtualized. */
static void bench_apic(void)
{
	if (!cpu.has_apic) {
		printf("BENCH apic_eoi SKIP no APIC\n");
		return;
	}
	apic_write(APIC_SVR, 0x1ff);
	u64 c0 = counters ? stat_read(VM_STAT_MMIO_EXITS) : 0;
	u64 f0 = counters ? stat_read(VM_STAT_APIC_EOI_FAST) : 0;
	u64 t = bench_loop_apic_eoi(APIC_BASE, N);
	u64 c1 = counters ? stat_read(VM_STAT_MMIO_EXITS) : 0;
	u64 f1 = counters ? stat_read(VM_STAT_APIC_EOI_FAST) : 0;
	report("apic_eoi", t, N);
	if (counters)
		printf("bench: apic_eoi: MMIO_EXITS +%lu, APIC_EOI_FAST +%lu for %lu EOIs\n", c1 - c0, f1 - f0, N);

	trap_set_handler(IPI_VECTOR, ipi_irq);
	sti();
	u64 t0 = rdtsc();
	for (u64 i = 0; i < N; i++) {
		u64 want = ipis + 1;
		apic_write(APIC_ICR_LO, (1u << 18) | IPI_VECTOR); /* self shorthand, fixed, edge */
		while (ipis != want)
			;
	}
	t = rdtsc() - t0;
	cli();
	report("self_ipi", t, N);

	u32 a, b, c, d;
	cpuid(1, 0, &a, &b, &c, &d);
	if (!(c & (1u << 24))) {
		printf("BENCH timer SKIP no TSC-deadline timer\n");
		return;
	}
	trap_set_handler(TIMER_VECTOR, timer_irq);
	apic_write(0x320, TIMER_VECTOR | (2u << 17)); /* LVT timer: TSC-deadline mode */
	sti();
	t0 = rdtsc();
	for (u64 i = 0; i < N; i++) {
		u64 want = ticks + 1;
		wrmsr(MSR_TSC_DEADLINE, rdtsc());
		while (ticks != want)
			;
	}
	t = rdtsc() - t0;
	report("timer", t, N);

	u64 spins = 0;
	t0 = rdtsc();
	for (u64 i = 0; i < N; i++) {
		u64 want = ticks + 1;
		wrmsr(MSR_TSC_DEADLINE, rdtsc() + TIMER_AHEAD);
		/* The guest's work while it waits: exactly 4 instructions a turn, so it can be taken out. */
		asm volatile("1: cmpq %1, %2\n\tje 2f\n\tincq %0\n\tjmp 1b\n2:"
			     : "+r"(spins)
			     : "r"(want), "m"(ticks)
			     : "memory", "cc");
	}
	t = rdtsc() - t0;
	cli();
	apic_write(0x320, 1u << 16);
	report("timer_hw", t - 4 * spins, N);
}

static void bench_faults(void)
{
	u64 a[ARRAY_SIZE(fault_stats)], b[ARRAY_SIZE(fault_stats)];
	u64 size4k = ALIGN_UP(N * PAGE_SIZE, SIZE_2M);
	u64 r4k = ram_find_free(size4k, SIZE_2M, 0, 4 * GiB);
	if (!r4k) {
		printf("BENCH fault_4k SKIP no free %lu MiB region\n", size4k / MiB);
	} else {
		snap(a);
		u64 t = bench_loop_write(r4k, PAGE_SIZE, N, 1);
		snap(b);
		printf("bench: fault_4k: %lu pages at 0x%lx\n", N, r4k);
		report("fault_4k", t, N);
		print_deltas("fault_4k", a, b);
	}
	u64 min = r4k ? r4k + size4k : 0, frames = 0, r2m = 0;
	for (u64 k = 32; k >= 1 && !r2m; k /= 2) {
		r2m = ram_find_free(k * SIZE_2M, SIZE_2M, min, 4 * GiB);
		frames = k;
	}
	if (!r2m) {
		printf("BENCH fault_2m SKIP no free 2M frame\n");
		return;
	}
	snap(a);
	u64 t = bench_loop_write(r2m, SIZE_2M, frames, 1);
	snap(b);
	printf("bench: fault_2m: %lu frames at 0x%lx\n", frames, r2m);
	report("fault_2m", t, frames);
	print_deltas("fault_2m", a, b);
}

int test_main(void)
{
	counters = counters_available();
	cmdline_u64("n", &N);
	if (!N)
		N = 1;
	cli();
	bench_exits();
	bench_apic();
	bench_faults();
	if (failures)
		test_fail("%u checks failed (see above)", failures);
	test_pass();
}
