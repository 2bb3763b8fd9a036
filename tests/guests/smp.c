/* smp: a guest with several vCPUs (`cpus=N`, 1-16, default 2; vCPU i has APIC ID i). The BSP starts each AP with
 * INIT, SIPI, SIPI (lib/smp.c); every AP reports its LAPIC and CPUID APIC IDs, enables its LAPIC and then sleeps in
 * STI;HLT, answering each ping IPI with a pong IPI to the BSP. Checked, each with a bounded wait:
 *   - every AP comes up once, with LAPIC ID = CPUID ID = its number and the BSP flag clear;
 *   - fixed IPIs: 1000 physical pings to each AP, all-but-self and all-including-self broadcasts, self IPIs (shorthand
 *     and physical), logical unicast and multicast (flat model, LDR bit = APIC ID, for IDs 1-7); counts exact, none
 *     too many after any round, and no handler entered with IF = 0 in the RFLAGS it interrupted (a maskable
 *     interrupt is only recognised with IF = 1, SDM Vol. 3 6.8.1, APM Vol. 2 8.1.4: QEMU's TCG delivered an injected
 *     one a second time, on top of the first, issue 14; `allrounds=` sets the all-including-self rounds, 100);
 *   - `lock xadd` by every CPU at once (100000 each): exact total, and every old value seen exactly once;
 *   - fresh pages first touched by all CPUs at once: a shared region (CPU c owns 64-byte line l when l % N == c) and
 *     one region per CPU (`region=` MiB, default 8), verified by the BSP;
 *   - INIT and SIPIs to absent APIC IDs 0x20 and 0x21 start nothing and disturb no AP;
 *   - NMI IPIs (skipped with `nonmi`): 100 physical ones to each AP, one at a time; blocking while the handler runs,
 *     with exactly one held NMI taken after its IRET; NMIs wake HLT with IF=0 and with IF=1; all-but-self NMIs.
 * Only the BSP prints. Timeouts are in TSC cycles (`timeout=`, default 2e9). */
#include "guest.h"
#include "smp.h"
#include "smp/smp_test.h"

const char test_name[] = "smp";

struct cpu_state cpus[MAX_CPUS];
static u8 ap_stacks[MAX_CPUS][AP_STACK_SIZE] __attribute__((aligned(16))); /* slot 0 (the BSP's) serves ghosts */
u32 ncpus = 2;
u64 timeout = 2000000000ULL;
static u64 all_rounds = ALL_ROUNDS;
/* Fixed-IPI handler entries whose interrupted RFLAGS had IF = 0, and the last one's vector and RIP. */
static volatile u64 if_off_entries, if_off_vector, if_off_rip;
static u64 region_size = 8 * MiB, region_base;
static volatile u64 self_ipis, ghost_boots, ghost_id;

static volatile u32 cmd, cmd_seq, go_seq;
static volatile u64 counter;


const char *plural(u32 n)
{
	return n == 1 ? "" : "s";
}

static u64 stack_top(u32 i)
{
	return (u64)&ap_stacks[i][AP_STACK_SIZE];
}

/* A maskable interrupt interrupts only code running with IF = 1 (every sender and sleeper here has it set where its
 * IPIs may arrive): an entry with IF = 0 in the frame is an interrupt delivered where none could be. */
static void check_if(const struct trap_frame *f)
{
	if (f->rflags & (1u << 9))
		return;
	if_off_vector = f->vector;
	if_off_rip = f->rip;
	__atomic_fetch_add(&if_off_entries, 1, __ATOMIC_RELAXED);
}

static void on_ping(struct trap_frame *f)
{
	check_if(f);
	u32 me = lapic_id();
	if (me < MAX_CPUS) {
		cpus[me].pings++;
		if (me != 0 && !lapic_send_ipi(0, ICR_FIXED | (VEC_PONG + me), timeout))
			cpus[me].error = "pong IPI stayed busy";
	}
	lapic_eoi();
}

static void on_pong(struct trap_frame *f)
{
	check_if(f);
	cpus[f->vector - VEC_PONG].pongs++;
	lapic_eoi();
}

