/* Guest memory protection (see protect.h). The ranges live in a small table under the state's own lock, which is
 * taken before mmu->lock (an add write-protects through the MMU) and never inside it: the notifier runs from
 * mmu_write_gpa, which holds no MMU lock. */
#include "vm/protect.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/virt.h"
#include "hv/errno.h"
#include "hv/platform.h"
#include "hv/spinlock.h"
#include "vm/config.h"
#include "vm/vcpu.h"

struct protect_range {
	gpa_t start, end; /* [start, end), page aligned */
	u8 mode;          /* VM_PROTECT_* */
	bool armed;       /* tracked now; a `late` range is not until the guest sets IA32_LSTAR */
};

struct vm_protect {
	struct track_notifier notifier; /* registered once, before the vCPUs run */
	struct vm *vm;                  /* constant */
	spinlock_t lock;
	u32 nr;                         /* lock; ranges only ever grow: a locked range is never unlocked */
	struct protect_range ranges[PROTECT_MAX_RANGES]; /* lock */
	/* lock: references HC_TRACK_TEST took, so the guest can drop only its own, never the protection's */
	struct { gfn_t gfn; u32 count; } test_refs[PROTECT_MAX_TEST_REFS];
	u64 logged, denied;             /* atomic */
	u32 log_budget;                 /* atomic: lines left to print; counts go on after it runs out */
};

#define PROTECT_LOG_LINES 64

static const char *const mode_names[] = { [VM_PROTECT_LOG] = "log", [VM_PROTECT_DENY] = "deny",
					  [VM_PROTECT_KILL] = "kill" };

static struct vm_protect *to_protect(struct track_notifier *n)
{
	return container_of(n, struct vm_protect, notifier);
}

/* The range a write touches, if any; with several (a write across two ranges), the strictest mode wins. */
static int __write_mode(struct vm_protect *p, gpa_t gpa, unsigned int len)
{
	int mode = -1;

	assert_spin_held(&p->lock);
	for (u32 i = 0; i < p->nr; i++) {
		const struct protect_range *r = &p->ranges[i];

		if (r->armed && gpa < r->end && r->start < gpa + len && (int)r->mode > mode)
			mode = r->mode;
	}
	return mode;
}

static void log_write(struct vm_protect *p, void *who, gpa_t gpa, const void *bytes, unsigned int len, int mode)
{
	u64 val = 0;

	if (__atomic_load_n(&p->log_budget, __ATOMIC_RELAXED) == 0 ||
	    __atomic_sub_fetch(&p->log_budget, 1, __ATOMIC_RELAXED) == (u32)-1)
		return;
	__builtin_memcpy(&val, bytes, MIN(len, sizeof(val)));
	if (who)
		vm_log(p->vm, LOG_NOTICE, "protect: %s write of %u bytes at gpa 0x%llx, value 0x%llx, by vCPU %u at RIP 0x%llx\n",
		       mode_names[mode], len, (unsigned long long)gpa, (unsigned long long)val, ((struct vcpu *)who)->id,
		       (unsigned long long)virt_ops->get_rip(who));
	else
		vm_log(p->vm, LOG_NOTICE, "protect: %s write of %u bytes at gpa 0x%llx, value 0x%llx, by the hypervisor\n",
		       mode_names[mode], len, (unsigned long long)gpa, (unsigned long long)val);
	if (__atomic_load_n(&p->log_budget, __ATOMIC_RELAXED) == 0)
		vm_log(p->vm, LOG_NOTICE, "protect: further writes are counted, not logged\n");
}

static enum track_verdict protect_pre_write(struct track_notifier *n, void *who, gpa_t gpa, const void *bytes,
					    unsigned int len)
{
	struct vm_protect *p = to_protect(n);

	spin_lock(&p->lock);
	int mode = __write_mode(p, gpa, len);
	spin_unlock(&p->lock);
	if (mode < 0)
		return TRACK_WRITE_ALLOW; /* tracked by someone else */
	log_write(p, who, gpa, bytes, len, mode);
	switch (mode) {
	case VM_PROTECT_LOG:
		__atomic_fetch_add(&p->logged, 1, __ATOMIC_RELAXED);
		return TRACK_WRITE_ALLOW;
	case VM_PROTECT_KILL:
		vm_log(p->vm, LOG_ERR, "protect: write to gpa 0x%llx in a kill range: ending the VM\n",
		       (unsigned long long)gpa);
		vm_end(p->vm, VM_END_PROTECTION, gpa);
		/* The write is dropped too, whatever the vCPU does before it sees the end. */
		__atomic_fetch_add(&p->denied, 1, __ATOMIC_RELAXED);
		return TRACK_WRITE_DENY;
	default:
		__atomic_fetch_add(&p->denied, 1, __ATOMIC_RELAXED);
		return TRACK_WRITE_DENY;
	}
}

