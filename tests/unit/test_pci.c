/* The VM's PCI bus (vm/dev/pci.c) through the ports the guest uses: configuration mechanism 1 (PCI Local Bus 3.0,
 * 3.2.2.3.2), BAR sizing and moving (6.2.5.1), the command register's memory enable, the capability list, and the
 * MMIO window's dispatch to whichever BAR decodes an address now. */
#include <string.h>

#include "fake_vm.h"
#include "hv/errno.h"
#include "test.h"
#include "vm/dev/pci.h"
#include "vm/io.h"

static struct vm vm;
static struct pci_bus *bus;

static u64 last_off, last_val;
static int last_bar, reads, writes;

static int t_bar_read(struct pci_dev *d, int bar, u64 off, unsigned int size, u64 *val)
{
	reads++;
	last_bar = bar;
	last_off = off;
	*val = 0x1234000000000000ull | off;
	return 0;
}

static int t_bar_write(struct pci_dev *d, int bar, u64 off, unsigned int size, u64 val)
{
	writes++;
	last_bar = bar;
	last_off = off;
	last_val = val;
	return 0;
}

static const struct pci_dev_ops t_ops = { .bar_read = t_bar_read, .bar_write = t_bar_write };
static struct pci_dev tdev;

static void setup(void)
{
	fake_vm_init(&vm, 0);
	CHECK_EQ(pci_bus_init(&vm), 0);
	bus = pci_bus_of(&vm);
	CHECK(bus);
	memset(&tdev, 0, sizeof(tdev));
	reads = writes = 0;
}

static u32 pio_in(u16 port, unsigned int size)
{
	u64 v;
	CHECK_EQ(io_bus_read(&vm.pio, NULL, port, size, &v), 0);
	return (u32)v;
}

static void pio_out(u16 port, unsigned int size, u32 v)
{
	CHECK_EQ(io_bus_write(&vm.pio, NULL, port, size, v), 0);
}

static u32 cfg_in(u8 slot, u8 off, unsigned int size)
{
	pio_out(0xcf8, 4, 0x80000000u | (u32)slot << 11 | (off & 0xfc));
	return pio_in(0xcfc + (off & 3), size);
}

static void cfg_out(u8 slot, u8 off, unsigned int size, u32 v)
{
	pio_out(0xcf8, 4, 0x80000000u | (u32)slot << 11 | (off & 0xfc));
	pio_out(0xcfc + (off & 3), size, v);
}

TEST(host_bridge_by_mechanism_1)
{
	setup();
	CHECK_EQ(cfg_in(0, 0, 4), 0x29c08086);
	CHECK_EQ(cfg_in(0, 2, 2), 0x29c0);
	CHECK_EQ(cfg_in(0, 1, 1), 0x80);
	CHECK_EQ(cfg_in(0, 0x08, 4) >> 8, 0x060000); /* class: host bridge */
	CHECK_EQ(cfg_in(0, PCI_HEADER_TYPE, 1), 0);
	/* Read-only registers stay. */
	cfg_out(0, 0, 4, 0);
	CHECK_EQ(cfg_in(0, 0, 4), 0x29c08086);
	fake_vm_destroy(&vm);
}

TEST(config_address_register)
{
	setup();
	pio_out(0xcf8, 4, 0xffffffff);
	CHECK_EQ(pio_in(0xcf8, 4), 0x80fffffc); /* reserved bits 30:24 and 1:0 read 0 */
	pio_out(0xcf8, 4, 0x80000000);
	pio_out(0xcf8, 1, 0x12); /* not CONFIG_ADDRESS: only dwords are */
	CHECK_EQ(pio_in(0xcf8, 4), 0x80000000);
	CHECK_EQ(pio_in(0xcf8, 2), 0xffff);
	/* Enable bit clear: 0xcfc is a plain port that nothing decodes. */
	pio_out(0xcf8, 4, 0x00000000);
	CHECK_EQ(pio_in(0xcfc, 4), 0xffffffff);
	pio_out(0xcfc, 4, 0); /* and a write goes nowhere */
	CHECK_EQ(cfg_in(0, 0, 4), 0x29c08086);
	fake_vm_destroy(&vm);
}

TEST(absent_functions_read_all_ones)
{
	setup();
	CHECK_EQ(cfg_in(5, 0, 4), 0xffffffff);
	CHECK_EQ(cfg_in(31, 0, 2), 0xffff);
	pio_out(0xcf8, 4, 0x80000100); /* 00:00.1 */
	CHECK_EQ(pio_in(0xcfc, 4), 0xffffffff);
	pio_out(0xcf8, 4, 0x80010000); /* bus 1 */
	CHECK_EQ(pio_in(0xcfc, 4), 0xffffffff);
	fake_vm_destroy(&vm);
}

