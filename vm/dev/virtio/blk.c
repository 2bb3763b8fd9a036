/* virtio-blk (virtio v1.2, 5.2): one request queue over a disk image in host RAM. Requests are served on the vCPU
 * that kicked the queue, straight between the guest's buffers and the image: no bounce buffer, no request kept
 * across a kick.
 *
 * The write cache, and why there is no F_FLUSH. The image is the medium: a write is in it when the request completes,
 * so there is no volatile cache between completion and the medium that a flush could empty. Offering
 * VIRTIO_BLK_F_FLUSH (or CONFIG_WCE with writeback = 1) would tell the guest there is one, and that a flush pushes
 * data somewhere safer; here a flush could only ever be a no-op that answers OK, which is the false promise of
 * durability the guest must not be given. Without F_FLUSH, Linux registers the disk as write-through (its
 * /sys/block/vdX/queue/write_cache says so) and issues no flushes, as for its own RAM disk (brd). The medium itself
 * is volatile: everything is lost at power-off, and the boot log and the README say so; virtio-blk has no way to
 * tell the guest that. A FLUSH a driver sends anyway (5.2.6.2 lets a device answer it) is answered OK, as there is
 * nothing to write back, and counted, so a test can see that none came. */
#include "vm/dev/virtio/blk.h"
#include "hv/compiler.h"
#include "hv/errno.h"
#include "hv/string.h"

#define HDR_LEN	    16 /* le32 type, le32 reserved, le64 sector */
#define DWZ_LEN	    16 /* struct virtio_blk_discard_write_zeroes: le64 sector, le32 num_sectors, le32 flags */
#define DWZ_F_UNMAP 1u

static void put16(u8 *p, u16 v)
{
	p[0] = (u8)v, p[1] = (u8)(v >> 8);
}

static void put32(u8 *p, u32 v)
{
	put16(p, (u16)v), put16(p + 2, (u16)(v >> 16));
}

static void put64(u8 *p, u64 v)
{
	put32(p, (u32)v), put32(p + 4, (u32)(v >> 32));
}

static u32 get32(const u8 *p)
{
	return (u32)p[0] | (u32)p[1] << 8 | (u32)p[2] << 16 | (u32)p[3] << 24;
}

static u64 get64(const u8 *p)
{
	return get32(p) | (u64)get32(p + 4) << 32;
}

/* The configuration structure (5.2.4), little-endian, rebuilt on each read: it never changes. */
static void blk_config_read(struct virtio_dev *d, u32 off, void *buf, u32 len)
{
	const struct virtio_blk *b = d->priv;
	u8 c[VIRTIO_BLK_CONFIG_LEN] = {0};

	put64(c + 0, b->sectors);		   /* capacity, in 512-byte sectors whatever blk_size says */
	put32(c + 12, VIRTIO_BLK_SEG_MAX);	   /* seg_max; size_max (8) is not offered: any length */
	put32(c + 20, VIRTIO_BLK_SECTOR);	   /* blk_size */
	put16(c + 34, 1);			   /* num_queues (no F_MQ: informational) */
	put32(c + 36, VIRTIO_BLK_DISCARD_SECTORS); /* max_discard_sectors */
	put32(c + 40, VIRTIO_BLK_DISCARD_SEGS);	   /* max_discard_seg */
	put32(c + 44, VIRTIO_BLK_DISCARD_ALIGN);   /* discard_sector_alignment */
	put32(c + 48, VIRTIO_BLK_DISCARD_SECTORS); /* max_write_zeroes_sectors */
	put32(c + 52, VIRTIO_BLK_DISCARD_SEGS);	   /* max_write_zeroes_seg */
	c[56] = 1;				   /* write_zeroes_may_unmap */
	memcpy(buf, c + off, len);		   /* the core checked off + len <= config_len */
}

/* Every field is read-only without F_CONFIG_WCE (5.2.4): a write is dropped, as QEMU drops it. */
static void blk_config_write(struct virtio_dev *d, u32 off, const void *buf, u32 len)
{
	(void)d, (void)off, (void)buf, (void)len;
}

/* Whether [sector, sector + n) lies on the disk, without overflow. */
static bool in_range(const struct virtio_blk *b, u64 sector, u64 n)
{
	return sector <= b->sectors && n <= b->sectors - sector;
}

