/* The guest's ACPI platform: the static tables built into guest memory (acpi_tables.c) and the PM register block plus
 * reset port that those tables describe (acpi_pm.c). Both take the same struct acpi_build_cfg, so the FADT cannot name
 * a port the device model does not decode, nor a sleep type it does not act on. */
#ifndef VM_DEV_ACPI_TABLES_H
#define VM_DEV_ACPI_TABLES_H

#include "vm/vm.h"

/*
 * PM register block at cfg->pm_port (ACPI_PM_PORTS ports), the layout the FADT publishes:
 *   +0  PM1_STS  16 bits, write 1 to clear: TMR_STS 0, GBL_STS 5, PWRBTN_STS 8, SLPBTN_STS 9, RTC_STS 10, WAK_STS 15
 *   +2  PM1_EN   16 bits: TMR_EN 0, GBL_EN 5, PWRBTN_EN 8, SLPBTN_EN 9, RTC_EN 10, PCIEXP_WAKE_DIS 14
 *   +4  PM1_CNT  16 bits: SCI_EN 0 (always 1: there is no SMI_CMD, ACPI mode is permanent), BM_RLD 1, SLP_TYP 12:10,
 *                SLP_EN 13 (write-only). SLP_EN with SLP_TYP == ACPI_SLP_TYP_S5 powers the VM off.
 *   +6  (undecoded: reads all ones)
 *   +8  PM_TMR   32 bits, read-only, 3.579545 MHz (FADT TMR_VAL_EXT), derived from the TSC
 * Any access size at any offset works byte-wise, as on a chipset; bytes past the block read all ones.
 *
 * Reset control register at cfg->reset_port (one port, like the PIIX/ICH RCR at 0xcf9): a write with bit 2 (RST_CPU)
 * set resets the machine, which ends the VM with VM_END_RESET and the byte written as the status; bits 1 (SYS_RST)
 * and 3 (FULL_RST) are kept and read back. Wider accesses reach it through their first byte only.
 */
#define ACPI_PM_PORTS	 12
#define ACPI_PM1_STS	 0
#define ACPI_PM1_EN	 2
#define ACPI_PM1_CNT	 4
#define ACPI_PM_TMR	 8
#define ACPI_PM_TMR_HZ	 3579545ULL
#define ACPI_PM1_EVT_LEN 4
#define ACPI_PM1_CNT_LEN 2
#define ACPI_PM_TMR_LEN	 4

#define ACPI_PM1_TMR_STS    BIT(0)
#define ACPI_PM1_GBL_STS    BIT(5)
#define ACPI_PM1_PWRBTN_STS BIT(8)
#define ACPI_PM1_SLPBTN_STS BIT(9)
#define ACPI_PM1_RTC_STS    BIT(10)
#define ACPI_PM1_PCIEXP_STS BIT(14)
#define ACPI_PM1_WAK_STS    BIT(15)
/* PM1_EN bits sit at the same positions as the status bits they enable. */
#define ACPI_PM1_TMR_EN		 BIT(0)
#define ACPI_PM1_GBL_EN		 BIT(5)
#define ACPI_PM1_PWRBTN_EN	 BIT(8)
#define ACPI_PM1_SLPBTN_EN	 BIT(9)
#define ACPI_PM1_RTC_EN		 BIT(10)
#define ACPI_PM1_PCIEXP_WAKE_DIS BIT(14)
#define ACPI_PM1_SCI_EN		 BIT(0)
#define ACPI_PM1_BM_RLD		 BIT(1)
#define ACPI_PM1_GBL_RLS	 BIT(2)
#define ACPI_PM1_SLP_TYP_SHIFT	 10
#define ACPI_PM1_SLP_TYP_MASK	 (7u << ACPI_PM1_SLP_TYP_SHIFT)
#define ACPI_PM1_SLP_EN		 BIT(13)

/* SLP_TYP for soft-off, published as \_S5 = Package { 5, 5, 0, 0 }. Any value works as long as the DSDT and the
 * device agree; 5 mirrors the state's number, so a trace of PM1_CNT writes reads naturally. */
#define ACPI_SLP_TYP_S5 5

#define ACPI_RESET_RST_CPU BIT(2)

/* 255 Processor Local APIC entries with 8-bit APIC IDs 0..254; 0xff is the broadcast ID. */
#define ACPI_MAX_VCPUS 255

