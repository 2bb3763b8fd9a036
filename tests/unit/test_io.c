/* Unit tests of the I/O bus (vm/io.c): sorted registration, overlap and capacity checks, binary-search dispatch,
 * straddling accesses, the last-range hint, and the all-ones answer for ports nobody decodes. */
#include <string.h>

#include "test.h"
#include "hv/errno.h"
#include "vm/io.h"

/* A recording device: reads return its tag in every byte, writes are remembered. */
struct rec_dev {
	u8 tag;
	u32 reads, writes;
	u64 last_addr, last_val;
	unsigned int last_size;
};

static int rec_read(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 *val)
{
	struct rec_dev *d = dev;

	d->reads++;
	d->last_addr = addr;
	d->last_size = size;
	*val = 0x0101010101010101ULL * d->tag;
	return 0;
}

static int rec_write(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 val)
{
	struct rec_dev *d = dev;

	d->writes++;
	d->last_addr = addr;
	d->last_size = size;
	d->last_val = val;
	return 0;
}

static int fail_read(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 *val)
{
	return -EIO;
}

static const struct io_handler rec_ops = {.name = "rec", .read = rec_read, .write = rec_write};
static const struct io_handler wo_ops = {.name = "write-only", .write = rec_write};
static const struct io_handler fail_ops = {.name = "fail", .read = fail_read};

static struct io_bus bus;

TEST(io_register_keeps_ranges_sorted)
{
	struct rec_dev a = {.tag = 0xa}, b = {.tag = 0xb}, c = {.tag = 0xc};

	memset(&bus, 0, sizeof(bus));
	CHECK_EQ(io_bus_register(&bus, 0x3f8, 8, &rec_ops, &b), 0);
	CHECK_EQ(io_bus_register(&bus, 0x510, 2, &rec_ops, &c), 0);
	CHECK_EQ(io_bus_register(&bus, 0x20, 2, &rec_ops, &a), 0);
	CHECK_EQ(bus.n, 3);
	CHECK_EQ(bus.r[0].start, 0x20);
	CHECK_EQ(bus.r[0].end, 0x22);
	CHECK_EQ(bus.r[1].start, 0x3f8);
	CHECK_EQ(bus.r[2].start, 0x510);
	CHECK(bus.r[2].dev == &c);
}

TEST(io_register_rejects_overlap_and_zero_length)
{
	struct rec_dev a = {0};

	memset(&bus, 0, sizeof(bus));
	CHECK_EQ(io_bus_register(&bus, 0x100, 0x10, &rec_ops, &a), 0);
	CHECK_EQ(io_bus_register(&bus, 0x10f, 1, &rec_ops, &a), -EEXIST);   /* last byte */
	CHECK_EQ(io_bus_register(&bus, 0xf0, 0x11, &rec_ops, &a), -EEXIST); /* runs into the first byte */
	CHECK_EQ(io_bus_register(&bus, 0xf0, 0x40, &rec_ops, &a), -EEXIST); /* covers it */
	CHECK_EQ(io_bus_register(&bus, 0x104, 2, &rec_ops, &a), -EEXIST);   /* inside it */
	CHECK_EQ(io_bus_register(&bus, 0x200, 0, &rec_ops, &a), -EINVAL);
	CHECK_EQ(io_bus_register(&bus, ~0ULL - 1, 4, &rec_ops, &a), -EINVAL); /* wraps */
	CHECK_EQ(io_bus_register(&bus, 0x200, 1, NULL, &a), -EINVAL);
	/* Touching ranges on both sides are fine. */
	CHECK_EQ(io_bus_register(&bus, 0xf0, 0x10, &rec_ops, &a), 0);
	CHECK_EQ(io_bus_register(&bus, 0x110, 0x10, &rec_ops, &a), 0);
	CHECK_EQ(bus.n, 3);
}

