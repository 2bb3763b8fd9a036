/* The virtio test device (vtest.h): the smallest model the transport can carry, for the hostile guest test and for
 * proving that Linux's virtio_pci binds. Written the way the contract asks a model to be (virtio.h). */
#include "hv/errno.h"
#include "hv/platform.h"
#include "hv/string.h"
#include "vm/dev/virtio/virtio.h"
#include "vm/dev/virtio/vtest.h"

struct vtest {
	struct virtio_dev d;
	u32 scratch; /* atomic */
};

static void vtest_config_read(struct virtio_dev *d, u32 off, void *buf, u32 len)
{
	struct vtest *t = d->priv;
	u32 cfg[2] = { VTEST_MAGIC, __atomic_load_n(&t->scratch, __ATOMIC_RELAXED) };
	memcpy(buf, (u8 *)cfg + off, len);
}

static void vtest_config_write(struct virtio_dev *d, u32 off, const void *buf, u32 len)
{
	struct vtest *t = d->priv;
	u32 v = __atomic_load_n(&t->scratch, __ATOMIC_RELAXED);

	if (off + len <= 4)
		return; /* the magic is read-only */
	u32 lo = off < 4 ? 4 - off : 0; /* bytes of buf that fall on the magic */
	memcpy((u8 *)&v + (off + lo - 4), (const u8 *)buf + lo, len - lo);
	__atomic_store_n(&t->scratch, v, __ATOMIC_RELAXED);
	virtio_config_changed(d);
}

/* Echo one chain; the used length is what was written. 0, or a negative errno from the guest's memory. */
static int vtest_echo(struct virtio_dev *d, const struct virtio_req *r, u32 *written)
{
	u8 buf[256];
	bool fill = r->out_len == 0;
	u32 n = MIN(fill ? r->in_len : MIN(r->out_len, r->in_len), VTEST_MAX_ECHO);

	for (u32 off = 0; off < n; off += sizeof(buf)) {
		u32 c = MIN(n - off, (u32)sizeof(buf));
		int rc = 0;
		if (fill)
			for (u32 i = 0; i < c; i++)
				buf[i] = vtest_fill_byte(off + i);
		else
			rc = virtio_req_read(r, &d->mem, off, buf, c);
		if (!rc)
			rc = virtio_req_write(r, &d->mem, off, buf, c);
		if (rc)
			return rc;
	}
	*written = n;
	return 0;
}

static void vtest_notify(struct virtio_dev *d, u16 qi)
{
	struct virtq *q = &d->q[qi];
	int rc;

	spin_lock(&q->lock);
	while ((rc = virtq_pop(q, &d->mem)) > 0) {
		u32 written = 0;
		rc = vtest_echo(d, &q->req, &written);
		if (rc) {
			virtio_fail(d, "buffer not in RAM");
			rc = 0;
			break;
		}
		__atomic_fetch_add(&d->requests, 1, __ATOMIC_RELAXED);
		virtio_complete(d, qi, written);
	}
	if (rc < 0)
		virtio_fail(d, rc == -EFAULT ? "descriptor chain outside RAM" : "malformed descriptor chain");
	spin_unlock(&q->lock);
}

static void vtest_reset(struct virtio_dev *d)
{
	struct vtest *t = d->priv;
	__atomic_store_n(&t->scratch, 0, __ATOMIC_RELAXED);
}

static void vtest_destroy(struct virtio_dev *d)
{
	kfree(d->priv);
}

static const struct virtio_dev_ops vtest_ops = {
	.name = "virtio-test",
	.device_id = VTEST_ID,
	.nr_queues = 1,
	.features = 0,
	.config_len = 8,
	.config_read = vtest_config_read,
	.config_write = vtest_config_write,
	.notify = vtest_notify,
	.reset = vtest_reset,
	.destroy = vtest_destroy,
};

int vtest_add(struct vm *vm)
{
	struct vtest *t = kzalloc(sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->d.ops = &vtest_ops;
	t->d.priv = t;
	t->d.vm = vm;
	virtio_mem_init_vm(&t->d.mem, vm);
	int r = virtio_pci_add(vm, &t->d);
	if (r)
		kfree(t);
	return r;
}
