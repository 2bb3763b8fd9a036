/* hpet: the PC platform's HPET (issue 14 item 9), as a guest finds and uses it (IA-PC HPET specification 1.0a).
 * Phases: acpi (the RSDP in 0xe0000-0xfffff, the HPET table through the XSDT or RSDT: checksum, base, and the block ID
 * equal to the low half of GCAP_ID, spec 3.2.4), counter (GCAP_ID's period at most 100 ns, spec 2.3.4; the main
 * counter frozen while halted and counting while enabled, 2.3.5), oneshot (a comparator routed to an IOAPIC pin its
 * Tn_INT_ROUTE_CAP allows gives exactly one edge interrupt, at or after the match), periodic (timer 0 in legacy
 * replacement, on IRQ0 = IOAPIC pin 2, 2.3.8 and 2.3.9: three interrupts a period apart, the comparator stepping by the
 * period), level (a level-triggered comparator sets GINTR_STA and interrupts once; clearing the bit ends it), unmask
 * (that line asserted behind a masked pin comes with the unmasking IOAPIC write, within a few instructions) and fsb
 * (Tn_FSB_INT_DEL_CAP set; with Tn_FSB_EN_CNF the match is the message in Tn_FSB_INT_ROUTE, a fixed interrupt to
 * this CPU's LAPIC, exactly once, with GINTR_STA left clear though the timer is in level mode).
 * Without an HPET (a VM with platform=minimal) the guest says SKIP. Time is the HPET's own counter, so the test
 * needs no TSC rate. */
#include "guest.h"
#include "smp.h"

const char test_name[] = "hpet";

#define HPET_PA	      0xfed00000UL
#define IOAPIC_PA     0xfec00000UL
#define GCAP_ID	      0x000
#define GEN_CONF      0x010
#define GINTR_STA     0x020
#define MAIN_COUNTER  0x0f0
#define TN_CONF(n)    (0x100 + 0x20 * (n))
#define TN_CMP(n)     (0x108 + 0x20 * (n))
#define CONF_ENABLE   (1u << 0)
#define CONF_LEG_RT   (1u << 1)
#define TN_LEVEL      (1u << 1)
#define TN_INT_ENB    (1u << 2)
#define TN_PERIODIC   (1u << 3)
#define TN_PER_CAP    (1u << 4)
#define TN_VAL_SET    (1u << 6)
#define TN_32BIT      (1u << 8)
#define TN_ROUTE(pin) ((u64)(pin) << 9)
#define TN_FSB_EN     (1u << 14)
#define TN_FSB_CAP    (1u << 15)
#define TN_FSB(n)     (0x110 + 0x20 * (n))

#define VEC_ONESHOT  0x40
#define VEC_PERIODIC 0x41
#define VEC_LEVEL    0x42
#define VEC_FSB	     0x43

static u64 ticks_per_ms;
static volatile u32 irqs[4];
static volatile u64 irq_counter[4]; /* the main counter in each handler's last run */

static u64 hpet_read(u32 reg)
{
	return *(volatile u64 *)(HPET_PA + reg);
}

static void hpet_write(u32 reg, u64 v)
{
	*(volatile u64 *)(HPET_PA + reg) = v;
}

static void hpet_write32(u32 reg, u32 v)
{
	*(volatile u32 *)(HPET_PA + reg) = v;
}

static void ioapic_write(u32 reg, u32 v)
{
	*(volatile u32 *)IOAPIC_PA = reg;
	*(volatile u32 *)(IOAPIC_PA + 0x10) = v;
}

/* Pin -> vector on this CPU, edge or level, active high, unmasked; or masked. */
static void ioapic_route(unsigned int pin, u8 vector, bool level)
{
	ioapic_write(0x11 + 2 * pin, lapic_id() << 24);
	ioapic_write(0x10 + 2 * pin, vector | (level ? 1u << 15 : 0));
}

static void ioapic_mask(unsigned int pin)
{
	ioapic_write(0x10 + 2 * pin, 1u << 16);
}

/* Interrupts before the comparator are counted apart (see on_periodic); under this hypervisor there must be none. */
static volatile u64 oneshot_cmp;
static volatile u32 stale_oneshot;
static void on_oneshot(struct trap_frame *f)
{
	u64 now = hpet_read(MAIN_COUNTER);
	if (now >= oneshot_cmp) {
		irq_counter[0] = now;
		irqs[0]++;
	} else {
		stale_oneshot++;
	}
	lapic_eoi();
}

