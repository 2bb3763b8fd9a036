/* A VM's virtio-net device (net=NAME): built with the VM, on its PCI bus, on the switch NAME; gone from the switch
 * before the VM's memory is, so no peer writes into RAM being freed. Once on the bus, the bus frees it
 * (pci_bus_destroy -> vnet_ops.destroy), after the memory. */
#include "vm/dev/virtio/net_vm.h"
#include "hv/errno.h"
#include "hv/platform.h"
#include "vm/dev/virtio/net.h"
#include "vm/vm.h"

int vnet_vm_create(struct vm *vm, const char *net)
{
	struct vnet *n = kzalloc(sizeof(*n));
	int r;

	if (!n)
		return -ENOMEM;
	n->dev.vm = vm;
	virtio_mem_init_vm(&n->dev.mem, vm);
	r = vnet_init(n, vm->name, net);
	if (r) {
		kfree(n);
		return r;
	}
	r = virtio_pci_add(vm, &n->dev);
	if (r) {
		vnet_fini(n);
		kfree(n);
		vm_log(vm, LOG_ERR, "virtio-net: no PCI function (%d)\n", r);
		return r;
	}
	vm->net = n;
	return 0;
}

void vnet_vm_destroy(struct vm *vm)
{
	struct vnet *n = vm->net;

	if (!n)
		return;
	vnet_fini(n); /* logs the port's counters */
	vm_log(vm, LOG_INFO, "virtio-net: %llu frames served, %llu errors\n", (unsigned long long)n->dev.requests,
	       (unsigned long long)n->dev.errors);
	vm->net = NULL; /* the PCI bus frees the device with the VM (vnet_ops.destroy) */
}
