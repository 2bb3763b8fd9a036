/* The virtio-net model (vm/dev/virtio/net.c) between two devices on a real switch, with the core faked
 * (vnet_fake.c): the MAC, the configuration, a frame copied from a's transmit chain into b's receive chain, mergeable
 * receive buffers, drops when b has no room, and hostile chains failing only the device that sent them. */
#include <stdlib.h>
#include <string.h>

#include "fake_platform.h"
#include "hv/errno.h"
#include "test.h"
#include "vm/dev/virtio/net.h"
#include "vnet_fake.h"

static struct vnet na, nb;
static struct vnet_fake fa, fb;

/* The guest side: a at 0x1000.., b's buffers at 0x10000.. */
#define TX_GPA 0x1000u
#define RX_GPA 0x10000u

static void pair(bool b_mrg)
{
	vswitch_reset_all();
	memset(&na, 0, sizeof(na));
	memset(&nb, 0, sizeof(nb));
	CHECK_EQ(vnet_init(&na, "alpha", "lan"), 0);
	CHECK_EQ(vnet_init(&nb, "beta", "lan"), 0);
	vnet_fake_init(&fa, &na.dev);
	vnet_fake_init(&fb, &nb.dev);
	na.dev.driver_features = nb.dev.driver_features = 1ull << VIRTIO_F_VERSION_1;
	if (b_mrg)
		nb.dev.driver_features |= 1ull << VIRTIO_NET_F_MRG_RXBUF;
	vnet_ops.driver_ok(&na.dev);
	vnet_ops.driver_ok(&nb.dev);
}

static void unpair(void)
{
	vnet_fini(&na);
	vnet_fini(&nb);
	vswitch_reset_all();
}

/* Script on a's TX queue a frame from a to `dst` of len bytes, the header and the frame split over two buffers as
 * Linux does with a linear skb (header in its own descriptor). */
static void script_tx(const u8 *dst, u32 len)
{
	u64 gpa = TX_GPA + fa.q[VNET_TXQ].n * 0x800u;
	u8 *hdr = fa.mem + gpa, *f = hdr + 0x40;

	memset(hdr, 0, 12);
	memcpy(f, dst, ETH_ALEN);
	memcpy(f + ETH_ALEN, na.cfg.mac, ETH_ALEN);
	f[12] = 0x08;
	f[13] = 0x00;
	for (u32 i = ETH_HLEN; i < len; i++)
		f[i] = (u8)(i ^ (i >> 8) ^ 0x5a);
	struct virtio_req *r = vnet_fake_add(&fa, VNET_TXQ, gpa, 12, false);
	vnet_fake_seg(r, gpa + 0x40, len, false);
}

