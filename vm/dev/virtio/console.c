/* virtio-console, one port (console.h). The transmit side drains chains into the VM's console; the receive side is
 * driven by the console multiplexer's poll, one typed byte per receive buffer (typing is slow; a buffer each is what
 * QEMU's virtconsole does for a character device too). */
#include "hv/errno.h"
#include "hv/platform.h"
#include "hv/string.h"
#include "vm/dev/virtio/console.h"
#include "vm/dev/virtio/virtio.h"
#include "vm/vm.h"

#define TX_CHUNK 128

/* 5.3.4: only max_nr_ports would mean anything, and only with MULTIPORT; everything reads 0 but that. */
static void vcon_config_read(struct virtio_dev *d, u32 off, void *buf, u32 len)
{
	u8 cfg[VIRTIO_CONSOLE_CONFIG_LEN] = {0};

	(void)d;
	cfg[4] = 1; /* max_nr_ports */
	memcpy(buf, cfg + off, len);
}

/* emerg_wr exists only with VIRTIO_CONSOLE_F_EMERG_WRITE, not offered: writes are ignored. */
static void vcon_config_write(struct virtio_dev *d, u32 off, const void *buf, u32 len)
{
	(void)d, (void)off, (void)buf, (void)len;
}

/* One transmit chain to the console; 0 or -EFAULT. Its writable part, if any, is left alone (used length 0). */
static int tx_one(struct virtio_dev *d, const struct virtio_req *r)
{
	u8 buf[TX_CHUNK];

	for (u32 off = 0; off < r->out_len; off += sizeof(buf)) {
		u32 n = MIN(r->out_len - off, (u32)sizeof(buf));
		int rc = virtio_req_read(r, &d->mem, off, buf, n);

		if (rc)
			return rc;
		for (u32 i = 0; i < n; i++)
			vm_console_putc(d->vm, (char)buf[i]);
	}
	return 0;
}

static void vcon_notify(struct virtio_dev *d, u16 qi)
{
	struct virtq *q = &d->q[qi];
	int rc;

	if (qi != VIRTIO_CONSOLE_TXQ)
		return; /* receive buffers wait for typed bytes (vcon_dev_input) */
	spin_lock(&q->lock);
	while ((rc = virtq_pop(q, &d->mem)) > 0) {
		if (tx_one(d, &q->req)) {
			virtio_fail(d, "transmit buffer not in RAM");
			rc = 0;
			break;
		}
		__atomic_fetch_add(&d->requests, 1, __ATOMIC_RELAXED);
		virtio_complete(d, qi, 0);
	}
	if (rc < 0)
		virtio_fail(d, rc == -EFAULT ? "descriptor chain outside RAM" : "malformed descriptor chain");
	spin_unlock(&q->lock);
}

int vcon_dev_input(struct virtio_dev *d, u8 c)
{
	u8 st = __atomic_load_n(&d->status, __ATOMIC_ACQUIRE);
	struct virtq *q = &d->q[VIRTIO_CONSOLE_RXQ];
	int rc;

	if (!(st & VIRTIO_STATUS_DRIVER_OK) || (st & (VIRTIO_STATUS_DEVICE_NEEDS_RESET | VIRTIO_STATUS_FAILED)))
		return -ENODEV;
	spin_lock(&q->lock);
	if (!q->enabled) {
		spin_unlock(&q->lock);
		return -ENODEV;
	}
	rc = virtq_pop(q, &d->mem);
	if (rc == 0) {
		spin_unlock(&q->lock);
		return -EAGAIN;
	}
	if (rc < 0) {
		virtio_fail(d, rc == -EFAULT ? "descriptor chain outside RAM" : "malformed descriptor chain");
	} else if (!q->req.in_len) {
		rc = -EINVAL;
		virtio_fail(d, "receive buffer with nothing writable");
	} else if ((rc = virtio_req_write(&q->req, &d->mem, 0, &c, 1))) {
		virtio_fail(d, "receive buffer not in RAM");
	} else {
		__atomic_fetch_add(&d->requests, 1, __ATOMIC_RELAXED);
		virtio_complete(d, VIRTIO_CONSOLE_RXQ, 1);
	}
	spin_unlock(&q->lock);
	return rc ? -ENODEV : 0; /* a broken driver: the byte goes to the UART rather than nowhere */
}

/* From pci_bus_destroy, before vm_devices_destroy frees what devices[] holds: the slot only points here. */
static void vcon_destroy(struct virtio_dev *d)
{
	d->vm->devices[VM_DEV_VIRTIO_CONSOLE] = NULL;
	kfree(d);
}

const struct virtio_dev_ops vcon_ops = {
    .name = "virtio-console",
    .device_id = VIRTIO_ID_CONSOLE,
    .nr_queues = 2,
    .features = 0, /* no SIZE, no MULTIPORT, no EMERG_WRITE */
    .config_len = VIRTIO_CONSOLE_CONFIG_LEN,
    .config_read = vcon_config_read,
    .config_write = vcon_config_write,
    .notify = vcon_notify,
    .destroy = vcon_destroy,
};

int vcon_input(struct vm *vm, u8 c)
{
	struct virtio_dev *d = vm->devices[VM_DEV_VIRTIO_CONSOLE];

	return d ? vcon_dev_input(d, c) : -ENODEV;
}

int vcon_add(struct vm *vm)
{
	struct virtio_dev *d = kzalloc(sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->ops = &vcon_ops;
	d->priv = d;
	d->vm = vm;
	virtio_mem_init_vm(&d->mem, vm);
	int r = virtio_pci_add(vm, d);
	if (r) {
		kfree(d);
		return r;
	}
	vm->devices[VM_DEV_VIRTIO_CONSOLE] = d;
	return 0;
}
