/* Unit tests of the virtual local APIC (vm/dev/vlapic*.c): register semantics in xAPIC and x2APIC mode, the
 * IA32_APIC_BASE state machine, priority and EOI, the timer against exact TSC values, and ICR decode through a fake
 * owner that routes IPIs between a few vlapics the way a VM would. */
#include <string.h>

#include "hv/compiler.h"
#include "hv/errno.h"
#include "test.h"
#include "vm/dev/vlapic.h"

#define TSC_HZ	2000000000ULL /* two TSC ticks per bus cycle of the default 1 GHz timer clock */
#define NCPU	4
#define ALL_F	(VLAPIC_F_X2APIC | VLAPIC_F_TSC_DEADLINE | VLAPIC_F_CMCI | VLAPIC_F_EOI_SUPPRESS)
#define BASE	0xfee00000ULL
#define EN	APIC_BASE_ENABLE
#define EXTD	APIC_BASE_X2APIC
#define NONE	(~0ULL)
#define X2(reg) (VLAPIC_MSR_X2APIC_FIRST + ((reg) >> 4))
#define LVT_T	VLAPIC_REG_LVT_TIMER

struct fake_cpu {
	struct vlapic lapic;
	int kicks;
	int nipis;
	struct vlapic_ipi ipi; /* the last one sent */
	int neoi;
	u8 eoi_vector;
};

static u32 pages[NCPU][1024] __attribute__((aligned(4096)));
static struct fake_cpu cpus[NCPU];
static int ncpus;
static bool route; /* send_ipi delivers to what vlapic_match_dest selects, as a VM would */
static u64 T;	   /* the time the access helpers pass */

static void fake_send_ipi(void *owner, const struct vlapic_ipi *ipi)
{
	struct fake_cpu *c = owner;

	c->nipis++;
	c->ipi = *ipi;
	if (!route)
		return;
	for (int i = 0; i < ncpus; i++) {
		if (!vlapic_match_dest(&cpus[i].lapic, &c->lapic, ipi))
			continue;
		vlapic_deliver(&cpus[i].lapic, ipi->icr_lo);
		if (ipi->delivery == VLAPIC_DM_LOWPRI)
			break;
	}
}

static void fake_kick(void *owner)
{
	((struct fake_cpu *)owner)->kicks++;
}

static void fake_eoi(void *owner, u8 vector)
{
	struct fake_cpu *c = owner;

	c->neoi++;
	c->eoi_vector = vector;
}

static const struct vlapic_ops fake_ops = {.send_ipi = fake_send_ipi, .kick = fake_kick, .eoi = fake_eoi};

static struct vlapic_config config(int i, u32 id, u32 features)
{
	return (struct vlapic_config){
	    .apic_id = id,
	    .bsp = i == 0,
	    .features = features,
	    .maxphyaddr = 39,
	    .tsc_hz = TSC_HZ,
	    .page = pages[i],
	    .ops = &fake_ops,
	    .owner = &cpus[i],
	};
}

/* n vlapics with IDs 0..n-1; returns the first. */
static struct vlapic *setup(int n, u32 features)
{
	memset(cpus, 0, sizeof(cpus));
	ncpus = n;
	route = false;
	T = 1000;
	for (int i = 0; i < n; i++) {
		struct vlapic_config cfg = config(i, (u32)i, features);
		CHECK_EQ(vlapic_init(&cpus[i].lapic, &cfg), 0);
	}
	return &cpus[0].lapic;
}

static struct vlapic *setup_cfg(struct vlapic_config cfg)
{
	memset(cpus, 0, sizeof(cpus));
	ncpus = 1;
	route = false;
	T = 1000;
	CHECK_EQ(vlapic_init(&cpus[0].lapic, &cfg), 0);
	return &cpus[0].lapic;
}

static u32 rd(struct vlapic *l, u32 off)
{
	u64 v = 0xdeadbeef;

	CHECK_EQ(vlapic_mmio_read(l, off, 4, &v, T), 0);
	return (u32)v;
}

static void wr(struct vlapic *l, u32 off, u32 val)
{
	CHECK_EQ(vlapic_mmio_write(l, off, 4, val, T), 0);
}

static u64 mrd(struct vlapic *l, u32 msr)
{
	u64 v = 0xdeadbeef;

	CHECK_EQ(vlapic_msr_read(l, msr, &v, T), 0);
	return v;
}

static void mwr(struct vlapic *l, u32 msr, u64 val)
{
	CHECK_EQ(vlapic_msr_write(l, msr, val, T), 0);
}

static u32 esr(struct vlapic *l)
{
	wr(l, VLAPIC_REG_ESR, 0);
	return rd(l, VLAPIC_REG_ESR);
}

static void sw_enable(struct vlapic *l)
{
	wr(l, VLAPIC_REG_SVR, 0x1ff);
}

static void to_x2apic(struct vlapic *l)
{
	CHECK_EQ(vlapic_set_apic_base(l, vlapic_get_apic_base(l) | EXTD, T), 0);
}

static bool irr(struct vlapic *l, u8 v)
{
	return rd(l, VLAPIC_REG_IRR + (v >> 5) * 0x10) & (1u << (v & 31));
}

static bool isr(struct vlapic *l, u8 v)
{
	return rd(l, VLAPIC_REG_ISR + (v >> 5) * 0x10) & (1u << (v & 31));
}

/* Take the pending interrupt as the owner would at injection, and EOI it. */
static int ack(struct vlapic *l)
{
	int v = vlapic_pending_vector(l);

	if (v >= 0) {
		vlapic_accept(l, (u8)v);
		wr(l, VLAPIC_REG_EOI, 0);
	}
	return v;
}

static const u32 all_lvts[] = {VLAPIC_REG_LVT_CMCI,  VLAPIC_REG_LVT_TIMER, VLAPIC_REG_LVT_THERMAL, VLAPIC_REG_LVT_PERF,
			       VLAPIC_REG_LVT_LINT0, VLAPIC_REG_LVT_LINT1, VLAPIC_REG_LVT_ERROR};

/* The power-up register values, checked after init, RESET and a disable/re-enable. */
static void check_reset_regs(struct vlapic *l, u32 id_reg)
{
	CHECK_EQ(rd(l, VLAPIC_REG_ID), id_reg);
	CHECK_EQ(rd(l, VLAPIC_REG_TPR), 0);
	CHECK_EQ(rd(l, VLAPIC_REG_APR), 0);
	CHECK_EQ(rd(l, VLAPIC_REG_PPR), 0);
	CHECK_EQ(rd(l, VLAPIC_REG_LDR), 0);
	CHECK_EQ(rd(l, VLAPIC_REG_DFR), 0xffffffff);
	CHECK_EQ(rd(l, VLAPIC_REG_SVR), 0xff);
	for (u32 i = 0; i < 8; i++) {
		CHECK_EQ(rd(l, VLAPIC_REG_ISR + i * 0x10), 0);
		CHECK_EQ(rd(l, VLAPIC_REG_TMR + i * 0x10), 0);
		CHECK_EQ(rd(l, VLAPIC_REG_IRR + i * 0x10), 0);
	}
	CHECK_EQ(rd(l, VLAPIC_REG_ICR_LO), 0);
	CHECK_EQ(rd(l, VLAPIC_REG_ICR_HI), 0);
	for (unsigned int i = 1; i < 7; i++)
		CHECK_EQ(rd(l, all_lvts[i]), VLAPIC_LVT_MASKED);
	CHECK_EQ(rd(l, VLAPIC_REG_TMICT), 0);
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 0);
	CHECK_EQ(rd(l, VLAPIC_REG_TDCR), 0);
	CHECK_EQ(esr(l), 0);
	CHECK_EQ(vlapic_next_deadline(l), NONE);
	CHECK_EQ(vlapic_pending_vector(l), -1);
}

/* ---- reset state and configuration ---- */

TEST(reset_values)
{
	struct vlapic *l = setup(2, 0);

	check_reset_regs(l, 0);
	check_reset_regs(&cpus[1].lapic, 0x01000000);
	CHECK_EQ(rd(l, VLAPIC_REG_VER), 0x00050014); /* 6 LVT entries, no directed EOI */
	CHECK_EQ(vlapic_get_apic_base(l), 0xfee00900);
	CHECK_EQ(vlapic_get_apic_base(&cpus[1].lapic), 0xfee00800);
	CHECK_EQ(vlapic_mode(l), VLAPIC_MODE_XAPIC);
	CHECK_EQ(vlapic_mmio_base(l), BASE);
	CHECK_EQ(vlapic_id(&cpus[1].lapic), 1);
}

TEST(version_follows_features)
{
	struct vlapic *l = setup(1, VLAPIC_F_CMCI | VLAPIC_F_EOI_SUPPRESS);

	CHECK_EQ(rd(l, VLAPIC_REG_VER), 0x01060014); /* 7 LVT entries, EOI-broadcast suppression */
	CHECK_EQ(rd(l, VLAPIC_REG_LVT_CMCI), VLAPIC_LVT_MASKED);
	CHECK_EQ(esr(l), 0);
	l = setup(1, 0);
	CHECK_EQ(rd(l, VLAPIC_REG_LVT_CMCI), 0); /* no CMCI: a reserved register */
	CHECK_EQ(esr(l), VLAPIC_ESR_ILLEGAL_REGISTER);
}

TEST(init_rejects_bad_config)
{
	struct vlapic l;
	struct vlapic_config cfg = config(0, 0, 0);

	cfg.page = (char *)pages[0] + 16;
	CHECK_EQ(vlapic_init(&l, &cfg), -EINVAL);
	cfg = config(0, 0, 0);
	cfg.tsc_hz = 0;
	CHECK_EQ(vlapic_init(&l, &cfg), -EINVAL);
	cfg = config(0, 0, 0);
	cfg.maxphyaddr = 60;
	CHECK_EQ(vlapic_init(&l, &cfg), -EINVAL);
	cfg = config(0, 0, 0);
	cfg.ops = NULL;
	CHECK_EQ(vlapic_init(&l, &cfg), -EINVAL);
}

