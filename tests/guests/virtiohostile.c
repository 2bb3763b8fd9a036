/* virtiohostile: a guest driver for the hypervisor's virtio test device (hv.vtest=1, vm/dev/virtio/vtest.h) that
 * finds it by PCI enumeration (configuration mechanism 1, PCI Local Bus 3.0, 3.2.2.3.2), sizes its BAR (6.2.5.1),
 * reads its virtio capabilities (virtio 1.2, 4.1.4), negotiates features (3.1.1: FEATURES_OK reads back clear when
 * the driver took a bit not offered), and echoes a buffer through its queue with an MSI-X interrupt (4.1.5.1.2).
 * Then it breaks the protocol on purpose: a descriptor loop, a buffer past the end of RAM, a buffer in MMIO (the
 * device's own BAR), a nested indirect table (2.7.5.3.1), an avail index more than the queue size ahead. Each time
 * the device must go DEVICE_NEEDS_RESET (2.1.2) and send a configuration change interrupt, without completing
 * anything, and must work again after a reset. Also: a masked MSI-X vector sets its pending bit and fires at the
 * unmask (PCI 3.0, 6.8.2.9), and INTx: the ISR read returns the cause, clears it and lowers the level-triggered line
 * (virtio 1.2, 4.1.4.5), which the DSDT routes to GSI 16 + slot % 8.
 * With `benign[=N]` on its command line it only echoes, N times (default 300), and requires the device never to fail:
 * it runs as a second VM beside the hostile one, whose failures must not reach it. Without a PCI bus (platform=minimal)
 * or without the test device it says SKIP. */
#include "virtio_guest.h"
#include "smp.h"

const char test_name[] = "virtiohostile";

#define VEC_CONFIG 0x50
#define VEC_QUEUE  0x51
#define VEC_INTX   0x52
#define QSIZE	   8

static u8 slot;
static u64 bar, common, notify, isr, devcfg, msix_table, msix_pba;
static u32 notify_mult;
static u8 msix_cap;
static bool benign;
static volatile u32 n_config, n_queue, n_intx;
static volatile u8 intx_isr;

/* Guest memory for the rings and buffers, found at start. */
static u64 mem;
static struct desc *dtab;
static volatile u16 *avail; /* flags, idx, ring[QSIZE], used_event */
static volatile u32 *used;  /* flags|idx, then {id, len} pairs */
static u8 *buf_out, *buf_in;
static u16 avail_idx, used_seen;

static u8 status(void)
{
	return rd8(common + CC_STATUS);
}

static void on_config(struct trap_frame *f)
{
	n_config++;
	lapic_eoi();
}
static void on_queue(struct trap_frame *f)
{
	n_queue++;
	lapic_eoi();
}
/* INTx: the ISR read is what lowers the line, before the EOI (so the IOAPIC does not deliver it again). */
static void on_intx(struct trap_frame *f)
{
	u8 v = rd8(isr);
	intx_isr |= v;
	n_intx++;
	if (v & 1)
		n_queue++;
	if (v & 2)
		n_config++;
	lapic_eoi();
}

/* Let interrupts in until *counter passes `was`; false after a long while without. */
static bool wait_count(volatile u32 *counter, u32 was)
{
	sti();
	for (u32 i = 0; i < 10000000 && *counter == was; i++)
		pause();
	cli();
	return *counter != was;
}

/* Let interrupts in for a while: long enough for one already posted to arrive. */
static void let_irqs_in(void)
{
	sti();
	for (int i = 0; i < 100000; i++)
		pause();
	cli();
}