/* DISCARD and WRITE_ZEROES: a list of segments in the readable part after the header. Both leave zeroes: the
 * image's memory cannot be given back (it is a GRUB module, and the guest would read stale data from a disk that
 * only forgot), and a discarded range that reads as zeroes is what Linux's discard_zeroes_data used to promise. */
static u8 blk_zero_ranges(struct virtio_blk *b, const struct virtio_req *r, const struct virtio_mem *m, bool discard)
{
	u32 bytes = r->out_len - HDR_LEN, nr = bytes / DWZ_LEN;
	u8 seg[DWZ_LEN];

	if (bytes == 0 || bytes % DWZ_LEN || nr > VIRTIO_BLK_DISCARD_SEGS)
		return VIRTIO_BLK_S_IOERR;
	if (b->ro)
		return VIRTIO_BLK_S_IOERR;
	/* Check every segment before zeroing any, so a bad request changes nothing. */
	for (int pass = 0; pass < 2; pass++) {
		for (u32 i = 0; i < nr; i++) {
			if (virtio_req_read(r, m, HDR_LEN + i * DWZ_LEN, seg, DWZ_LEN))
				return VIRTIO_BLK_S_IOERR;
			u64 sector = get64(seg);
			u32 n = get32(seg + 8), flags = get32(seg + 12);

			/* 5.2.6.2: unknown flags, and unmap on a discard, are unsupported. */
			if (flags & ~DWZ_F_UNMAP || (discard && flags))
				return VIRTIO_BLK_S_UNSUPP;
			if (n > VIRTIO_BLK_DISCARD_SECTORS || !in_range(b, sector, n))
				return VIRTIO_BLK_S_IOERR;
			if (pass)
				memset(b->data + sector * VIRTIO_BLK_SECTOR, 0, (u64)n * VIRTIO_BLK_SECTOR);
		}
	}
	return VIRTIO_BLK_S_OK;
}

/* IN and OUT: data of a multiple of 512 bytes from `sector` on. *data_written counts what an IN put in the chain. */
static u8 blk_rw(struct virtio_blk *b, const struct virtio_req *r, const struct virtio_mem *m, u32 type, u64 sector,
		 u32 *data_written)
{
	bool in = type == VIRTIO_BLK_T_IN;
	u32 len = in ? r->in_len - 1 : r->out_len - HDR_LEN;
	u8 *p;

	if (len % VIRTIO_BLK_SECTOR || !in_range(b, sector, len / VIRTIO_BLK_SECTOR))
		return VIRTIO_BLK_S_IOERR;
	p = b->data + sector * VIRTIO_BLK_SECTOR;
	if (!in && b->ro)
		return VIRTIO_BLK_S_IOERR; /* 5.2.6.2: IOERR, and no data written */
	if (in) {
		if (virtio_req_write(r, m, 0, p, len))
			return VIRTIO_BLK_S_IOERR;
		*data_written = len;
		b->stats.reads++;
		b->stats.read_bytes += len;
	} else {
		if (virtio_req_read(r, m, HDR_LEN, p, len))
			return VIRTIO_BLK_S_IOERR;
		b->stats.writes++;
		b->stats.write_bytes += len;
	}
	return VIRTIO_BLK_S_OK;
}

