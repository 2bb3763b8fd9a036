/* The smp guest's NMI IPIs (see smp.c's top): physical ones to each AP, blocking until IRET with one held, waking
 * HLT with IF = 0 and 1, and all-but-self. */
#include "hlt_probe.h"
#include "smp.h"
#include "smp_test.h"

static volatile u32 nmi_hlt_if, nmi_hlt_stop; /* CMD_NMI_HLT: sleep with STI;HLT (else CLI;HLT); stop sleeping */

static bool rip_in(u64 rip, const char *from, const char *to)
{
	return rip >= (u64)from && rip <= (u64)to;
}

/* NMI (vector 2, an interrupt gate on the current stack: no IST). Short, and IF stays 0: the only nesting possible
 * is a second NMI, which the CPU blocks until this handler's IRET (counted in nmi_depth, so a nested one shows up).
 * No EOI: an NMI does not go through the ISR. */
static void on_nmi(struct trap_frame *f)
{
	u32 me = lapic_id();
	if (me >= MAX_CPUS)
		return;
	struct cpu_state *s = &cpus[me];
	u32 depth = ++s->nmi_depth;
	if (depth > s->nmi_max_depth)
		s->nmi_max_depth = depth;
	s->nmi_rip = f->rip;
	s->nmi_rflags = f->rflags;
	if (rip_in(f->rip, nmi_cli_hlt_armed, nmi_cli_hlt_at))
		f->rip = (u64)nmi_cli_hlt_after;
	else if (rip_in(f->rip, nmi_sti_hlt_armed, nmi_sti_hlt_at))
		f->rip = (u64)nmi_sti_hlt_after;
	s->nmis++; /* after nmi_rip: the BSP reads that once it sees the count */
	if (s->nmi_hold == HOLD_ARMED) {
		s->nmi_hold = HOLD_IN;
		u64 t0 = rdtsc();
		while (s->nmi_hold == HOLD_IN) {
			if (rdtsc() - t0 > 2 * timeout + NMI_HOLD_TIME) {
				s->error = "NMI handler held but never released";
				break;
			}
			pause();
		}
		s->nmi_hold = HOLD_NONE;
	}
	s->nmi_depth--;
}

/* AP side of CMD_NMI_HLT: sleep until the BSP says stop, woken only by its NMIs. With IF=0 nothing else may end the
 * HLT. */
void do_nmi_hlt(u32 c)
{
	struct cpu_state *s = &cpus[c];
	bool with_if = nmi_hlt_if;
	while (!nmi_hlt_stop) {
		u64 n = s->nmis;
		if (with_if)
			nmi_sti_hlt(&s->hlt_entries, &nmi_hlt_stop);
		else
			nmi_cli_hlt(&s->hlt_entries, &nmi_hlt_stop);
		/* stop only goes 0 -> 1: still clear now, it was clear before the HLT, so the HLT ran and ended */
		if (!with_if && s->nmis == n && !nmi_hlt_stop)
			s->stray_wakes++;
	}
}

#define RFLAGS_IF (1u << 9)

/* One NMI IPI; `mask` says which APs it is meant to reach (and be counted for). Every other one carries a vector
 * that nothing handles: the vector field must be ignored. */
static void send_nmi(const char *what, u32 dest, u32 shorthand, u32 mask)
{
	static u32 sent;
	u32 lo = shorthand | ICR_NMI | (sent++ & 1 ? NMI_JUNK_VEC : 0);
	for (u32 i = 1; i < ncpus; i++)
		if (mask >> i & 1)
			cpus[i].want_nmis++;
	if (!lapic_send_ipi(dest, lo, timeout))
		test_fail("NMI: %s: IPI (ICR 0x%x, destination %u) stayed busy", what, lo, dest);
}

/* Wait until every AP in `mask` has taken as many NMIs as expected. */
static void wait_nmis(const char *what, u32 round, u32 mask)
{
	u64 t0 = rdtsc();
	for (;;) {
		bool all = true;
		for (u32 i = 1; i < ncpus; i++)
			if ((mask >> i & 1) && cpus[i].nmis < cpus[i].want_nmis)
				all = false;
		if (all)
			return;
		if (rdtsc() - t0 > timeout)
			break;
		pause();
	}
	check_ap_errors("NMI");
	for (u32 i = 1; i < ncpus; i++)
		if ((mask >> i & 1) && cpus[i].nmis < cpus[i].want_nmis)
			test_fail("NMI: %s round %u: AP %u took %lu NMIs, want %lu, after %lu cycles", what, round, i,
				  cpus[i].nmis, cpus[i].want_nmis, timeout);
}

