/* virtio-blk (OASIS virtio v1.2, 5.2) over a disk image that GRUB loaded into host RAM (a role=disk module,
 * vm/config.h). The image is the disk: reads and writes go straight to it, and nothing is ever written back, so the
 * guest's writes are lost when the VM or the machine powers off. */
#ifndef VM_DEV_VIRTIO_BLK_H
#define VM_DEV_VIRTIO_BLK_H

#include "vm/dev/virtio/virtio.h"

/* Feature bits (5.2.3). Only those the model offers or refers to. */
#define VIRTIO_BLK_F_SEG_MAX	  2
#define VIRTIO_BLK_F_RO		  5
#define VIRTIO_BLK_F_BLK_SIZE	  6
#define VIRTIO_BLK_F_FLUSH	  9
#define VIRTIO_BLK_F_CONFIG_WCE	  11
#define VIRTIO_BLK_F_DISCARD	  13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types (5.2.6) and status values. */
#define VIRTIO_BLK_T_IN		  0
#define VIRTIO_BLK_T_OUT	  1
#define VIRTIO_BLK_T_FLUSH	  4
#define VIRTIO_BLK_T_GET_ID	  8
#define VIRTIO_BLK_T_DISCARD	  11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK		  0
#define VIRTIO_BLK_S_IOERR	  1
#define VIRTIO_BLK_S_UNSUPP	  2

#define VIRTIO_BLK_SECTOR	   512
#define VIRTIO_BLK_ID_BYTES	   20			/* GET_ID's answer, NUL-padded (5.2.6) */
#define VIRTIO_BLK_SEG_MAX	   (VIRTQ_MAX_SIZE - 2) /* a chain is header + data + status */
#define VIRTIO_BLK_DISCARD_SECTORS (1u << 22)		/* 2 GiB per segment: a memset, bounded */
#define VIRTIO_BLK_DISCARD_SEGS	   16
#define VIRTIO_BLK_DISCARD_ALIGN   8  /* sectors: a 4 KiB granularity */
#define VIRTIO_BLK_CONFIG_LEN	   60 /* through write_zeroes_may_unmap and its padding (5.2.4) */

/* Requests served, by type; read by the monitor and printed when the VM ends. Updated under the queue's lock. */
struct virtio_blk_stats {
	u64 reads, writes, flushes, discards, write_zeroes, get_ids;
	u64 read_bytes, write_bytes;
	u64 ioerr;  /* out of range, a write to a read-only disk, a data length not a multiple of 512 */
	u64 unsupp; /* an unknown type, a discard flag the device does not know */
	u64 failed; /* chains without a header or a status byte: the device was failed (virtio_fail) */
};

struct virtio_blk {
	struct virtio_dev dev; /* dev.priv == this */
	u8 *data;	       /* the image, host memory, `sectors` * 512 bytes; fixed for the device's life */
	u64 sectors;
	bool ro;			  /* role=disk ... ro: VIRTIO_BLK_F_RO offered, writes and discards refused */
	char id[VIRTIO_BLK_ID_BYTES + 1]; /* GET_ID's answer, "vda" ... */
	struct virtio_blk_stats stats;
};

/* Prepare b for virtio_pci_add: data must hold bytes, a non-zero multiple of 512. 0 or -EINVAL. */
int virtio_blk_init(struct virtio_blk *b, struct vm *vm, const struct virtio_mem *mem, void *data, u64 bytes, bool ro,
		    const char *id);

/* Serve one popped request (the queue's lock held). Returns the number of bytes written into the chain's writable
 * part (data and status) once its status byte is written, or a negative errno when the chain has no room for a
 * header or a status byte (-EINVAL) or its memory went away (-EFAULT): the caller then fails the device. */
int virtio_blk_serve(struct virtio_blk *b, const struct virtio_req *r, const struct virtio_mem *m);

#endif
