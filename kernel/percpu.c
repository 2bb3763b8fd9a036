/* Per-CPU areas: the BSP's is static so the console and locks work before the heap exists; the APs' come from the
 * heap when SMP bring-up creates them. */
#include "kernel/percpu.h"
#include "arch/x86/cpu.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/desc.h"
#include "hv/bug.h"
#include "hv/layout.h"
#include "hv/platform.h"
#include "hv/string.h"

static struct percpu bsp_percpu;
static u8 bsp_ist_stacks[NR_IST][IST_STACK_SIZE] __aligned(16);
struct percpu *cpus[MAX_CPUS];
u32 nr_cpus = 1;

struct percpu *percpu_bsp(void)
{
	return &bsp_percpu;
}

/* this_cpu_id() (hv/platform.h) reads cpu_id straight through %gs. Before percpu_load() runs on the BSP, %gs reads
 * whatever is there; the early GS base is 0, which maps nothing in the final page tables, so the BSP's area is
 * installed as the first thing kmain does. */
_Static_assert(__builtin_offsetof(struct percpu, cpu_id) == PERCPU_CPU_ID_OFFSET, "this_cpu_id reads %gs:8");

void percpu_setup(struct percpu *p, u32 cpu_id, u32 apic_id)
{
	p->self = p;
	p->cpu_id = cpu_id;
	p->apic_id = apic_id;
	if (p == &bsp_percpu) {
		for (int i = 0; i < NR_IST; i++)
			p->ist_stacks[i] = bsp_ist_stacks[i];
	}
	for (int i = 0; i < NR_IST; i++) {
		BUG_ON(!p->ist_stacks[i]);
		p->tss.ist[i] = (u64)(p->ist_stacks[i] + IST_STACK_SIZE);
	}
	p->tss.iomap_base = sizeof(p->tss); /* no I/O bitmap: every port is privileged */
	desc_build_gdt(p->gdt, &p->tss);
	cpus[cpu_id] = p;
}

/* Runs on the CPU that owns p: load its GDT, TSS and GS base. */
void percpu_load(struct percpu *p)
{
	desc_load_gdt(p->gdt, sizeof(p->gdt));
	wrmsr(MSR_GS_BASE, (u64)p);
	wrmsr(MSR_KERNEL_GS_BASE, 0);
	desc_load_tss();
	idt_load();
}