TEST(io_register_full_bus_is_enospc)
{
	struct rec_dev a = {0};

	memset(&bus, 0, sizeof(bus));
	for (u32 i = 0; i < VM_MAX_IO_RANGES; i++)
		CHECK_EQ(io_bus_register(&bus, 0x1000 - 0x10 * i, 4, &rec_ops, &a), 0);
	CHECK_EQ(io_bus_register(&bus, 0x8000, 4, &rec_ops, &a), -ENOSPC);
	for (u32 i = 1; i < bus.n; i++)
		CHECK(bus.r[i - 1].end <= bus.r[i].start);
}

TEST(io_dispatch_finds_every_range)
{
	struct rec_dev d[VM_MAX_IO_RANGES];
	u64 val;

	memset(&bus, 0, sizeof(bus));
	/* Registered in a scrambled order, each 3 ports wide with a gap of 5. */
	for (u32 k = 0; k < VM_MAX_IO_RANGES; k++) {
		u32 i = (k * 7) % VM_MAX_IO_RANGES;

		memset(&d[i], 0, sizeof(d[i]));
		d[i].tag = (u8)(i + 1);
		CHECK_EQ(io_bus_register(&bus, 0x100 + 8 * i, 3, &rec_ops, &d[i]), 0);
	}
	for (u32 i = 0; i < VM_MAX_IO_RANGES; i++) {
		for (u32 off = 0; off < 8; off++) {
			u64 port = 0x100 + 8 * i + off;

			CHECK_EQ(io_bus_read(&bus, NULL, port, 1, &val), 0);
			CHECK_EQ(val, off < 3 ? i + 1 : 0xff);
		}
		CHECK_EQ(d[i].reads, 3);
		CHECK_EQ(d[i].last_addr, 0x100 + 8 * i + 2); /* handlers see the absolute address */
	}
	CHECK_EQ(bus.unclaimed, VM_MAX_IO_RANGES * 5);
}

/* The last-range hint: a run of accesses to one device, then one just past its end and one into a range registered
 * after the hint was set (which moves the indices), then back; every access reaches what the binary search alone
 * would have found, and the hint follows the last range found. */
TEST(io_last_range_hint_never_misroutes)
{
	struct rec_dev a = {.tag = 1}, b = {.tag = 2}, c = {.tag = 3};
	u64 val;

	memset(&bus, 0, sizeof(bus));
	CHECK_EQ(io_bus_register(&bus, 0x60, 4, &rec_ops, &a), 0);
	CHECK_EQ(io_bus_register(&bus, 0x70, 2, &rec_ops, &b), 0);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(io_bus_read(&bus, NULL, 0x71, 1, &val), 0);
		CHECK_EQ(val, 2);
	}
	CHECK_EQ(bus.last, 1);
	CHECK_EQ(io_bus_read(&bus, NULL, 0x72, 1, &val), 0); /* just past b: unclaimed, not b's */
	CHECK_EQ(val, 0xff);
	CHECK_EQ(b.reads, 3);
	CHECK_EQ(io_bus_register(&bus, 0x20, 2, &rec_ops, &c), 0); /* now a is r[1], b r[2]; the hint still says 1 */
	CHECK_EQ(io_bus_write(&bus, NULL, 0x70, 1, 0x5a), 0);
	CHECK_EQ(b.writes, 1);
	CHECK_EQ(b.last_val, 0x5a);
	CHECK_EQ(a.writes, 0);
	CHECK_EQ(bus.last, 2);
	CHECK_EQ(io_bus_read(&bus, NULL, 0x63, 1, &val), 0);
	CHECK_EQ(val, 1);
	CHECK_EQ(io_bus_read(&bus, NULL, 0x21, 1, &val), 0);
	CHECK_EQ(val, 3);
	CHECK_EQ(bus.last, 0);
	CHECK_EQ(bus.unclaimed, 1);
}

/* The inline hint test compares against r[last] even on an empty bus: the unused ranges are [0, 0) and match no
 * address, port 0 included; a range that starts at 0 is found through the hint like any other. */
