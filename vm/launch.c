/* From a configuration to a VM ready to run: memory, MMU, devices, vCPUs and the loaded kernel; and its teardown.
 * Which CPUs run it is vm/sched.c's business. */
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/virt.h"
#include "drivers/timer.h"
#include "hv/bug.h"
#include "hv/errno.h"
#include "hv/log.h"
#include "hv/platform.h"
#include "hv/string.h"
#include "kernel/options.h"
#include "kernel/percpu.h"
#include "kernel/printf.h"
#include "vm/config.h"
#include "vm/disk.h"
#include "vm/dev/vlapic.h"
#include "vm/launch.h"
#include "vm/dev/acpi_tables.h"
#include "vm/dev/dev.h"
#include "vm/dev/hpet.h"
#include "vm/dev/ioapic.h"
#include "vm/dev/pci.h"
#include "vm/dev/virtio/console.h"
#include "vm/dev/virtio/vtest.h"
#include "vm/loader/linux.h"
#include "vm/loader/multiboot.h"
#include "vm/protect.h"
#include "vm/ws.h"
#include "vm/private.h"
#include "vm/stall.h"
#include "vm/vcpu.h"
#include "vm/dev/virtio/net_vm.h"

#define ACPI_AREA_GPA 0xe0000         /* where BIOSes keep ACPI tables; Linux also scans it for the RSDP */
#define ACPI_AREA_LEN 0x20000
#define ACPI_PM_PORT 0x600
#define SCI_IRQ 9

static u32 vm_seq; /* atomic: VM ids */

/* Under mmu->lock, with tables about to be freed: every vCPU must be out of the guest before this returns. */
static void mmu_flush_remote_tlbs(void *owner)
{
	vm_make_all_vcpus_request(owner, VCPU_REQ_TLB_FLUSH, true);
}

/* After an aging pass (age_flush=on): without any lock, and nothing freed behind it, so nobody waits. */
static void mmu_request_tlb_flush(void *owner)
{
	vm_make_all_vcpus_request(owner, VCPU_REQ_TLB_FLUSH, false);
}

static void mmu_request_free_obsolete_roots(void *owner)
{
	vm_make_all_vcpus_request(owner, VCPU_REQ_FREE_OBSOLETE_ROOTS, false);
}

static const struct mmu_ops vm_mmu_ops = {
	.flush_remote_tlbs = mmu_flush_remote_tlbs,
	.request_free_obsolete_roots = mmu_request_free_obsolete_roots,
	.request_tlb_flush = mmu_request_tlb_flush,
};

static int add_ram(struct vm *vm, u64 bytes, struct guest_mem_layout *layout)
{
	u64 low = MIN(bytes, VM_CONFIG_RAM_LOW_MAX); /* the layout is vm/config.h's */
	int r = mmu_add_ram(&vm->mmu, 0, low >> PAGE_SHIFT, 0);

	if (r)
		return r;
	layout->ram[layout->nr_ram++] = (struct guest_mem_range){ 0, low };
	if (bytes > low) {
		r = mmu_add_ram(&vm->mmu, VM_CONFIG_RAM_HIGH_BASE >> PAGE_SHIFT, (bytes - low) >> PAGE_SHIFT, 0);
		if (r)
			return r;
		layout->ram[layout->nr_ram++] = (struct guest_mem_range){ VM_CONFIG_RAM_HIGH_BASE, bytes - low };
	}
	return 0;
}

