/* Unit tests of the vLAPIC under APIC virtualization (vm/dev/vlapic_apicv.c). The CPU's side is played by a model of
 * what the SDM says it does to the virtual-APIC page (Vol. 3 30.1.3 PPR virtualization, 30.2.2 virtual-interrupt
 * delivery, 30.1.4 EOI virtualization, 30.4.3 a virtualized write stored before the APIC-write exit), and every check
 * runs the same sequence on a twin vLAPIC through the emulated path: the two must end in the same state. */
#include <string.h>

#include "vlapic_fixture.h"

/* ---- the CPU's side ---- */

static int highest(struct vlapic *l, u32 base)
{
	for (int v = 255; v >= 0; v--)
		if ((l->regs[(base + (u32)(v >> 5) * 0x10) / 4] >> (v & 31)) & 1)
			return v;
	return -1;
}

static void set_bit(struct vlapic *l, u32 base, u8 v, bool on)
{
	u32 *w = &l->regs[(base + (u32)(v >> 5) * 0x10) / 4];
	*w = on ? *w | 1u << (v & 31) : *w & ~(1u << (v & 31));
}

/* SDM 30.1.3: VPPR from VTPR and SVI. */
static void cpu_ppr(struct vlapic *l, u8 svi)
{
	u32 tpr = l->regs[VLAPIC_REG_TPR / 4] & 0xff;
	l->regs[VLAPIC_REG_PPR / 4] = (tpr & 0xf0) >= (svi & 0xf0) ? tpr : (svi & 0xf0u);
}

/* SDM 30.2.1 and 30.2.2: with RVI (from the state loaded at entry) above VPPR, deliver it: VIRR to VISR, RVI to
 * the next IRR, SVI to it, PPR from it. Returns the vector delivered or -1. */
static int cpu_deliver(struct vlapic *l)
{
	struct vlapic_apicv_state st;

	vlapic_apicv_state(l, &st);
	if ((st.rvi & 0xf0) <= (l->regs[VLAPIC_REG_PPR / 4] & 0xf0))
		return -1;
	set_bit(l, VLAPIC_REG_IRR, st.rvi, false);
	set_bit(l, VLAPIC_REG_ISR, st.rvi, true);
	cpu_ppr(l, st.rvi);
	return st.rvi;
}

/* SDM 30.1.4: EOI virtualization: clear SVI's ISR bit, PPR from the next one, and an EOI-induced exit when the
 * vector's EOI-exit bit is set (which the hypervisor completes with vlapic_apicv_eoi). */
static void cpu_eoi(struct vlapic *l)
{
	struct vlapic_apicv_state st;

	vlapic_apicv_state(l, &st);
	int v = highest(l, VLAPIC_REG_ISR);
	if (v < 0)
		return;
	CHECK_EQ(st.svi, v);
	set_bit(l, VLAPIC_REG_ISR, (u8)v, false);
	int next = highest(l, VLAPIC_REG_ISR);
	cpu_ppr(l, next < 0 ? 0 : (u8)next);
	if ((st.eoi_exit[v / 64] >> (v % 64)) & 1)
		vlapic_apicv_eoi(l, (u8)v);
}

/* A virtualized xAPIC write: the dword lands in the page, then the trap-like APIC-write exit. */
static void cpu_write(struct vlapic *l, u32 off, u32 val)
{
	l->regs[off / 4] = val;
	vlapic_apicv_write(l, off, T);
}

/* The two vLAPICs agree on everything but their IDs, and their timers agree. */
static void check_same(struct vlapic *a, struct vlapic *b)
{
	for (u32 off = 0x30; off < 0x400; off += 0x10)
		if (off != VLAPIC_REG_LDR)
			CHECK_EQ(a->regs[off / 4], b->regs[off / 4]);
	CHECK_EQ(a->timer.armed, b->timer.armed);
	CHECK_EQ(a->timer.deadline, b->timer.deadline);
	CHECK_EQ(a->timer.period, b->timer.period);
	CHECK_EQ(vlapic_next_deadline(a), vlapic_next_deadline(b));
}

/* ---- the state loaded before entry ---- */

