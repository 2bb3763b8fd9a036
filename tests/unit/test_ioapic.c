/* Unit tests of the IOAPIC (vm/dev/ioapic.c): registers read and written through the VM's MMIO bus as a guest does,
 * pins driven through vm_set_irq and ioapic_set_irq, EOIs from the LAPIC side and the EOI register, and every message
 * the IOAPIC sends recorded by a fake delivery hook that plays the local APICs. */
#include <string.h>

#include "test.h"
#include "fake_platform.h"
#include "fake_vm.h"
#include "hv/errno.h"
#include "vm/dev/dev.h"
#include "vm/dev/ioapic.h"
#include "vm/dev/vlapic.h"

static struct vm vm;

struct msg {
	u32 dest;
	bool logical;
	u8 vector, mode;
	bool level;
};

static struct msg msgs[64];
static int nmsgs;
static int accept_count; /* what the fake LAPICs answer */

static int fake_deliver(struct vm *v, u32 dest, bool logical, u8 vector, u8 mode, bool level)
{
	CHECK(v == &vm);
	if (nmsgs < (int)ARRAY_SIZE(msgs))
		msgs[nmsgs] = (struct msg){dest, logical, vector, mode, level};
	nmsgs++;
	return accept_count;
}

static void setup(void)
{
	fake_vm_destroy(&vm);
	fake_vm_init(&vm, 0);
	nmsgs = 0;
	accept_count = 1;
	CHECK_EQ(ioapic_dev_init(&vm, fake_deliver), 0);
}

static void mmio_write(u64 off, unsigned int size, u64 val)
{
	CHECK_EQ(io_bus_write(&vm.mmio, NULL, IOAPIC_BASE + off, size, val), 0);
}

static u64 mmio_read(u64 off, unsigned int size)
{
	u64 v = 0xdead;

	CHECK_EQ(io_bus_read(&vm.mmio, NULL, IOAPIC_BASE + off, size, &v), 0);
	return v;
}

static u32 reg_read(u8 reg)
{
	mmio_write(IOAPIC_REGSEL, 4, reg);
	return (u32)mmio_read(IOAPIC_WINDOW, 4);
}

static void reg_write(u8 reg, u32 val)
{
	mmio_write(IOAPIC_REGSEL, 4, reg);
	mmio_write(IOAPIC_WINDOW, 4, val);
}

static u64 rte_read(unsigned int pin)
{
	u64 lo = reg_read((u8)(0x10 + 2 * pin));

	return lo | (u64)reg_read((u8)(0x11 + 2 * pin)) << 32;
}

/* Linux's order: high dword (destination) first, then the low one, which may unmask. */
static void rte_write(unsigned int pin, u64 e)
{
	reg_write((u8)(0x11 + 2 * pin), (u32)(e >> 32));
	reg_write((u8)(0x10 + 2 * pin), (u32)e);
}

static u64 rte(u8 vector, u8 mode, bool level, u8 dest)
{
	return vector | (u64)mode << 8 | (level ? IOAPIC_RTE_LEVEL : 0) | (u64)dest << 56;
}

TEST(ioapic_id_version_and_arbitration)
{
	setup();
	CHECK_EQ(reg_read(IOAPIC_REG_VER), 0x00170020);
	CHECK_EQ(reg_read(IOAPIC_REG_ID), 0);
	reg_write(IOAPIC_REG_ID, 0xffffffff);
	CHECK_EQ(reg_read(IOAPIC_REG_ID), 0x0f000000);
	CHECK_EQ(reg_read(IOAPIC_REG_ARB), 0x0f000000);
	reg_write(IOAPIC_REG_ID, 0x02000000);
	CHECK_EQ(reg_read(IOAPIC_REG_ID), 0x02000000);
	reg_write(IOAPIC_REG_VER, 0);
	reg_write(IOAPIC_REG_ARB, 0);
	CHECK_EQ(reg_read(IOAPIC_REG_VER), 0x00170020);
	CHECK_EQ(reg_read(IOAPIC_REG_ARB), 0x02000000);
	CHECK_EQ(reg_read(0x03), 0);
	CHECK_EQ(reg_read(0x40), 0); /* just past pin 23 */
	reg_write(0x40, 0xffffffff);
	CHECK_EQ(reg_read(0xff), 0);
	CHECK_EQ(mmio_read(IOAPIC_REGSEL, 4), 0xff);
}