static void on_self(struct trap_frame *f)
{
	check_if(f);
	self_ipis++;
	lapic_eoi();
}

static void on_kick(struct trap_frame *f)
{
	check_if(f);
	lapic_eoi();
}

/* Distinct for every address (odd multiplier) and every CPU (top byte). */
static u64 pattern(u64 addr, u32 c)
{
	return addr * 0x9e3779b97f4a7c15ULL ^ ((u64)c << 56 | c);
}

static void do_xadd(struct cpu_state *me)
{
	u64 sum = 0;
	for (u64 i = 0; i < XADD_COUNT; i++) {
		u64 v = 1;
		asm volatile("lock xaddq %0, %1" : "+r"(v), "+m"(counter) : : "memory");
		sum += v;
	}
	me->xadd_sum = sum;
}


/* The shared region first: every CPU starts on the same fresh pages at once. */
static void do_touch(u32 c)
{
	u64 shared = region_base + (u64)ncpus * region_size;
	for (u64 line = c; line < region_size / 64; line += ncpus)
		for (u64 a = shared + line * 64; a < shared + line * 64 + 64; a += 8)
			*(volatile u64 *)a = pattern(a, c);
	u64 own = region_base + (u64)c * region_size;
	for (u64 a = own; a < own + region_size; a += 8)
		*(volatile u64 *)a = pattern(a, c);
}

static void run_command(u32 c, u32 what)
{
	if (what == CMD_XADD)
		do_xadd(&cpus[c]);
	else if (what == CMD_TOUCH)
		do_touch(c);
	else if (what == CMD_NMI_HLT && c)
		do_nmi_hlt(c);
	else if (what == CMD_NMI_HLT)
		drive_nmi_hlt();
}

/* AP side of a command: announce, sleep until the BSP's go (so that all CPUs run at once), run. Sleeping, not
 * spinning: with more vCPUs than host CPUs, spinning APs would starve the ones still on their way. */
static void ap_command(u32 c, u32 seq)
{
	u32 what = cmd;
	cpus[c].ready_seq = seq;
	while (go_seq != seq) {
		sti_hlt(); /* the go comes with a kick IPI */
		cli();
	}
	run_command(c, what);
	cpus[c].done_seq = seq;
}

static void ap_main(u64 arg)
{
	u32 c = (u32)arg;
	struct cpu_state *me = &cpus[c];
	me->boots++;
	me->lapic_id = lapic_id();
	me->cpuid_id = cpuid_apic_id();
	me->apic_base = rdmsr(MSR_APIC_BASE);
	lapic_write(LAPIC_TPR, 0);
	lapic_write(LAPIC_DFR, DFR_FLAT);
	lapic_write(LAPIC_LDR, c < LOGICAL_MAX ? (1u << c) << 24 : 0);
	lapic_write(LAPIC_SVR, SVR_ENABLE | 0xff);
	me->ready = 1;
	for (;;) {
		cli();
		u32 seq = cmd_seq;
		if (seq != me->done_seq)
			ap_command(c, seq);
		else
			sti_hlt(); /* atomic: a kick or ping arriving after the check still wakes us */
	}
}

/* A CPU that took a SIPI meant for an absent APIC ID: record it and stop. */
static void ghost_main(u64 arg)
{
	ghost_id = lapic_id();
	__atomic_fetch_add(&ghost_boots, 1, __ATOMIC_RELAXED);
	for (;;)
		asm volatile("cli; hlt");
}

void check_ap_errors(const char *phase)
{
	for (u32 i = 1; i < ncpus; i++)
		if (cpus[i].error)
			test_fail("%s: AP %u: %s", phase, i, cpus[i].error);
}