struct acpi_build_cfg {
	gpa_t base;	 /* table area [base, base + len): guest RAM below 4 GiB, e820 ACPI or reserved */
	u64 len;	 /* the RSDP goes at base rounded up to 16, so scanning 0xe0000-0xfffff finds it */
	u32 nr_vcpus;	 /* 1..ACPI_MAX_VCPUS; APIC IDs and ACPI processor UIDs 0..n-1 */
	u32 ioapic_addr; /* 0xfec00000 */
	u8 ioapic_id;
	u32 ioapic_gsi_base; /* 0: vm_set_irq wires ISA IRQ n to pin n (IRQ0 to pin 2) */
	u16 pm_port;	     /* PM block base, e.g. 0x600; ACPI_PM_PORTS ports */
	u8 sci_irq;	     /* ISA IRQ of the SCI (9): 1..15 but not 2, level-triggered, active high */
	u16 reset_port;	     /* 0xcf9 */
	u8 reset_value;	     /* 0x06; must have ACPI_RESET_RST_CPU set */
	bool has_i8042;	     /* IAPC_BOOT_ARCH 8042: Linux probes the keyboard controller only when set */
	bool has_rtc;	     /* clear: IAPC_BOOT_ARCH "CMOS RTC not present" */
	bool has_vga;	     /* clear: IAPC_BOOT_ARCH "VGA not present" (do not probe 0x3c0/0xa0000) */
	/* The HPET table, when hpet_addr is not 0: the block's address, the low 32 bits of its GCAP_ID, and the
	 * shortest period in ticks a periodic timer gives interrupts at. */
	u32 hpet_addr;
	u32 hpet_block_id;
	u16 hpet_min_tick;
	/* The PCI host bridge (vm/dev/pci.h), when pci_mmio_end is not 0: \_SB.PCI0 (PNP0A03, bus 0, mechanism 1 at
	 * 0xcf8) whose _CRS forwards the I/O ports and the memory window [pci_mmio_base, pci_mmio_end), and whose
	 * _PRT routes INTA of slot s to GSI pci_gsi_base + s % 8 (level, active low, the ACPI default for _PRT). */
	u32 pci_mmio_base, pci_mmio_end;
	u32 pci_gsi_base;
	/* The PM timer's TSC source, NULL for rdtsc(). Unit tests pass a fake clock. The rate is vm->tsc_hz. */
	u64 (*now)(void);
};

/* 0 if cfg's platform fields (everything but base and len) are usable by both functions below, else -EINVAL. */
int acpi_build_cfg_check(const struct acpi_build_cfg *cfg);

/*
 * Build RSDP, XSDT, RSDT, FADT, FACS, MADT, DSDT and (with hpet_addr) HPET into guest memory inside
 * [cfg->base, cfg->base + cfg->len) and return the RSDP's address in *rsdp_gpa. The DSDT holds \_SB.Cxxx processor
 * devices (_HID ACPI0007, _UID matching the MADT) and \_S5. 0, -EINVAL for a bad cfg, -ENOSPC if the tables do not fit, -ENOMEM, or vm_write_gpa's error.
 */
int acpi_tables_build(struct vm *vm, const struct acpi_build_cfg *cfg, u64 *rsdp_gpa);

/*
 * Create the PM block and the reset port on vm->pio (layout above). The state is one allocation, handed back in
 * *state_out as soon as it exists, even when a registration then fails (a range may already point at it): the caller
 * keeps it in vm->devices[] so the VM's teardown kfree()s it, and a VM whose init failed must not run. 0, -EINVAL
 * (bad cfg, vm->tsc_hz 0 or above 2^64 / ACPI_PM_TMR_HZ), -ENOMEM, or io_bus_register's error.
 */
int acpi_pm_dev_init(struct vm *vm, const struct acpi_build_cfg *cfg, void **state_out);

/*
 * Press the power button: sets PWRBTN_STS, and the SCI rises if the guest set PWRBTN_EN (Linux's button driver does,
 * then shuts down in an orderly way). Returns whether the event was enabled, so a caller can fall back to ending the
 * VM. Any CPU may call it: it takes the device's lock, so the caller must hold no interrupt controller's lock.
 */
bool acpi_pm_power_button(void *state);

#endif
