/* The working-set estimator (issue 12's consumer of aging): with ws=INTERVAL on a VM's kernel line, vCPU 0 ages the
 * whole guest every INTERVAL and keeps, per 4K page of guest RAM, how many scans ago it was last seen young (one byte,
 * in the manner of MGLRU's generations). The report says how much was touched in the last 1, 2, 4, ... 128 scans,
 * how much is idle for longer and how much was never touched. It is printed at the VM's end ("vm NAME: working
 * set ..."), on Ctrl-A w while the VM holds the console input or on `ws NAME` in the monitor (vm/conmux.h), and
 * returned to the guest by HC_WS. With reclaim=on, a 2 MiB chunk whose pages all stayed cold for WS_RECLAIM_AGE
 * scans is given back to the hypervisor if it reads as all zero (mm/mmu_reclaim.c; the chunk is the unit because
 * the memslot backing is).
 *
 * Pure part (ws_gen.c, host unit tests): the generations and the report. The VM part (ws.c): the scan and its
 * deadline, reclaim's choice of chunks, the hypercall. */
#ifndef VM_WS_H
#define VM_WS_H

#include "hv/types.h"

#define WS_BUCKETS   8	 /* touched within the last 1, 2, 4, ..., 128 scans */
#define WS_AGE_NEVER 0	 /* a page never seen young since the estimator started */
#define WS_AGE_MAX   255 /* seen young 255 or more scans ago (saturated) */

/* The report, in 4K pages; also the guest's view (HC_WS writes it to guest memory, u64 fields in this order). A
 * young 2M leaf counts its 512 pages. young[] is cumulative: young[i] pages were seen young within the last 2^i
 * scans, so young[WS_BUCKETS - 1] + idle + never == pages. */
struct ws_report {
	u64 scans; /* scans done since the VM started */
	u64 pages; /* 4K pages the report covers */
	u64 young[WS_BUCKETS];
	u64 idle;      /* seen young, but not within the last 128 scans */
	u64 never;     /* never seen young */
	u64 reclaimed; /* reclaim=on: pages given back to the hypervisor (whole VM) */
	u64 refaulted; /* reclaim=on: of those, faulted in again (whole VM) */
};

/* reclaim=on: a chunk is given back once every page of it was last young this many scans ago or more (or never). */
#define WS_RECLAIM_AGE 8

/* One scan's answer for n pages: young (bit i: page i was seen young) moves each age to 1, others one scan older
 * (a never-seen page stays WS_AGE_NEVER; WS_AGE_MAX stays). */
void ws_gen_update(u8 *age, const u64 *young, u64 n);
/* Whether every one of n pages was last young min_age scans ago or more, or never: cold enough to give back. */
bool ws_gen_is_cold(const u8 *age, u64 n, u8 min_age);
/* Add n pages' ages to r's buckets (r->pages too). */
void ws_gen_count(const u8 *age, u64 n, struct ws_report *r);
/* The line "vm NAME: working set after N scans of INTERVAL: ..." (with its '\n') into buf; snprintf's return. */
int ws_report_format(char *buf, size_t len, const char *name, u64 interval_us, const struct ws_report *r);


struct vm;
struct vm_config;

/* Set up the estimator of a VM built from cfg (only vm->ws_next = ~0 when ws= was not given): 0, -ENOMEM. */
int ws_init(struct vm *vm, const struct vm_config *cfg);
void ws_destroy(struct vm *vm);
/* vCPU 0's run loop, once vm->ws_next has passed: scan, and set the next deadline. */
void ws_run(struct vm *vm);
/* Fill r over [gfn, gfn + npages) of guest RAM (npages 0: the whole VM). 0, -ENODEV (ws= off), -EINVAL. */
int ws_report(struct vm *vm, gfn_t gfn, u64 npages, struct ws_report *r);
/* Print the report line (and nothing when ws= is off). */
void ws_print(struct vm *vm);

/* HC_WS: the report over [gfn, gfn + npages) written to guest memory at gpa: 0, -ENODEV, -EINVAL, -EFAULT. */
u64 ws_hypercall(struct vm *vm, gpa_t gpa, gfn_t gfn, u64 npages);
/* HC_WS: RBX = gpa of a struct ws_report to fill, RCX = first gfn, RDX = pages (0: the whole VM). */
#define HC_WS 5

#endif
