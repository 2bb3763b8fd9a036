/* The fake vCPUs that own the vlapics of the vLAPIC tests (vlapic_fixture.h), with the IPI routing between them,
 * and the register, MSR and power-up-state helpers. */
#include <string.h>

#include "vlapic_fixture.h"

u32 pages[NCPU][1024] __attribute__((aligned(4096)));
struct fake_cpu cpus[NCPU];
int ncpus;
bool route;
u64 T;

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

struct vlapic_config config(int i, u32 id, u32 features)
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

struct vlapic *setup(int n, u32 features)
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

struct vlapic *setup_cfg(struct vlapic_config cfg)
{
	memset(cpus, 0, sizeof(cpus));
	ncpus = 1;
	route = false;
	T = 1000;
	CHECK_EQ(vlapic_init(&cpus[0].lapic, &cfg), 0);
	return &cpus[0].lapic;
}

u32 rd(struct vlapic *l, u32 off)
{
	u64 v = 0xdeadbeef;

	CHECK_EQ(vlapic_mmio_read(l, off, 4, &v, T), 0);
	return (u32)v;
}

void wr(struct vlapic *l, u32 off, u32 val)
{
	CHECK_EQ(vlapic_mmio_write(l, off, 4, val, T), 0);
}

u64 mrd(struct vlapic *l, u32 msr)
{
	u64 v = 0xdeadbeef;

	CHECK_EQ(vlapic_msr_read(l, msr, &v, T), 0);
	return v;
}

void mwr(struct vlapic *l, u32 msr, u64 val)
{
	CHECK_EQ(vlapic_msr_write(l, msr, val, T), 0);
}

u32 esr(struct vlapic *l)
{
	wr(l, VLAPIC_REG_ESR, 0);
	return rd(l, VLAPIC_REG_ESR);
}

void sw_enable(struct vlapic *l)
{
	wr(l, VLAPIC_REG_SVR, 0x1ff);
}

void to_x2apic(struct vlapic *l)
{
	CHECK_EQ(vlapic_set_apic_base(l, vlapic_get_apic_base(l) | EXTD, T), 0);
}

bool irr(struct vlapic *l, u8 v)
{
	return rd(l, VLAPIC_REG_IRR + (v >> 5) * 0x10) & (1u << (v & 31));
}

bool isr(struct vlapic *l, u8 v)
{
	return rd(l, VLAPIC_REG_ISR + (v >> 5) * 0x10) & (1u << (v & 31));
}

const u32 all_lvts[] = {VLAPIC_REG_LVT_CMCI,  VLAPIC_REG_LVT_TIMER, VLAPIC_REG_LVT_THERMAL, VLAPIC_REG_LVT_PERF,
			VLAPIC_REG_LVT_LINT0, VLAPIC_REG_LVT_LINT1, VLAPIC_REG_LVT_ERROR};

void check_reset_regs(struct vlapic *l, u32 id_reg)
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
