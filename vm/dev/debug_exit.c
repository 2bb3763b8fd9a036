/* QEMU's isa-debug-exit device (iobase 0xf4, iosize 4): a guest test ends its VM by writing a value, and the VM ends
 * with the status QEMU's process would exit with, (value << 1) | 1, so a runner can read the same codes from both.
 * An access of any size to any of the four ports counts, with the value as written (a 32-bit OUT gives all 32 bits). */
#include "vm/dev/dev.h"
#include "hv/errno.h"
#include "hv/platform.h"

#define DEBUG_EXIT_BASE	 0xf4
#define DEBUG_EXIT_PORTS 4

/* No state but the VM, so no lock: vCPUs may write at the same time, and vm_end keeps the first reason and status. */
struct debug_exit {
	struct vm *vm; /* constant */
};

static int debug_exit_read(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 *val)
{
	/* Nothing to read: the port floats high like an undecoded one (QEMU would return 0; no guest depends on it). */
	*val = ~0ULL;
	return 0;
}

static int debug_exit_write(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 val)
{
	struct debug_exit *d = dev;

	/* The bus has already masked val to the access size. */
	vm_end(d->vm, VM_END_DEBUG_EXIT, (val << 1) | 1);
	return 0;
}

static const struct io_handler debug_exit_ops = {
    .name = "isa-debug-exit",
    .read = debug_exit_read,
    .write = debug_exit_write,
};

int debug_exit_dev_init(struct vm *vm)
{
	struct debug_exit *d;

	if (vm->devices[VM_DEV_DEBUG_EXIT])
		return -EEXIST;
	d = kzalloc(sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->vm = vm;
	vm->devices[VM_DEV_DEBUG_EXIT] = d;
	return io_bus_register(&vm->pio, DEBUG_EXIT_BASE, DEBUG_EXIT_PORTS, &debug_exit_ops, d);
}
