/* Generic exits: the vendor backends decode their hardware exit into one of these, and vm/exit.c dispatches it
 * through one table. An exit nothing handles is logged with full state and ends that VM. */
#ifndef VM_EXIT_H
#define VM_EXIT_H

#include "hv/compiler.h"
#include "hv/types.h"

enum exit_reason {
	EXIT_NONE,
	EXIT_IO,            /* port I/O: io.info (EXIT_IO_*), io.{addr_size,seg} */
	EXIT_MMIO,          /* access to a gpa that is not RAM (EPT misconfig, or a fault the MMU classified) */
	EXIT_TDP_FAULT,     /* EPT violation / NPF: tdp.{gpa,access,...} */
	EXIT_CPUID,
	EXIT_MSR_READ,      /* msr.index */
	EXIT_MSR_WRITE,     /* msr.index, msr.value */
	EXIT_CR_ACCESS,     /* cr.{num,write,gpr} */
	EXIT_HLT,
	EXIT_HYPERCALL,     /* VMCALL / VMMCALL */
	EXIT_EXCEPTION,     /* an intercepted guest exception: exc.{vector,error_code,has_error} */
	EXIT_EXTINT,        /* a host interrupt arrived while the guest ran */
	EXIT_NMI,
	EXIT_INTR_WINDOW,   /* the guest can take an interrupt now */
	EXIT_TRIPLE_FAULT,  /* VMX triple fault, SVM SHUTDOWN */
	EXIT_INIT,          /* INIT signal */
	EXIT_XSETBV,
	EXIT_INVLPG,
	EXIT_PREEMPTION,    /* the hypervisor's timer expired (VMX preemption timer) */
	EXIT_UD,            /* an instruction the guest may not execute (VMX/SVM instructions): inject #UD */
	EXIT_GP,            /* an instruction that must #GP in this VM (RDPMC without a virtual PMU) */
	EXIT_NOP,           /* an instruction to step over without effect (INVD, WBINVD) */
	EXIT_ENTRY_FAILED,  /* VM entry failed: invalid guest state, or a VMfail */
	EXIT_TASK_SWITCH,   /* a hardware task switch: task.{sel,source,skip,...} (vm/task_switch.c emulates it) */
	EXIT_EVENT_QUEUED,  /* the backend already queued the guest's exception (the fetch for an intercepted
			     * instruction's length faulted): nothing to do, the guest takes it at the entry */
	EXIT_APIC_WRITE,    /* APIC virtualization: a register write the CPU stored in the page: apic.offset */
	EXIT_APIC_EOI,      /* APIC virtualization: the EOI of a vector in the EOI-exit bitmap: apic.vector */
	EXIT_UNKNOWN,       /* a hardware exit the backend does not decode: hw_reason says which */
	NR_EXIT_REASONS
};