TEST(apicv_state_rvi_svi)
{
	struct vlapic *l = setup(1, ALL_F);
	struct vlapic_apicv_state st;

	sw_enable(l);
	vlapic_apicv_state(l, &st);
	CHECK_EQ(st.rvi, 0);
	CHECK_EQ(st.svi, 0);
	CHECK_EQ(st.xapic_base, BASE);
	vlapic_set_irq(l, 0x31, false);
	vlapic_set_irq(l, 0xe5, false);
	vlapic_set_irq(l, 0x80, false);
	vlapic_apicv_state(l, &st);
	CHECK_EQ(st.rvi, 0xe5); /* the highest request, whatever PPR: the CPU compares */
	CHECK_EQ(cpu_deliver(l), 0xe5);
	vlapic_apicv_state(l, &st);
	CHECK_EQ(st.rvi, 0x80);
	CHECK_EQ(st.svi, 0xe5);
	CHECK_EQ(cpu_deliver(l), -1); /* 0x80 is below the 0xe0 class in service */
	cpu_eoi(l);
	CHECK_EQ(cpu_deliver(l), 0x80);
	vlapic_apicv_state(l, &st);
	CHECK_EQ(st.rvi, 0x31);
	CHECK_EQ(st.svi, 0x80);
	to_x2apic(l);
	vlapic_apicv_state(l, &st);
	CHECK_EQ(st.xapic_base, ~0ULL); /* no MMIO page to virtualize */
}

/* The EOI-exit bitmap the state before an entry gives, word by word (vectors 0-63, 64-127, 128-191, 192-255). */
static void check_eoi_exit(struct vlapic *l, u64 w0, u64 w1, u64 w2, u64 w3)
{
	struct vlapic_apicv_state st;

	vlapic_apicv_state(l, &st);
	CHECK_EQ(st.eoi_exit[0], w0);
	CHECK_EQ(st.eoi_exit[1], w1);
	CHECK_EQ(st.eoi_exit[2], w2);
	CHECK_EQ(st.eoi_exit[3], w3);
}

#define BIT_OF(v) (1ULL << ((v) % 64))

/* One outstanding vector at a time: the EOI-exit bitmap is TMR, the level-triggered vectors, for the IOAPIC. */
TEST(apicv_eoi_exit_bitmap_is_tmr)
{
	struct vlapic *l = setup(1, ALL_F);

	sw_enable(l);
	vlapic_set_irq(l, 0xc3, true);
	check_eoi_exit(l, 0, 0, 0, BIT_OF(0xc3));
	/* The level EOI exits and reaches the IOAPIC; an edge one does not. */
	CHECK_EQ(cpu_deliver(l), 0xc3);
	cpu_eoi(l);
	CHECK_EQ(cpus[0].neoi, 1);
	CHECK_EQ(cpus[0].eoi_vector, 0xc3);
	vlapic_set_irq(l, 0x52, false);
	check_eoi_exit(l, 0, 0, 0, BIT_OF(0xc3)); /* TMR keeps the level vector's bit */
	CHECK_EQ(cpu_deliver(l), 0x52);
	cpu_eoi(l);
	CHECK_EQ(cpus[0].neoi, 1);
	/* EOI-broadcast suppression: the guest EOIs the IOAPIC itself, so no exit is asked for. */
	vlapic_set_irq(l, 0x41, true);
	wr(l, VLAPIC_REG_SVR, VLAPIC_SVR_ENABLE | VLAPIC_SVR_EOI_SUPPRESS | 0xff);
	check_eoi_exit(l, 0, 0, 0, 0);
	CHECK_EQ(cpu_deliver(l), 0x41);
	vlapic_apicv_eoi(l, 0x41); /* even if one arrives */
	CHECK_EQ(cpus[0].neoi, 1);
}

/* A request another request or an in-service vector could hold back: every outstanding vector's EOI exits, so no
 * EOI inside a handler makes the next deliverable without the run loop looking at the guest's IF
 * (vlapic_apicv_state). The bitmap follows the set: an EOI exit marks the state for reloading, and with one request
 * left only TMR remains. */