/* ---- discovery ---- */
static bool find_device(void)
{
	u32 hb = cfg_read32(0, 0);
	if (hb == 0xffffffff)
		return false;
	if (hb != 0x29c08086 || cfg_read32(0, 8) >> 8 != 0x060000)
		test_fail("enum: 00:00.0 is 0x%x class 0x%x, want the host bridge 8086:29c0 class 060000", hb,
			  cfg_read32(0, 8) >> 8);
	/* Hidden things read all ones: another function, another bus, and with the enable bit clear. */
	outl(0xcf8, 0x80000100);
	u32 fn1 = inl(0xcfc);
	outl(0xcf8, 0x80010000);
	u32 bus1 = inl(0xcfc);
	outl(0xcf8, 0);
	u32 off = inl(0xcfc);
	if (fn1 != ~0u || bus1 != ~0u || off != ~0u)
		test_fail("enum: 00:00.1 0x%x, 01:00.0 0x%x, disabled 0x%x: want all ones", fn1, bus1, off);
	for (u8 s = 1; s < 32; s++) {
		if (cfg_read32(s, 0) == 0x107f1af4) {
			slot = s;
			return true;
		}
	}
	return false;
}

static void phase_enum(void)
{
	if (cfg_read8(slot, 0x08) != 1)
		test_fail("enum: revision %u, want 1 (4.1.2.1: a non-transitional device)", cfg_read8(slot, 8));
	if (cfg_read16(slot, 0x2e) < 0x40)
		test_fail("enum: subsystem id 0x%x, want >= 0x40", cfg_read16(slot, 0x2e));
	/* BAR 0: a 64-bit memory BAR, size from the all-ones write. */
	u32 lo = cfg_read32(slot, 0x10), hi = cfg_read32(slot, 0x14);
	if ((lo & 7) != 4)
		test_fail("enum: BAR 0 is 0x%x, want 64-bit memory", lo);
	cfg_write32(slot, 0x10, ~0u);
	cfg_write32(slot, 0x14, ~0u);
	u32 slo = cfg_read32(slot, 0x10), shi = cfg_read32(slot, 0x14);
	cfg_write32(slot, 0x10, lo);
	cfg_write32(slot, 0x14, hi);
	u64 size = ~(((u64)shi << 32 | (slo & ~0xfu))) + 1;
	if (size < 0x4000 || (size & (size - 1)) || cfg_read32(slot, 0x10) != lo)
		test_fail("enum: BAR 0 size 0x%lx (read 0x%x 0x%x), restored 0x%x", size, slo, shi,
			  cfg_read32(slot, 0x10));
	bar = (u64)hi << 32 | (lo & ~0xfu);
	if (bar < 0xc0000000 || bar + size > 0xfec00000)
		test_fail("enum: BAR 0 at 0x%lx, outside the PCI window", bar);
	/* Memory decoding off: the BAR reads all ones; on, the common configuration is there. */
	cfg_write16(slot, 0x04, 0);
	if (rd32(bar) != ~0u)
		test_fail("enum: BAR readable with memory decoding off: 0x%x", rd32(bar));
	cfg_write16(slot, 0x04, 0x6); /* memory, bus master */
	printf("virtiohostile: device 1af4:107f at 00:%02x.0, BAR 0 0x%lx size 0x%lx, INTx line %u\n", slot, bar, size,
	       cfg_read8(slot, 0x3c));
	printf("TEST virtio_pci_enum PASS\n");
}