static const u8 bcast[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static void kick_a(void)
{
	vnet_ops.notify(&na.dev, VNET_TXQ);
}

static u8 *sent_frame(u16 i)
{
	return fa.mem + TX_GPA + i * 0x800u + 0x40;
}

TEST(vnet_mac_is_stable_local_unicast_and_per_name)
{
	u8 m1[6], m2[6], m3[6];

	vnet_mac_from_name("alpha", m1);
	vnet_mac_from_name("alpha", m2);
	vnet_mac_from_name("beta", m3);
	CHECK(memcmp(m1, m2, 6) == 0);
	CHECK(memcmp(m1, m3, 6) != 0);
	CHECK_EQ(m1[0] & 3, 2); /* locally administered, individual */
	CHECK_EQ(m3[0] & 3, 2);
	/* FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c, fmix64 of that 0xed8170de1919a24d: little-endian bytes, the first
	 * octet's low bits forced to 10b */
	vnet_mac_from_name("a", m1);
	const u8 want[6] = { 0x4e, 0xa2, 0x19, 0x19, 0xde, 0x70 };
	/* names differing in their last character differ in most octets, not one */
	vnet_mac_from_name("vm1", m1);
	vnet_mac_from_name("vm2", m2);
	int same = 0;
	for (int i = 1; i < 6; i++)
		same += m1[i] == m2[i];
	CHECK(same <= 1);
	vnet_mac_from_name("a", m1);
	CHECK(memcmp(m1, want, 6) == 0);
}

TEST(vnet_config_offers_mac_status_mtu_mrg_and_no_offloads)
{
	struct virtio_net_config c;

	pair(false);
	CHECK_EQ(vnet_ops.features, (1ull << VIRTIO_NET_F_MTU) | (1ull << VIRTIO_NET_F_MAC) |
					    (1ull << VIRTIO_NET_F_MRG_RXBUF) | (1ull << VIRTIO_NET_F_STATUS));
	CHECK_EQ(vnet_ops.nr_queues, 2);
	CHECK_EQ(vnet_ops.config_len, 12);
	vnet_ops.config_read(&na.dev, 0, &c, sizeof(c));
	CHECK(memcmp(c.mac, na.port.mac, 6) == 0);
	CHECK_EQ(c.status, VIRTIO_NET_S_LINK_UP);
	CHECK_EQ(c.mtu, 1500);
	u16 st;
	vnet_ops.config_read(&na.dev, 6, &st, 2);
	CHECK_EQ(st, 1);
	u8 bad[6] = { 0 };
	vnet_ops.config_write(&na.dev, 0, bad, 6); /* read-only */
	vnet_ops.config_read(&na.dev, 0, &c, 6);
	CHECK(memcmp(c.mac, na.port.mac, 6) == 0);
	unpair();
}

TEST(vnet_frame_is_copied_from_tx_chain_into_rx_chain)
{
	pair(false);
	vnet_fake_add(&fb, VNET_RXQ, RX_GPA, 12 + 1518, true);
	memset(fb.mem + RX_GPA, 0xee, 12);
	script_tx(bcast, 1000);
	kick_a();
	/* a's chain is back with nothing written */
	CHECK_EQ(fa.q[VNET_TXQ].nr_used, 1);
	CHECK_EQ(fa.q[VNET_TXQ].used[0].len, 0);
	/* b got header + frame */
	CHECK_EQ(fb.q[VNET_RXQ].nr_used, 1);
	CHECK_EQ(fb.q[VNET_RXQ].used[0].id, 0);
	CHECK_EQ(fb.q[VNET_RXQ].used[0].len, 12 + 1000);
	struct virtio_net_hdr h;
	memcpy(&h, fb.mem + RX_GPA, 12);
	CHECK_EQ(h.flags, 0);
	CHECK_EQ(h.gso_type, 0);
	CHECK_EQ(h.num_buffers, 1); /* 5.1.6.4.2: 1 without MRG_RXBUF */
	CHECK(memcmp(fb.mem + RX_GPA + 12, sent_frame(0), 1000) == 0);
	/* copied, not shared: a's buffer changing later leaves b's copy alone */
	sent_frame(0)[100] ^= 0xff;
	CHECK(memcmp(fb.mem + RX_GPA + 12, sent_frame(0), 1000) != 0);
	CHECK_EQ(na.port.stats.tx_frames, 1);
	CHECK_EQ(na.port.stats.tx_bytes, 1000);
	CHECK_EQ(nb.port.stats.rx_frames, 1);
	CHECK_EQ(nb.port.stats.rx_bytes, 1000);
	CHECK_EQ(fa.failed + fb.failed, 0);
	unpair();
}

TEST(vnet_header_split_over_receive_segments)
{
	pair(false);
	struct virtio_req *r = vnet_fake_add(&fb, VNET_RXQ, RX_GPA, 5, true); /* header in 5 + 3 + rest */
	vnet_fake_seg(r, RX_GPA + 0x100, 3, true);
	vnet_fake_seg(r, RX_GPA + 0x200, 2000, true);
	script_tx(bcast, 200);
	kick_a();
	CHECK_EQ(fb.q[VNET_RXQ].nr_used, 1);
	CHECK_EQ(fb.q[VNET_RXQ].used[0].len, 212);
	u8 hdr[12];
	memcpy(hdr, fb.mem + RX_GPA, 5);
	memcpy(hdr + 5, fb.mem + RX_GPA + 0x100, 3);
	memcpy(hdr + 8, fb.mem + RX_GPA + 0x200, 4);
	CHECK_EQ(hdr[10] | hdr[11] << 8, 1); /* num_buffers */
	CHECK(memcmp(fb.mem + RX_GPA + 0x200 + 4, sent_frame(0), 200) == 0);
	unpair();
}

TEST(vnet_mergeable_receive_spans_buffers_published_at_once)
{
	pair(true);
	for (int i = 0; i < 4; i++)
		vnet_fake_add(&fb, VNET_RXQ, RX_GPA + i * 0x1000u, 600, true);
	script_tx(bcast, 1400); /* 12 + 1400 = 600 + 600 + 212 */
	kick_a();
	CHECK_EQ(fb.q[VNET_RXQ].nr_used, 3);
	CHECK_EQ(fb.q[VNET_RXQ].batches, 1); /* one used->idx store for the three */
	CHECK_EQ(fb.q[VNET_RXQ].used[0].len, 600);
	CHECK_EQ(fb.q[VNET_RXQ].used[1].len, 600);
	CHECK_EQ(fb.q[VNET_RXQ].used[2].len, 212);
	CHECK_EQ(fb.mem[RX_GPA + 10] | fb.mem[RX_GPA + 11] << 8, 3);
	CHECK(memcmp(fb.mem + RX_GPA + 12, sent_frame(0), 588) == 0);
	CHECK(memcmp(fb.mem + RX_GPA + 0x1000, sent_frame(0) + 588, 600) == 0);
	CHECK(memcmp(fb.mem + RX_GPA + 0x2000, sent_frame(0) + 1188, 212) == 0);
	CHECK_EQ(nb.dev.q[VNET_RXQ].last_avail, 3); /* the fourth is left for the next frame */
	unpair();
}

TEST(vnet_mergeable_too_few_buffers_drops_and_gives_them_back)
{
	pair(true);
	vnet_fake_add(&fb, VNET_RXQ, RX_GPA, 600, true);
	vnet_fake_add(&fb, VNET_RXQ, RX_GPA + 0x1000, 600, true);
	script_tx(bcast, 1400);
	kick_a();
	CHECK_EQ(fb.q[VNET_RXQ].nr_used, 0);
	CHECK_EQ(nb.dev.q[VNET_RXQ].last_avail, 0); /* both buffers still the guest's to fill */
	CHECK_EQ(nb.port.stats.rx_dropped, 1);
	CHECK_EQ(fa.q[VNET_TXQ].nr_used, 1);	/* the sender's chain is returned all the same */
	/* a smaller frame fits in them */
	script_tx(bcast, 700);
	kick_a();
	CHECK_EQ(fb.q[VNET_RXQ].nr_used, 2);
	CHECK_EQ(nb.port.stats.rx_frames, 1);
	CHECK_EQ(fa.failed + fb.failed, 0);
	unpair();
}

TEST(vnet_no_receive_buffer_drops_and_counts)
{
	pair(false);
	script_tx(bcast, 100);
	script_tx(bcast, 100);
	kick_a();
	CHECK_EQ(nb.port.stats.rx_dropped, 2);
	CHECK_EQ(nb.port.stats.rx_frames, 0);
	CHECK_EQ(fa.q[VNET_TXQ].nr_used, 2);
	/* a buffer too small for the frame without MRG_RXBUF: dropped, the buffer stays the guest's */
	vnet_fake_add(&fb, VNET_RXQ, RX_GPA, 60, true);
	script_tx(bcast, 100);
	kick_a();
	CHECK_EQ(nb.port.stats.rx_dropped, 3);
	CHECK_EQ(nb.dev.q[VNET_RXQ].last_avail, 0);
	/* a frame that fits goes into it (as QEMU does, a buffer too small is given back, not truncated into) */
	script_tx(bcast, 40);
	kick_a();
	CHECK_EQ(nb.port.stats.rx_frames, 1);
	CHECK_EQ(fb.q[VNET_RXQ].used[0].id, 0);
	CHECK_EQ(fb.q[VNET_RXQ].used[0].len, 52);
	vnet_fake_add(&fb, VNET_RXQ, RX_GPA + 0x1000, 1600, true);
	script_tx(bcast, 100);
	kick_a();
	CHECK_EQ(nb.port.stats.rx_frames, 2);
	CHECK_EQ(fb.q[VNET_RXQ].used[1].id, 1);
	CHECK_EQ(fa.failed + fb.failed, 0);
	unpair();
}

TEST(vnet_receiver_not_ready_drops)
{
	pair(false);
	vnet_fake_add(&fb, VNET_RXQ, RX_GPA, 1600, true);
	vnet_ops.reset(&nb.dev); /* reset: the driver is gone until DRIVER_OK again */
	script_tx(bcast, 100);
	kick_a();
	CHECK_EQ(nb.port.stats.rx_dropped, 1);
	CHECK_EQ(fb.q[VNET_RXQ].nr_used, 0);
	vnet_ops.driver_ok(&nb.dev);
	script_tx(bcast, 100);
	kick_a();
	CHECK_EQ(nb.port.stats.rx_frames, 1);
	unpair();
}

TEST(vnet_hostile_tx_chains_fail_the_sender_only)
{
	/* shorter than the header */
	pair(false);
	vnet_fake_add(&fb, VNET_RXQ, RX_GPA, 1600, true);
	vnet_fake_add(&fa, VNET_TXQ, TX_GPA, 11, false);
	script_tx(bcast, 100); /* after the bad one: never served */
	kick_a();
	CHECK_EQ(fa.failed, 1);
	CHECK_STR(fa.fail_why, "transmit chain shorter than the virtio-net header");
	CHECK_EQ(fa.q[VNET_TXQ].nr_used, 0);
	CHECK_EQ(nb.port.stats.rx_frames, 0);
	CHECK_EQ(na.dev.errors, 1);
	kick_a(); /* failed: ignored until reset */
	CHECK_EQ(fa.failed, 1);
	unpair();

	/* larger than the MTU allows */
	pair(false);
	script_tx(bcast, VNET_FRAME_MAX + 1);
	kick_a();
	CHECK_STR(fa.fail_why, "transmit frame larger than the MTU allows");
	unpair();

	/* a buffer outside guest RAM */
	pair(false);
	struct virtio_req *r = vnet_fake_add(&fa, VNET_TXQ, TX_GPA, 12, false);
	vnet_fake_seg(r, VNET_FAKE_MEM - 10, 100, false);
	kick_a();
	CHECK_STR(fa.fail_why, "transmit buffer not in guest RAM");
	unpair();

	/* the ring itself refused by the core */
	pair(false);
	script_tx(bcast, 100);
	fa.q[VNET_TXQ].pop_error[0] = -EINVAL;
	kick_a();
	CHECK_STR(fa.fail_why, "malformed transmit chain");
	CHECK_EQ(fb.failed, 0);
	unpair();

	/* the largest legal frame goes */
	pair(false);
	vnet_fake_add(&fb, VNET_RXQ, RX_GPA, 12 + VNET_FRAME_MAX, true);
	script_tx(bcast, VNET_FRAME_MAX);
	kick_a();
	CHECK_EQ(fa.failed, 0);
	CHECK_EQ(nb.port.stats.rx_frames, 1);
	unpair();
}

TEST(vnet_hostile_rx_chain_fails_the_receiver_only)
{
	pair(false);
	vnet_fake_add(&fb, VNET_RXQ, RX_GPA, 1600, false); /* device-readable receive buffer */
	script_tx(bcast, 100);
	script_tx(bcast, 100);
	kick_a();
	CHECK_EQ(fb.failed, 1);
	CHECK_STR(fb.fail_why, "receive chain with a device-readable buffer");
	CHECK_EQ(fa.failed, 0);
	CHECK_EQ(fa.q[VNET_TXQ].nr_used, 2); /* the sender goes on */
	CHECK_EQ(nb.port.stats.rx_dropped, 2);
	unpair();

	pair(true);
	vnet_fake_add(&fb, VNET_RXQ, RX_GPA, 8, true); /* no room for the header */
	script_tx(bcast, 100);
	kick_a();
	CHECK_STR(fb.fail_why, "receive chain shorter than the virtio-net header");
	unpair();

	pair(true);
	vnet_fake_add(&fb, VNET_RXQ, VNET_FAKE_MEM - 100, 1600, true); /* past RAM */
	script_tx(bcast, 100);
	kick_a();
	CHECK_STR(fb.fail_why, "receive buffer not in guest RAM");
	CHECK_EQ(fb.q[VNET_RXQ].nr_used, 0);
	unpair();
}

TEST(vnet_unicast_after_learning_reaches_only_its_port)
{
	struct vnet nc;
	struct vnet_fake *fc = calloc(1, sizeof(*fc));

	pair(false);
	memset(&nc, 0, sizeof(nc));
	CHECK_EQ(vnet_init(&nc, "gamma", "lan"), 0);
	vnet_fake_init(fc, &nc.dev);
	nc.dev.driver_features = 1ull << VIRTIO_F_VERSION_1;
	vnet_ops.driver_ok(&nc.dev);
	for (int i = 0; i < 2; i++) {
		vnet_fake_add(&fb, VNET_RXQ, RX_GPA + i * 0x1000u, 1600, true);
		vnet_fake_add(fc, VNET_RXQ, RX_GPA + i * 0x1000u, 1600, true);
	}
	/* b speaks first (broadcast), so the switch knows b */
	{
		u8 *f = fb.mem + 0x8000;
		memset(f, 0, 12);
		memcpy(f + 12, bcast, 6);
		memcpy(f + 18, nb.cfg.mac, 6);
		vnet_fake_add(&fb, VNET_TXQ, 0x8000, 12 + 60, false);
		vnet_ops.notify(&nb.dev, VNET_TXQ);
	}
	CHECK_EQ(na.port.stats.rx_dropped, 1); /* a posted no buffer */
	CHECK_EQ(nc.port.stats.rx_frames, 1);
	script_tx(nb.cfg.mac, 300);
	kick_a();
	CHECK_EQ(nb.port.stats.rx_frames, 1);
	CHECK_EQ(nc.port.stats.rx_frames, 1); /* not flooded */
	vnet_fini(&nc);
	unpair();
	free(fc);
}