TEST(apicv_eoi_exits_while_vectors_queue)
{
	struct vlapic *l = setup(1, ALL_F);

	sw_enable(l);
	vlapic_set_irq(l, 0xec, false);
	vlapic_set_irq(l, 0xfb, false);
	vlapic_set_irq(l, 0x41, true);
	check_eoi_exit(l, 0, BIT_OF(0x41), 0, BIT_OF(0xec) | BIT_OF(0xfb));
	CHECK_EQ(cpu_deliver(l), 0xfb);
	CHECK_EQ(cpu_deliver(l), -1); /* 0xec is in the class in service */
	l->apicv_dirty = false;
	cpu_eoi(l); /* 0xfb: exits, an edge vector, so nothing for the IOAPIC */
	CHECK(l->apicv_dirty);
	CHECK_EQ(cpus[0].neoi, 0);
	CHECK_EQ(cpu_deliver(l), 0xec);
	check_eoi_exit(l, 0, BIT_OF(0x41), 0, BIT_OF(0xec)); /* 0xec in service, 0x41 requested: both exit */
	cpu_eoi(l);
	check_eoi_exit(l, 0, BIT_OF(0x41), 0, 0); /* 0x41 alone: its TMR bit */
	CHECK_EQ(cpu_deliver(l), 0x41);
	cpu_eoi(l);
	CHECK_EQ(cpus[0].neoi, 1);
	CHECK_EQ(cpus[0].eoi_vector, 0x41);
	/* Vectors only in service unmask nothing on an EOI: no exit asked for them. */
	vlapic_set_irq(l, 0x90, false);
	CHECK_EQ(cpu_deliver(l), 0x90);
	vlapic_set_irq(l, 0xa0, false);
	CHECK_EQ(cpu_deliver(l), 0xa0);
	check_eoi_exit(l, 0, BIT_OF(0x41), 0, 0); /* TMR still has 0x41's bit: set when a level vector is accepted */
}

/* Delivery and EOI by the CPU leave the same page as injection (vlapic_accept) and an emulated EOI. */
TEST(apicv_delivery_matches_emulated)
{
	setup(2, ALL_F);
	struct vlapic *a = &cpus[0].lapic, *b = &cpus[1].lapic;
	static const u8 vecs[] = {0x33, 0x9a, 0x21, 0xfe, 0x9b, 0x60};

	sw_enable(a);
	sw_enable(b);
	for (unsigned i = 0; i < ARRAY_SIZE(vecs); i++) {
		vlapic_set_irq(a, vecs[i], i & 1);
		vlapic_set_irq(b, vecs[i], i & 1);
		if (i == 3) {
			cpu_write(a, VLAPIC_REG_TPR, 0x50);
			cpu_ppr(a, (u8)MAX(highest(a, VLAPIC_REG_ISR), 0));
			wr(b, VLAPIC_REG_TPR, 0x50);
		}
		for (;;) {
			int va = cpu_deliver(a), vb = vlapic_pending_vector(b);
			CHECK_EQ(va, vb);
			if (vb < 0)
				break;
			vlapic_accept(b, (u8)vb);
			check_same(a, b);
		}
		if (i % 2) {
			cpu_eoi(a);
			wr(b, VLAPIC_REG_EOI, 0);
			check_same(a, b);
		}
	}
	CHECK_EQ(cpus[0].neoi, cpus[1].neoi);
}

/* ---- writes the CPU stored before the APIC-write exit ---- */

TEST(apicv_write_timer_registers)
{
	setup(2, ALL_F);
	struct vlapic *a = &cpus[0].lapic, *b = &cpus[1].lapic;

	sw_enable(a);
	sw_enable(b);
	/* A running one-shot, then a divide change mid-count: the remaining count runs at the new rate, which needs
	 * the old divider the CPU's store overwrote. */
	cpu_write(a, LVT_T, 0x40);
	wr(b, LVT_T, 0x40);
	cpu_write(a, VLAPIC_REG_TDCR, 0x3);
	wr(b, VLAPIC_REG_TDCR, 0x3);
	cpu_write(a, VLAPIC_REG_TMICT, 5000);
	wr(b, VLAPIC_REG_TMICT, 5000);
	check_same(a, b);
	T += 777;
	cpu_write(a, VLAPIC_REG_TDCR, 0xb);
	wr(b, VLAPIC_REG_TDCR, 0xb);
	check_same(a, b);
	/* Into TSC-deadline mode: stops the timer and clears the initial count (the old mode decides). */
	cpu_write(a, LVT_T, 0x40 | VLAPIC_LVT_TIMER_TSC_DEADLINE);
	wr(b, LVT_T, 0x40 | VLAPIC_LVT_TIMER_TSC_DEADLINE);
	check_same(a, b);
	CHECK_EQ(a->regs[VLAPIC_REG_TMICT / 4], 0);
	/* An initial count written in TSC-deadline mode is ignored: the page must not keep the CPU's store. */
	cpu_write(a, VLAPIC_REG_TMICT, 1234);
	wr(b, VLAPIC_REG_TMICT, 1234);
	check_same(a, b);
	CHECK_EQ(a->regs[VLAPIC_REG_TMICT / 4], 0);
	/* Software disable masks the LVTs; a timer write after it is masked too, as the emulated path does. */
	cpu_write(a, VLAPIC_REG_SVR, 0xff);
	wr(b, VLAPIC_REG_SVR, 0xff);
	cpu_write(a, LVT_T, 0x41);
	wr(b, LVT_T, 0x41);
	check_same(a, b);
	CHECK(a->regs[LVT_T / 4] & VLAPIC_LVT_MASKED);
}

