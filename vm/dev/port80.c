/* Port 0x80, the POST code port. Linux writes it for I/O delays (outb_p) and firmware writes progress codes; nothing
 * is shown, but a read returns the last byte written, as the POST cards and chipsets that latch it do. */
#include "vm/dev/dev.h"
#include "hv/errno.h"
#include "hv/platform.h"

#define PORT80 0x80

struct port80 {
	/* No lock: one byte, stored and loaded whole (READ_ONCE/WRITE_ONCE) by any vCPU. Two vCPUs writing at once
	 * leave one of their bytes, as two CPUs' OUTs on one bus would; nothing else depends on it. */
	u8 last;
};

static u8 port80_read_byte(void *dev, u64 port)
{
	struct port80 *p = dev;

	return READ_ONCE(p->last);
}

static void port80_write_byte(void *dev, u64 port, u8 val)
{
	struct port80 *p = dev;

	WRITE_ONCE(p->last, val);
}

static int port80_read(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 *val)
{
	*val = dev_split_read(dev, addr, size, PORT80, PORT80 + 1, port80_read_byte);
	return 0;
}

static int port80_write(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 val)
{
	dev_split_write(dev, addr, size, val, PORT80, PORT80 + 1, port80_write_byte);
	return 0;
}

static const struct io_handler port80_ops = {.name = "port80", .read = port80_read, .write = port80_write};

int port80_dev_init(struct vm *vm)
{
	struct port80 *p;

	if (vm->devices[VM_DEV_PORT80])
		return -EEXIST;
	p = kzalloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	vm->devices[VM_DEV_PORT80] = p;
	return io_bus_register(&vm->pio, PORT80, 1, &port80_ops, p);
}
