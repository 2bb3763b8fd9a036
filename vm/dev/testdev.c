/* The hypervisor's test device at ports 0x5f0-0x5ff: guest tests read the VM's counters (enum vm_stat) through it
 * to check exit counts, TDP faults and mappings from the inside. The ABI, which guest code depends on, is in
 * vm/dev/dev.h next to the TESTDEV_* port numbers. */
#include "vm/dev/dev.h"
#include "hv/bug.h"
#include "hv/errno.h"
#include "hv/platform.h"

/*
 * One latch per vCPU: a guest test's select-then-read is two exits, and with one latch per VM another vCPU's select
 * could land in between. Each slot is read and written only by its own vCPU's exits, so there is no lock; an access
 * without a vCPU (host-side unit tests) uses slot 0. The counters themselves are summed by vm_stat (vm/vm.c) while
 * the other vCPUs keep counting: a guest test reading another vCPU's exits gets a value a few exits stale.
 */
struct testdev_stream {
	u32 pos;   /* the next byte of the IN sequence */
	u32 hash;  /* FNV-1a of the bytes written */
	u32 count; /* bytes written */
};

struct testdev {
	struct vm *vm;		   /* constant */
	u64 latched[VM_MAX_VCPUS]; /* [vcpu->id]: that vCPU's exits only */
	struct testdev_stream stream[VM_MAX_VCPUS]; /* [vcpu->id], like the latch */
};

static void stream_reset(struct testdev_stream *st)
{
	*st = (struct testdev_stream){ .hash = TESTDEV_FNV_BASIS };
}

static u64 *testdev_latch(struct testdev *t, struct vcpu *v)
{
	u32 id = v ? v->id : 0;

	BUG_ON(id >= VM_MAX_VCPUS);
	return &t->latched[id];
}

static struct testdev_stream *testdev_stream(struct testdev *t, struct vcpu *v)
{
	u32 id = v ? v->id : 0;

	BUG_ON(id >= VM_MAX_VCPUS);
	return &t->stream[id];
}

static int testdev_read(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 *val)
{
	struct testdev *t = dev;

	*val = ~0ULL;
	if (addr == TESTDEV_PORT_STREAM) {
		struct testdev_stream *st = testdev_stream(t, v);
		*val = 0;
		for (unsigned int i = 0; i < size; i++)
			*val |= (u64)testdev_stream_byte(st->pos++) << (8 * i);
		return 0;
	}
	if (size != 4)
		return 0;
	if (addr == TESTDEV_PORT_LOW)
		*val = (u32)*testdev_latch(t, v);
	else if (addr == TESTDEV_PORT_HIGH)
		*val = (u32)(*testdev_latch(t, v) >> 32);
	return 0;
}

/* The two ports a write does something on, out of line: the write handler's test for them needs no frame (the bench
 * writes the reserved port on every exit it times). */
static __attribute__((noinline)) int stream_write(struct testdev *t, struct vcpu *v, unsigned int size, u64 val)
{
	struct testdev_stream *st = testdev_stream(t, v);

	for (unsigned int i = 0; i < size; i++) {
		st->hash = (st->hash ^ (u8)(val >> (8 * i))) * TESTDEV_FNV_PRIME;
		st->count++;
	}
	return 0;
}

static __attribute__((noinline)) int select_write(struct testdev *t, struct vcpu *v, u64 val)
{
	if (val == TESTDEV_SEL_STREAM) {
		struct testdev_stream *st = testdev_stream(t, v);
		*testdev_latch(t, v) = (u64)st->count << 32 | st->hash;
		stream_reset(st);
		return 0;
	}
	*testdev_latch(t, v) = val < NR_VM_STATS ? vm_stat(t->vm, (enum vm_stat)val) : ~0ULL;
	return 0;
}

static int testdev_write(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 val)
{
	if (addr == TESTDEV_PORT_STREAM)
		return stream_write(dev, v, size, val);
	if (addr == TESTDEV_PORT_SELECT && size == 4)
		return select_write(dev, v, val);
	return 0; /* TESTDEV_PORT_RESERVED and everything else: ignored */
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
	for (u32 i = 0; i < VM_MAX_VCPUS; i++) {
		t->latched[i] = ~0ULL; /* nothing selected yet */
		stream_reset(&t->stream[i]);
	}
	vm->devices[VM_DEV_TESTDEV] = t;
	return io_bus_register(&vm->pio, TESTDEV_PORT_BASE, TESTDEV_PORTS, &testdev_ops, t);
}
