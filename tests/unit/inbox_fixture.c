/* The fake vCPU that owns the vLAPIC behind the inbox tests (inbox_fixture.h), its callbacks, and the register
 * helpers that read the vLAPIC back. */
#include <string.h>

#include "inbox_fixture.h"

static u32 page[1024] __attribute__((aligned(4096)));
struct vlapic lapic;
struct owner own;
struct vcpu_inbox box;

static void fake_send_ipi(void *o, const struct vlapic_ipi *ipi)
{
	((struct owner *)o)->nipis++;
}

static void fake_kick(void *o)
{
	((struct owner *)o)->kicks++;
}

static void fake_eoi(void *o, u8 vector)
{
	struct owner *w = o;

	w->neoi++;
	w->eoi[vector]++;
}

void dropped_level(void *o, u8 vector)
{
	struct owner *w = o;

	w->ndropped++;
	w->dropped[vector]++;
}

static const struct vlapic_ops ops = {.send_ipi = fake_send_ipi, .kick = fake_kick, .eoi = fake_eoi};

u32 rd(u32 off)
{
	u64 v = 0xdeadbeef;

	CHECK_EQ(vlapic_mmio_read(&lapic, off, 4, &v, T), 0);
	return (u32)v;
}

void wr(u32 off, u32 val)
{
	CHECK_EQ(vlapic_mmio_write(&lapic, off, 4, val, T), 0);
}

struct vlapic *setup(bool enable)
{
	struct vlapic_config cfg = {
	    .apic_id = 0,
	    .bsp = true,
	    .maxphyaddr = 39,
	    .tsc_hz = 2000000000ULL,
	    .page = page,
	    .ops = &ops,
	    .owner = &own,
	};

	memset(&own, 0, sizeof(own));
	memset(&box, 0, sizeof(box));
	CHECK_EQ(vlapic_init(&lapic, &cfg), 0);
	if (enable) {
		wr(VLAPIC_REG_SVR, VLAPIC_SVR_ENABLE | 0xff);
		CHECK(vlapic_accepts_fixed(&lapic));
	} else {
		CHECK(!vlapic_accepts_fixed(&lapic));
	}
	return &lapic;
}

static void vec_reg(u32 base, u64 out[4])
{
	memset(out, 0, 4 * sizeof(u64));
	for (u32 i = 0; i < 8; i++)
		out[i / 2] |= (u64)rd(base + i * 0x10) << (32 * (i % 2));
}

void check_vec_reg(u32 base, const u64 want[4])
{
	u64 got[4];

	vec_reg(base, got);
	for (int i = 0; i < 4; i++)
		if (got[i] != want[i])
			test_fail(__FILE__, __LINE__, "register 0x%x vectors %d-%d: 0x%016" PRIx64 " != 0x%016" PRIx64,
				  base, i * 64, i * 64 + 63, got[i], want[i]);
}

const u64 none[4];

u32 esr(void)
{
	wr(VLAPIC_REG_ESR, 0);
	return rd(VLAPIC_REG_ESR);
}