TEST(reset_returns_to_power_up)
{
	struct vlapic *l = setup(1, ALL_F);

	to_x2apic(l);
	mwr(l, X2(VLAPIC_REG_TPR), 0x40);
	vlapic_reset(l);
	CHECK_EQ(vlapic_mode(l), VLAPIC_MODE_XAPIC);
	CHECK_EQ(vlapic_get_apic_base(l), 0xfee00900);
	check_reset_regs(l, 0);
}

/* ---- xAPIC register rules ---- */

TEST(xapic_read_only_registers)
{
	struct vlapic *l = setup(1, 0);

	sw_enable(l);
	vlapic_set_irq(l, 0x45, true);
	vlapic_accept(l, 0x45);
	vlapic_set_irq(l, 0x46, false);
	const u32 ro[] = {VLAPIC_REG_VER,	 VLAPIC_REG_PPR,	VLAPIC_REG_ISR + 0x20,
			  VLAPIC_REG_TMR + 0x20, VLAPIC_REG_IRR + 0x20, VLAPIC_REG_TMCCT};
	u32 before[ARRAY_SIZE(ro)];
	for (unsigned int i = 0; i < ARRAY_SIZE(ro); i++) {
		before[i] = rd(l, ro[i]);
		wr(l, ro[i], ~before[i]);
	}
	for (unsigned int i = 0; i < ARRAY_SIZE(ro); i++)
		CHECK_EQ(rd(l, ro[i]), before[i]);
	CHECK_EQ(rd(l, VLAPIC_REG_ISR + 0x20), 1u << 5);
	CHECK_EQ(rd(l, VLAPIC_REG_TMR + 0x20), 1u << 5);
	CHECK_EQ(rd(l, VLAPIC_REG_IRR + 0x20), 1u << 6);
	CHECK_EQ(esr(l), 0); /* read-only registers exist: no illegal-register error */
}

TEST(xapic_writable_fields)
{
	struct vlapic *l = setup(1, 0);

	wr(l, VLAPIC_REG_ID, 0x07ffffff);
	CHECK_EQ(rd(l, VLAPIC_REG_ID), 0x07000000);
	CHECK_EQ(vlapic_id(l), 7);
	wr(l, VLAPIC_REG_LDR, 0x12345678);
	CHECK_EQ(rd(l, VLAPIC_REG_LDR), 0x12000000);
	wr(l, VLAPIC_REG_DFR, 0);
	CHECK_EQ(rd(l, VLAPIC_REG_DFR), 0x0fffffff);
	wr(l, VLAPIC_REG_TPR, 0x1234);
	CHECK_EQ(rd(l, VLAPIC_REG_TPR), 0x34);
	wr(l, VLAPIC_REG_TDCR, 0xffffffff);
	CHECK_EQ(rd(l, VLAPIC_REG_TDCR), 0xb);
	wr(l, VLAPIC_REG_ICR_HI, 0xffffffff);
	CHECK_EQ(rd(l, VLAPIC_REG_ICR_HI), 0xff000000);
	wr(l, VLAPIC_REG_APR, 0xff);
	CHECK_EQ(rd(l, VLAPIC_REG_APR), 0);
	CHECK_EQ(rd(l, VLAPIC_REG_RRD), 0);
	CHECK_EQ(rd(l, VLAPIC_REG_EOI), 0);
	CHECK_EQ(esr(l), 0);
}

TEST(svr_writable_bits)
{
	struct vlapic *l = setup(1, 0);

	wr(l, VLAPIC_REG_SVR, 0xffffffff);
	CHECK_EQ(rd(l, VLAPIC_REG_SVR), 0x3ff); /* bit 12 only with EOI-broadcast suppression */
	l = setup(1, VLAPIC_F_EOI_SUPPRESS);
	wr(l, VLAPIC_REG_SVR, 0xffffffff);
	CHECK_EQ(rd(l, VLAPIC_REG_SVR), 0x13ff);
}

TEST(lvt_valid_bits)
{
	struct vlapic *l = setup(1, VLAPIC_F_CMCI);
	const u32 want[] = {0x107ff, 0x300ff, 0x107ff, 0x107ff, 0x1a7ff, 0x1a7ff, 0x100ff};

	sw_enable(l);
	for (unsigned int i = 0; i < ARRAY_SIZE(all_lvts); i++) {
		wr(l, all_lvts[i], 0xffffffff);
		CHECK_EQ(rd(l, all_lvts[i]), want[i]);
	}
	l = setup(1, VLAPIC_F_TSC_DEADLINE);
	sw_enable(l);
	wr(l, LVT_T, 0xffffffff);
	CHECK_EQ(rd(l, LVT_T), 0x700ff);
}

TEST(software_disable_masks_lvts)
{
	struct vlapic *l = setup(1, VLAPIC_F_CMCI);

	sw_enable(l);
	for (unsigned int i = 0; i < ARRAY_SIZE(all_lvts); i++) {
		wr(l, all_lvts[i], 0x40 + i);
		CHECK_EQ(rd(l, all_lvts[i]), 0x40 + i);
	}
	wr(l, VLAPIC_REG_SVR, 0xff);
	for (unsigned int i = 0; i < ARRAY_SIZE(all_lvts); i++) {
		CHECK_EQ(rd(l, all_lvts[i]), VLAPIC_LVT_MASKED | (0x40 + i));
		wr(l, all_lvts[i], 0x50); /* unmasking is refused while disabled */
		CHECK_EQ(rd(l, all_lvts[i]), VLAPIC_LVT_MASKED | 0x50);
	}
	sw_enable(l); /* re-enabling leaves the masks set */
	for (unsigned int i = 0; i < ARRAY_SIZE(all_lvts); i++)
		CHECK_EQ(rd(l, all_lvts[i]), VLAPIC_LVT_MASKED | 0x50);
}

TEST(xapic_reserved_registers)
{
	struct vlapic *l = setup(1, 0);
	const u32 rsvd[] = {0x000, 0x010, 0x040, 0x070, 0x290, 0x2e0, 0x3a0, 0x3d0, 0x3f0, 0x400, 0x800, 0xff0};

	sw_enable(l);
	for (unsigned int i = 0; i < ARRAY_SIZE(rsvd); i++) {
		CHECK_EQ(esr(l), 0);
		CHECK_EQ(rd(l, rsvd[i]), 0);
		CHECK_EQ(esr(l), VLAPIC_ESR_ILLEGAL_REGISTER);
		wr(l, rsvd[i], 0x40); /* 0x3f0 is the x2APIC-only self IPI: no IPI here */
		CHECK_EQ(esr(l), VLAPIC_ESR_ILLEGAL_REGISTER);
		CHECK_EQ(rd(l, rsvd[i]), 0);
		esr(l);
	}
	CHECK(!irr(l, 0x40));
	CHECK_EQ(cpus[0].nipis, 0);
}

TEST(esr_write_then_read)
{
	struct vlapic *l = setup(1, 0);

	sw_enable(l);
	rd(l, 0x40);			    /* illegal register */
	vlapic_set_irq(l, 3, false);	    /* receive illegal vector */
	CHECK_EQ(rd(l, VLAPIC_REG_ESR), 0); /* nothing latched before the first write */
	wr(l, VLAPIC_REG_ESR, 0xffffffff);  /* the value written does not matter */
	CHECK_EQ(rd(l, VLAPIC_REG_ESR), VLAPIC_ESR_ILLEGAL_REGISTER | VLAPIC_ESR_RECV_ILLEGAL_VECTOR);
	CHECK_EQ(rd(l, VLAPIC_REG_ESR), VLAPIC_ESR_ILLEGAL_REGISTER | VLAPIC_ESR_RECV_ILLEGAL_VECTOR);
	wr(l, VLAPIC_REG_ICR_LO, 0x40005); /* self IPI with vector 5: send illegal vector */
	CHECK_EQ(rd(l, VLAPIC_REG_ESR), VLAPIC_ESR_ILLEGAL_REGISTER | VLAPIC_ESR_RECV_ILLEGAL_VECTOR);
	wr(l, VLAPIC_REG_ESR, 0);
	CHECK_EQ(rd(l, VLAPIC_REG_ESR), VLAPIC_ESR_SEND_ILLEGAL_VECTOR);
	wr(l, VLAPIC_REG_ESR, 0);
	CHECK_EQ(rd(l, VLAPIC_REG_ESR), 0);
}

TEST(esr_error_interrupt)
{
	struct vlapic *l = setup(1, 0);

	sw_enable(l);
	wr(l, VLAPIC_REG_LVT_ERROR, 0x33);
	rd(l, 0x50);
	CHECK(irr(l, 0x33));
	CHECK_EQ(vlapic_pending_vector(l), 0x33);
	/* An illegal vector in the error LVT adds its own error and stops there. */
	l = setup(1, 0);
	sw_enable(l);
	wr(l, VLAPIC_REG_LVT_ERROR, 0x05);
	rd(l, 0x50);
	CHECK_EQ(esr(l), VLAPIC_ESR_ILLEGAL_REGISTER | VLAPIC_ESR_RECV_ILLEGAL_VECTOR);
	CHECK_EQ(vlapic_pending_vector(l), -1);
}

TEST(mmio_sub_dword_and_odd_accesses)
{
	struct vlapic *l = setup(3, 0);
	u64 v;

	l = &cpus[2].lapic;
	CHECK_EQ(vlapic_mmio_read(l, 0x23, 1, &v, T), 0);
	CHECK_EQ(v, 0x02);
	CHECK_EQ(vlapic_mmio_read(l, 0x30, 2, &v, T), 0);
	CHECK_EQ(v, 0x0014);
	CHECK_EQ(vlapic_mmio_read(l, 0x32, 2, &v, T), 0);
	CHECK_EQ(v, 0x0005);
	CHECK_EQ(vlapic_mmio_read(l, 0x31, 1, &v, T), 0);
	CHECK_EQ(v, 0);
	CHECK_EQ(vlapic_mmio_read(l, 0x22, 4, &v, T), 0); /* past the dword */
	CHECK_EQ(v, 0);
	CHECK_EQ(vlapic_mmio_read(l, 0x24, 4, &v, T), 0);
	CHECK_EQ(v, 0);
	CHECK_EQ(vlapic_mmio_read(l, 0x20, 8, &v, T), 0);
	CHECK_EQ(v, 0);
	CHECK_EQ(vlapic_mmio_read(l, 0x20, 3, &v, T), 0);
	CHECK_EQ(v, 0);
	CHECK_EQ(vlapic_mmio_write(l, 0x80, 2, 0x50, T), 0); /* only aligned dword writes count */
	CHECK_EQ(vlapic_mmio_write(l, 0x80, 8, 0x50, T), 0);
	CHECK_EQ(vlapic_mmio_write(l, 0x84, 4, 0x50, T), 0);
	CHECK_EQ(vlapic_mmio_write(l, 0x81, 1, 0x50, T), 0);
	CHECK_EQ(rd(l, VLAPIC_REG_TPR), 0);
	CHECK_EQ(esr(l), 0);
	CHECK_EQ(vlapic_mmio_read(l, 0x1000, 4, &v, T), -EINVAL);
	CHECK_EQ(vlapic_mmio_write(l, 0x1000, 4, 0, T), -EINVAL);
}

