/* smpcrash: one vCPU of a running SMP guest triple-faults while the BSP keeps running. A triple fault on any vCPU
 * ends the whole VM (it is a machine reset on a PC), the other vCPUs stop wherever they are, and the hypervisor goes
 * on with its next VM. The guest never prints PASS: the runner checks `vm NAME: ended: triple fault` and that the
 * BSP's "still running" line never comes. `cpus=N` (default 2): the last AP crashes, after the others are up.
 * `halt`: every CPU halts with interrupts off instead (APs first, then the BSP): nothing can wake any of them, and
 * the VM must end as halted, while one that still had a timer or a pending IPI must not. */
#include "guest.h"
#include "smp.h"

const char test_name[] = "smpcrash";

#define AP_STACK 8192
#define TIMEOUT	 ((u64)4000000000)

static u8 stacks[16][AP_STACK] __attribute__((aligned(16)));
static volatile u32 up;

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
	/* The BSP keeps busy (in the guest, interrupts on) until the VM ends under it. */
	sti();
	u64 t0 = rdtsc();
	while (rdtsc() - t0 < TIMEOUT)
		pause();
	printf("TEST smpcrash FAIL BSP still running %lu cycles after AP %lu's triple fault (%u APs up)\n", TIMEOUT,
	       n - 1, up);
	return EXIT_FAIL;
}
