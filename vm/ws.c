/* The working-set estimator of a VM (ws.h): the periodic scan on vCPU 0, the report and its three ways out (the VM's
 * end, the console key or the monitor, HC_WS). The scan ages the whole guest through mmu_age_gfn_range_young, without the MMU lock,
 * so it never makes a fault wait; it runs on vCPU 0's CPU between two of its guest entries, and costs that vCPU the
 * time it takes (the other vCPUs keep running).
 *
 *   vCPU 0 run loop: now >= next? -> per 2 MiB chunk of each memslot: mmu_age_gfn_range_young -> 512 young bits
 *                                 -> ws_gen_update (ages, under ws->lock) ; mmu_age_end_pass (the flush policy,
 *                                    age_flush=) ; next = now + interval
 *   HC_WS / Ctrl-A w / VM end    -> ws_report: ws_gen_count over the ages, under ws->lock
 */
#include "vm/ws.h"
#include "arch/x86/cpu.h"
#include "hv/errno.h"
#include "hv/log.h"
#include "hv/muldiv.h"
#include "hv/platform.h"
#include "hv/spinlock.h"
#include "hv/string.h"
#include "vm/config.h"
#include "vm/vm.h"

struct vm_ws {
	/* Held for a whole scan and for reading a report: a report never sees half a scan. Readers (HC_WS from
	 * another vCPU) may wait for a scan; faults never do. */
	spinlock_t lock;
	u64 interval_us;       /* constant */
	u64 interval_tsc;      /* constant */
	u64 scans;	       /* lock */
	u64 scan_cycles;       /* lock: TSC cycles spent in scans, for the end report */
	u8 *age[MAX_MEMSLOTS]; /* constant pointers: per memslot (by index), a byte per 4K page; lock */
	/* reclaim=on (constant): per memslot, a byte per 2 MiB chunk: found holding data when it was cold, so not
	 * looked at again until one of its pages is young again (vCPU 0 only). NULL without reclaim. */
	bool reclaim;
	u8 *skip[MAX_MEMSLOTS];
	u64 shown_reclaimed, shown_refaulted; /* vCPU 0 only: the counts the last progress line showed */
};

int ws_init(struct vm *vm, const struct vm_config *cfg)
{
	struct vm_ws *ws;

	vm->ws_next = ~0ULL;
	if (!cfg->ws_interval_us)
		return 0;
	ws = kzalloc(sizeof(*ws));
	if (!ws)
		return -ENOMEM;
	ws->reclaim = cfg->ws_reclaim;
	spin_lock_init(&ws->lock);
	ws->interval_us = cfg->ws_interval_us;
	ws->interval_tsc = MAX(1ULL, mul_div_u64(cfg->ws_interval_us, vm->tsc_hz, 1000000, false));
	for (u32 i = 0; i < vm->mmu.slots.n; i++) {
		ws->age[i] = kzalloc(vm->mmu.slots.slots[i].npages); /* WS_AGE_NEVER */
		if (ws->reclaim)
			ws->skip[i] = kzalloc(vm->mmu.slots.slots[i].npages / MEMSLOT_CHUNK_PAGES);
		if (!ws->age[i] || (ws->reclaim && !ws->skip[i])) {
			vm->ws = ws;
			ws_destroy(vm);
			return -ENOMEM;
		}
	}
	if (ws->reclaim)
		mmu_enable_reclaim(&vm->mmu);
	vm->ws = ws;
	vm->ws_next = rdtsc() + ws->interval_tsc;
	return 0;
}

void ws_destroy(struct vm *vm)
{
	struct vm_ws *ws = vm->ws;

	if (!ws)
		return;
	for (u32 i = 0; i < MAX_MEMSLOTS; i++) {
		kfree(ws->age[i]);
		kfree(ws->skip[i]);
	}
	kfree(ws);
	vm->ws = NULL;
}

/* reclaim=on, after a scan, without ws->lock (the ages change only in scans, on this CPU): every chunk in use whose
 * pages were all cold for WS_RECLAIM_AGE scans is offered to mmu_reclaim_chunk, which gives it back if it reads as
 * all zero. One that holds data is not offered again until it has been young and gone cold again. */
static void ws_reclaim(struct vm *vm)
{
	struct vm_ws *ws = vm->ws;
	struct mmu *mmu = &vm->mmu;

	for (u32 i = 0; i < mmu->slots.n; i++) {
		const struct memslot *s = &mmu->slots.slots[i];

		for (u64 off = 0; off < s->npages; off += MEMSLOT_CHUNK_PAGES) {
			u8 *skip = &ws->skip[i][off / MEMSLOT_CHUNK_PAGES];

			if (*skip || !memslot_chunk_is_clean(s, s->base_gfn + off) ||
			    !ws_gen_is_cold(ws->age[i] + off, MEMSLOT_CHUNK_PAGES, WS_RECLAIM_AGE))
				continue;
			/* 0: holds data (or is busy); -EINVAL: part of a 1 GiB block. Either way, not again until
			 * young. */
			if (mmu_reclaim_chunk(mmu, s->base_gfn + off) <= 0)
				*skip = 1;
		}
	}
}

/* With loglevel=7, a line after every scan that found the VM's frames in use changed (given back, or faulted in
 * again): how much of the VM's RAM the hypervisor holds for it, over time (the Linux case reads them). */