/* The state QEMU's -kernel gives a multiboot kernel: 32-bit protected mode, paging off, flat 4 GiB segments. */
static void multiboot_boot_state(struct vcpu *v, const struct multiboot_boot_state *mb, struct vcpu_boot_state *st)
{
	const u16 code = 0x09b | BIT(10) | BIT(11); /* exec/read/accessed, S, P; D=1, G=1 */
	const u16 data = 0x093 | BIT(10) | BIT(11);

	memset(st, 0, sizeof(*st));
	for (int i = 0; i < NR_SEGS; i++)
		st->seg[i] = (struct vcpu_segment){ .selector = 0x10, .limit = 0xffffffff, .attr = data };
	st->seg[SEG_CS] = (struct vcpu_segment){ .selector = 0x08, .limit = 0xffffffff, .attr = code };
	st->seg[SEG_LDTR] = (struct vcpu_segment){ .attr = SEG_ATTR_UNUSABLE };
	st->seg[SEG_TR] = (struct vcpu_segment){ .limit = 0xffff, .attr = 0x08b }; /* busy 32-bit TSS, present */
	st->gdt.limit = 0xffff;
	st->idt.limit = 0xffff;
	st->cr0 = CR0_PE | CR0_ET;
	st->rip = mb->entry;
	st->rflags = BIT(1);
	memset(v->regs, 0, sizeof(v->regs));
	v->regs[VCPU_RAX] = 0x2badb002;
	v->regs[VCPU_RBX] = mb->mbi_gpa;
}

/* The IOAPIC's delivery: post the message to the vCPUs the destination selects. Runs on whichever vCPU drove the
 * pin, with the IOAPIC's lock held; posting takes no lock. */
static int ioapic_deliver(struct vm *vm, u32 dest, bool logical, u8 vector, u8 mode, bool level)
{
	/* An IOAPIC message is an xAPIC-format destination, matched like an IPI without shorthand. */
	struct vlapic_ipi ipi = { .dest = dest, .logical = logical, .shorthand = VLAPIC_SH_NONE, .x2apic = false };
	u32 icr_lo = ((u32)mode << VLAPIC_ICR_DM_SHIFT) | vector | (level ? VLAPIC_ICR_LEVEL : 0);
	int delivered = 0;

	for (u32 i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *t = vm->vcpus[i];
		if (!vlapic_match_dest(t->lapic, NULL, &ipi))
			continue;
		switch (mode) {
		case VLAPIC_DM_SMI:
			continue; /* there is no SMM in these VMs */
		case VLAPIC_DM_EXTINT:
			/* "Ask the 8259": the run loop injects the PIC's vector, as for LINT0 in ExtINT mode. */
			__atomic_store_n(&t->extint_pending, true, __ATOMIC_RELEASE);
			vcpu_kick(t);
			break;
		case VLAPIC_DM_NMI:
		case VLAPIC_DM_INIT:
		case VLAPIC_DM_FIXED:
		case VLAPIC_DM_LOWPRI:
			/* A software-disabled LAPIC drops a fixed message: not counted, so a level pin is not left
			 * waiting for an EOI (read racily; the drain catches the rest, see vm/inbox.h). */
			if ((mode == VLAPIC_DM_FIXED || mode == VLAPIC_DM_LOWPRI) && !vlapic_accepts_fixed(t->lapic))
				continue;
			vcpu_post(t, icr_lo);
			break;
		default:
			continue; /* reserved modes */
		}
		delivered++;
		if (mode == VLAPIC_DM_LOWPRI)
			break; /* one of them: the first is as good as any */
	}
	return delivered;
}

static bool strstr_simple(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	for (; *hay; hay++)
		if (strncmp(hay, needle, n) == 0)
			return true;
	return false;
}

/* The PC platform beyond what every VM has: PIT, RTC, i8042, port 0x80, IOAPIC, HPET, ACPI (vm/config.h says who
 * gets it). The tables go in 0xe0000-0xfffff, which the Multiboot memory map leaves out of usable RAM and the Linux
 * loader's e820 reserves. */
