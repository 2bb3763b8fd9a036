/* The guest's debug exceptions where the hypervisor, not the CPU, finishes an instruction or raises the event
 * (vm/debug.c): the single-step trap and RF after an instruction it completed, the #DB's effect on DR6 and DR7, RF
 * in the frame of an injected fault, the emulator's MOV DR, and the T bit of a task switch. */
#ifndef VM_DEBUG_H
#define VM_DEBUG_H

#include "arch/x86/virt.h"
#include "hv/types.h"

struct vcpu;
struct emu_fault;

/* Raise #DB in the guest with this payload (vm/dr.h: B0-B3, BD, BS, BT): DR6 updated as the CPU updates it on a #DB,
 * DR7.GD cleared (SDM Vol. 3B 18.2.4: the CPU clears GD on entering the #DB handler; VMX and SVM injection do not),
 * and the #DB queued. */
void vcpu_queue_db(struct vcpu *v, u64 payload);
/* The same for a #DB the CPU raised and the hypervisor intercepted (payload: what the exit reported). */
void vcpu_reflect_db(struct vcpu *v, u64 payload);
/* The DR6/DR7 side of that alone, for a #DB the emulator reports as its fault. */
void vcpu_db_update_regs(struct vcpu *v, u64 payload);
/* INT1 about to be injected: DR7.GD cleared, as the CPU does when it raises the #DB itself. */
void vcpu_icebp_update_regs(struct vcpu *v);

/* What the CPU does as any instruction completes: RF cleared (SDM Vol. 3B 18.3.1.1), and a #DB trap for the
 * single step (RFLAGS.TF when it began: rflags_before; DR6.BS) and for the breakpoints the hypervisor's own
 * accesses for it hit (hits: B0-B3, from dr_io_hits/dr_data_hits). */
void vcpu_complete_instruction(struct vcpu *v, u64 rflags_before, u64 hits);

/* The guest's instruction at RIP is done by the hypervisor (an intercepted CPUID, IN/OUT, RDMSR/WRMSR, hypercall,
 * MOV CR, ...): RIP past it, then vcpu_complete_instruction. Inline: every CPUID, port I/O and hypercall exit takes
 * it. Stepping over leaves RFLAGS alone: with neither RF nor TF there is nothing to complete (the common exit). */
static inline void vcpu_skip_instruction(struct vcpu *v)
{
	u64 rflags = virt_ops->skip_instruction(v);

	if (unlikely(rflags & (RFLAGS_RF | RFLAGS_TF)))
		vcpu_complete_instruction(v, rflags, 0);
}

/* The I/O breakpoints (CR4.DE, DR7 R/W = 10b) a port access the hypervisor performed hits: B0-B3 (vm/dr.h). The
 * common case inline, on every port I/O exit: no breakpoint enabled in DR7, no other debug register read. */
u64 vcpu_io_breakpoints_enabled(struct vcpu *v, u64 dr7, u16 port, unsigned int size);
static inline u64 vcpu_io_breakpoints(struct vcpu *v, u16 port, unsigned int size)
{
	u64 dr7 = virt_ops->get_dr(v, 7);

	return likely(!(dr7 & DR7_ENABLE_BITS)) ? 0 : vcpu_io_breakpoints_enabled(v, dr7, port, size);
}

/* HLT with TF: its single-step trap comes once the halt ends, before the event that ended it (SDM Vol. 3C 26.3.1.5
 * allows HLT with a pending single-step trap). Called by the run loop right before it injects a waking NMI or
 * interrupt into a halted vCPU: true when the #DB was injected instead (the event waits for its window). */
bool vcpu_take_hlt_step(struct vcpu *v);

/* The emulator's MOV from/to DRn (dr 0-3, 6, 7; it aliased DR4/DR5 and made the #UD and CPL checks): 0, or
 * EMU_CB_FAULT with *fault: #DB with DR6.BD when DR7.GD is set (the access does not happen), #GP(0) for a write of
 * bits 63:32 of DR6/DR7. */
int vcpu_get_dr(struct vcpu *v, unsigned int dr, u64 *val, struct emu_fault *fault);
int vcpu_set_dr(struct vcpu *v, unsigned int dr, u64 val, struct emu_fault *fault);

/* After a hardware task switch committed (SDM Vol. 3A 8.3 and Vol. 3B 18.2.4): DR7's local enables L0-L3 and LE
 * cleared; with the new TSS's T bit (trap), a #DB with DR6.BT before the new task's first instruction. */
void vcpu_task_switch_debug(struct vcpu *v, bool trap);

#endif
