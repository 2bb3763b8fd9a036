/* The init order of the hypervisor, from the 64-bit entry to "virtualization on on every CPU". Each step reports
 * what it found on the console; the integration tests read those lines. */
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/desc.h"
#include "arch/x86/rsb.h"
#include "arch/x86/smp.h"
#include "arch/x86/virt.h"
#include "boot/mb2.h"
#include "drivers/acpi.h"
#include "drivers/i8259.h"
#include "drivers/timer.h"
#include "kernel/console.h"
#include "kernel/options.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/power.h"
#include "kernel/work.h"
#include "vm/launch.h"
#include "hv/bug.h"
#include "hv/layout.h"
#include "hv/log.h"
#include "hv/platform.h"
#include "mm/mm.h"

void kmain(u32 magic, u32 mbi_phys);

static struct boot_info boot_info;
static u32 virt_enabled_cpus;

/* Runs on every CPU (the BSP included) once it is up: per-CPU virtualization. */
static void cpu_online(struct percpu *cpu)
{
	if (!virt_ops)
		return;
	int r = virt_ops->hardware_enable(cpu);
	if (r) {
		pr_err("hv: cpu %u (APIC %u): %s enable failed (%d)\n", cpu->cpu_id, cpu->apic_id, virt_ops->name, r);
		return;
	}
	__atomic_fetch_add(&virt_enabled_cpus, 1, __ATOMIC_RELAXED);
	pr_info("hv: cpu %u (APIC %u): %s enabled\n", cpu->cpu_id, cpu->apic_id, virt_ops->name);
}

static __noreturn void fatal(const char *what, int err)
{
	pr_err("hv: fatal: %s (%d)\n", what, err);
	panic("%s", what);
}

/* noinline: the crash report's backtrace then starts in kmain, as a real fault's would. */
static __attribute__((noinline)) void run_selftest(int which)
{
	switch (which) {
	case SELFTEST_UD:
		pr_info("hv: selftest: executing ud2\n");
		__asm__ __volatile__("ud2");
		break;
	case SELFTEST_PF:
		pr_info("hv: selftest: reading an unmapped address\n");
		(void)*(volatile u64 *)0xffffd000dead0000ULL; /* canonical, never mapped */
		break;
	case SELFTEST_PANIC:
		panic("selftest: requested panic");
	case SELFTEST_BUG:
		BUG_ON(which == SELFTEST_BUG);
		break;
	}
}

void kmain(u32 magic, u32 mbi_phys)
{
	struct percpu *bsp = percpu_bsp();
	int r;

	/* GS first: locks and log lines read the CPU index from the per-CPU area. */
	idt_init();
	percpu_setup(bsp, 0, 0);
	percpu_load(bsp);
	cpu_setup_this_cpu();
	i8259_disable();
	console_init();
	pr_info("\nhv: x86-64 micro-hypervisor booting\n");

	if (magic != MB2_BOOTLOADER_MAGIC)
		fatal("not started by a multiboot2 loader", -1);
	/* The early map covers 4 GiB; GRUB puts the information block below that. */
	if ((u64)mbi_phys + 8 > EARLY_MAP_SIZE)
		fatal("multiboot2 information outside the early map", -1);
	u32 avail = (u32)MIN((u64)EARLY_MAP_SIZE - mbi_phys, (u64)1 << 20);
	r = mb2_parse(phys_to_virt(mbi_phys), avail, mbi_phys, &boot_info);
	if (r)
		fatal("malformed multiboot2 information", r);

	/* Options before anything chatty, so loglevel= applies to the reports below. */
	if (options_parse(boot_info.cmdline))
		pr_warn("hv: problems on the command line were ignored (see above)\n");
	console_loglevel = hv_opts.loglevel;
	panic_action = hv_opts.panic;
	pr_info("hv: loader \"%s\", command line \"%s\", %s boot\n", boot_info.loader_name, boot_info.cmdline,
		boot_info.efi_booted ? "UEFI" : "BIOS");
	if (hv_opts.help)
		options_print_help();
	mb2_dump(&boot_info);

	r = mm_frames_init(&boot_info);
	if (r)
		fatal("no memory for the frame allocator", r);
	r = mm_paging_init();
	if (r)
		fatal("cannot build the host page tables", r);
	if (!hv_opts.rsb_fill)
		rsb_fill_disable(); /* through the direct map, before any exit and before the APs */
	mm_heap_init();

	if (!boot_info.has_rsdp || acpi_init(boot_info.rsdp, boot_info.rsdp_rev >= 2 ? 36 : 20))
		pr_warn("hv: acpi: no usable RSDP from the loader; no MADT, FADT or ACPI power-off\n");
	power_init();

	struct acpi_fadt_info fadt = { 0 };
	bool have_fadt = acpi_parse_fadt(&fadt) == 0;
	timer_calibrate(have_fadt ? fadt.pm_tmr : 0, have_fadt && fadt.pm_tmr_32bit);

	r = lapic_init(0);
	if (r)
		fatal("cannot map the local APIC", r);
	lapic_enable();
	bsp->apic_id = lapic_id();
	host_timer_init();

	virt_select(hv_opts.backend, hv_opts.tdp);
	cpu_online(bsp);
	u32 aps = smp_boot_aps(cpu_online, (u32)hv_opts.max_cpus);
	pr_info("hv: smp: %u CPUs online (%u started)\n", nr_cpus, aps);
	pr_info("hv: memory: %llu MiB free of %llu MiB\n", (unsigned long long)(mm_free_frames() >> 8),
		(unsigned long long)(mm_total_frames() >> 8));
	if (virt_ops)
		pr_info("hv: virt: %s enabled on %u of %u CPUs\n", virt_ops->name, virt_enabled_cpus, nr_cpus);
	else
		pr_info("hv: virt: no backend; nothing can run\n");
	pr_info("hv: boot complete\n");

	run_selftest(hv_opts.selftest);

	u32 nvms = vm_launch_prepare(&boot_info, virt_ops ? virt_enabled_cpus : 0);
	if (nvms && virt_ops) {
		pr_info("hv: running %u VM%s on %u CPUs\n", nvms, nvms == 1 ? "" : "s", nr_cpus);
		work_run_all_cpus();
		pr_info("hv: all VMs have ended\n");
	} else if (nvms) {
		pr_err("hv: %u VMs configured, but there is no virtualization backend to run them\n", nvms);
	}

	switch (hv_opts.on_done) {
	case ON_DONE_HALT:
		pr_info("hv: nothing left to run; halting\n");
		cpu_halt_forever();
	case ON_DONE_REBOOT:
		pr_info("hv: nothing left to run; rebooting\n");
		machine_reboot();
	default:
		pr_info("hv: nothing left to run; powering off\n");
		machine_poweroff(virt_ops && virt_enabled_cpus == nr_cpus ? POWEROFF_STATUS_OK : POWEROFF_STATUS_FAIL);
	}
}