static int pc_platform_init(struct vm *vm, const struct vm_config *cfg, u64 *rsdp)
{
	struct acpi_build_cfg acpi = {
		.base = ACPI_AREA_GPA, .len = ACPI_AREA_LEN, .nr_vcpus = vm->nr_vcpus,
		.ioapic_addr = IOAPIC_BASE, .ioapic_id = (u8)vm->nr_vcpus, .ioapic_gsi_base = 0,
		.pm_port = ACPI_PM_PORT, .sci_irq = SCI_IRQ, .reset_port = 0xcf9, .reset_value = 0x06,
		.has_i8042 = true, .has_rtc = true, .has_vga = false,
		.hpet_addr = (u32)HPET_BASE, .hpet_block_id = (u32)HPET_GCAP_ID_VALUE,
		.hpet_min_tick = HPET_MIN_PERIOD_TICKS,
		.pci_mmio_base = (u32)PCI_MMIO_BASE, .pci_mmio_end = (u32)PCI_MMIO_END, .pci_gsi_base = 16,
	};
	int r;

	if ((r = pit_dev_init(vm)) || (r = rtc_dev_init(vm, rtc_host_epoch_seconds())) || (r = i8042_dev_init(vm)) ||
	    (r = port80_dev_init(vm)) || (r = ioapic_dev_init(vm, ioapic_deliver)) || (r = hpet_dev_init(vm)) ||
	    (r = pci_bus_init(vm)) || (hv_opts.vtest && (r = vtest_add(vm))) || (r = vm_disks_init(vm, cfg)) ||
	    (cfg->virtcon && (r = vcon_add(vm))))
		return r;
	r = acpi_pm_dev_init(vm, &acpi, &vm->devices[VM_DEV_ACPI_PM]);
	if (r)
		return r;
	r = acpi_tables_build(vm, &acpi, rsdp);
	if (!r)
		vm_log(vm, LOG_INFO,
		       "PC platform: PIT, RTC, i8042, IOAPIC at %#llx, HPET at %#llx, ACPI RSDP at %#llx\n",
		       (unsigned long long)IOAPIC_BASE, (unsigned long long)HPET_BASE, (unsigned long long)*rsdp);
	return r;
}

static int load_linux(struct vm *vm, const struct vm_config *cfg, const struct guest_mem_layout *layout,
		      struct vcpu_boot_state *st)
{
	struct vcpu *v = vm->vcpus[0];
	u64 rsdp = 0;
	BUG_ON(cfg->platform == VM_PLATFORM_MINIMAL); /* vm_check_config refused it */
	int r = pc_platform_init(vm, cfg, &rsdp);

	if (r) {
		vm_log(vm, LOG_ERR, "PC platform setup failed (%d)\n", r);
		return r;
	}
	/* Under emulation and nesting, Linux's TSC calibration against the PIT and PM timer sees each read take an
	 * exit and gives up, marking the TSC unstable. The hypervisor has measured the rate: hand it over the way
	 * Linux takes it from firmware it trusts, unless the user already chose a value. */
	char cmdline[VM_CONFIG_CMDLINE_MAX + 32]; /* the loader copies it into guest memory */
	if (strstr_simple(cfg->cmdline, "tsc_early_khz="))
		hv_snprintf(cmdline, sizeof(cmdline), "%s", cfg->cmdline);
	else
		hv_snprintf(cmdline, sizeof(cmdline), "%s%stsc_early_khz=%llu", cfg->cmdline, cfg->cmdline[0] ? " " : "",
			    (unsigned long long)(tsc_hz / 1000));
	struct linux_boot_params_in in = {
		.cmdline = cmdline,
		.initrd = cfg->has_initrd ? phys_to_virt(cfg->initrd_start) : NULL,
		.initrd_size = cfg->has_initrd ? cfg->initrd_end - cfg->initrd_start : 0,
		.acpi_rsdp_gpa = rsdp,
		.acpi_start = ACPI_AREA_GPA,
		.acpi_len = ACPI_AREA_LEN,
		.entry32 = cfg->linux_entry32,
	};
	return linux_load(vm, phys_to_virt(cfg->kernel_start), cfg->kernel_end - cfg->kernel_start, &in, layout, st,
			  v->regs);
}

static int load_multiboot(struct vm *vm, const struct vm_config *cfg, const struct guest_mem_layout *layout,
			  struct vcpu_boot_state *st)
{
	struct mb_module mods[VM_CONFIG_MAX_MODULES];
	struct multiboot_boot_state mb;

