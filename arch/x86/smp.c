/* SMP bring-up with INIT-SIPI-SIPI, one AP at a time: the BSP fills the trampoline's data block for that AP, sends
 * the IPIs and waits for the AP to mark itself online. Sequential start-up keeps one trampoline and one set of
 * patched fields, and gives a clear per-CPU report when a CPU does not answer. */
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/smp.h"
#include "drivers/acpi.h"
#include "drivers/timer.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/work.h"
#include "hv/layout.h"
#include "hv/log.h"
#include "hv/platform.h"
#include "hv/string.h"
#include "mm/mm.h"
#include "mm/pt.h"

extern char ap_tramp_start[], ap_tramp_end[], tramp_gdt_desc[], tramp_jump[], tramp_cr3[], tramp_efer[];
extern char tramp_stack[], tramp_percpu[], tramp_entry[], tramp_gdt[], tramp_long[];

static cpu_online_fn online_fn;

#define TRAMP_FIELD(base, sym, type) ((type *)((u8 *)(base) + ((sym) - ap_tramp_start)))

static void ap_main(struct percpu *cpu);

static void ap_main(struct percpu *cpu)
{
	u32 waiting = BOOT_WAITING;

	/* Too late: the BSP has handed this CPU's index to another. It must touch nothing that index owns. */
	if (!__atomic_compare_exchange_n(&cpu->boot_claim, &waiting, BOOT_CLAIMED, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		cpu_halt_forever();
	write_cr3(kernel_pml4);
	percpu_load(cpu);
	cpu_setup_this_cpu();
	lapic_enable();
	online_fn(cpu);
	__atomic_store_n(&cpu->online, true, __ATOMIC_RELEASE);
	work_ap_loop();
}

static hpa_t alloc_low_table(void)
{
	return frame_alloc_below(0, EARLY_MAP_SIZE);
}

/* The trampoline runs at its low physical address with paging on, so its CR3 needs an executable identity
 * mapping of that page, plus the kernel half to jump into. */
static hpa_t build_tramp_pml4(hpa_t page)
{
	hpa_t root = alloc_low_table();
	if (root == INVALID_HPA)
		return INVALID_HPA;
	u64 *dst = phys_to_virt(root), *src = phys_to_virt(kernel_pml4);
	for (int i = 256; i < 512; i++)
		dst[i] = src[i];
	if (pt_map(&pt_format_host, root, page, page, PAGE_SIZE, PTE_P | PTE_W, 1, alloc_low_table))
		return INVALID_HPA;
	return root;
}

static void stop_others(void)
{
	lapic_send_nmi_others();
}

static struct percpu *alloc_percpu(void)
{
	struct percpu *p = kzalloc(sizeof(*p));
	if (!p)
		return NULL;
	for (int i = 0; i < NR_IST; i++) {
		p->ist_stacks[i] = kmalloc(IST_STACK_SIZE);
		if (!p->ist_stacks[i])
			return NULL; /* boot-time; the little leaked memory does not matter */
	}
	u8 *stack = kmalloc(CPU_STACK_SIZE);
	if (!stack)
		return NULL;
	p->stack_top = (u64)(stack + CPU_STACK_SIZE);
	return p;
}

static bool start_ap(void *tramp, u32 page, struct percpu *p)
{
	*TRAMP_FIELD(tramp, tramp_stack, u64) = p->stack_top;
	*TRAMP_FIELD(tramp, tramp_percpu, u64) = (u64)p;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);

	lapic_send_init(p->apic_id);
	mdelay(10);
	for (int attempt = 0; attempt < 2; attempt++) {
		lapic_send_sipi(p->apic_id, (u8)(page >> PAGE_SHIFT));
		udelay(200);
		if (__atomic_load_n(&p->online, __ATOMIC_ACQUIRE))
			return true;
	}
	/* Slow emulators need longer than the SIPI spacing: give the AP up to a second. */
	for (int ms = 0; ms < 1000; ms++) {
		if (__atomic_load_n(&p->online, __ATOMIC_ACQUIRE))
			return true;
		mdelay(1);
	}
	/* Give it up, unless it has just arrived: then it is running our code and comes online shortly. */
	u32 waiting = BOOT_WAITING;
	if (__atomic_compare_exchange_n(&p->boot_claim, &waiting, BOOT_ABANDONED, false, __ATOMIC_ACQ_REL,
					__ATOMIC_ACQUIRE))
		return false;
	while (!__atomic_load_n(&p->online, __ATOMIC_ACQUIRE))
		cpu_relax();
	return true;
}

u32 smp_boot_aps(cpu_online_fn fn, u32 max_cpus)
{
	struct acpi_madt_info *madt = kzalloc(sizeof(*madt));
	u32 self = lapic_id(), started = 0;

	online_fn = fn;
	panic_stop_others = stop_others;
	if (!madt || acpi_parse_madt(madt)) {
		pr_warn("hv: smp: no usable MADT; running on the boot CPU only\n");
		kfree(madt);
		return 0;
	}

	hpa_t page = frame_alloc_below(0, 0x100000);
	hpa_t cr3 = page == INVALID_HPA ? INVALID_HPA : build_tramp_pml4(page);
	if (cr3 == INVALID_HPA) {
		pr_err("hv: smp: no memory below 1 MiB for the AP trampoline; running on the boot CPU only\n");
		kfree(madt);
		return 0;
	}
	void *tramp = phys_to_virt(page);
	memcpy(tramp, ap_tramp_start, (size_t)(ap_tramp_end - ap_tramp_start));
	*TRAMP_FIELD(tramp, tramp_gdt_desc + 2, u32) = (u32)(page + (tramp_gdt - ap_tramp_start));
	*TRAMP_FIELD(tramp, tramp_jump, u32) = (u32)(page + (tramp_long - ap_tramp_start));
	*TRAMP_FIELD(tramp, tramp_cr3, u32) = (u32)cr3;
	*TRAMP_FIELD(tramp, tramp_efer, u32) = (u32)(rdmsr(MSR_EFER) & (EFER_LME | EFER_NXE | EFER_SCE));
	*TRAMP_FIELD(tramp, tramp_entry, u64) = (u64)ap_main;

	for (u32 i = 0; i < madt->nr_cpus; i++) {
		u32 id = madt->cpus[i].apic_id;
		if (id == self)
			continue;
		if (!madt->cpus[i].enabled) {
			pr_info("hv: smp: CPU with APIC ID %u is disabled in the MADT; skipping it\n", id);
			continue;
		}
		if (nr_cpus >= max_cpus || nr_cpus >= MAX_CPUS) {
			pr_warn("hv: smp: CPU limit %u reached; APIC ID %u stays offline\n", max_cpus, id);
			continue;
		}
		if (id > 0xff && !lapic_is_x2apic()) {
			pr_warn("hv: smp: APIC ID %u needs x2APIC mode; it stays offline\n", id);
			continue;
		}
		struct percpu *p = alloc_percpu();
		if (!p) {
			pr_err("hv: smp: out of memory for CPU %u\n", nr_cpus);
			break;
		}
		percpu_setup(p, nr_cpus, id);
		if (!start_ap(tramp, (u32)page, p)) {
			pr_err("hv: smp: CPU with APIC ID %u did not come online\n", id);
			cpus[p->cpu_id] = NULL;
			continue; /* p may still be touched by a late AP: never freed */
		}
		nr_cpus++;
		started++;
	}
	kfree(madt);
	return started;
}
