/* The stall report (hv.stall=SECS), a debugging aid for guests that hang: once a VM's console has been silent for
 * SECS seconds, every vCPU logs where it is (registers, interrupt state, its last exits), and again every SECS
 * while the silence lasts, at most STALL_REPORTS times. Successive reports tell a vCPU that spins in the guest from
 * one that sleeps, loops on one exit, or waits for an interrupt that never comes. Off (0) by default. */
#ifndef VM_STALL_H
#define VM_STALL_H

#include "vm/vm.h"

#define STALL_REPORTS 4

/* From vm_build: arm it for vm if hv.stall is set. */
void vm_stall_init(struct vm *vm);
/* The run loop, when now passes vm->stall_next: report if the console has been silent long enough, else move the
 * deadline to the silence's end. Any vCPU; one of them wins each report and asks every vCPU for its own part. */
void vm_stall_check(struct vcpu *v, u64 now);
/* VCPU_REQ_STALL_REPORT: this vCPU's part, on its own CPU (the backend's state is per CPU). */
void vcpu_stall_report(struct vcpu *v);

/* The run loop after each exit, while hv.stall is set: remember it in the vCPU's ring. */
static inline void vcpu_stall_record_exit(struct vcpu *v, u64 rip)
{
	struct vcpu_exit_trace *t = &v->exit_ring[v->exit_ring_pos++ % VCPU_EXIT_RING];
	t->reason = v->exit.reason;
	t->hw_reason = v->exit.hw_reason;
	t->rip = rip;
	t->qual = v->exit.reason == EXIT_TDP_FAULT ? v->exit.tdp.gpa
		  : v->exit.reason == EXIT_EXCEPTION ? v->exit.exc.fault_addr : v->exit.hw_qual;
}

#endif