	for (u32 i = 0; i < cfg->nr_modules; i++)
		mods[i] = (struct mb_module){ .data = phys_to_virt(cfg->modules[i].start),
					      .size = cfg->modules[i].end - cfg->modules[i].start,
					      .cmdline = cfg->modules[i].cmdline };
	BUG_ON(cfg->linux_entry32); /* vm_check_config refused it */
	u64 rsdp; /* a Multiboot kernel finds the RSDP by scanning 0xe0000-0xfffff, as on a PC */
	int r = cfg->platform == VM_PLATFORM_PC ? pc_platform_init(vm, cfg, &rsdp) : 0;

	if (r) {
		vm_log(vm, LOG_ERR, "PC platform setup failed (%d)\n", r);
		return r;
	}
	r = multiboot_load(vm, phys_to_virt(cfg->kernel_start), cfg->kernel_end - cfg->kernel_start, cfg->cmdline,
			       mods, cfg->nr_modules, layout, &mb);
	if (!r)
		multiboot_boot_state(vm->vcpus[0], &mb, st);
	return r;
}

u32 vm_check_config(const struct vm_config *cfg)
{
	const void *image = phys_to_virt(cfg->kernel_start);
	u64 size = cfg->kernel_end - cfg->kernel_start;
	bool is_linux = linux_is_bzimage(image, size);
	u32 errors = vm_config_check_kernel(cfg, is_linux ? VM_KERNEL_LINUX : VM_KERNEL_MULTIBOOT);

	if (is_linux && linux_check_image(cfg->name, image, size))
		errors++;
	return errors;
}

