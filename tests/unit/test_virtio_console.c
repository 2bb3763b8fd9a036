/* virtio-console (vm/dev/virtio/console.c, virtio 1.2 5.3) against a fake guest memory, with the real virtqueue
 * code: transmit chains reach the VM's console whole and in order (split and multi-segment ones too), typed bytes
 * land one per receive buffer only once the driver is ready, wait when it has posted none, and a malformed chain or
 * an unwritable receive buffer puts the device in NEEDS_RESET instead of being served. */
#include <string.h>

#include "test.h"
#include "virtq_fixture.h"
#include "vm/dev/virtio/console.h"
#include "vm/vm.h"

enum { NEXT = 1, WRITE = 2 };

/* Ring and buffer areas of the two queues in the fixture's RAM. */
#define RX_DESC	 (VQF_BASE + 0x0000)
#define RX_AVAIL (VQF_BASE + 0x1000)
#define RX_USED	 (VQF_BASE + 0x2000)
#define RX_BUF	 (VQF_BASE + 0x4000)
#define TX_DESC	 (VQF_BASE + 0x8000)
#define TX_AVAIL (VQF_BASE + 0x9000)
#define TX_USED	 (VQF_BASE + 0xa000)
#define TX_BUF	 (VQF_BASE + 0xc000)
#define QSIZE	 8

static struct vqf fx;
static struct virtio_dev dev;
static u16 avail_idx[2];
static char out[4096]; /* what reached the console */
static size_t out_len;
static int completions, failures;

/* ---- what the device calls: the console and the transport's helpers ---- */
void vm_console_putc(struct vm *vm, char c)
{
	(void)vm;
	if (out_len < sizeof(out) - 1)
		out[out_len++] = c;
	out[out_len] = 0;
}

void virtio_complete(struct virtio_dev *d, u16 qi, u32 written)
{
	assert_spin_held(&d->q[qi].lock);
	CHECK_EQ(virtq_push(&d->q[qi], &d->mem, written), 0);
	completions++;
}

void virtio_fail(struct virtio_dev *d, const char *why)
{
	(void)why;
	d->status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	failures++;
}

int virtio_pci_add(struct vm *vm, struct virtio_dev *d)
{
	(void)vm, (void)d;
	return -ENODEV;
}

void virtio_mem_init_vm(struct virtio_mem *m, struct vm *vm)
{
	(void)m, (void)vm;
}

static void setup(u8 status)
{
	vqf_init(&fx, QSIZE, false, false);
	memset(&dev, 0, sizeof(dev));
	dev.ops = &vcon_ops;
	dev.mem = fx.mem;
	dev.status = status;
	const u64 rings[2][3] = {{RX_DESC, RX_AVAIL, RX_USED}, {TX_DESC, TX_AVAIL, TX_USED}};
	for (int i = 0; i < 2; i++) {
		virtq_reset(&dev.q[i]);
		dev.q[i].size = QSIZE;
		dev.q[i].desc = rings[i][0];
		dev.q[i].avail = rings[i][1];
		dev.q[i].used = rings[i][2];
		dev.q[i].enabled = true;
	}
	avail_idx[0] = avail_idx[1] = 0;
	out_len = 0;
	out[0] = 0;
	completions = failures = 0;
}

static void publish(int qi, u16 head)
{
	u64 avail = qi ? TX_AVAIL : RX_AVAIL;

	vqf_put16(&fx, avail + 4 + 2 * (avail_idx[qi] % QSIZE), head);
	avail_idx[qi]++;
	vqf_put16(&fx, avail + 2, avail_idx[qi]);
}

static u16 used_idx(int qi)
{
	return vqf_get16(&fx, (qi ? TX_USED : RX_USED) + 2);
}

static u32 used_len(int qi, u16 i)
{
	u32 v;
	memcpy(&v, vqf_ptr(&fx, (qi ? TX_USED : RX_USED) + 4 + 8 * (i % QSIZE) + 4), 4);
	return v;
}

#define READY (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK)

TEST(vcon_offers_one_plain_port)
{
	u8 cfg[VIRTIO_CONSOLE_CONFIG_LEN];

	CHECK_EQ(vcon_ops.device_id, VIRTIO_ID_CONSOLE);
	CHECK_EQ(vcon_ops.nr_queues, 2);
	CHECK_EQ(vcon_ops.features, 0); /* no MULTIPORT: ports 0's queues are 0 and 1 (5.3.2) */
	setup(READY);
	vcon_ops.config_read(&dev, 0, cfg, sizeof(cfg));
	CHECK_EQ(cfg[0] | cfg[1] | cfg[2] | cfg[3], 0); /* cols, rows */
	CHECK_EQ(cfg[4], 1);
}

