/* The virtio-net device model (net.h): transmit pops a chain, copies its frame out and hands it to the switch;
 * receive runs on the sender's CPU, inside the switch's deliver(), and fills the receiver's RX queue under its lock.
 * Locking is vswitch.h's: this VM's TX queue lock, then (inside the switch) one peer's RX queue lock at a time. */
#include "vm/dev/virtio/net.h"
#include "hv/errno.h"
#include "hv/platform.h"
#include "hv/string.h"

#define HDR_LEN ((u32)sizeof(struct virtio_net_hdr))

void vnet_mac_from_name(const char *name, u8 mac[ETH_ALEN])
{
	u64 h = 0xcbf29ce484222325ull; /* FNV-1a 64 */

	for (const char *c = name; *c; c++)
		h = (h ^ (u8)*c) * 0x100000001b3ull;
	/* FNV's last multiply moves a difference in the last character only upwards: names that differ there (vm1,
	 * vm2) would share most low bytes. MurmurHash3's finalizer spreads it over all of them. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	for (int i = 0; i < ETH_ALEN; i++)
		mac[i] = (u8)(h >> (8 * i));
	mac[0] = (u8)((mac[0] & ~3u) | 2u); /* locally administered, individual */
}

static bool is_failed(const struct virtio_dev *d)
{
	return __atomic_load_n(&d->status, __ATOMIC_RELAXED) & VIRTIO_STATUS_DEVICE_NEEDS_RESET;
}

