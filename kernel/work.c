/* The APs sleep in HLT until the BSP releases them with a wake-up IPI, and the BSP sleeps the same way while the
 * APs finish: no CPU spins, which matters under Bochs, where a spinning CPU slows the others down. */
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "kernel/percpu.h"
#include "kernel/work.h"
#include "vm/launch.h"

static u32 released;  /* set once by the BSP */
static u32 aps_busy;  /* APs released and not yet done */

static bool released_set(void *arg)
{
	(void)arg;
	return __atomic_load_n(&released, __ATOMIC_ACQUIRE) == 1;
}

static bool aps_idle(void *arg)
{
	(void)arg;
	return __atomic_load_n(&aps_busy, __ATOMIC_ACQUIRE) == 0;
}

void work_ap_loop(void)
{
	cpu_halt_until(released_set, NULL);
	vm_launch_run_this_cpu();
	__atomic_fetch_sub(&aps_busy, 1, __ATOMIC_ACQ_REL);
	lapic_send_wake(cpus[0]->apic_id);
	cpu_halt_forever();
}

void work_run_all_cpus(void)
{
	__atomic_store_n(&aps_busy, nr_cpus - 1, __ATOMIC_RELEASE);
	__atomic_store_n(&released, 1, __ATOMIC_RELEASE);
	lapic_send_wake_others();
	vm_launch_run_this_cpu();
	cpu_halt_until(aps_idle, NULL);
}