/* Only interrupts at or after the first period's end count: plain QEMU's IOAPIC keeps an edge that came while the
 * pin was masked (the firmware's PIT) and delivers it at the unmask, which hardware does not (82093AA 3.2.4). */
static volatile u32 periodic_start, stale_irqs;
static void on_periodic(struct trap_frame *f)
{
	u64 now = hpet_read(MAIN_COUNTER);
	if ((int)((u32)now - periodic_start) >= 0) {
		irq_counter[1] = now;
		irqs[1]++;
	} else {
		stale_irqs++;
	}
	lapic_eoi();
}

/* Level: the status bit is cleared before the EOI, so the IOAPIC does not deliver the pin again (remote IRR). */
static void on_level(struct trap_frame *f)
{
	irq_counter[2] = hpet_read(GINTR_STA);
	irqs[2]++;
	hpet_write(GINTR_STA, 1u << 1);
	lapic_eoi();
}

static void on_fsb(struct trap_frame *f)
{
	irq_counter[3] = hpet_read(MAIN_COUNTER);
	irqs[3]++;
	lapic_eoi();
}

/* With interrupts on, until irqs[i] reaches n or the counter passes `until`. */
static void wait_irqs(unsigned int i, u32 n, u64 until)
{
	sti();
	while (irqs[i] < n && hpet_read(MAIN_COUNTER) < until)
		pause();
	cli();
}

static u8 sum(const u8 *p, u32 len)
{
	u8 s = 0;
	while (len--)
		s += *p++;
	return s;
}

/* The HPET table's address, or 0. */
static const u8 *find_hpet_table(void)
{
	for (u64 a = 0xe0000; a < 0x100000; a += 16) {
		const u8 *r = (const u8 *)a;
		if (memcmp(r, "RSD PTR ", 8) || sum(r, 20))
			continue;
		bool x = r[15] >= 2 && *(const u64 *)(r + 24);
		const u8 *root = (const u8 *)(x ? *(const u64 *)(r + 24) : *(const u32 *)(r + 16));
		u32 len = *(const u32 *)(root + 4), esize = x ? 8 : 4;
		for (u32 off = 36; off + esize <= len; off += esize) {
			const u8 *t = (const u8 *)(x ? *(const u64 *)(root + off) : *(const u32 *)(root + off));
			if (!memcmp(t, "HPET", 4))
				return t;
		}
		return NULL;
	}
	return NULL;
}

static void phase_acpi(void)
{
	const u8 *t = find_hpet_table();
	if (!t)
		test_fail("acpi: no HPET table");
	u32 len = *(const u32 *)(t + 4);
	u64 base = *(const u64 *)(t + 44);
	if (len < 56 || sum(t, len))
		test_fail("acpi: HPET table length %u or checksum wrong", len);
	if (t[40] != 0 || base != HPET_PA)
		test_fail("acpi: HPET at space %u address 0x%lx, want memory 0x%lx", t[40], base, HPET_PA);
	if (*(const u32 *)(t + 36) != (u32)hpet_read(GCAP_ID))
		test_fail("acpi: block ID 0x%x, GCAP_ID low half 0x%x", *(const u32 *)(t + 36),
			  (u32)hpet_read(GCAP_ID));
	printf("hpet: ACPI table at 0x%lx: base 0x%lx, block ID 0x%x, minimum tick %u\n", (u64)t, base,
	       *(const u32 *)(t + 36), *(const u16 *)(t + 53));
	printf("TEST hpet_acpi PASS\n");
}

