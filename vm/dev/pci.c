/*
 * The PCI bus of a VM (pci.h): configuration mechanism 1, configuration space semantics (writable masks, sizable
 * and movable BARs, the command register's decode enables, the capability list) and the MMIO window dispatch.
 */
#include "hv/errno.h"
#include "hv/log.h"
#include "hv/platform.h"
#include "hv/string.h"
#include "vm/dev/pci.h"
#include "vm/io.h"
#include "vm/vm.h"

/* The host bridge: Intel's Q35 MCH (QEMU q35 has the same ids), a plain type 0 header with nothing to decode. */
#define HOST_BRIDGE_VENDOR 0x8086
#define HOST_BRIDGE_DEVICE 0x29c0
#define PCI_CLASS_HOST_BRIDGE 0x060000

static void put16(u8 *p, u16 v) { memcpy(p, &v, 2); }
static void put32(u8 *p, u32 v) { memcpy(p, &v, 4); }
static u32 get32(const u8 *p) { u32 v; memcpy(&v, p, 4); return v; }

void pci_dev_init(struct pci_dev *d, u16 vendor, u16 device, u8 revision, u32 class_code, u16 subsys_vendor,
		  u16 subsys_id)
{
	put16(d->cfg + PCI_VENDOR_ID, vendor);
	put16(d->cfg + PCI_DEVICE_ID, device);
	d->cfg[PCI_REVISION] = revision;
	d->cfg[PCI_CLASS_PROG] = (u8)class_code;
	d->cfg[PCI_CLASS_PROG + 1] = (u8)(class_code >> 8);
	d->cfg[PCI_CLASS_PROG + 2] = (u8)(class_code >> 16);
	put16(d->cfg + PCI_SUBSYS_VENDOR, subsys_vendor);
	put16(d->cfg + PCI_SUBSYS_ID, subsys_id);
	/* Command: I/O and memory decode, bus master, INTx disable; SERR and parity response are kept too. */
	put16(d->wmask + PCI_COMMAND, PCI_CMD_IO | PCI_CMD_MEM | PCI_CMD_MASTER | 0x0040 | 0x0100 | PCI_CMD_INTX_OFF);
	d->wmask[PCI_INTERRUPT_LINE] = 0xff;
	d->cfg[PCI_INTERRUPT_PIN] = 1; /* INTA# */
	/* BAR registers are handled apart (pci_bar_write); the ROM BAR is absent: reads 0, not writable. */
}

u8 pci_cap_add(struct pci_dev *d, const u8 *body, u8 len, const u8 *wmask_body)
{
	u8 *link = &d->cfg[PCI_CAP_PTR];
	u32 at = d->cap_end ? (d->cap_end + 3u) & ~3u : 0x40;

	if (len < 2 || at + len > sizeof(d->cfg))
		return 0;
	while (*link) /* the list's last next pointer */
		link = &d->cfg[*link + 1];
	memcpy(d->cfg + at, body, len);
	d->cfg[at + 1] = 0;
	if (wmask_body)
		memcpy(d->wmask + at, wmask_body, len);
	d->wmask[at] = d->wmask[at + 1] = 0; /* the id and the list are read-only */
	*link = (u8)at;
	d->cap_end = (u8)(at + len);
	put16(d->cfg + PCI_STATUS, PCI_STATUS_CAP_LIST);
	return (u8)at;
}

/* The dword of configuration space at off (4-aligned), BARs computed from bar[]. Bus lock held. */
static u32 cfg_read32(const struct pci_dev *d, u32 off)
{
	if (off >= PCI_BAR0 && off < PCI_BAR0 + 24) {
		u32 i = (off - PCI_BAR0) / 4;
		if (d->bar[i].size)
			return (u32)d->bar[i].addr | (d->bar[i].mem64 ? PCI_BAR_MEM64 : 0);
		if (i > 0 && d->bar[i - 1].mem64)
			return (u32)(d->bar[i - 1].addr >> 32);
		return 0;
	}
	return get32(d->cfg + off);
}

/* A BAR register write of the whole dword val: the address bits below the size read back as 0, so writing all
 * ones and reading back gives the size (PCI 3.0, 6.2.5.1); the high dword of a 64-bit BAR is all address. */
static void bar_write32(struct pci_dev *d, u32 i, u32 val)
{
	if (d->bar[i].size) {
		u64 mask = ~(d->bar[i].size - 1) & 0xffffffffULL;
		d->bar[i].addr = (d->bar[i].addr & ~0xffffffffULL) | (val & mask);
	} else if (i > 0 && d->bar[i - 1].mem64) {
		struct pci_bar *b = &d->bar[i - 1];
		u64 hi_mask = ~(b->size - 1) >> 32;
		b->addr = (b->addr & 0xffffffffULL) | ((u64)(val & hi_mask) << 32);
	}
}