TEST(mmio_unclaimed_in_x2apic_and_disabled)
{
	struct vlapic *l = setup(1, ALL_F);
	u64 v = 0x1234;

	to_x2apic(l);
	CHECK_EQ(vlapic_mmio_read(l, VLAPIC_REG_ID, 4, &v, T), VLAPIC_MMIO_UNCLAIMED);
	CHECK_EQ(v, 0x1234);
	CHECK_EQ(vlapic_mmio_write(l, VLAPIC_REG_TPR, 4, 0x80, T), VLAPIC_MMIO_UNCLAIMED);
	CHECK_EQ(mrd(l, X2(VLAPIC_REG_TPR)), 0);
	CHECK_EQ(vlapic_set_apic_base(l, BASE, T), 0);
	CHECK_EQ(vlapic_mmio_read(l, VLAPIC_REG_ID, 4, &v, T), VLAPIC_MMIO_UNCLAIMED);
	CHECK_EQ(vlapic_mmio_write(l, VLAPIC_REG_SVR, 4, 0x1ff, T), VLAPIC_MMIO_UNCLAIMED);
	CHECK_EQ(vlapic_set_apic_base(l, BASE | EN, T), 0);
	CHECK_EQ(rd(l, VLAPIC_REG_SVR), 0xff);
}

/* ---- x2APIC MSRs ---- */

TEST(x2apic_msrs_need_x2apic_mode)
{
	struct vlapic *l = setup(1, ALL_F);
	u64 v;

	CHECK_EQ(vlapic_msr_read(l, X2(VLAPIC_REG_ID), &v, T), -EINVAL);
	CHECK_EQ(vlapic_msr_write(l, X2(VLAPIC_REG_TPR), 0, T), -EINVAL);
	CHECK_EQ(vlapic_msr_read(l, 0x10, &v, T), -ENOENT);
	CHECK_EQ(vlapic_msr_write(l, 0x10, 0, T), -ENOENT);
	CHECK(vlapic_is_msr(MSR_IA32_APIC_BASE) && vlapic_is_msr(MSR_IA32_TSC_DEADLINE));
	CHECK(vlapic_is_msr(0x800) && vlapic_is_msr(0x8ff) && !vlapic_is_msr(0x900) && !vlapic_is_msr(0x7ff));
	CHECK_EQ(mrd(l, MSR_IA32_APIC_BASE), 0xfee00900);
}

TEST(x2apic_register_rules)
{
	struct vlapic_config cfg = config(0, 0x123, ALL_F);
	struct vlapic *l = setup_cfg(cfg);
	u64 v;

	CHECK_EQ(rd(l, VLAPIC_REG_ID), 0x23000000);
	to_x2apic(l);
	CHECK_EQ(mrd(l, X2(VLAPIC_REG_ID)), 0x123);
	CHECK_EQ(vlapic_id(l), 0x123);
	CHECK_EQ(mrd(l, X2(VLAPIC_REG_LDR)), 0x00120008);
	CHECK_EQ(mrd(l, X2(VLAPIC_REG_VER)), 0x01060014);
	/* read-only */
	const u32 ro[] = {VLAPIC_REG_ID,  VLAPIC_REG_VER,	 VLAPIC_REG_PPR,	VLAPIC_REG_LDR,
			  VLAPIC_REG_ISR, VLAPIC_REG_TMR + 0x70, VLAPIC_REG_IRR + 0x30, VLAPIC_REG_TMCCT};
	for (unsigned int i = 0; i < ARRAY_SIZE(ro); i++)
		CHECK_EQ(vlapic_msr_write(l, X2(ro[i]), 0, T), -EINVAL);
	/* write-only */
	CHECK_EQ(vlapic_msr_read(l, X2(VLAPIC_REG_EOI), &v, T), -EINVAL);
	CHECK_EQ(vlapic_msr_read(l, VLAPIC_MSR_SELF_IPI, &v, T), -EINVAL);
	/* not present in x2APIC mode, and reserved MSRs */
	const u32 absent[] = {0x800, 0x801, 0x804, 0x809, 0x80c, 0x80e, 0x829,
			      0x82e, 0x831, 0x83a, 0x83d, 0x840, 0x8ff};
	for (unsigned int i = 0; i < ARRAY_SIZE(absent); i++) {
		CHECK_EQ(vlapic_msr_read(l, absent[i], &v, T), -EINVAL);
		CHECK_EQ(vlapic_msr_write(l, absent[i], 0, T), -EINVAL);
	}
	/* reserved bits */
	CHECK_EQ(vlapic_msr_write(l, X2(VLAPIC_REG_TPR), 0x100, T), -EINVAL);
	CHECK_EQ(vlapic_msr_write(l, X2(VLAPIC_REG_TPR), 1ULL << 32, T), -EINVAL);
	CHECK_EQ(vlapic_msr_write(l, X2(VLAPIC_REG_EOI), 1, T), -EINVAL);
	CHECK_EQ(vlapic_msr_write(l, X2(VLAPIC_REG_ESR), 1, T), -EINVAL);
	CHECK_EQ(vlapic_msr_write(l, X2(VLAPIC_REG_SVR), 0x1000000, T), -EINVAL);
	CHECK_EQ(vlapic_msr_write(l, X2(VLAPIC_REG_TDCR), 0x4, T), -EINVAL);
	CHECK_EQ(vlapic_msr_write(l, X2(VLAPIC_REG_LVT_ERROR), 0x700, T), -EINVAL);
	CHECK_EQ(vlapic_msr_write(l, X2(VLAPIC_REG_LVT_TIMER), 0x80000, T), -EINVAL);
	CHECK_EQ(vlapic_msr_write(l, VLAPIC_MSR_SELF_IPI, 0x140, T), -EINVAL);
	CHECK_EQ(vlapic_msr_write(l, VLAPIC_MSR_ICR, 0x1000, T), -EINVAL);   /* delivery status */
	CHECK_EQ(vlapic_msr_write(l, VLAPIC_MSR_ICR, 0x100000, T), -EINVAL); /* bit 20 */
	CHECK_EQ(cpus[0].nipis, 0);
	/* what is allowed */
	mwr(l, X2(VLAPIC_REG_TPR), 0x20);
	CHECK_EQ(mrd(l, X2(VLAPIC_REG_TPR)), 0x20);
	CHECK_EQ(mrd(l, X2(VLAPIC_REG_PPR)), 0x20);
	mwr(l, X2(VLAPIC_REG_EOI), 0);
	mwr(l, X2(VLAPIC_REG_ESR), 0);
	mwr(l, X2(VLAPIC_REG_SVR), 0x11ff);
	CHECK_EQ(mrd(l, X2(VLAPIC_REG_SVR)), 0x11ff);
	mwr(l, X2(VLAPIC_REG_LVT_LINT0), 0x1a7ff);
	CHECK_EQ(mrd(l, X2(VLAPIC_REG_LVT_LINT0)), 0x1a7ff);
	mwr(l, X2(VLAPIC_REG_TDCR), 0xb);
	CHECK_EQ(mrd(l, X2(VLAPIC_REG_TDCR)), 0xb);
}

TEST(x2apic_icr_is_one_64bit_msr)
{
	struct vlapic *l = setup(1, ALL_F);

	to_x2apic(l);
	mwr(l, X2(VLAPIC_REG_SVR), 0x1ff);
	mwr(l, VLAPIC_MSR_ICR, (0x12345ULL << 32) | 0xc030);
	CHECK_EQ(cpus[0].nipis, 1);
	CHECK_EQ(cpus[0].ipi.dest, 0x12345);
	CHECK_EQ(cpus[0].ipi.vector, 0x30);
	CHECK_EQ(cpus[0].ipi.delivery, VLAPIC_DM_FIXED);
	CHECK(cpus[0].ipi.x2apic && cpus[0].ipi.level && !cpus[0].ipi.logical);
	CHECK_EQ(mrd(l, VLAPIC_MSR_ICR), (0x12345ULL << 32) | 0xc030);
	/* x2APIC broadcast is 32 bits wide: destination 0xff is an ordinary ID */
	mwr(l, VLAPIC_MSR_ICR, (0xffULL << 32) | 0x31);
	CHECK_EQ(cpus[0].nipis, 2);
	CHECK_EQ(cpus[0].ipi.dest, 0xff);
	/* to its own x2APIC ID: local */
	mwr(l, VLAPIC_MSR_ICR, 0x32);
	CHECK_EQ(cpus[0].nipis, 2);
	CHECK_EQ(mrd(l, X2(VLAPIC_REG_IRR + 0x10)), 1u << 18);
}

TEST(x2apic_self_ipi_msr)
{
	struct vlapic *l = setup(1, ALL_F);

	to_x2apic(l);
	mwr(l, X2(VLAPIC_REG_SVR), 0x1ff);
	mwr(l, VLAPIC_MSR_SELF_IPI, 0x40);
	CHECK_EQ(cpus[0].nipis, 0);
	CHECK_EQ(vlapic_pending_vector(l), 0x40);
	CHECK_EQ(mrd(l, VLAPIC_MSR_ICR), 0); /* the self IPI register is not the ICR */
	mwr(l, VLAPIC_MSR_SELF_IPI, 0x05);
	mwr(l, X2(VLAPIC_REG_ESR), 0);
	CHECK_EQ(mrd(l, X2(VLAPIC_REG_ESR)), VLAPIC_ESR_SEND_ILLEGAL_VECTOR);
}

