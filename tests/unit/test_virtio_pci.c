/* The modern virtio PCI transport (vm/dev/virtio/virtio_pci.c, virtio_irq.c) driven through its BAR and config
 * space as a driver would: capabilities (virtio 1.2, 4.1.4), feature negotiation (2.2, 3.1.1), device reset (2.1,
 * 4.1.4.3.2), queue setup checked at enable, notifications only to a live device, virtio_fail's DEVICE_NEEDS_RESET
 * with one configuration interrupt, MSI-X masking and pending bits (PCI 3.0, 6.8.2.9) and INTx with the ISR. The
 * IOAPIC pin and MSI delivery are recorded by stubs; guest memory is the virtqueue fixture's. */
#include <string.h>

#include "fake_platform.h"
#include "fake_vm.h"
#include "hv/errno.h"
#include "test.h"
#include "virtq_fixture.h"
#include "vm/dev/pci.h"
#include "vm/dev/virtio/virtio_pci.h"

static struct vm vm;
static struct vqf fx;
static struct virtio_dev dev;
static struct pci_bus *bus;
static u64 bar;

/* ---- stubs: the interrupt controllers ---- */
static int gsi_level[24];
static u32 gsi_rises[24];
void ioapic_set_irq(struct vm *v, unsigned int pin, int level)
{
	if (level && !gsi_level[pin])
		gsi_rises[pin]++;
	gsi_level[pin] = level;
}
static u32 msi_count;
static u64 msi_addr;
static u32 msi_data;
int vm_msi_deliver(struct vm *v, u64 addr, u32 data)
{
	msi_count++;
	msi_addr = addr;
	msi_data = data;
	return 1;
}

