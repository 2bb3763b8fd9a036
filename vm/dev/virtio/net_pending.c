/* Weak stand-ins for the virtio PCI transport (virtio_pci.c, wip-vcore) until it is merged, so the hypervisor links
 * with the virtio-net model in it: with them, virtio_pci_add refuses, so no VM gets a network device. Delete this file
 * when the transport is in (its strong definitions win anyway). */
#include "hv/errno.h"
#include "vm/dev/virtio/virtio.h"

__attribute__((weak)) void virtio_complete(struct virtio_dev *d, u16 qi, u32 written)
{
	virtq_push(&d->q[qi], &d->mem, written);
}

__attribute__((weak)) void virtio_complete_many(struct virtio_dev *d, u16 qi, const struct virtq_used_elem *e, u16 n)
{
	virtq_push_many(&d->q[qi], &d->mem, e, n);
}

__attribute__((weak)) void virtio_fail(struct virtio_dev *d, const char *why)
{
	d->status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
}

__attribute__((weak)) int virtio_pci_add(struct vm *vm, struct virtio_dev *d)
{
	return -ENODEV;
}