/* ---- IA32_APIC_BASE ---- */

TEST(apic_base_valid_transitions)
{
	struct vlapic *l = setup(2, ALL_F);

	l = &cpus[1].lapic;
	CHECK_EQ(vlapic_set_apic_base(l, BASE, T), 0);
	CHECK_EQ(vlapic_mode(l), VLAPIC_MODE_DISABLED);
	CHECK_EQ(vlapic_set_apic_base(l, BASE | EN, T), 0);
	CHECK_EQ(vlapic_mode(l), VLAPIC_MODE_XAPIC);
	CHECK_EQ(vlapic_set_apic_base(l, BASE | EN | EXTD, T), 0);
	CHECK_EQ(vlapic_mode(l), VLAPIC_MODE_X2APIC);
	CHECK_EQ(vlapic_set_apic_base(l, BASE | EN | EXTD | APIC_BASE_BSP, T), 0); /* BSP flag is writable */
	CHECK_EQ(vlapic_get_apic_base(l), BASE | EN | EXTD | APIC_BASE_BSP);
	CHECK_EQ(vlapic_set_apic_base(l, BASE, T), 0);
	CHECK_EQ(vlapic_mode(l), VLAPIC_MODE_DISABLED);
	CHECK_EQ(vlapic_set_apic_base(l, BASE | EN, T), 0);
	CHECK_EQ(vlapic_mode(l), VLAPIC_MODE_XAPIC);
	CHECK_EQ(vlapic_msr_write(l, MSR_IA32_APIC_BASE, 0xfec00000 | EN, T), 0);
	CHECK_EQ(vlapic_mmio_base(l), 0xfec00000);
	CHECK_EQ(mrd(l, MSR_IA32_APIC_BASE), 0xfec00000 | EN);
	CHECK_EQ(vlapic_set_apic_base(l, (1ULL << 38) | EN, T), 0); /* highest address bit below MAXPHYADDR 39 */
	CHECK_EQ(vlapic_mmio_base(l), 1ULL << 38);
}

TEST(apic_base_invalid_transitions)
{
	struct vlapic *l = setup(1, ALL_F);

	sw_enable(l);
	wr(l, VLAPIC_REG_TPR, 0x30);
	const u64 bad_from_xapic[] = {BASE | EXTD,
				      BASE | EN | 1,
				      BASE | EN | 0x80,
				      BASE | EN | (1u << 9),
				      BASE | EN | (1ULL << 39),
				      BASE | EN | (1ULL << 63)};
	for (unsigned int i = 0; i < ARRAY_SIZE(bad_from_xapic); i++) {
		CHECK_EQ(vlapic_set_apic_base(l, bad_from_xapic[i], T), -EINVAL);
		CHECK_EQ(vlapic_get_apic_base(l), BASE | EN | APIC_BASE_BSP);
		CHECK_EQ(rd(l, VLAPIC_REG_TPR), 0x30);
	}
	to_x2apic(l);
	CHECK_EQ(vlapic_set_apic_base(l, BASE | EN, T), -EINVAL); /* x2APIC -> xAPIC */
	CHECK_EQ(vlapic_set_apic_base(l, BASE | EXTD, T), -EINVAL);
	CHECK_EQ(vlapic_mode(l), VLAPIC_MODE_X2APIC);
	CHECK_EQ(mrd(l, X2(VLAPIC_REG_TPR)), 0x30);
	CHECK_EQ(vlapic_set_apic_base(l, BASE, T), 0);
	CHECK_EQ(vlapic_set_apic_base(l, BASE | EN | EXTD, T), -EINVAL); /* disabled -> x2APIC */
	CHECK_EQ(vlapic_msr_write(l, MSR_IA32_APIC_BASE, BASE | EN | EXTD, T), -EINVAL);
	CHECK_EQ(vlapic_mode(l), VLAPIC_MODE_DISABLED);
	/* x2APIC not advertised: bit 10 is reserved */
	l = setup(1, 0);
	CHECK_EQ(vlapic_set_apic_base(l, BASE | EN | EXTD | APIC_BASE_BSP, T), -EINVAL);
	CHECK_EQ(vlapic_mode(l), VLAPIC_MODE_XAPIC);
}

TEST(apic_base_disable_resets_state)
{
	struct vlapic *l = setup(2, ALL_F);

	sw_enable(l);
	wr(l, VLAPIC_REG_ID, 0x07000000);
	wr(l, VLAPIC_REG_TPR, 0x20);
	wr(l, VLAPIC_REG_LDR, 0x01000000);
	wr(l, VLAPIC_REG_DFR, 0x0fffffff);
	wr(l, VLAPIC_REG_LVT_LINT0, 0x700);
	wr(l, VLAPIC_REG_LVT_ERROR, 0x33);
	wr(l, VLAPIC_REG_TDCR, 0x3);
	wr(l, LVT_T, VLAPIC_LVT_TIMER_PERIODIC | 0x40);
	wr(l, VLAPIC_REG_TMICT, 300000);
	wr(l, VLAPIC_REG_ICR_HI, 0x01000000);
	vlapic_set_irq(l, 0x80, true);
	vlapic_accept(l, 0x80);
	vlapic_set_irq(l, 0x90, false);
	rd(l, 0x40); /* an error pending in the ESR */
	CHECK(vlapic_next_deadline(l) != NONE);

	CHECK_EQ(vlapic_set_apic_base(l, 0xfed00000 | APIC_BASE_BSP, T), 0);
	CHECK_EQ(vlapic_next_deadline(l), NONE);
	CHECK_EQ(vlapic_pending_vector(l), -1);
	CHECK(!vlapic_set_irq(l, 0x50, false));
	CHECK(!vlapic_deliver(l, 0x51));
	CHECK(!vlapic_deliver(l, VLAPIC_DM_NMI << 8));
	CHECK(vlapic_accepts_pic_intr(l));
	vlapic_tick(l, T + 100000000);

	CHECK_EQ(vlapic_set_apic_base(l, 0xfed00000 | EN | APIC_BASE_BSP, T), 0);
	CHECK_EQ(vlapic_mmio_base(l), 0xfed00000); /* the base address survives */
	check_reset_regs(l, 0x07000000);	   /* and the ID: everything else is the power-up state */
	CHECK(!vlapic_accepts_pic_intr(l));
	CHECK(!vlapic_set_irq(l, 0x50, false)); /* software-disabled until the guest enables it again */
}

TEST(apic_base_x2apic_disable_reenable)
{
	struct vlapic_config cfg = config(0, 0x123, ALL_F);
	struct vlapic *l = setup_cfg(cfg);

	sw_enable(l);
	wr(l, VLAPIC_REG_ID, 0x05000000); /* the x2APIC ID is the hardware one regardless */
	wr(l, VLAPIC_REG_TPR, 0x30);
	to_x2apic(l);
	CHECK_EQ(mrd(l, X2(VLAPIC_REG_ID)), 0x123);
	CHECK_EQ(mrd(l, X2(VLAPIC_REG_TPR)), 0x30); /* xAPIC -> x2APIC keeps the state */
	CHECK_EQ(mrd(l, X2(VLAPIC_REG_SVR)), 0x1ff);
	CHECK_EQ(vlapic_set_apic_base(l, BASE, T), 0);
	CHECK_EQ(vlapic_set_apic_base(l, BASE | EN, T), 0);
	check_reset_regs(l, 0x23000000);
	to_x2apic(l);
	CHECK_EQ(mrd(l, X2(VLAPIC_REG_ID)), 0x123);
	CHECK_EQ(mrd(l, X2(VLAPIC_REG_LDR)), 0x00120008);
	CHECK_EQ(mrd(l, X2(VLAPIC_REG_SVR)), 0xff);
}

/* ---- priority, acceptance, EOI ---- */

TEST(tpr_ppr_isr)
{
	struct vlapic *l = setup(1, 0);

	sw_enable(l);
	vlapic_set_irq(l, 0x45, false);
	vlapic_accept(l, 0x45);
	wr(l, VLAPIC_REG_TPR, 0x30);
	CHECK_EQ(rd(l, VLAPIC_REG_PPR), 0x40); /* ISR class wins, low nibble 0 */
	wr(l, VLAPIC_REG_TPR, 0x4a);
	CHECK_EQ(rd(l, VLAPIC_REG_PPR), 0x4a); /* same class: TPR as is */
	wr(l, VLAPIC_REG_TPR, 0x51);
	CHECK_EQ(rd(l, VLAPIC_REG_PPR), 0x51);
	wr(l, VLAPIC_REG_EOI, 0);
	wr(l, VLAPIC_REG_TPR, 0x0f);
	CHECK_EQ(rd(l, VLAPIC_REG_PPR), 0x0f);
	vlapic_set_tpr(l, 0x70); /* CR8 path */
	CHECK_EQ(vlapic_get_tpr(l), 0x70);
	CHECK_EQ(rd(l, VLAPIC_REG_PPR), 0x70);
}

TEST(pending_vector_by_priority_class)
{
	struct vlapic *l = setup(1, 0);

	sw_enable(l);
	CHECK(vlapic_set_irq(l, 0x31, false));
	CHECK(vlapic_set_irq(l, 0x52, false));
	wr(l, VLAPIC_REG_TPR, 0x50);
	CHECK_EQ(vlapic_pending_vector(l), -1); /* class 5 is not above PPR class 5 */
	wr(l, VLAPIC_REG_TPR, 0x40);
	CHECK_EQ(vlapic_pending_vector(l), 0x52);
	vlapic_accept(l, 0x52);
	CHECK_EQ(rd(l, VLAPIC_REG_PPR), 0x50);
	CHECK(vlapic_set_irq(l, 0x5f, false));
	CHECK_EQ(vlapic_pending_vector(l), -1); /* same class as the one in service */
	CHECK(vlapic_set_irq(l, 0x61, false));
	CHECK_EQ(vlapic_pending_vector(l), 0x61); /* nests */
	vlapic_accept(l, 0x61);
	CHECK_EQ(vlapic_pending_vector(l), -1);
	wr(l, VLAPIC_REG_EOI, 0);
	CHECK_EQ(vlapic_pending_vector(l), -1);
	wr(l, VLAPIC_REG_EOI, 0);
	CHECK_EQ(vlapic_pending_vector(l), 0x5f);
	vlapic_accept(l, 0x5f);
	wr(l, VLAPIC_REG_EOI, 0);
	CHECK_EQ(vlapic_pending_vector(l), -1); /* 0x31 is below TPR 0x40 */
	wr(l, VLAPIC_REG_TPR, 0);
	CHECK_EQ(vlapic_pending_vector(l), 0x31);
}

