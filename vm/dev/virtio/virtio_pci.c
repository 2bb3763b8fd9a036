/*
 * The modern virtio PCI transport (virtio 1.2, 4.1; layout and locks in virtio_pci.h): the common configuration
 * registers with feature negotiation and queue setup, the device configuration window, notifications, and the
 * helpers device models call (virtio_complete, virtio_fail, virtio_config_changed).
 */
#include "hv/errno.h"
#include "hv/log.h"
#include "hv/platform.h"
#include "hv/string.h"
#include "vm/dev/virtio/virtio_pci.h"
#include "vm/vm.h"

#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040
/* Capability cfg_type values (4.1.4). */
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG	  3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG	  5

/* Common configuration offsets (4.1.4.3). */
#define CC_DFSELECT	0x00
#define CC_DF		0x04
#define CC_GFSELECT	0x08
#define CC_GF		0x0c
#define CC_MSIX_CONFIG	0x10
#define CC_NUM_QUEUES	0x12
#define CC_STATUS	0x14
#define CC_CFG_GEN	0x15
#define CC_Q_SELECT	0x16
#define CC_Q_SIZE	0x18
#define CC_Q_MSIX	0x1a
#define CC_Q_ENABLE	0x1c
#define CC_Q_NOFF	0x1e
#define CC_Q_DESC	0x20
#define CC_Q_DRIVER	0x28
#define CC_Q_DEVICE	0x30
#define CC_END		0x38
_Static_assert(VPCI_COMMON == 0, "the common configuration opens the BAR");

static u64 offered(const struct virtio_dev *d)
{
	return (d->ops->features & 0xffffff) | BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_EVENT_IDX) |
	       BIT(VIRTIO_F_INDIRECT_DESC);
}

static u8 status_of(struct virtio_dev *d)
{
	return __atomic_load_n(&d->status, __ATOMIC_ACQUIRE);
}

/* ---- helpers for device models ---- */

void virtio_complete(struct virtio_dev *d, u16 qi, u32 written)
{
	struct virtq *q = &d->q[qi];
	struct virtio_pci *vp = d->transport;

	assert_spin_held(&q->lock);
	if (status_of(d) & VIRTIO_STATUS_DEVICE_NEEDS_RESET)
		return; /* the queues are dead until the driver resets the device */
	if (virtq_push(q, &d->mem, written)) {
		virtio_fail(d, "used ring not in RAM");
		return;
	}
	if (virtq_need_irq(q, &d->mem))
		vpci_irq_send(vp, q->msix_vector, 1);
}

void virtio_fail(struct virtio_dev *d, const char *why)
{
	u8 old = __atomic_fetch_or(&d->status, VIRTIO_STATUS_DEVICE_NEEDS_RESET, __ATOMIC_ACQ_REL);

	__atomic_fetch_add(&d->errors, 1, __ATOMIC_RELAXED);
	if (old & VIRTIO_STATUS_DEVICE_NEEDS_RESET)
		return; /* told once already; stay quiet until a reset */
	vm_log(d->vm, LOG_WARN, "%s: %s: device needs reset\n", d->ops->name, why);
	/* 2.1.2: a device entering NEEDS_RESET after DRIVER_OK sends a configuration change notification. */
	__atomic_fetch_add(&d->config_generation, 1, __ATOMIC_RELAXED);
	vpci_irq_send(d->transport, __atomic_load_n(&d->config_vector, __ATOMIC_RELAXED), 2);
}

void virtio_config_changed(struct virtio_dev *d)
{
	__atomic_fetch_add(&d->config_generation, 1, __ATOMIC_RELAXED);
	vpci_irq_send(d->transport, __atomic_load_n(&d->config_vector, __ATOMIC_RELAXED), 2);
}

/* ---- common configuration ---- */

/* 2.1.1 / 4.1.4.3.2: writing 0 resets the device: its queues, features and ISR, and the model's state. d->lock. */
static void __device_reset(struct virtio_pci *vp)
{
	struct virtio_dev *d = vp->d;

	for (u16 i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		spin_lock(&d->q[i].lock);
		virtq_reset(&d->q[i]);
		spin_unlock(&d->q[i].lock);
	}
	d->driver_features = 0;
	vp->dfselect = vp->gfselect = 0;
	vp->queue_select = 0;
	__atomic_store_n(&d->config_vector, VIRTIO_NO_VECTOR, __ATOMIC_RELAXED);
	(void)vpci_isr_read_clear(vp);
	if (d->ops->reset)
		d->ops->reset(d);
	__atomic_store_n(&d->status, 0, __ATOMIC_RELEASE);
}