static void phase_counter(void)
{
	u64 cap = hpet_read(GCAP_ID), period = cap >> 32;
	if (!period || period > 100000000)
		test_fail("counter: period %lu fs (spec: 0 < period <= 100 ns)", period);
	ticks_per_ms = 1000000000000ULL / period;
	hpet_write(GEN_CONF, 0);
	hpet_write(MAIN_COUNTER, 0);
	u64 a = hpet_read(MAIN_COUNTER);
	for (volatile int i = 0; i < 10000; i++)
		;
	if (hpet_read(MAIN_COUNTER) != a)
		test_fail("counter: moves while halted (0x%lx, then 0x%lx)", a, hpet_read(MAIN_COUNTER));
	hpet_write(GEN_CONF, CONF_ENABLE);
	u64 b = hpet_read(MAIN_COUNTER), c;
	for (int i = 0; (c = hpet_read(MAIN_COUNTER)) == b; i++)
		if (i > 1000000)
			test_fail("counter: does not count when enabled (0x%lx)", b);
	if (c < b)
		test_fail("counter: went back from 0x%lx to 0x%lx", b, c);
	hpet_write(GEN_CONF, 0);
	a = hpet_read(MAIN_COUNTER);
	for (volatile int i = 0; i < 10000; i++)
		;
	if (hpet_read(MAIN_COUNTER) != a)
		test_fail("counter: moves after halting");
	printf("hpet: %u timers, period %lu fs, vendor 0x%lx, counter 0x%lx -> 0x%lx\n", (u32)(cap >> 8 & 0x1f) + 1,
	       period, cap >> 16 & 0xffff, b, c);
	printf("TEST hpet_counter PASS\n");
}

/* The lowest IOAPIC pin from 16 up that timer n may route to, else the lowest of any. */
static int route_pin(unsigned int n)
{
	u32 cap = (u32)(hpet_read(TN_CONF(n)) >> 32);
	for (int pin = 16; pin < 24; pin++)
		if (cap & (1u << pin))
			return pin;
	for (int pin = 0; pin < 24; pin++)
		if (cap & (1u << pin))
			return pin;
	return -1;
}

static void phase_oneshot(void)
{
	int pin = route_pin(2);
	if (pin < 0)
		test_fail("oneshot: timer 2 routes nowhere (cap 0x%lx)", hpet_read(TN_CONF(2)) >> 32);
	ioapic_route((unsigned int)pin, VEC_ONESHOT, false);
	/* Programmed with the counter halted, so that the match is 1 ms ahead however long the writes take (each is
	 * an exit, and a loaded emulator can take longer than that between two of them). */
	hpet_write(GEN_CONF, 0);
	u64 cmp = hpet_read(MAIN_COUNTER) + ticks_per_ms;
	oneshot_cmp = cmp;
	hpet_write(TN_CMP(2), cmp);
	hpet_write(TN_CONF(2), TN_INT_ENB | TN_ROUTE(pin));
	hpet_write(GEN_CONF, CONF_ENABLE);
	wait_irqs(0, 1, cmp + 1000 * ticks_per_ms);
	if (irqs[0] != 1)
		test_fail("oneshot: %u interrupts on pin %d by counter 0x%lx (comparator 0x%lx)", irqs[0], pin,
			  hpet_read(MAIN_COUNTER), cmp);
	/* A 64-bit one-shot comparator does not match again: 5 more ms, nothing. */
	wait_irqs(0, 2, hpet_read(MAIN_COUNTER) + 5 * ticks_per_ms);
	if (irqs[0] != 1)
		test_fail("oneshot: a second interrupt");
	hpet_write(TN_CONF(2), 0);
	ioapic_mask((unsigned int)pin);
	printf("hpet: one-shot on IOAPIC pin %d: comparator 0x%lx, interrupt at 0x%lx (%u before the match)\n", pin,
	       cmp, irq_counter[0], stale_oneshot);
	printf("TEST hpet_oneshot PASS\n");
}