TEST(accept_moves_irr_to_isr)
{
	struct vlapic *l = setup(1, 0);

	sw_enable(l);
	vlapic_set_irq(l, 0x45, false);
	CHECK_EQ(rd(l, VLAPIC_REG_IRR + 0x20), 1u << 5);
	CHECK_EQ(rd(l, VLAPIC_REG_ISR + 0x20), 0);
	vlapic_accept(l, 0x45);
	CHECK_EQ(rd(l, VLAPIC_REG_IRR + 0x20), 0);
	CHECK_EQ(rd(l, VLAPIC_REG_ISR + 0x20), 1u << 5);
	CHECK_EQ(rd(l, VLAPIC_REG_PPR), 0x40);
	vlapic_set_irq(l, 0x45, false); /* the same vector again while in service: IRR and ISR both */
	CHECK(irr(l, 0x45) && isr(l, 0x45));
	CHECK_EQ(vlapic_pending_vector(l), -1);
}

TEST(eoi_clears_highest_isr)
{
	struct vlapic *l = setup(1, 0);

	sw_enable(l);
	wr(l, VLAPIC_REG_EOI, 0); /* nothing in service: no effect */
	vlapic_set_irq(l, 0x30, false);
	vlapic_accept(l, 0x30);
	vlapic_set_irq(l, 0xa1, false);
	vlapic_accept(l, 0xa1);
	vlapic_set_irq(l, 0x50, false);
	vlapic_accept(l, 0x50); /* as the owner would not, but ISR order is what matters */
	wr(l, VLAPIC_REG_EOI, 0x12345678);
	CHECK(!isr(l, 0xa1) && isr(l, 0x50) && isr(l, 0x30));
	CHECK_EQ(rd(l, VLAPIC_REG_PPR), 0x50);
	wr(l, VLAPIC_REG_EOI, 0);
	CHECK(!isr(l, 0x50) && isr(l, 0x30));
	wr(l, VLAPIC_REG_EOI, 0);
	CHECK(!isr(l, 0x30));
	CHECK_EQ(rd(l, VLAPIC_REG_PPR), 0);
	CHECK_EQ(cpus[0].neoi, 0); /* all edge-triggered */
}

TEST(eoi_level_triggered_broadcast)
{
	struct vlapic *l = setup(1, VLAPIC_F_EOI_SUPPRESS);

	sw_enable(l);
	vlapic_set_irq(l, 0x70, true);
	CHECK(rd(l, VLAPIC_REG_TMR + 0x30) & (1u << 16));
	vlapic_accept(l, 0x70);
	wr(l, VLAPIC_REG_EOI, 0);
	CHECK_EQ(cpus[0].neoi, 1);
	CHECK_EQ(cpus[0].eoi_vector, 0x70);
	wr(l, VLAPIC_REG_SVR, 0x11ff); /* EOI-broadcast suppression */
	vlapic_set_irq(l, 0x71, true);
	vlapic_accept(l, 0x71);
	wr(l, VLAPIC_REG_EOI, 0);
	CHECK_EQ(cpus[0].neoi, 1);
	CHECK(!isr(l, 0x71));
	vlapic_set_irq(l, 0x70, false); /* edge now: TMR cleared */
	CHECK(!(rd(l, VLAPIC_REG_TMR + 0x30) & (1u << 16)));
}

TEST(illegal_vectors_set_esr)
{
	struct vlapic *l = setup(2, 0);

	sw_enable(l);
	for (u8 v = 0; v < 16; v++) {
		CHECK(!vlapic_set_irq(l, v, false));
		CHECK_EQ(esr(l), VLAPIC_ESR_RECV_ILLEGAL_VECTOR);
	}
	for (u32 i = 0; i < 8; i++)
		CHECK_EQ(rd(l, VLAPIC_REG_IRR + i * 0x10), 0);
	wr(l, VLAPIC_REG_ICR_HI, 0x01000000);
	wr(l, VLAPIC_REG_ICR_LO, 0x0003); /* fixed, vector 3, to APIC 1: not sent */
	wr(l, VLAPIC_REG_ICR_LO, 0x010f); /* lowest priority, vector 15 */
	CHECK_EQ(cpus[0].nipis, 0);
	CHECK_EQ(esr(l), VLAPIC_ESR_SEND_ILLEGAL_VECTOR);
	CHECK(vlapic_set_irq(l, 16, false)); /* the first legal vector */
}

TEST(software_disabled_drops_new_keeps_pending)
{
	struct vlapic *l = setup(1, 0);

	CHECK(!vlapic_set_irq(l, 0x40, false)); /* software-disabled after reset */
	sw_enable(l);
	CHECK(vlapic_set_irq(l, 0x41, false));
	wr(l, VLAPIC_REG_SVR, 0xff);
	CHECK(!vlapic_set_irq(l, 0x42, false));
	CHECK_EQ(vlapic_pending_vector(l), 0x41);     /* held, still delivered (SDM 11.4.7.2) */
	CHECK(vlapic_deliver(l, VLAPIC_DM_NMI << 8)); /* NMI, INIT, SIPI still accepted */
	CHECK(vlapic_take_nmi(l));
}

TEST(kick_when_something_becomes_pending)
{
	struct vlapic *l = setup(1, 0);

	sw_enable(l);
	CHECK(vlapic_set_irq(l, 0x40, false));
	CHECK_EQ(cpus[0].kicks, 1);
	CHECK(!vlapic_set_irq(l, 0x40, false)); /* coalesced */
	CHECK_EQ(cpus[0].kicks, 1);
	vlapic_deliver(l, VLAPIC_DM_NMI << 8);
	vlapic_deliver(l, (VLAPIC_DM_SIPI << 8) | 0x10);
	CHECK_EQ(cpus[0].kicks, 3);
}

TEST(pic_intr_through_lint0)
{
	struct vlapic *l = setup(1, 0);

	CHECK(!vlapic_accepts_pic_intr(l)); /* LINT0 masked at reset */
	sw_enable(l);
	wr(l, VLAPIC_REG_LVT_LINT0, VLAPIC_DM_EXTINT << 8);
	CHECK(vlapic_accepts_pic_intr(l));
	wr(l, VLAPIC_REG_LVT_LINT0, VLAPIC_DM_FIXED << 8 | 0x30);
	CHECK(!vlapic_accepts_pic_intr(l));
}

/* ---- timer ---- */

static const u32 tdcr_enc[8] = {0x0, 0x1, 0x2, 0x3, 0x8, 0x9, 0xa, 0xb};
static const u32 tdcr_div[8] = {2, 4, 8, 16, 32, 64, 128, 1};

TEST(timer_oneshot_every_divide)
{
	for (int i = 0; i < 8; i++) {
		struct vlapic *l = setup(1, 0);
		u64 t0 = 10000, dl = t0 + 1000ULL * tdcr_div[i] * 2;

		sw_enable(l);
		wr(l, LVT_T, 0x40);
		wr(l, VLAPIC_REG_TDCR, tdcr_enc[i]);
		T = t0;
		wr(l, VLAPIC_REG_TMICT, 1000);
		CHECK_EQ(vlapic_next_deadline(l), dl);
		CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 1000);
		T = dl - 1;
		CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 1);
		vlapic_tick(l, dl - 1);
		CHECK_EQ(vlapic_pending_vector(l), -1);
		vlapic_tick(l, dl);
		CHECK_EQ(vlapic_pending_vector(l), 0x40);
		CHECK_EQ(vlapic_next_deadline(l), NONE);
		T = dl + 5;
		CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 0);
		CHECK_EQ(rd(l, VLAPIC_REG_TMICT), 1000);
		CHECK_EQ(ack(l), 0x40);
		vlapic_tick(l, dl + 100000000);
		CHECK_EQ(vlapic_pending_vector(l), -1);
	}
}

TEST(timer_periodic_every_divide)
{
	for (int i = 0; i < 8; i++) {
		struct vlapic *l = setup(1, 0);
		u64 t0 = 777, p = 200000ULL * tdcr_div[i] * 2;

		sw_enable(l);
		wr(l, VLAPIC_REG_TDCR, tdcr_enc[i]);
		wr(l, LVT_T, VLAPIC_LVT_TIMER_PERIODIC | 0x41);
		T = t0;
		wr(l, VLAPIC_REG_TMICT, 200000);
		for (u64 k = 1; k <= 3; k++) {
			CHECK_EQ(vlapic_next_deadline(l), t0 + k * p);
			vlapic_tick(l, t0 + k * p - 1);
			CHECK_EQ(vlapic_pending_vector(l), -1);
			vlapic_tick(l, t0 + k * p);
			CHECK_EQ(ack(l), 0x41);
			T = t0 + k * p;
			CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 200000); /* reloaded */
		}
	}
}

