/* Weak stand-ins for the virtio core (virtqueue.c, req.c, virtio_pci.c on wip-vcore) so that this branch links before
 * the core is merged: a device added with these fails with -ENODEV and no device is ever created. The core's strong
 * definitions replace them; delete this file when merging wip-vcore. */
#include "vm/dev/virtio/virtio.h"
#include "hv/errno.h"

__attribute__((weak)) int virtq_pop(struct virtq *q, const struct virtio_mem *m)
{
	(void)q, (void)m;
	return 0;
}

__attribute__((weak)) void virtio_complete(struct virtio_dev *d, u16 qi, u32 written)
{
	(void)d, (void)qi, (void)written;
}

__attribute__((weak)) void virtio_fail(struct virtio_dev *d, const char *why)
{
	(void)d, (void)why;
}

__attribute__((weak)) int virtio_req_read(const struct virtio_req *r, const struct virtio_mem *m, u32 off, void *buf,
					  u32 len)
{
	(void)r, (void)m, (void)off, (void)buf, (void)len;
	return -EFAULT;
}

__attribute__((weak)) int virtio_req_write(const struct virtio_req *r, const struct virtio_mem *m, u32 off,
					   const void *buf, u32 len)
{
	(void)r, (void)m, (void)off, (void)buf, (void)len;
	return -EFAULT;
}

__attribute__((weak)) int virtio_pci_add(struct vm *vm, struct virtio_dev *d)
{
	(void)vm, (void)d;
	return -ENODEV;
}
