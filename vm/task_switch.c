/* The task-switch exit: the vCPU's side of the emulated hardware task switch (vm/emulate/task_switch.c does the
 * switch itself). The backend decoded where the switch came from and took care of the event it interrupted (an NMI,
 * exception or interrupt through a task gate is delivered by this switch, never re-injected); here the old task's
 * resume point is set, the vCPU state goes in and the new task's comes out, and a fault the switch raised is queued
 * in the task the SDM names (before the commit point the old one, after it the new one). */
#include "arch/x86/cpu.h"
#include "arch/x86/virt.h"
#include "hv/errno.h"
#include "hv/log.h"
#include "vm/debug.h"
#include "vm/dr.h"
#include "vm/emulate/task_switch.h"
#include "vm/vcpu.h"

static int ts_read(void *opaque, u32 linear, void *buf, unsigned int size, bool user, struct emu_fault *fault)
{
	return vcpu_access_linear(opaque, linear, buf, size, false, user, fault);
}

static int ts_write(void *opaque, u32 linear, const void *buf, unsigned int size, bool user, struct emu_fault *fault)
{
	return vcpu_access_linear(opaque, linear, (void *)buf, size, true, user, fault);
}

static int ts_cmpxchg8(void *opaque, u32 linear, u64 old, u64 new, struct emu_fault *fault)
{
	return vcpu_cmpxchg_linear(opaque, linear, old, new, 8, fault);
}

/* The new task's CR3, as a MOV to CR3 loads it (the PDPTEs under PAE paging, the root under shadow paging). Outside
 * IA-32e mode a MOV to CR3 flushes the TLB but for global pages; with TDP nothing else would, so ask for it. */
static int ts_set_cr3(void *opaque, u32 cr3, struct emu_fault *fault)
{
	struct vcpu *v = opaque;

	if (vcpu_write_cr(v, 3, cr3)) {
		*fault = (struct emu_fault){.vector = EXC_GP, .has_error = true};
		return EMU_CB_FAULT;
	}
	vcpu_request(v, VCPU_REQ_TLB_FLUSH);
	return 0;
}

static const struct ts_ops ops = {.read = ts_read, .write = ts_write, .cmpxchg8 = ts_cmpxchg8, .set_cr3 = ts_set_cr3};

static void state_in(struct vcpu *v, struct ts_state *s)
{
	struct vcpu_dtable dt;

	for (int i = 0; i < 8; i++)
		s->gpr[i] = (u32)v->regs[i];
	s->eip = (u32)virt_ops->get_rip(v);
	s->eflags = (u32)virt_ops->get_rflags(v);
	s->cr0 = virt_ops->get_cr(v, 0);
	for (int i = 0; i < TS_NR_SEGS; i++) {
		struct vcpu_segment seg;
		virt_ops->get_segment(v, i, &seg);
		s->seg[i] =
		    (struct ts_seg){.base = seg.base, .limit = seg.limit, .sel = seg.selector, .attr = seg.attr};
	}
	virt_ops->get_dtable(v, false, &dt);
	s->gdt_base = dt.base;
	s->gdt_limit = dt.limit;
	virt_ops->get_dtable(v, true, &dt);
	s->idt_base = dt.base;
	s->idt_limit = dt.limit;
}

/* The new task's state into the vCPU: everything but CR3, which ts_set_cr3 loaded already. After a fault in the new
 * task too: every segment register then holds the new task's selector (vm/emulate/task_switch.c, set_selectors). */
