/* Unit tests of virtio-blk (vm/dev/virtio/blk.c) against a fake guest memory and hand-built requests (virtio v1.2,
 * 5.2.6): reads and writes across segment boundaries, the configuration space, read-only disks, out-of-range and
 * malformed requests with the status the spec asks for, discard and write-zeroes, GET_ID, the counters, and the
 * notify loop failing the device on a broken chain. */
#include <string.h>

#include "test.h"
#include "virtio_fake.h"
#include "hv/errno.h"
#include "vm/dev/virtio/blk.h"

#define DISK_SECTORS 128 /* 64 KiB */
#define HDR_GPA	     0x1000
#define DATA_GPA     0x10000
#define STATUS_GPA   0x3000

static u8 disk[DISK_SECTORS * 512];
static u64 hdr_gpa = HDR_GPA; /* where build() puts the header: requests queued together need their own */
static struct virtio_blk blk;
static struct virtio_req req;

static void setup(bool ro)
{
	memset(fake_mem, 0xcc, sizeof(fake_mem));
	for (u32 i = 0; i < sizeof(disk); i++)
		disk[i] = (u8)(i * 7 + i / 512);
	fake_queue_reset();
	CHECK_EQ(virtio_blk_init(&blk, NULL, &fake_virtio_mem, disk, sizeof(disk), ro, "vda"), 0);
}

static void put_hdr(u64 gpa, u32 type, u64 sector)
{
	memset(fake_mem + gpa, 0, 16);
	memcpy(fake_mem + gpa, &type, 4);
	memcpy(fake_mem + gpa + 8, &sector, 8);
}

/* A request: header, `nseg` data segments of seg_len bytes each at DATA_GPA (spaced 0x1000 apart, readable for OUT
 * and the discard kinds, writable for the others), then the status byte. */
static void build(u32 type, u64 sector, u32 nseg, u32 seg_len)
{
	bool data_writable = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;

	put_hdr(hdr_gpa, type, sector);
	fake_req_init(&req, 5);
	fake_req_add(&req, hdr_gpa, 16, false);
	if (!data_writable)
		for (u32 i = 0; i < nseg; i++)
			fake_req_add(&req, DATA_GPA + i * 0x1000, seg_len, false);
	if (data_writable)
		for (u32 i = 0; i < nseg; i++)
			fake_req_add(&req, DATA_GPA + i * 0x1000, seg_len, true);
	fake_req_add(&req, STATUS_GPA, 1, true);
}

static int serve(void)
{
	return virtio_blk_serve(&blk, &req, &fake_virtio_mem);
}

static u8 status(void)
{
	return fake_mem[STATUS_GPA];
}

static void config(u32 off, void *buf, u32 len)
{
	blk.dev.ops->config_read(&blk.dev, off, buf, len);
}

TEST(virtio_blk_config_space)
{
	u64 cap;
	u32 v32;
	u16 v16;

	setup(false);
	CHECK_EQ(blk.dev.ops->device_id, VIRTIO_ID_BLOCK);
	CHECK_EQ(blk.dev.ops->nr_queues, 1);
	CHECK_EQ(blk.dev.ops->config_len, 60);
	config(0, &cap, 8);
	CHECK_EQ(cap, DISK_SECTORS);
	config(12, &v32, 4);
	CHECK_EQ(v32, VIRTQ_MAX_SIZE - 2); /* seg_max */
	config(20, &v32, 4);
	CHECK_EQ(v32, 512); /* blk_size */
	config(34, &v16, 2);
	CHECK_EQ(v16, 1); /* num_queues */
	config(36, &v32, 4);
	CHECK_EQ(v32, VIRTIO_BLK_DISCARD_SECTORS);
	config(40, &v32, 4);
	CHECK_EQ(v32, VIRTIO_BLK_DISCARD_SEGS);
	config(44, &v32, 4);
	CHECK_EQ(v32, VIRTIO_BLK_DISCARD_ALIGN);
	/* A read of part of a field, as a driver may do byte by byte. */
	u8 b;
	config(1, &b, 1);
	CHECK_EQ(b, 0);
	config(0, &b, 1);
	CHECK_EQ(b, DISK_SECTORS);
	/* writeback (32) reads 0, and config writes change nothing. */
	config(32, &b, 1);
	CHECK_EQ(b, 0);
	b = 1;
	blk.dev.ops->config_write(&blk.dev, 32, &b, 1);
	config(32, &b, 1);
	CHECK_EQ(b, 0);
}

