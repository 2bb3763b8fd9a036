/* The virtio-net device of a VM (net_vm.c): created by vm_build when the config names a network, destroyed first
 * thing in vm_destroy. */
#ifndef VM_DEV_VIRTIO_NET_VM_H
#define VM_DEV_VIRTIO_NET_VM_H

struct vm;

/* 0, -ENOMEM, -EEXIST (the MAC is taken on that network), or virtio_pci_add's error. */
int vnet_vm_create(struct vm *vm, const char *net);
/* Leave the switch (the PCI bus frees the device later); no-op without one. The VM's vCPUs are done; its memory
 * still exists. */
void vnet_vm_destroy(struct vm *vm);

#endif
