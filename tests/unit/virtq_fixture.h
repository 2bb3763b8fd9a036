/* A fake guest memory for the virtqueue tests and fuzz target: RAM at [VQF_BASE, VQF_BASE + VQF_SIZE), nothing
 * elsewhere (reads and writes there fail with -EFAULT, as the VM's virtio_mem does for MMIO or holes), and helpers
 * that play the driver's side of a split ring. */
#ifndef TESTS_UNIT_VIRTQ_FIXTURE_H
#define TESTS_UNIT_VIRTQ_FIXTURE_H

#include <string.h>

#include "hv/errno.h"
#include "vm/dev/virtio/virtio.h"

#define VQF_BASE 0x100000ull
#define VQF_SIZE 0x20000ull
/* Where the fixture puts the rings of a queue of size <= 256, and free buffers. */
#define VQF_DESC  (VQF_BASE + 0x0000)
#define VQF_AVAIL (VQF_BASE + 0x1000)
#define VQF_USED  (VQF_BASE + 0x2000)
#define VQF_BUF	  (VQF_BASE + 0x4000)

struct vqf {
	u8 ram[VQF_SIZE];
	struct virtio_mem mem;
	struct virtq q;
	u16 avail_idx;
};

static inline bool vqf_in_ram(u64 gpa, u64 len)
{
	return gpa >= VQF_BASE && len <= VQF_SIZE && gpa - VQF_BASE <= VQF_SIZE - len;
}

static inline int vqf_read(void *ctx, u64 gpa, void *buf, u32 len)
{
	struct vqf *f = ctx;
	if (!vqf_in_ram(gpa, len))
		return -EFAULT;
	memcpy(buf, f->ram + (gpa - VQF_BASE), len);
	return 0;
}

static inline int vqf_write(void *ctx, u64 gpa, const void *buf, u32 len)
{
	struct vqf *f = ctx;
	if (!vqf_in_ram(gpa, len))
		return -EFAULT;
	memcpy(f->ram + (gpa - VQF_BASE), buf, len);
	return 0;
}

static inline int vqf_check(void *ctx, u64 gpa, u64 len)
{
	return vqf_in_ram(gpa, len) ? 0 : -EFAULT;
}

static inline void *vqf_ptr(struct vqf *f, u64 gpa) { return f->ram + (gpa - VQF_BASE); }

static inline void vqf_init(struct vqf *f, u16 size, bool event_idx, bool indirect)
{
	memset(f, 0, sizeof(*f));
	f->mem = (struct virtio_mem){ .ctx = f, .read = vqf_read, .write = vqf_write, .check = vqf_check };
	virtq_reset(&f->q);
	f->q.size = size;
	f->q.desc = VQF_DESC;
	f->q.avail = VQF_AVAIL;
	f->q.used = VQF_USED;
	f->q.event_idx = event_idx;
	f->q.indirect = indirect;
	f->q.enabled = true;
}

/* Fill descriptor i of the table at gpa `table`. */
static inline void vqf_desc(struct vqf *f, u64 table, u16 i, u64 addr, u32 len, u16 flags, u16 next)
{
	u8 *d = vqf_ptr(f, table + 16 * (u64)i);
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

static inline u16 vqf_get16(struct vqf *f, u64 gpa)
{
	u16 v;
	memcpy(&v, vqf_ptr(f, gpa), 2);
	return v;
}

static inline void vqf_put16(struct vqf *f, u64 gpa, u16 v) { memcpy(vqf_ptr(f, gpa), &v, 2); }

/* Publish head in the avail ring, as a driver does: the entry, then the index. */
static inline void vqf_publish(struct vqf *f, u16 head)
{
	vqf_put16(f, VQF_AVAIL + 4 + 2 * (f->avail_idx & (f->q.size - 1)), head);
	f->avail_idx++;
	vqf_put16(f, VQF_AVAIL + 2, f->avail_idx);
}

#endif
