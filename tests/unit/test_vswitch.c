/* The virtual switch (vm/dev/virtio/vswitch.c) with fake ports: flooding, learning, filtering, drops, leaving, and
 * the frame copy. The ports' deliver() copies what it is given into the port's own buffer, as the RX queue does. */
#include <pthread.h>
#include <string.h>

#include "fake_platform.h"
#include "hv/errno.h"
#include "test.h"
#include "vm/dev/virtio/vswitch.h"

struct fport {
	struct vswitch_port p;
	int result;      /* what deliver returns */
	u32 calls;
	u8 last[2048];   /* the last frame delivered (copied) */
	u32 last_len;
};

static int fdeliver(struct vswitch_port *p, const u8 *frame, u32 len)
{
	struct fport *f = p->priv;

	__atomic_fetch_add(&f->calls, 1, __ATOMIC_RELAXED);
	if (f->result)
		return f->result;
	memcpy(f->last, frame, len < sizeof(f->last) ? len : sizeof(f->last));
	f->last_len = len;
	return 0;
}

static void port_init(struct fport *f, const char *name, u8 last_octet)
{
	memset(f, 0, sizeof(*f));
	f->p.mac[0] = 0x02;
	f->p.mac[5] = last_octet;
	f->p.name = name;
	f->p.deliver = fdeliver;
	f->p.priv = f;
}

