/* Which CPU runs what: the VM queue and the vCPU-to-CPU assignment. Every CPU calls vm_launch_run_this_cpu; one VM's
 * end, however it ends, never stops the next. */
#include "kernel/printf.h"
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/virt.h"
#include "hv/errno.h"
#include "hv/string.h"
#include "hv/log.h"
#include "hv/spinlock.h"
#include "hv/platform.h"
#include "kernel/percpu.h"
#include "mm/mm.h"
#include "vm/disk.h"
#include "vm/config.h"
#include "vm/conmux.h"
#include "vm/launch.h"
#include "vm/protect.h"
#include "vm/queue.h"
#include "vm/vcpu.h"
#include "vm/ws.h"

/* Room for as many VMs as the boot has modules (each VM has one), from the heap; constant after vm_launch_prepare.
 * queue.e[i] is configs[i]'s place in the queue. */
static struct vm_config *configs;
static struct vm_queue queue; /* sched_lock */

/*
 * Scheduling. Each vCPU has a physical CPU to itself while its VM runs (no time-sharing: a micro-hypervisor's
 * simplest sound policy, and the one with predictable guest timing). VMs start in configuration order (vm/queue.h). A
 * CPU that takes the next configuration leads its VM: it claims cpus - 1 idle CPUs, builds the VM, hands each claimed
 * CPU a vCPU, runs vCPU 0 itself, waits for the others, and tears the VM down. A CPU that finds too few idle CPUs for
 * the next VM, or finds it waiting for memory another VM holds, becomes idle itself; the next CPU to finish its work
 * (so a teardown's, when memory was short) looks again. Every CPU that runs nothing and finds the queue empty leaves.
 */
enum slot_state {
	SLOT_BUSY,     /* running the queue, a VM or a vCPU */
	SLOT_IDLE,     /* in idle_cpus, sleeping until claimed or the queue is empty */
	SLOT_CLAIMED,  /* taken by a leader, waiting for its vCPU */
	SLOT_GO,       /* vCPU given: run it */
	SLOT_RELEASED, /* the leader's VM did not start: back to the queue */
};

struct cpu_slot {
	u32 state;       /* enum slot_state; atomic: the owner CPU and, under sched_lock, leaders change it */
	struct vcpu *v;  /* set by the leader before SLOT_GO */
	struct percpu *leader;
};

static spinlock_t sched_lock;
static struct percpu *idle_cpus[MAX_CPUS]; /* sched_lock */
static u32 nr_idle;                        /* sched_lock */
static bool queue_empty;                   /* sched_lock to set; read atomically by idle CPUs */
static u32 nr_runners;                     /* constant after vm_launch_prepare: CPUs able to run vCPUs */
static struct cpu_slot slots[MAX_CPUS];

static_assert(VM_CONFIG_MAX_VCPUS == VM_MAX_VCPUS, "cpus= is bounded by what struct vm holds");

static void set_slot(struct percpu *cpu, enum slot_state st)
{
	__atomic_store_n(&slots[cpu->cpu_id].state, st, __ATOMIC_RELEASE);
	if (st != SLOT_CLAIMED) /* a claimed CPU sleeps on until its vCPU comes */
		lapic_send_wake(cpu->apic_id);
}

static bool slot_woken(void *arg)
{
	struct cpu_slot *s = arg;
	u32 st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
	return st == SLOT_GO || st == SLOT_RELEASED ||
	       (st == SLOT_IDLE && __atomic_load_n(&queue_empty, __ATOMIC_ACQUIRE));
}

static bool aps_done(void *arg)
{
	struct vm *vm = arg;
	for (u32 i = 1; i < vm->nr_vcpus; i++)
		if (!__atomic_load_n(&vm->vcpus[i]->done, __ATOMIC_ACQUIRE))
			return false;
	return true;
}

/* Where the exits went: one line of the reasons that occurred, in the dispatch table's order. */
static void report_exits_by_reason(struct vm *vm)
{
	char line[1024];
	size_t n = 0;

	for (int r = EXIT_NONE + 1; r < NR_EXIT_REASONS; r++) {
		u64 count = 0, cycles = 0;

		for (u32 i = 0; i < vm->nr_vcpus; i++) {
			count += vm->vcpus[i]->exits_by_reason[r];
			cycles += vm->vcpus[i]->exit_cycles[r];
		}
		if (count && n < sizeof(line))
			n += (size_t)hv_snprintf(line + n, sizeof(line) - n, "%s%s %llu (%llu kcycles)", n ? ", " : "",
						 exit_reason_name(r), (unsigned long long)count,
						 (unsigned long long)(cycles / 1000));
	}
	if (n)
		pr_info("vm %s: exits by reason, with the cycles spent handling them: %s\n", vm->name, line);
}

