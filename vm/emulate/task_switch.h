/* Hardware task switching (SDM Vol. 3A 8.3, "Task Switching"; APM Vol. 2 12.3), which both vendors leave to the
 * hypervisor: VMX exits on every task switch (reason 9) and SVM intercepts them (TASK_SWITCH). A 32-bit guest meets
 * them as CALL/JMP to a TSS or task gate, IRET with EFLAGS.NT, and an interrupt or exception through a task gate
 * (the classic NMI and double-fault handlers). Pure: the vCPU state comes in as struct ts_state and memory goes out
 * through struct ts_ops, so the whole switch runs on the host against fake memory. */
#ifndef VM_EMULATE_TASK_SWITCH_H
#define VM_EMULATE_TASK_SWITCH_H

#include "vm/emulate/emulate.h"

/* What started the switch, in the encoding of VMX's exit qualification bits 31:30. */
enum ts_source { TS_CALL, TS_IRET, TS_JMP, TS_GATE };

/* Segment registers in the order of enum vcpu_seg (arch/x86/virt.h), and the same packed attributes: type[3:0] S[4]
 * DPL[6:5] P[7] AVL[8] L[9] D/B[10] G[11], TS_ATTR_UNUSABLE for a null segment. */
enum { TS_ES, TS_CS, TS_SS, TS_DS, TS_FS, TS_GS, TS_LDTR, TS_TR, TS_NR_SEGS };
#define TS_ATTR_UNUSABLE BIT(12)

struct ts_seg {
	u64 base;
	u32 limit; /* byte granular */
	u16 sel;
	u16 attr;
};

/* The vCPU state a task switch reads and writes. The caller fills it, and writes back whatever the switch changed
 * once it returns with committed set. */
struct ts_state {
	u32 gpr[8]; /* EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI: the upper halves of the 64-bit registers are not the
		     * task's (a task switch cannot happen in IA-32e mode) */
	u32 eip;    /* the old task's resume point: past the instruction that switched */
	u32 eflags;
	u64 cr0;
	struct ts_seg seg[TS_NR_SEGS];
	u64 gdt_base;
	u16 gdt_limit;
	u64 idt_base;
	u16 idt_limit;
	/* Out. */
	bool committed; /* the switch passed its commit point: the state above is the new task's (a fault returned
			 * with it set is raised in the new task, SDM 8.3 step 13) */
	u8 loaded;	/* how many of LDTR, CS, SS, DS, ES, FS, GS (the order they load in) were loaded; the rest hold
			 * the new task's selector over an unusable (LDTR, data) or the old (CS, SS, DPL = the new CPL)
			 * hidden part, as set_selectors describes */
	bool trap;	/* the new TSS has its T bit (32-bit TSS, offset 0x64 bit 0): a #DB with DR6.BT is due before
			 * the new task's first instruction (SDM Vol. 3A 8.2.1, Vol. 3B 18.2.3) */
};

/*
 * The request, decoded from the exit by the backend.
 * - sel: the new TSS's selector (for a task gate, the one the gate holds; for IRET, the old TSS's back-link).
 * - soft_vector: INT n (or INT3/INTO) through a task gate: its vector, whose gate DPL is checked against the CPL as
 *   for any software interrupt; -1 otherwise.
 * - has_error, error_code: an exception through a task gate pushes its error code on the new task's stack.
 */
struct ts_request {
	u16 sel;
	u8 source; /* enum ts_source */
	bool has_error;
	int soft_vector;
	u32 error_code;
};

/*
 * Memory, as the CPU reaches it during a switch: every access is an implicit supervisor access by linear address
 * (the TSSs, descriptor tables), but the error-code push, which is made at the new CPL (user). Each returns 0,
 * EMU_CB_FAULT with *fault filled (a #PF of the walk), or a negative errno.
 * - cmpxchg8: a locked update of the 8-byte descriptor at linear, from old to new (busy and accessed bits, as the CPU
 *   sets them with a locked access): -EAGAIN when memory no longer held old.
 * - set_cr3: the new task's CR3, with what a MOV to CR3 does (the PDPTEs under PAE paging, the TLB); accesses after it
 *   go through the new tables. EMU_CB_FAULT (a #GP for bad PDPTEs) fails the switch in the new task.
 */
struct ts_ops {
	int (*read)(void *opaque, u32 linear, void *buf, unsigned int size, bool user, struct emu_fault *fault);
	int (*write)(void *opaque, u32 linear, const void *buf, unsigned int size, bool user, struct emu_fault *fault);
	int (*cmpxchg8)(void *opaque, u32 linear, u64 old, u64 new, struct emu_fault *fault);
	int (*set_cr3)(void *opaque, u32 cr3, struct emu_fault *fault);
};

/* A descriptor's 8 bytes as a segment register's cache holds it (base, byte-granular limit, packed attributes). */
void ts_desc_to_seg(u64 desc, u16 sel, struct ts_seg *seg);

/*
 * Switch tasks. 0: done, *s is the new task's. EMU_CB_FAULT: deliver *fault; s->committed says in which task. Before
 * the commit point *s is unchanged, and so is memory for every check the CPU makes up front (descriptors, limits,
 * busy bits, both TSSs readable: SDM 8.3 steps 1-5); only a write fault on the old TSS can leave it half saved.
 * A negative errno for a failure of the caller's.
 */
int emu_task_switch(struct ts_state *s, const struct ts_request *req, const struct ts_ops *ops, void *opaque,
		    struct emu_fault *fault);

/* Whether a decoded instruction (emu_decode with length_only) is one that can switch tasks: far CALL and JMP, IRET,
 * INT n, INT3, INTO, INT1. SVM's intercept has no next RIP: its length is the decoder's. */
bool ts_insn_switches(const struct emu_insn *insn);

#endif
