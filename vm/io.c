/* The guest's I/O buses: a sorted array of disjoint ranges, filled before the VM runs and searched on every port or
 * MMIO exit: the range the last lookup found first, then by binary search. Handlers get the absolute address (port number or gpa), so a device that spans several
 * ranges (the PIC) or decodes sub-registers needs no base arithmetic from the bus. */
#include "vm/io.h"
#include "hv/compiler.h"
#include "hv/errno.h"
#include "hv/log.h"

const u64 io_size_masks[9] = { [1] = 0xff, [2] = 0xffff, [4] = 0xffffffff, [8] = ~0ULL };

static __always_inline bool io_size_valid(unsigned int size)
{
	return io_size_mask(size) != 0;
}

int io_bus_register(struct io_bus *bus, u64 start, u64 len, const struct io_handler *h, void *dev)
{
	u32 i;

	if (!bus || !h || len == 0 || start + len < start) {
		pr_err("io: bad registration [%#llx, +%#llx) for %s\n", (unsigned long long)start,
		       (unsigned long long)len, h && h->name ? h->name : "(null)");
		return -EINVAL;
	}
	if (bus->n >= VM_MAX_IO_RANGES) {
		pr_err("io: no room for %s at %#llx: all %u ranges used\n", h->name, (unsigned long long)start,
		       VM_MAX_IO_RANGES);
		return -ENOSPC;
	}

	/* First range that starts at or after the new one; the new range goes just before it. */
	for (i = 0; i < bus->n && bus->r[i].start < start; i++)
		;
	if ((i > 0 && bus->r[i - 1].end > start) || (i < bus->n && bus->r[i].start < start + len)) {
		const struct io_range *o = (i > 0 && bus->r[i - 1].end > start) ? &bus->r[i - 1] : &bus->r[i];

		pr_err("io: %s at [%#llx, %#llx) overlaps %s at [%#llx, %#llx)\n", h->name, (unsigned long long)start,
		       (unsigned long long)(start + len), o->h->name, (unsigned long long)o->start,
		       (unsigned long long)o->end);
		return -EEXIST;
	}

	for (u32 j = bus->n; j > i; j--)
		bus->r[j] = bus->r[j - 1];
	bus->r[i] = (struct io_range){.start = start, .end = start + len, .h = h, .dev = dev};
	bus->n++;
	return 0;
}

/* An access that straddles a range boundary belongs to the range of its first byte; the device decides what the bytes
 * beyond its end mean. */
const struct io_range *io_bus_search(struct io_bus *bus, u64 addr)
{
	u32 lo = 0, hi = bus->n;

	while (lo < hi) {
		u32 mid = lo + (hi - lo) / 2;
		const struct io_range *r = &bus->r[mid];

		if (addr < r->start)
			hi = mid;
		else if (addr >= r->end)
			lo = mid + 1;
		else {
			__atomic_store_n(&bus->last, mid, __ATOMIC_RELAXED);
			return r;
		}
	}
	__atomic_fetch_add(&bus->unclaimed, 1, __ATOMIC_RELAXED);
	return NULL;
}

int io_bus_read_search(struct io_bus *bus, struct vcpu *v, u64 addr, unsigned int size, u64 *val)
{
	return io_range_read(io_bus_search(bus, addr), v, addr, size, val, io_size_mask(size));
}

int io_bus_write_search(struct io_bus *bus, struct vcpu *v, u64 addr, unsigned int size, u64 val)
{
	return io_range_write(io_bus_search(bus, addr), v, addr, size, val);
}

/*
 * What the CPU puts on the bus for an access to uncached memory is a set of transactions, each naturally aligned
 * with byte enables for the bytes it wants; an access split at a page end (RAM then MMIO, or two MMIO pages) leaves
 * 3, 5, 6 or 7 bytes on one side, which no device register has. Such a remnant reaches the devices as the naturally
 * aligned 1-, 2- and 4-byte pieces it is made of (as QEMU's memory core splits an access a region cannot take whole),
 * so every device sees sizes it decodes and the guest's access completes. An access of 1, 2, 4 or 8 bytes stays
 * whole, aligned or not, as KVM hands it to its devices: the device decides what a misaligned register access means
 * (the LAPIC ignores it, SDM 11.4.1). A longer access (CMPXCHG16B, the vector moves) goes 8 bytes at a time, as
 * hardware splits SSE accesses to uncached memory.
 */
unsigned int io_mmio_piece(u64 addr, unsigned int len)
{
	unsigned int p;

	if (len >= 8)
		return 8;
	if (io_size_valid(len))
		return len;
	/* The largest power of two below len (len is 3, 5, 6 or 7) that addr is aligned to. */
	for (p = len >= 4 ? 4 : 2; p > 1 && (addr & (p - 1)); p >>= 1)
		;
	return p;
}