static const u8 bcast[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static u32 frame(u8 *buf, const u8 *dst, const u8 *src, u32 len)
{
	memcpy(buf, dst, ETH_ALEN);
	memcpy(buf + ETH_ALEN, src, ETH_ALEN);
	buf[12] = 0x08;
	buf[13] = 0x00;
	for (u32 i = ETH_HLEN; i < len; i++)
		buf[i] = (u8)(i * 7 + src[5]);
	return len;
}

static struct fport a, b, c;

static void three_ports(void)
{
	vswitch_reset_all();
	port_init(&a, "a", 1);
	port_init(&b, "b", 2);
	port_init(&c, "c", 3);
	CHECK_EQ(vswitch_join("lan", &a.p), 0);
	CHECK_EQ(vswitch_join("lan", &b.p), 0);
	CHECK_EQ(vswitch_join("lan", &c.p), 0);
}

static void three_leave(void)
{
	vswitch_leave(&a.p);
	vswitch_leave(&b.p);
	vswitch_leave(&c.p);
	vswitch_reset_all();
}

TEST(vswitch_broadcast_floods_to_every_other_port)
{
	u8 f[100];

	three_ports();
	CHECK_EQ(vswitch_send(&a.p, f, frame(f, bcast, a.p.mac, 100)), 2);
	CHECK_EQ(a.calls, 0);
	CHECK_EQ(b.calls, 1);
	CHECK_EQ(c.calls, 1);
	CHECK_EQ(b.last_len, 100);
	CHECK(memcmp(b.last, f, 100) == 0);
	CHECK(memcmp(c.last, f, 100) == 0);
	CHECK_EQ(a.p.stats.tx_frames, 1);
	CHECK_EQ(a.p.stats.tx_bytes, 100);
	CHECK_EQ(b.p.stats.rx_frames, 1);
	CHECK_EQ(b.p.stats.rx_bytes, 100);
	CHECK_EQ(a.p.stats.rx_frames, 0);
	three_leave();
}

TEST(vswitch_learns_and_then_unicasts)
{
	u8 f[64], other[ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0x99 };

	three_ports();
	/* b does not know a yet: unknown unicast floods. */
	vswitch_send(&b.p, f, frame(f, a.p.mac, b.p.mac, 64));
	CHECK_EQ(a.calls, 1);
	CHECK_EQ(c.calls, 1);
	/* a answers b, whom the switch learnt from that frame: b alone gets it. */
	CHECK_EQ(vswitch_send(&a.p, f, frame(f, b.p.mac, a.p.mac, 64)), 1);
	CHECK_EQ(b.calls, 1);
	CHECK_EQ(c.calls, 1);
	/* now a is learnt too */
	CHECK_EQ(vswitch_send(&c.p, f, frame(f, a.p.mac, c.p.mac, 64)), 1);
	CHECK_EQ(a.calls, 2);
	CHECK_EQ(b.calls, 1);
	/* a MAC nobody has: flood */
	CHECK_EQ(vswitch_send(&c.p, f, frame(f, other, c.p.mac, 64)), 2);
	CHECK_EQ(a.calls, 3);
	CHECK_EQ(b.calls, 2);
	three_leave();
}

TEST(vswitch_station_moving_is_relearnt)
{
	u8 f[64], roam[ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0x42 };

	three_ports();
	vswitch_send(&a.p, f, frame(f, bcast, roam, 64)); /* roam behind a */
	CHECK_EQ(vswitch_send(&c.p, f, frame(f, roam, c.p.mac, 64)), 1);
	CHECK_EQ(a.calls, 1);
	vswitch_send(&b.p, f, frame(f, bcast, roam, 64)); /* roam moved behind b */
	CHECK_EQ(vswitch_send(&c.p, f, frame(f, roam, c.p.mac, 64)), 1);
	CHECK_EQ(a.calls, 2);			/* only the broadcast from b */
	CHECK_EQ(b.calls, 2);			/* a's broadcast and the unicast */
	three_leave();
}

TEST(vswitch_filters_frames_back_to_their_port)
{
	u8 f[64], behind_a[ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0x77 };

	three_ports();
	vswitch_send(&a.p, f, frame(f, bcast, behind_a, 64));
	a.calls = b.calls = c.calls = 0;
	/* a sends to a station the switch knows is on a's own port: a bridge drops it */
	CHECK_EQ(vswitch_send(&a.p, f, frame(f, behind_a, a.p.mac, 64)), 0);
	CHECK_EQ(a.calls + b.calls + c.calls, 0);
	three_leave();
}

TEST(vswitch_multicast_source_is_not_learnt)
{
	u8 f[64], mc[ETH_ALEN] = { 0x01, 0x00, 0x5e, 0, 0, 1 };

	three_ports();
	vswitch_send(&a.p, f, frame(f, bcast, mc, 64));
	/* a frame to that group still floods (group addresses always do) */
	CHECK_EQ(vswitch_send(&b.p, f, frame(f, mc, b.p.mac, 64)), 2);
	three_leave();
}

TEST(vswitch_full_receiver_drops_and_counts)
{
	u8 f[64];

	three_ports();
	b.result = -ENOSPC;
	c.result = -ENODEV;
	vswitch_send(&a.p, f, frame(f, bcast, a.p.mac, 64));
	vswitch_send(&a.p, f, frame(f, bcast, a.p.mac, 64));
	CHECK_EQ(b.p.stats.rx_dropped, 2);
	CHECK_EQ(b.p.stats.rx_frames, 0);
	CHECK_EQ(c.p.stats.rx_dropped, 2);
	CHECK_EQ(a.p.stats.tx_frames, 2);
	b.result = 0;
	vswitch_send(&a.p, f, frame(f, bcast, a.p.mac, 64));
	CHECK_EQ(b.p.stats.rx_frames, 1);
	CHECK_EQ(b.p.stats.rx_dropped, 2);
	three_leave();
}

TEST(vswitch_runt_is_a_tx_error)
{
	u8 f[64];

	three_ports();
	frame(f, bcast, a.p.mac, 64);
	CHECK_EQ(vswitch_send(&a.p, f, ETH_HLEN - 1), 0);
	CHECK_EQ(a.p.stats.tx_errors, 1);
	CHECK_EQ(a.p.stats.tx_frames, 0);
	CHECK_EQ(b.calls + c.calls, 0);
	three_leave();
}

TEST(vswitch_leave_forgets_the_port)
{
	u8 f[64];

	three_ports();
	vswitch_send(&a.p, f, frame(f, bcast, a.p.mac, 64)); /* a learnt */
	vswitch_leave(&a.p);
	CHECK_LAST_LOG("vswitch lan: a left: tx 1 frames 64 bytes");
	CHECK(a.p.sw == NULL);
	a.calls = 0;
	/* a's MAC is unknown again: flood to the ports still there, never to a */
	CHECK_EQ(vswitch_send(&b.p, f, frame(f, a.p.mac, b.p.mac, 64)), 1);
	CHECK_EQ(a.calls, 0);
	CHECK_EQ(c.calls, 2);
	/* a port that left sends nothing */
	CHECK_EQ(vswitch_send(&a.p, f, frame(f, bcast, a.p.mac, 64)), 0);
	vswitch_leave(&a.p); /* idempotent */
	/* and may join again */
	CHECK_EQ(vswitch_join("lan", &a.p), 0);
	CHECK_EQ(vswitch_send(&b.p, f, frame(f, bcast, b.p.mac, 64)), 2);
	CHECK_EQ(a.calls, 1);
	three_leave();
}

TEST(vswitch_networks_are_separate_and_macs_unique)
{
	struct fport d, dup;
	u8 f[64];

	three_ports();
	port_init(&d, "d", 4);
	CHECK_EQ(vswitch_join("other", &d.p), 0);
	CHECK_EQ(vswitch_send(&a.p, f, frame(f, bcast, a.p.mac, 64)), 2);
	CHECK_EQ(d.calls, 0);
	port_init(&dup, "dup", 1); /* a's MAC */
	CHECK_EQ(vswitch_join("lan", &dup.p), -EEXIST);
	CHECK_LAST_LOG("already a's");
	CHECK(dup.p.sw == NULL);
	CHECK_EQ(vswitch_join("other", &dup.p), 0); /* another network may have it */
	vswitch_leave(&dup.p);
	vswitch_leave(&d.p);
	three_leave();
}

/* Two threads (two vCPUs of two VMs) send to each other while a third port joins and leaves: every frame sent is
 * delivered or dropped exactly once, and nobody is delivered to after it left. */
static struct fport ta, tb, tc;
static volatile bool tc_joined;

static void *sender(void *arg)
{
	struct fport *me = arg, *peer = me == &ta ? &tb : &ta;
	u8 f[128];

	fake_cpu_id = me == &ta ? 1 : 2;
	for (int i = 0; i < 20000; i++)
		vswitch_send(&me->p, f, frame(f, i % 3 ? peer->p.mac : bcast, me->p.mac, 128));
	return NULL;
}

TEST(vswitch_parallel_senders_and_a_port_leaving)
{
	pthread_t t1, t2;

	vswitch_reset_all();
	port_init(&ta, "ta", 1);
	port_init(&tb, "tb", 2);
	port_init(&tc, "tc", 3);
	CHECK_EQ(vswitch_join("lan", &ta.p), 0);
	CHECK_EQ(vswitch_join("lan", &tb.p), 0);
	pthread_create(&t1, NULL, sender, &ta);
	pthread_create(&t2, NULL, sender, &tb);
	fake_cpu_id = 3;
	for (int i = 0; i < 200; i++) {
		CHECK_EQ(vswitch_join("lan", &tc.p), 0);
		vswitch_leave(&tc.p);
	}
	u32 after_leave = __atomic_load_n(&tc.calls, __ATOMIC_SEQ_CST);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	fake_cpu_id = 0;
	CHECK_EQ(tc.calls, after_leave);
	CHECK_EQ(ta.p.stats.tx_frames, 20000);
	CHECK_EQ(tb.p.stats.tx_frames, 20000);
	/* every frame of one reached the other: unicast once learnt, floods before and for broadcasts */
	CHECK_EQ(tb.p.stats.rx_frames, 20000);
	CHECK_EQ(ta.p.stats.rx_frames, 20000);
	vswitch_leave(&ta.p);
	vswitch_leave(&tb.p);
	vswitch_reset_all();
}