TEST(timer_periodic_no_drift)
{
	struct vlapic *l = setup(1, 0);
	u64 t0 = 12345, p = 1000000; /* 500000 counts at divide 1 */

	sw_enable(l);
	wr(l, VLAPIC_REG_TDCR, 0xb);
	wr(l, LVT_T, VLAPIC_LVT_TIMER_PERIODIC | 0x42);
	T = t0;
	wr(l, VLAPIC_REG_TMICT, 500000);
	for (u64 k = 1; k <= 2000; k++) {
		vlapic_tick(l, t0 + k * p + (k * 7919) % 900000); /* the owner is always a little late */
		CHECK_EQ(ack(l), 0x42);
		CHECK_EQ(vlapic_next_deadline(l), t0 + (k + 1) * p);
	}
	/* A million periods late: one interrupt, and the phase is kept. */
	vlapic_tick(l, t0 + 3000000ULL * p + 17);
	CHECK_EQ(ack(l), 0x42);
	CHECK_EQ(vlapic_pending_vector(l), -1);
	CHECK_EQ(vlapic_next_deadline(l), t0 + 3000001ULL * p);
	T = t0 + 3000000ULL * p + 17;
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 500000 - 8); /* 17 TSC = 8.5 bus cycles elapsed */
}

TEST(timer_periodic_minimum_period)
{
	struct vlapic *l = setup(1, 0);

	sw_enable(l);
	wr(l, VLAPIC_REG_TDCR, 0xb);
	wr(l, LVT_T, VLAPIC_LVT_TIMER_PERIODIC | 0x43);
	T = 100;
	wr(l, VLAPIC_REG_TMICT, 1);
	CHECK_EQ(vlapic_next_deadline(l), 100 + VLAPIC_MIN_PERIOD_NS * 2);
	vlapic_tick(l, 100 + VLAPIC_MIN_PERIOD_NS * 2);
	CHECK_EQ(vlapic_next_deadline(l), 100 + VLAPIC_MIN_PERIOD_NS * 4);
	CHECK_EQ(ack(l), 0x43);
	/* one-shot is not limited */
	wr(l, LVT_T, 0x43);
	T = 1000000;
	wr(l, VLAPIC_REG_TMICT, 1);
	CHECK_EQ(vlapic_next_deadline(l), 1000002);
}

TEST(timer_current_count_midway)
{
	struct vlapic *l = setup(1, 0);
	u64 t0 = 5000;

	sw_enable(l);
	wr(l, VLAPIC_REG_TDCR, 0x0); /* divide by 2: one count = 4 TSC ticks */
	wr(l, LVT_T, 0x44);
	T = t0;
	wr(l, VLAPIC_REG_TMICT, 1000);
	T = t0 + 3;
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 1000);
	T = t0 + 4;
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 999);
	T = t0 + 1000;
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 750);
	T = t0 + 1003;
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 750);
	T = t0 + 1004;
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 749);
	T = t0 + 3999;
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 1);
	CHECK_EQ(vlapic_pending_vector(l), -1);
	T = t0 + 4000; /* a register access catches the timer up too */
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 0);
	CHECK_EQ(vlapic_pending_vector(l), 0x44);
}

TEST(timer_divide_change_while_running)
{
	struct vlapic *l = setup(1, 0);
	u64 t0 = 5000;

	sw_enable(l);
	wr(l, VLAPIC_REG_TDCR, 0xb);
	wr(l, LVT_T, 0x45);
	T = t0;
	wr(l, VLAPIC_REG_TMICT, 1000);
	CHECK_EQ(vlapic_next_deadline(l), t0 + 2000);
	T = t0 + 1000;
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 500);
	wr(l, VLAPIC_REG_TDCR, 0x1); /* divide by 4: the 500 counts left take 4x as long */
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 500);
	CHECK_EQ(vlapic_next_deadline(l), t0 + 1000 + 4000);
	T = t0 + 3000;
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 250);
	/* a periodic reload after a change runs the whole count at the new divider */
	wr(l, LVT_T, VLAPIC_LVT_TIMER_PERIODIC | 0x45); /* one-shot -> periodic keeps the countdown */
	CHECK_EQ(vlapic_next_deadline(l), t0 + 5000);
	wr(l, VLAPIC_REG_TMICT, 100000);
	CHECK_EQ(vlapic_next_deadline(l), t0 + 3000 + 800000);
	vlapic_tick(l, t0 + 3000 + 800000);
	CHECK_EQ(vlapic_next_deadline(l), t0 + 3000 + 1600000);
}

TEST(timer_masked_raises_nothing)
{
	struct vlapic *l = setup(1, 0);

	sw_enable(l);
	wr(l, LVT_T, VLAPIC_LVT_MASKED | 0x46);
	wr(l, VLAPIC_REG_TDCR, 0xb);
	wr(l, VLAPIC_REG_TMICT, 1000);
	CHECK_EQ(vlapic_next_deadline(l), NONE); /* nothing to wake up for */
	T = 1000 + 1000;
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 500); /* but it counts */
	vlapic_tick(l, 1000 + 2000);
	CHECK_EQ(vlapic_pending_vector(l), -1);
	T = 1000 + 2500;
	wr(l, LVT_T, 0x46); /* unmasking after the expiry raises nothing */
	CHECK_EQ(vlapic_pending_vector(l), -1);
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 0);
	/* periodic, masked for a while, then unmasked: the phase is kept */
	wr(l, LVT_T, VLAPIC_LVT_TIMER_PERIODIC | VLAPIC_LVT_MASKED | 0x46);
	T = 10000;
	wr(l, VLAPIC_REG_TMICT, 500000); /* 1e6 TSC period */
	T = 7510000;
	wr(l, LVT_T, VLAPIC_LVT_TIMER_PERIODIC | 0x46);
	CHECK_EQ(vlapic_pending_vector(l), -1);
	CHECK_EQ(vlapic_next_deadline(l), 8010000);
	/* a software-disabled APIC masks the timer */
	wr(l, VLAPIC_REG_SVR, 0xff);
	vlapic_tick(l, 9010000);
	CHECK_EQ(vlapic_pending_vector(l), -1);
}

TEST(timer_initial_count_zero_stops)
{
	struct vlapic *l = setup(1, 0);

	sw_enable(l);
	wr(l, LVT_T, VLAPIC_LVT_TIMER_PERIODIC | 0x47);
	wr(l, VLAPIC_REG_TMICT, 300000);
	CHECK(vlapic_next_deadline(l) != NONE);
	T = 2000;
	wr(l, VLAPIC_REG_TMICT, 0);
	CHECK_EQ(vlapic_next_deadline(l), NONE);
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 0);
	vlapic_tick(l, 1ULL << 40);
	CHECK_EQ(vlapic_pending_vector(l), -1);
}

TEST(timer_huge_counts_do_not_overflow)
{
	struct vlapic_config cfg = config(0, 0, 0);
	struct vlapic *l;
	u64 t0 = 1ULL << 62, bus = 0xffffffffULL * 128;

	cfg.tsc_hz = 3000000000ULL;
	l = setup_cfg(cfg);
	sw_enable(l);
	wr(l, VLAPIC_REG_TDCR, 0xa); /* 128 */
	wr(l, LVT_T, 0x48);
	T = t0;
	wr(l, VLAPIC_REG_TMICT, 0xffffffff);
	CHECK_EQ(vlapic_next_deadline(l), t0 + bus * 3);
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 0xffffffff);
	T = t0 + 3 * 128;
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 0xfffffffe);
	T = t0 + bus * 3 - 1;
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 1);

	/* An odd ratio whose products need 128 bits: deadline = ceil(count * divide * tsc_hz / timer_hz). */
	cfg.tsc_hz = (1ULL << 40) - 1;
	cfg.timer_hz = 1000000007ULL;
	l = setup_cfg(cfg);
	sw_enable(l);
	wr(l, VLAPIC_REG_TDCR, 0xa);
	wr(l, LVT_T, 0x48);
	T = 0;
	wr(l, VLAPIC_REG_TMICT, 0xffffffff);
	unsigned __int128 num = (unsigned __int128)bus * cfg.tsc_hz;
	u64 want = (u64)((num + cfg.timer_hz - 1) / cfg.timer_hz);
	CHECK_EQ(vlapic_next_deadline(l), want);
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 0xffffffff);
	T = want / 2;
	u32 half = rd(l, VLAPIC_REG_TMCCT);
	CHECK(half >= 0x7fffffff && half <= 0x80000001);
	vlapic_tick(l, want - 1);
	CHECK_EQ(vlapic_pending_vector(l), -1);
	vlapic_tick(l, want);
	CHECK_EQ(vlapic_pending_vector(l), 0x48);

	/* Near the end of time the deadline saturates instead of wrapping into the past. */
	l = setup(1, 0);
	sw_enable(l);
	wr(l, VLAPIC_REG_TDCR, 0xa);
	wr(l, LVT_T, VLAPIC_LVT_TIMER_PERIODIC | 0x48);
	T = ~0ULL - 1000;
	wr(l, VLAPIC_REG_TMICT, 0xffffffff);
	CHECK_EQ(vlapic_next_deadline(l), ~0ULL);
	CHECK_EQ(vlapic_pending_vector(l), -1);
}

TEST(timer_tsc_deadline_mode)
{
	struct vlapic *l = setup(1, VLAPIC_F_TSC_DEADLINE);

	sw_enable(l);
	wr(l, LVT_T, VLAPIC_LVT_TIMER_TSC_DEADLINE | 0x49);
	CHECK_EQ(rd(l, LVT_T), VLAPIC_LVT_TIMER_TSC_DEADLINE | 0x49);
	mwr(l, MSR_IA32_TSC_DEADLINE, 50000);
	CHECK_EQ(mrd(l, MSR_IA32_TSC_DEADLINE), 50000);
	CHECK_EQ(vlapic_next_deadline(l), 50000);
	wr(l, VLAPIC_REG_TMICT, 1000); /* ignored in this mode */
	CHECK_EQ(rd(l, VLAPIC_REG_TMICT), 0);
	CHECK_EQ(rd(l, VLAPIC_REG_TMCCT), 0);
	CHECK_EQ(vlapic_next_deadline(l), 50000);
	vlapic_tick(l, 49999);
	CHECK_EQ(vlapic_pending_vector(l), -1);
	vlapic_tick(l, 50000);
	CHECK_EQ(ack(l), 0x49);
	T = 50001;
	CHECK_EQ(mrd(l, MSR_IA32_TSC_DEADLINE), 0); /* disarmed by the expiry */
	CHECK_EQ(vlapic_next_deadline(l), NONE);
	/* a write of 0 disarms */
	mwr(l, MSR_IA32_TSC_DEADLINE, 90000);
	mwr(l, MSR_IA32_TSC_DEADLINE, 0);
	CHECK_EQ(vlapic_next_deadline(l), NONE);
	vlapic_tick(l, 100000);
	CHECK_EQ(vlapic_pending_vector(l), -1);
	/* a deadline already passed fires at once */
	T = 200000;
	mwr(l, MSR_IA32_TSC_DEADLINE, 150000);
	CHECK_EQ(vlapic_pending_vector(l), 0x49);
	CHECK_EQ(mrd(l, MSR_IA32_TSC_DEADLINE), 0);
}

