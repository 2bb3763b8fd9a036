/* The fakes of virtio_fake.h, including stand-ins for the core's virtq_pop, virtio_complete and virtio_fail. */
#include <string.h>

#include "virtio_fake.h"
#include "hv/errno.h"
#include "test.h"

u8 fake_mem[FAKE_MEM_SIZE];
struct fake_queue fake_q;

static int fm_read(void *ctx, u64 gpa, void *buf, u32 len)
{
	(void)ctx;
	if (gpa > FAKE_MEM_SIZE || len > FAKE_MEM_SIZE - gpa)
		return -EFAULT;
	memcpy(buf, fake_mem + gpa, len);
	return 0;
}

static int fm_write(void *ctx, u64 gpa, const void *buf, u32 len)
{
	(void)ctx;
	if (gpa > FAKE_MEM_SIZE || len > FAKE_MEM_SIZE - gpa)
		return -EFAULT;
	memcpy(fake_mem + gpa, buf, len);
	return 0;
}

const struct virtio_mem fake_virtio_mem = {.ctx = NULL, .read = fm_read, .write = fm_write};

void fake_req_init(struct virtio_req *r, u16 head)
{
	memset(r, 0, sizeof(*r));
	r->head = head;
}

void fake_req_add(struct virtio_req *r, u64 gpa, u32 len, bool writable)
{
	CHECK(r->nr_out + r->nr_in < VIRTQ_MAX_SIZE);
	CHECK(writable || r->nr_in == 0);
	r->seg[r->nr_out + r->nr_in] = (struct virtio_seg){gpa, len};
	if (writable)
		r->nr_in++, r->in_len += len;
	else
		r->nr_out++, r->out_len += len;
}

void fake_queue_reset(void)
{
	memset(&fake_q, 0, sizeof(fake_q));
}

int virtq_pop(struct virtq *q, const struct virtio_mem *m)
{
	(void)m;
	CHECK(spin_is_held_by_me(&q->lock));
	if (fake_q.next >= fake_q.n)
		return 0;
	if (fake_q.pop_error[fake_q.next])
		return fake_q.pop_error[fake_q.next++];
	q->req = fake_q.req[fake_q.next++];
	return 1;
}

void virtio_complete(struct virtio_dev *d, u16 qi, u32 written)
{
	CHECK(spin_is_held_by_me(&d->q[qi].lock));
	CHECK(fake_q.completed < FAKE_QUEUE_MAX);
	fake_q.completed_head[fake_q.completed] = d->q[qi].req.head;
	fake_q.written[fake_q.completed++] = written;
}

void virtio_fail(struct virtio_dev *d, const char *why)
{
	(void)d;
	fake_q.failed++;
	fake_q.fail_why = why;
}