/* No F_FLUSH and no F_CONFIG_WCE: the guest must see a write-through disk (the top of blk.c says why). */
TEST(virtio_blk_features)
{
	u64 f;

	setup(false);
	f = blk.dev.ops->features;
	CHECK(f & 1ull << VIRTIO_BLK_F_SEG_MAX);
	CHECK(f & 1ull << VIRTIO_BLK_F_BLK_SIZE);
	CHECK(f & 1ull << VIRTIO_BLK_F_DISCARD);
	CHECK(f & 1ull << VIRTIO_BLK_F_WRITE_ZEROES);
	CHECK(!(f & 1ull << VIRTIO_BLK_F_RO));
	CHECK(!(f & 1ull << VIRTIO_BLK_F_FLUSH));
	CHECK(!(f & 1ull << VIRTIO_BLK_F_CONFIG_WCE));
	CHECK_EQ(f >> 24, 0); /* transport bits are the core's */
	setup(true);
	f = blk.dev.ops->features;
	CHECK(f & 1ull << VIRTIO_BLK_F_RO);
	CHECK(!(f & 1ull << VIRTIO_BLK_F_DISCARD));
	CHECK(!(f & 1ull << VIRTIO_BLK_F_FLUSH));
}

TEST(virtio_blk_init_refuses_partial_sectors)
{
	struct virtio_blk b;

	CHECK_EQ(virtio_blk_init(&b, NULL, &fake_virtio_mem, disk, 1000, false, "vda"), -EINVAL);
	CHECK_EQ(virtio_blk_init(&b, NULL, &fake_virtio_mem, disk, 0, false, "vda"), -EINVAL);
	CHECK_EQ(virtio_blk_init(&b, NULL, &fake_virtio_mem, disk, 512, false, "an-id-longer-than-20-bytes"), -EINVAL);
	CHECK_EQ(virtio_blk_init(&b, NULL, &fake_virtio_mem, disk, 512, false, "vdb"), 0);
	CHECK_EQ(b.sectors, 1);
}

/* A read of 3 sectors from sector 10 in segments of 512, 1024 and 0 bytes... as 3 x 512: data lands in each segment,
 * the status is OK, and written counts data + status. */
TEST(virtio_blk_read)
{
	setup(false);
	build(VIRTIO_BLK_T_IN, 10, 3, 512);
	CHECK_EQ(serve(), 3 * 512 + 1);
	CHECK_EQ(status(), VIRTIO_BLK_S_OK);
	for (u32 i = 0; i < 3; i++)
		CHECK(memcmp(fake_mem + DATA_GPA + i * 0x1000, disk + (10 + i) * 512, 512) == 0);
	CHECK_EQ(blk.stats.reads, 1);
	CHECK_EQ(blk.stats.read_bytes, 1536);
	CHECK_EQ(blk.stats.ioerr, 0);
}

/* Segments that split sectors (a 512-byte sector across two 256-byte segments) are fine: only the total counts. */
TEST(virtio_blk_write_then_read_back)
{
	setup(false);
	for (u32 i = 0; i < 4; i++)
		memset(fake_mem + DATA_GPA + i * 0x1000, 0xa0 + i, 256);
	build(VIRTIO_BLK_T_OUT, DISK_SECTORS - 2, 4, 256);
	CHECK_EQ(serve(), 1);
	CHECK_EQ(status(), VIRTIO_BLK_S_OK);
	for (u32 i = 0; i < 4; i++)
		for (u32 j = 0; j < 256; j++)
			CHECK_EQ(disk[(DISK_SECTORS - 2) * 512 + i * 256 + j], 0xa0 + i);
	CHECK_EQ(blk.stats.writes, 1);
	CHECK_EQ(blk.stats.write_bytes, 1024);

	memset(fake_mem + DATA_GPA, 0, 0x4000);
	build(VIRTIO_BLK_T_IN, DISK_SECTORS - 1, 1, 512);
	CHECK_EQ(serve(), 513);
	CHECK_EQ(fake_mem[DATA_GPA], 0xa2);
	CHECK_EQ(fake_mem[DATA_GPA + 511], 0xa3);
}

