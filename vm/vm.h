/* Virtual machines and vCPUs: the vendor-neutral core. Nothing here names a VMCS or VMCB field; the vendor backend
 * reaches its private state through vcpu->arch and reports exits as struct vm_exit (vm/exit.h). */
#ifndef VM_VM_H
#define VM_VM_H

#include "hv/compiler.h"
#include "hv/log.h"
#include "hv/spinlock.h"
#include "mm/mmu.h"
#include "vm/cpuid_table.h"
#include "vm/dcache_key.h"
#include "vm/emulate/dcache.h"
#include "vm/exit.h"
#include "vm/inbox.h"
#include "vm/irq.h"
#include "vm/io.h"
#include "vm/msr_arch.h"

#define VM_NAME_MAX 32
#define VM_MAX_VCPUS 16

struct percpu;
struct vm_config;
struct virtio_blk;
struct vlapic;
struct vtimer;
struct vm_protect;
struct vm_ws;
struct vnet;

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
	VM_END_PROTECTION,      /* a write to a kill range of guest memory protection (vm/protect.h); status: gpa */
	VM_END_MONITOR,         /* `end NAME` in the monitor (vm/monitor.c) */
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
	VM_STAT_TRACKED_WRITES, /* writes to write-tracked gfns that went past the trackers (emulated or hypervisor's) */
	VM_STAT_PROTECT_LOGGED, /* of those, writes to a log range of guest memory protection */
	VM_STAT_PROTECT_DENIED, /* writes to a deny (or kill) range, dropped */
	VM_STAT_TDP_COLLAPSES,  /* tables replaced by a huge leaf */
	VM_STAT_AGED_LEAVES,    /* young leaves aged (mm/mmu.h: mmu_age_gfn_range) */
	VM_STAT_FAST_FAULTS,    /* TDP faults fixed without the MMU lock (not in TDP_FAULTS) */
	VM_STAT_ACCESS_TRACK_FAULTS, /* of those, access-tracked leaves restored (aging without A/D) */
	VM_STAT_TASK_SWITCHES,  /* hardware task switches emulated (vm/task_switch.c) */
	VM_STAT_TDP_SHARED_FAULTS,   /* of TDP_FAULTS, those run under the MMU lock held for read (in parallel) */
	VM_STAT_TDP_FAULT_RACES,     /* compare-exchanges a fault lost to another vCPU's (mm/mmu.h) */
	VM_STAT_TDP_FROZEN_BACKOFFS, /* faults that met a frozen SPTE and re-entered the guest */
	VM_STAT_PRIVATE_VE,          /* #VEs given to a private VM (vm/private.c) */
	VM_STAT_PRIVATE_EXTERNAL_SET, /* frames taken out of the direct map for private leaves (mm/private.h) */
	VM_STAT_PRIVATE_EXTERNAL_REMOVED, /* frames scrubbed and mapped back */
	VM_STAT_PRIVATE_REFUSED,     /* hypervisor accesses to private pages refused */
	VM_STAT_AGE_FLUSHES,         /* TLB flushes after aging passes (age_flush=on; mm/mmu.h) */
	VM_STAT_TDP_TABLES,          /* TDP page tables linked below the roots (faults and splits) */
	VM_STAT_TDP_CACHE_ZEROED,    /* frames the vCPUs' table caches took and cleared, before the lock (mm/frame_cache.h) */
	VM_STAT_EMU_CACHE_HITS,      /* MMIO exits emulated from the decode cache (vm/mmio_fast.c) */
	VM_STAT_EMU_CACHE_STALE,     /* decode cache entries whose guard failed: the code or its translation changed */
	VM_STAT_APIC_EOI_FAST,       /* xAPIC EOI writes done without the emulator (vm/lapic_eoi.c) */
	NR_VM_STATS
};

