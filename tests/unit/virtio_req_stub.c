/* A stand-in for the core's virtio_req_read/virtio_req_write (vm/dev/virtio/req.c) with the contract of virtio.h,
 * until the core is merged; then the tests link the real one instead. */
#include "vm/dev/virtio/virtio.h"
#include "hv/errno.h"

static int req_copy(const struct virtio_req *r, const struct virtio_mem *m, bool write, u32 off, void *buf, u32 len)
{
	u32 first = write ? r->nr_out : 0, n = write ? r->nr_in : r->nr_out, total = write ? r->in_len : r->out_len;
	u8 *p = buf;

	if (off > total || len > total - off)
		return -ERANGE;
	for (u32 i = first; i < first + n && len; i++) {
		const struct virtio_seg *s = &r->seg[i];
		u32 chunk;
		int ret;

		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		chunk = s->len - off < len ? s->len - off : len;
		ret = write ? m->write(m->ctx, s->gpa + off, p, chunk) : m->read(m->ctx, s->gpa + off, p, chunk);
		if (ret)
			return ret;
		p += chunk, len -= chunk, off = 0;
	}
	return 0;
}

int virtio_req_read(const struct virtio_req *r, const struct virtio_mem *m, u32 off, void *buf, u32 len)
{
	return req_copy(r, m, false, off, buf, len);
}

int virtio_req_write(const struct virtio_req *r, const struct virtio_mem *m, u32 off, const void *buf, u32 len)
{
	return req_copy(r, m, true, off, (void *)buf, len);
}
