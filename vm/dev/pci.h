/*
 * The VM's PCI bus: one host bridge at 00:00.0 and up to 31 single-function devices on bus 0, reached by
 * configuration mechanism 1 (ports 0xcf8/0xcfc, PCI Local Bus 3.0, 3.2.2.3.2). Linux finds it through the DSDT's
 * PCI0 (vm/dev/acpi_tables.c) and uses mechanism 1 for configuration: without an MCFG it needs no ECAM, and the
 * functions have nothing past 256 bytes of configuration space.
 *
 * Memory BARs decode inside one MMIO window below 4 GiB, [PCI_MMIO_BASE, PCI_MMIO_END), registered once on vm->mmio:
 * the bus dispatches each access to the BAR that decodes it now (its address as the guest last programmed it, memory
 * decoding on in the command register), and an address no BAR decodes reads all ones. A BAR the guest moves outside
 * the window decodes nothing (the host bridge forwards only its window, as the _CRS says). BARs are given addresses
 * in the window when a device is added, as firmware does, so a guest that does not assign resources finds them.
 * Only memory BARs exist (the virtio transport needs no I/O BAR).
 */
#ifndef VM_DEV_PCI_H
#define VM_DEV_PCI_H

#include "hv/spinlock.h"
#include "hv/types.h"

struct vm;
struct vcpu;

#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA	   0xcfc
/* The window: above the largest low RAM a VM has (3 GiB, vm/config.h), below the IOAPIC, HPET and LAPIC. */
#define PCI_MMIO_BASE 0xc0000000ULL
#define PCI_MMIO_END  0xfec00000ULL
#define PCI_MAX_DEVS  32 /* slots on bus 0; slot 0 is the host bridge */

/* Configuration space registers (type 0 header). */
#define PCI_VENDOR_ID	    0x00
#define PCI_DEVICE_ID	    0x02
#define PCI_COMMAND	    0x04
#define PCI_STATUS	    0x06
#define PCI_REVISION	    0x08
#define PCI_CLASS_PROG	    0x09
#define PCI_HEADER_TYPE	    0x0e
#define PCI_BAR0	    0x10
#define PCI_SUBSYS_VENDOR   0x2c
#define PCI_SUBSYS_ID	    0x2e
#define PCI_ROM_ADDRESS	    0x30
#define PCI_CAP_PTR	    0x34
#define PCI_INTERRUPT_LINE  0x3c
#define PCI_INTERRUPT_PIN   0x3d
#define PCI_CMD_IO	    0x0001
#define PCI_CMD_MEM	    0x0002
#define PCI_CMD_MASTER	    0x0004
#define PCI_CMD_INTX_OFF    0x0400
#define PCI_STATUS_INTX	    0x0008
#define PCI_STATUS_CAP_LIST 0x0010
#define PCI_BAR_MEM64	    0x4
#define PCI_CAP_ID_VNDR	    0x09
#define PCI_CAP_ID_MSIX	    0x11

struct pci_dev;

/* A device model's side. BAR accesses come with the offset into the BAR, size 1, 2, 4 or 8, no bus lock held.
 * config_written (optional) runs after the guest wrote [off, off+len) of configuration space, with the bus lock held
 * (it may read d->cfg, it must not take a lock the MMIO handlers hold around a config access: none do). */
struct pci_dev_ops {
	int (*bar_read)(struct pci_dev *d, int bar, u64 off, unsigned int size, u64 *val);
	int (*bar_write)(struct pci_dev *d, int bar, u64 off, unsigned int size, u64 val);
	void (*config_written)(struct pci_dev *d, u32 off, u32 len);
	/* Optional: the VM is torn down (its vCPUs are gone): free what the device allocated, d included. */
	void (*destroy)(struct pci_dev *d);
};

struct pci_bar {
	u64 size; /* a power of two >= 16, or 0: no BAR (constant) */
	u64 addr; /* as the guest programmed it (bus lock) */
	bool mem64;
};

struct pci_dev {
	u8 cfg[256];   /* configuration space; the BAR registers are computed from bar[] (bus lock) */
	u8 wmask[256]; /* bits the guest may write (constant) */
	u8 slot;       /* constant */
	u8 cap_end;    /* the byte past the last capability, 0 before the first (creation only) */
	struct pci_bar bar[6];
	const struct pci_dev_ops *ops;
	void *priv;
	struct pci_bus *bus;
};

struct pci_bus {
	spinlock_t lock;	  /* covers config_address and every device's cfg[] and bar[].addr */
	u32 config_address;	  /* the last dword written to 0xcf8 */
	struct pci_dev *dev[PCI_MAX_DEVS]; /* constant once the VM runs */
	struct pci_dev host_bridge;
	u64 next_mmio;		  /* where the next BAR is placed at creation */
	struct vm *vm;
	u64 unclaimed;		  /* window accesses no BAR decoded (atomic) */
};

/* Create the bus with its host bridge, register 0xcf8, 0xcfc-0xcff and the MMIO window (vm->devices[VM_DEV_PCI]).
 * 0, -EEXIST, -ENOMEM, or the io_bus_register error. */
int pci_bus_init(struct vm *vm);
/* Destroy every device on the bus (their ops->destroy); the bus itself is freed with vm->devices[]. */
void pci_bus_destroy(struct vm *vm);
/* The VM's bus, or NULL (not a PC platform VM). */
struct pci_bus *pci_bus_of(struct vm *vm);

/* Set up d (zeroed by the caller) as a header-type-0 function: ids, class, the interrupt pin (INTA) and the line
 * the _PRT routes its slot to. The caller then fills capabilities and BAR sizes and calls pci_dev_add. */
void pci_dev_init(struct pci_dev *d, u16 vendor, u16 device, u8 revision, u32 class_code, u16 subsys_vendor,
		  u16 subsys_id);
/* Append a capability of len bytes (id, next pointer and body in body[0..len)) at the next free offset >= 0x40
 * (4-byte aligned); returns its offset, or 0 when it does not fit. wmask_body gives its writable bits (may be NULL). */
u8 pci_cap_add(struct pci_dev *d, const u8 *body, u8 len, const u8 *wmask_body);
/* Put d in the first free slot, assign its BARs in the window. 0, -ENOSPC. */
int pci_dev_add(struct pci_bus *bus, struct pci_dev *d);

/* Deliver an MSI/MSI-X message (address, data) to the vLAPICs, as the IOAPIC delivers its messages (vm/launch.c).
 * A message outside 0xfee00000-0xfeefffff is dropped. Any CPU, no IOAPIC lock held; returns the LAPICs reached. */
int vm_msi_deliver(struct vm *vm, u64 addr, u32 data);

/* The GSI (IOAPIC pin) a slot's INTA is routed to: 16 + slot % 8, as the DSDT's _PRT says. */
static inline unsigned int pci_slot_gsi(u8 slot)
{
	return 16 + slot % 8;
}

/* Configuration space access by bus/slot/function and register, as mechanism 1 does it (for unit tests and the
 * port handlers): size 1, 2 or 4 within one dword. Absent functions read all ones and drop writes. */
u32 pci_config_read(struct pci_bus *bus, u8 busno, u8 slot, u8 fn, u8 off, unsigned int size);
void pci_config_write(struct pci_bus *bus, u8 busno, u8 slot, u8 fn, u8 off, unsigned int size, u32 val);
/* An access to the MMIO window, as vm->mmio dispatches it (for unit tests too). */
int pci_mmio_read(struct pci_bus *bus, u64 gpa, unsigned int size, u64 *val);
int pci_mmio_write(struct pci_bus *bus, u64 gpa, unsigned int size, u64 val);

#endif
