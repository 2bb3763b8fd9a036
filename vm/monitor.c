/* The monitor's commands (vm/monitor.h). Runs under the multiplexer's lock: the VMs it sees stay registered, and so
 * are not torn down, until it returns. Its lines start with "monitor:" so they stand apart from the VMs' output. */
#include "hv/compiler.h"
#include "hv/log.h"
#include "hv/string.h"
#include "kernel/console.h"
#include "kernel/printf.h"
#include "vm/conmux.h"
#include "vm/monitor.h"
#include "vm/monitor_parse.h"
#include "vm/vm.h"
#include "vm/ws.h"

static_assert(MON_NAME_MAX == VM_NAME_MAX, "the parser takes the names vm= takes");

#define PROMPT "hv> "

static struct mon_line line; /* the multiplexer's lock */

/* Names of enum vm_stat, for `stats`. */
static const char *const stat_names[] = {
    [VM_STAT_EXITS] = "exits",
    [VM_STAT_TDP_FAULTS] = "tdp_faults",
    [VM_STAT_TDP_MAPPED_4K] = "tdp_mapped_4k",
    [VM_STAT_TDP_MAPPED_2M] = "tdp_mapped_2m",
    [VM_STAT_TDP_MAPPED_1G] = "tdp_mapped_1g",
    [VM_STAT_MMIO_EXITS] = "mmio_exits",
    [VM_STAT_IO_EXITS] = "io_exits",
    [VM_STAT_CPUID_EXITS] = "cpuid_exits",
    [VM_STAT_MSR_EXITS] = "msr_exits",
    [VM_STAT_HYPERCALLS] = "hypercalls",
    [VM_STAT_HLT_EXITS] = "hlt_exits",
    [VM_STAT_INTR_INJECTED] = "intr_injected",
    [VM_STAT_TDP_SPLITS] = "tdp_splits",
    [VM_STAT_TDP_ZAPPED] = "tdp_zapped",
    [VM_STAT_TRACKED_WRITES] = "tracked_writes",
    [VM_STAT_PROTECT_LOGGED] = "protect_logged",
    [VM_STAT_PROTECT_DENIED] = "protect_denied",
    [VM_STAT_TDP_COLLAPSES] = "tdp_collapses",
    [VM_STAT_AGED_LEAVES] = "aged_leaves",
    [VM_STAT_FAST_FAULTS] = "fast_faults",
    [VM_STAT_ACCESS_TRACK_FAULTS] = "access_track_faults",
    [VM_STAT_TASK_SWITCHES] = "task_switches",
    [VM_STAT_TDP_SHARED_FAULTS] = "tdp_shared_faults",
    [VM_STAT_TDP_FAULT_RACES] = "tdp_fault_races",
    [VM_STAT_TDP_FROZEN_BACKOFFS] = "tdp_frozen_backoffs",
    [VM_STAT_PRIVATE_VE] = "private_ve",
    [VM_STAT_PRIVATE_EXTERNAL_SET] = "private_external_set",
    [VM_STAT_PRIVATE_EXTERNAL_REMOVED] = "private_external_removed",
    [VM_STAT_PRIVATE_REFUSED] = "private_refused",
    [VM_STAT_AGE_FLUSHES] = "age_flushes",
    [VM_STAT_TDP_TABLES] = "tdp_tables",
    [VM_STAT_TDP_CACHE_ZEROED] = "tdp_cache_zeroed",
    [VM_STAT_EMU_CACHE_HITS] = "emu_cache_hits",
    [VM_STAT_EMU_CACHE_STALE] = "emu_cache_stale",
    [VM_STAT_APIC_EOI_FAST] = "apic_eoi_fast",
};
static_assert(ARRAY_SIZE(stat_names) == NR_VM_STATS, "every counter has a name");

static void help(void)
{
	log_printf(LOG_NOTICE, "monitor: commands: help | list | stats NAME | end NAME | ws NAME\n"
			       "monitor:   list        the running VMs: state, vCPUs, memory, exits, TDP faults\n"
			       "monitor:   stats NAME  every counter of VM NAME\n"
			       "monitor:   end NAME    end VM NAME, as a guest fault would (the others run on)\n"
			       "monitor:   ws NAME     VM NAME's working-set report (ws= on its module line)\n"
			       "monitor: Ctrl-A Ctrl-A Ctrl-A gives the input to the next VM\n");
}

