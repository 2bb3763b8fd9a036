/* The virtio core stand-ins of vnet_fake.h. */
#include "vnet_fake.h"
#include "hv/errno.h"
#include <string.h>

/* The device the fakes serve: one per test binary is enough, each test calls vnet_fake_init. Several devices may
 * share one fake memory; their queues are found by the virtq's address. */
#define MAX_DEVS 4
static struct {
	struct virtio_dev *d;
	struct vnet_fake *f;
} devs[MAX_DEVS];

static int fake_read(void *ctx, u64 gpa, void *buf, u32 len)
{
	struct vnet_fake *f = ctx;

	if (gpa >= VNET_FAKE_MEM || len > VNET_FAKE_MEM - gpa)
		return -EFAULT;
	memcpy(buf, f->mem + gpa, len);
	return 0;
}

static int fake_write(void *ctx, u64 gpa, const void *buf, u32 len)
{
	struct vnet_fake *f = ctx;

	if (gpa >= VNET_FAKE_MEM || len > VNET_FAKE_MEM - gpa)
		return -EFAULT;
	memcpy(f->mem + gpa, buf, len);
	return 0;
}

void vnet_fake_init(struct vnet_fake *f, struct virtio_dev *d)
{
	u32 slot = 0;

	while (slot < MAX_DEVS && devs[slot].d && devs[slot].d != d)
		slot++;
	if (slot == MAX_DEVS)
		slot = 0;
	devs[slot].d = d;
	devs[slot].f = f;
	memset(f->q, 0, sizeof(f->q));
	f->failed = 0;
	f->fail_why = NULL;
	f->vmem = (struct virtio_mem){ .ctx = f, .read = fake_read, .write = fake_write };
	d->mem = f->vmem;
	d->status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
		    VIRTIO_STATUS_DRIVER_OK;
	for (int i = 0; i < 2; i++) {
		memset(&d->q[i], 0, sizeof(d->q[i]));
		d->q[i].size = VIRTQ_MAX_SIZE;
		d->q[i].enabled = true;
	}
}

void vnet_fake_seg(struct virtio_req *r, u64 gpa, u32 len, bool writable)
{
	r->seg[r->nr_out + r->nr_in] = (struct virtio_seg){ gpa, len };
	if (writable) {
		r->nr_in++;
		r->in_len += len;
	} else {
		r->nr_out++;
		r->out_len += len;
	}
}

struct virtio_req *vnet_fake_add(struct vnet_fake *f, u16 qi, u64 gpa, u32 len, bool writable)
{
	struct vnet_fake_q *fq = &f->q[qi];
	struct virtio_req *r = &fq->chain[fq->n];

	memset(r, 0, sizeof(*r));
	r->head = fq->n++;
	vnet_fake_seg(r, gpa, len, writable);
	return r;
}

static struct vnet_fake *fake_of_dev(struct virtio_dev *d)
{
	for (u32 i = 0; i < MAX_DEVS; i++)
		if (devs[i].d == d)
			return devs[i].f;
	return NULL;
}

static void find_q(const struct virtq *q, struct vnet_fake **f, u16 *qi)
{
	for (u32 i = 0; i < MAX_DEVS; i++) {
		if (!devs[i].d)
			continue;
		for (u16 j = 0; j < 2; j++) {
			if (&devs[i].d->q[j] == q) {
				*f = devs[i].f;
				*qi = j;
				return;
			}
		}
	}
	*f = NULL;
	*qi = 0;
}

int virtq_pop(struct virtq *q, const struct virtio_mem *m)
{
	struct vnet_fake *f;
	u16 qi;

	assert_spin_held(&q->lock);
	find_q(q, &f, &qi);
	if (!f || q->last_avail >= f->q[qi].n)
		return 0;
	if (f->q[qi].pop_error[q->last_avail])
		return f->q[qi].pop_error[q->last_avail];
	q->req = f->q[qi].chain[q->last_avail++];
	return 1;
}

static int req_copy(const struct virtio_req *r, const struct virtio_mem *m, u32 off, u8 *buf, u32 len, bool in)
{
	const struct virtio_seg *seg = r->seg + (in ? r->nr_out : 0);
	u16 n = in ? r->nr_in : r->nr_out;
	u32 total = in ? r->in_len : r->out_len;

	if (off > total || len > total - off)
		return -ERANGE;
	for (u16 i = 0; i < n && len; i++) {
		if (off >= seg[i].len) {
			off -= seg[i].len;
			continue;
		}
		u32 chunk = seg[i].len - off < len ? seg[i].len - off : len;
		int rc = in ? m->write(m->ctx, seg[i].gpa + off, buf, chunk) : m->read(m->ctx, seg[i].gpa + off, buf, chunk);

		if (rc)
			return rc;
		buf += chunk;
		len -= chunk;
		off = 0;
	}
	return 0;
}

int virtio_req_read(const struct virtio_req *r, const struct virtio_mem *m, u32 off, void *buf, u32 len)
{
	return req_copy(r, m, off, buf, len, false);
}

int virtio_req_write(const struct virtio_req *r, const struct virtio_mem *m, u32 off, const void *buf, u32 len)
{
	return req_copy(r, m, off, (u8 *)buf, len, true);
}

void virtio_complete(struct virtio_dev *d, u16 qi, u32 written)
{
	struct vnet_fake *f = fake_of_dev(d);
	struct vnet_fake_q *fq = &f->q[qi];

	assert_spin_held(&d->q[qi].lock);
	fq->used[fq->nr_used++] = (struct virtq_used_elem){ d->q[qi].req.head, written };
	fq->batches++;
}

void virtio_complete_many(struct virtio_dev *d, u16 qi, const struct virtq_used_elem *e, u16 n)
{
	struct vnet_fake *f = fake_of_dev(d);
	struct vnet_fake_q *fq = &f->q[qi];

	assert_spin_held(&d->q[qi].lock);
	for (u16 i = 0; i < n; i++)
		fq->used[fq->nr_used++] = e[i];
	fq->batches++;
}

void virtio_fail(struct virtio_dev *d, const char *why)
{
	struct vnet_fake *f = fake_of_dev(d);

	f->failed++;
	f->fail_why = why;
	d->errors++; /* as the core's does */
	d->status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
}
