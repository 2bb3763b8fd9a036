/* The hypervisor's test device at ports 0x5f0-0x5ff: guest tests read the VM's counters (enum vm_stat) through it
 * to check exit counts, TDP faults and mappings from the inside. The ABI, which guest code depends on, is in
 * vm/dev/dev.h next to the TESTDEV_* port numbers. */
#include "vm/dev/dev.h"
#include "hv/errno.h"
#include "hv/platform.h"

/* One latch per VM: the VM has one vCPU (VM_MAX_VCPUS), which is the only one touching these ports. With more vCPUs a
 * select/read pair from two of them would interleave, and the latch would have to become per vCPU. */
static_assert(VM_MAX_VCPUS == 1, "testdev latch is per VM");

struct testdev {
	struct vm *vm;
	u64 latched;
};

static int testdev_read(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 *val)
{
	struct testdev *t = dev;

	*val = ~0ULL;
	if (size != 4)
		return 0;
	if (addr == TESTDEV_PORT_LOW)
		*val = (u32)t->latched;
	else if (addr == TESTDEV_PORT_HIGH)
		*val = (u32)(t->latched >> 32);
	return 0;
}

static int testdev_write(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 val)
{
	struct testdev *t = dev;

	if (addr != TESTDEV_PORT_SELECT || size != 4)
		return 0; /* TESTDEV_PORT_RESERVED and everything else: ignored */
	t->latched = val < NR_VM_STATS ? vm_stat(t->vm, (enum vm_stat)val) : ~0ULL;
	return 0;
}

static const struct io_handler testdev_ops = {.name = "testdev", .read = testdev_read, .write = testdev_write};

int testdev_dev_init(struct vm *vm)
{
	struct testdev *t;

	if (vm->devices[VM_DEV_TESTDEV])
		return -EEXIST;
	t = kzalloc(sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->vm = vm;
	t->latched = ~0ULL; /* nothing selected yet */
	vm->devices[VM_DEV_TESTDEV] = t;
	return io_bus_register(&vm->pio, TESTDEV_PORT_BASE, TESTDEV_PORTS, &testdev_ops, t);
}
