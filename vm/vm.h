/* Virtual machines and vCPUs: the vendor-neutral core. Nothing here names a VMCS or VMCB field; the vendor backend
 * reaches its private state through vcpu->arch and reports exits as struct vm_exit (vm/exit.h). */
#ifndef VM_VM_H
#define VM_VM_H

#include "hv/compiler.h"
#include "hv/log.h"
#include "mm/ept/tdp_mmu.h"
#include "vm/exit.h"
#include "vm/irq.h"
#include "vm/io.h"
#include "vm/memslot.h"

#define VM_NAME_MAX 32
#define VM_MAX_VCPUS 1

struct percpu;
struct vm_config;
struct vlapic;
struct vtimer;

/* Why a VM ended; reported in one line with the status. */
enum vm_end_reason {
	VM_END_NONE,
	VM_END_DEBUG_EXIT,      /* the guest wrote to the isa-debug-exit port */
	VM_END_TRIPLE_FAULT,
	VM_END_HALTED,          /* HLT with interrupts off and nothing to wake it */
	VM_END_POWEROFF,        /* ACPI S5 or similar */
	VM_END_RESET,           /* the guest reset the machine (0xcf9, the i8042 reset line, the FADT reset register) */
	VM_END_UNHANDLED_EXIT,  /* an exit nothing handles: logged with full state */
	VM_END_ENTRY_FAILED,    /* the hardware refused the guest state */
	VM_END_INTERNAL_ERROR,  /* out of memory, emulation failure, device-model error */
};

/* Counters a guest can read through the test device (vm/dev/testdev.c); the order is part of that ABI. */
enum vm_stat {
	VM_STAT_EXITS,
	VM_STAT_TDP_FAULTS,
	VM_STAT_TDP_MAPPED_4K,
	VM_STAT_TDP_MAPPED_2M,
	VM_STAT_TDP_MAPPED_1G,
	VM_STAT_MMIO_EXITS,
	VM_STAT_IO_EXITS,
	VM_STAT_CPUID_EXITS,
	VM_STAT_MSR_EXITS,
	VM_STAT_HYPERCALLS,
	VM_STAT_HLT_EXITS,
	VM_STAT_INTR_INJECTED,
	VM_STAT_TDP_SPLITS,
	VM_STAT_TDP_ZAPPED,
	NR_VM_STATS
};

/* vCPU requests: set by anyone (atomically), consumed by the vCPU before it next enters the guest. */
enum vcpu_request {
	VCPU_REQ_TLB_FLUSH,          /* flush the guest TLB (guest-physical and combined mappings) */
	VCPU_REQ_LOAD_ROOT,          /* (re)load the TDP root into the hardware */
	VCPU_REQ_FREE_OBSOLETE_ROOTS,
	VCPU_REQ_KICK,               /* just leave the guest and look at the state again */
	NR_VCPU_REQUESTS
};

enum vcpu_reg {
	VCPU_RAX, VCPU_RCX, VCPU_RDX, VCPU_RBX, VCPU_RSP, VCPU_RBP, VCPU_RSI, VCPU_RDI,
	VCPU_R8, VCPU_R9, VCPU_R10, VCPU_R11, VCPU_R12, VCPU_R13, VCPU_R14, VCPU_R15,
	NR_VCPU_GPRS
};

struct vcpu {
	struct vm *vm;                  /* constant */
	u32 id;                         /* constant */
	/* Guest GPRs, saved and loaded by the vendor's entry code. The backend keeps regs[VCPU_RSP] in sync with the
	 * VMCS/VMCB across every run; RIP and RFLAGS stay in the hardware structure (virt_ops get/set). */
	u64 regs[NR_VCPU_GPRS];
	u64 requests;                   /* atomic bitmask of enum vcpu_request */
	struct vm_exit exit;            /* the last exit, decoded by the backend */
	struct tdp_vcpu_roots roots;    /* owned by the vCPU's thread of control */
	void *arch;                     /* the backend's state (VMCS, VMCB, ...) */
	struct percpu *cpu;             /* the physical CPU it runs on; set when it starts */
	struct vlapic *lapic;
	bool halted;
	bool extint_pending;            /* the IOAPIC routed an ExtINT pin here: take the vector from the PIC */
	u64 mtrr_def_type;              /* IA32_MTRR_DEF_TYPE as the guest last wrote it (MTRRs are not emulated) */
	u32 log_budget;                 /* guest-triggered warnings left to print: a guest cannot flood the console */
	u64 console_polled;             /* TSC of the last look at the host serial line */
	u64 stats[NR_VM_STATS];         /* written by the vCPU's CPU only */
};