static int state_out(struct vcpu *v, const struct ts_state *s)
{
	/* 32-bit results zero-extend into the 64-bit registers, as any 32-bit write does. */
	for (int i = 0; i < 8; i++)
		v->regs[i] = s->gpr[i];
	virt_ops->set_rip(v, s->eip);
	virt_ops->set_rflags(v, s->eflags);
	for (int i = TS_ES; i <= TS_LDTR; i++) {
		const struct ts_seg *t = &s->seg[i];
		struct vcpu_segment seg = {.base = t->base, .limit = t->limit, .selector = t->sel, .attr = t->attr};
		virt_ops->set_segment(v, i, &seg);
	}
	const struct ts_seg *t = &s->seg[TS_TR];
	struct vcpu_segment tr = {.base = t->base, .limit = t->limit, .selector = t->sel, .attr = t->attr};
	virt_ops->set_segment(v, SEG_TR, &tr);
	if (s->cr0 != virt_ops->get_cr(v, 0) && vcpu_write_cr(v, 0, s->cr0))
		return -EIO; /* only TS changed, which no check refuses */
	return 0;
}

/* The length of the instruction at CS:RIP, when it is one that switches tasks; else 0 (also when its fetch faulted:
 * the fault is then queued, and the guest takes it at the instruction). */
static unsigned int switching_insn_len(struct vcpu *v)
{
	struct emu_insn insn;

	return !vcpu_decode_insn(v, &insn) && ts_insn_switches(&insn) ? insn.len : 0;
}

int vcpu_task_switch(struct vcpu *v)
{
	struct vm_exit *e = &v->exit;
	struct ts_request req = {.sel = e->task.sel,
				 .source = e->task.source,
				 .has_error = e->task.has_error,
				 .error_code = e->task.error_code,
				 .soft_vector = e->task.soft_vector};
	struct emu_fault fault;
	struct ts_state s;
	int r;

	v->stats[VM_STAT_TASK_SWITCHES]++;
	state_in(v, &s);
	/* The old task resumes after the CALL, JMP, IRET or INT n that switched (SVM's exit has fault semantics and no
	 * next RIP; VMX gives the length). A fault before the commit point leaves RIP at that instruction. */
	if (e->task.skip) {
		if (!e->insn_len)
			e->insn_len = switching_insn_len(v);
		if (!e->insn_len)
			return 0; /* rewritten under us, or no longer fetchable: let the guest run it again */
		s.eip += e->insn_len;
	}
	r = emu_task_switch(&s, &req, &ops, v, &fault);
	if (r < 0) {
		vm_log(v->vm, LOG_ERR, "task switch to 0x%x failed (%d)\n", req.sel, r);
		vm_end(v->vm, VM_END_INTERNAL_ERROR, (u64)-r);
		return 0;
	}
	if (s.committed) {
		/* Stepping over the switching instruction ends an STI or MOV-SS shadow it sat in (the new task's IF may
		 * be clear, with which VMX refuses STI blocking); RIP itself is the new task's, set next. */
		if (e->task.skip)
			virt_ops->skip_instruction(v);
		int w = state_out(v, &s);
		if (w)
			return w;
		/* DR7's local enables belong to the old task; the new TSS's T bit traps once the switch is done (a
		 * fault raised in the new task comes first: the trap would follow its handler's IRET, not done). */
		vcpu_task_switch_debug(v, s.trap && r == 0);
	}
	if (r == EMU_CB_FAULT) {
		/* Before the commit point the fault comes while the gate's exception is still being delivered: the
		 * two merge as in any delivery (SDM Vol. 3A 6.15, Table 6-5), #DF through vector 8 (error code 0),
		 * shutdown if #DF itself was being delivered. After it the fault is the new task's own. */
		int vec = !s.committed && e->task.exc_vector >= 0 ? exc_merge((u8)e->task.exc_vector, fault.vector)
								  : fault.vector;
		if (vec < 0) {
			vm_log(v->vm, LOG_NOTICE, "triple fault: vector %u in the task switch delivering #DF\n",
			       fault.vector);
			vm_end(v->vm, VM_END_TRIPLE_FAULT, 0);
			return 0;
		}
		if (vec == 8) {
			vcpu_queue_exception(v, 8, true, 0);
			return 0;
		}
		if (fault.vector == EXC_PF)
			virt_ops->set_cr(v, 2, fault.cr2);
		vcpu_queue_exception(v, fault.vector, fault.has_error, fault.error_code);
	}
	return 0;
}