/* vCPU requests: set by anyone (atomically), consumed by the vCPU before it next enters the guest. */
enum vcpu_request {
	VCPU_REQ_TLB_FLUSH,          /* flush the guest TLB (guest-physical and combined mappings) */
	VCPU_REQ_LOAD_ROOT,          /* (re)load the TDP root into the hardware */
	VCPU_REQ_FREE_OBSOLETE_ROOTS,
	VCPU_REQ_KICK,               /* leave the guest, drain the inbox (vcpu_post sets it) and look at the state again */
	VCPU_REQ_MMU_SYNC,           /* shadow paging: the guest's CR3 load flushes; sync what the (new) root reaches */
	VCPU_REQ_STALL_REPORT,       /* hv.stall: log this vCPU's state (vm/stall.h) */
	VCPU_REQ_VM_END,             /* the VM ended (vm_end, after vm->ended): never cleared, so the entry's one
				      * look at the requests sees it */
	NR_VCPU_REQUESTS
};

enum vcpu_reg {
	VCPU_RAX, VCPU_RCX, VCPU_RDX, VCPU_RBX, VCPU_RSP, VCPU_RBP, VCPU_RSI, VCPU_RDI,
	VCPU_R8, VCPU_R9, VCPU_R10, VCPU_R11, VCPU_R12, VCPU_R13, VCPU_R14, VCPU_R15,
	NR_VCPU_GPRS
};

/* Where a vCPU's CPU is, for whoever needs it out of the guest (vcpu_kick, vm_make_all_vcpus_request). */
enum vcpu_mode {
	VCPU_OUTSIDE_GUEST, /* running hypervisor code: it looks at requests and its inbox before it next enters */
	VCPU_IN_GUEST,      /* entering or in the guest: only an interrupt (the wake IPI) makes it exit */
	VCPU_SLEEPING,      /* in HLT for a halted guest or one waiting for SIPI: the wake IPI ends the HLT */
};
#define VCPU_MODE_MASK 3ULL
#define VCPU_ENTRY_ONE 4ULL /* run_state counts entries above the mode bits */

/* One exit as the stall report's ring keeps it (vm/stall.h). */
struct vcpu_exit_trace {
	u8 reason;                      /* enum exit_reason */
	u32 hw_reason;
	u64 rip;
	u64 qual;                       /* the gpa of a TDP fault, the address of a #PF, else the hardware's qualification */
};
#define VCPU_EXIT_RING 16

