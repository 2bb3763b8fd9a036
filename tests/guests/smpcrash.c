/* smpcrash: one vCPU of a running SMP guest triple-faults while the BSP keeps running. A triple fault on any vCPU
 * ends the whole VM (it is a machine reset on a PC), the other vCPUs stop wherever they are, and the hypervisor goes
 * on with its next VM. The guest never prints PASS: the runner checks `vm NAME: ended: triple fault` and that the
 * BSP's "still running" line never comes. `cpus=N` (default 2): the last AP crashes, after the others are up.
 * `halt`: every CPU halts with interrupts off instead (APs first, then the BSP): nothing can wake any of them, and
 * the VM must end as halted, while one that still had a timer or a pending IPI must not. `cli`: the BSP spins with
 * interrupts off while its LAPIC timer fires, so the hypervisor's host timer takes it out of the guest and back in
 * with IF=0 again and again; the AP's triple fault must still end the VM under it (Bochs 2.7 loses the wake IPI to
 * a guest re-entered so, and the hypervisor then kicks it out with an NMI). `wait=N`: the AP waits N TSC cycles
 * before it crashes (default 20M), a silence long enough for the stall report (hv.stall) if N is large. */
#include "guest.h"
#include "smp.h"

const char test_name[] = "smpcrash";

#define AP_STACK 8192
#define TIMEOUT	 ((u64)4000000000)

static u8 stacks[16][AP_STACK] __attribute__((aligned(16)));
static volatile u32 up;
static volatile bool bsp_cli_spinning; /* cli: the BSP is in its loop with IF=0 and the timer running */
static bool cli_spin;
static u64 cli_wait = 20000000; /* cli: TSC cycles the AP lets the BSP spin (wait=) */

static void ap_spin(u64 arg)
{
	(void)arg;
	__atomic_fetch_add(&up, 1, __ATOMIC_RELAXED);
	for (;;)
		pause();
}

static void ap_halt(u64 arg)
{
	(void)arg;
	__atomic_fetch_add(&up, 1, __ATOMIC_RELAXED);
	for (;;)
		asm volatile("cli; hlt");
}

static void ap_crash(u64 arg)
{
	struct {
		u16 limit;
		u64 base;
	} __attribute__((packed)) empty = {0, 0};

	/* cli: only once the BSP has been taken out of the guest by its timer and back in a few times. */
	while (cli_spin && !bsp_cli_spinning)
		pause();
	for (u64 t0 = rdtsc(); cli_spin && rdtsc() - t0 < cli_wait;)
		pause();
	printf("smpcrash: AP %lu about to triple fault\n", arg);
	__atomic_fetch_add(&up, 1, __ATOMIC_RELAXED);
	asm volatile("lidt %0; int3" : : "m"(empty) : "memory");
	printf("TEST smpcrash FAIL AP still running after its triple fault\n");
	for (;;)
		asm volatile("cli; hlt");
}

int test_main(void)
{
	u64 n = 2;
	cmdline_u64("cpus", &n);
	if (n < 2 || n > 16)
		test_fail("cpus=%lu: want 2-16", n);
	bool halt = cmdline_has("halt");
	cli_spin = cmdline_has("cli");
	cmdline_u64("wait", &cli_wait);
	printf("TEST smpcrash STARTED\n");
	for (u32 i = 1; i < n; i++) {
		ap_entry_t entry = halt ? ap_halt : i == n - 1 ? ap_crash : ap_spin;
		int r = smp_start_ap(i, entry, i, (u64)&stacks[i][AP_STACK], TIMEOUT);
		if (r)
			test_fail("AP %u did not start (%d)", i, r);
	}
	if (halt) {
		while (up != n - 1)
			pause();
		printf("smpcrash: all %lu APs up; every CPU halts with interrupts off now\n", n - 1);
		for (;;)
			asm volatile("cli; hlt");
	}
	/* The BSP keeps busy (in the guest, interrupts on, or off with its timer running) until the VM ends under it. */
	if (cli_spin) {
		cli();
		lapic_write(LAPIC_SVR, 0x1ff); /* software-enabled: LVT entries can be unmasked */
		lapic_write(LAPIC_TDCR, 0xb); /* divide by 1 */
		lapic_write(LAPIC_LVT_TIMER, LAPIC_TIMER_PERIODIC | 0x40);
		lapic_write(LAPIC_TMICT, 200000);
		bsp_cli_spinning = true;
	} else {
		sti();
	}
	u64 t0 = rdtsc();
	while (rdtsc() - t0 < TIMEOUT + (cli_spin ? cli_wait : 0))
		pause();
	printf("TEST smpcrash FAIL BSP still running %lu cycles after AP %lu's triple fault (%u APs up)\n", TIMEOUT,
	       n - 1, up);
	return EXIT_FAIL;
}
