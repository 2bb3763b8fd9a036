/* workingset: the working-set estimator (ws=, vm/ws.h) seen from the guest through HC_WS. The VM scans every few ms;
 * the guest touches known pages between two scans and checks, after each scan, that the report over each set says
 * exactly how many scans ago it was last touched. Three sets, each the first `unit` pages of a 2 MiB chunk of free
 * RAM: A and B are touched on a schedule, C never. With pages=4k (unit=8) each set is 8 pages of its chunk, touched
 * page by page; with 2M leaves (unit=512) a set is its whole chunk, as one young 2M leaf is 512 young pages.
 *
 * Before each round of touches the guest drops its own TLB entries for the set (INVLPG): aging does not flush by
 * default (age_flush=off, mm/mmu.h), so a translation still cached from before the scan would be used without the
 * hardware seeing an access (A/D), or without faulting (access tracking). That is the estimator's known error,
 * measured separately (`tlb=1`: the same round without INVLPG, its young count printed, not checked; and
 * tests/guests/ageflush.c, with a vCPU that never exits, against age_flush=on). A scan that lands inside a round
 * of touches (the round took longer than the interval) makes the round's expectation ambiguous: the sequence starts
 * again, five times at most. A scan the guest did not see (the emulator stalled by its host for an interval) only
 * makes the sets older: the expected ages come from the scan numbers the guest saw.
 *
 * cmdline: unit=8|512, mb= the VM's RAM in MiB; reclaim (a VM with reclaim=on: the test of reclaim instead); tlb (also
 * measure without INVLPG); off=1 for a VM without ws= (HC_WS must answer -ENODEV). */
#include "guest.h"

const char test_name[] = "workingset";

#define TOUCHED 8 /* pages written per set and round */

static u64 unit, chunk[3];
static u32 failures;
static struct ws_report rep;

static u64 ws(u64 gfn, u64 pages)
{
	return hypercall3(HC_WS, (u64)&rep, gfn, pages);
}

static u64 scans_now(void)
{
	if (ws(0, 0))
		test_fail("HC_WS of the whole VM failed");
	return rep.scans;
}

/* Spin (each call an exit, where vCPU 0 scans when due) until the scan count passes `from`. */
static u64 wait_scan(u64 from)
{
	for (u64 i = 0;; i++) {
		u64 s = scans_now();
		if (s > from)
			return s;
		if (i > (1ULL << 32))
			test_fail("no scan came");
	}
}

/* Touch set i; false when a scan came meanwhile. */
static bool touch(int i, u64 before, bool flush)
{
	for (u64 p = 0; p < TOUCHED; p++) {
		volatile u8 *va = (volatile u8 *)(chunk[i] + p * PAGE_SIZE);
		if (flush)
			invlpg((u64)va);
		*va = (u8)(*va + 1);
	}
	return scans_now() == before;
}

/* The report over set i's chunk must say: last seen young `ago` scans ago (0: never). */
static void expect(int i, u64 ago, const char *step)
{
	u64 young = ago ? unit : 0, never = 512 - young;

	if (ws(chunk[i] >> 12, 512))
		test_fail("HC_WS over set %c", 'A' + i);
	bool ok = rep.pages == 512 && rep.never == never && rep.idle == 0;
	for (int b = 0; b < WS_BUCKETS; b++)
		ok &= rep.young[b] == (ago && ago <= (1ULL << b) ? young : 0);
	if (ok)
		return;
	printf("workingset: FAIL %s: set %c, want young %lu scans ago (%lu pages, %lu never); got pages %lu, young "
	       "%lu %lu %lu %lu %lu %lu %lu %lu, idle %lu, never %lu\n",
	       step, 'A' + i, ago, young, never, rep.pages, rep.young[0], rep.young[1], rep.young[2], rep.young[3],
	       rep.young[4], rep.young[5], rep.young[6], rep.young[7], rep.idle, rep.never);
	failures++;
}

/* The schedule: what is touched before each scan, and what each set's age is after it. 1 when a scan landed inside
 * a round (start again). */
