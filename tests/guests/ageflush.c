/* ageflush: what the TLB flush after aging (age_flush=on|off, mm/mmu.h) does to the working-set estimator's accuracy
 * (ws=, read back through HC_WS) for pages in constant use.
 *
 * vCPU 1 keeps a hot set of HOT pages in use in a loop that never leaves the guest (nothing in it exits, so nothing
 * but the hypervisor's own request flushes its TLB): their translations stay cached. A cold set of COLD pages is
 * touched once, before the first counted scan, and never again. vCPU 0 waits for each scan and reads the report
 * over each set: a hot page not seen young by the last scan is false-idle, a cold page seen young is false-young.
 *
 * The architectural rule measured (Intel SDM Vol. 3A 4.8 and 4.10, Vol. 3C 28.2.4 and 28.3.3.4 in the 2016-2022
 * editions' numbering; AMD APM Vol. 2 5.5 and 15.25): the processor sets A (in EPT, NPT, or a shadow leaf) when it
 * walks the entry, not when it uses a translation it has cached, and the SDM asks for an INVEPT after clearing an
 * EPT A bit for that reason; an access-tracked entry (no EPT A/D) is likewise not re-read while a
 * translation of it is cached. So with age_flush=off the hot pages may be reported idle; with age_flush=on every
 * aging pass ends with a flush of every vCPU, and they must not be: false-idle 0 is asserted (`flush`), and the
 * flush counter must move. Without the flush the count is printed; it is asserted nonzero only where the emulator
 * models the TLB deterministically (`expect_idle`). Cold pages must never be reported young, either way.
 *
 * A scan interval in which vCPU 1 barely ran (its host thread descheduled: QEMU without -icount on a loaded host)
 * cannot tell anything about the flush and is left out of the count (and reported); more than half left out fails.
 *
 * cmdline: flush (the VM has age_flush=on), expect_idle (without the flush, all hot pages must be false-idle),
 * scans=N (default 8). The VM: cpus=2 pages=4k ws=INTERVAL. */
#include "guest.h"
#include "smp.h"

const char test_name[] = "ageflush";

#define HOT	  8
#define COLD	  8
#define COLD_AT	  64		/* the cold set's first page in the chunk: its own page table entries, apart */
#define MIN_ITERS 4		/* vCPU 1 passes over the hot set within an interval for it to count */
#define GAP	  2000		/* TSC cycles: an iteration of vCPU 1's loop that took longer was interrupted */
#define AP_STACK  16384

static u8 ap_stack[AP_STACK] __attribute__((aligned(16)));
static u64 chunk;
static struct ws_report rep;

/* Shared with vCPU 1: seen is the scan vCPU 0 last saw (it publishes it once the scan, and so its flush request,
 * is done); vCPU 1 counts its passes since it last saw seen change. */
static volatile u64 seen, stop, running;
static volatile u64 iters_since, iters, gaps, gap_cycles;

static void ap_main(u64 arg)
{
	u64 last_seen = seen, n = 0, since = 0, g = 0, gc = 0, last = rdtsc();

	(void)arg;
	/* IF=1 with no interrupt source: Bochs 2.7 takes no host interrupt in a guest re-entered with IF=0 after an
	 * exit for one until the guest changes IF (README, "Getting a vCPU out of the guest"), which would hold the
	 * flush request back after the first. Real guests run with IF=1. */
	sti();
	running = 1;
	while (!stop) {
		for (u64 p = 0; p < HOT; p++)
			(*(volatile u64 *)(chunk + p * PAGE_SIZE))++;
		n++;
		if (seen != last_seen) {
			last_seen = seen;
			since = 0;
		}
		iters_since = ++since;
		u64 now = rdtsc();
		if (now - last > GAP) {
			g++;
			gc += now - last;
		}
		last = now;
	}
	iters = n;
	gaps = g;
	gap_cycles = gc;
	__atomic_store_n(&running, 2, __ATOMIC_RELEASE);
	for (;;)
		asm volatile("cli; hlt");
}