static void report_end(struct vm *vm)
{
	pr_info("vm %s: ended: %s, status 0x%llx (%llu exits, %llu TDP faults: %llu 4K, %llu 2M, %llu 1G)\n",
		vm->name, vm_end_reason_name(vm->end_reason), (unsigned long long)vm->end_status,
		(unsigned long long)vm_stat(vm, VM_STAT_EXITS), (unsigned long long)vm_stat(vm, VM_STAT_TDP_FAULTS),
		(unsigned long long)vm_stat(vm, VM_STAT_TDP_MAPPED_4K),
		(unsigned long long)vm_stat(vm, VM_STAT_TDP_MAPPED_2M),
		(unsigned long long)vm_stat(vm, VM_STAT_TDP_MAPPED_1G));
	report_exits_by_reason(vm);
	vm_disks_report(vm);
	if (vm->nmi_kicks)
		pr_info("vm %s: %llu times a vCPU stayed in the guest after the wake IPI and was kicked out with an NMI\n",
			vm->name, (unsigned long long)vm->nmi_kicks);
	ws_print(vm);
	if (vm->mmu.shadow.enabled) {
		const struct shadow_stats *s = &vm->mmu.shadow.stats;
		u64 loads = 0, hits = 0, dropped = 0;

		for (u32 i = 0; i < vm->nr_vcpus; i++) {
			loads += vm->vcpus[i]->mmu.root_loads;
			hits += vm->vcpus[i]->mmu.root_cache_hits;
			dropped += vm->vcpus[i]->mmu.obsolete_dropped;
		}
		pr_info("vm %s: shadow MMU: %llu faults (%llu reflected to the guest, %llu retried), %llu emulated PTE "
			"writes (%llu SPTEs zapped, %llu flooding zaps), %llu unsyncs, %llu syncs (%llu leaves zapped), %llu "
			"shadow pages made, %llu freed; roots: %llu made, %llu loads, %llu from the vCPU cache, %llu obsolete "
			"dropped; %llu PAE half-writes merged\n",
			vm->name, (unsigned long long)s->faults, (unsigned long long)s->guest_faults,
			(unsigned long long)s->retries, (unsigned long long)s->pte_writes,
			(unsigned long long)s->sptes_zapped_by_writes, (unsigned long long)s->flood_zaps,
			(unsigned long long)s->unsyncs, (unsigned long long)s->syncs, (unsigned long long)s->sync_zaps,
			(unsigned long long)s->pages_allocated, (unsigned long long)s->pages_freed,
			(unsigned long long)vm->mmu.stats.roots_allocated, (unsigned long long)loads,
			(unsigned long long)hits, (unsigned long long)dropped,
			(unsigned long long)s->half_writes_merged);
		pr_info("vm %s: shadow MMU: %llu links of an existing (shared) shadow page, %llu relinks, %llu roots "
			"zapped for flooding (%llu PAE-format); %llu root syncs, %llu leaves zapped by INVLPG, %llu leaves "
			"prefetched, %llu leaves zapped for gfn ranges (reclaim), %llu protection-key writes emulated\n",
			vm->name, (unsigned long long)s->pages_shared, (unsigned long long)s->relinks,
			(unsigned long long)s->root_zaps, (unsigned long long)s->pae_root_zaps,
			(unsigned long long)s->root_syncs,
			(unsigned long long)s->invlpg_zaps, (unsigned long long)s->prefetched,
			(unsigned long long)s->range_zaps, (unsigned long long)s->pk_emulated);
		if (s->la57_roots)
			pr_info("vm %s: shadow MMU: %llu 5-level roots made (CR4.LA57), %llu faults through them\n",
				vm->name, (unsigned long long)s->la57_roots, (unsigned long long)s->la57_faults);
		if (s->unprotects)
			pr_info("vm %s: shadow MMU: %llu guest tables unshadowed for writes that do not update them (REP "
				"MOVS/STOS) or that the emulator could not redo\n",
				vm->name, (unsigned long long)s->unprotects);
	}
}