TEST(ioapic_redirection_entry_masks)
{
	setup();
	for (unsigned int pin = 0; pin < IOAPIC_NR_PINS; pin++)
		CHECK_EQ(rte_read(pin), IOAPIC_RTE_MASKED);
	/* Delivery status and remote IRR are read-only, bits 17-55 reserved. */
	reg_write(0x10 + 2 * 5, 0xffffffff);
	reg_write(0x11 + 2 * 5, 0xffffffff);
	CHECK_EQ(rte_read(5), 0xff0000000001afffULL);
	CHECK_EQ(nmsgs, 0);
	rte_write(23, rte(0x99, VLAPIC_DM_LOWPRI, false, 0x03) | IOAPIC_RTE_LOGICAL | IOAPIC_RTE_POLARITY);
	CHECK_EQ(rte_read(23), 0x0300000000002999ULL);
	CHECK_EQ(rte_read(22), IOAPIC_RTE_MASKED);
}

TEST(ioapic_edge_pins_deliver_on_rising_edges)
{
	setup();
	rte_write(4, rte(0x34, VLAPIC_DM_FIXED, false, 1));
	vm_set_irq(&vm, 4, 1);
	CHECK_EQ(nmsgs, 1);
	CHECK_EQ(msgs[0].dest, 1);
	CHECK(!msgs[0].logical);
	CHECK_EQ(msgs[0].vector, 0x34);
	CHECK_EQ(msgs[0].mode, VLAPIC_DM_FIXED);
	CHECK(!msgs[0].level);
	vm_set_irq(&vm, 4, 1); /* no edge */
	CHECK_EQ(nmsgs, 1);
	vm_set_irq(&vm, 4, 0);
	vm_set_irq(&vm, 4, 1);
	CHECK_EQ(nmsgs, 2);
	CHECK_EQ(rte_read(4) & IOAPIC_RTE_REMOTE_IRR, 0); /* edge pins never set it */
	/* The ISA timer, IRQ0, arrives on pin 2. */
	rte_write(2, rte(0x30, VLAPIC_DM_FIXED, false, 0));
	vm_pulse_irq(&vm, 0);
	CHECK_EQ(nmsgs, 3);
	CHECK_EQ(msgs[2].vector, 0x30);
	/* Pins 16-23 exist only on the IOAPIC; lines past them are ignored. */
	rte_write(20, rte(0x50, VLAPIC_DM_FIXED, false, 0));
	ioapic_set_irq(&vm, 20, 1);
	ioapic_set_irq(&vm, 24, 1);
	ioapic_set_irq(&vm, 1000, 1);
	CHECK_EQ(nmsgs, 4);
	CHECK_EQ(msgs[3].vector, 0x50);
}

TEST(ioapic_masked_pins)
{
	setup();
	/* A masked edge is dropped, not held. */
	rte_write(3, rte(0x33, VLAPIC_DM_FIXED, false, 0) | IOAPIC_RTE_MASKED);
	vm_pulse_irq(&vm, 3);
	rte_write(3, rte(0x33, VLAPIC_DM_FIXED, false, 0));
	CHECK_EQ(nmsgs, 0);
	/* A masked level is held by its line and goes out on unmask. */
	rte_write(10, rte(0x3a, VLAPIC_DM_FIXED, true, 0) | IOAPIC_RTE_MASKED);
	vm_set_irq(&vm, 10, 1);
	CHECK_EQ(nmsgs, 0);
	rte_write(10, rte(0x3a, VLAPIC_DM_FIXED, true, 0));
	CHECK_EQ(nmsgs, 1);
	CHECK(msgs[0].level);
	CHECK(rte_read(10) & IOAPIC_RTE_REMOTE_IRR);
	/* Masking does not clear remote IRR: the EOI still does. */
	rte_write(10, rte(0x3a, VLAPIC_DM_FIXED, true, 0) | IOAPIC_RTE_MASKED);
	CHECK(rte_read(10) & IOAPIC_RTE_REMOTE_IRR);
	ioapic_eoi(&vm, 0x3a);
	CHECK_EQ(rte_read(10) & IOAPIC_RTE_REMOTE_IRR, 0);
	CHECK_EQ(nmsgs, 1);
}