static struct vm *find(const char *name)
{
	struct vm *vms[CONMUX_MAX_VMS];
	u32 n = __conmux_vms(vms, CONMUX_MAX_VMS);

	for (u32 i = 0; i < n; i++)
		if (!strcmp(vms[i]->name, name))
			return vms[i];
	log_printf(LOG_NOTICE, "monitor: no running VM is named %s (see list)\n", name);
	return NULL;
}

static const char *state(struct vm *vm)
{
	/* Ended: its vCPUs are on their way out, and it leaves the list when they are out. */
	if (__atomic_load_n(&vm->ended, __ATOMIC_ACQUIRE))
		return vm_end_reason_name(vm->end_reason);
	return "running";
}

static void list(void)
{
	struct vm *vms[CONMUX_MAX_VMS];
	u32 n = __conmux_vms(vms, CONMUX_MAX_VMS);

	log_printf(LOG_NOTICE, "monitor: %u VM%s running\n", n, n == 1 ? "" : "s");
	for (u32 i = 0; i < n; i++) {
		struct vm *vm = vms[i];

		log_printf(LOG_NOTICE, "monitor: vm %s: %s, %u vCPU%s, %llu MiB, %llu exits, %llu TDP faults%s\n",
			   vm->name, state(vm), vm->nr_vcpus, vm->nr_vcpus == 1 ? "" : "s",
			   (unsigned long long)(vm->mem_bytes >> 20), (unsigned long long)vm_stat(vm, VM_STAT_EXITS),
			   (unsigned long long)(vm_stat(vm, VM_STAT_TDP_FAULTS) + vm_stat(vm, VM_STAT_FAST_FAULTS)),
			   vm == conmux_owner() ? " (input)" : "");
	}
}

static void stats(struct vm *vm)
{
	char buf[400];
	size_t n = 0;

	log_printf(LOG_NOTICE, "monitor: vm %s: %s\n", vm->name, state(vm));
	for (int s = 0; s < NR_VM_STATS; s++) {
		if (!n)
			n = (size_t)hv_snprintf(buf, sizeof(buf), "monitor: vm %s:", vm->name);
		n += (size_t)hv_snprintf(buf + n, sizeof(buf) - n, " %s=%llu", stat_names[s],
					 (unsigned long long)vm_stat(vm, (enum vm_stat)s));
		if (n > 100 || s == NR_VM_STATS - 1) {
			log_printf(LOG_NOTICE, "%s\n", buf);
			n = 0;
		}
	}
}

static void run(const char *text)
{
	struct mon_parsed p;
	struct vm *vm;

	if (monitor_parse(text, &p)) {
		log_printf(LOG_NOTICE, "monitor: %s: %s\n", text, p.why);
		help();
		return;
	}
	switch (p.cmd) {
	case MON_EMPTY:
		return;
	case MON_HELP:
		help();
		return;
	case MON_LIST:
		list();
		return;
	default:
		break;
	}
	vm = find(p.name);
	if (!vm)
		return;
	switch (p.cmd) {
	case MON_STATS:
		stats(vm);
		break;
	case MON_END:
		log_printf(LOG_NOTICE, "monitor: ending vm %s\n", vm->name);
		vm_end(vm, VM_END_MONITOR, 0);
		break;
	case MON_WS:
		if (!vm->ws)
			log_printf(LOG_NOTICE, "monitor: vm %s has no working-set estimator (ws= on its module line)\n",
				   vm->name);
		else
			ws_print(vm);
		break;
	default:
		break;
	}
}

void monitor_enter(void)
{
	line.len = 0;
	log_printf(LOG_NOTICE, "monitor: type help for the commands\n");
	console_write(PROMPT, sizeof(PROMPT) - 1);
}

void monitor_key(u8 c)
{
	char echo[MON_ECHO_MAX];
	u32 n;
	bool done = monitor_line_key(&line, c, echo, &n);

	console_write(echo, n);
	if (!done)
		return;
	run(line.buf);
	console_write(PROMPT, sizeof(PROMPT) - 1);
}