/* A vCPU other than 0, on a claimed CPU: its backend state is made and unmade here, on the CPU that runs it. */
static void run_ap_vcpu(struct vcpu *v, struct percpu *leader)
{
	fpu_reset(); /* no guest sees another's FPU, SSE or debug registers */
	debug_regs_reset();
	cpu_ibpb();
	int r = virt_ops->vcpu_create(v);
	if (!r)
		protect_vcpu_init(v);
	if (r) {
		vm_log(v->vm, LOG_ERR, "vcpu %u: setup failed on CPU %u (%d)\n", v->id, this_cpu_id(), r);
		vm_end(v->vm, VM_END_INTERNAL_ERROR, (u64)r);
	} else {
		vcpu_run_loop(v);
	}
	virt_ops->vcpu_destroy(v);
	fpu_reset();
	__atomic_store_n(&v->done, true, __ATOMIC_RELEASE);
	lapic_send_wake(leader->apic_id);
}

/* Under sched_lock: an idle CPU leaves its sleep to look at the queue (its head may start now, and the CPU that
 * changed that is about to be busy). */
static void wake_looker(void)
{
	assert_spin_held(&sched_lock);
	if (nr_idle)
		set_slot(idle_cpus[--nr_idle], SLOT_RELEASED);
}

/* What became of configuration idx after its teardown (err: its build's error, 0 if it ran); says so where there is
 * something to say. True when it is to be built again at once, on the same CPUs. */
static bool finish(u32 idx, int err)
{
	const struct vm_config *cfg = &configs[idx];
	enum vmq_verdict verdict;
	u64 free_mib = mm_free_frames() >> (20 - PAGE_SHIFT);

	spin_lock(&sched_lock);
	verdict = vmq_finish(&queue, idx, err);
	spin_unlock(&sched_lock);
	switch (verdict) {
	case VMQ_ENDED:
		if (err)
			pr_err("vm %s: not started (%d)\n", cfg->name, err);
		return false;
	case VMQ_RETRY:
		return true;
	case VMQ_WAIT:
		pr_notice(
		    "vm %s: waits for memory: its %llu MiB of guest RAM do not fit beside the other VMs (%llu MiB "
		    "free); it starts when one of them ends\n",
		    cfg->name, (unsigned long long)(cfg->mem_bytes >> 20), (unsigned long long)free_mib);
		return false;
	case VMQ_WAIT_AGAIN:
		return false;
	case VMQ_NEVER_FITS:
		pr_err("vm %s: not started: its %llu MiB of guest RAM and its own structures do not fit even with no "
		       "other VM running (%llu MiB free)\n",
		       cfg->name, (unsigned long long)(cfg->mem_bytes >> 20), (unsigned long long)free_mib);
		return false;
	}
	return false;
}

static void run_vm(u32 idx, struct percpu **helpers)
{
	const struct vm_config *cfg = &configs[idx];
	struct vm *vm;
	u32 started;
	int r;

	do {
		started = 1;
		r = -ENOMEM;
		fpu_reset();
		debug_regs_reset();
		cpu_ibpb();
		vm = kzalloc(sizeof(*vm));
		if (vm)
			r = vm_build(vm, cfg);
		if (!r) {
			spin_lock(&sched_lock);
			vmq_built(&queue, idx);
			spin_unlock(&sched_lock);
			pr_info("vm %s: starting on CPU %u with %llu MiB and %u vCPU%s\n", vm->name, this_cpu_id(),
				(unsigned long long)(vm->mem_bytes >> 20), vm->nr_vcpus, vm->nr_vcpus == 1 ? "" : "s");
			conmux_add(vm, idx); /* the serial line's input may come to it (vm/conmux.h) */
			for (; started < vm->nr_vcpus; started++) {
				struct percpu *h = helpers[started - 1];
				slots[h->cpu_id].v = vm->vcpus[started];
				slots[h->cpu_id].leader = this_cpu();
				set_slot(h, SLOT_GO);
			}
			vcpu_run_loop(vm->vcpus[0]);
			cpu_halt_until(aps_done, vm);
			conmux_remove(vm);
			report_end(vm);
		}
		if (vm)
			vm_destroy(vm);
		fpu_reset();
	} while (finish(idx, r)); /* a retry keeps its claimed CPUs */
	for (u32 i = started; i < cfg->cpus; i++)
		set_slot(helpers[i - 1], SLOT_RELEASED);
}

/* Whether configuration c can be started at all on this machine, said when not. Memory is judged against what is free
 * now, before any VM holds some: more than that can never be had. */