static void phase_caps(void)
{
	if (!(cfg_read16(slot, 0x06) & 0x10))
		test_fail("caps: status has no capability list");
	u32 seen = 0;
	for (u8 p = cfg_read8(slot, 0x34), n = 0; p && n < 48; p = cfg_read8(slot, p + 1), n++) {
		u8 id = cfg_read8(slot, p);
		if (id == 0x11) {
			msix_cap = p;
			u16 ctrl = cfg_read16(slot, p + 2);
			u32 t = cfg_read32(slot, p + 4), pba = cfg_read32(slot, p + 8);
			if ((t & 7) || (pba & 7) || (ctrl & 0x7ff) < 1)
				test_fail("caps: MSI-X table 0x%x PBA 0x%x control 0x%x", t, pba, ctrl);
			msix_table = bar + t;
			msix_pba = bar + pba;
			continue;
		}
		if (id != 0x09)
			continue;
		u8 type = cfg_read8(slot, p + 3), b = cfg_read8(slot, p + 4);
		u32 off = cfg_read32(slot, p + 8);
		if (b != 0 && type != 5)
			test_fail("caps: type %u in BAR %u", type, b);
		seen |= 1u << type;
		switch (type) {
		case 1:
			common = bar + off;
			break;
		case 2:
			notify = bar + off;
			notify_mult = cfg_read32(slot, p + 16);
			break;
		case 3:
			isr = bar + off;
			break;
		case 4:
			devcfg = bar + off;
			break;
		}
	}
	if ((seen & 0x3e) != 0x3e || !msix_cap)
		test_fail("caps: virtio capability types seen 0x%x, MSI-X at 0x%x: want 1-5 and MSI-X", seen, msix_cap);
	if (rd32(devcfg) != 0x54535456)
		test_fail("caps: device configuration magic 0x%x", rd32(devcfg));
	printf("TEST virtio_pci_caps PASS\n");
}

/* ---- driver ---- */
static void reset(void)
{
	wr8(common + CC_STATUS, 0);
	if (status() != 0)
		test_fail("reset: status 0x%x after writing 0", status());
}

static void msix_setup(void)
{
	u64 addr = 0xfee00000u | (u64)lapic_id() << 12;
	for (int v = 0; v < 2; v++) {
		wr64(msix_table + 16 * v, addr);
		wr32(msix_table + 16 * v + 8, v ? VEC_QUEUE : VEC_CONFIG);
		wr32(msix_table + 16 * v + 12, 0); /* unmasked */
	}
	cfg_write16(slot, msix_cap + 2, 0x8000); /* MSI-X enable */
}

static u64 features(void)
{
	wr32(common + CC_DFSELECT, 0);
	u64 f = rd32(common + CC_DF);
	wr32(common + CC_DFSELECT, 1);
	return f | (u64)rd32(common + CC_DF) << 32;
}

static void set_features(u64 f)
{
	wr32(common + CC_GFSELECT, 0);
	wr32(common + CC_GF, (u32)f);
	wr32(common + CC_GFSELECT, 1);
	wr32(common + CC_GF, (u32)(f >> 32));
}

