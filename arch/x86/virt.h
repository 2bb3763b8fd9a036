/* The vendor operations table. Every op is listed once in VIRT_OPS; DEFINE_VIRT_OPS(prefix) builds a backend's
 * table from functions named prefix_op, so a backend that lacks an op fails to compile. The table is bound once at
 * boot (virt_select) and nothing outside arch/x86/vmx and arch/x86/svm knows which one it is. */
#ifndef ARCH_X86_VIRT_H
#define ARCH_X86_VIRT_H

#include "hv/types.h"

struct percpu;
struct pt_format;
struct vcpu;
struct vcpu_event;
struct vlapic_apicv_state;

enum vcpu_seg { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, SEG_LDTR, SEG_TR, NR_SEGS };

/* A segment in vendor-neutral form. attr uses the 12-bit packed layout both vendors can express:
 * type[3:0] S[4] DPL[6:5] P[7] AVL[8] L[9] D/B[10] G[11], and SEG_ATTR_UNUSABLE for a null/unusable segment. */
struct vcpu_segment {
	u64 base;
	u32 limit;
	u16 selector;
	u16 attr;
};
#define SEG_ATTR_L BIT(9)
#define SEG_ATTR_DB BIT(10)
#define SEG_ATTR_UNUSABLE BIT(12)

struct vcpu_dtable {
	u64 base;
	u16 limit;
};

/* The architectural state a vCPU starts from (loaders fill it; GPRs go in vcpu->regs). */
struct vcpu_boot_state {
	struct vcpu_segment seg[NR_SEGS];
	struct vcpu_dtable gdt, idt;
	u64 cr0, cr3, cr4, efer, rip, rflags;
};

/* skip_io_instruction's mark in the RFLAGS it returns: a bit RFLAGS never has (63:22 are reserved, 0). */
#define VIRT_RFLAGS_DR7_ENABLED BIT(63)
/* DR7's L0/G0..L3/G3 (SDM Vol. 3B 18.2.4): with none set, no breakpoint of any kind can hit. */
#define DR7_ENABLE_BITS 0xffULL

