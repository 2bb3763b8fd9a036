/* Per-CPU data. GS base points at the executing CPU's struct percpu, so this_cpu() is one load. Each CPU has its
 * own GDT (its TSS descriptor differs), TSS with IST stacks for #DF/NMI/#MC, and the virtualization state its
 * backend keeps per CPU. Fields are written by the owning CPU only, unless the comment says otherwise. */
#ifndef KERNEL_PERCPU_H
#define KERNEL_PERCPU_H

#include "hv/compiler.h"

#define MAX_CPUS 64

struct vcpu;

struct tss64 {
	u32 reserved0;
	u64 rsp[3];
	u64 reserved1;
	u64 ist[7];
	u64 reserved2;
	u16 reserved3;
	u16 iomap_base;
} __packed;

enum { IST_DF = 1, IST_NMI = 2, IST_MC = 3, NR_IST = 3 };

enum { BOOT_WAITING, BOOT_CLAIMED, BOOT_ABANDONED };

struct percpu {
	struct percpu *self;    /* %gs:0, for this_cpu() */
	u32 cpu_id;             /* dense index, 0 = BSP; set before the CPU starts */
	u32 apic_id;            /* set before the CPU starts */
	u64 stack_top;          /* set before the CPU starts */
	volatile bool online;   /* set by the CPU itself once it runs C code; read by the BSP */
	/* Atomic: BOOT_WAITING until the AP claims it on arrival (BOOT_CLAIMED) or the BSP gives it up (BOOT_ABANDONED)
	 * after its timeout; whichever comes second finds the other's mark. A late AP halts for good. */
	u32 boot_claim;
	u64 gdt[5] __aligned(8); /* null, code, data, TSS (two slots) */
	struct tss64 tss __aligned(16);
	u8 *ist_stacks[NR_IST];
	/* Virtualization, owned by the backend: VMXON region or SVM host save area. */
	hpa_t virt_region;
	bool virt_enabled;
	/* SVM only: the area VMSAVE fills with this CPU's host state, and the ASID allocator. A generation bump
	 * flushes every ASID on this CPU, so a vCPU whose generation is old must take a new ASID. */
	u64 host_timer_deadline; /* what host_timer_arm last programmed (~0: disarmed) */
	struct vcpu *vcpu;       /* the vCPU this CPU runs, NULL between VMs; read by others only to compare */
	/* Atomic: another CPU sent this one an NMI to force its vCPU out of the guest (vm/vcpu.c: kick_by_nmi); the
	 * NMI handler clears it and stays silent. NMIs merge, so it is a flag: one NMI answers any number of kicks. */
	bool nmi_kick;
	/* Atomic: the host TLB shootdown generation this CPU last flushed for (arch/x86/tlb.c); written by its NMI
	 * handler, read by the initiator. */
	u64 tlb_gen_seen;
	hpa_t svm_host_save;
	u32 svm_next_asid;
	u64 svm_asid_generation;
};

extern struct percpu *cpus[MAX_CPUS];
extern u32 nr_cpus;

static inline struct percpu *this_cpu(void)
{
	struct percpu *p;
	__asm__ __volatile__("movq %%gs:0, %0" : "=r"(p));
	return p;
}

void percpu_setup(struct percpu *p, u32 cpu_id, u32 apic_id);
void percpu_load(struct percpu *p);
struct percpu *percpu_bsp(void);

#endif