struct vm_exit {
	int reason;         /* enum exit_reason */
	u32 hw_reason;      /* the vendor's raw exit code, for logs */
	u64 hw_qual;        /* the vendor's raw qualification / exit info 1, for logs */
	u32 insn_len;       /* length of the exiting instruction, 0 if unknown */
	bool vectoring;     /* the exit interrupted the delivery of an event, which the backend will re-deliver */
	union {
		struct {
			/* EXIT_IO_*: laid out as VMX's exit qualification (SDM Vol. 3C Table 28-5), which VMX stores as
			 * it comes and SVM converts to, so the port exit decodes with one store. */
			u32 info;
			/* INS/OUTS only: the address size (2, 4, 8) and the segment of OUTS's source (enum emu_seg
			 * order: ES CS SS DS FS GS, as both vendors encode it), each 0xff when the exit does not say
			 * (SVM without DecodeAssists has no segment; VMX without INS/OUTS instruction information has
			 * neither); then the instruction is decoded from memory. */
			u8 addr_size;
			u8 seg;
		} io;
		struct {
			gpa_t gpa;
			u32 access;     /* SPTE_ACC_* of the faulting access */
			bool walk;      /* the fault hit while the CPU walked the guest's page tables */
		} tdp;
		struct {
			u32 index;
			u64 value;
		} msr;
		struct {
			u32 offset; /* APIC_WRITE: the page offset written */
			u8 vector;  /* APIC_EOI: the vector the CPU retired */
		} apic;
		struct {
			u8 num, gpr;    /* gpr: enum vcpu_reg; ignored when value_valid (CLTS, LMSW) */
			bool emulate;     /* decode it with the emulator (SMSW, which SVM's CR0-read intercept also takes) */
			bool write;
			bool value_valid;
			u64 value;
		} cr;
		struct {
			gva_t gva;      /* INVLPG's linear address, when gva_valid */
			bool gva_valid; /* false: the exit did not say (SVM without DecodeAssists): emulate it */
			bool all;       /* INVPCID: handled as a flush of every context, which any type allows */
		} invlpg;
		struct {
			u16 sel;         /* the new TSS (for IRET the back-link, for a task gate the gate's TSS) */
			u8 source;       /* enum ts_source: CALL, IRET, JMP, or a task gate in the IDT */
			bool skip;       /* an instruction switched: the old task resumes past it (insn_len; 0 decodes
					  * it), rather than at an event the switch delivers */
			bool has_error;  /* an exception through a task gate: error_code goes on the new stack */
			int soft_vector; /* INT n/INT3/INTO through a task gate: the vector (its gate's DPL is
					  * checked); else -1 */
			int exc_vector;	 /* a hardware exception through a task gate: its vector (a fault before the
					  * switch's commit point merges with it, maybe into #DF); else -1 */
			u32 error_code;
		} task;
		struct {
			u8 vector;
			bool has_error;
			bool icebp;     /* #DB raised by INT1 (re-injected as the instruction, not as a fault) */
			bool soft;      /* #BP or #OF raised by INT3 or INTO: delivered as the instruction (insn_len) */
			u64 db_payload; /* #DB but INT1's: what it reports in DR6 (vm/dr.h), which the backend read from
					 * the exit (VMX: the qualification; SVM: the VMCB's DR6, already updated) */
			u32 error_code;
			u64 fault_addr; /* #PF: the linear address (shadow paging intercepts #PF) */
		} exc;
		u64 info_words[4]; /* the whole union, for vm_exit_clear_info */
	};
};
static_assert(sizeof(struct vm_exit) - offsetof(struct vm_exit, info_words) == sizeof(((struct vm_exit *)0)->info_words),
	      "info_words covers the whole union");

/* io.info: the access size less one (0, 1 or 3) in bits 2:0, IN, INS/OUTS and REP, the port in bits 31:16. Bits
 * 15:6 carry nothing the generic code reads: VMX leaves its bit 6 there (the port came as an immediate), SVM 0. */
#define EXIT_IO_SIZE_MASK 7u
#define EXIT_IO_IN BIT(3)
#define EXIT_IO_STRING BIT(4)
#define EXIT_IO_REP BIT(5)
#define EXIT_IO_PORT_SHIFT 16
static inline u16 exit_io_port(u32 info)
{
	return (u16)(info >> EXIT_IO_PORT_SHIFT);
}
static inline unsigned int exit_io_size(u32 info)
{
	return (info & EXIT_IO_SIZE_MASK) + 1;
}

/* A new exit starts with every reason's information zero (false, no value), as the decoders expect: four stores. */
static inline void vm_exit_clear_info(struct vm_exit *e)
{
	for (unsigned int i = 0; i < ARRAY_SIZE(e->info_words); i++)
		e->info_words[i] = 0;
}

/* An event to deliver into the guest at the next entry. */
enum vcpu_event_type { EVENT_EXTINT, EVENT_NMI, EVENT_EXCEPTION, EVENT_SOFT_INT, EVENT_ICEBP };
struct vcpu_event {
	u8 type;            /* enum vcpu_event_type */
	u8 vector;
	bool has_error;
	u32 error_code;
};

const char *exit_reason_name(int reason);

#endif