TEST(ioapic_level_pins_wait_for_eoi)
{
	setup();
	rte_write(9, rte(0x49, VLAPIC_DM_FIXED, true, 0));
	vm_set_irq(&vm, 9, 1);
	CHECK_EQ(nmsgs, 1);
	CHECK(rte_read(9) & IOAPIC_RTE_REMOTE_IRR);
	vm_set_irq(&vm, 9, 1); /* still up, still in service: nothing */
	CHECK_EQ(nmsgs, 1);
	ioapic_eoi(&vm, 0x48); /* another vector's EOI */
	CHECK(rte_read(9) & IOAPIC_RTE_REMOTE_IRR);
	/* The line is still asserted at the EOI: it delivers again. */
	ioapic_eoi(&vm, 0x49);
	CHECK_EQ(nmsgs, 2);
	CHECK(rte_read(9) & IOAPIC_RTE_REMOTE_IRR);
	/* Deasserted before the EOI: the EOI only clears remote IRR. */
	vm_set_irq(&vm, 9, 0);
	ioapic_eoi(&vm, 0x49);
	CHECK_EQ(nmsgs, 2);
	CHECK_EQ(rte_read(9) & IOAPIC_RTE_REMOTE_IRR, 0);
	vm_set_irq(&vm, 9, 1);
	CHECK_EQ(nmsgs, 3);
	/* The version-0x20 EOI register does the same as the LAPIC's broadcast. */
	mmio_write(IOAPIC_EOI, 4, 0x49);
	CHECK_EQ(nmsgs, 4);
	CHECK_EQ(mmio_read(IOAPIC_EOI, 4), 0);
	/* No LAPIC took it: no remote IRR, so the next assertion tries again. */
	vm_set_irq(&vm, 9, 0);
	mmio_write(IOAPIC_EOI, 4, 0x49);
	accept_count = 0;
	vm_set_irq(&vm, 9, 1);
	CHECK_EQ(nmsgs, 5);
	CHECK_EQ(rte_read(9) & IOAPIC_RTE_REMOTE_IRR, 0);
	vm_set_irq(&vm, 9, 1);
	CHECK_EQ(nmsgs, 6);
	/* Switching the pin to edge drops a remote IRR. */
	accept_count = 1;
	vm_set_irq(&vm, 9, 1);
	CHECK(rte_read(9) & IOAPIC_RTE_REMOTE_IRR);
	rte_write(9, rte(0x49, VLAPIC_DM_FIXED, false, 0));
	CHECK_EQ(rte_read(9) & IOAPIC_RTE_REMOTE_IRR, 0);
}

/* Several vCPUs: a level-triggered pin is in service on one vCPU while another retargets it and a third EOIs. The
 * rewrite keeps remote IRR (so it does not deliver a second time before the EOI), and the EOI re-delivers the still
 * asserted line with the entry as rewritten, whole. */
TEST(ioapic_level_pin_rewritten_and_eoied_from_other_vcpus)
{
	setup();
	rte_write(10, rte(0x4a, VLAPIC_DM_FIXED, true, 0));
	vm_set_irq(&vm, 10, 1);
	CHECK_EQ(nmsgs, 1);
	CHECK_EQ(msgs[0].dest, 0);
	fake_cpu_id = 1;
	rte_write(10, rte(0x4a, VLAPIC_DM_LOWPRI, true, 3) | IOAPIC_RTE_LOGICAL);
	CHECK_EQ(nmsgs, 1);
	CHECK(rte_read(10) & IOAPIC_RTE_REMOTE_IRR);
	fake_cpu_id = 2;
	ioapic_eoi(&vm, 0x4a);
	CHECK_EQ(nmsgs, 2);
	CHECK_EQ(msgs[1].dest, 3);
	CHECK(msgs[1].logical);
	CHECK_EQ(msgs[1].mode, VLAPIC_DM_LOWPRI);
	CHECK(msgs[1].level);
	/* Masked by one vCPU while in service, EOIed by another: remote IRR clears and nothing goes out until the
	 * unmask, which delivers the held level once. */
	fake_cpu_id = 1;
	rte_write(10, rte(0x4a, VLAPIC_DM_FIXED, true, 1) | IOAPIC_RTE_MASKED);
	fake_cpu_id = 0;
	ioapic_eoi(&vm, 0x4a);
	CHECK_EQ(nmsgs, 2);
	CHECK_EQ(rte_read(10) & IOAPIC_RTE_REMOTE_IRR, 0);
	fake_cpu_id = 2;
	rte_write(10, rte(0x4a, VLAPIC_DM_FIXED, true, 1));
	CHECK_EQ(nmsgs, 3);
	CHECK_EQ(msgs[2].dest, 1);
	fake_cpu_id = 0;
}