static void add_tdev(void)
{
	pci_dev_init(&tdev, 0x1af4, 0x1041, 1, 0x020000, 0x1af4, 0x0001);
	tdev.ops = &t_ops;
	tdev.bar[0] = (struct pci_bar){ .size = 0x4000, .mem64 = true };
	tdev.bar[2] = (struct pci_bar){ .size = 0x1000 };
	CHECK_EQ(pci_dev_add(bus, &tdev), 0);
	CHECK_EQ(tdev.slot, 1);
}

TEST(device_ids_pin_and_line)
{
	setup();
	add_tdev();
	CHECK_EQ(cfg_in(1, 0, 4), 0x10411af4);
	CHECK_EQ(cfg_in(1, PCI_REVISION, 1), 1);
	CHECK_EQ(cfg_in(1, PCI_SUBSYS_ID, 2), 1);
	CHECK_EQ(cfg_in(1, PCI_INTERRUPT_PIN, 1), 1);
	CHECK_EQ(cfg_in(1, PCI_INTERRUPT_LINE, 1), pci_slot_gsi(1));
	cfg_out(1, PCI_INTERRUPT_LINE, 1, 11);
	CHECK_EQ(cfg_in(1, PCI_INTERRUPT_LINE, 1), 11);
	cfg_out(1, PCI_INTERRUPT_PIN, 1, 3);
	CHECK_EQ(cfg_in(1, PCI_INTERRUPT_PIN, 1), 1);
	fake_vm_destroy(&vm);
}

TEST(command_register_writable_bits)
{
	setup();
	add_tdev();
	cfg_out(1, PCI_COMMAND, 2, 0xffff);
	CHECK_EQ(cfg_in(1, PCI_COMMAND, 2), 0x0547);
	cfg_out(1, PCI_COMMAND, 2, 0);
	CHECK_EQ(cfg_in(1, PCI_COMMAND, 2), 0);
	fake_vm_destroy(&vm);
}

/* 6.2.5.1: write all ones, read back the size mask with the type bits; a 64-bit BAR's high dword is all address. */
TEST(bar_sizing_and_moving)
{
	setup();
	add_tdev();
	u32 lo = cfg_in(1, PCI_BAR0, 4), hi = cfg_in(1, PCI_BAR0 + 4, 4);
	CHECK_EQ(lo, (u32)PCI_MMIO_BASE | PCI_BAR_MEM64); /* assigned at creation, as firmware does */
	CHECK_EQ(hi, 0);
	CHECK_EQ(cfg_in(1, PCI_BAR0 + 8, 4), (u32)PCI_MMIO_BASE + 0x4000);
	cfg_out(1, PCI_BAR0, 4, 0xffffffff);
	cfg_out(1, PCI_BAR0 + 4, 4, 0xffffffff);
	CHECK_EQ(cfg_in(1, PCI_BAR0, 4), 0xffffc004);
	CHECK_EQ(cfg_in(1, PCI_BAR0 + 4, 4), 0xffffffff);
	cfg_out(1, PCI_BAR0 + 8, 4, 0xffffffff);
	CHECK_EQ(cfg_in(1, PCI_BAR0 + 8, 4), 0xfffff000);
	CHECK_EQ(cfg_in(1, PCI_BAR0 + 12, 4), 0); /* absent BARs read 0 and stay 0 */
	cfg_out(1, PCI_BAR0 + 12, 4, 0xffffffff);
	CHECK_EQ(cfg_in(1, PCI_BAR0 + 12, 4), 0);
	CHECK_EQ(cfg_in(1, PCI_ROM_ADDRESS, 4), 0);
	cfg_out(1, PCI_ROM_ADDRESS, 4, 0xffffffff);
	CHECK_EQ(cfg_in(1, PCI_ROM_ADDRESS, 4), 0);
	/* Move: low bits below the size are dropped. */
	cfg_out(1, PCI_BAR0, 4, 0xd0001234);
	cfg_out(1, PCI_BAR0 + 4, 4, 0);
	CHECK_EQ(tdev.bar[0].addr, 0xd0000000);
	/* A byte write changes that byte only. */
	cfg_out(1, PCI_BAR0 + 3, 1, 0xe0);
	CHECK_EQ(tdev.bar[0].addr, 0xe0000000);
	CHECK_EQ(cfg_in(1, PCI_BAR0, 4), 0xe0000004);
	cfg_out(1, PCI_BAR0 + 4, 4, 0x1);
	CHECK_EQ(tdev.bar[0].addr, 0x1e0000000);
	fake_vm_destroy(&vm);
}

