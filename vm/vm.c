/* VM objects: guest memory access through the memslots, the guest console, counters, and ending a VM. */
#include "hv/errno.h"
#include "hv/log.h"
#include "hv/platform.h"
#include "hv/string.h"
#include "arch/x86/cpu.h"
#include "kernel/console.h"
#include "vm/conmux.h"
#include "vm/vm.h"
#include "vm/protect.h"

static const char *const end_names[] = {
	[VM_END_NONE] = "running",
	[VM_END_DEBUG_EXIT] = "debug-exit",
	[VM_END_TRIPLE_FAULT] = "triple fault",
	[VM_END_HALTED] = "halted with interrupts disabled",
	[VM_END_POWEROFF] = "powered off",
	[VM_END_RESET] = "reset",
	[VM_END_UNHANDLED_EXIT] = "unhandled exit",
	[VM_END_ENTRY_FAILED] = "VM entry failed",
	[VM_END_INTERNAL_ERROR] = "internal error",
	[VM_END_PROTECTION] = "write to protected memory",
	[VM_END_MONITOR] = "ended from the monitor",
};

const char *vm_end_reason_name(int reason)
{
	if (reason < 0 || (size_t)reason >= ARRAY_SIZE(end_names) || !end_names[reason])
		return "unknown";
	return end_names[reason];
}

void vm_end(struct vm *vm, int reason, u64 status)
{
	int none = VM_END_NONE;

	/* Two vCPUs may end the VM at once (one powers off while another triple-faults): one reason is reported. */
	if (!__atomic_compare_exchange_n(&vm->end_reason, &none, reason, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return;
	vm->end_status = status;
	__atomic_store_n(&vm->ended, true, __ATOMIC_RELEASE);
	for (u32 i = 0; i < vm->nr_vcpus; i++) {
		if (vm->vcpus[i]) {
			vcpu_request(vm->vcpus[i], VCPU_REQ_VM_END);
			vcpu_kick(vm->vcpus[i]);
		}
	}
}

static void console_flush_locked(struct vm *vm)
{
	assert_spin_held(&vm->con_lock);
	if (!vm->con_len)
		return;
	log_printf(LOG_NOTICE, "[%s] %.*s\n", vm->name, (int)vm->con_len, vm->con_line);
	vm->con_len = 0;
	if (vm->stall_cycles)
		__atomic_store_n(&vm->last_output, rdtsc(), __ATOMIC_RELAXED);
}

void vm_console_flush(struct vm *vm)
{
	spin_lock(&vm->con_lock);
	console_flush_locked(vm);
	spin_unlock(&vm->con_lock);
}

void vm_console_putc(struct vm *vm, char c)
{
	if (conmux_is_raw(vm)) {
		console_write(&c, 1);
		if (vm->stall_cycles)
			__atomic_store_n(&vm->last_output, rdtsc(), __ATOMIC_RELAXED);
		return;
	}
	spin_lock(&vm->con_lock);
	if (c == '\n') {
		console_flush_locked(vm);
	} else if (c != '\r') {
		/* Control characters other than tab would let a guest rewrite the host console: show them as '.'. */
		if ((unsigned char)c < 0x20 && c != '\t')
			c = '.';
		vm->con_line[vm->con_len++] = c;
		if (vm->con_len == sizeof(vm->con_line))
			console_flush_locked(vm);
	}
	spin_unlock(&vm->con_lock);
}

u64 vm_stat(struct vm *vm, enum vm_stat s)
{
	u64 sum = 0;

	switch (s) {
	case VM_STAT_TDP_FAULTS:
		return __atomic_load_n(&vm->mmu.stats.faults, __ATOMIC_RELAXED);
	case VM_STAT_TDP_MAPPED_4K:
	case VM_STAT_TDP_MAPPED_2M:
	case VM_STAT_TDP_MAPPED_1G:
		return vm->mmu.stats.faults_mapped[1 + (s - VM_STAT_TDP_MAPPED_4K)];
	case VM_STAT_TDP_SPLITS:
		return vm->mmu.stats.splits;
	case VM_STAT_TDP_ZAPPED:
		return vm->mmu.stats.zapped_leaves;
	case VM_STAT_TRACKED_WRITES:
		return READ_ONCE(vm->mmu.stats.tracked_writes) + READ_ONCE(vm->mmu.stats.tracked_writes_refused);
	case VM_STAT_PROTECT_LOGGED:
		return protect_logged(vm);
	case VM_STAT_PROTECT_DENIED:
		return protect_denied(vm);
	case VM_STAT_TDP_COLLAPSES:
		return vm->mmu.stats.collapses;
	case VM_STAT_AGED_LEAVES:
		return __atomic_load_n(&vm->mmu.stats.aged_leaves, __ATOMIC_RELAXED);
	case VM_STAT_FAST_FAULTS:
		return __atomic_load_n(&vm->mmu.stats.fast_faults, __ATOMIC_RELAXED);
	case VM_STAT_ACCESS_TRACK_FAULTS:
		return __atomic_load_n(&vm->mmu.stats.access_track_faults, __ATOMIC_RELAXED);
	case VM_STAT_TDP_SHARED_FAULTS:
		return mmu_shared_faults(&vm->mmu.stats);
	case VM_STAT_TDP_FAULT_RACES:
		return __atomic_load_n(&vm->mmu.stats.fault_races, __ATOMIC_RELAXED);
	case VM_STAT_TDP_FROZEN_BACKOFFS:
		return __atomic_load_n(&vm->mmu.stats.frozen_backoffs, __ATOMIC_RELAXED);
	case VM_STAT_PRIVATE_EXTERNAL_SET:
		return __atomic_load_n(&vm->mmu.priv.stats.external_set, __ATOMIC_RELAXED);
	case VM_STAT_PRIVATE_EXTERNAL_REMOVED:
		return __atomic_load_n(&vm->mmu.priv.stats.external_removed, __ATOMIC_RELAXED);
	case VM_STAT_PRIVATE_REFUSED:
		return __atomic_load_n(&vm->mmu.priv.stats.refused, __ATOMIC_RELAXED);
	case VM_STAT_AGE_FLUSHES:
		return __atomic_load_n(&vm->mmu.stats.age_flushes, __ATOMIC_RELAXED);
	case VM_STAT_TDP_TABLES:
		return __atomic_load_n(&vm->mmu.stats.tables_allocated, __ATOMIC_RELAXED);
	case VM_STAT_TDP_CACHE_ZEROED:
		return __atomic_load_n(&vm->mmu.stats.table_cache_zeroed, __ATOMIC_RELAXED);
	default:
		break;
	}
	if ((unsigned)s >= NR_VM_STATS)
		return ~0ULL;
	for (u32 i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i])
			sum += vcpu_stat(vm->vcpus[i], s);
	return sum;
}

int vm_read_gpa(struct vm *vm, gpa_t gpa, void *buf, u64 len)
{
	return mmu_read_gpa(&vm->mmu, gpa, buf, len);
}

/* The hypervisor's own writes (device models, loaders): write tracking sees them with no vCPU as the writer. */
int vm_write_gpa(struct vm *vm, gpa_t gpa, const void *buf, u64 len)
{
	return mmu_write_gpa(&vm->mmu, NULL, gpa, buf, len);
}