int virtio_blk_serve(struct virtio_blk *b, const struct virtio_req *r, const struct virtio_mem *m)
{
	u8 hdr[HDR_LEN], st;
	u32 data_written = 0;

	/* No header, or no status byte to answer in: nothing the device can say, the chain is broken (5.2.6.1 has
	 * the driver put both there). */
	if (r->out_len < HDR_LEN || r->in_len < 1) {
		b->stats.failed++;
		return -EINVAL;
	}
	if (virtio_req_read(r, m, 0, hdr, HDR_LEN)) {
		b->stats.failed++;
		return -EFAULT;
	}
	u32 type = get32(hdr);
	u64 sector = get64(hdr + 8);

	switch (type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		st = blk_rw(b, r, m, type, sector, &data_written);
		break;
	case VIRTIO_BLK_T_FLUSH:
		b->stats.flushes++;
		st = VIRTIO_BLK_S_OK; /* nothing to write back: see the top of this file */
		break;
	case VIRTIO_BLK_T_GET_ID: {
		u32 n = MIN(r->in_len - 1, (u32)VIRTIO_BLK_ID_BYTES);
		char id[VIRTIO_BLK_ID_BYTES] = {0};

		memcpy(id, b->id, strlen(b->id));
		st = virtio_req_write(r, m, 0, id, n) ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
		if (st == VIRTIO_BLK_S_OK)
			data_written = n;
		b->stats.get_ids++;
		break;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		st = blk_zero_ranges(b, r, m, type == VIRTIO_BLK_T_DISCARD);
		if (st == VIRTIO_BLK_S_OK && type == VIRTIO_BLK_T_DISCARD)
			b->stats.discards++;
		else if (st == VIRTIO_BLK_S_OK)
			b->stats.write_zeroes++;
		break;
	default:
		st = VIRTIO_BLK_S_UNSUPP;
		break;
	}
	if (st == VIRTIO_BLK_S_IOERR)
		b->stats.ioerr++;
	else if (st == VIRTIO_BLK_S_UNSUPP)
		b->stats.unsupp++;
	/* The status is the last byte of the writable part, wherever the data ended. */
	if (virtio_req_write(r, m, r->in_len - 1, &st, 1)) {
		b->stats.failed++;
		return -EFAULT;
	}
	return (int)(data_written + 1);
}

/* The queue's requests, served on the kicking vCPU until the avail ring is empty. A guest that keeps the ring full
 * keeps only its own vCPU busy here. */
static void blk_notify(struct virtio_dev *d, u16 qi)
{
	struct virtio_blk *b = d->priv;
	struct virtq *q = &d->q[qi];

	spin_lock(&q->lock);
	for (;;) {
		int r = virtq_pop(q, &d->mem);

		if (r == 0)
			break;
		if (r < 0) {
			b->stats.failed++;
			d->errors++;
			virtio_fail(d, "malformed descriptor chain");
			break;
		}
		r = virtio_blk_serve(b, &q->req, &d->mem);
		if (r < 0) {
			d->errors++;
			virtio_fail(d, "request without a header or a status byte");
			break;
		}
		d->requests++;
		virtio_complete(d, qi, (u32)r);
	}
	spin_unlock(&q->lock);
}

/* Nothing is kept across requests, so a reset has nothing of the model's to forget; the counters are the disk's
 * life story and survive it. */
static void blk_reset(struct virtio_dev *d)
{
	(void)d;
}

static const struct virtio_dev_ops blk_ops_rw = {
    .name = "virtio-blk",
    .device_id = VIRTIO_ID_BLOCK,
    .nr_queues = 1,
    .features = 1ull << VIRTIO_BLK_F_SEG_MAX | 1ull << VIRTIO_BLK_F_BLK_SIZE | 1ull << VIRTIO_BLK_F_DISCARD |
		1ull << VIRTIO_BLK_F_WRITE_ZEROES,
    .config_len = VIRTIO_BLK_CONFIG_LEN,
    .config_read = blk_config_read,
    .config_write = blk_config_write,
    .notify = blk_notify,
    .reset = blk_reset,
};

/* A read-only disk offers F_RO and neither discard nor write-zeroes, which would be refused anyway. */
static const struct virtio_dev_ops blk_ops_ro = {
    .name = "virtio-blk",
    .device_id = VIRTIO_ID_BLOCK,
    .nr_queues = 1,
    .features = 1ull << VIRTIO_BLK_F_SEG_MAX | 1ull << VIRTIO_BLK_F_BLK_SIZE | 1ull << VIRTIO_BLK_F_RO,
    .config_len = VIRTIO_BLK_CONFIG_LEN,
    .config_read = blk_config_read,
    .config_write = blk_config_write,
    .notify = blk_notify,
    .reset = blk_reset,
};

int virtio_blk_init(struct virtio_blk *b, struct vm *vm, const struct virtio_mem *mem, void *data, u64 bytes, bool ro,
		    const char *id)
{
	if (!data || bytes == 0 || bytes % VIRTIO_BLK_SECTOR || strlen(id) > VIRTIO_BLK_ID_BYTES)
		return -EINVAL;
	memset(b, 0, sizeof(*b));
	b->data = data;
	b->sectors = bytes / VIRTIO_BLK_SECTOR;
	b->ro = ro;
	memcpy(b->id, id, strlen(id) + 1);
	b->dev.ops = ro ? &blk_ops_ro : &blk_ops_rw;
	b->dev.priv = b;
	b->dev.vm = vm;
	b->dev.mem = *mem;
	spin_lock_init(&b->dev.lock);
	for (u32 i = 0; i < VIRTIO_MAX_QUEUES; i++)
		spin_lock_init(&b->dev.q[i].lock);
	return 0;
}