/* Write size bytes of val at off (within one dword): merged into the dword under the writable mask. */
static void cfg_write(struct pci_dev *d, u32 off, unsigned int size, u32 val)
{
	u32 base = off & ~3u, shift = 8 * (off & 3);
	u32 bytes = (size == 4 ? 0xffffffffu : ((1u << (8 * size)) - 1)) << shift;

	val <<= shift;
	if (base >= PCI_BAR0 && base < PCI_BAR0 + 24) {
		u32 cur = cfg_read32(d, base);
		bar_write32(d, (base - PCI_BAR0) / 4, (cur & ~bytes) | (val & bytes));
		return;
	}
	u32 wm = get32(d->wmask + base) & bytes;
	u32 cur = get32(d->cfg + base);
	put32(d->cfg + base, (cur & ~wm) | (val & wm));
	if (d->ops && d->ops->config_written)
		d->ops->config_written(d, off, size);
}

static struct pci_dev *dev_at(struct pci_bus *bus, u8 busno, u8 slot, u8 fn)
{
	if (busno != 0 || fn != 0 || slot >= PCI_MAX_DEVS)
		return NULL; /* one bus, single-function devices: the rest is hidden and reads all ones */
	return bus->dev[slot];
}

static bool access_ok(u8 off, unsigned int size)
{
	return (size == 1 || size == 2 || size == 4) && (off & 3) + size <= 4 && !(off & (size - 1));
}

static u32 size_mask(unsigned int size)
{
	return size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
}

u32 pci_config_read(struct pci_bus *bus, u8 busno, u8 slot, u8 fn, u8 off, unsigned int size)
{
	u32 v = 0xffffffffu;

	if (!access_ok(off, size))
		return size_mask(size);
	spin_lock(&bus->lock);
	struct pci_dev *d = dev_at(bus, busno, slot, fn);
	if (d)
		v = cfg_read32(d, off & ~3u) >> (8 * (off & 3));
	spin_unlock(&bus->lock);
	return v & size_mask(size);
}

void pci_config_write(struct pci_bus *bus, u8 busno, u8 slot, u8 fn, u8 off, unsigned int size, u32 val)
{
	if (!access_ok(off, size))
		return;
	spin_lock(&bus->lock);
	struct pci_dev *d = dev_at(bus, busno, slot, fn);
	if (d)
		cfg_write(d, off, size, val & size_mask(size));
	spin_unlock(&bus->lock);
}

/* ---- mechanism 1: 0xcf8 (dword only, as on the PIIX/ICH: narrower accesses there are not CONFIG_ADDRESS) ---- */

#define CFG_ENABLE 0x80000000u

static int cf8_read(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 *val)
{
	struct pci_bus *bus = dev;
	if (size == 4)
		*val = __atomic_load_n(&bus->config_address, __ATOMIC_RELAXED);
	return 0;
}

static int cf8_write(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 val)
{
	struct pci_bus *bus = dev;
	if (size == 4) /* bits 30:24 reserved and 1:0 zero: they read back as 0 */
		__atomic_store_n(&bus->config_address, (u32)val & 0x80fffffcu, __ATOMIC_RELAXED);
	return 0;
}

/* The register the current CONFIG_ADDRESS selects, and whether the access falls within 0xcfc-0xcff. */
static bool cfc_target(struct pci_bus *bus, u64 port, unsigned int *size, u32 *ca, u8 *off)
{
	*ca = __atomic_load_n(&bus->config_address, __ATOMIC_RELAXED);
	if (!(*ca & CFG_ENABLE))
		return false; /* a plain I/O port then: nothing decodes it */
	u32 lane = (u32)(port - PCI_CONFIG_DATA);
	if (lane + *size > 4)
		return false;
	*off = (u8)((*ca & 0xfc) + lane);
	return true;
}

static int cfc_read(struct vcpu *v, void *dev, u64 port, unsigned int size, u64 *val)
{
	struct pci_bus *bus = dev;
	u32 ca;
	u8 off;
	if (cfc_target(bus, port, &size, &ca, &off))
		*val = pci_config_read(bus, (u8)(ca >> 16), (ca >> 11) & 31, (ca >> 8) & 7, off, size);
	return 0;
}

static int cfc_write(struct vcpu *v, void *dev, u64 port, unsigned int size, u64 val)
{
	struct pci_bus *bus = dev;
	u32 ca;
	u8 off;
	if (cfc_target(bus, port, &size, &ca, &off))
		pci_config_write(bus, (u8)(ca >> 16), (ca >> 11) & 31, (ca >> 8) & 7, off, size, (u32)val);
	return 0;
}

static const struct io_handler cf8_ops = { .name = "pci-cf8", .read = cf8_read, .write = cf8_write };
static const struct io_handler cfc_ops = { .name = "pci-cfc", .read = cfc_read, .write = cfc_write };

/* ---- the MMIO window ---- */

/* The device and BAR decoding gpa now, and the offset into it; NULL when none does. */
static struct pci_dev *bar_decoding(struct pci_bus *bus, u64 gpa, int *bar, u64 *off)
{
	struct pci_dev *found = NULL;