/* Drop the tracking references of gfns [first, end) (an add that failed halfway, or teardown). */
static void untrack(struct vm *vm, gfn_t first, gfn_t end)
{
	for (gfn_t g = first; g < end; g++)
		BUG_ON(mmu_track_remove_gfn(&vm->mmu, g));
}

/* Write-protect a range's pages: all of them, or none on failure. */
static int track_range(struct vm *vm, gpa_t start, gpa_t end)
{
	for (gfn_t g = start >> PAGE_SHIFT; g < end >> PAGE_SHIFT; g++) {
		int r = mmu_track_add_gfn(&vm->mmu, g);
		if (r) {
			untrack(vm, start >> PAGE_SHIFT, g);
			return r;
		}
	}
	return 0;
}

/* Check and install one range, armed now or (late) when the guest kernel is up (caller holds p->lock). */
static int __add_range(struct vm_protect *p, gpa_t start, gpa_t end, u8 mode, bool late)
{
	struct vm *vm = p->vm;

	assert_spin_held(&p->lock);
	for (gpa_t a = start; a < end;) {
		struct memslot *s = (a >> PAGE_SHIFT) < PT_MAX_PFN ? memslot_find(&vm->mmu.slots, a >> PAGE_SHIFT) : NULL;
		if (!s)
			return -EFAULT;
		a = (s->base_gfn + s->npages) << PAGE_SHIFT;
	}
	for (u32 i = 0; i < p->nr; i++) {
		if (start < p->ranges[i].end && p->ranges[i].start < end)
			return -EEXIST;
	}
	if (p->nr == PROTECT_MAX_RANGES)
		return -ENOSPC;
	if (!late) {
		int r = track_range(vm, start, end);
		if (r)
			return r;
	}
	p->ranges[p->nr++] = (struct protect_range){ .start = start, .end = end, .mode = mode, .armed = !late };
	if (late)
		__atomic_store_n(&vm->protect_late, true, __ATOMIC_RELEASE);
	return 0;
}

/*
 * A `late` range waits for the guest kernel: its loader and, for Linux, its decompressor write the range freely (a
 * bzImage decompresses its text into place, millions of stores that would each be emulated), and protection begins
 * once the kernel has installed its system-call entry, its first IA32_LSTAR write, the signal introspection engines
 * such as HVMI wait for. In Linux that is syscall_init(), early in start_kernel() and before any of its own text
 * patching (alternatives, jump labels, static calls). The write is intercepted on every vCPU created while a range
 * waits, and each vCPU's first write opens the MSR again (vm/msr.c), so nothing is paid once the ranges are armed. A
 * guest that never writes LSTAR never arms them, and the end report says so.
 */
void protect_vcpu_init(struct vcpu *v)
{
	if (__atomic_load_n(&v->vm->protect_late, __ATOMIC_ACQUIRE))
		virt_ops->intercept_msr_write(v, MSR_LSTAR, true);
}

void protect_lstar_written(struct vcpu *v, u64 lstar)
{
	struct vm_protect *p = v->vm->protect;
	int r = 0;

	spin_lock(&p->lock);
	if (!__atomic_load_n(&v->vm->protect_late, __ATOMIC_ACQUIRE)) {
		spin_unlock(&p->lock);
		return; /* armed by another vCPU's write */
	}
	for (u32 i = 0; i < p->nr && !r; i++) {
		struct protect_range *pr = &p->ranges[i];

		if (pr->armed)
			continue;
		r = track_range(v->vm, pr->start, pr->end);
		pr->armed = !r;
		if (!r)
			vm_log(v->vm, LOG_INFO, "protect: 0x%llx-0x%llx %s armed (IA32_LSTAR 0x%llx set by vCPU %u)\n",
			       (unsigned long long)pr->start, (unsigned long long)pr->end, mode_names[pr->mode],
			       (unsigned long long)lstar, v->id);
	}
	__atomic_store_n(&v->vm->protect_late, false, __ATOMIC_RELEASE);
	spin_unlock(&p->lock);
	if (r) {
		/* Running on unprotected would break the promise the configuration made. */
		vm_log(v->vm, LOG_ERR, "protect: cannot arm a late range (%d): ending the VM\n", r);
		vm_end(v->vm, VM_END_INTERNAL_ERROR, (u64)r);
	}
}

