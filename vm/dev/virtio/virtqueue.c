/*
 * The split virtqueue (virtio 1.2, 2.7): popping descriptor chains from the avail ring and pushing them to the used
 * ring, with VIRTIO_F_EVENT_IDX and VIRTIO_F_INDIRECT_DESC. Everything here reads memory the guest writes
 * concurrently, so each value is read once into a local, validated, and only then used.
 *
 *   desc  [size] { u64 addr; u32 len; u16 flags; u16 next; }       16-byte aligned
 *   avail        { u16 flags; u16 idx; u16 ring[size]; u16 used_event; }   2-byte aligned
 *   used         { u16 flags; u16 idx; { u32 id; u32 len; } ring[size]; u16 avail_event; }   4-byte aligned
 *
 * Ordering (the driver's side is the mirror, virtio_ring.c): avail->idx is read before the ring entry and the
 * descriptors it publishes (acquire); a used element is written before used->idx (release); and before the device
 * reads used_event / avail->flags to decide on an interrupt, or re-reads avail->idx after publishing avail_event,
 * a full barrier orders its earlier store against the later load (store-load: x86 reorders those), the pattern of
 * vhost's vhost_notify and QEMU's virtio_should_notify.
 */
#include "hv/errno.h"
#include "hv/string.h"
#include "vm/dev/virtio/virtio.h"

#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

struct virtq_desc {
	u64 addr;
	u32 len;
	u16 flags;
	u16 next;
} __attribute__((packed));
_Static_assert(sizeof(struct virtq_desc) == 16, "virtq_desc is 16 bytes (2.7.5)");

/* Guest addresses of the ring fields. */
static u64 avail_idx_gpa(const struct virtq *q) { return q->avail + 2; }
static u64 avail_ring_gpa(const struct virtq *q, u16 i) { return q->avail + 4 + 2 * (u64)(i & (q->size - 1)); }
static u64 used_event_gpa(const struct virtq *q) { return q->avail + 4 + 2 * (u64)q->size; }
static u64 used_idx_gpa(const struct virtq *q) { return q->used + 2; }
static u64 used_ring_gpa(const struct virtq *q, u16 i) { return q->used + 4 + 8 * (u64)(i & (q->size - 1)); }
static u64 avail_event_gpa(const struct virtq *q) { return q->used + 4 + 8 * (u64)q->size; }

static inline void virtq_rmb(void) { __atomic_thread_fence(__ATOMIC_ACQUIRE); }
static inline void virtq_wmb(void) { __atomic_thread_fence(__ATOMIC_RELEASE); }
static inline void virtq_mb(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

static int read16(const struct virtio_mem *m, u64 gpa, u16 *v) { return m->read(m->ctx, gpa, v, 2); }
static int write16(const struct virtio_mem *m, u64 gpa, u16 v) { return m->write(m->ctx, gpa, &v, 2); }

static int mem_check(const struct virtio_mem *m, u64 gpa, u64 len)
{
	if (gpa + len < gpa)
		return -EFAULT;
	return m->check ? m->check(m->ctx, gpa, len) : 0;
}

static bool is_pow2(u16 v) { return v && !(v & (v - 1)); }

int virtq_check(const struct virtq *q, const struct virtio_mem *m)
{
	if (!is_pow2(q->size) || q->size > VIRTQ_MAX_SIZE)
		return -EINVAL;
	if (q->desc & 15 || q->avail & 1 || q->used & 3)
		return -EINVAL;
	if (mem_check(m, q->desc, 16 * (u64)q->size) || mem_check(m, q->avail, 6 + 2 * (u64)q->size) ||
	    mem_check(m, q->used, 6 + 8 * (u64)q->size))
		return -EFAULT;
	return 0;
}

void virtq_reset(struct virtq *q)
{
	q->size = VIRTQ_MAX_SIZE;
	q->enabled = false;
	q->msix_vector = VIRTIO_NO_VECTOR;
	q->desc = q->avail = q->used = 0;
	q->last_avail = q->used_idx = q->signalled_used = 0;
	q->signalled_valid = false;
	q->event_idx = q->indirect = false;
	q->req.nr_out = q->req.nr_in = 0;
	q->req.out_len = q->req.in_len = 0;
}

/* Add one buffer to the chain being built: readable ones must all come before writable ones (2.7.4.2). */
static int req_add(struct virtio_req *r, const struct virtq_desc *d, const struct virtio_mem *m)
{
	if (d->len == 0)
		return -EINVAL;
	if (mem_check(m, d->addr, d->len))
		return -EFAULT;
	struct virtio_seg *s = &r->seg[r->nr_out + r->nr_in];
	s->gpa = d->addr;
	s->len = d->len;
	if (d->flags & VIRTQ_DESC_F_WRITE) {
		if (r->in_len + d->len < r->in_len)
			return -E2BIG;
		r->nr_in++;
		r->in_len += d->len;
	} else {
		if (r->nr_in)
			return -EINVAL;
		if (r->out_len + d->len < r->out_len)
			return -E2BIG;
		r->nr_out++;
		r->out_len += d->len;
	}
	return 0;
}

/* Walk the chain at head into q->req. Every descriptor counts against the queue size, the indirect ones included
 * (2.7.5.3.1: a chain no longer than the queue size), which also ends any loop. */
static int chain_walk(struct virtq *q, const struct virtio_mem *m, u16 head)
{
	struct virtio_req *r = &q->req;
	u64 table = q->desc;
	u32 table_len = q->size;
	bool indirect = false;
	u32 visited = 0;
	u16 i = head;

	r->head = head;
	r->nr_out = r->nr_in = 0;
	r->out_len = r->in_len = 0;
	for (;;) {
		struct virtq_desc d;
		int rc;

		if (i >= table_len)
			return -EINVAL;
		if (++visited > q->size)
			return -E2BIG; /* a loop, or simply too long */
		rc = m->read(m->ctx, table + 16 * (u64)i, &d, sizeof(d));
		if (rc)
			return rc;
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			/* One level, the table a whole number of descriptors, never chained onwards (2.7.5.3.1). */
			if (!q->indirect || indirect || d.flags & VIRTQ_DESC_F_NEXT)
				return -EINVAL;
			if (d.len == 0 || d.len % 16 || d.len / 16 > q->size)
				return -EINVAL;
			if (mem_check(m, d.addr, d.len))
				return -EFAULT;
			table = d.addr;
			table_len = d.len / 16;
			indirect = true;
			i = 0;
			continue;
		}
		rc = req_add(r, &d, m);
		if (rc)
			return rc;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		i = d.next;
	}
}

