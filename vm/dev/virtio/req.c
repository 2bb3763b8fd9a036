/*
 * Copying between a device model and a popped descriptor chain (virtio.h): the readable part is seg[0 .. nr_out),
 * the writable part seg[nr_out .. nr_out + nr_in), each addressed as one byte stream so a model never walks segments.
 */
#include "hv/errno.h"
#include "vm/dev/virtio/virtio.h"

/* Walk segs[0 .. n) as one stream, moving [off, off+len) with op; total is their summed length (the bound). */
static int req_copy(const struct virtio_seg *segs, u16 n, u32 total, const struct virtio_mem *m, u32 off, u8 *buf,
		    u32 len, bool to_guest)
{
	if (len == 0)
		return 0;
	if (off > total || len > total - off)
		return -ERANGE;
	for (u16 i = 0; i < n && len; i++) {
		u32 seg_len = segs[i].len;
		if (off >= seg_len) {
			off -= seg_len;
			continue;
		}
		u32 chunk = seg_len - off < len ? seg_len - off : len;
		u64 gpa = segs[i].gpa + off;
		int rc = to_guest ? m->write(m->ctx, gpa, buf, chunk) : m->read(m->ctx, gpa, buf, chunk);
		if (rc)
			return rc;
		buf += chunk;
		len -= chunk;
		off = 0;
	}
	return len ? -ERANGE : 0;
}

int virtio_req_read(const struct virtio_req *r, const struct virtio_mem *m, u32 off, void *buf, u32 len)
{
	return req_copy(r->seg, r->nr_out, r->out_len, m, off, buf, len, false);
}

int virtio_req_write(const struct virtio_req *r, const struct virtio_mem *m, u32 off, const void *buf, u32 len)
{
	return req_copy(r->seg + r->nr_out, r->nr_in, r->in_len, m, off, (u8 *)buf, len, true);
}