/* 5.2.6.2: a request past the end (or at a sector that overflows) is an IOERR and transfers nothing. */
TEST(virtio_blk_out_of_range)
{
	u8 before[sizeof(disk)];

	setup(false);
	memcpy(before, disk, sizeof(disk));
	build(VIRTIO_BLK_T_IN, DISK_SECTORS - 1, 2, 512);
	CHECK_EQ(serve(), 1);
	CHECK_EQ(status(), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(fake_mem[DATA_GPA], 0xcc); /* nothing read */
	build(VIRTIO_BLK_T_OUT, DISK_SECTORS, 1, 512);
	CHECK_EQ(serve(), 1);
	CHECK_EQ(status(), VIRTIO_BLK_S_IOERR);
	build(VIRTIO_BLK_T_OUT, ~0ull - 1, 4, 512); /* sector + n wraps */
	CHECK_EQ(serve(), 1);
	CHECK_EQ(status(), VIRTIO_BLK_S_IOERR);
	build(VIRTIO_BLK_T_OUT, ~0ull / 512 + 1, 1, 512); /* sector * 512 wraps */
	CHECK_EQ(serve(), 1);
	CHECK_EQ(status(), VIRTIO_BLK_S_IOERR);
	/* A zero-length read at the end is in range. */
	build(VIRTIO_BLK_T_IN, DISK_SECTORS, 0, 0);
	CHECK_EQ(serve(), 1);
	CHECK_EQ(status(), VIRTIO_BLK_S_OK);
	CHECK(memcmp(before, disk, sizeof(disk)) == 0);
	CHECK_EQ(blk.stats.ioerr, 4);
	CHECK_EQ(blk.stats.writes, 0);
}

TEST(virtio_blk_partial_sector_is_ioerr)
{
	setup(false);
	build(VIRTIO_BLK_T_IN, 0, 1, 100);
	CHECK_EQ(serve(), 1);
	CHECK_EQ(status(), VIRTIO_BLK_S_IOERR);
	build(VIRTIO_BLK_T_OUT, 0, 3, 200);
	CHECK_EQ(serve(), 1);
	CHECK_EQ(status(), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(blk.stats.ioerr, 2);
}

/* 5.2.6.2: on a read-only disk a write is an IOERR and writes no data; reads work. */
TEST(virtio_blk_read_only)
{
	u8 before[sizeof(disk)];

	setup(true);
	memcpy(before, disk, sizeof(disk));
	memset(fake_mem + DATA_GPA, 0x55, 512);
	build(VIRTIO_BLK_T_OUT, 0, 1, 512);
	CHECK_EQ(serve(), 1);
	CHECK_EQ(status(), VIRTIO_BLK_S_IOERR);
	build(VIRTIO_BLK_T_DISCARD, 0, 1, 16);
	memset(fake_mem + DATA_GPA, 0, 16);
	fake_mem[DATA_GPA + 8] = 8;
	CHECK_EQ(serve(), 1);
	CHECK_EQ(status(), VIRTIO_BLK_S_IOERR);
	CHECK(memcmp(before, disk, sizeof(disk)) == 0);
	build(VIRTIO_BLK_T_IN, 0, 1, 512);
	CHECK_EQ(serve(), 513);
	CHECK_EQ(status(), VIRTIO_BLK_S_OK);
	CHECK_EQ(blk.stats.ioerr, 2);
	CHECK_EQ(blk.stats.reads, 1);
}

TEST(virtio_blk_unknown_type_is_unsupp)
{
	setup(false);
	build(77, 0, 0, 0);
	CHECK_EQ(serve(), 1);
	CHECK_EQ(status(), VIRTIO_BLK_S_UNSUPP);
	build(10 /* GET_LIFETIME, not offered */, 0, 0, 0);
	CHECK_EQ(serve(), 1);
	CHECK_EQ(status(), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(blk.stats.unsupp, 2);
}

TEST(virtio_blk_flush_is_counted)
{
	setup(false);
	build(VIRTIO_BLK_T_FLUSH, 0, 0, 0);
	CHECK_EQ(serve(), 1);
	CHECK_EQ(status(), VIRTIO_BLK_S_OK);
	CHECK_EQ(blk.stats.flushes, 1);
}

/* GET_ID: 20 bytes, NUL-padded; a shorter buffer gets what fits. */
TEST(virtio_blk_get_id)
{
	setup(false);
	build(VIRTIO_BLK_T_GET_ID, 0, 1, 20);
	CHECK_EQ(serve(), 21);
	CHECK_EQ(status(), VIRTIO_BLK_S_OK);
	CHECK(memcmp(fake_mem + DATA_GPA, "vda\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20) == 0);
	CHECK_EQ(fake_mem[DATA_GPA + 20], 0xcc);
	memset(fake_mem + DATA_GPA, 0xcc, 32);
	build(VIRTIO_BLK_T_GET_ID, 0, 1, 2);
	CHECK_EQ(serve(), 3);
	CHECK(memcmp(fake_mem + DATA_GPA, "vd\xcc", 3) == 0);
	CHECK_EQ(blk.stats.get_ids, 2);
}

static void put_dwz(u32 i, u64 sector, u32 n, u32 flags)
{
	u8 *p = fake_mem + DATA_GPA + i * 0x1000;

	memcpy(p, &sector, 8);
	memcpy(p + 8, &n, 4);
	memcpy(p + 12, &flags, 4);
}

/* Discard and write-zeroes leave zeroes in exactly the ranges named; one bad segment makes the whole request change
 * nothing; flags the device does not know, or unmap on a discard, are UNSUPP (5.2.6.2). */
TEST(virtio_blk_discard_and_write_zeroes)
{
	u8 before[sizeof(disk)];

	setup(false);
	put_dwz(0, 2, 1, 0);
	put_dwz(1, 8, 3, 0);
	build(VIRTIO_BLK_T_DISCARD, 0, 2, 16);
	CHECK_EQ(serve(), 1);
	CHECK_EQ(status(), VIRTIO_BLK_S_OK);
	for (u32 s = 0; s < 16; s++) {
		bool zero = s == 2 || (s >= 8 && s < 11);
		for (u32 j = 0; j < 512; j++)
			if (zero)
				CHECK_EQ(disk[s * 512 + j], 0);
		if (!zero)
			CHECK_EQ(disk[s * 512 + 1], (u8)((s * 512 + 1) * 7 + s));
	}
	CHECK_EQ(blk.stats.discards, 1);

	memcpy(before, disk, sizeof(disk));
	put_dwz(0, 20, 1, 0);
	put_dwz(1, DISK_SECTORS - 1, 2, 0); /* past the end */
	build(VIRTIO_BLK_T_DISCARD, 0, 2, 16);
	CHECK_EQ(serve(), 1);
	CHECK_EQ(status(), VIRTIO_BLK_S_IOERR);
	CHECK(memcmp(before, disk, sizeof(disk)) == 0);

	put_dwz(0, 20, 1, 1); /* unmap on a discard */
	build(VIRTIO_BLK_T_DISCARD, 0, 1, 16);
	CHECK_EQ(serve(), 1);
	CHECK_EQ(status(), VIRTIO_BLK_S_UNSUPP);
	put_dwz(0, 20, 1, 2); /* an unknown flag */
	build(VIRTIO_BLK_T_WRITE_ZEROES, 0, 1, 16);
	CHECK_EQ(serve(), 1);
	CHECK_EQ(status(), VIRTIO_BLK_S_UNSUPP);
	CHECK(memcmp(before, disk, sizeof(disk)) == 0);

	build(VIRTIO_BLK_T_DISCARD, 0, 1, 15); /* not a whole segment */
	CHECK_EQ(serve(), 1);
	CHECK_EQ(status(), VIRTIO_BLK_S_IOERR);

	put_dwz(0, 20, 2, 1); /* unmap is allowed on write-zeroes */
	build(VIRTIO_BLK_T_WRITE_ZEROES, 0, 1, 16);
	CHECK_EQ(serve(), 1);
	CHECK_EQ(status(), VIRTIO_BLK_S_OK);
	CHECK_EQ(disk[20 * 512], 0);
	CHECK_EQ(disk[22 * 512 - 1], 0);
	CHECK_EQ(disk[22 * 512], before[22 * 512]);
	CHECK_EQ(blk.stats.write_zeroes, 1);
	CHECK_EQ(blk.stats.unsupp, 2);
	CHECK_EQ(blk.stats.ioerr, 2);
}

/* A chain with no room for the header or the status byte cannot be answered: the model says so, the caller fails the
 * device. */
TEST(virtio_blk_malformed_chains)
{
	setup(false);
	put_hdr(HDR_GPA, VIRTIO_BLK_T_IN, 0);
	fake_req_init(&req, 0);
	fake_req_add(&req, HDR_GPA, 16, false);
	fake_req_add(&req, DATA_GPA, 512, false); /* no writable byte */
	CHECK_EQ(serve(), -EINVAL);
	fake_req_init(&req, 0);
	fake_req_add(&req, HDR_GPA, 8, false); /* half a header */
	fake_req_add(&req, STATUS_GPA, 1, true);
	CHECK_EQ(serve(), -EINVAL);
	CHECK_EQ(fake_mem[STATUS_GPA], 0xcc);
	/* A header split over two segments is a header. */
	fake_req_init(&req, 0);
	fake_req_add(&req, HDR_GPA, 4, false);
	fake_req_add(&req, HDR_GPA + 4, 12, false);
	fake_req_add(&req, STATUS_GPA, 1, true);
	CHECK_EQ(serve(), 1);
	CHECK_EQ(status(), VIRTIO_BLK_S_OK);
	/* Memory that went away under the request. */
	fake_req_init(&req, 0);
	fake_req_add(&req, FAKE_MEM_SIZE - 8, 16, false);
	fake_req_add(&req, STATUS_GPA, 1, true);
	CHECK_EQ(serve(), -EFAULT);
	CHECK_EQ(blk.stats.failed, 3);
}

/* The notify loop: serves every request the queue holds and completes each with what it wrote; stops at a broken
 * chain and fails the device once. */
TEST(virtio_blk_notify_serves_and_fails)
{
	setup(false);
	build(VIRTIO_BLK_T_IN, 1, 1, 512);
	fake_q.req[0] = req;
	fake_q.req[0].head = 3;
	hdr_gpa = HDR_GPA + 0x100;
	build(VIRTIO_BLK_T_FLUSH, 0, 0, 0);
	hdr_gpa = HDR_GPA;
	fake_q.req[1] = req;
	fake_q.req[1].head = 9;
	fake_q.pop_error[2] = -EINVAL;
	fake_q.req[3] = req; /* never reached: the device is broken */
	fake_q.n = 4;
	blk.dev.ops->notify(&blk.dev, 0);
	CHECK_EQ(fake_q.completed, 2);
	CHECK_EQ(fake_q.completed_head[0], 3);
	CHECK_EQ(fake_q.written[0], 513);
	CHECK_EQ(fake_q.completed_head[1], 9);
	CHECK_EQ(fake_q.written[1], 1);
	CHECK_EQ(fake_q.failed, 1);
	CHECK_EQ(blk.stats.reads, 1);
	CHECK_EQ(blk.stats.flushes, 1);
	CHECK_EQ(blk.dev.requests, 2);
	CHECK_EQ(blk.dev.errors, 1);
	CHECK(!spin_is_held_by_me(&blk.dev.q[0].lock));

	/* A request without a status byte, after a good one. */
	fake_queue_reset();
	build(VIRTIO_BLK_T_IN, 1, 1, 512);
	fake_q.req[0] = req;
	fake_req_init(&fake_q.req[1], 4);
	fake_req_add(&fake_q.req[1], HDR_GPA, 16, false);
	fake_q.n = 2;
	blk.dev.ops->notify(&blk.dev, 0);
	CHECK_EQ(fake_q.completed, 1);
	CHECK_EQ(fake_q.failed, 1);
	CHECK_STR(fake_q.fail_why, "request without a header or a status byte");
}