/* X(prefix, return type, op, parameters) */
#define VIRT_OPS(X, p)                                                                                                 \
	/* Read and report the capabilities; 0 if this CPU can run the backend. *tdp asks for nested paging and says  \
	 * on return whether it is usable (else every VM gets shadow paging, and *why names what is missing).       \
	 */                                                                                                            \
	X(p, int, probe, (bool *tdp, const char **why))                                                                \
	/* Turn virtualization on for the executing CPU (VMXON, or EFER.SVME and the host save area). */              \
	X(p, int, hardware_enable, (struct percpu * cpu))                                                              \
	/* And off again, before poweroff or reboot. */                                                                \
	X(p, void, hardware_disable, (struct percpu * cpu))                                                            \
	/* The TDP entry format this backend uses (EPT with or without A/D, or NPT). */                               \
	X(p, const struct pt_format *, tdp_format, (void))                                                             \
	/* The largest TDP leaf the hardware walks: 3 with 1G pages, 2 without. */                                     \
	X(p, int, tdp_max_level, (void))                                                                               \
	/* vCPU lifecycle; create and run happen on the CPU the vCPU is pinned to. */                                  \
	X(p, int, vcpu_create, (struct vcpu * v))                                                                      \
	X(p, void, vcpu_destroy, (struct vcpu * v))                                                                    \
	X(p, void, vcpu_set_state, (struct vcpu * v, const struct vcpu_boot_state *s))                                 \
	/* Enter the guest and handle its exits while they need nothing of the run loop: the backend's instance of    \
	 * vm/run_inner.h (0, 1 or a negative errno, as vcpu_run_inner returns).                                      \
	 */                                                                                                            \
	X(p, int, vcpu_run, (struct vcpu * v, u64 * exited_at))                                                        \
	/* Guest-visible register state. regs[VCPU_RSP] is kept in sync by vcpu_run. */                                \
	X(p, u64, get_rip, (struct vcpu * v))                                                                          \
	/* The hypervisor completed the instruction at RIP (the emulator) or moved to another task: an STI or MOV-SS   \
	 * interrupt shadow the instruction sat in ends with it, as after skip_instruction.                            \
	 */                                                                                                            \
	X(p, void, set_rip, (struct vcpu * v, u64 rip))                                                                \
	X(p, u64, get_rflags, (struct vcpu * v))                                                                       \
	X(p, void, set_rflags, (struct vcpu * v, u64 rflags))                                                          \
	X(p, u64, get_cr, (struct vcpu * v, int cr))                                                                   \
	/* Returns -EINVAL when the value would #GP on hardware. */                                                    \
	X(p, int, set_cr, (struct vcpu * v, int cr, u64 val))                                                          \
	X(p, u64, get_efer, (struct vcpu * v))                                                                         \
	/* Make writes to an MSR of msr_passthrough_list exit (on) or go to the hardware again (off). */               \
	X(p, void, intercept_msr_write, (struct vcpu * v, u32 index, bool on))                                         \
	/* Set the guest's value of an MSR of msr_passthrough_list (after an intercepted write): 0, or -ENOENT. */     \
	X(p, int, set_passthrough_msr, (struct vcpu * v, u32 index, u64 val))                                          \
	/* Read it where the guest's RDMSR did not run on the CPU (the emulator's, in vm86): 0, or -ENOENT.            \
	 */                                                                                                            \
	X(p, int, get_passthrough_msr, (struct vcpu * v, u32 index, u64 * val))                                        \
	X(p, int, set_efer, (struct vcpu * v, u64 efer))                                                               \
	/* The guest's TSC is the host's plus this (RDTSC, RDTSCP and the TSC MSR in the guest), from the next entry. */\
	X(p, void, set_tsc_offset, (struct vcpu * v, u64 offset))                                                      \
	X(p, void, get_segment, (struct vcpu * v, int seg, struct vcpu_segment *s))                                    \
	/* Load a segment register whole (the emulated task switch); SS sets the CPL from its DPL. */              \
	X(p, void, set_segment, (struct vcpu * v, int seg, const struct vcpu_segment *s))                              \
	/* The GDTR (idt false) or IDTR, for the emulator's LGDT/LIDT/SGDT/SIDT. */                                   \
	X(p, void, get_dtable, (struct vcpu * v, bool idt, struct vcpu_dtable *dt))                                    \
	X(p, void, set_dtable, (struct vcpu * v, bool idt, const struct vcpu_dtable *dt))                              \
	X(p, int, get_cpl, (struct vcpu * v))                                                                          \
	/* The guest's DR0-DR3, DR6 and DR7 (dr 4 and 5 are not registers here: the callers alias them). DR0-DR3 are    \
	 * the CPU's own while the vCPU's CPU runs nothing else (the host never uses them); DR6 and DR7 wherever the   \
	 * backend keeps the guest's. set_dr stores the value as given: the callers apply the architectural rules.    \
	 */                                                                                                            \
	X(p, u64, get_dr, (struct vcpu * v, int dr))                                                                   \
	X(p, void, set_dr, (struct vcpu * v, int dr, u64 val))                                                         \
	/* Advance RIP past the exiting instruction (its length is in v->exit.insn_len); returns RFLAGS as get_rflags  \
	 * reads it, which the caller checks for TF and RF (one call on every exit that skips).                        \
	 */                                                                                                            \
	X(p, u64, skip_instruction, (struct vcpu * v))                                                                 \
	/* The same for an IN or OUT, whose I/O breakpoints the caller raises: with VIRT_RFLAGS_DR7_ENABLED added when  \
	 * DR7 enables any breakpoint (so only then does it read DR0-DR3), in the same call.                          \
	 */                                                                                                            \
	X(p, u64, skip_io_instruction, (struct vcpu * v))                                                              \
	X(p, void, inject_event, (struct vcpu * v, const struct vcpu_event *e))                                        \
	/* Whether an external interrupt can be delivered now (IF=1, no STI/MOV-SS shadow, nothing being injected). */\
	X(p, bool, interrupt_allowed, (struct vcpu * v))                                                               \
	X(p, void, set_intr_window, (struct vcpu * v, bool on))                                                        \
	/* Whether an NMI can be injected now (no NMI blocking, no shadow, nothing being injected); and an exit as    \
	 * soon as it can, while one is pending. */                                                                    \
	X(p, bool, nmi_allowed, (struct vcpu * v))                                                                     \
	X(p, void, set_nmi_window, (struct vcpu * v, bool on))                                                         \
	/* APIC virtualization (v->apicv): before an entry, load what the CPU keeps of the vLAPIC outside its page. */ \
	X(p, void, apicv_load, (struct vcpu * v, const struct vlapic_apicv_state *st))                                 \
	/* Point the hardware at an MMU root table of `level` levels, flushing what the previous one left. */        \
	X(p, void, load_mmu_root, (struct vcpu * v, hpa_t root, int level))                                            \
	X(p, void, flush_guest_tlb, (struct vcpu * v))                                                                 \
	/* Drop the guest's translations of one linear address (shadow paging's INVLPG), or more. */                    \
	X(p, void, flush_guest_tlb_gva, (struct vcpu * v, gva_t gva))                                                  \
	/* Log every piece of guest state the backend has (for unhandled exits and failed entries). */                \
	X(p, void, dump_state, (struct vcpu * v))

#define __VIRT_FIELD(p, ret, op, params) ret(*op) params;
#define __VIRT_INIT(p, ret, op, params) .op = p##_##op,
#define __VIRT_DECL(p, ret, op, params) ret p##_##op params;

struct virt_ops {
	const char *name;
	VIRT_OPS(__VIRT_FIELD, )
};

#define DECLARE_VIRT_OPS(p) VIRT_OPS(__VIRT_DECL, p) extern const struct virt_ops p##_virt_ops
#define DEFINE_VIRT_OPS(p, vname) const struct virt_ops p##_virt_ops = { .name = vname, VIRT_OPS(__VIRT_INIT, p) }

DECLARE_VIRT_OPS(vmx);
DECLARE_VIRT_OPS(svm);

enum virt_backend { VIRT_AUTO, VIRT_VMX, VIRT_SVM, VIRT_NONE };

/* The bound backend, or NULL when the machine has none usable. */
extern const struct virt_ops *virt_ops;
extern bool virt_tdp; /* nested paging (EPT/NPT) usable, and not turned off by hv.tdp=0 */
/* Why VMs get shadow paging when !virt_tdp: "hv.tdp=0", or what the CPU lacks. */
extern const char *virt_shadow_reason;

/* Report the CPU, pick the backend (`want` from hv.backend=, `tdp` from hv.tdp=) and probe it. 0 or -ENODEV. */
int virt_select(enum virt_backend want, bool tdp);

#endif