/* After a sub-check, let stragglers arrive; then every count is exact (none lost, none taken twice, none on the
 * BSP), no handler ever ran inside another, and none is running. */
static void check_nmis(const char *what)
{
	tsc_delay(SETTLE_CYCLES);
	check_ap_errors("NMI");
	for (u32 i = 0; i < ncpus; i++) {
		struct cpu_state *s = &cpus[i];
		if (s->nmis != s->want_nmis)
			test_fail("NMI: %s: CPU %u took %lu NMIs, want %lu", what, i, s->nmis, s->want_nmis);
		if (s->nmi_max_depth > 1)
			test_fail("NMI: %s: CPU %u ran NMI handlers %u deep (NMIs not blocked until IRET)", what, i,
				  s->nmi_max_depth);
		if (s->nmi_depth)
			test_fail("NMI: %s: CPU %u is still in its NMI handler", what, i);
	}
}

static void test_nmi_physical(void)
{
	for (u32 r = 0; r < NMI_ROUNDS; r++)
		for (u32 i = 1; i < ncpus; i++) {
			send_nmi("physical", i, 0, 1u << i);
			wait_nmis("physical", r, 1u << i);
		}
	check_nmis("physical");
	printf("smp: NMI: %u to each of %u AP%s, each taken once\n", NMI_ROUNDS, ncpus - 1, plural(ncpus - 1));
}

/* Hold AP i in its NMI handler and send `extra` more NMIs meanwhile. None may run while the handler does; after its
 * IRET exactly one must: the CPU holds one NMI pending while NMIs are blocked, and drops the rest. */
static void nmi_hold(u32 i, u32 extra)
{
	struct cpu_state *s = &cpus[i];
	s->nmi_hold = HOLD_ARMED;
	send_nmi("blocking", i, 0, 1u << i);
	u64 t0 = rdtsc();
	while (s->nmi_hold != HOLD_IN) {
		if (rdtsc() - t0 > timeout)
			test_fail(
			    "NMI: blocking: AP %u did not enter its NMI handler within %lu cycles (%lu NMIs taken, "
			    "want %lu)",
			    i, timeout, s->nmis, s->want_nmis);
		pause();
	}
	u64 in = s->nmis;
	if (in != s->want_nmis)
		test_fail("NMI: blocking: AP %u took %lu NMIs, want %lu", i, in, s->want_nmis);
	for (u32 e = 0; e < extra; e++)
		send_nmi("blocking", i, 0, 0);
	s->want_nmis = in + 1;
	tsc_delay(NMI_HOLD_TIME);
	if (s->nmis != in || s->nmi_max_depth > 1)
		test_fail(
		    "NMI: blocking: AP %u took %lu NMIs inside its NMI handler (depth %u): NMIs not blocked until "
		    "IRET",
		    i, s->nmis - in, s->nmi_max_depth);
	if (s->nmi_hold != HOLD_IN) {
		check_ap_errors("NMI: blocking");
		test_fail("NMI: blocking: AP %u left its held NMI handler on its own", i);
	}
	s->nmi_hold = HOLD_RELEASED;
	t0 = rdtsc();
	while (s->nmis == in) {
		if (rdtsc() - t0 > timeout)
			test_fail(
			    "NMI: blocking: AP %u: the NMI%s sent while its handler ran never came after its IRET", i,
			    extra == 1 ? "" : "s");
		pause();
	}
	tsc_delay(NMI_HOLD_TIME / 5); /* time for a wrongly queued second one */
	if (s->nmis != in + 1)
		test_fail("NMI: blocking: AP %u took %lu NMIs after its IRET for %u sent while blocked, want 1 (one is "
			  "held pending, the rest dropped)",
			  i, s->nmis - in, extra);
	if (s->nmi_hold != HOLD_NONE || s->nmi_depth)
		test_fail("NMI: blocking: AP %u still in its NMI handler after the release", i);
}

static void test_nmi_blocking(void)
{
	for (u32 i = 1; i < ncpus; i++) {
		nmi_hold(i, 1);
		nmi_hold(i, 2);
	}
	check_nmis("blocking");
	printf("smp: NMI: blocked while in the handler, the held one taken once after IRET (1, then 2 sent while "
	       "blocked, on each AP)\n");
}

/* BSP side of CMD_NMI_HLT: round by round, wait until the AP has announced a new sleep, give it time to reach the
 * HLT, send one NMI, and see where it landed. Then the stop, with one more NMI each. */