int vm_build(struct vm *vm, const struct vm_config *cfg)
{
	struct guest_mem_layout layout = { 0 };
	struct vcpu_boot_state st;
	int r;

	memcpy(vm->name, cfg->name, sizeof(vm->name));
	vm->id = __atomic_fetch_add(&vm_seq, 1, __ATOMIC_RELAXED);
	vm->mem_bytes = cfg->mem_bytes;
	vm->private_mem = cfg->private_mem;
	vm->tsc_hz = tsc_hz;
	vm->console_raw = cfg->console_raw;
	vm_stall_init(vm);
	int level = virt_ops->tdp_max_level();
	if (cfg->max_page_level && cfg->max_page_level < level)
		level = cfg->max_page_level;
	/* Shadow paging's budget of shadow page tables, out of the VM's share of the host: one 4 KiB table per 64 KiB
	 * of guest RAM (1/16 of it) and at least 1024; when it runs out every root goes and the vCPUs rebuild. */
	bool shadow = !virt_tdp || cfg->shadow_paging;
	u64 shadow_pages = shadow ? MAX(1024ULL, (cfg->mem_bytes >> PAGE_SHIFT) / 16) : 0;
	mmu_init(&vm->mmu, virt_ops->tdp_format(), level, &vm_mmu_ops, vm, shadow_pages);
	vm->mmu.shadow.allow_unsync = hv_opts.shadow_unsync;
	vm->mmu.exclusive_faults = hv_opts.mmu_lock == MMU_LOCK_EXCLUSIVE;
	vm->mmu.age_flush = cfg->age_flush == VM_AGE_FLUSH_DEFAULT ? hv_opts.age_flush : cfg->age_flush == VM_AGE_FLUSH_ON;
	if (vm->mmu.age_flush)
		vm_log(vm, LOG_INFO, "aging: a TLB flush of every vCPU after each pass that made a page old (%s)\n",
		       cfg->age_flush == VM_AGE_FLUSH_ON ? "age_flush=on" : "hv.age_flush=1");
	if (shadow)
		vm_log(vm, LOG_INFO, "MMU: shadow paging (%s), budget %llu shadow pages\n",
		       virt_tdp ? "tdp=0 on its module line" : virt_shadow_reason, (unsigned long long)shadow_pages);
	else
		vm_log(vm, LOG_INFO, "MMU: TDP (%s), pages up to %s, faults %s\n",
		       virt_ops != &vmx_virt_ops ? "NPT" : vm->mmu.fmt->ad_enabled ? "EPT" : "EPT without A/D",
		       level >= 3 ? "1G" : level == 2 ? "2M" : "4K",
		       vm->mmu.exclusive_faults ? "one at a time (hv.mmu_lock=exclusive)" : "in parallel");
	r = add_ram(vm, cfg->mem_bytes, &layout);
	if (r == -ENOMEM)
		return r; /* vm/sched.c says whether the VM waits for another's memory or can never fit */
	if (r) {
		vm_log(vm, LOG_ERR, "cannot add %llu MiB of guest RAM (%d)\n",
		       (unsigned long long)(cfg->mem_bytes >> 20), r);
		return r;
	}

	r = protect_init(vm, cfg);
	if (r)
		return r;
	r = ws_init(vm, cfg);
	if (r)
		return r; /* -ENOMEM: as for guest RAM */

	vm->nr_vcpus = cfg->cpus;
	char vendor[13];
	cpu_get_vendor(vendor); /* the guest's CPUID vendor is the host's */
	bool amd = !strcmp(vendor, "AuthenticAMD") || !strcmp(vendor, "HygonGenuine");
	for (u32 i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *t = kzalloc(sizeof(*t));
		if (!t)
			return -ENOMEM;
		t->vm = vm;
		t->id = i;
		t->wait_sipi = i != 0; /* APs wait for the BSP's INIT-SIPI-SIPI, as on a PC */
		msr_arch_init(&t->msrs, amd);
		vm->vcpus[i] = t;
		t->lapic = vcpu_lapic_create(t);
		if (!t->lapic)
			return -ENOMEM;
	}
	struct vcpu *v = vm->vcpus[0];
	r = vm_devices_init(vm);
	if (r) {
		vm_log(vm, LOG_ERR, "device setup failed (%d)\n", r);
		return r;
	}
	/* vCPU 0 is built here, on its CPU; the others on theirs (run_ap_vcpu). */
	r = virt_ops->vcpu_create(v);
	if (!r)
		protect_vcpu_init(v);
	if (r) {
		vm_log(vm, LOG_ERR, "vCPU setup failed (%d)\n", r);
		return r;
	}

	memset(&st, 0, sizeof(st));
	if (linux_is_bzimage(phys_to_virt(cfg->kernel_start), cfg->kernel_end - cfg->kernel_start))
		r = load_linux(vm, cfg, &layout, &st);
	else
		r = load_multiboot(vm, cfg, &layout, &st);
	if (r)
		return r; /* the loader said which check failed */
	if (cfg->net[0]) { /* on the PCI bus the PC platform built with the loader */
		r = vnet_vm_create(vm, cfg->net);
		if (r)
			return r;
	}
	/* Sealed once the loader has written the image through the direct map: from here its RAM is the guest's. */
	if (cfg->private_mem) {
		r = vm_private_seal(vm);
		if (r)
			return r;
	}
	exit_handlers_check();
	vm_cpuid_init(vm, amd); /* every input known: the vendor, the host's features, the shared bit */
	virt_ops->vcpu_set_state(v, &st);
	return 0;
}

void vm_destroy(struct vm *vm)
{
	vnet_vm_destroy(vm); /* off the switch while its RAM is still there: a peer may be delivering into it */
	/* In three passes: dropping roots and destroying the MMU flush every vCPU's TLB (vm_make_all_vcpus_request),
	 * which must still find each struct vcpu there. */
	for (u32 i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = vm->vcpus[i];
		if (!v)
			continue;
		if (v->arch)
			virt_ops->vcpu_destroy(v);
		if (vm->mmu.ops)
			mmu_vcpu_put_roots(&vm->mmu, &v->mmu);
	}
	mmu_destroy(&vm->mmu);
	protect_destroy(vm);
	ws_destroy(vm);
	for (u32 i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = vm->vcpus[i];
		if (!v)
			continue;
		vm->vcpus[i] = NULL;
		vcpu_lapic_destroy(v->lapic);
		kfree(v);
	}
	vm_devices_destroy(vm);
	vm_disks_destroy(vm);
	kfree(vm);
}