static bool can_ever_start(const struct vm_config *c, u32 runners, u64 free_bytes)
{
	if (c->cpus > runners) {
		pr_err("vm %s: not started: it wants %u vCPUs, and only %u CPUs can run guests\n", c->name, c->cpus,
		       runners);
		return false;
	}
	if (c->mem_bytes > free_bytes) {
		pr_err(
		    "vm %s: not started: it wants %llu MiB of guest RAM, and the machine has %llu MiB free with no VM "
		    "running\n",
		    c->name, (unsigned long long)(c->mem_bytes >> 20), (unsigned long long)(free_bytes >> 20));
		return false;
	}
	return true;
}

u32 vm_launch_prepare(const struct boot_info *bi, u32 runners)
{
	u32 max = MAX(bi->nr_modules, 1u), n = 0, ok = 0;
	u64 free_bytes = mm_free_frames() << PAGE_SHIFT; /* before any VM holds some: the most one can ever have */
	struct vmq_entry *entries;

	nr_runners = runners;
	configs = kzalloc(sizeof(*configs) * max);
	entries = kzalloc(sizeof(*entries) * max);
	if (!configs || !entries) {
		pr_err("vm config: no memory for the configurations of %u modules: no VM is started\n", max);
		vmq_init(&queue, NULL, 0);
		return 0;
	}
	vm_config_parse(bi, configs, max, &n);
	vmq_init(&queue, entries, n);
	for (u32 i = 0; i < n; i++) {
		/* What the images can tell is checked now, before any VM runs: such a VM is refused at boot. */
		if (vm_check_config(&configs[i])) {
			pr_err("vm config: vm %s left out because of the errors above\n", configs[i].name);
			vmq_refuse(&queue, i);
		} else if (!can_ever_start(&configs[i], runners, free_bytes)) {
			vmq_refuse(&queue, i);
		} else {
			ok++;
		}
	}
	return ok;
}

/* Under sched_lock: the next configuration this CPU can lead now (with its helpers claimed), NULL when it must wait
 * for idle CPUs or for memory, and NULL with queue_empty set when there is nothing left. */
static const struct vm_config *take_next(struct percpu **helpers, u32 *idx)
{
	int head;

	assert_spin_held(&sched_lock);
	head = vmq_head(&queue);
	if (head == VMQ_EMPTY) {
		__atomic_store_n(&queue_empty, true, __ATOMIC_RELEASE);
		for (u32 i = 0; i < nr_idle; i++)
			lapic_send_wake(idle_cpus[i]->apic_id);
		return NULL;
	}
	if (head < 0)
		return NULL;
	const struct vm_config *cfg = &configs[head];
	if (nr_idle < cfg->cpus - 1)
		return NULL;
	vmq_take(&queue, (u32)head);
	for (u32 i = 0; i < cfg->cpus - 1; i++) {
		helpers[i] = idle_cpus[--nr_idle];
		set_slot(helpers[i], SLOT_CLAIMED);
	}
	/* The next head may start now on an idle CPU, and this one is about to be busy: someone must look. */
	if (vmq_head(&queue) >= 0)
		wake_looker();
	*idx = (u32)head;
	return cfg;
}

void vm_launch_run_this_cpu(void)
{
	struct percpu *me = this_cpu();
	struct cpu_slot *slot = &slots[me->cpu_id];
	struct percpu *helpers[VM_MAX_VCPUS];
	u32 idx;

	/* A CPU whose VMXON or EFER.SVME failed must not touch a VMCS or VMCB: it runs nothing. */
	if (!virt_ops || !me->virt_enabled)
		return;
	for (;;) {
		spin_lock(&sched_lock);
		const struct vm_config *cfg = take_next(helpers, &idx);
		if (cfg) {
			spin_unlock(&sched_lock);
			run_vm(idx, helpers);
			continue;
		}
		if (queue_empty) {
			spin_unlock(&sched_lock);
			return;
		}
		idle_cpus[nr_idle++] = me;
		__atomic_store_n(&slot->state, SLOT_IDLE, __ATOMIC_RELEASE);
		spin_unlock(&sched_lock);

		cpu_halt_until(slot_woken, slot);
		u32 st = __atomic_load_n(&slot->state, __ATOMIC_ACQUIRE);
		if (st == SLOT_GO)
			run_ap_vcpu(slot->v, slot->leader);
		else if (st == SLOT_IDLE)
			return; /* the queue emptied while it waited, and nobody claimed it */
		__atomic_store_n(&slot->state, SLOT_BUSY, __ATOMIC_RELEASE);
	}
}