static int run(void)
{
	static const struct {
		u8 touch;  /* bit i: touch set i before the scan */
		u8 ago[3]; /* then: scans since A, B, C were last young (0: never) */
	} steps[] = {
	    {3, {1, 1, 0}}, {0, {2, 2, 0}}, {1, {1, 3, 0}}, {2, {2, 1, 0}}, {0, {3, 2, 0}},
	    {0, {4, 3, 0}}, {0, {5, 4, 0}}, {0, {6, 5, 0}}, {0, {7, 6, 0}}, {0, {8, 7, 0}},
	    {1, {1, 8, 0}}, {0, {2, 9, 0}}, {3, {1, 1, 0}},
	};
	u64 young_at[2] = {0, 0}; /* the first scan after set i's last touch */
	u64 s = wait_scan(scans_now()), missed = 0;

	for (unsigned int k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
		char step[48];

		for (int i = 0; i < 2; i++) {
			if (!(steps[k].touch & (1 << i)))
				continue;
			if (!touch(i, s, true))
				return 1;
			young_at[i] = s + 1;
		}
		u64 next = wait_scan(s);
		/* A host that stalls the emulator for longer than an interval makes the guest miss a scan: the sets are
		 * then older than the table says, by exactly the scans missed, and that is what is checked. */
		missed += next - s - 1;
		snprintf(step, sizeof(step), "step %u (scan %lu, %lu missed)", k, next, missed);
		s = next;
		for (int i = 0; i < 3; i++) {
			u64 ago = i < 2 && young_at[i] ? s - young_at[i] + 1 : 0;
			if (!missed && ago != steps[k].ago[i])
				test_fail("the schedule's table and its arithmetic disagree at step %u", k);
			expect(i, ago, step);
		}
	}
	return 0;
}

/* reclaim=on (mm/mmu_reclaim.c, 2 MiB chunks that read as zero after WS_RECLAIM_AGE cold scans): chunk D is faulted
 * in and left zero, chunk E holds data; after enough scans exactly D's 512 pages were given back, E's data is
 * intact, and reading D again brings back a zeroed chunk (512 pages refaulted). Counted from where the VM stood when
 * the test began: while the guest was starting, a chunk of its own zeroed .bss it had not used yet may have been
 * given back and brought back already, which it cannot tell (that is the point). */
#define WS_RECLAIM_AGE 8

static void reclaim_test(u64 r)
{
	volatile u8 *d = (volatile u8 *)r, *e = (volatile u8 *)(r + SIZE_2M);
	u64 s, rec0, ref0;

	if (d[100] != 0)
		test_fail("fresh RAM does not read as zero");
	for (u64 i = 0; i < PAGE_SIZE; i++)
		e[PAGE_SIZE + i] = (u8)(i * 7 + 1);
	/* The report's own page first: were its chunk given back, the hypercall's write of the report would fault it
	 * in again only after counting. */
	memset(&rep, 0, sizeof(rep));
	s = scans_now();
	rec0 = rep.reclaimed;
	ref0 = rep.refaulted;
	printf("workingset: reclaim: before the test, %lu pages given back, %lu refaulted\n", rec0, ref0);
	/* Cold from the first scan after the touch: the WS_RECLAIM_AGE-th after it gives D back; two more for slack. */
	for (u64 k = 0; k < WS_RECLAIM_AGE + 2; k++)
		s = wait_scan(s);
	if (ws(0, 0))
		test_fail("HC_WS of the whole VM");
	printf("workingset: reclaim: after %lu scans, %lu pages given back, %lu refaulted\n", rep.scans, rep.reclaimed,
	       rep.refaulted);
	if (rep.reclaimed - rec0 != 512 || rep.refaulted != ref0)
		failures++,
		    printf("workingset: FAIL reclaimed %lu refaulted %lu since the start, want 512 and 0 (chunk D "
			   "only)\n",
			   rep.reclaimed - rec0, rep.refaulted - ref0);
	for (u64 i = 0; i < PAGE_SIZE; i++)
		if (e[PAGE_SIZE + i] != (u8)(i * 7 + 1)) {
			failures++, printf("workingset: FAIL chunk E lost its data at byte %lu\n", i);
			break;
		}
	for (u64 i = 0; i < SIZE_2M; i += 8)
		if (*(volatile u64 *)(r + i)) {
			failures++, printf("workingset: FAIL chunk D reads %#lx at %lu after it came back\n",
					   *(volatile u64 *)(r + i), i);
			break;
		}
	d[5] = 9; /* and it is ordinary RAM again */
	if (d[5] != 9)
		failures++, printf("workingset: FAIL chunk D does not keep a write\n");
	if (ws(0, 0))
		test_fail("HC_WS of the whole VM");
	printf("workingset: reclaim: after the touch, %lu pages given back, %lu refaulted\n", rep.reclaimed,
	       rep.refaulted);
	if (rep.reclaimed - rec0 != 512 || rep.refaulted - ref0 != 512)
		failures++, printf("workingset: FAIL reclaimed %lu refaulted %lu since the start, want 512 and 512\n",
				   rep.reclaimed - rec0, rep.refaulted - ref0);
	if (failures)
		test_fail("%u checks failed (see above)", failures);
	test_pass();
}