int protect_init(struct vm *vm, const struct vm_config *cfg)
{
	struct vm_protect *p = kzalloc(sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->vm = vm;
	p->log_budget = PROTECT_LOG_LINES;
	p->notifier.pre_write = protect_pre_write;
	vm->protect = p;
	mmu_track_register_notifier(&vm->mmu, &p->notifier);
	spin_lock(&p->lock);
	for (u32 i = 0; i < cfg->nr_protect; i++) {
		int r = __add_range(p, cfg->protect[i].start, cfg->protect[i].end, cfg->protect[i].mode,
				    cfg->protect[i].late);
		if (r) {
			spin_unlock(&p->lock);
			vm_log(vm, LOG_ERR, "protect=0x%llx-0x%llx:%s cannot be set up (%d)\n",
			       (unsigned long long)cfg->protect[i].start, (unsigned long long)cfg->protect[i].end,
			       mode_names[cfg->protect[i].mode], r);
			return r;
		}
		vm_log(vm, LOG_INFO, "protect: 0x%llx-0x%llx %s%s\n", (unsigned long long)cfg->protect[i].start,
		       (unsigned long long)cfg->protect[i].end, mode_names[cfg->protect[i].mode],
		       cfg->protect[i].late ? ", armed when the guest kernel sets IA32_LSTAR" : "");
	}
	spin_unlock(&p->lock);
	return 0;
}

/* The references go with the memslots (mmu_destroy); only the state is freed here, after the MMU. */
void protect_destroy(struct vm *vm)
{
	struct vm_protect *p = vm->protect;

	if (p && p->nr) {
		u32 unarmed = 0;

		for (u32 i = 0; i < p->nr; i++)
			unarmed += !p->ranges[i].armed;
		vm_log(vm, LOG_INFO, "protect: %llu writes logged, %llu denied, in %u ranges (%u never armed)\n",
		       (unsigned long long)p->logged, (unsigned long long)p->denied, p->nr, unarmed);
	}
	kfree(vm->protect);
	vm->protect = NULL;
}

u64 protect_hc_mem_lock(struct vm *vm, gpa_t gpa, u64 len, u64 mode)
{
	struct vm_protect *p = vm->protect;
	int r;

	if ((gpa | len) & (PAGE_SIZE - 1) || !len || gpa + len < gpa || (mode != HC_LOCK_DENY && mode != HC_LOCK_KILL))
		return (u64)-EINVAL;
	spin_lock(&p->lock);
	r = __add_range(p, gpa, gpa + len, mode == HC_LOCK_KILL ? VM_PROTECT_KILL : VM_PROTECT_DENY, false);
	spin_unlock(&p->lock);
	if (!r)
		vm_log(vm, LOG_INFO, "protect: the guest locked 0x%llx-0x%llx (%s)\n", (unsigned long long)gpa,
		       (unsigned long long)(gpa + len), mode == HC_LOCK_KILL ? "kill" : "deny");
	return (u64)(s64)r;
}

u64 protect_hc_track_test(struct vm *vm, gfn_t gfn, u64 op)
{
	struct vm_protect *p = vm->protect;
	int slot = -1, r;

	if (op > 1)
		return (u64)-EINVAL;
	if (gfn >= PT_MAX_PFN || !memslot_find(&vm->mmu.slots, gfn))
		return (u64)-EFAULT;
	spin_lock(&p->lock);
	for (int i = 0; i < PROTECT_MAX_TEST_REFS; i++) {
		if (p->test_refs[i].count && p->test_refs[i].gfn == gfn) {
			slot = i;
			break;
		}
		if (slot < 0 && !p->test_refs[i].count && op == 1)
			slot = i;
	}
	if (op == 0) {
		/* Only references this interface took: the guest must never drop the protection's. */
		r = slot < 0 ? -ERANGE : mmu_track_remove_gfn(&vm->mmu, gfn);
		if (!r)
			p->test_refs[slot].count--;
	} else {
		r = slot < 0 ? -ENOSPC : mmu_track_add_gfn(&vm->mmu, gfn);
		if (!r) {
			p->test_refs[slot].gfn = gfn;
			p->test_refs[slot].count++;
		}
	}
	spin_unlock(&p->lock);
	return (u64)(s64)r;
}

u64 protect_logged(const struct vm *vm)
{
	return vm->protect ? __atomic_load_n(&vm->protect->logged, __ATOMIC_RELAXED) : 0;
}

u64 protect_denied(const struct vm *vm)
{
	return vm->protect ? __atomic_load_n(&vm->protect->denied, __ATOMIC_RELAXED) : 0;
}
