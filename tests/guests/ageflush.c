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
 * A scan before which vCPU 1 did not pass over the whole hot set after the previous scan's flush (its host thread
 * descheduled: QEMU without -icount on a loaded host) tells nothing about the flush: it is left out of the count
 * (and reported), and the test waits for more scans, up to 8 times as many as it needs.
 *
 * cmdline: flush (the VM has age_flush=on), expect_idle (without the flush, all hot pages must be false-idle),
 * scans=N (default 8). The VM: cpus=2 pages=4k ws=INTERVAL. */
#include "guest.h"
#include "smp.h"

const char test_name[] = "ageflush";

#define HOT	 8
#define COLD	 8
#define COLD_AT	 64  /* the cold set's first page in the chunk: its own page table entries, apart */
#define GAP	 400 /* TSC cycles: a pass of vCPU 1 (about 40 instructions) that took longer was interrupted */
#define AP_STACK 16384

static u8 ap_stack[AP_STACK] __attribute__((aligned(16)));
static u64 chunk;
static struct ws_report rep;

/* Shared with vCPU 1. seen: the scan vCPU 0 last saw, published once that scan (and so its flush request) is done.
 * touched_epoch: the seen under which vCPU 1 began its latest whole pass over the hot set that was not interrupted
 * and followed a change of seen or an interruption (the flush's exit among them): once vCPU 0 reads the current
 * seen there before the next scan begins, every hot page was touched after the last flush and before that scan. */
static volatile u64 seen, stop, running, touched_epoch = ~0ULL;
/* vCPU 1's counts, which vCPU 0 reads at the first and the last counted scan: passes over the hot set, and the
 * passes that took longer than GAP (interrupted: an exit, the flush's among them) and their cycles. */
static volatile u64 passes, gaps, gap_cycles;

static void ap_main(u64 arg)
{
	u64 last_seen = ~0ULL, last = rdtsc();
	bool fresh = true;

	(void)arg;
	/* IF=1 with no interrupt source: Bochs 2.7 takes no host interrupt in a guest re-entered with IF=0 after an
	 * exit for one until the guest changes IF (README, "Getting a vCPU out of the guest"), which would hold the
	 * flush request back after the first. Real guests run with IF=1. */
	sti();
	running = 1;
	while (!stop) {
		u64 epoch = seen;

		if (epoch != last_seen) {
			last_seen = epoch;
			fresh = true;
		}
		for (u64 p = 0; p < HOT; p++)
			(*(volatile u64 *)(chunk + p * PAGE_SIZE))++;
		passes++;
		u64 now = rdtsc();
		if (now - last > GAP) {
			gaps++;
			gap_cycles += now - last;
			fresh = true; /* interrupted in this pass, maybe by the flush: the next one counts */
		} else if (fresh) {
			touched_epoch = epoch;
			fresh = false;
		}
		last = now;
	}
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

/* Spin (each call an exit, where vCPU 0 scans when due) until the scan count passes `from`. *touched: vCPU 1's
 * touched_epoch as it was after the last call that still saw `from`: the scan runs on this vCPU, between two of its
 * entries, so it began later, and vCPU 1's record then was made before it (vCPU 1 makes new ones meanwhile). */
static u64 wait_scan(u64 from, u64 *touched)
{
	for (u64 i = 0;; i++) {
		u64 s = ws(0, 0);
		if (s > from)
			return s;
		if (touched)
			*touched = touched_epoch;
		if (i > (1ULL << 32))
			test_fail("no scan came");
	}
}

int test_main(void)
{
	bool flush = cmdline_has("flush"), expect_idle = cmdline_has("expect_idle");
	u64 scans = 8, false_idle = 0, false_young = 0, counted = 0, left_out = 0, s, s0;

	cmdline_u64("scans", &scans);
	if (scans < 2 || scans > 1000)
		test_fail("scans=%lu out of [2, 1000]", scans);
	chunk = ram_find_free(SIZE_2M, SIZE_2M, 0, 3 * GiB);
	if (!chunk)
		test_fail("no free 2 MiB chunk");
	cli();
	for (u64 p = 0; p < COLD; p++)
		(*(volatile u64 *)(chunk + (COLD_AT + p) * PAGE_SIZE))++;
	if (smp_start_ap(1, ap_main, 0, (u64)&ap_stack[AP_STACK], 1ULL << 32) < 0)
		test_fail("vCPU 1 did not start (the VM needs cpus=2)");
	while (!running)
		pause();
	/* The baseline: a scan that began after both sets were touched (HC_WS waits out a scan in progress). */
	s = s0 = wait_scan(ws(0, 0), NULL);
	seen = s;
	u64 flushes0 = stat_read(VM_STAT_AGE_FLUSHES), passes0 = passes, gaps0 = gaps, gap_cycles0 = gap_cycles;
	for (u64 k = 0; counted < scans; k++) {
		if (k == 8 * scans)
			test_fail("only %lu of %lu scans counted: vCPU 1 hardly ran (host overloaded?)", counted, k);
		u64 epoch = ~0ULL, next = wait_scan(s, &epoch);

		ws(chunk >> 12, HOT);
		u64 idle = HOT - rep.young[0];
		ws((chunk >> 12) + COLD_AT, COLD);
		u64 young = rep.young[0];
		bool missed = next != s + 1;

		seen = next;
		s = next;
		false_young += young;
		/* Whether vCPU 1 went over the whole hot set after scan `next - 1` and its flush and before scan `next`
		 * began: else this scan tells nothing (vCPU 1 did not run meanwhile). */
		if (missed || epoch != next - 1) {
			left_out++;
			printf("ageflush: scan %lu left out: vCPU 1 did not pass over the hot set since scan %lu\n",
			       next, next - 1);
			continue;
		}
		counted++;
		false_idle += idle;
	}
	/* Over the passes from the baseline to the last: vCPU 0 is here, after the last one (and its flush request). */
	u64 flushes = stat_read(VM_STAT_AGE_FLUSHES) - flushes0, passed = s - s0;
	u64 ap_passes = passes - passes0, ap_gaps = gaps - gaps0, ap_gap_cycles = gap_cycles - gap_cycles0;
	stop = 1;
	while (__atomic_load_n(&running, __ATOMIC_ACQUIRE) != 2)
		pause();

	printf("ageflush: RESULT age_flush=%s passes=%lu counted=%lu left_out=%lu hot=%u false_idle=%lu cold=%u "
	       "false_young=%lu flushes=%lu ap_passes=%lu ap_gaps=%lu ap_gap_cycles=%lu\n",
	       flush ? "on" : "off", passed, counted, left_out, HOT, false_idle, COLD, false_young, flushes, ap_passes,
	       ap_gaps, ap_gap_cycles);
	if (false_young)
		test_fail("%lu cold page-scans reported young: aging lost an A clear", false_young);
	if (flush) {
		/* One flush per pass that made a page old, no more: each counted one did (the hot set was young). */
		if (flushes > passed || flushes < counted)
			test_fail("%lu flushes over %lu aging passes (%lu of them with the hot set young) with "
				  "age_flush=on: want one per pass that aged a page",
				  flushes, passed, counted);
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