TEST(timer_tsc_deadline_mode_switches)
{
	struct vlapic *l = setup(1, VLAPIC_F_TSC_DEADLINE);

	sw_enable(l);
	/* outside TSC-deadline mode the MSR reads 0 and ignores writes */
	mwr(l, MSR_IA32_TSC_DEADLINE, 50000);
	CHECK_EQ(mrd(l, MSR_IA32_TSC_DEADLINE), 0);
	CHECK_EQ(vlapic_next_deadline(l), NONE);
	/* one-shot running -> TSC-deadline: stopped, initial count cleared */
	wr(l, LVT_T, 0x4a);
	wr(l, VLAPIC_REG_TMICT, 1000);
	wr(l, LVT_T, VLAPIC_LVT_TIMER_TSC_DEADLINE | 0x4a);
	CHECK_EQ(rd(l, VLAPIC_REG_TMICT), 0);
	CHECK_EQ(vlapic_next_deadline(l), NONE);
	/* armed deadline -> one-shot: disarmed, and it stays so back in TSC-deadline mode */
	mwr(l, MSR_IA32_TSC_DEADLINE, 70000);
	wr(l, LVT_T, 0x4a);
	CHECK_EQ(mrd(l, MSR_IA32_TSC_DEADLINE), 0);
	wr(l, LVT_T, VLAPIC_LVT_TIMER_TSC_DEADLINE | 0x4a);
	CHECK_EQ(mrd(l, MSR_IA32_TSC_DEADLINE), 0);
	vlapic_tick(l, 80000);
	CHECK_EQ(vlapic_pending_vector(l), -1);
	/* a masked deadline timer expires silently */
	wr(l, LVT_T, VLAPIC_LVT_TIMER_TSC_DEADLINE | VLAPIC_LVT_MASKED | 0x4a);
	mwr(l, MSR_IA32_TSC_DEADLINE, 90000);
	CHECK_EQ(vlapic_next_deadline(l), NONE);
	vlapic_tick(l, 90000);
	CHECK_EQ(vlapic_pending_vector(l), -1);
}

TEST(timer_tsc_deadline_not_advertised)
{
	struct vlapic *l = setup(1, 0);
	u64 v;

	sw_enable(l);
	CHECK_EQ(vlapic_msr_read(l, MSR_IA32_TSC_DEADLINE, &v, T), -EINVAL);
	CHECK_EQ(vlapic_msr_write(l, MSR_IA32_TSC_DEADLINE, 5000, T), -EINVAL);
	wr(l, LVT_T, VLAPIC_LVT_TIMER_TSC_DEADLINE | 0x4b); /* mode 2 is reserved: bit 18 drops, one-shot */
	CHECK_EQ(rd(l, LVT_T), 0x4b);
	wr(l, VLAPIC_REG_TMICT, 10);
	CHECK_EQ(vlapic_next_deadline(l), T + 40);
	/* with TSC-deadline, the reserved mode 3 counts as one-shot */
	l = setup(1, VLAPIC_F_TSC_DEADLINE);
	sw_enable(l);
	wr(l, LVT_T, VLAPIC_LVT_TIMER_MODE | 0x4b);
	wr(l, VLAPIC_REG_TMICT, 10);
	vlapic_tick(l, T + 40);
	CHECK_EQ(vlapic_pending_vector(l), 0x4b);
	CHECK_EQ(vlapic_next_deadline(l), NONE);
}

TEST(timer_illegal_vector_sets_esr)
{
	struct vlapic *l = setup(1, 0);

	sw_enable(l);
	wr(l, LVT_T, 0x05);
	wr(l, VLAPIC_REG_TMICT, 10);
	vlapic_tick(l, T + 40);
	CHECK_EQ(vlapic_pending_vector(l), -1);
	CHECK_EQ(esr(l), VLAPIC_ESR_RECV_ILLEGAL_VECTOR);
}

/* ---- IPIs ---- */

static void send_xapic(struct vlapic *l, u32 dest, u32 icr_lo)
{
	wr(l, VLAPIC_REG_ICR_HI, dest << 24);
	wr(l, VLAPIC_REG_ICR_LO, icr_lo);
}

TEST(icr_decodes_delivery_modes)
{
	struct vlapic *l = setup(2, 0);
	const struct {
		u32 icr;
		u8 dm, vector;
		bool level;
	} ok[] = {
	    {0x0030, VLAPIC_DM_FIXED, 0x30, false},
	    {0xc031, VLAPIC_DM_FIXED, 0x31, true},
	    {0x0132, VLAPIC_DM_LOWPRI, 0x32, false},
	    {0x0200, VLAPIC_DM_SMI, 0, false},
	    {0x0400, VLAPIC_DM_NMI, 0, false},
	    {0xc500, VLAPIC_DM_INIT, 0, true}, /* INIT assert, as Linux sends it */
	    {0x0500, VLAPIC_DM_INIT, 0, false},
	    {0x0698, VLAPIC_DM_SIPI, 0x98, false},
	};

	sw_enable(l);
	for (unsigned int i = 0; i < ARRAY_SIZE(ok); i++) {
		send_xapic(l, 1, ok[i].icr);
		CHECK_EQ(cpus[0].nipis, (int)i + 1);
		CHECK_EQ(cpus[0].ipi.dest, 1);
		CHECK_EQ(cpus[0].ipi.icr_lo, ok[i].icr);
		CHECK_EQ(cpus[0].ipi.delivery, ok[i].dm);
		CHECK_EQ(cpus[0].ipi.vector, ok[i].vector);
		CHECK_EQ(cpus[0].ipi.level, ok[i].level);
		CHECK_EQ(cpus[0].ipi.shorthand, VLAPIC_SH_NONE);
		CHECK(!cpus[0].ipi.logical && !cpus[0].ipi.x2apic);
		CHECK_EQ(rd(l, VLAPIC_REG_ICR_LO), ok[i].icr);
	}
	/* INIT level de-assert and the reserved modes send nothing */
	send_xapic(l, 1, 0x8500);
	send_xapic(l, 1, 0x0330);
	send_xapic(l, 1, 0x0730);
	CHECK_EQ(cpus[0].nipis, (int)ARRAY_SIZE(ok));
	/* delivery status reads idle; remote-read and reserved bits do not stick */
	send_xapic(l, 1, 0xfffd1030);
	CHECK_EQ(rd(l, VLAPIC_REG_ICR_LO), 0x000c0030);
	CHECK_EQ(cpus[0].ipi.shorthand, VLAPIC_SH_OTHERS);
	CHECK_EQ(esr(l), 0);
}

TEST(icr_shorthands_and_self)
{
	struct vlapic *l = setup(2, 0);
	struct vlapic *l1 = &cpus[1].lapic;

	sw_enable(l);
	sw_enable(l1);
	wr(l, VLAPIC_REG_ICR_LO, (VLAPIC_SH_SELF << 18) | 0x50);
	CHECK_EQ(cpus[0].nipis, 0);
	CHECK(irr(l, 0x50));
	send_xapic(l, 0, 0x51); /* physical, own ID: local too */
	CHECK_EQ(cpus[0].nipis, 0);
	CHECK(irr(l, 0x51));
	send_xapic(l, 5, (VLAPIC_SH_ALL << 18) | 0x52);
	CHECK_EQ(cpus[0].nipis, 1);
	CHECK_EQ(cpus[0].ipi.shorthand, VLAPIC_SH_ALL);
	send_xapic(l, 0, (VLAPIC_SH_OTHERS << 18) | 0x53);
	CHECK_EQ(cpus[0].nipis, 2);
	CHECK_EQ(cpus[0].ipi.shorthand, VLAPIC_SH_OTHERS);
	send_xapic(l, 0x01, VLAPIC_ICR_LOGICAL | 0x54); /* logical: the owner matches, even self */
	CHECK_EQ(cpus[0].nipis, 3);
	CHECK(cpus[0].ipi.logical);
	send_xapic(l, 0xff, 0x55); /* physical broadcast */
	CHECK_EQ(cpus[0].nipis, 4);
	/* with routing: all-including-self reaches both, all-excluding-self only the other */
	route = true;
	send_xapic(l, 0, (VLAPIC_SH_ALL << 18) | 0x60);
	CHECK(irr(l, 0x60) && irr(l1, 0x60));
	send_xapic(l, 0, (VLAPIC_SH_OTHERS << 18) | 0x61);
	CHECK(!irr(l, 0x61) && irr(l1, 0x61));
	send_xapic(l, 0xff, 0x62);
	CHECK(irr(l, 0x62) && irr(l1, 0x62));
	send_xapic(l, 1, 0x63);
	CHECK(!irr(l, 0x63) && irr(l1, 0x63));
	/* INIT to self through the shorthand resets the sender (and the ICR it was written through) */
	wr(l, VLAPIC_REG_TPR, 0x20);
	wr(l, VLAPIC_REG_ICR_LO, (VLAPIC_SH_SELF << 18) | 0xc500);
	CHECK(vlapic_take_init(l));
	CHECK_EQ(rd(l, VLAPIC_REG_TPR), 0);
	CHECK_EQ(rd(l, VLAPIC_REG_ICR_LO), 0);
}

