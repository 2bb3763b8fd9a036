/* The Bochs/QEMU debug console at port 0xe9: the simplest way for early guest code to print. Writes send the low byte
 * to the VM's console; reads return 0xe9, the value guests check to see whether the port is there. The device has no
 * state, so its handler gets the VM itself and it takes no slot in vm->devices[], and no lock: vm_console_putc takes
 * vm->con_lock itself, so bytes from several vCPUs land whole, interleaved in the order they were written. */
#include "vm/dev/dev.h"

#define PORT_E9 0xe9

static int port_e9_read(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 *val)
{
	*val = PORT_E9;
	return 0;
}

static int port_e9_write(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 val)
{
	/* Like QEMU's debugcon: a wider OUT prints only its low byte. */
	vm_console_putc(dev, (char)(u8)val);
	return 0;
}

static const struct io_handler port_e9_ops = {.name = "port-e9", .read = port_e9_read, .write = port_e9_write};

int port_e9_dev_init(struct vm *vm)
{
	return io_bus_register(&vm->pio, PORT_E9, 1, &port_e9_ops, vm);
}