static void start_aps(void)
{
	int vector = smp_init();
	if (vector < 0)
		test_fail("no free page below 1 MiB for the AP trampoline (error %d)", vector);
	printf("smp: %u CPUs, trampoline at 0x%x (SIPI vector 0x%02x)\n", ncpus, vector << 12, vector);
	for (u32 i = 1; i < ncpus; i++) {
		u64 t0 = rdtsc();
		int ret = smp_start_ap(i, ap_main, i, stack_top(i), timeout);
		if (ret == -SMP_EBUSY)
			test_fail("AP %u: INIT or SIPI stayed busy in the ICR", i);
		if (ret == -SMP_ETIMEDOUT)
			test_fail("AP %u did not start within %lu cycles of INIT, SIPI, SIPI", i, timeout);
		if (ret < 0)
			test_fail("AP %u: cannot arm the trampoline (error %d)", i, ret);
		while (!cpus[i].ready) {
			if (rdtsc() - t0 > 2 * timeout)
				test_fail("AP %u started but never enabled its LAPIC", i);
			pause();
		}
		struct cpu_state *s = &cpus[i];
		printf("smp: AP %u up after %lu cycles: LAPIC ID %u, CPUID APIC ID %u, IA32_APIC_BASE 0x%lx\n", i,
		       rdtsc() - t0, s->lapic_id, s->cpuid_id, s->apic_base);
		if (s->lapic_id != i || s->cpuid_id != i)
			test_fail("AP %u: LAPIC ID %u, CPUID APIC ID %u, want both %u", i, s->lapic_id, s->cpuid_id, i);
		if (s->apic_base != (LAPIC_BASE | APIC_BASE_ENABLE))
			test_fail("AP %u: IA32_APIC_BASE 0x%lx, want 0x%lx (enabled, BSP flag clear)", i, s->apic_base,
				  LAPIC_BASE | APIC_BASE_ENABLE);
	}
	for (u32 i = 1; i < ncpus; i++)
		if (cpus[i].boots != 1)
			test_fail("AP %u entered its start code %u times (the second SIPI restarted it?)", i,
				  cpus[i].boots);
	printf("smp: all %u AP%s up, each started once\n", ncpus - 1, plural(ncpus - 1));
}

static void check_if_entries(const char *what, u32 round)
{
	if (if_off_entries)
		test_fail(
		    "%s round %u: %lu interrupt handler entr%s with IF = 0 in the interrupted RFLAGS (last: vector "
		    "0x%lx at RIP 0x%lx): an interrupt delivered twice?",
		    what, round, if_off_entries, if_off_entries == 1 ? "y" : "ies", if_off_vector, if_off_rip);
}

/* After a round: nobody took more than was sent so far (a duplicate shows up here, at its round, when it came
 * before the answers; a later one at the next round or the phase's settled check). */
static void check_no_extra(const char *what, u32 round)
{
	check_if_entries(what, round);
	for (u32 i = 0; i < ncpus; i++)
		if (cpus[i].pings > cpus[i].want_pings || cpus[i].pongs > cpus[i].want_pongs)
			test_fail(
			    "%s round %u: CPU %u took %lu pings (want %lu), BSP took %lu pongs from it (want %lu)",
			    what, round, i, cpus[i].pings, cpus[i].want_pings, cpus[i].pongs, cpus[i].want_pongs);
}

/* Wait until every AP in `mask` has answered as often as expected (and the BSP has pinged itself as expected). */
void wait_answers(const char *what, u32 round, u32 mask)
{
	u64 t0 = rdtsc();
	for (;;) {
		bool all = cpus[0].pings >= cpus[0].want_pings;
		for (u32 i = 1; i < ncpus; i++)
			if ((mask >> i & 1) && cpus[i].pongs < cpus[i].want_pongs)
				all = false;
		if (all) {
			check_no_extra(what, round);
			return;
		}
		if (rdtsc() - t0 > timeout)
			break;
		pause();
	}
	for (u32 i = 0; i < ncpus; i++)
		printf("smp: %s round %u: CPU %u pings %lu (want %lu), pongs %lu (want %lu)\n", what, round, i,
		       cpus[i].pings, cpus[i].want_pings, cpus[i].pongs, cpus[i].want_pongs);
	test_fail("%s round %u: IPIs unanswered after %lu cycles", what, round, timeout);
}