static void ws_show_reclaim(struct vm *vm)
{
	struct vm_ws *ws = vm->ws;
	u64 rec, ref;

	mmu_reclaim_stats(&vm->mmu, &rec, &ref);
	if (rec == ws->shown_reclaimed && ref == ws->shown_refaulted)
		return;
	ws->shown_reclaimed = rec;
	ws->shown_refaulted = ref;
	vm_log(vm, LOG_DEBUG,
	       "working set: scan %llu: %llu MiB of %llu MiB in use (%llu MiB given back, %llu MiB "
	       "faulted in again, in all)\n",
	       (unsigned long long)ws->scans, (unsigned long long)((vm->mem_bytes >> 20) - 2 * (rec - ref)),
	       (unsigned long long)(vm->mem_bytes >> 20), (unsigned long long)(2 * rec), (unsigned long long)(2 * ref));
}

/* One scan: every gfn of every memslot aged once, its page's age moved on. */
static void ws_scan(struct vm *vm)
{
	struct vm_ws *ws = vm->ws;
	struct mmu *mmu = &vm->mmu;
	u64 t0 = rdtsc();
	bool made_old = false;

	spin_lock(&ws->lock);
	for (u32 i = 0; i < mmu->slots.n; i++) {
		const struct memslot *s = &mmu->slots.slots[i];

		for (u64 off = 0; off < s->npages; off += MEMSLOT_CHUNK_PAGES) {
			u64 young[MEMSLOT_CHUNK_PAGES / 64] = {0};

			/* Never cleared, never mapped: its pages are all WS_AGE_NEVER and stay so. A scan costs what
			 * the guest touched, not what it has. A reclaimed chunk is mapped by nothing: its pages grow
			 * older. */
			if (!memslot_chunk_is_clean(s, s->base_gfn + off)) {
				if (memslot_chunk_is_reclaimed(s, s->base_gfn + off))
					ws_gen_update(ws->age[i] + off, young, MEMSLOT_CHUNK_PAGES);
				continue;
			}
			made_old |= mmu_age_gfn_range_young(mmu, s->base_gfn + off,
							     s->base_gfn + off + MEMSLOT_CHUNK_PAGES, young);
			ws_gen_update(ws->age[i] + off, young, MEMSLOT_CHUNK_PAGES);
			if (ws->reclaim) {
				u64 any = 0;
				for (unsigned int w = 0; w < MEMSLOT_CHUNK_PAGES / 64; w++)
					any |= young[w];
				if (any) /* in use again: offered again once cold */
					ws->skip[i][off / MEMSLOT_CHUNK_PAGES] = 0;
			}
		}
	}
	ws->scans++;
	spin_unlock(&ws->lock);
	/* One pass, one flush at most (age_flush=on: mm/mmu.h), after the last chunk: every page it aged is seen
	 * again at its next use, whichever vCPU's TLB held it. */
	mmu_age_end_pass(mmu, made_old);
	if (ws->reclaim) {
		ws_reclaim(vm);
		ws_show_reclaim(vm);
	}
	spin_lock(&ws->lock);
	ws->scan_cycles += rdtsc() - t0;
	spin_unlock(&ws->lock);
}

void ws_run(struct vm *vm)
{
	if (!vm->ws)
		return;
	ws_scan(vm);
	/* From the scan's end: a scan that overran its interval is not followed by a burst of catching up. */
	__atomic_store_n(&vm->ws_next, rdtsc() + vm->ws->interval_tsc, __ATOMIC_RELAXED);
}

int ws_report(struct vm *vm, gfn_t gfn, u64 npages, struct ws_report *r)
{
	struct vm_ws *ws = vm->ws;
	gfn_t end = gfn + npages;

	memset(r, 0, sizeof(*r));
	if (!ws)
		return -ENODEV;
	if (!npages)
		end = ~0ULL;
	else if (end < gfn)
		return -EINVAL;
	spin_lock(&ws->lock);
	r->scans = ws->scans;
	for (u32 i = 0; i < vm->mmu.slots.n; i++) {
		const struct memslot *s = &vm->mmu.slots.slots[i];
		gfn_t from = MAX(gfn, s->base_gfn), to = MIN(end, s->base_gfn + s->npages);

		if (from < to)
			ws_gen_count(ws->age[i] + (from - s->base_gfn), to - from, r);
	}
	spin_unlock(&ws->lock);
	mmu_reclaim_stats(&vm->mmu, &r->reclaimed, &r->refaulted);
	r->reclaimed *= MEMSLOT_CHUNK_PAGES;
	r->refaulted *= MEMSLOT_CHUNK_PAGES;
	return 0;
}

void ws_print(struct vm *vm)
{
	struct ws_report r;
	char line[512];

	if (ws_report(vm, 0, 0, &r))
		return;
	ws_report_format(line, sizeof(line), vm->name, vm->ws->interval_us, &r);
	log_printf(LOG_INFO, "%s", line);
	vm_log(vm, LOG_INFO, "working set: %llu scans took %llu kcycles in all\n", (unsigned long long)r.scans,
	       (unsigned long long)(__atomic_load_n(&vm->ws->scan_cycles, __ATOMIC_RELAXED) / 1000));
}

u64 ws_hypercall(struct vm *vm, gpa_t gpa, gfn_t gfn, u64 npages)
{
	struct ws_report r;
	int ret = ws_report(vm, gfn, npages, &r);

	if (ret)
		return (u64)(s64)ret;
	ret = vm_write_gpa(vm, gpa, &r, sizeof(r));
	return (u64)(s64)ret;
}