int virtq_pop(struct virtq *q, const struct virtio_mem *m)
{
	u16 avail_idx, head;
	int rc;

	assert_spin_held(&q->lock);
	if (!q->enabled)
		return 0;
	rc = read16(m, avail_idx_gpa(q), &avail_idx);
	if (rc)
		return rc;
	if (avail_idx == q->last_avail && q->event_idx) {
		/* Ask for a kick at the next buffer, then look again: the driver may have added one before it could
		 * see avail_event, and would then not kick (2.7.10, the device side of the race). */
		rc = write16(m, avail_event_gpa(q), q->last_avail);
		if (rc)
			return rc;
		virtq_mb();
		rc = read16(m, avail_idx_gpa(q), &avail_idx);
		if (rc)
			return rc;
	}
	if (avail_idx == q->last_avail)
		return 0;
	if ((u16)(avail_idx - q->last_avail) > q->size)
		return -EINVAL; /* more buffers announced than the ring holds */
	virtq_rmb(); /* the ring entry and descriptors after the index that published them */
	rc = read16(m, avail_ring_gpa(q, q->last_avail), &head);
	if (rc)
		return rc;
	rc = chain_walk(q, m, head);
	if (rc)
		return rc;
	q->last_avail++;
	/* Kicks for what we already saw are of no use: ask for one only past this point. The chain is consumed
	 * already, so a used ring outside RAM (virtq_check refuses it at enable) is left for virtq_push to report. */
	if (q->event_idx)
		(void)write16(m, avail_event_gpa(q), q->last_avail);
	return 1;
}

int virtq_push(struct virtq *q, const struct virtio_mem *m, u32 written)
{
	struct {
		u32 id, len;
	} elem = { q->req.head, MIN(written, q->req.in_len) };
	int rc;

	assert_spin_held(&q->lock);
	rc = m->write(m->ctx, used_ring_gpa(q, q->used_idx), &elem, sizeof(elem));
	if (rc)
		return rc;
	virtq_wmb(); /* the element before the index that publishes it */
	rc = write16(m, used_idx_gpa(q), q->used_idx + 1);
	if (rc)
		return rc;
	q->used_idx++;
	return 0;
}

/* 2.7.10.2: interrupt when used_idx passed used_event since the last interrupt: event in [old, new). */
static bool need_event(u16 event, u16 new, u16 old)
{
	return (u16)(new - event - 1) < (u16)(new - old);
}

bool virtq_need_irq(struct virtq *q, const struct virtio_mem *m)
{
	u16 v;

	assert_spin_held(&q->lock);
	virtq_mb(); /* the used->idx store before the driver's suppression state is read */
	if (!q->event_idx) {
		if (read16(m, q->avail, &v))
			return true; /* an interrupt too many is harmless, one too few hangs the driver */
		return !(v & VIRTQ_AVAIL_F_NO_INTERRUPT);
	}
	u16 old = q->signalled_used, new = q->used_idx;
	bool valid = q->signalled_valid;
	q->signalled_used = new;
	q->signalled_valid = true;
	if (read16(m, used_event_gpa(q), &v))
		return true;
	return !valid || need_event(v, new, old);
}