TEST(apicv_write_masks_and_side_effects)
{
	setup(2, ALL_F);
	struct vlapic *a = &cpus[0].lapic, *b = &cpus[1].lapic;

	sw_enable(a);
	sw_enable(b);
	/* Reserved bits the CPU stored are cut as an emulated write cuts them. */
	cpu_write(a, VLAPIC_REG_LVT_LINT0, 0xffffffff);
	wr(b, VLAPIC_REG_LVT_LINT0, 0xffffffff);
	cpu_write(a, VLAPIC_REG_DFR, 0);
	wr(b, VLAPIC_REG_DFR, 0);
	cpu_write(a, VLAPIC_REG_SVR, 0xfffff);
	wr(b, VLAPIC_REG_SVR, 0xfffff);
	check_same(a, b);
	/* A self-IPI the CPU did not virtualize (level, here) is sent by the model. */
	cpu_write(a, VLAPIC_REG_ICR_LO,
		  (VLAPIC_SH_SELF << VLAPIC_ICR_SH_SHIFT) | VLAPIC_ICR_LEVEL | VLAPIC_ICR_ASSERT | 0x77);
	wr(b, VLAPIC_REG_ICR_LO, (VLAPIC_SH_SELF << VLAPIC_ICR_SH_SHIFT) | VLAPIC_ICR_LEVEL | VLAPIC_ICR_ASSERT | 0x77);
	CHECK(irr(a, 0x77));
	check_same(a, b);
	/* An IPI to another APIC goes out through the owner. */
	cpu_write(a, VLAPIC_REG_ICR_HI, 1u << 24);
	cpu_write(a, VLAPIC_REG_ICR_LO, 0x88);
	CHECK_EQ(cpus[0].nipis, 1);
	CHECK_EQ(cpus[0].ipi.dest, 1);
	CHECK_EQ(cpus[0].ipi.vector, 0x88);
	/* ESR: write-then-read latches the errors, with the CPU's stored value ignored. */
	wr(a, 0x3a0, 0); /* a reserved register: illegal-register error (emulated: the CPU exits for it) */
	cpu_write(a, VLAPIC_REG_ESR, 0xdead);
	CHECK_EQ(a->regs[VLAPIC_REG_ESR / 4], VLAPIC_ESR_ILLEGAL_REGISTER);
}

/* The run loop reloads the CPU's copy only when the model changed what it derives from. */
TEST(apicv_dirty_tracks_model_changes)
{
	struct vlapic *l = setup(1, ALL_F);
	struct vlapic_apicv_state st;

	CHECK(l->apicv_dirty); /* power-up: load once */
	sw_enable(l);
	vlapic_apicv_state(l, &st);
	CHECK(!l->apicv_dirty);
	wr(l, VLAPIC_REG_TPR, 0x20); /* TPR: the CPU reads VTPR from the page itself */
	CHECK(!l->apicv_dirty);
	vlapic_set_irq(l, 0x44, false);
	CHECK(l->apicv_dirty);
	vlapic_apicv_state(l, &st);
	CHECK_EQ(cpu_deliver(l), 0x44); /* the CPU's own change: RVI/SVI follow without a reload */
	CHECK(!l->apicv_dirty);
	wr(l, VLAPIC_REG_EOI, 0); /* an emulated EOI (x2APIC MSR, or an exit) */
	CHECK(l->apicv_dirty);
	vlapic_apicv_state(l, &st);
	wr(l, VLAPIC_REG_SVR, VLAPIC_SVR_ENABLE | VLAPIC_SVR_EOI_SUPPRESS | 0xff);
	CHECK(l->apicv_dirty);
	vlapic_apicv_state(l, &st);
	to_x2apic(l);
	CHECK(l->apicv_dirty);
}