TEST(io_hint_on_empty_ranges_and_port_zero)
{
	struct rec_dev a = {.tag = 7};
	u64 val;

	memset(&bus, 0, sizeof(bus));
	CHECK_EQ(io_bus_read(&bus, NULL, 0, 1, &val), 0);
	CHECK_EQ(val, 0xff);
	CHECK_EQ(io_bus_write(&bus, NULL, 0, 2, 1), 0);
	CHECK_EQ(bus.unclaimed, 2);
	CHECK_EQ(io_bus_register(&bus, 0, 0x10, &rec_ops, &a), 0);
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(io_bus_read(&bus, NULL, 0, 1, &val), 0);
		CHECK_EQ(val, 7);
	}
	CHECK_EQ(a.reads, 2);
	CHECK_EQ(io_bus_read(&bus, NULL, 0x10, 1, &val), 0); /* just past it: the hint misses, the search finds nothing */
	CHECK_EQ(val, 0xff);
	CHECK_EQ(bus.unclaimed, 3);
	CHECK_EQ(io_bus_read(&bus, NULL, 0, 3, &val), -EINVAL); /* no access has 3 bytes: refused, reads all ones */
	CHECK_EQ(val, ~0ULL);
	CHECK_EQ(a.reads, 2);
}

TEST(io_unclaimed_reads_all_ones_and_drops_writes)
{
	struct rec_dev a = {.tag = 0x55};
	u64 val = 0;

	memset(&bus, 0, sizeof(bus));
	CHECK_EQ(io_bus_register(&bus, 0x60, 1, &rec_ops, &a), 0);
	CHECK_EQ(io_bus_read(&bus, NULL, 0x80, 1, &val), 0);
	CHECK_EQ(val, 0xff);
	CHECK_EQ(io_bus_read(&bus, NULL, 0x80, 2, &val), 0);
	CHECK_EQ(val, 0xffff);
	CHECK_EQ(io_bus_read(&bus, NULL, 0x80, 4, &val), 0);
	CHECK_EQ(val, 0xffffffff);
	CHECK_EQ(io_bus_read(&bus, NULL, 0xfee00000, 8, &val), 0);
	CHECK_EQ(val, ~0ULL);
	CHECK_EQ(io_bus_write(&bus, NULL, 0x80, 1, 0x12), 0);
	CHECK_EQ(bus.unclaimed, 5);
	CHECK_EQ(a.reads + a.writes, 0);
	CHECK_EQ(io_bus_read(&bus, NULL, 0x80, 3, &val), -EINVAL);
	CHECK_EQ(io_bus_write(&bus, NULL, 0x60, 0, 0), -EINVAL);
}

TEST(io_straddling_access_goes_to_first_byte)
{
	struct rec_dev a = {.tag = 0xa}, b = {.tag = 0xb};
	u64 val;

	memset(&bus, 0, sizeof(bus));
	CHECK_EQ(io_bus_register(&bus, 0x10, 2, &rec_ops, &a), 0);
	CHECK_EQ(io_bus_register(&bus, 0x12, 2, &rec_ops, &b), 0);
	CHECK_EQ(io_bus_read(&bus, NULL, 0x11, 4, &val), 0);
	CHECK_EQ(a.reads, 1);
	CHECK_EQ(b.reads, 0);
	CHECK_EQ(a.last_addr, 0x11);
	CHECK_EQ(a.last_size, 4);
	/* Starting in a hole and running into a device: unclaimed. */
	CHECK_EQ(io_bus_read(&bus, NULL, 0x0f, 2, &val), 0);
	CHECK_EQ(val, 0xffff);
	CHECK_EQ(a.reads, 1);
	CHECK_EQ(bus.unclaimed, 1);
}

TEST(io_values_are_size_masked)
{
	struct rec_dev a = {.tag = 0xab};
	u64 val;

	memset(&bus, 0, sizeof(bus));
	CHECK_EQ(io_bus_register(&bus, 0x70, 2, &rec_ops, &a), 0);
	CHECK_EQ(io_bus_read(&bus, NULL, 0x70, 1, &val), 0);
	CHECK_EQ(val, 0xab);
	CHECK_EQ(io_bus_read(&bus, NULL, 0x70, 2, &val), 0);
	CHECK_EQ(val, 0xabab);
	CHECK_EQ(io_bus_write(&bus, NULL, 0x71, 1, 0x1234), 0);
	CHECK_EQ(a.last_val, 0x34);
	CHECK_EQ(a.last_size, 1);
	CHECK_EQ(io_bus_write(&bus, NULL, 0x70, 2, 0xdeadbeef), 0);
	CHECK_EQ(a.last_val, 0xbeef);
}