static void phase_periodic(void)
{
	if (!(hpet_read(TN_CONF(0)) & TN_PER_CAP))
		test_fail("periodic: timer 0 is not periodic-capable");
	if (!(hpet_read(GCAP_ID) & (1u << 15)))
		test_fail("periodic: no legacy replacement capability");
	ioapic_route(2, VEC_PERIODIC, false); /* IRQ0 is IOAPIC pin 2 (the MADT's override) */
	hpet_write(GEN_CONF, CONF_LEG_RT);    /* halted while programmed, as for the one-shot */
	u32 period = (u32)ticks_per_ms, start = (u32)hpet_read(MAIN_COUNTER) + period;
	periodic_start = start;
	/* Linux's sequence (hpet_clkevt_set_periodic): 32-bit mode, VAL_SET, the first comparator write setting the
	 * accumulator, the period alone after it; 32-bit writes. */
	hpet_write32(TN_CONF(0), TN_INT_ENB | TN_PERIODIC | TN_VAL_SET | TN_32BIT);
	hpet_write32(TN_CMP(0), start);
	hpet_write32(TN_CMP(0), period);
	hpet_write(GEN_CONF, CONF_ENABLE | CONF_LEG_RT);
	wait_irqs(1, 3, hpet_read(MAIN_COUNTER) + 1000 * ticks_per_ms);
	u32 cmp = (u32)hpet_read(TN_CMP(0));
	hpet_write(TN_CONF(0), 0);
	hpet_write(GEN_CONF, CONF_ENABLE);
	ioapic_mask(2);
	if (irqs[1] < 3)
		test_fail("periodic: %u interrupts on IRQ0 by counter 0x%lx (start 0x%x, period 0x%x)", irqs[1],
			  hpet_read(MAIN_COUNTER), start, period);
	/* Spec 2.3.9.2.2: each match adds the period to the comparator. */
	if ((u32)(cmp - start) < 2 * period || (u32)(cmp - start) % period)
		test_fail("periodic: comparator 0x%x not on the grid start 0x%x + k * 0x%x, k >= 2", cmp, start,
			  period);
	if ((u32)((u32)irq_counter[1] - start) < 2 * period)
		test_fail("periodic: interrupt %u at counter 0x%lx, before start 0x%x + 2 periods", irqs[1],
			  irq_counter[1], start);
	printf("hpet: periodic on IRQ0 (legacy replacement): %u interrupts (%u before the first match), comparator at "
	       "start + %u periods\n",
	       irqs[1], stale_irqs, (u32)(cmp - start) / period);
	printf("TEST hpet_periodic PASS\n");
}

static void phase_level(void)
{
	int pin = route_pin(1);
	if (pin < 0)
		test_fail("level: timer 1 routes nowhere");
	ioapic_route((unsigned int)pin, VEC_LEVEL, true);
	hpet_write(GINTR_STA, 7);
	hpet_write(GEN_CONF, 0); /* halted while programmed, as for the one-shot */
	u64 cmp = hpet_read(MAIN_COUNTER) + ticks_per_ms;
	hpet_write(TN_CMP(1), cmp);
	hpet_write(TN_CONF(1), TN_INT_ENB | TN_LEVEL | TN_ROUTE(pin));
	hpet_write(GEN_CONF, CONF_ENABLE);
	wait_irqs(2, 1, cmp + 1000 * ticks_per_ms);
	wait_irqs(2, 2, hpet_read(MAIN_COUNTER) + 2 * ticks_per_ms); /* and no second one */
	hpet_write(TN_CONF(1), 0);
	ioapic_mask((unsigned int)pin);
	if (irqs[2] != 1)
		test_fail("level: %u interrupts on pin %d", irqs[2], pin);
	if (!(irq_counter[2] & (1u << 1)))
		test_fail("level: GINTR_STA 0x%lx in the handler, bit 1 clear", irq_counter[2]);
	if (hpet_read(GINTR_STA) & (1u << 1))
		test_fail("level: GINTR_STA bit 1 still set after the write of 1");
	printf("TEST hpet_level PASS\n");
}

/* A level line asserted behind a masked IOAPIC pin is delivered by the MMIO write that unmasks it, before the
 * guest's next instructions (the write is a cached MMIO move, which the hypervisor may re-enter from at once: the
 * interrupt it raised must stop that, vm/run_inner.h). The loop's bound is far below any timer's period. */
#define UNMASK_SPINS 16
static void phase_unmask(void)
{
	int pin = route_pin(1);
	if (pin < 0)
		test_fail("unmask: timer 1 routes nowhere");
	ioapic_write(0x11 + 2 * pin, lapic_id() << 24);
	ioapic_write(0x10 + 2 * pin, VEC_LEVEL | 1u << 15 | 1u << 16); /* level, masked */
	hpet_write(GINTR_STA, 7);
	hpet_write(GEN_CONF, 0);
	u64 cmp = hpet_read(MAIN_COUNTER) + ticks_per_ms;
	hpet_write(TN_CMP(1), cmp);
	hpet_write(TN_CONF(1), TN_INT_ENB | TN_LEVEL | TN_ROUTE(pin));
	hpet_write(GEN_CONF, CONF_ENABLE);
	u32 before = irqs[2];
	sti();
	while (!(hpet_read(GINTR_STA) & (1u << 1)) && hpet_read(MAIN_COUNTER) < cmp + 1000 * ticks_per_ms)
		pause();
	for (unsigned int i = 0; i < 8; i++) /* masked: nothing comes, however long */
		pause();
	u32 masked = irqs[2];
	ioapic_write(0x10 + 2 * pin, VEC_LEVEL | 1u << 15); /* unmasked, the line asserted */
	unsigned int spins = 0;
	while (irqs[2] == before && spins < UNMASK_SPINS)
		spins++;
	cli();
	hpet_write(TN_CONF(1), 0);
	ioapic_mask((unsigned int)pin);
	if (!(irq_counter[2] & (1u << 1)) && irqs[2] != before)
		test_fail("unmask: GINTR_STA 0x%lx in the handler, bit 1 clear", irq_counter[2]);
	if (masked != before)
		test_fail("unmask: %u interrupts through the masked pin %d", masked - before, pin);
	if (irqs[2] != before + 1)
		test_fail("unmask: %u interrupts within %u loop turns of the unmasking write (want 1)", irqs[2] - before,
			  UNMASK_SPINS);
	printf("hpet: unmask: the interrupt after %u loop turns\n", spins);
	printf("TEST hpet_unmask PASS\n");
}