TEST(match_dest_physical_logical)
{
	struct vlapic *l = setup(4, ALL_F);
	struct vlapic_ipi ipi = {0};

	for (int i = 0; i < 4; i++)
		wr(&cpus[i].lapic, VLAPIC_REG_LDR, 1u << (24 + i));
	/* physical */
	ipi.dest = 2;
	CHECK(vlapic_match_dest(&cpus[2].lapic, l, &ipi) && !vlapic_match_dest(&cpus[1].lapic, l, &ipi));
	ipi.dest = 0xff;
	for (int i = 0; i < 4; i++)
		CHECK(vlapic_match_dest(&cpus[i].lapic, l, &ipi));
	/* logical flat */
	ipi.logical = true;
	ipi.dest = 0x05;
	CHECK(vlapic_match_dest(&cpus[0].lapic, l, &ipi) && vlapic_match_dest(&cpus[2].lapic, l, &ipi));
	CHECK(!vlapic_match_dest(&cpus[1].lapic, l, &ipi) && !vlapic_match_dest(&cpus[3].lapic, l, &ipi));
	/* logical cluster: cluster 1, members 0x1 and 0x2 */
	for (int i = 0; i < 4; i++) {
		wr(&cpus[i].lapic, VLAPIC_REG_DFR, 0x0fffffff);
		wr(&cpus[i].lapic, VLAPIC_REG_LDR, (i < 2 ? 0x10u : 0x20u) << 24 | (1u << (24 + (i & 1))));
	}
	ipi.dest = 0x12;
	CHECK(vlapic_match_dest(&cpus[1].lapic, l, &ipi));
	CHECK(!vlapic_match_dest(&cpus[0].lapic, l, &ipi) && !vlapic_match_dest(&cpus[3].lapic, l, &ipi));
	ipi.dest = 0x23;
	CHECK(vlapic_match_dest(&cpus[2].lapic, l, &ipi) && vlapic_match_dest(&cpus[3].lapic, l, &ipi));
	CHECK(!vlapic_match_dest(&cpus[0].lapic, l, &ipi));
	/* shorthands */
	ipi.shorthand = VLAPIC_SH_SELF;
	CHECK(vlapic_match_dest(l, l, &ipi) && !vlapic_match_dest(&cpus[1].lapic, l, &ipi));
	ipi.shorthand = VLAPIC_SH_OTHERS;
	CHECK(!vlapic_match_dest(l, l, &ipi) && vlapic_match_dest(&cpus[1].lapic, l, &ipi));
	ipi.shorthand = VLAPIC_SH_ALL;
	CHECK(vlapic_match_dest(l, l, &ipi));
	/* a globally disabled APIC matches nothing */
	CHECK_EQ(vlapic_set_apic_base(&cpus[1].lapic, BASE, T), 0);
	CHECK(!vlapic_match_dest(&cpus[1].lapic, l, &ipi));
	/* x2APIC cluster: ID 0x13 is cluster 1, bit 3 */
	struct vlapic_config cfg = config(0, 0x13, ALL_F);
	l = setup_cfg(cfg);
	to_x2apic(l);
	ipi = (struct vlapic_ipi){.logical = true, .x2apic = true, .dest = 0x10008};
	CHECK(vlapic_match_dest(l, l, &ipi));
	ipi.dest = 0x20008;
	CHECK(!vlapic_match_dest(l, l, &ipi));
	ipi.dest = 0x10004;
	CHECK(!vlapic_match_dest(l, l, &ipi));
	ipi = (struct vlapic_ipi){.x2apic = true, .dest = 0x13};
	CHECK(vlapic_match_dest(l, l, &ipi));
	ipi.dest = 0xffffffff;
	CHECK(vlapic_match_dest(l, l, &ipi));
}

TEST(init_sipi_nmi_to_absent_and_present_ids)
{
	struct vlapic *l = setup(2, 0);
	struct vlapic *l1 = &cpus[1].lapic;
	u8 vec = 0;

	route = true;
	sw_enable(l);
	sw_enable(l1);
	wr(l1, VLAPIC_REG_TPR, 0x20);
	/* APIC ID 7 does not exist: the owner matches nobody, nothing changes anywhere */
	send_xapic(l, 7, 0xc500);
	send_xapic(l, 7, 0x0698);
	send_xapic(l, 7, 0x0400);
	CHECK_EQ(cpus[0].nipis, 3);
	for (int i = 0; i < 2; i++) {
		CHECK(!vlapic_take_init(&cpus[i].lapic));
		CHECK(!vlapic_take_sipi(&cpus[i].lapic, &vec));
		CHECK(!vlapic_take_nmi(&cpus[i].lapic));
	}
	CHECK_EQ(rd(l1, VLAPIC_REG_TPR), 0x20);
	CHECK_EQ(rd(l1, VLAPIC_REG_SVR), 0x1ff);
	/* the classic INIT-SIPI-SIPI to APIC 1 */
	send_xapic(l, 1, 0xc500);
	send_xapic(l, 1, 0x8500); /* de-assert: nothing */
	CHECK(vlapic_take_init(l1));
	CHECK(!vlapic_take_init(l1));
	CHECK_EQ(rd(l1, VLAPIC_REG_TPR), 0);
	CHECK_EQ(rd(l1, VLAPIC_REG_SVR), 0xff);
	CHECK_EQ(rd(l1, VLAPIC_REG_ID), 0x01000000);
	send_xapic(l, 1, 0x069a);
	CHECK(vlapic_take_sipi(l1, &vec));
	CHECK_EQ(vec, 0x9a);
	CHECK(!vlapic_take_sipi(l1, &vec));
	CHECK(!vlapic_take_init(l) && !vlapic_take_sipi(l, &vec));
	send_xapic(l, 1, 0x0400);
	CHECK(vlapic_take_nmi(l1) && !vlapic_take_nmi(l));
	/* SMI is decoded and passed on, but a target ignores it */
	CHECK(!vlapic_deliver(l1, 0x0200));
}

TEST(init_keeps_id_base_and_mode)
{
	struct vlapic_config cfg = config(0, 0x123, ALL_F);
	struct vlapic *l = setup_cfg(cfg);

	sw_enable(l);
	wr(l, VLAPIC_REG_ID, 0x09000000);
	CHECK_EQ(vlapic_set_apic_base(l, 0xfec00000 | EN | APIC_BASE_BSP, T), 0);
	wr(l, LVT_T, 0x40);
	wr(l, VLAPIC_REG_TMICT, 100);
	CHECK(vlapic_deliver(l, 0xc500));
	CHECK_EQ(vlapic_get_apic_base(l), 0xfec00000 | EN | APIC_BASE_BSP);
	check_reset_regs(l, 0x09000000);
	to_x2apic(l);
	mwr(l, X2(VLAPIC_REG_SVR), 0x1ff);
	mwr(l, X2(VLAPIC_REG_TPR), 0x10);
	CHECK(vlapic_deliver(l, 0xc500));
	CHECK_EQ(vlapic_mode(l), VLAPIC_MODE_X2APIC);
	CHECK_EQ(mrd(l, X2(VLAPIC_REG_ID)), 0x123);
	CHECK_EQ(mrd(l, X2(VLAPIC_REG_LDR)), 0x00120008);
	CHECK_EQ(mrd(l, X2(VLAPIC_REG_TPR)), 0);
	CHECK_EQ(mrd(l, X2(VLAPIC_REG_SVR)), 0xff);
}

/* ---- hostility ---- */

static u64 rng_state = 0x9e3779b97f4a7c15ULL;

static u64 rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Random register, MSR, APIC base, IPI and time traffic on two routed APICs. Nothing may crash (ASan/UBSan watch),
 * and after every step the model's invariants hold: PPR follows TPR and ISR, no IRR bit below 16, and a catch-up to
 * `now` leaves no expiry in the past. */
TEST(hostile_guest_fuzz)
{
	struct vlapic *l = setup(2, ALL_F);
	u64 now = 0;
	u64 v;

	route = true;
	for (int it = 0; it < 300000; it++) {
		struct vlapic *a = &cpus[rnd() & 1].lapic;
		u64 r = rnd(), val = rnd();

		switch (r % 9) {
		case 0:
		case 1:
			vlapic_mmio_write(a, (u32)(val >> 32) % 0x400 & ~0xfu, 4, (r & 8) ? val >> 40 : val, now);
			break;
		case 2:
			vlapic_mmio_read(a, (u32)(val % PAGE_SIZE), 1u << (r >> 8) % 4, &v, now);
			break;
		case 3:
			vlapic_msr_write(a, 0x800 + (u32)(r >> 8) % 0x40, (r & 0x10000) ? val : val & 0xffffffffu, now);
			break;
		case 4:
			vlapic_msr_read(a, 0x800 + (u32)(r >> 8) % 0x100, &v, now);
			vlapic_msr_write(a, MSR_IA32_TSC_DEADLINE, now + (val & 0xffffff), now);
			break;
		case 5: {
			const u64 bases[] = {BASE, BASE | EN, BASE | EN | EXTD, val};
			vlapic_set_apic_base(a, bases[(r >> 8) % 4], now);
			break;
		}
		case 6:
			vlapic_set_irq(a, (u8)val, val & 0x100);
			vlapic_deliver(a, (u32)val);
			break;
		case 7: {
			int p = vlapic_pending_vector(a);
			CHECK(p == -1 || (p >= 16 && p < 256));
			if (p >= 0)
				vlapic_accept(a, (u8)p);
			break;
		}
		default:
			now += (r & 0x100) ? val % (1ULL << 36) : val % 4096;
			vlapic_tick(a, now);
			u64 d = vlapic_next_deadline(a);
			CHECK(d == NONE || d > now);
			break;
		}
		u32 tpr = a->regs[VLAPIC_REG_TPR / 4], ppr = a->regs[VLAPIC_REG_PPR / 4], isrv = 0;
		for (int i = 7; i >= 0 && !isrv; i--)
			if (a->regs[(VLAPIC_REG_ISR + i * 0x10) / 4])
				isrv = (u32)i * 32 + 31 - (u32)__builtin_clz(a->regs[(VLAPIC_REG_ISR + i * 0x10) / 4]);
		CHECK_EQ(ppr, (tpr & 0xf0) >= (isrv & 0xf0) ? tpr : (isrv & 0xf0));
		CHECK_EQ(a->regs[VLAPIC_REG_IRR / 4] & 0xffff, 0);
		CHECK_EQ(a->regs[VLAPIC_REG_ICR_LO / 4] & VLAPIC_ICR_STATUS, 0);
	}
	(void)l;
}