struct vcpu {
	struct vm *vm;                  /* constant */
	u32 id;                         /* constant; also its APIC ID */
	/* Guest GPRs, saved and loaded by the vendor's entry code. The backend keeps regs[VCPU_RSP] in sync with the
	 * VMCS/VMCB across every run; RIP and RFLAGS stay in the hardware structure (virt_ops get/set). */
	u64 regs[NR_VCPU_GPRS];
	u64 requests;                   /* atomic bitmask of enum vcpu_request; any CPU sets, the vCPU clears */
	struct vcpu_inbox inbox;        /* any CPU posts, the vCPU drains (vm/inbox.h) */
	/* Atomic; written by the vCPU's CPU only: enum vcpu_mode in the low bits, the entry count above. Stored with
	 * SEQ_CST before the vCPU looks at requests/inbox, and read with SEQ_CST after a sender posts, so either the vCPU
	 * sees the post or the sender sees the mode and sends the wake IPI. */
	u64 run_state;
	/* The physical CPU the vCPU runs on: NULL until its CPU starts it (then constant until the VM ends). Atomic. */
	struct percpu *cpu;
	struct vm_exit exit;            /* the last exit, decoded by the backend */
	/* With exit (a TDP fault or MMIO exit on SVM with DecodeAssists, APM Vol. 2 15.8.4): the bytes at CS:RIP as the
	 * CPU fetched them for the faulting instruction, exit_nbytes of them (0: none). Outside struct vm_exit, which is
	 * cleared on every exit: set by the backend on each exit that has them, 0 forever on VMX. */
	u8 exit_nbytes;
	u8 exit_bytes[15];
	struct mmu_vcpu mmu;            /* its MMU roots: owned by the vCPU's thread of control */
	/* Shadow paging with PAE paging: the PDPTE registers, loaded by the guest's CR writes (vm/pdptes.c). The
	 * vCPU's own, like the CRs they come with. */
	u64 pdptes[4];
	/* Private VMs: the last #VE's information until HC_VE_INFO reads it (vm/private.c). The vCPU's own. */
	struct {
		bool pending;
		u32 reason, access;
		u64 gpa;
	} ve;
	void *arch;                     /* the backend's state (VMCS, VMCB, ...) */
	/* Constant once vcpu_create returns: the backend virtualizes the APIC (VMX APIC-register virtualization and
	 * virtual-interrupt delivery, arch/x86/vmx/vmx_apicv.c): the CPU delivers and EOIs the vLAPIC's interrupts
	 * itself, from the register page, and the run loop only loads virt_ops->apicv_load before each entry. */
	bool apicv;
	struct vlapic *lapic;           /* the vCPU's CPU only (others post to inbox) */
	bool halted;
	bool hlt_step;                  /* halted by a HLT run with TF: its single-step #DB comes at the wake (vm/debug.c) */
	u8 nmi_pending;                 /* NMIs the vLAPIC took, not yet injected: 2 at most (vcpu.c: take_nmis) */
	bool wait_sipi;                 /* after INIT (APs from the start): only a SIPI makes it run */
	bool parked;                    /* counted in vm->parked_vcpus: nothing of its own can wake it */
	bool extint_pending;            /* the IOAPIC routed an ExtINT pin here: take the vector from the PIC */
	/* The fast re-entry (vm/run_inner.h: may_reenter_fast), the vCPU's CPU only. exit_simple: the handler of the
	 * last exit vouches that it touched no vLAPIC, halt or NMI state (exit_dispatch clears it, the handler sets it).
	 * irq_idle: the last full pass of the run loop found nothing to deliver and turned the windows off. Until
	 * fast_until (the earliest of its own timer, the console poll, the stall check and, on vCPU 0, the device
	 * timers and the working-set scan, as that pass saw them) nothing the loop runs on a deadline is due.
	 * irq_changed: since that pass, this CPU may have changed an interrupt source the vCPU takes from (its vLAPIC's
	 * IRR, the PIC's output, an ExtINT route, vCPU 0's earliest device timer): set by vcpu_kick on the vCPU's own
	 * CPU and by the vLAPIC's kick, cleared by the pass once it has looked (KVM's KVM_REQ_EVENT, kept owner-local
	 * since other CPUs' changes arrive as requests). */
	union {
		struct {
			bool exit_simple;
			bool irq_idle;
			bool irq_changed;
			bool timer_moved; /* the simple exit moved the vLAPIC timer: re-arm the host timer first */
		};
		u32 fast_word; /* the four at once, for may_reenter_fast's one compare (VCPU_FAST_WORD) */
	};
	u64 fast_until;
	bool done;                      /* atomic: its run loop has returned and its backend state is gone */
	struct msr_arch msrs;           /* the architectural MSRs kept in software (vm/msr_arch.h): the vCPU's CPU only */
	u32 log_budget;                 /* guest-triggered warnings left to print: a guest cannot flood the console */
	u64 console_polled;             /* TSC of the last look at the host serial line */
	u64 stats[NR_VM_STATS];         /* written by the vCPU's CPU only */
	/* Written by the vCPU's CPU only, read at the VM's end report: exits handled per reason, and the TSC cycles
	 * spent on them (the handler and the requests it raised, as root loads and syncs; not the hardware's exit). */
	u64 exits_by_reason[NR_EXIT_REASONS];
	u64 exit_cycles[NR_EXIT_REASONS];
	/* hv.stall only: its last exits (vm/stall.h). The vCPU's CPU only. */
	struct vcpu_exit_trace exit_ring[VCPU_EXIT_RING];
	u32 exit_ring_pos;
	/* Instructions the MMIO exits decoded, each checked against guest memory before reuse (vm/mmio_fast.c). The
	 * vCPU's CPU only. */
	struct emu_dcache dcache;
	struct dcache_key_memo dcache_memo; /* the key of the last MMIO exit's state (vm/dcache_key.h); this CPU only */
};