void drive_nmi_hlt(void)
{
	const char *what = nmi_hlt_if ? "STI;HLT" : "CLI;HLT";
	u64 after = (u64)(nmi_hlt_if ? nmi_sti_hlt_after : nmi_cli_hlt_after);
	for (u32 i = 1; i < ncpus; i++) {
		struct cpu_state *s = &cpus[i];
		for (u32 r = 0; r < NMI_HLT_ROUNDS; r++) {
			u64 t0 = rdtsc();
			while (s->hlt_entries == s->seen_hlts) {
				if (rdtsc() - t0 > timeout)
					test_fail("NMI: %s: AP %u did not go (back) to sleep for round %u", what, i, r);
				pause();
			}
			s->seen_hlts = s->hlt_entries;
			tsc_delay(SETTLE_CYCLES);
			send_nmi(what, i, 0, 1u << i);
			wait_nmis(what, r, 1u << i);
			if (s->nmi_rip != after)
				continue; /* it came before the HLT */
			s->hlts_hit++;
			if (!(s->nmi_rflags & RFLAGS_IF) != !nmi_hlt_if)
				test_fail("NMI: %s: AP %u woken from HLT, but the saved RFLAGS 0x%lx have IF=%u", what,
					  i, s->nmi_rflags, !nmi_hlt_if);
		}
	}
	nmi_hlt_stop = 1;
	for (u32 i = 1; i < ncpus; i++)
		send_nmi(what, i, 0, 1u << i);
	/* The last one ends the sleep: wait for it as for the others (a settle delay is no bound on a loaded host). */
	for (u32 i = 1; i < ncpus; i++)
		wait_nmis(what, NMI_HLT_ROUNDS, 1u << i);
}

static void test_nmi_hlt(void)
{
	u64 hit[2] = {0, 0};
	for (u32 mode = 0; mode < 2; mode++) {
		const char *what = mode ? "STI;HLT" : "CLI;HLT";
		nmi_hlt_if = mode;
		nmi_hlt_stop = 0;
		for (u32 i = 1; i < ncpus; i++) {
			cpus[i].seen_hlts = cpus[i].hlt_entries;
			cpus[i].hlts_hit = 0;
		}
		post_command(CMD_NMI_HLT, mode ? "NMI: STI;HLT" : "NMI: CLI;HLT");
		check_nmis(what);
		for (u32 i = 1; i < ncpus; i++) {
			if (cpus[i].stray_wakes)
				test_fail("NMI: CLI;HLT: AP %u: HLT with IF=0 ended %lu times without an NMI", i,
					  cpus[i].stray_wakes);
			if (!cpus[i].hlts_hit)
				test_fail("NMI: %s: none of %u NMIs found AP %u in HLT (each came before it)", what,
					  NMI_HLT_ROUNDS, i);
			hit[mode] += cpus[i].hlts_hit;
		}
	}
	u32 rounds = NMI_HLT_ROUNDS * (ncpus - 1);
	printf("smp: NMI: wakes HLT with IF=0 and IF=1 (%lu and %lu of %u NMIs each found an AP in HLT)\n", hit[0],
	       hit[1], rounds);
}

static void test_nmi_broadcast(void)
{
	u32 aps = (1u << ncpus) - 2;
	for (u32 r = 0; r < 10; r++) {
		send_nmi("all-but-self", 0, ICR_ALL_BUT_SELF, aps);
		wait_nmis("all-but-self", r, aps);
	}
	check_nmis("all-but-self");
	printf("smp: NMI: all-but-self reached every AP once (10 rounds, none on the BSP)\n");
}

/* NMI IPIs. The handler is installed only now: an NMI earlier is fatal, with a register dump. */
void test_nmis(void)
{
	if (cmdline_has("nonmi")) {
		printf("smp: NMI: skipped (nonmi)\n");
		return;
	}
	if (ncpus == 1) {
		printf("smp: NMI: skipped (no AP)\n");
		return;
	}
	trap_set_handler(2, on_nmi);
	test_nmi_physical();
	test_nmi_blocking();
	test_nmi_hlt();
	test_nmi_broadcast();
	/* Ordinary interrupts must still get through to every AP afterwards. */
	sti();
	for (u32 i = 1; i < ncpus; i++)
		ping("after NMIs", i, ICR_FIXED, 1u << i, false);
	wait_answers("after NMIs", 0, (1u << ncpus) - 2);
	check_counts("after NMIs");
	cli();
}