static void count(u64 *c)
{
	__atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

/* ---- receive: called by the switch on the sender's CPU ---- */

/* Note the first chain's segments that hold the header: it is written once the frame is in and the buffer count
 * known. */
static void rx_keep_header_segs(struct vnet *n, const struct virtio_req *r)
{
	u32 covered = 0;
	u16 i = 0;

	while (covered < HDR_LEN) {
		n->rx_hdr_seg[i] = r->seg[r->nr_out + i];
		covered += r->seg[r->nr_out + i].len;
		i++;
	}
	n->rx_hdr_nseg = i;
}

static int rx_write_header(struct vnet *n, u16 nbufs)
{
	struct virtio_net_hdr hdr = { .gso_type = 0, .num_buffers = nbufs }; /* VIRTIO_NET_HDR_GSO_NONE, no flags */
	u32 off = 0;

	for (u16 i = 0; i < n->rx_hdr_nseg && off < HDR_LEN; i++) {
		u32 chunk = MIN(n->rx_hdr_seg[i].len, HDR_LEN - off);
		int rc = n->dev.mem.write(n->dev.mem.ctx, n->rx_hdr_seg[i].gpa, (const u8 *)&hdr + off, chunk);

		if (rc)
			return rc;
		off += chunk;
	}
	return 0;
}

/*
 * Under q->lock: copy one frame into as many receive chains as it needs (one without MRG_RXBUF), then publish them
 * together. 0: delivered; -ENOSPC: too few buffers, the chains popped are given back; -EFAULT/-EINVAL: the driver
 * broke the protocol, the device is failed (the frame is dropped with it).
 */
static int __rx_fill(struct vnet *n, struct virtq *q, const u8 *frame, u32 len)
{
	struct virtio_dev *d = &n->dev;
	u16 max_bufs = virtio_has(d, VIRTIO_NET_F_MRG_RXBUF) ? q->size : 1;
	u32 done = 0; /* frame bytes written */
	u16 nb = 0;
	int rc;

	assert_spin_held(&q->lock);
	while (done < len || nb == 0) {
		const struct virtio_req *r = &q->req;
		u32 room, off = 0;

		if (nb == max_bufs) {
			virtq_unpop(q, nb);
			return -ENOSPC;
		}
		rc = virtq_pop(q, &d->mem);
		if (rc == 0) {
			virtq_unpop(q, nb);
			return -ENOSPC;
		}
		if (rc < 0) {
			virtio_fail(d, "malformed receive chain");
			return rc;
		}
		/* 5.1.6.3.1: receive buffers are device-writable only, and the first holds at least the header. */
		if (r->nr_out || r->in_len < (nb == 0 ? HDR_LEN : 1)) {
			virtio_fail(d, r->nr_out ? "receive chain with a device-readable buffer"
						 : "receive chain shorter than the virtio-net header");
			return -EINVAL;
		}
		if (nb == 0) {
			rx_keep_header_segs(n, r);
			off = HDR_LEN;
		}
		room = MIN(r->in_len - off, len - done);
		rc = virtio_req_write(r, &d->mem, off, frame + done, room);
		if (rc) {
			virtio_fail(d, "receive buffer not in guest RAM");
			return rc;
		}
		n->rx_used[nb].id = r->head;
		n->rx_used[nb].len = off + room;
		done += room;
		nb++;
	}
	rc = rx_write_header(n, nb);
	if (rc) {
		virtio_fail(d, "receive buffer not in guest RAM");
		return rc;
	}
	virtio_complete_many(d, VNET_RXQ, n->rx_used, nb);
	return 0;
}

static int vnet_deliver(struct vswitch_port *p, const u8 *frame, u32 len)
{
	struct vnet *n = p->priv;
	struct virtio_dev *d = &n->dev;
	struct virtq *q = &d->q[VNET_RXQ];
	int rc = -ENODEV;

	spin_lock(&q->lock);
	if (__atomic_load_n(&n->rx_ready, __ATOMIC_ACQUIRE) && q->enabled && !is_failed(d)) {
		rc = __rx_fill(n, q, frame, len);
		if (rc == 0)
			count(&d->requests); /* a failure was counted in d->errors by virtio_fail */
	}
	spin_unlock(&q->lock);
	return rc == 0 ? 0 : rc == -ENOSPC ? -ENOSPC : -ENODEV;
}

/* ---- transmit: the driver kicked queue 1 ---- */

/* Under q->lock: one popped chain. 0, or negative after virtio_fail. */
static int __tx_one(struct vnet *n, struct virtq *q)
{
	struct virtio_dev *d = &n->dev;
	const struct virtio_req *r = &q->req;
	u32 len;

	/* A writable part in a transmit chain is ignored (nothing is ever written back), as QEMU does. */
	if (r->out_len < HDR_LEN) {
		virtio_fail(d, "transmit chain shorter than the virtio-net header");
		return -EINVAL;
	}
	len = r->out_len - HDR_LEN;
	if (len > VNET_FRAME_MAX) {
		/* MTU was offered: 5.1.6.2.2 forbids a larger frame, and without GSO nothing larger is legitimate. */
		virtio_fail(d, "transmit frame larger than the MTU allows");
		return -EINVAL;
	}
	/* The header is not looked at: with no offload negotiated its flags and gso_type can only be 0, and a driver
	 * that sets them anyway gets its frame sent as it is. */
	if (virtio_req_read(r, &d->mem, HDR_LEN, n->tx_frame, len)) {
		virtio_fail(d, "transmit buffer not in guest RAM");
		return -EFAULT;
	}
	virtio_complete(d, VNET_TXQ, 0); /* the chain is free once copied: give it back before the switch runs */
	count(&d->requests);
	vswitch_send(&n->port, n->tx_frame, len); /* runts (< 14 bytes) are counted as tx errors there */
	return 0;
}

static void vnet_notify(struct virtio_dev *d, u16 qi)
{
	struct vnet *n = d->priv;
	struct virtq *q;
	int rc;

	/* A receive kick means new buffers; frames are never held back for them (a full queue drops), so there is
	 * nothing to do. Anything but the two queues cannot be enabled (nr_queues is 2). */
	if (qi != VNET_TXQ)
		return;
	q = &d->q[VNET_TXQ];
	spin_lock(&q->lock);
	while (!is_failed(d)) {
		rc = virtq_pop(q, &d->mem);
		if (rc == 0)
			break;
		if (rc < 0) {
			virtio_fail(d, "malformed transmit chain"); /* counts d->errors */
			break;
		}
		if (__tx_one(n, q))
			break;
	}
	spin_unlock(&q->lock);
}

static void vnet_config_read(struct virtio_dev *d, u32 off, void *buf, u32 len)
{
	struct vnet *n = d->priv;

	memcpy(buf, (const u8 *)&n->cfg + off, len);
}

/* Every field is read-only in the modern interface (the MAC is written only through a control queue, not offered):
 * writes are dropped, as 5.1.4.2 lets the device do. */
static void vnet_config_write(struct virtio_dev *d, u32 off, const void *buf, u32 len)
{
}

static void vnet_reset(struct virtio_dev *d)
{
	struct vnet *n = d->priv;

	__atomic_store_n(&n->rx_ready, false, __ATOMIC_RELEASE);
}

static void vnet_driver_ok(struct virtio_dev *d)
{
	struct vnet *n = d->priv;

	__atomic_store_n(&n->rx_ready, true, __ATOMIC_RELEASE);
}

/* The VM is gone (vm_destroy, after vnet_fini took the port off the switch): free the device, which net_vm.c
 * allocated. */
static void vnet_destroy(struct virtio_dev *d)
{
	struct vnet *n = d->priv;

	BUG_ON(n->port.sw); /* still on the switch: a peer could be writing into it */
	kfree(n);
}

const struct virtio_dev_ops vnet_ops = {
	.name = "virtio-net",
	.device_id = VIRTIO_ID_NET,
	.nr_queues = 2,
	.features = (1ull << VIRTIO_NET_F_MTU) | (1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_MRG_RXBUF) |
		    (1ull << VIRTIO_NET_F_STATUS),
	.config_len = sizeof(struct virtio_net_config),
	.config_read = vnet_config_read,
	.config_write = vnet_config_write,
	.notify = vnet_notify,
	.reset = vnet_reset,
	.driver_ok = vnet_driver_ok,
	.destroy = vnet_destroy,
};

int vnet_init(struct vnet *n, const char *vm_name, const char *net)
{
	size_t len = strlen(net);

	n->dev.ops = &vnet_ops;
	n->dev.priv = n;
	vnet_mac_from_name(vm_name, n->cfg.mac);
	n->cfg.status = VIRTIO_NET_S_LINK_UP;
	n->cfg.max_virtqueue_pairs = 1;
	n->cfg.mtu = VNET_MTU;
	len = len < sizeof(n->net) - 1 ? len : sizeof(n->net) - 1;
	memcpy(n->net, net, len);
	n->net[len] = '\0';
	memcpy(n->port.mac, n->cfg.mac, ETH_ALEN);
	n->port.name = vm_name;
	n->port.deliver = vnet_deliver;
	n->port.priv = n;
	return vswitch_join(n->net, &n->port);
}

void vnet_fini(struct vnet *n)
{
	vswitch_leave(&n->port);
}