/* Slots of vm->devices[]: each device model's private state. */
enum vm_device {
	VM_DEV_UART, VM_DEV_PIC, VM_DEV_FWCFG, VM_DEV_TESTDEV, VM_DEV_DEBUG_EXIT, VM_DEV_PIT, VM_DEV_RTC,
	VM_DEV_ACPI_PM, VM_DEV_IOAPIC, VM_DEV_I8042, VM_DEV_PORT80, VM_DEV_HPET, VM_DEV_PCI, VM_DEV_VIRTIO_CONSOLE,
	NR_VM_DEVICES
};

struct vm {
	char name[VM_NAME_MAX];         /* constant */
	u32 id;                         /* constant */
	u64 mem_bytes;                  /* constant: guest RAM size */
	bool private_mem;               /* constant: private=on; its RAM is private once sealed (vm/private.c) */
	struct mmu mmu;                 /* guest memory: the memslots, roots and write tracking (mm/mmu.h) */
	struct vm_protect *protect;     /* guest memory protection (vm/protect.h): constant pointer */
	bool protect_late;              /* atomic: protect= ranges wait for the guest's IA32_LSTAR (vm/protect.c) */
	struct vm_ws *ws;               /* the working-set estimator (vm/ws.h), NULL without ws=: constant pointer */
	struct virtio_blk *disks[8];    /* role=disk devices, vda first (vm/disk.c): constant once built */
	u32 nr_disks;
	/* Atomic: the TSC deadline of its next scan, ~0 without ws= (vm/ws.c writes it): vCPU 0's run loop compares
	 * it on every pass, so it is here, one load away, not behind a call. */
	u64 ws_next;
	/* The stall report (vm/stall.h): the TSC of the console's last line, and of the next look at it (~0 without
	 * hv.stall), both atomic, compared on every pass of the run loop like ws_next; the silence that makes a report,
	 * in TSC cycles (constant), and the reports made (atomic). */
	u64 last_output;
	u64 stall_next;
	u64 stall_cycles;
	u32 stall_reports;
	u64 nmi_kicks;                  /* atomic: vCPUs forced out of the guest by NMI (vm/vcpu.c: vcpu_kick_nmi) */
	struct io_bus pio, mmio;        /* set up before the vCPUs run; each device model locks its own state */
	struct cpuid_table cpuid;       /* constant: built before the vCPUs run, once sealed (vm/cpuid.c) */
	u32 nr_vcpus;                   /* constant */
	struct vcpu *vcpus[VM_MAX_VCPUS]; /* constant once the VM is built */
	/* Device models' private state, by enum vm_device. Any vCPU may call into a model: each has its own lock, taken
	 * before the interrupt controllers' (vm/dev/dev.h), and before timers_lock and con_lock, which nest inside all
	 * of them. A vCPU's inbox and requests are lock-free. vLAPICs have no lock: each belongs to its vCPU. */
	void *devices[NR_VM_DEVICES];
	struct vnet *net;               /* net=: the virtio-net device (vm/dev/virtio/net_vm.c), NULL without; constant */
	/* vm_end claims end_reason with a compare-exchange from VM_END_NONE (the first reason wins), then writes
	 * end_status, then sets ended (release): a reader that sees ended sees both. */
	volatile bool ended;
	int end_reason;                 /* enum vm_end_reason */
	u64 end_status;
	u64 parked_vcpus;               /* atomic: vCPUs nothing but another vCPU can wake (low half), unparks (high) */
	u64 tsc_hz;                     /* constant: the TSC rate the guest sees (the host's) */
	bool console_raw;               /* constant: console=raw, output unprefixed while it holds the input (conmux.h) */
	/* Armed device timers, earliest first (vm/vtimer.c), fired by vCPU 0, the one that sleeps for them. */
	spinlock_t timers_lock;
	struct vtimer *timers;          /* timers_lock */
	struct vm_irq_chip pic_chip, ioapic_chip; /* set up by the interrupt controllers at creation */
	u32 irq_cut;                    /* atomic: lines whose ISA device is cut off (the HPET's legacy replacement) */
	/* Console line buffer for guest output (UART, port 0xe9), so lines print whole with the VM's prefix. */
	spinlock_t con_lock;
	char con_line[160];             /* con_lock */
	u32 con_len;                    /* con_lock */
};