/* After a phase, let stragglers arrive, then every count must be exact: no IPI lost, none delivered twice. */
void check_counts(const char *what)
{
	tsc_delay(SETTLE_CYCLES);
	check_ap_errors(what);
	check_if_entries(what, 0);
	for (u32 i = 0; i < ncpus; i++)
		if (cpus[i].pings != cpus[i].want_pings || cpus[i].pongs != cpus[i].want_pongs)
			test_fail("%s: CPU %u took %lu pings (want %lu), BSP took %lu pongs from it (want %lu)", what,
				  i, cpus[i].pings, cpus[i].want_pings, cpus[i].pongs, cpus[i].want_pongs);
}

/* Send one IPI; `mask` says which APs it reaches, `self` whether the BSP takes it too. */
void ping(const char *what, u32 dest, u32 lo, u32 mask, bool self)
{
	for (u32 i = 1; i < ncpus; i++)
		if (mask >> i & 1) {
			cpus[i].want_pings++;
			cpus[i].want_pongs++;
		}
	cpus[0].want_pings += self;
	if (!lapic_send_ipi(dest, lo | VEC_PING, timeout))
		test_fail("%s: IPI (ICR 0x%x, destination 0x%x) stayed busy", what, lo | VEC_PING, dest);
}

static void test_ipis(void)
{
	u32 aps = (1u << ncpus) - 2, logical = aps & ((1u << LOGICAL_MAX) - 1);

	for (u32 r = 0; r < PHYS_ROUNDS && aps; r++) {
		for (u32 i = 1; i < ncpus; i++)
			ping("physical", i, ICR_FIXED, 1u << i, false);
		wait_answers("physical", r, aps);
	}
	check_counts("physical");
	printf("smp: physical: %u pings to each of %u AP%s, each answered\n", PHYS_ROUNDS, ncpus - 1,
	       plural(ncpus - 1));

	for (u32 r = 0; r < BCAST_ROUNDS && aps; r++) {
		ping("all-but-self", 0, ICR_ALL_BUT_SELF, aps, false);
		wait_answers("all-but-self", r, aps);
	}
	for (u32 r = 0; r < all_rounds; r++) {
		ping("all", 0, ICR_ALL, aps, true);
		wait_answers("all", r, aps);
	}
	check_counts("broadcast");
	printf("smp: broadcast: %u all-but-self and %lu all-including-self rounds, each answered once\n", BCAST_ROUNDS,
	       all_rounds);

	for (u32 r = 0; r < 10; r++) {
		u64 want = self_ipis + 1;
		bool ok = r & 1 ? lapic_send_ipi(0, ICR_SELF | VEC_SELF, timeout)
				: lapic_send_ipi(0, ICR_FIXED | VEC_SELF, timeout); /* physical, to our own ID 0 */
		u64 t0 = rdtsc();
		while (ok && self_ipis < want && rdtsc() - t0 < timeout)
			pause();
		if (!ok || self_ipis != want)
			test_fail("self IPI %u (%s) not taken", r, r & 1 ? "shorthand" : "physical");
	}
	printf("smp: self: 5 shorthand and 5 physical self IPIs taken\n");

	for (u32 r = 0; r < LOGICAL_ROUNDS && logical; r++) {
		for (u32 i = 1; i < ncpus && i < LOGICAL_MAX; i++)
			ping("logical", 1u << i, ICR_LOGICAL, 1u << i, false);
		wait_answers("logical", r, logical);
		ping("logical multicast", logical, ICR_LOGICAL, logical, false);
		wait_answers("logical multicast", r, logical);
	}
	check_counts("logical");
	printf("smp: logical (flat): %u unicast and %u multicast (mask 0x%x) rounds, each answered\n", LOGICAL_ROUNDS,
	       LOGICAL_ROUNDS, logical);
}

static void kick_aps(const char *name)
{
	for (u32 i = 1; i < ncpus; i++)
		if (!lapic_send_ipi(i, ICR_FIXED | VEC_KICK, timeout))
			test_fail("%s: kick IPI to AP %u stayed busy", name, i);
}

/* Have every AP, then the BSP, run `what` at once: post it, kick the APs, wait until all are ready, kick them again
 * with the go. */
