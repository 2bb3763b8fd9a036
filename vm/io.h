/* The guest's port-I/O and MMIO buses: device models register ranges; the exit handlers dispatch accesses. A port or
 * address no device claims reads as all ones and ignores writes, as on a PC with nothing decoding there. */
#ifndef VM_IO_H
#define VM_IO_H

#include "hv/compiler.h"
#include "hv/errno.h"
#include "hv/types.h"

struct vm;
struct vcpu;

/* size is 1, 2 or 4 for ports, 1, 2, 4 or 8 for MMIO. Reads fill *val (zero-extended). Return 0, or a negative
 * errno for a fault in the device model itself (the VM is then ended with a report). There is no retry: a port
 * exit has stepped over the IN or OUT before the device sees it (vm/exit.c: handle_io). */
struct io_handler {
	const char *name;
	int (*read)(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 *val);
	int (*write)(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 val);
};

#define VM_MAX_IO_RANGES 32

struct io_range {
	u64 start, end; /* [start, end) */
	const struct io_handler *h;
	void *dev;
};

struct io_bus {
	u32 n;
	struct io_range r[VM_MAX_IO_RANGES]; /* sorted, disjoint; set up before the VM runs */
	u64 unclaimed;                        /* accesses no device claimed */
	/* The range the last lookup found (relaxed atomic, any vCPU): a guest's accesses come in runs to one device, so
	 * it is tried before the binary search. Only a hint, checked against r[] (which never changes once the VM
	 * runs), and written only when it changes, so vCPUs using different devices do not keep rewriting it. */
	u32 last;
};

int io_bus_register(struct io_bus *bus, u64 start, u64 len, const struct io_handler *h, void *dev);

/* All ones for `size` bytes (what an undecoded ISA or PCI access returns: the bus floats high), 0 for a size no
 * access has: one load on every port and MMIO exit. */
extern const u64 io_size_masks[9];
static __always_inline u64 io_size_mask(unsigned int size)
{
	return size < ARRAY_SIZE(io_size_masks) ? io_size_masks[size] : 0;
}

/* The range holding addr, or NULL (io.c: the binary search, which also counts an unclaimed access). */
const struct io_range *io_bus_search(struct io_bus *bus, u64 addr);

/* A port or MMIO exit dispatches inline: the last range found is tried with one compare (the ranges past bus->n are
 * empty, [0, 0), and `last` never leaves r[]), and only a miss goes out of line to the search. NULL on a miss. */
static __always_inline const struct io_range *io_bus_hint(struct io_bus *bus, u64 addr)
{
	const struct io_range *r = &bus->r[__atomic_load_n(&bus->last, __ATOMIC_RELAXED)];

	return likely(addr - r->start < r->end - r->start) ? r : NULL;
}

/* One access to the range found (NULL: unclaimed), val already cut to the access size. Unclaimed reads give all
 * ones, as does a write-only device; what a device leaves above the access size is not the guest's to see. */
static __always_inline int io_range_read(const struct io_range *r, struct vcpu *v, u64 addr, unsigned int size,
					 u64 *val, u64 mask)
{
	*val = mask;
	if (!r || !r->h->read)
		return 0;
	int ret = r->h->read(v, r->dev, addr, size, val);
	*val &= mask;
	return ret;
}

static __always_inline int io_range_write(const struct io_range *r, struct vcpu *v, u64 addr, unsigned int size,
					  u64 val)
{
	if (!r || !r->h->write) /* unclaimed, or a read-only device: the write is dropped */
		return 0;
	return r->h->write(v, r->dev, addr, size, val);
}

/* A hint's miss (io.c): the search, then the same access. Out of line, so the hit's path calls the device last
 * (a tail call from a port exit) with nothing of its own left to keep. */
int io_bus_read_search(struct io_bus *bus, struct vcpu *v, u64 addr, unsigned int size, u64 *val);
int io_bus_write_search(struct io_bus *bus, struct vcpu *v, u64 addr, unsigned int size, u64 val);

/* Dispatch one access: 0, a device model's own negative errno, or -EINVAL (all ones read) for a size no access has. */
static __always_inline int io_bus_read(struct io_bus *bus, struct vcpu *v, u64 addr, unsigned int size, u64 *val)
{
	u64 mask = io_size_mask(size);

	if (!mask) {
		*val = ~0ULL;
		return -EINVAL;
	}
	const struct io_range *r = io_bus_hint(bus, addr);
	if (unlikely(!r))
		return io_bus_read_search(bus, v, addr, size, val);
	return io_range_read(r, v, addr, size, val, mask);
}

static __always_inline int io_bus_write(struct io_bus *bus, struct vcpu *v, u64 addr, unsigned int size, u64 val)
{
	u64 mask = io_size_mask(size);

	if (!mask)
		return -EINVAL;
	const struct io_range *r = io_bus_hint(bus, addr);
	if (unlikely(!r))
		return io_bus_write_search(bus, v, addr, size, val & mask);
	return io_range_write(r, v, addr, size, val & mask);
}

/* The size of the first piece of a len-byte MMIO access at addr (len >= 1) that a device is handed: 8 bytes of a
 * longer one, the access itself when it is 1, 2, 4 or 8 bytes, and otherwise (3, 5, 6 or 7 bytes, the remnant of an
 * access split at a page end) the largest naturally aligned 1, 2 or 4 bytes at addr that fit. */
unsigned int io_mmio_piece(u64 addr, unsigned int len);

#endif