/* End the VM (idempotent: the first reason wins). The vCPU leaves its run loop at the next exit. */
void vm_end(struct vm *vm, int reason, u64 status);
const char *vm_end_reason_name(int reason);

/* Guest console output: a byte from the guest, printed per line as "[name] line". */
void vm_console_putc(struct vm *vm, char c);
void vm_console_flush(struct vm *vm);

/* Sum of a counter over the VM's vCPUs and, for TDP counters, the MMU. */
u64 vm_stat(struct vm *vm, enum vm_stat s);
/* One vCPU's part of a per-vCPU counter. The exit counts are not kept twice: they are the dispatch's per-reason
 * counts (one add on every exit, not three). */
static inline u64 vcpu_stat(const struct vcpu *v, enum vm_stat s)
{
	u64 n = 0;

	switch (s) {
	case VM_STAT_EXITS:
		for (unsigned int r = 0; r < NR_EXIT_REASONS; r++)
			n += v->exits_by_reason[r];
		return n;
	case VM_STAT_IO_EXITS:
		return v->exits_by_reason[EXIT_IO];
	case VM_STAT_CPUID_EXITS:
		return v->exits_by_reason[EXIT_CPUID];
	case VM_STAT_MSR_EXITS:
		return v->exits_by_reason[EXIT_MSR_READ] + v->exits_by_reason[EXIT_MSR_WRITE];
	case VM_STAT_HYPERCALLS:
		return v->exits_by_reason[EXIT_HYPERCALL];
	default:
		return v->stats[s];
	}
}


/* Guest-physical memory access through the memslots; -EFAULT if any byte is not guest RAM. */
int vm_read_gpa(struct vm *vm, gpa_t gpa, void *buf, u64 len);
int vm_write_gpa(struct vm *vm, gpa_t gpa, const void *buf, u64 len);

static inline void vcpu_request(struct vcpu *v, enum vcpu_request r)
{
	__atomic_fetch_or(&v->requests, BIT(r), __ATOMIC_SEQ_CST);
}

/* Make v look at its requests and inbox soon: if its CPU is in the guest or sleeping, send it the wake IPI. Any
 * CPU, any context (vm/vcpu.c). vcpu_kick also posts VCPU_REQ_KICK, for a change that is neither a request nor a
 * post (the VM ended, a device line moved). */
void vcpu_notify(struct vcpu *v);
void vcpu_kick(struct vcpu *v);
/* Force v out of the guest with an NMI, for when its wake IPI did not (vm/vcpu.c says when that happens). */
void vcpu_kick_nmi(struct vcpu *v);
/* Post an interrupt message (ICR low-word form) to v and notify it. */
void vcpu_post(struct vcpu *v, u32 icr_lo);
/* Set request r on every vCPU and notify them; with wait, return only when each vCPU other than the caller's own
 * has left guest mode at least once since (so it will honour r before running guest code again). */
void vm_make_all_vcpus_request(struct vm *vm, enum vcpu_request r, bool wait);

static inline bool vcpu_test_and_clear_request(struct vcpu *v, enum vcpu_request r)
{
	if (!(__atomic_load_n(&v->requests, __ATOMIC_ACQUIRE) & BIT(r)))
		return false;
	return __atomic_fetch_and(&v->requests, ~BIT(r), __ATOMIC_SEQ_CST) & BIT(r);
}

/* Log with the VM's name in front. */
#define vm_log(vm, lvl, fmt, ...) log_printf(lvl, "vm %s: " fmt, (vm)->name, ##__VA_ARGS__)

#endif