TEST(ioapic_delivery_modes_and_destinations)
{
	setup();
	rte_write(0, rte(0x00, VLAPIC_DM_EXTINT, false, 0xff));
	ioapic_set_irq(&vm, 0, 1);
	CHECK_EQ(nmsgs, 1);
	CHECK_EQ(msgs[0].mode, VLAPIC_DM_EXTINT);
	CHECK_EQ(msgs[0].dest, 0xff);
	rte_write(1, rte(0x00, VLAPIC_DM_NMI, false, 0));
	vm_pulse_irq(&vm, 1);
	CHECK_EQ(msgs[1].mode, VLAPIC_DM_NMI);
	rte_write(12, rte(0x5c, VLAPIC_DM_LOWPRI, false, 0x0f) | IOAPIC_RTE_LOGICAL);
	vm_pulse_irq(&vm, 12);
	CHECK_EQ(nmsgs, 3);
	CHECK(msgs[2].logical);
	CHECK_EQ(msgs[2].dest, 0x0f);
	CHECK_EQ(msgs[2].mode, VLAPIC_DM_LOWPRI);
	CHECK_EQ(msgs[2].vector, 0x5c);
}

TEST(ioapic_mmio_access_sizes)
{
	setup();
	mmio_write(IOAPIC_REGSEL, 1, IOAPIC_REG_VER); /* a byte write selects */
	CHECK_EQ(mmio_read(IOAPIC_WINDOW, 4), 0x00170020);
	CHECK_EQ(mmio_read(IOAPIC_WINDOW, 1), 0x20);
	CHECK_EQ(mmio_read(IOAPIC_WINDOW + 2, 2), 0x0017);
	CHECK_EQ(mmio_read(IOAPIC_WINDOW, 8), 0x00170020); /* nothing beyond the dword */
	mmio_write(IOAPIC_REGSEL, 4, 0x10);
	mmio_write(IOAPIC_WINDOW, 2, 0x0030); /* too narrow for the window: ignored */
	CHECK_EQ(rte_read(0), IOAPIC_RTE_MASKED);
	mmio_write(IOAPIC_REGSEL, 4, 0x10);
	mmio_write(IOAPIC_WINDOW, 8, 0xffffffff00000031ULL); /* 64 bits: the low dword */
	CHECK_EQ(rte_read(0), 0x31);
	CHECK_EQ(mmio_read(0x20, 4), 0); /* undecoded offsets */
	CHECK_EQ(mmio_read(0xffc, 4), 0);
	mmio_write(0x30, 4, 0xffffffff);
	CHECK_EQ(rte_read(0), 0x31);
}

TEST(ioapic_init_and_routing_registration)
{
	setup();
	CHECK(vm.ioapic_chip.set_irq == ioapic_set_irq);
	CHECK_EQ(ioapic_dev_init(&vm, fake_deliver), -EEXIST);
	fake_vm_destroy(&vm);
	fake_vm_init(&vm, 0);
	CHECK_EQ(ioapic_dev_init(&vm, NULL), -EINVAL);
	CHECK(!vm.ioapic_chip.set_irq);
	CHECK(!vm.devices[VM_DEV_IOAPIC]);
	/* Without an IOAPIC the entry points are harmless. */
	ioapic_set_irq(&vm, 1, 1);
	ioapic_eoi(&vm, 0x30);
	CHECK_EQ(ioapic_dev_init(&vm, fake_deliver), 0);
	CHECK(vm.devices[VM_DEV_IOAPIC]);
}

/* A device's own interrupt message (MSI, the HPET's FSB delivery) goes out through the same hook, decoded as SDM
 * Vol. 3A 11.11.1-2 lays it out; a write outside 0xfee00000-0xfeefffff is no interrupt. */
TEST(ioapic_send_msi_decodes_the_message)
{
	setup();
	CHECK_EQ(ioapic_send_msi(&vm, 0xfee03000, 0x0051), 1); /* APIC 3, physical, fixed, vector 0x51, edge */
	CHECK_EQ(nmsgs, 1);
	CHECK_EQ(msgs[0].dest, 3);
	CHECK(!msgs[0].logical);
	CHECK_EQ(msgs[0].vector, 0x51);
	CHECK_EQ(msgs[0].mode, 0);
	CHECK(!msgs[0].level);
	CHECK_EQ(ioapic_send_msi(&vm, 0xfeef0004, 0xc460), 1); /* logical 0xf0, NMI (4), level, assert */
	CHECK_EQ(msgs[1].dest, 0xf0);
	CHECK(msgs[1].logical);
	CHECK_EQ(msgs[1].mode, 4);
	CHECK(msgs[1].level);
	CHECK_EQ(ioapic_send_msi(&vm, 0xfed00000, 0x51), -EINVAL);
	CHECK_EQ(nmsgs, 2);
	fake_vm_destroy(&vm);
	fake_vm_init(&vm, 0);
	CHECK_EQ(ioapic_send_msi(&vm, 0xfee00000, 0x51), -ENODEV);
}
