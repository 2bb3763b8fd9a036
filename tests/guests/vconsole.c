/* vconsole: a polled driver for the hypervisor's virtio-console (virtcon=on, vm/dev/virtio/console.h; virtio 1.2,
 * 5.3: one port, receiveq 0, transmitq 1). It finds the device by PCI enumeration (1af4:1043), brings it up
 * (3.1.1), posts receive buffers and says hello through the transmitq; then every line typed on the hypervisor's
 * serial line while this VM holds the input must arrive in its receive buffers, not in its UART (the multiplexer
 * prefers a ready virtio console), and is answered through the transmitq ("vconsole: got LINE"). The line `done`
 * ends it with PASS. */
#include "virtio_guest.h"

const char test_name[] = "vconsole";

#define COM1	       0x3f8
#define QSIZE	       8
#define BUF	       64

/* One split ring per queue, and its buffers. */
struct ring {
	struct desc d[QSIZE];
	u16 avail[2 + QSIZE + 1] __attribute__((aligned(2)));
	u32 used[1 + 2 * QSIZE + 1] __attribute__((aligned(4096)));
	u8 buf[QSIZE][BUF];
	u16 avail_idx, used_seen;
	u16 notify_off;
} __attribute__((aligned(4096)));

static struct ring rx, tx;
static u64 common, notify;
static u32 notify_mult;

static bool find(u8 *slot)
{
	for (u8 s = 1; s < 32; s++)
		if (cfg_read32(s, 0) == 0x10431af4) {
			*slot = s;
			return true;
		}
	return false;
}

/* 4.1.4: the common and notify structures, in BAR 0 (a 64-bit memory BAR the hypervisor placed). */
static void find_caps(u8 slot)
{
	u64 bar = ((u64)cfg_read32(slot, 0x14) << 32) | (cfg_read32(slot, 0x10) & ~0xfu);

	cfg_write32(slot, 0x04, 0x6); /* memory decoding, bus master */
	for (u8 p = cfg_read8(slot, 0x34), n = 0; p && n < 48; p = cfg_read8(slot, p + 1), n++) {
		if (cfg_read8(slot, p) != 0x09)
			continue;
		u8 type = cfg_read8(slot, p + 3);
		u32 off = cfg_read32(slot, p + 8);
		if (type == 1)
			common = bar + off;
		if (type == 2) {
			notify = bar + off;
			notify_mult = cfg_read32(slot, p + 16);
		}
	}
	if (!common || !notify)
		test_fail("no common or notify capability");
}

static void setup_queue(u16 qi, struct ring *r)
{
	wr16(common + CC_QSEL, qi);
	if (rd16(common + CC_QSIZE) < QSIZE)
		test_fail("queue %u offers %u entries", qi, rd16(common + CC_QSIZE));
	wr16(common + CC_QSIZE, QSIZE);
	wr64(common + CC_QDESC, (u64)r->d);
	wr64(common + CC_QDRIVER, (u64)r->avail);
	wr64(common + CC_QDEVICE, (u64)r->used);
	r->notify_off = rd16(common + CC_QNOFF);
	wr16(common + CC_QENABLE, 1);
}

static void publish(u16 qi, struct ring *r, u16 head)
{
	r->avail[2 + r->avail_idx % QSIZE] = head;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	r->avail[1] = ++r->avail_idx;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	wr16(notify + (u64)r->notify_off * notify_mult, qi);
}

static u16 used_idx(struct ring *r)
{
	return (u16)(*(volatile u32 *)&r->used[0] >> 16);
}

/* Send s through the transmitq and wait until the device has taken it. */
static void vputs(const char *s)
{
	u32 n = (u32)strlen(s);
	u16 head = tx.avail_idx % QSIZE;

	if (n > BUF)
		n = BUF;
	memcpy(tx.buf[head], s, n);
	tx.d[head] = (struct desc){(u64)tx.buf[head], n, 0, 0};
	publish(1, &tx, head);
	for (u64 i = 0; used_idx(&tx) != tx.avail_idx; i++)
		if (i > 100000000)
			test_fail("transmitq: chain %u never used", head);
	if (rd8(common + CC_STATUS) & ST_NEEDS_RESET)
		test_fail("device needs reset after a transmit");
}

int test_main(void)
{
	u8 slot;
	char line[BUF + 1], msg[BUF + 16];
	u32 n = 0, lines = 0;

	if (!find(&slot))
		test_fail("no virtio-console (1af4:1043) on bus 0");
	find_caps(slot);
	wr8(common + CC_STATUS, 0);
	wr8(common + CC_STATUS, ST_ACK | ST_DRIVER);
	wr32(common + CC_DFSELECT, 0);
	if (rd32(common + CC_DF) & 0x7)
		test_fail("device features 0x%x: SIZE, MULTIPORT or EMERG_WRITE offered", rd32(common + CC_DF));
	wr32(common + CC_GFSELECT, 1);
	wr32(common + CC_GF, 1u << (F_VERSION_1 - 32));
	wr8(common + CC_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK);
	if (!(rd8(common + CC_STATUS) & ST_FEATURES_OK))
		test_fail("FEATURES_OK refused");
	if (rd16(common + CC_NUMQ) != 2)
		test_fail("%u queues, want 2 (one port, no MULTIPORT)", rd16(common + CC_NUMQ));
	setup_queue(0, &rx);
	setup_queue(1, &tx);
	for (u16 i = 0; i < QSIZE; i++) {
		rx.d[i] = (struct desc){(u64)rx.buf[i], BUF, D_WRITE, 0};
		publish(0, &rx, i);
	}
	wr8(common + CC_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
	vputs("vconsole: hello through the transmitq\n");
	printf("vconsole: ready\n"); /* through the UART: the runner starts typing */
	for (;;) {
		while (rx.used_seen == used_idx(&rx)) {
			if (inb(COM1 + 5) & 0x01)
				test_fail("typed byte 0x%02x reached the UART, not the virtio console", inb(COM1));
			pause();
		}
		u32 e = rx.used_seen++ % QSIZE;
		u32 id = rx.used[1 + 2 * e], len = rx.used[2 + 2 * e];
		if (id >= QSIZE || len > BUF)
			test_fail("used entry %u: id %u len %u", e, id, len);
		for (u32 i = 0; i < len; i++) {
			char c = (char)rx.buf[id][i];
			if (c != '\r' && c != '\n') {
				if (n < BUF)
					line[n++] = c;
				continue;
			}
			line[n] = 0;
			n = 0;
			if (!strcmp(line, "done")) {
				if (!lines)
					test_fail("done before any line");
				printf("TEST vconsole PASS\n");
				return 0;
			}
			snprintf(msg, sizeof(msg), "vconsole: got %s\n", line);
			vputs(msg);
			lines++;
		}
		publish(0, &rx, (u16)id); /* the buffer goes back to the device */
	}
}