/* The driver's new status, d->lock held. */
static void __status_write(struct virtio_pci *vp, u8 val)
{
	struct virtio_dev *d = vp->d;
	u8 old = status_of(d);

	if (val == 0) {
		__device_reset(vp);
		return;
	}
	val &= ~VIRTIO_STATUS_DEVICE_NEEDS_RESET; /* the device's bit to set, not the driver's */
	/* 2.2.2: FEATURES_OK sticks only if the driver took nothing that was not offered, and VERSION_1 (4.1.2.1 for
	 * a non-transitional device). Otherwise it reads back clear and the driver gives up. */
	if ((val & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK) &&
	    ((d->driver_features & ~offered(d)) || !virtio_has(d, VIRTIO_F_VERSION_1)))
		val &= ~VIRTIO_STATUS_FEATURES_OK;
	if ((val & VIRTIO_STATUS_DRIVER_OK) && !(val & VIRTIO_STATUS_FEATURES_OK))
		val &= ~VIRTIO_STATUS_DRIVER_OK; /* 3.1.1: no DRIVER_OK without negotiated features */
	/* Keep NEEDS_RESET if virtio_fail set it meanwhile (it does not take d->lock). */
	u8 cur = old;
	while (!__atomic_compare_exchange_n(&d->status, &cur, val | (cur & VIRTIO_STATUS_DEVICE_NEEDS_RESET), false,
					    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		;
	if ((val & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK) && d->ops->driver_ok)
		d->ops->driver_ok(d);
}

static struct virtq *selected(struct virtio_pci *vp)
{
	return vp->queue_select < vp->d->ops->nr_queues ? &vp->d->q[vp->queue_select] : NULL;
}

/* Queue setup may change only while the queue is off (4.1.4.3.2: the driver must not write an enabled queue's
 * registers); a device past FEATURES_OK then DRIVER_OK ignores nothing else. d->lock held. */
static void __queue_enable(struct virtio_pci *vp, struct virtq *q)
{
	struct virtio_dev *d = vp->d;

	if (q->enabled)
		return;
	spin_lock(&q->lock);
	int r = virtq_check(q, &d->mem);
	if (!r) {
		q->event_idx = virtio_has(d, VIRTIO_F_EVENT_IDX);
		q->indirect = virtio_has(d, VIRTIO_F_INDIRECT_DESC);
		q->last_avail = q->used_idx = q->signalled_used = 0;
		q->signalled_valid = false;
		q->enabled = true;
	}
	spin_unlock(&q->lock);
	if (r)
		virtio_fail(d, r == -EINVAL ? "queue ring misaligned or of a bad size" : "queue ring not in RAM");
}

static u64 common_read(struct virtio_pci *vp, u32 off, unsigned int size)
{
	struct virtio_dev *d = vp->d;
	struct virtq *q = selected(vp);
	u64 v = 0;

	switch (off) {
	case CC_DFSELECT: v = vp->dfselect; break;
	case CC_DF: v = vp->dfselect < 2 ? (u32)(offered(d) >> (32 * vp->dfselect)) : 0; break;
	case CC_GFSELECT: v = vp->gfselect; break;
	case CC_GF: v = vp->gfselect < 2 ? (u32)(d->driver_features >> (32 * vp->gfselect)) : 0; break;
	case CC_MSIX_CONFIG: v = __atomic_load_n(&d->config_vector, __ATOMIC_RELAXED); break;
	case CC_NUM_QUEUES: v = d->ops->nr_queues; break;
	case CC_STATUS: v = status_of(d); break;
	case CC_CFG_GEN: v = __atomic_load_n(&d->config_generation, __ATOMIC_RELAXED); break;
	case CC_Q_SELECT: v = vp->queue_select; break;
	case CC_Q_SIZE: v = q ? q->size : 0; break;
	case CC_Q_MSIX: v = q ? q->msix_vector : VIRTIO_NO_VECTOR; break;
	case CC_Q_ENABLE: v = q ? q->enabled : 0; break;
	case CC_Q_NOFF: v = q ? vp->queue_select : 0; break;
	case CC_Q_DESC: case CC_Q_DESC + 4: v = q ? q->desc >> (8 * (off - CC_Q_DESC)) : 0; break;
	case CC_Q_DRIVER: case CC_Q_DRIVER + 4: v = q ? q->avail >> (8 * (off - CC_Q_DRIVER)) : 0; break;
	case CC_Q_DEVICE: case CC_Q_DEVICE + 4: v = q ? q->used >> (8 * (off - CC_Q_DEVICE)) : 0; break;
	default: break;
	}
	return v;
}

/* A 64-bit ring address written whole or as two 32-bit halves (Linux's vp_iowrite64_twopart). */
static void addr_write(u64 *a, u32 half_off, unsigned int size, u64 val)
{
	if (size == 8 && half_off == 0)
		*a = val;
	else if (size == 4 && half_off == 0)
		*a = (*a & ~0xffffffffULL) | (u32)val;
	else if (size == 4 && half_off == 4)
		*a = (*a & 0xffffffffULL) | (val << 32);
}

static void common_write(struct virtio_pci *vp, u32 off, unsigned int size, u64 val)
{
	struct virtio_dev *d = vp->d;
	struct virtq *q = selected(vp);
	bool q_open = q && !q->enabled;

	switch (off) {
	case CC_DFSELECT: vp->dfselect = (u32)val; break;
	case CC_GFSELECT: vp->gfselect = (u32)val; break;
	case CC_GF:
		if (vp->gfselect < 2 && !(status_of(d) & VIRTIO_STATUS_FEATURES_OK)) {
			u32 sh = 32 * vp->gfselect;
			d->driver_features = (d->driver_features & ~(0xffffffffULL << sh)) | ((u64)(u32)val << sh);
		}
		break;
	case CC_MSIX_CONFIG: __atomic_store_n(&d->config_vector, (u16)val, __ATOMIC_RELAXED); break;
	case CC_STATUS: __status_write(vp, (u8)val); break;
	case CC_Q_SELECT: vp->queue_select = (u16)val; break;
	case CC_Q_SIZE:
		/* 2.7: a power of two, at most the maximum offered; anything else is not taken. */
		if (q_open && val && val <= VIRTQ_MAX_SIZE && !(val & (val - 1)))
			q->size = (u16)val;
		break;
	case CC_Q_MSIX:
		if (q)
			__atomic_store_n(&q->msix_vector, (u16)val, __ATOMIC_RELAXED);
		break;
	case CC_Q_ENABLE:
		if (q && val == 1)
			__queue_enable(vp, q); /* writing 0 is not allowed the driver (4.1.4.3.2): ignored */
		break;
	case CC_Q_DESC: case CC_Q_DESC + 4:
		if (q_open) addr_write(&q->desc, off - CC_Q_DESC, size, val);
		break;
	case CC_Q_DRIVER: case CC_Q_DRIVER + 4:
		if (q_open) addr_write(&q->avail, off - CC_Q_DRIVER, size, val);
		break;
	case CC_Q_DEVICE: case CC_Q_DEVICE + 4:
		if (q_open) addr_write(&q->used, off - CC_Q_DEVICE, size, val);
		break;
	default: break; /* read-only or reserved */
	}
}

/* Registers are accessed at their own size (4.1.3.1: the driver uses the field's width); the 64-bit ones also as
 * 32-bit halves. Anything else reads 0 and is dropped. */
static bool common_access_ok(u32 off, unsigned int size)
{
	switch (off) {
	case CC_DFSELECT: case CC_DF: case CC_GFSELECT: case CC_GF: return size == 4;
	case CC_MSIX_CONFIG: case CC_NUM_QUEUES: case CC_Q_SELECT: case CC_Q_SIZE: case CC_Q_MSIX: case CC_Q_ENABLE:
	case CC_Q_NOFF: return size == 2;
	case CC_STATUS: case CC_CFG_GEN: return size == 1;
	case CC_Q_DESC: case CC_Q_DRIVER: case CC_Q_DEVICE: return size == 4 || size == 8;
	case CC_Q_DESC + 4: case CC_Q_DRIVER + 4: case CC_Q_DEVICE + 4: return size == 4;
	default: return false;
	}
}

/* ---- BAR 0 ---- */

static int vpci_bar_read(struct pci_dev *pd, int bar, u64 off, unsigned int size, u64 *val)
{
	struct virtio_pci *vp = container_of(pd, struct virtio_pci, pci);
	struct virtio_dev *d = vp->d;

	*val = 0;
	if (off < VPCI_COMMON + CC_END) { /* VPCI_COMMON is 0 */
		if (common_access_ok((u32)off, size)) {
			spin_lock(&d->lock);
			*val = common_read(vp, (u32)off, size);
			spin_unlock(&d->lock);
		}
	} else if (off == VPCI_ISR) {
		*val = vpci_isr_read_clear(vp); /* 4.1.4.5: reading clears it and deasserts INTx */
	} else if (off >= VPCI_DEVICE && off < VPCI_DEVICE + VPCI_REGION) {
		u32 o = (u32)(off - VPCI_DEVICE);
		if (d->ops->config_read && size <= 4 && o < d->ops->config_len && size <= d->ops->config_len - o) {
			u32 v = 0;
			d->ops->config_read(d, o, &v, size);
			*val = v;
		}
	} else if (off >= VPCI_MSIX_TABLE) {
		return vpci_msix_read(vp, off, size, val);
	}
	return 0;
}

static int vpci_bar_write(struct pci_dev *pd, int bar, u64 off, unsigned int size, u64 val)
{
	struct virtio_pci *vp = container_of(pd, struct virtio_pci, pci);
	struct virtio_dev *d = vp->d;

	if (off < VPCI_COMMON + CC_END) { /* VPCI_COMMON is 0 */
		if (common_access_ok((u32)off, size)) {
			spin_lock(&d->lock);
			common_write(vp, (u32)off, size, val);
			spin_unlock(&d->lock);
		}
	} else if (off >= VPCI_DEVICE && off < VPCI_DEVICE + VPCI_REGION) {
		u32 o = (u32)(off - VPCI_DEVICE);
		if (d->ops->config_write && size <= 4 && o < d->ops->config_len && size <= d->ops->config_len - o) {
			u32 v = (u32)val;
			d->ops->config_write(d, o, &v, size);
		}
	} else if (off >= VPCI_NOTIFY && off < VPCI_NOTIFY + VPCI_REGION) {
		u64 qi = (off - VPCI_NOTIFY) / VPCI_NOTIFY_MULT;
		/* Racy reads on purpose: a kick that races a reset or a failure finds the model's pop refusing or
		 * an empty ring; the model's own q->lock orders the rest. */
		if (qi < d->ops->nr_queues && READ_ONCE(d->q[qi].enabled) &&
		    (status_of(d) & (VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_DEVICE_NEEDS_RESET)) ==
			    VIRTIO_STATUS_DRIVER_OK)
			d->ops->notify(d, (u16)qi);
	} else if (off >= VPCI_MSIX_TABLE) {
		return vpci_msix_write(vp, off, size, val);
	}
	return 0;
}

/* PCI_CFG capability (4.1.4.9): bar, offset, length and a data window that reaches BAR 0 through config space.
 * A write of the window's data performs the BAR write; a read of it is served at config_written time of the
 * offset/length (the window has no read hook: reads see the data last fetched). */
static void vpci_config_written(struct pci_dev *pd, u32 off, u32 len)
{
	struct virtio_pci *vp = container_of(pd, struct virtio_pci, pci);
	u32 c = vp->cfg_cap, boff, blen;

	if (off >= vp->msix_cap && off < vp->msix_cap + 12u) {
		vpci_irq_config_changed(vp);
		return;
	}
	if (off < PCI_COMMAND + 2 && off + len > PCI_COMMAND) {
		vpci_irq_config_changed(vp); /* INTx disable */
		return;
	}
	if (off + len <= c + 4 || off >= c + 20)
		return;
	memcpy(&boff, &pd->cfg[c + 8], 4);
	memcpy(&blen, &pd->cfg[c + 12], 4);
	if (pd->cfg[c + 4] != 0 || !(blen == 1 || blen == 2 || blen == 4) || boff % blen || boff >= VPCI_BAR_SIZE)
		return;
	u32 data;
	memcpy(&data, &pd->cfg[c + 16], 4);
	if (off >= c + 16) /* the data was written: write it through */
		(void)vpci_bar_write(pd, 0, boff, blen, data);
	else { /* the window moved: fetch what it shows now */
		u64 v;
		(void)vpci_bar_read(pd, 0, boff, blen, &v);
		data = (u32)v;
		memcpy(&pd->cfg[c + 16], &data, 4);
	}
}

static void vpci_destroy(struct pci_dev *pd)
{
	struct virtio_pci *vp = container_of(pd, struct virtio_pci, pci);
	struct virtio_dev *d = vp->d;

	kfree(vp);
	if (d->ops->destroy)
		d->ops->destroy(d);
}

static const struct pci_dev_ops vpci_ops = {
	.bar_read = vpci_bar_read, .bar_write = vpci_bar_write, .config_written = vpci_config_written,
	.destroy = vpci_destroy,
};

static u8 add_vcap(struct pci_dev *pd, u8 type, u32 off, u32 len, u32 extra, bool has_extra, const u8 *wmask)
{
	u8 c[20] = { PCI_CAP_ID_VNDR, 0, has_extra ? 20 : 16, type, 0 /* BAR 0 */ };
	memcpy(c + 8, &off, 4);
	memcpy(c + 12, &len, 4);
	memcpy(c + 16, &extra, 4);
	return pci_cap_add(pd, c, has_extra ? 20 : 16, wmask);
}

int virtio_pci_add(struct vm *vm, struct virtio_dev *d)
{
	struct pci_bus *bus = pci_bus_of(vm);
	if (!bus)
		return -ENODEV;
	BUG_ON(!d->ops || d->ops->nr_queues > VIRTIO_MAX_QUEUES || d->ops->config_len > VPCI_REGION);
	struct virtio_pci *vp = kzalloc(sizeof(*vp));
	if (!vp)
		return -ENOMEM;
	vp->d = d;
	vp->vm = vm;
	d->transport = vp;
	d->config_vector = VIRTIO_NO_VECTOR;
	for (u16 i = 0; i < VIRTIO_MAX_QUEUES; i++)
		virtq_reset(&d->q[i]);
	for (u32 i = 0; i < VPCI_MSIX_VECS; i++)
		vp->msix[i].ctrl = 1; /* masked at reset (PCI 3.0, 6.8.2.9) */

	struct pci_dev *pd = &vp->pci;
	/* 4.1.2: device 0x1040 + id, revision 1 (non-transitional), subsystem device id >= 0x40 */
	u32 class = d->ops->device_id == VIRTIO_ID_NET ? 0x020000 : d->ops->device_id == VIRTIO_ID_BLOCK ? 0x010000
		  : 0x078000;
	pci_dev_init(pd, VIRTIO_PCI_VENDOR, VIRTIO_PCI_DEVICE_BASE + d->ops->device_id, 1, class, VIRTIO_PCI_VENDOR,
		     0x40 + d->ops->device_id);
	pd->ops = &vpci_ops;
	pd->priv = vp;
	pd->bar[0] = (struct pci_bar){ .size = VPCI_BAR_SIZE, .mem64 = true };
	add_vcap(pd, VIRTIO_PCI_CAP_COMMON_CFG, VPCI_COMMON, CC_END, 0, false, NULL);
	add_vcap(pd, VIRTIO_PCI_CAP_NOTIFY_CFG, VPCI_NOTIFY, VPCI_NOTIFY_MULT * VIRTIO_MAX_QUEUES, VPCI_NOTIFY_MULT,
		 true, NULL);
	add_vcap(pd, VIRTIO_PCI_CAP_ISR_CFG, VPCI_ISR, 1, 0, false, NULL);
	if (d->ops->config_len)
		add_vcap(pd, VIRTIO_PCI_CAP_DEVICE_CFG, VPCI_DEVICE, d->ops->config_len, 0, false, NULL);
	static const u8 cfg_wmask[20] = { [4] = 0xff, [8] = 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					  0xff, 0xff, 0xff, 0xff };
	vp->cfg_cap = add_vcap(pd, VIRTIO_PCI_CAP_PCI_CFG, 0, 0, 0, true, cfg_wmask);
	u8 msix[12] = { PCI_CAP_ID_MSIX, 0, (VPCI_MSIX_VECS - 1) & 0xff, (VPCI_MSIX_VECS - 1) >> 8 };
	u32 table = VPCI_MSIX_TABLE, pba = VPCI_MSIX_PBA; /* BIR 0 in bits 2:0 */
	memcpy(msix + 4, &table, 4);
	memcpy(msix + 8, &pba, 4);
	static const u8 msix_wmask[12] = { [3] = 0xc0 }; /* enable, function mask */
	vp->msix_cap = pci_cap_add(pd, msix, sizeof(msix), msix_wmask);
	BUG_ON(!vp->cfg_cap || !vp->msix_cap);

	int r = pci_dev_add(bus, pd);
	if (r) {
		d->transport = NULL;
		kfree(vp);
		return r;
	}
	vm_log(vm, LOG_INFO, "%s: PCI 00:%02x.0, BAR 0 at %#llx, INTA GSI %u\n", d->ops->name, pd->slot,
	       (unsigned long long)pd->bar[0].addr, pci_slot_gsi(pd->slot));
	return 0;
}