static u64 ws(u64 gfn, u64 pages)
{
	u64 r = hypercall3(HC_WS, (u64)&rep, gfn, pages);

	if (r)
		test_fail("HC_WS over %lu pages at gfn %#lx: %ld", pages, gfn, (long)r);
	return rep.scans;
}

/* Spin (each call an exit, where vCPU 0 scans when due) until the scan count passes `from`. */
static u64 wait_scan(u64 from)
{
	for (u64 i = 0;; i++) {
		u64 s = ws(0, 0);
		if (s > from)
			return s;
		if (i > (1ULL << 32))
			test_fail("no scan came");
	}
}

int test_main(void)
{
	bool flush = cmdline_has("flush"), expect_idle = cmdline_has("expect_idle");
	u64 scans = 8, false_idle = 0, false_young = 0, counted = 0, left_out = 0, flushes0, s;

	cmdline_u64("scans", &scans);
	if (scans < 2 || scans > 1000)
		test_fail("scans=%lu out of [2, 1000]", scans);
	chunk = ram_find_free(SIZE_2M, SIZE_2M, 0, 3 * GiB);
	if (!chunk)
		test_fail("no free 2 MiB chunk");
	cli();
	for (u64 p = 0; p < COLD; p++)
		(*(volatile u64 *)(chunk + (COLD_AT + p) * PAGE_SIZE))++;
	flushes0 = stat_read(VM_STAT_AGE_FLUSHES);
	if (smp_start_ap(1, ap_main, 0, (u64)&ap_stack[AP_STACK], 1ULL << 32) < 0)
		test_fail("vCPU 1 did not start (the VM needs cpus=2)");
	while (!running)
		pause();
	/* The baseline: a scan that began after both sets were touched (HC_WS waits out a scan in progress). */
	s = wait_scan(ws(0, 0));
	seen = s;
	for (u64 k = 0; k < scans; k++) {
		u64 next = wait_scan(s), ran = iters_since;

		ws(chunk >> 12, HOT);
		u64 idle = HOT - rep.young[0];
		ws((chunk >> 12) + COLD_AT, COLD);
		u64 young = rep.young[0];
		seen = next;
		s = next;
		false_young += young;
		if (ran < MIN_ITERS) {
			left_out++;
			printf("ageflush: scan %lu left out: vCPU 1 made %lu passes over the hot set since scan %lu\n", next,
			       ran, next - 1);
			continue;
		}
		counted++;
		false_idle += idle;
	}
	stop = 1;
	while (__atomic_load_n(&running, __ATOMIC_ACQUIRE) != 2)
		pause();
	u64 flushes = stat_read(VM_STAT_AGE_FLUSHES) - flushes0;

	printf("ageflush: RESULT age_flush=%s scans=%lu counted=%lu hot=%u false_idle=%lu cold=%u false_young=%lu "
	       "flushes=%lu ap_passes=%lu ap_gaps=%lu ap_gap_cycles=%lu\n",
	       flush ? "on" : "off", scans, counted, HOT, false_idle, COLD, false_young, flushes, iters, gaps,
	       gap_cycles);
	if (false_young)
		test_fail("%lu cold page-scans reported young: aging lost an A clear", false_young);
	if (left_out * 2 > scans)
		test_fail("%lu of %lu scans left out: vCPU 1 hardly ran (host overloaded?)", left_out, scans);
	if (flush) {
		/* Every pass aged the hot pages (young again after each flush): one flush per scan at least. */
		if (flushes < scans)
			test_fail("%lu flushes over %lu scans with age_flush=on", flushes, scans);
		if (false_idle)
			test_fail("%lu of %lu hot page-scans reported idle with age_flush=on", false_idle,
				  counted * HOT);
	} else {
		if (flushes)
			test_fail("%lu flushes with age_flush=off", flushes);
		if (expect_idle && false_idle != counted * HOT)
			test_fail("%lu of %lu hot page-scans reported idle without the flush: this emulator's TLB "
				  "was expected to keep every hot translation",
				  false_idle, counted * HOT);
	}
	test_pass();
}
