/* The devices every VM gets: COM1, the PIC pair, QEMU's fw_cfg and isa-debug-exit, the 0xe9 console and the test
 * counters. Adding a device is one line here. */
#include "hv/platform.h"
#include "vm/dev/dev.h"
#include "vm/dev/pci.h"
#include "vm/vm.h"

int vm_devices_init(struct vm *vm)
{
	static int (*const inits[])(struct vm *) = {
		uart_dev_init, pic_dev_init, fw_cfg_dev_init, testdev_dev_init, debug_exit_dev_init, port_e9_dev_init,
	};

	for (size_t i = 0; i < ARRAY_SIZE(inits); i++) {
		int r = inits[i](vm);
		if (r)
			return r;
	}
	return 0;
}

void vm_devices_destroy(struct vm *vm)
{
	pci_bus_destroy(vm); /* the devices hanging off the bus first: they are not in devices[] */
	for (size_t i = 0; i < ARRAY_SIZE(vm->devices); i++) {
		kfree(vm->devices[i]);
		vm->devices[i] = NULL;
	}
}