int test_main(void)
{
	u64 r, mb, pages4k = stat_read(VM_STAT_TDP_MAPPED_4K), pages2m = stat_read(VM_STAT_TDP_MAPPED_2M);

	if (cmdline_has("off")) {
		u64 ret = hypercall3(HC_WS, (u64)&rep, 0, 0);
		if (ret != (u64)-ENODEV)
			test_fail("HC_WS without ws=: %ld, want -ENODEV", (long)ret);
		test_pass();
	}
	if (!cmdline_u64("unit", &unit) || (unit != TOUCHED && unit != 512))
		test_fail("unit=8 (pages=4k) or unit=512 (2M leaves) needed");
	if (!cmdline_u64("mb", &mb))
		test_fail("mb= (the VM's mem= in MiB) needed");
	r = ram_find_free(3 * SIZE_2M, SIZE_2M, 0, 3 * GiB);
	if (!r)
		test_fail("no 6 MiB of free RAM");
	for (int i = 0; i < 3; i++)
		chunk[i] = r + i * SIZE_2M;
	cli();
	if (cmdline_has("reclaim"))
		reclaim_test(r);

	/* Fault the sets in first (a 2 MiB chunk is cleared on its first fault, which may outlast an interval in an
	 * emulator), so that a round of touches is a few stores. */
	touch(0, 0, true);
	touch(1, 0, true);
	/* A failed attempt leaves the sets' ages unknown; the schedule's first step touches A and B, which makes them
	 * known again (C is never touched). */
	for (int tries = 1; run(); tries++) {
		if (tries == 5)
			test_fail("a scan landed inside a round of touches 5 times: interval too short for this CPU");
		printf("workingset: a scan landed inside a round of touches; starting again\n");
		failures = 0;
	}

	/* The hypercall's own checks: a range that wraps, a buffer that is not RAM. */
	if (hypercall3(HC_WS, (u64)&rep, ~0ULL - 1, 4) != (u64)-EINVAL)
		failures++, printf("workingset: FAIL a wrapping range is not -EINVAL\n");
	if (hypercall3(HC_WS, 0xfee00000, 0, 0) != (u64)-EFAULT)
		failures++, printf("workingset: FAIL a report into the LAPIC page is not -EFAULT\n");
	/* The leaves really were of the size the unit says (the counters of the TDP faults that mapped them). */
	pages4k = stat_read(VM_STAT_TDP_MAPPED_4K) - pages4k;
	pages2m = stat_read(VM_STAT_TDP_MAPPED_2M) - pages2m;
	printf("workingset: %lu scans; the sets were mapped by %lu 4K and %lu 2M faults\n", rep.scans, pages4k,
	       pages2m);
	if ((unit == 512) != (pages2m >= 2))
		failures++, printf("workingset: FAIL unit=%lu but %lu 2M leaves were mapped\n", unit, pages2m);

	/* Whole VM: the buckets add up. */
	if (ws(0, 0))
		test_fail("HC_WS of the whole VM");
	printf("workingset: whole VM: %lu pages, young in the last scan %lu, 2 %lu, 4 %lu, 8 %lu, 128 %lu, idle %lu, "
	       "never %lu\n",
	       rep.pages, rep.young[0], rep.young[1], rep.young[2], rep.young[3], rep.young[7], rep.idle, rep.never);
	if (rep.young[WS_BUCKETS - 1] + rep.idle + rep.never != rep.pages || rep.pages != mb << 8)
		failures++, printf("workingset: FAIL whole-VM buckets do not add up to the VM's %lu pages\n", mb << 8);

	/* Without the INVLPG: how many of the pages touched right after a scan does the next one see? */
	if (cmdline_has("tlb")) {
		u64 s = wait_scan(scans_now());
		touch(0, s, false);
		wait_scan(s);
		ws(chunk[0] >> 12, 512);
		printf("workingset: without INVLPG %lu of %lu young pages seen\n", rep.young[0], unit);
	}
	if (failures)
		test_fail("%u checks failed (see above)", failures);
	test_pass();
}