/* Slots of vm->devices[]: each device model's private state. */
enum vm_device {
	VM_DEV_UART, VM_DEV_PIC, VM_DEV_FWCFG, VM_DEV_TESTDEV, VM_DEV_DEBUG_EXIT, VM_DEV_PIT, VM_DEV_RTC,
	VM_DEV_ACPI_PM, VM_DEV_IOAPIC, VM_DEV_I8042, VM_DEV_PORT80, NR_VM_DEVICES
};

struct vm {
	char name[VM_NAME_MAX];         /* constant */
	u32 id;                         /* constant */
	u64 mem_bytes;                  /* constant: guest RAM size */
	struct memslots slots;          /* set up before the vCPU runs; constant while it runs */
	struct tdp_mmu mmu;
	struct io_bus pio, mmio;        /* set up before the vCPU runs */
	u32 nr_vcpus;
	struct vcpu *vcpus[VM_MAX_VCPUS];
	void *devices[NR_VM_DEVICES];   /* device models' private state, by enum vm_device */
	volatile bool ended;            /* set once by vm_end */
	int end_reason;                 /* enum vm_end_reason, valid once ended */
	u64 end_status;
	u64 tsc_hz;                     /* constant: the TSC rate the guest sees (the host's) */
	bool console_input;             /* constant: keys typed on the host serial line go to this VM's UART */
	bool console_raw;               /* constant: guest output unprefixed and unbuffered (config console=raw) */
	struct vtimer *timers;          /* armed device timers, earliest first (vm/vtimer.c); vCPU's CPU only */
	struct vm_irq_chip pic_chip, ioapic_chip; /* set up by the interrupt controllers at creation */
	/* Console line buffer for guest output (UART, port 0xe9), so lines print whole with the VM's prefix. */
	char con_line[160];
	u32 con_len;
};


/* End the VM (idempotent: the first reason wins). The vCPU leaves its run loop at the next exit. */
void vm_end(struct vm *vm, int reason, u64 status);
const char *vm_end_reason_name(int reason);

/* Guest console output: a byte from the guest, printed per line as "[name] line". */
void vm_console_putc(struct vm *vm, char c);
void vm_console_flush(struct vm *vm);

/* Sum of a counter over the VM's vCPUs and, for TDP counters, the MMU. */
u64 vm_stat(struct vm *vm, enum vm_stat s);

/* Guest-physical memory access through the memslots; -EFAULT if any byte is not guest RAM. */
int vm_read_gpa(struct vm *vm, gpa_t gpa, void *buf, u64 len);
int vm_write_gpa(struct vm *vm, gpa_t gpa, const void *buf, u64 len);

static inline void vcpu_request(struct vcpu *v, enum vcpu_request r)
{
	__atomic_fetch_or(&v->requests, BIT(r), __ATOMIC_SEQ_CST);
}

static inline bool vcpu_test_and_clear_request(struct vcpu *v, enum vcpu_request r)
{
	if (!(__atomic_load_n(&v->requests, __ATOMIC_ACQUIRE) & BIT(r)))
		return false;
	return __atomic_fetch_and(&v->requests, ~BIT(r), __ATOMIC_SEQ_CST) & BIT(r);
}

/* Log with the VM's name in front. */
#define vm_log(vm, lvl, fmt, ...) log_printf(lvl, "vm %s: " fmt, (vm)->name, ##__VA_ARGS__)

#endif