TEST(mmio_window_dispatch_follows_bars_and_command)
{
	setup();
	add_tdev();
	u64 v;
	/* Memory decoding off: the window is there but nothing decodes. */
	CHECK_EQ(io_bus_read(&vm.mmio, NULL, PCI_MMIO_BASE + 8, 4, &v), 0);
	CHECK_EQ(v, 0xffffffff);
	CHECK_EQ(reads, 0);
	cfg_out(1, PCI_COMMAND, 2, PCI_CMD_MEM);
	CHECK_EQ(io_bus_read(&vm.mmio, NULL, PCI_MMIO_BASE + 8, 4, &v), 0);
	CHECK_EQ(reads, 1);
	CHECK_EQ(last_bar, 0);
	CHECK_EQ(last_off, 8);
	CHECK_EQ(v, 8); /* the bus keeps the access's 4 bytes */
	CHECK_EQ(io_bus_write(&vm.mmio, NULL, PCI_MMIO_BASE + 0x4010, 2, 0xbeef), 0);
	CHECK_EQ(writes, 1);
	CHECK_EQ(last_bar, 2);
	CHECK_EQ(last_off, 0x10);
	CHECK_EQ(last_val, 0xbeef);
	/* Moved: the old address floats, the new one decodes. */
	cfg_out(1, PCI_BAR0, 4, 0xd0000000);
	CHECK_EQ(io_bus_read(&vm.mmio, NULL, PCI_MMIO_BASE + 8, 4, &v), 0);
	CHECK_EQ(v, 0xffffffff);
	CHECK_EQ(io_bus_read(&vm.mmio, NULL, 0xd0000ffc, 4, &v), 0);
	CHECK_EQ(last_off, 0xffc);
	CHECK_EQ(reads, 2);
	/* Past the BAR's end: nothing. */
	CHECK_EQ(io_bus_read(&vm.mmio, NULL, 0xd0004000, 4, &v), 0);
	CHECK_EQ(v, 0xffffffff);
	CHECK_EQ(reads, 2);
	CHECK_EQ(bus->unclaimed, 3); /* decoding off, the old address, past the end */
	/* The window does not cover the IOAPIC, HPET or LAPIC. */
	CHECK(PCI_MMIO_END <= 0xfec00000ull);
	fake_vm_destroy(&vm);
}

TEST(capability_list)
{
	setup();
	pci_dev_init(&tdev, 0x1af4, 0x1041, 1, 0x020000, 0x1af4, 0x0001);
	CHECK_EQ(tdev.cfg[PCI_CAP_PTR], 0);
	u8 c1[6] = { PCI_CAP_ID_VNDR, 0, 6, 0xaa, 0xbb, 0xcc };
	u8 m1[6] = { 0xff, 0xff, 0, 0, 0xff, 0 };
	u8 c2[12] = { PCI_CAP_ID_MSIX, 0, 0x03, 0x00 };
	CHECK_EQ(pci_cap_add(&tdev, c1, sizeof(c1), m1), 0x40);
	CHECK_EQ(pci_cap_add(&tdev, c2, sizeof(c2), NULL), 0x48);
	CHECK_EQ(pci_dev_add(bus, &tdev), 0);
	CHECK(cfg_in(1, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	u8 p = cfg_in(1, PCI_CAP_PTR, 1);
	CHECK_EQ(p, 0x40);
	CHECK_EQ(cfg_in(1, p, 1), PCI_CAP_ID_VNDR);
	p = cfg_in(1, p + 1, 1);
	CHECK_EQ(p, 0x48);
	CHECK_EQ(cfg_in(1, p, 1), PCI_CAP_ID_MSIX);
	CHECK_EQ(cfg_in(1, p + 1, 1), 0);
	/* Writable bits per the mask; the id and next pointer never. */
	cfg_out(1, 0x40, 4, 0);
	CHECK_EQ(cfg_in(1, 0x40, 2), 0x4809);
	cfg_out(1, 0x44, 2, 0x1234);
	CHECK_EQ(cfg_in(1, 0x44, 2), 0xcc34);
	/* Full: a capability that does not fit is refused. */
	u8 big[200] = { PCI_CAP_ID_VNDR };
	CHECK_EQ(pci_cap_add(&tdev, big, sizeof(big), NULL), 0);
	fake_vm_destroy(&vm);
}

TEST(slots_run_out)
{
	static struct pci_dev many[PCI_MAX_DEVS];
	setup();
	memset(many, 0, sizeof(many));
	for (int i = 0; i < PCI_MAX_DEVS - 1; i++) {
		pci_dev_init(&many[i], 0x1af4, 0x1041, 1, 0, 0, 0);
		CHECK_EQ(pci_dev_add(bus, &many[i]), 0);
	}
	pci_dev_init(&many[PCI_MAX_DEVS - 1], 0x1af4, 0x1041, 1, 0, 0, 0);
	CHECK_EQ(pci_dev_add(bus, &many[PCI_MAX_DEVS - 1]), -ENOSPC);
	CHECK_EQ(cfg_in(31, 0, 4), 0x10411af4);
	CHECK_EQ(pci_bus_init(&vm), -EEXIST);
	fake_vm_destroy(&vm);
}