/* Reset and bring the device up with one queue of QSIZE, MSI-X vectors 0 (config) and 1 (queue). */
static void init_device(void)
{
	reset();
	wr8(common + CC_STATUS, ST_ACK);
	wr8(common + CC_STATUS, ST_ACK | ST_DRIVER);
	set_features(1ull << F_VERSION_1 | 1ull << F_INDIRECT);
	wr8(common + CC_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK);
	if (!(status() & ST_FEATURES_OK))
		test_fail("init: FEATURES_OK refused for VERSION_1 | INDIRECT_DESC");
	wr16(common + CC_MSIX_CFG, 0);
	if (rd16(common + CC_MSIX_CFG) != 0)
		test_fail("init: config vector not taken");
	wr16(common + CC_QSEL, 0);
	wr16(common + CC_QSIZE, QSIZE);
	wr16(common + CC_QMSIX, 1);
	memset((void *)mem, 0, 0x3000);
	wr64(common + CC_QDESC, (u64)dtab);
	wr64(common + CC_QDRIVER, (u64)avail);
	wr64(common + CC_QDEVICE, (u64)used);
	wr16(common + CC_QENABLE, 1);
	if (rd16(common + CC_QENABLE) != 1)
		test_fail("init: queue not enabled (status 0x%x)", status());
	wr8(common + CC_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
	avail_idx = used_seen = 0;
}

static void publish(u16 head)
{
	avail[2 + (avail_idx % QSIZE)] = head;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	avail[1] = ++avail_idx;
}

static void kick(void)
{
	wr16(notify + 0 * notify_mult, 0);
}

static u16 used_idx(void)
{
	return (u16)(used[0] >> 16);
}

/* One echo of n bytes through a direct chain (out, in) or an indirect table; checks the data and the interrupt. */
static void echo(u32 n, bool indirect, const char *what)
{
	for (u32 i = 0; i < n; i++)
		buf_out[i] = (u8)(i * 13 + avail_idx);
	memset(buf_in, 0, n);
	struct desc *t = indirect ? dtab + 4 : dtab; /* an indirect table right after the ring's descriptors */
	t[0] = (struct desc){(u64)buf_out, n, D_NEXT, 1};
	t[1] = (struct desc){(u64)buf_in, n, D_WRITE, 0};
	if (indirect)
		dtab[0] = (struct desc){(u64)t, 2 * sizeof(struct desc), D_INDIRECT, 0};
	u32 was = n_queue;
	publish(0);
	kick();
	if (!wait_count(&n_queue, was))
		test_fail("%s: no queue interrupt (used idx %u, status 0x%x)", what, used_idx(), status());
	if (used_idx() != (u16)(used_seen + 1))
		test_fail("%s: used idx %u, want %u", what, used_idx(), used_seen + 1);
	u32 id = used[1 + 2 * (used_seen % QSIZE)], len = used[2 + 2 * (used_seen % QSIZE)];
	used_seen++;
	if (id != 0 || len != n || memcmp(buf_in, buf_out, n))
		test_fail("%s: used id %u len %u (want 0, %u), data %s", what, id, len, n,
			  memcmp(buf_in, buf_out, n) ? "differs" : "ok");
}

static void phase_features(void)
{
	reset();
	wr8(common + CC_STATUS, ST_ACK | ST_DRIVER);
	u64 f = features();
	u64 want = 1ull << F_VERSION_1 | 1ull << F_EVENT_IDX | 1ull << F_INDIRECT;
	if ((f & want) != want)
		test_fail("features: offered 0x%lx, want VERSION_1, EVENT_IDX, INDIRECT_DESC", f);
	/* 2.2.2 / 3.1.1: a bit not offered (0: the test device offers no device bits) makes FEATURES_OK not stick. */
	set_features(1ull << F_VERSION_1 | 1);
	wr8(common + CC_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK);
	if (status() & ST_FEATURES_OK)
		test_fail("features: FEATURES_OK kept with bit 0 not offered");
	reset();
	wr8(common + CC_STATUS, ST_ACK | ST_DRIVER);
	set_features(1ull << F_INDIRECT); /* without VERSION_1 */
	wr8(common + CC_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK);
	if (status() & ST_FEATURES_OK)
		test_fail("features: FEATURES_OK kept without VERSION_1");
	/* queue_size: a power of two <= the maximum, else not taken. */
	reset();
	wr16(common + CC_QSEL, 0);
	u16 max = rd16(common + CC_QSIZE);
	wr16(common + CC_QSIZE, 6);
	u16 after6 = rd16(common + CC_QSIZE);
	wr16(common + CC_QSIZE, 512);
	if (max != 256 || after6 != 256 || rd16(common + CC_QSIZE) != 256 || rd16(common + CC_NUMQ) != 1)
		test_fail("features: queue size max %u, after 6: %u, after 512: %u, %u queues", max, after6,
			  rd16(common + CC_QSIZE), rd16(common + CC_NUMQ));
	wr16(common + CC_QSEL, 1); /* no such queue: size 0 */
	if (rd16(common + CC_QSIZE) != 0)
		test_fail("features: queue 1 size %u, want 0", rd16(common + CC_QSIZE));
	printf("virtiohostile: features offered 0x%lx\n", f);
	printf("TEST virtio_features PASS\n");
}

static void phase_echo(void)
{
	init_device();
	echo(12, false, "echo");
	echo(100, true, "echo indirect");
	printf("TEST virtio_echo PASS\n");
}

/* MSI-X masking: a masked vector's interrupt waits in the PBA, and is sent at the unmask (PCI 3.0, 6.8.2.9). A
 * configuration change is made by writing the test device's scratch register. */
static void phase_msix_pba(void)
{
	wr32(msix_table + 12, 1); /* mask vector 0 */
	u32 was = n_config;
	wr32(devcfg + 4, 0x1234);
	let_irqs_in();
	if (n_config != was || !(rd32(msix_pba) & 1))
		test_fail("msix: masked vector: %u interrupts, PBA 0x%x", n_config - was, rd32(msix_pba));
	wr32(msix_table + 12, 0);
	if (!wait_count(&n_config, was))
		test_fail("msix: no interrupt at the unmask");
	if (rd32(msix_pba) & 1)
		test_fail("msix: PBA still 0x%x after the delivery", rd32(msix_pba));
	/* Function mask too. */
	was = n_config;
	cfg_write16(slot, msix_cap + 2, 0xc000);
	wr32(devcfg + 4, 0x5678);
	if (n_config != was || !(rd32(msix_pba) & 1))
		test_fail("msix: function mask: %u interrupts, PBA 0x%x", n_config - was, rd32(msix_pba));
	cfg_write16(slot, msix_cap + 2, 0x8000);
	if (!wait_count(&n_config, was))
		test_fail("msix: no interrupt at the function unmask");
	if (rd32(devcfg + 4) != 0x5678)
		test_fail("msix: scratch 0x%x", rd32(devcfg + 4));
	printf("TEST virtio_msix_pba PASS\n");
}

/* INTx: MSI-X off, the pin the DSDT routes slot s to (GSI 16 + s % 8) as a level-triggered IOAPIC entry. */
static void ioapic_write(u32 reg, u32 v)
{
	wr32(0xfec00000, reg);
	wr32(0xfec00010, v);
}

static void phase_intx(void)
{
	u32 gsi = 16 + slot % 8;
	if (cfg_read8(slot, 0x3c) != gsi || cfg_read8(slot, 0x3d) != 1)
		test_fail("intx: line %u pin %u, want GSI %u on INTA", cfg_read8(slot, 0x3c), cfg_read8(slot, 0x3d),
			  gsi);
	cfg_write16(slot, msix_cap + 2, 0);
	ioapic_write(0x11 + 2 * gsi, lapic_id() << 24);
	ioapic_write(0x10 + 2 * gsi, VEC_INTX | 1u << 15 | 1u << 13); /* level, active low as _PRT says */
	intx_isr = 0;
	u32 was = n_intx;
	echo(8, false, "intx echo"); /* waits on n_queue, which the INTx handler counts for ISR bit 0 */
	if (n_intx == was || !(intx_isr & 1))
		test_fail("intx: %u interrupts, ISR 0x%x", n_intx - was, intx_isr);
	if (rd8(isr) != 0)
		test_fail("intx: ISR not cleared by the read");
	intx_isr = 0;
	was = n_intx;
	wr32(devcfg + 4, 0x9abc);
	if (!wait_count(&n_intx, was) || intx_isr != 2)
		test_fail("intx: config change: %u interrupts, ISR 0x%x", n_intx - was, intx_isr);
	/* INTx disable in the command register holds the line down. */
	cfg_write16(slot, 0x04, 0x406);
	was = n_intx;
	wr32(devcfg + 4, 0x1);
	let_irqs_in();
	if (n_intx != was)
		test_fail("intx: interrupt with INTx disabled");
	(void)rd8(isr);
	cfg_write16(slot, 0x04, 0x6);
	ioapic_write(0x10 + 2 * gsi, 1u << 16);
	cfg_write16(slot, msix_cap + 2, 0x8000);
	printf("TEST virtio_intx PASS\n");
}

/* ---- the hostile part ---- */
static void expect_failure(const char *name)
{
	u32 was = n_config;
	u16 used_before = used_idx();
	kick();
	if (!wait_count(&n_config, was))
		test_fail("hostile %s: no configuration change interrupt (status 0x%x)", name, status());
	if (!(status() & ST_NEEDS_RESET))
		test_fail("hostile %s: status 0x%x, want DEVICE_NEEDS_RESET", name, status());
	if (used_idx() != used_before)
		test_fail("hostile %s: the device completed something (used idx %u -> %u)", name, used_before,
			  used_idx());
	/* A kick now is ignored: the queue is dead until the reset. */
	was = n_config;
	kick();
	if (n_config != was || used_idx() != used_before)
		test_fail("hostile %s: the device acted after failing", name);
	/* Reset, and it works again. */
	init_device();
	if (status() & ST_NEEDS_RESET)
		test_fail("hostile %s: NEEDS_RESET survived the reset", name);
	echo(16, false, name);
	printf("TEST virtio_hostile_%s PASS\n", name);
}

static void phase_hostile(void)
{
	/* 2.7.5.2: a loop. */
	dtab[0] = (struct desc){(u64)buf_out, 16, D_NEXT, 1};
	dtab[1] = (struct desc){(u64)buf_in, 16, D_NEXT | D_WRITE, 0};
	publish(0);
	expect_failure("loop");

	/* A buffer that runs past the end of RAM. */
	dtab[0] = (struct desc){boot.ram_top - 0x100, 0x1000, D_WRITE, 0};
	publish(0);
	expect_failure("past_ram");

	/* A writable buffer in MMIO: the device's own BAR (DMA to a device is not RAM). */
	dtab[0] = (struct desc){(u64)buf_out, 16, D_NEXT, 1};
	dtab[1] = (struct desc){bar, 16, D_WRITE, 0};
	publish(0);
	expect_failure("mmio");

	/* 2.7.5.3.1: an indirect table that holds an indirect descriptor. */
	struct desc *t = dtab + 4;
	t[0] = (struct desc){(u64)(dtab + 6), 16, D_INDIRECT, 0};
	dtab[6] = (struct desc){(u64)buf_in, 16, D_WRITE, 0};
	dtab[0] = (struct desc){(u64)t, 16, D_INDIRECT, 0};
	publish(0);
	expect_failure("nested_indirect");

	/* An avail index more than the queue size ahead of what the device consumed. */
	dtab[0] = (struct desc){(u64)buf_in, 16, D_WRITE, 0};
	avail[1] = avail_idx = QSIZE + 3;
	expect_failure("avail_ahead");
	printf("TEST virtio_hostile PASS\n");
}

static void run_benign(void)
{
	u64 n = 300;
	cmdline_u64("benign", &n);
	init_device();
	for (u32 i = 0; i < n; i++) {
		echo(1 + i % 200, i & 1, "benign");
		if (status() & ST_NEEDS_RESET)
			test_fail("benign: the device failed at echo %u", i);
	}
	printf("virtiohostile: %lu echoes, status 0x%x\n", n, status());
	printf("TEST virtio_benign PASS\n");
}

int test_main(void)
{
	benign = cmdline_has("benign");
	if (!find_device())
		test_skip("no virtio test device (no PCI bus, or no hv.vtest=1)");
	mem = ram_find_free(0x10000, 0x1000, 0x200000, 0x40000000);
	if (!mem)
		test_fail("no free RAM for the rings");
	dtab = (struct desc *)mem;
	avail = (volatile u16 *)(mem + 0x1000);
	used = (volatile u32 *)(mem + 0x2000);
	buf_out = (u8 *)(mem + 0x4000);
	buf_in = (u8 *)(mem + 0x8000);
	trap_set_handler(VEC_CONFIG, on_config);
	trap_set_handler(VEC_QUEUE, on_queue);
	trap_set_handler(VEC_INTX, on_intx);
	lapic_write(LAPIC_SVR, 0x1ff);
	phase_enum();
	phase_caps();
	msix_setup();
	if (benign) {
		run_benign();
		test_pass();
	}
	phase_features();
	phase_echo();
	phase_msix_pba();
	phase_intx();
	phase_hostile();
	test_pass();
}