static void phase_fsb(void)
{
	if (!(hpet_read(TN_CONF(2)) & TN_FSB_CAP))
		test_fail("fsb: timer 2 lacks Tn_FSB_INT_DEL_CAP (conf 0x%lx)", hpet_read(TN_CONF(2)));
	hpet_write(GINTR_STA, 7);
	hpet_write(GEN_CONF, 0); /* halted while programmed, as for the one-shot */
	u64 cmp = hpet_read(MAIN_COUNTER) + ticks_per_ms;
	/* The message: address 0xfee00000 with this CPU's APIC ID (physical), data a fixed edge interrupt. */
	hpet_write(TN_FSB(2), (u64)(0xfee00000u | lapic_id() << 12) << 32 | VEC_FSB);
	hpet_write(TN_CMP(2), cmp);
	/* Level type and a route too: FSB delivery overrides both (no GINTR_STA, no IOAPIC pin). */
	hpet_write(TN_CONF(2), TN_INT_ENB | TN_FSB_EN | TN_LEVEL | TN_ROUTE(route_pin(2) & 0x1f));
	hpet_write(GEN_CONF, CONF_ENABLE);
	wait_irqs(3, 1, cmp + 1000 * ticks_per_ms);
	wait_irqs(3, 2, hpet_read(MAIN_COUNTER) + 2 * ticks_per_ms); /* and no second one */
	u64 sta = hpet_read(GINTR_STA);
	hpet_write(TN_CONF(2), 0);
	if (irqs[3] != 1)
		test_fail("fsb: %u interrupts on vector 0x%x by counter 0x%lx (comparator 0x%lx)", irqs[3], VEC_FSB,
			  hpet_read(MAIN_COUNTER), cmp);
	if (irq_counter[3] < cmp)
		test_fail("fsb: the interrupt came at counter 0x%lx, before the match 0x%lx", irq_counter[3], cmp);
	if (sta & (1u << 2))
		test_fail("fsb: GINTR_STA 0x%lx: FSB delivery set the level status bit", sta);
	printf("TEST hpet_fsb PASS\n");
}

int test_main(void)
{
	if (hpet_read(GCAP_ID) == ~0ULL || !find_hpet_table()) {
		printf("hpet: GCAP_ID 0x%lx, HPET table %s\n", hpet_read(GCAP_ID),
		       find_hpet_table() ? "found" : "absent");
		test_skip("no HPET (a VM with platform=minimal)");
	}
	trap_set_handler(VEC_ONESHOT, on_oneshot);
	trap_set_handler(VEC_PERIODIC, on_periodic);
	trap_set_handler(VEC_LEVEL, on_level);
	trap_set_handler(VEC_FSB, on_fsb);
	lapic_write(LAPIC_SVR, 0x1ff);
	/* Firmware (plain QEMU's BIOS) leaves the PIT ticking into IRQ0, which is IOAPIC pin 2 and may be an HPET
	 * route: one-shot mode 0 with a count of 1 gives one last edge now, while every pin is masked, and none after.
	 */
	outb(0x43, 0x30);
	outb(0x40, 1);
	outb(0x40, 0);
	phase_acpi();
	phase_counter();
	phase_oneshot();
	phase_periodic();
	phase_level();
	phase_unmask();
	phase_fsb();
	test_pass();
}