/* ---- a model: counts its callbacks; notify pops everything and completes it (or fails) ---- */
static u32 notifies, resets, driver_oks;
static u8 cfgspace[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
static void m_config_read(struct virtio_dev *d, u32 off, void *buf, u32 len) { memcpy(buf, cfgspace + off, len); }
static void m_config_write(struct virtio_dev *d, u32 off, const void *buf, u32 len) { memcpy(cfgspace + off, buf, len); }
static void m_notify(struct virtio_dev *d, u16 qi)
{
	struct virtq *q = &d->q[qi];
	int rc;
	notifies++;
	spin_lock(&q->lock);
	while ((rc = virtq_pop(q, &d->mem)) > 0)
		virtio_complete(d, qi, q->req.in_len);
	if (rc < 0)
		virtio_fail(d, "bad chain");
	spin_unlock(&q->lock);
}
static void m_reset(struct virtio_dev *d) { resets++; }
static void m_driver_ok(struct virtio_dev *d) { driver_oks++; }
static const struct virtio_dev_ops m_ops = {
	.name = "virtio-unit", .device_id = 5, .nr_queues = 2, .features = 1ull << 3, .config_len = 8,
	.config_read = m_config_read, .config_write = m_config_write, .notify = m_notify, .reset = m_reset,
	.driver_ok = m_driver_ok,
};

static void setup(void)
{
	fake_vm_init(&vm, 0);
	CHECK_EQ(pci_bus_init(&vm), 0);
	bus = pci_bus_of(&vm);
	vqf_init(&fx, 8, false, false);
	memset(&dev, 0, sizeof(dev));
	dev.ops = &m_ops;
	dev.vm = &vm;
	dev.mem = fx.mem;
	CHECK_EQ(virtio_pci_add(&vm, &dev), 0);
	memset(gsi_level, 0, sizeof(gsi_level));
	memset(gsi_rises, 0, sizeof(gsi_rises));
	msi_count = notifies = resets = driver_oks = 0;
	bar = PCI_MMIO_BASE;
	pci_config_write(bus, 0, 1, 0, PCI_COMMAND, 2, PCI_CMD_MEM | PCI_CMD_MASTER);
}

static void teardown(void)
{
	pci_bus_destroy(&vm);
	fake_vm_destroy(&vm);
}

static u64 rd(u64 off, unsigned int size)
{
	u64 v;
	CHECK_EQ(io_bus_read(&vm.mmio, NULL, bar + off, size, &v), 0);
	return v;
}

static void wr(u64 off, unsigned int size, u64 v)
{
	CHECK_EQ(io_bus_write(&vm.mmio, NULL, bar + off, size, v), 0);
}

static u8 status(void) { return (u8)rd(0x14, 1); }

static void set_features(u64 f)
{
	wr(0x08, 4, 0);
	wr(0x0c, 4, (u32)f);
	wr(0x08, 4, 1);
	wr(0x0c, 4, f >> 32);
}

/* Up to DRIVER_OK with VERSION_1, queue 0 of size 8 on the fixture's rings with MSI-X vector 1. */
static void bring_up(void)
{
	wr(0x14, 1, 0);
	wr(0x14, 1, 1 | 2);
	set_features(1ull << VIRTIO_F_VERSION_1);
	wr(0x14, 1, 1 | 2 | 8);
	CHECK_EQ(status(), 1 | 2 | 8);
	wr(0x16, 2, 0);
	wr(0x18, 2, 8);
	wr(0x1a, 2, 1);
	wr(0x20, 8, VQF_DESC);
	wr(0x28, 4, (u32)VQF_AVAIL); /* as two halves, Linux's way */
	wr(0x2c, 4, 0);
	wr(0x30, 4, (u32)VQF_USED);
	wr(0x34, 4, 0);
	wr(0x1c, 2, 1);
	CHECK_EQ(rd(0x1c, 2), 1);
	wr(0x14, 1, 1 | 2 | 4 | 8);
	CHECK_EQ(status(), 0xf);
}

TEST(ids_and_capabilities)
{
	setup();
	CHECK_EQ(pci_config_read(bus, 0, 1, 0, 0, 4), 0x10451af4); /* 0x1040 + 5 */
	CHECK_EQ(pci_config_read(bus, 0, 1, 0, PCI_REVISION, 1), 1);
	CHECK(pci_config_read(bus, 0, 1, 0, PCI_SUBSYS_ID, 2) >= 0x40);
	u32 types = 0, msix = 0;
	for (u8 p = pci_config_read(bus, 0, 1, 0, PCI_CAP_PTR, 1), n = 0; p && n < 16;
	     p = pci_config_read(bus, 0, 1, 0, p + 1, 1), n++) {
		u8 id = pci_config_read(bus, 0, 1, 0, p, 1);
		if (id == PCI_CAP_ID_MSIX) {
			msix = p;
			CHECK_EQ(pci_config_read(bus, 0, 1, 0, p + 2, 2), VPCI_MSIX_VECS - 1);
			CHECK_EQ(pci_config_read(bus, 0, 1, 0, p + 4, 4), VPCI_MSIX_TABLE);
			CHECK_EQ(pci_config_read(bus, 0, 1, 0, p + 8, 4), VPCI_MSIX_PBA);
			continue;
		}
		CHECK_EQ(id, PCI_CAP_ID_VNDR);
		u8 type = pci_config_read(bus, 0, 1, 0, p + 3, 1);
		types |= 1u << type;
		if (type == 2)
			CHECK_EQ(pci_config_read(bus, 0, 1, 0, p + 16, 4), VPCI_NOTIFY_MULT);
	}
	CHECK_EQ(types, 0x3e);
	CHECK(msix);
	CHECK_EQ(rd(0x2000, 4), 0x04030201); /* device configuration */
	wr(0x2004, 2, 0xbbaa);
	CHECK_EQ(cfgspace[4], 0xaa);
	CHECK_EQ(rd(0x2006, 4), 0); /* past config_len: 0, not the model's business */
	teardown();
}

TEST(feature_negotiation)
{
	setup();
	wr(0x00, 4, 0);
	CHECK_EQ(rd(0x04, 4), 1u << 3 | 1u << VIRTIO_F_INDIRECT_DESC | 1u << VIRTIO_F_EVENT_IDX);
	wr(0x00, 4, 1);
	CHECK_EQ(rd(0x04, 4), 1); /* VERSION_1 */
	wr(0x00, 4, 2);
	CHECK_EQ(rd(0x04, 4), 0);
	/* A bit not offered: FEATURES_OK does not stick. */
	wr(0x14, 1, 3);
	set_features(1ull << VIRTIO_F_VERSION_1 | 1ull << 4);
	wr(0x14, 1, 3 | 8);
	CHECK_EQ(status(), 3);
	/* Without VERSION_1: neither. */
	set_features(1ull << 3);
	wr(0x14, 1, 3 | 8);
	CHECK_EQ(status(), 3);
	/* DRIVER_OK without FEATURES_OK is not taken either. */
	wr(0x14, 1, 3 | 4);
	CHECK_EQ(status(), 3);
	CHECK_EQ(driver_oks, 0);
	set_features(1ull << VIRTIO_F_VERSION_1 | 1ull << 3);
	wr(0x14, 1, 3 | 8);
	CHECK_EQ(status(), 3 | 8);
	CHECK(virtio_has(&dev, 3) && virtio_has(&dev, VIRTIO_F_VERSION_1));
	/* After FEATURES_OK the features are fixed. */
	set_features(1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_F_EVENT_IDX);
	CHECK(virtio_has(&dev, 3) && !virtio_has(&dev, VIRTIO_F_EVENT_IDX));
	/* The driver cannot set NEEDS_RESET itself. */
	wr(0x14, 1, 3 | 8 | 64);
	CHECK_EQ(status(), 3 | 8);
	teardown();
}

TEST(queue_setup_rules)
{
	setup();
	wr(0x16, 2, 0);
	CHECK_EQ(rd(0x18, 2), VIRTQ_MAX_SIZE);
	wr(0x18, 2, 6);
	CHECK_EQ(rd(0x18, 2), VIRTQ_MAX_SIZE);
	wr(0x18, 2, 512);
	CHECK_EQ(rd(0x18, 2), VIRTQ_MAX_SIZE);
	wr(0x18, 2, 16);
	CHECK_EQ(rd(0x18, 2), 16);
	CHECK_EQ(rd(0x1e, 2), 0);
	wr(0x16, 2, 1);
	CHECK_EQ(rd(0x1e, 2), 1); /* queue_notify_off */
	wr(0x16, 2, 2);		  /* no queue 2 */
	CHECK_EQ(rd(0x18, 2), 0);
	CHECK_EQ(rd(0x12, 2), 2); /* num_queues */
	/* Wrong access sizes read 0 and change nothing. */
	CHECK_EQ(rd(0x14, 4), 0);
	wr(0x16, 4, 0);
	CHECK_EQ(rd(0x16, 2), 2);
	teardown();
}

TEST(echo_with_msix_and_notify_rules)
{
	setup();
	/* MSI-X on, vectors 0 and 1 unmasked. */
	u8 mc = 0;
	for (u8 p = pci_config_read(bus, 0, 1, 0, PCI_CAP_PTR, 1); p; p = pci_config_read(bus, 0, 1, 0, p + 1, 1))
		if (pci_config_read(bus, 0, 1, 0, p, 1) == PCI_CAP_ID_MSIX)
			mc = p;
	pci_config_write(bus, 0, 1, 0, mc + 2, 2, 0x8000);
	for (int v = 0; v < 2; v++) {
		wr(VPCI_MSIX_TABLE + 16 * v, 8, 0xfee00000);
		wr(VPCI_MSIX_TABLE + 16 * v + 8, 4, 0x40 + v);
		CHECK_EQ(rd(VPCI_MSIX_TABLE + 16 * v + 12, 4), 1); /* masked from reset */
		wr(VPCI_MSIX_TABLE + 16 * v + 12, 4, 0);
	}
	/* A kick before DRIVER_OK does nothing. */
	wr(VPCI_NOTIFY, 2, 0);
	CHECK_EQ(notifies, 0);
	bring_up();
	CHECK_EQ(driver_oks, 1);
	CHECK_EQ(fx.q.size, 8); /* the fixture's ring is the device's: same addresses */
	vqf_desc(&fx, VQF_DESC, 0, VQF_BUF, 32, 2, 0);
	vqf_publish(&fx, 0);
	wr(VPCI_NOTIFY + VPCI_NOTIFY_MULT * 1, 2, 1); /* queue 1 is not enabled: nothing */
	CHECK_EQ(notifies, 0);
	wr(VPCI_NOTIFY, 2, 0);
	CHECK_EQ(notifies, 1);
	CHECK_EQ(vqf_get16(&fx, VQF_USED + 2), 1);
	CHECK_EQ(msi_count, 1);
	CHECK_EQ(msi_data, 0x41);
	CHECK_EQ(msi_addr, 0xfee00000);
	CHECK_EQ(gsi_rises[pci_slot_gsi(1)], 0); /* no INTx while MSI-X is on */
	teardown();
}

TEST(fail_sets_needs_reset_once_and_reset_clears_everything)
{
	setup();
	bring_up();
	/* INTx mode (MSI-X off): the config interrupt is ISR bit 1 on the slot's GSI. */
	vqf_desc(&fx, VQF_DESC, 0, VQF_BUF, 8, 1, 0); /* a self loop */
	vqf_publish(&fx, 0);
	wr(VPCI_NOTIFY, 2, 0);
	CHECK_EQ(status(), 0xf | 64);
	CHECK_LAST_LOG("virtio-unit: bad chain: device needs reset");
	unsigned int gsi = pci_slot_gsi(1);
	CHECK_EQ(gsi_rises[gsi], 1);
	CHECK_EQ(gsi_level[gsi], 1);
	CHECK_EQ(dev.config_generation, 1);
	/* A second failure and more kicks: no more interrupts, nothing popped. */
	virtio_fail(&dev, "again");
	wr(VPCI_NOTIFY, 2, 0);
	CHECK_EQ(notifies, 1);
	CHECK_EQ(gsi_rises[gsi], 1);
	CHECK_EQ(dev.errors, 2);
	/* The ISR read returns the cause, clears it and lowers the line. */
	CHECK_EQ(rd(VPCI_ISR, 1), 2);
	CHECK_EQ(gsi_level[gsi], 0);
	CHECK_EQ(rd(VPCI_ISR, 1), 0);
	/* Reset: status 0, queues off and forgotten, features cleared, the model told. */
	u32 resets_before = resets;
	wr(0x14, 1, 0);
	CHECK_EQ(status(), 0);
	CHECK_EQ(resets, resets_before + 1);
	CHECK(!dev.q[0].enabled);
	CHECK_EQ(dev.q[0].size, VIRTQ_MAX_SIZE);
	CHECK_EQ(dev.driver_features, 0);
	CHECK_EQ(rd(0x10, 2), VIRTIO_NO_VECTOR);
	/* And it works again. */
	vqf_init(&fx, 8, false, false);
	bring_up();
	vqf_desc(&fx, VQF_DESC, 0, VQF_BUF, 8, 2, 0);
	vqf_publish(&fx, 0);
	wr(VPCI_NOTIFY, 2, 0);
	CHECK_EQ(vqf_get16(&fx, VQF_USED + 2), 1);
	CHECK_EQ(rd(VPCI_ISR, 1), 1);
	teardown();
}

TEST(bad_ring_refused_at_enable)
{
	setup();
	wr(0x14, 1, 3);
	set_features(1ull << VIRTIO_F_VERSION_1);
	wr(0x14, 1, 3 | 8);
	wr(0x16, 2, 0);
	wr(0x18, 2, 8);
	wr(0x20, 8, VQF_DESC + 8); /* misaligned */
	wr(0x28, 8, VQF_AVAIL);
	wr(0x30, 8, VQF_USED);
	wr(0x1c, 2, 1);
	CHECK_EQ(rd(0x1c, 2), 0);
	CHECK(status() & 64);
	CHECK_LAST_LOG("misaligned");
	wr(0x14, 1, 0);
	wr(0x14, 1, 3);
	set_features(1ull << VIRTIO_F_VERSION_1);
	wr(0x14, 1, 3 | 8);
	wr(0x20, 8, VQF_DESC);
	wr(0x28, 8, VQF_AVAIL);
	wr(0x30, 8, 0xfee00000); /* not RAM */
	wr(0x1c, 2, 1);
	CHECK_EQ(rd(0x1c, 2), 0);
	CHECK_LAST_LOG("not in RAM");
	teardown();
}

/* PCI 3.0, 6.8.2.9: a masked vector's message waits in the PBA and goes at the unmask; the function mask too. */
TEST(msix_mask_and_pending)
{
	setup();
	u8 mc = 0;
	for (u8 p = pci_config_read(bus, 0, 1, 0, PCI_CAP_PTR, 1); p; p = pci_config_read(bus, 0, 1, 0, p + 1, 1))
		if (pci_config_read(bus, 0, 1, 0, p, 1) == PCI_CAP_ID_MSIX)
			mc = p;
	pci_config_write(bus, 0, 1, 0, mc + 2, 2, 0x8000);
	CHECK_EQ(pci_config_read(bus, 0, 1, 0, mc + 2, 2), 0x8000 | (VPCI_MSIX_VECS - 1));
	wr(VPCI_MSIX_TABLE, 4, 0xfee01000);
	wr(VPCI_MSIX_TABLE + 8, 4, 0x30);
	wr(0x10, 2, 0); /* config vector 0, still masked */
	virtio_config_changed(&dev);
	CHECK_EQ(msi_count, 0);
	CHECK_EQ(rd(VPCI_MSIX_PBA, 8), 1);
	wr(VPCI_MSIX_TABLE + 12, 4, 0);
	CHECK_EQ(msi_count, 1);
	CHECK_EQ(msi_addr, 0xfee01000);
	CHECK_EQ(rd(VPCI_MSIX_PBA, 4), 0);
	pci_config_write(bus, 0, 1, 0, mc + 2, 2, 0xc000);
	virtio_config_changed(&dev);
	CHECK_EQ(msi_count, 1);
	CHECK_EQ(rd(VPCI_MSIX_PBA, 4), 1);
	pci_config_write(bus, 0, 1, 0, mc + 2, 2, 0x8000);
	CHECK_EQ(msi_count, 2);
	/* NO_VECTOR: nothing, not even pending. */
	wr(0x10, 2, VIRTIO_NO_VECTOR);
	virtio_config_changed(&dev);
	CHECK_EQ(msi_count, 2);
	CHECK_EQ(rd(VPCI_MSIX_PBA, 4), 0);
	/* The PBA is read-only. */
	wr(VPCI_MSIX_PBA, 4, 0xff);
	CHECK_EQ(rd(VPCI_MSIX_PBA, 4), 0);
	teardown();
}

TEST(intx_disable_holds_the_line)
{
	setup();
	unsigned int gsi = pci_slot_gsi(1);
	pci_config_write(bus, 0, 1, 0, PCI_COMMAND, 2, PCI_CMD_MEM | PCI_CMD_INTX_OFF);
	virtio_config_changed(&dev);
	CHECK_EQ(gsi_level[gsi], 0);
	pci_config_write(bus, 0, 1, 0, PCI_COMMAND, 2, PCI_CMD_MEM); /* the pending ISR raises it now */
	CHECK_EQ(gsi_level[gsi], 1);
	CHECK_EQ(rd(VPCI_ISR, 1), 2);
	CHECK_EQ(gsi_level[gsi], 0);
	teardown();
}

TEST(pci_cfg_window_reaches_the_bar)
{
	setup();
	u8 c = 0;
	for (u8 p = pci_config_read(bus, 0, 1, 0, PCI_CAP_PTR, 1); p; p = pci_config_read(bus, 0, 1, 0, p + 1, 1))
		if (pci_config_read(bus, 0, 1, 0, p, 1) == PCI_CAP_ID_VNDR && pci_config_read(bus, 0, 1, 0, p + 3, 1) == 5)
			c = p;
	CHECK(c);
	pci_config_write(bus, 0, 1, 0, c + 4, 1, 0);
	pci_config_write(bus, 0, 1, 0, c + 12, 4, 2);	    /* length */
	pci_config_write(bus, 0, 1, 0, c + 8, 4, 0x12); /* offset: num_queues */
	CHECK_EQ(pci_config_read(bus, 0, 1, 0, c + 16, 2), 2);
	pci_config_write(bus, 0, 1, 0, c + 8, 4, 0x16); /* queue_select */
	pci_config_write(bus, 0, 1, 0, c + 16, 4, 1);
	CHECK_EQ(rd(0x16, 2), 1);
	teardown();
}