void post_command(u32 what, const char *name)
{
	static u32 seq;
	cmd = what;
	cmd_seq = ++seq;
	kick_aps(name);
	u64 t0 = rdtsc();
	for (u32 i = 1; i < ncpus; i++)
		while (cpus[i].ready_seq != seq) {
			if (rdtsc() - t0 > timeout)
				test_fail("%s: AP %u did not take the command (kick IPI lost?)", name, i);
			pause();
		}
	go_seq = seq;
	kick_aps(name);
	run_command(0, what);
	t0 = rdtsc();
	for (u32 i = 1; i < ncpus; i++)
		while (cpus[i].done_seq != seq) {
			if (rdtsc() - t0 > timeout)
				test_fail("%s: AP %u did not finish within %lu cycles (go IPI lost?)", name, i,
					  timeout);
			pause();
		}
	check_ap_errors(name);
}

static void test_xadd(void)
{
	post_command(CMD_XADD, "lock xadd");
	u64 total = XADD_COUNT * ncpus, sum = 0;
	for (u32 i = 0; i < ncpus; i++)
		sum += cpus[i].xadd_sum;
	/* The old values must be 0..total-1, each once: a lost or duplicated update changes the sum. */
	if (counter != total || sum != total * (total - 1) / 2)
		test_fail("lock xadd: counter %lu (want %lu), sum of old values %lu (want %lu)", counter, total, sum,
			  total * (total - 1) / 2);
	printf("smp: lock xadd: %u CPUs x %lu = %lu, every old value seen once\n", ncpus, XADD_COUNT, total);
}

static void test_fresh_pages(void)
{
	u64 size = region_size * (ncpus + 1);
	region_base = ram_find_free(size, SIZE_2M, 0, 3 * GiB);
	if (!region_base)
		test_fail(
		    "no free %lu MiB below 3 GiB for %u regions of %lu MiB and a shared one (give the VM more RAM "
		    "or pass region=)",
		    size / MiB, ncpus, region_size / MiB);
	u64 f0 = stat_read(VM_STAT_TDP_FAULTS), s0 = stat_read(VM_STAT_TDP_SHARED_FAULTS);
	u64 r0 = stat_read(VM_STAT_TDP_FAULT_RACES), b0 = stat_read(VM_STAT_TDP_FROZEN_BACKOFFS);
	post_command(CMD_TOUCH, "fresh pages");
	u64 faults = stat_read(VM_STAT_TDP_FAULTS) - f0, shared_faults = stat_read(VM_STAT_TDP_SHARED_FAULTS) - s0;
	u64 races = stat_read(VM_STAT_TDP_FAULT_RACES) - r0, backoffs = stat_read(VM_STAT_TDP_FROZEN_BACKOFFS) - b0;
	u64 shared = region_base + (u64)ncpus * region_size;
	for (u64 a = shared; a < shared + region_size; a += 8) {
		u32 owner = (u32)((a - shared) / 64 % ncpus);
		if (*(volatile u64 *)a != pattern(a, owner))
			test_fail("shared region: 0x%lx reads 0x%lx, want 0x%lx (written by CPU %u)", a,
				  *(volatile u64 *)a, pattern(a, owner), owner);
	}
	for (u32 c = 0; c < ncpus; c++)
		for (u64 a = region_base + c * region_size; a < region_base + (c + 1) * region_size; a += 8)
			if (*(volatile u64 *)a != pattern(a, c))
				test_fail("region of CPU %u: 0x%lx reads 0x%lx, want 0x%lx", c, a, *(volatile u64 *)a,
					  pattern(a, c));
	printf("smp: fresh pages: %u regions of %lu MiB and a shared one at 0x%lx, written at once, verified\n", ncpus,
	       region_size / MiB, region_base);
	/* The MMU's side (mm/mmu.h): under TDP every fault of the phase ran under the MMU lock held for read, unless the
	 * hypervisor was told to run them one at a time (`exclusive` here, hv.mmu_lock=exclusive there); races and
	 * frozen back-offs depend on timing, so they are reported, not required. Shadow paging counts no TDP faults. */
	if (faults) {
		if (cmdline_has("exclusive") ? shared_faults != 0 : shared_faults != faults)
			test_fail("fresh pages: %lu TDP faults, %lu of them under the read lock", faults, shared_faults);
		printf("smp: fresh pages: %lu TDP faults, %lu in parallel under the read lock, %lu lost races, %lu frozen "
		       "back-offs\n", faults, shared_faults, races, backoffs);
	}
}