	spin_lock(&bus->lock);
	for (u32 s = 0; s < PCI_MAX_DEVS && !found; s++) {
		struct pci_dev *d = bus->dev[s];
		if (!d || !(d->cfg[PCI_COMMAND] & PCI_CMD_MEM))
			continue;
		for (int i = 0; i < 6; i++) {
			const struct pci_bar *b = &d->bar[i];
			if (b->size && gpa >= b->addr && gpa - b->addr < b->size) {
				found = d;
				*bar = i;
				*off = gpa - b->addr;
				break;
			}
		}
	}
	spin_unlock(&bus->lock);
	return found;
}

int pci_mmio_read(struct pci_bus *bus, u64 gpa, unsigned int size, u64 *val)
{
	int bar;
	u64 off;
	struct pci_dev *d = bar_decoding(bus, gpa, &bar, &off);

	*val = ~0ULL;
	if (!d || !d->ops || !d->ops->bar_read) {
		__atomic_fetch_add(&bus->unclaimed, 1, __ATOMIC_RELAXED);
		return 0;
	}
	return d->ops->bar_read(d, bar, off, size, val);
}

int pci_mmio_write(struct pci_bus *bus, u64 gpa, unsigned int size, u64 val)
{
	int bar;
	u64 off;
	struct pci_dev *d = bar_decoding(bus, gpa, &bar, &off);

	if (!d || !d->ops || !d->ops->bar_write) {
		__atomic_fetch_add(&bus->unclaimed, 1, __ATOMIC_RELAXED);
		return 0;
	}
	return d->ops->bar_write(d, bar, off, size, val);
}

static int window_read(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 *val)
{
	return pci_mmio_read(dev, addr, size, val);
}

static int window_write(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 val)
{
	return pci_mmio_write(dev, addr, size, val);
}

static const struct io_handler window_ops = { .name = "pci-mmio", .read = window_read, .write = window_write };

/* ---- the bus ---- */

int pci_dev_add(struct pci_bus *bus, struct pci_dev *d)
{
	u32 slot;

	for (slot = 1; slot < PCI_MAX_DEVS && bus->dev[slot]; slot++)
		;
	if (slot >= PCI_MAX_DEVS)
		return -ENOSPC;
	/* Firmware's job: each BAR naturally aligned in the window, in order. */
	u64 at = bus->next_mmio;
	for (int i = 0; i < 6; i++) {
		struct pci_bar *b = &d->bar[i];
		if (!b->size)
			continue;
		BUG_ON(b->size & (b->size - 1) || b->size < 16 || (b->mem64 && i == 5));
		u64 addr = (at + b->size - 1) & ~(b->size - 1);
		if (addr + b->size > PCI_MMIO_END)
			return -ENOSPC;
		b->addr = addr;
		at = addr + b->size;
	}
	bus->next_mmio = at;
	d->slot = (u8)slot;
	d->bus = bus;
	d->cfg[PCI_INTERRUPT_LINE] = (u8)pci_slot_gsi(d->slot);
	spin_lock(&bus->lock);
	bus->dev[slot] = d;
	spin_unlock(&bus->lock);
	return 0;
}

void pci_bus_destroy(struct vm *vm)
{
	struct pci_bus *bus = pci_bus_of(vm);

	if (!bus)
		return;
	for (u32 s = 1; s < PCI_MAX_DEVS; s++) {
		struct pci_dev *d = bus->dev[s];
		bus->dev[s] = NULL;
		if (d && d->ops && d->ops->destroy)
			d->ops->destroy(d);
	}
}

struct pci_bus *pci_bus_of(struct vm *vm)
{
	return vm->devices[VM_DEV_PCI];
}

int pci_bus_init(struct vm *vm)
{
	if (vm->devices[VM_DEV_PCI])
		return -EEXIST;
	struct pci_bus *bus = kzalloc(sizeof(*bus));
	if (!bus)
		return -ENOMEM;
	vm->devices[VM_DEV_PCI] = bus;
	bus->vm = vm;
	bus->next_mmio = PCI_MMIO_BASE;
	struct pci_dev *hb = &bus->host_bridge;
	pci_dev_init(hb, HOST_BRIDGE_VENDOR, HOST_BRIDGE_DEVICE, 0, PCI_CLASS_HOST_BRIDGE, 0x1af4, 0x1100);
	hb->cfg[PCI_INTERRUPT_PIN] = 0;
	hb->wmask[PCI_INTERRUPT_LINE] = 0;
	hb->cfg[PCI_COMMAND] = PCI_CMD_IO | PCI_CMD_MEM; /* a host bridge decodes from reset */
	hb->bus = bus;
	bus->dev[0] = hb;

	int r = io_bus_register(&vm->pio, PCI_CONFIG_ADDRESS, 1, &cf8_ops, bus);
	if (!r)
		r = io_bus_register(&vm->pio, PCI_CONFIG_DATA, 4, &cfc_ops, bus);
	if (!r)
		r = io_bus_register(&vm->mmio, PCI_MMIO_BASE, PCI_MMIO_END - PCI_MMIO_BASE, &window_ops, bus);
	return r;
}