TEST(vcon_transmit_reaches_console_in_order)
{
	setup(READY);
	strcpy(vqf_ptr(&fx, TX_BUF), "hello ");
	strcpy(vqf_ptr(&fx, TX_BUF + 0x100), "hv");
	strcpy(vqf_ptr(&fx, TX_BUF + 0x200), "c0\n");
	vqf_desc(&fx, TX_DESC, 0, TX_BUF, 6, 0, 0);
	vqf_desc(&fx, TX_DESC, 1, TX_BUF + 0x100, 2, NEXT, 2); /* one chain of two segments */
	vqf_desc(&fx, TX_DESC, 2, TX_BUF + 0x200, 3, 0, 0);
	publish(1, 0);
	publish(1, 1);
	vcon_ops.notify(&dev, VIRTIO_CONSOLE_TXQ);
	CHECK_STR(out, "hello hvc0\n");
	CHECK_EQ(used_idx(1), 2);
	CHECK_EQ(used_len(1, 0), 0); /* nothing written into a transmit buffer */
	CHECK_EQ(dev.requests, 2);
	CHECK_EQ(failures, 0);
	vcon_ops.notify(&dev, VIRTIO_CONSOLE_RXQ); /* a receive kick transmits nothing */
	CHECK_EQ(out_len, 11);
}

/* A transmit chain longer than the model's bounce buffer comes out whole. */
TEST(vcon_transmit_long_chain)
{
	setup(READY);
	char *b = vqf_ptr(&fx, TX_BUF);
	for (int i = 0; i < 1000; i++)
		b[i] = (char)('a' + i % 26);
	vqf_desc(&fx, TX_DESC, 0, TX_BUF, 1000, 0, 0);
	publish(1, 0);
	vcon_ops.notify(&dev, VIRTIO_CONSOLE_TXQ);
	CHECK_EQ(out_len, 1000);
	CHECK(!memcmp(out, b, 1000));
}

TEST(vcon_input_needs_a_ready_driver)
{
	setup(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	vqf_desc(&fx, RX_DESC, 0, RX_BUF, 16, WRITE, 0);
	publish(0, 0);
	CHECK_EQ(vcon_dev_input(&dev, 'x'), -ENODEV); /* not DRIVER_OK: the UART's */
	dev.status = READY | VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	CHECK_EQ(vcon_dev_input(&dev, 'x'), -ENODEV);
	dev.status = READY;
	dev.q[0].enabled = false;
	CHECK_EQ(vcon_dev_input(&dev, 'x'), -ENODEV);
	CHECK_EQ(used_idx(0), 0);
}

TEST(vcon_input_one_byte_per_buffer_then_waits)
{
	setup(READY);
	vqf_desc(&fx, RX_DESC, 0, RX_BUF, 16, WRITE, 0);
	vqf_desc(&fx, RX_DESC, 1, RX_BUF + 0x100, 16, WRITE, 0);
	CHECK_EQ(vcon_dev_input(&dev, 'a'), -EAGAIN); /* ready, nothing posted: the byte waits */
	publish(0, 0);
	publish(0, 1);
	CHECK_EQ(vcon_dev_input(&dev, 'a'), 0);
	CHECK_EQ(vcon_dev_input(&dev, 'b'), 0);
	CHECK_EQ(vcon_dev_input(&dev, 'c'), -EAGAIN);
	CHECK_EQ(used_idx(0), 2);
	CHECK_EQ(used_len(0, 0), 1);
	CHECK_EQ(used_len(0, 1), 1);
	CHECK_EQ(*(char *)vqf_ptr(&fx, RX_BUF), 'a');
	CHECK_EQ(*(char *)vqf_ptr(&fx, RX_BUF + 0x100), 'b');
	CHECK_EQ(completions, 2);
	CHECK_EQ(failures, 0);
}

TEST(vcon_bad_chains_need_reset)
{
	setup(READY);
	vqf_desc(&fx, RX_DESC, 0, RX_BUF, 16, 0, 0); /* a receive buffer the device may not write */
	publish(0, 0);
	CHECK_EQ(vcon_dev_input(&dev, 'a'), -ENODEV);
	CHECK_EQ(failures, 1);
	CHECK(dev.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	CHECK_EQ(used_idx(0), 0);

	setup(READY);
	vqf_desc(&fx, TX_DESC, 0, TX_BUF, 4, NEXT, 0); /* a loop */
	publish(1, 0);
	vcon_ops.notify(&dev, VIRTIO_CONSOLE_TXQ);
	CHECK_EQ(failures, 1);
	CHECK_EQ(out_len, 0);
	CHECK_EQ(used_idx(1), 0);

	setup(READY);
	vqf_desc(&fx, RX_DESC, 0, VQF_BASE + VQF_SIZE, 16, WRITE, 0); /* outside RAM */
	publish(0, 0);
	CHECK_EQ(vcon_dev_input(&dev, 'a'), -ENODEV);
	CHECK_EQ(failures, 1);
}