/* INIT and SIPI to APIC IDs nobody has: 0x20, and 0x21, which an ID cut to 4 bits would turn into AP 1. The
 * trampoline is armed with ghost_main on a spare stack, so a CPU that wrongly takes the SIPI is caught, not run. */
static void test_ghosts(void)
{
	static const u32 ghosts[] = {0x20, 0x21};
	if (smp_arm(ghost_main, 0, stack_top(0)) < 0)
		test_fail("cannot arm the trampoline for the absent-ID test");
	for (u32 g = 0; g < ARRAY_SIZE(ghosts); g++)
		if (!smp_send_init_sipi(ghosts[g], timeout))
			test_fail("INIT or SIPI to absent APIC ID 0x%x stayed busy in the ICR", ghosts[g]);
	if (smp_wait_checkin(timeout / 20) || ghost_boots)
		test_fail("a CPU (LAPIC ID %lu) took a SIPI sent to an absent APIC ID", ghost_id);
	for (u32 i = 1; i < ncpus; i++)
		if (cpus[i].boots != 1)
			test_fail("AP %u restarted by INIT/SIPI to an absent APIC ID", i);
	u32 aps = (1u << ncpus) - 2;
	if (aps) {
		for (u32 i = 1; i < ncpus; i++)
			ping("after absent-ID INIT", i, ICR_FIXED, 1u << i, false);
		wait_answers("after absent-ID INIT", 0, aps);
		check_counts("after absent-ID INIT");
	}
	printf("smp: INIT, SIPI, SIPI to APIC IDs 0x20 and 0x21: no CPU started, all %u AP%s still answer\n", ncpus - 1,
	       plural(ncpus - 1));
}

int test_main(void)
{
	u64 n = ncpus;
	cmdline_u64("cpus", &n);
	cmdline_u64("timeout", &timeout);
	cmdline_u64("allrounds", &all_rounds);
	if (cmdline_u64("region", &region_size))
		region_size *= MiB;
	if (n < 1 || n > MAX_CPUS)
		test_fail("cpus=%lu: want 1-%u", n, MAX_CPUS);
	if (!region_size || region_size > 64 * MiB)
		test_fail("region=%lu MiB: want 1-64", region_size / MiB);
	ncpus = (u32)n;
	if (!cpu.has_apic)
		test_fail("CPUID.1:EDX.APIC is clear");

	u64 base = rdmsr(MSR_APIC_BASE);
	u32 id = lapic_id(), cid = cpuid_apic_id();
	printf("smp: BSP: LAPIC ID %u, CPUID APIC ID %u, IA32_APIC_BASE 0x%lx\n", id, cid, base);
	if (id != 0 || cid != 0)
		test_fail("BSP: LAPIC ID %u, CPUID APIC ID %u, want 0", id, cid);
	if (base != (LAPIC_BASE | APIC_BASE_ENABLE | APIC_BASE_BSP))
		test_fail("BSP: IA32_APIC_BASE 0x%lx, want 0x%lx", base, LAPIC_BASE | APIC_BASE_ENABLE | APIC_BASE_BSP);

	trap_set_handler(VEC_KICK, on_kick);
	trap_set_handler(VEC_SELF, on_self);
	trap_set_handler(VEC_PING, on_ping);
	for (u32 i = 1; i < MAX_CPUS; i++)
		trap_set_handler((u8)(VEC_PONG + i), on_pong);
	lapic_write(LAPIC_TPR, 0);
	lapic_write(LAPIC_DFR, DFR_FLAT);
	lapic_write(LAPIC_LDR, 1u << 24);
	lapic_write(LAPIC_SVR, SVR_ENABLE | 0xff);

	start_aps();
	sti(); /* the BSP takes pongs while it polls */
	test_ipis();
	cli();
	test_xadd();
	test_fresh_pages();
	sti();
	test_ghosts();
	cli();
	test_nmis();
	if (spurious_irqs)
		printf("smp: note: %lu spurious interrupts on the BSP\n", spurious_irqs);
	test_pass();
}