TEST(io_handler_errors_and_missing_callbacks)
{
	struct rec_dev a = {0};
	u64 val;

	memset(&bus, 0, sizeof(bus));
	CHECK_EQ(io_bus_register(&bus, 0x10, 1, &fail_ops, NULL), 0);
	CHECK_EQ(io_bus_register(&bus, 0x20, 1, &wo_ops, &a), 0);
	CHECK_EQ(io_bus_read(&bus, NULL, 0x10, 1, &val), -EIO);
	CHECK_EQ(io_bus_write(&bus, NULL, 0x10, 1, 0), 0); /* claimed, read-only: dropped */
	CHECK_EQ(io_bus_read(&bus, NULL, 0x20, 2, &val), 0);
	CHECK_EQ(val, 0xffff);
	CHECK_EQ(io_bus_write(&bus, NULL, 0x20, 1, 7), 0);
	CHECK_EQ(a.writes, 1);
	CHECK_EQ(bus.unclaimed, 0);
}

/* io_mmio_piece on every start alignment and length up to 20 bytes: the pieces tile the access exactly, each is 1, 2,
 * 4 or 8 bytes, and a piece is cut (not the whole access) only from an odd remnant or past 8 bytes, where it is
 * naturally aligned unless it is 8 bytes of a longer access. */
TEST(io_mmio_pieces_tile_the_access_in_device_sizes)
{
	for (u64 base = 0xfee00ff0; base < 0xfee01000; base++) {
		for (unsigned int len = 1; len <= 20; len++) {
			u64 addr = base;
			unsigned int left = len, pieces = 0;

			while (left) {
				unsigned int n = io_mmio_piece(addr, left);

				CHECK(n == 1 || n == 2 || n == 4 || n == 8);
				CHECK(n <= left);
				if (n != left && n != 8)
					CHECK_EQ(addr & (n - 1), 0);
				addr += n;
				left -= n;
				CHECK(++pieces <= len);
			}
			CHECK_EQ(addr, base + len);
		}
	}
}

/* The splits the page-end cases give, spelled out (an 8-byte access 3, 5 or 7 bytes before a page end). */
TEST(io_mmio_piece_examples)
{
	CHECK_EQ(io_mmio_piece(0x1ffd, 3), 1); /* then 2 at 0x1ffe */
	CHECK_EQ(io_mmio_piece(0x1ffe, 2), 2);
	CHECK_EQ(io_mmio_piece(0x2000, 5), 4); /* then 1 at 0x2004 */
	CHECK_EQ(io_mmio_piece(0x2004, 1), 1);
	CHECK_EQ(io_mmio_piece(0x2000, 7), 4); /* then 2, then 1 */
	CHECK_EQ(io_mmio_piece(0x2004, 3), 2);
	CHECK_EQ(io_mmio_piece(0x2006, 1), 1);
	CHECK_EQ(io_mmio_piece(0x1ffb, 5), 1); /* 0x1ffb: 1, 0x1ffc: 4 */
	CHECK_EQ(io_mmio_piece(0x1ffc, 4), 4);
	CHECK_EQ(io_mmio_piece(0x1ff9, 7), 1); /* 1 + 2 + 4 */
	CHECK_EQ(io_mmio_piece(0x1ffa, 6), 2);
	CHECK_EQ(io_mmio_piece(0x2002, 6), 2); /* 2 + 4 */
	CHECK_EQ(io_mmio_piece(0x2004, 4), 4);
	/* Whole accesses stay whole, misaligned ones included; longer ones go 8 at a time. */
	CHECK_EQ(io_mmio_piece(0x1001, 4), 4);
	CHECK_EQ(io_mmio_piece(0x1003, 8), 8);
	CHECK_EQ(io_mmio_piece(0x1003, 16), 8);
	CHECK_EQ(io_mmio_piece(0x1000, 13), 8);
}
