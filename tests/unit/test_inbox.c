/* Unit tests of a vCPU's inbox (vm/inbox.c) drained into a real vLAPIC (vm/dev/vlapic*.c): every delivery mode the
 * inbox carries lands in the vLAPIC as vlapic_deliver() would put it there, the ones it does not carry are refused,
 * and, with poster threads racing the owner's drains, no post is ever lost and nothing unposted ever appears. */
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "vm/dev/vlapic.h"
#include "vm/inbox.h"

#define T 1000ULL /* the time passed to the vLAPIC's register accessors; the timer is never used */

/* ICR low words as the senders build them: IPIs carry the assert bit, IOAPIC messages do not. */
#define EDGE(v)	      ((u32)(v))
#define LEVEL(v)      ((u32)(v) | VLAPIC_ICR_LEVEL | VLAPIC_ICR_ASSERT)
#define DM(m)	      ((u32)(m) << VLAPIC_ICR_DM_SHIFT)
#define LOWPRI(v)     (DM(VLAPIC_DM_LOWPRI) | (u32)(v))
#define IOAPIC_LVL(v) ((u32)(v) | VLAPIC_ICR_LEVEL) /* as vm/irq.c's ioapic_deliver builds it */
#define NMI	      (DM(VLAPIC_DM_NMI) | VLAPIC_ICR_ASSERT)
#define INIT	      (DM(VLAPIC_DM_INIT) | VLAPIC_ICR_ASSERT)
#define SIPI(v)	      (DM(VLAPIC_DM_SIPI) | VLAPIC_ICR_ASSERT | (u32)(v))

/* The vCPU that owns the vLAPIC: counts every callback, per vector where there is one. */
struct owner {
	int kicks;
	int nipis;
	int neoi;
	int eoi[256];
	int ndropped;
	int dropped[256];
};

static u32 page[1024] __attribute__((aligned(4096)));
static struct vlapic lapic;
static struct owner own;
static struct vcpu_inbox box;

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

static void dropped_level(void *o, u8 vector)
{
	struct owner *w = o;

	w->ndropped++;
	w->dropped[vector]++;
}

static const struct vlapic_ops ops = {.send_ipi = fake_send_ipi, .kick = fake_kick, .eoi = fake_eoi};

static u32 rd(u32 off)
{
	u64 v = 0xdeadbeef;

	CHECK_EQ(vlapic_mmio_read(&lapic, off, 4, &v, T), 0);
	return (u32)v;
}

static void wr(u32 off, u32 val)
{
	CHECK_EQ(vlapic_mmio_write(&lapic, off, 4, val, T), 0);
}

/* A fresh, empty inbox and a vLAPIC in its power-up state (software-disabled), optionally software-enabled. */
static struct vlapic *setup(bool enable)
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

static bool drain(void)
{
	return inbox_drain(&box, &lapic, dropped_level, &own);
}

/* One of the 256-bit registers (IRR, ISR, TMR) as four 64-bit words, vector v at bit v % 64 of word v / 64. */
static void vec_reg(u32 base, u64 out[4])
{
	memset(out, 0, 4 * sizeof(u64));
	for (u32 i = 0; i < 8; i++)
		out[i / 2] |= (u64)rd(base + i * 0x10) << (32 * (i % 2));
}

static void check_vec_reg(u32 base, const u64 want[4])
{
	u64 got[4];

	vec_reg(base, got);
	for (int i = 0; i < 4; i++)
		if (got[i] != want[i])
			test_fail(__FILE__, __LINE__, "register 0x%x vectors %d-%d: 0x%016" PRIx64 " != 0x%016" PRIx64,
				  base, i * 64, i * 64 + 63, got[i], want[i]);
}

static const u64 none[4];

static void set_vec(u64 m[4], u8 v)
{
	m[v / 64] |= 1ULL << (v % 64);
}

static u32 esr(void)
{
	wr(VLAPIC_REG_ESR, 0);
	return rd(VLAPIC_REG_ESR);
}

/* Take the pending interrupt as the owner does at injection, and EOI it; -1 if there is none. */
static int ack(void)
{
	int v = vlapic_pending_vector(&lapic);

	if (v >= 0) {
		vlapic_accept(&lapic, (u8)v);
		wr(VLAPIC_REG_EOI, 0);
	}
	return v;
}

/* ---- fixed and lowest-priority messages ---- */

TEST(fixed_edge_lands_in_irr)
{
	u64 irr[4] = {0};

	setup(true);
	CHECK(inbox_post(&box, EDGE(0x40)));
	/* Posting never touches the vLAPIC: only the owner's drain does. */
	check_vec_reg(VLAPIC_REG_IRR, none);
	CHECK_EQ(own.kicks, 0);
	CHECK(inbox_pending(&box));

	CHECK(drain());
	set_vec(irr, 0x40);
	check_vec_reg(VLAPIC_REG_IRR, irr);
	check_vec_reg(VLAPIC_REG_TMR, none);
	check_vec_reg(VLAPIC_REG_ISR, none);
	CHECK_EQ(own.kicks, 1);
	CHECK(!inbox_pending(&box));
	CHECK(!drain());

	CHECK_EQ(ack(), 0x40);
	CHECK_EQ(own.neoi, 0); /* edge: no EOI broadcast */
	CHECK_EQ(ack(), -1);
	CHECK_EQ(own.ndropped, 0);
	CHECK_EQ(esr(), 0);
}

TEST(fixed_level_sets_tmr)
{
	u64 irr[4] = {0}, tmr[4] = {0};

	setup(true);
	CHECK(inbox_post(&box, LEVEL(0x51)));
	CHECK(inbox_post(&box, IOAPIC_LVL(0xa2))); /* an IOAPIC message: level, no assert bit */
	CHECK(inbox_post(&box, LOWPRI(0x90)));	   /* lowest priority lands like fixed */
	CHECK(inbox_post(&box, LOWPRI(0xc3) | VLAPIC_ICR_LEVEL));
	CHECK(drain());
	set_vec(irr, 0x51);
	set_vec(irr, 0xa2);
	set_vec(irr, 0x90);
	set_vec(irr, 0xc3);
	set_vec(tmr, 0x51);
	set_vec(tmr, 0xa2);
	set_vec(tmr, 0xc3);
	check_vec_reg(VLAPIC_REG_IRR, irr);
	check_vec_reg(VLAPIC_REG_TMR, tmr);
	CHECK_EQ(own.kicks, 4);

	/* The TMR bit is what makes the EOI reach the IOAPIC. */
	CHECK_EQ(ack(), 0xc3);
	CHECK_EQ(own.neoi, 1);
	CHECK_EQ(own.eoi[0xc3], 1);
	CHECK_EQ(ack(), 0xa2);
	CHECK_EQ(own.eoi[0xa2], 1);
	CHECK_EQ(ack(), 0x90);
	CHECK_EQ(own.neoi, 2);
	CHECK_EQ(ack(), 0x51);
	CHECK_EQ(own.eoi[0x51], 1);
	CHECK_EQ(own.neoi, 3);
	CHECK_EQ(ack(), -1);
	CHECK_EQ(own.ndropped, 0);
}

TEST(trigger_mode_follows_the_latest_drained_post)
{
	u64 v51[4] = {0};

	set_vec(v51, 0x51);
	setup(true);
	/* Level, then edge of the same vector before one drain: they coalesce and the last mode is the one the
	 * vLAPIC sees, as two vlapic_set_irq() calls in that order would leave TMR. */
	CHECK(inbox_post(&box, LEVEL(0x51)));
	CHECK(inbox_post(&box, EDGE(0x51)));
	CHECK(drain());
	check_vec_reg(VLAPIC_REG_IRR, v51);
	check_vec_reg(VLAPIC_REG_TMR, none);

	/* Edge then level: level. */
	CHECK(inbox_post(&box, EDGE(0x51)));
	CHECK(inbox_post(&box, LEVEL(0x51)));
	CHECK(drain());
	check_vec_reg(VLAPIC_REG_IRR, v51);
	check_vec_reg(VLAPIC_REG_TMR, v51);

	/* A later drain of an edge post clears the TMR bit a level one left. */
	CHECK_EQ(ack(), 0x51);
	CHECK_EQ(own.eoi[0x51], 1);
	CHECK(inbox_post(&box, EDGE(0x51)));
	CHECK(drain());
	check_vec_reg(VLAPIC_REG_TMR, none);
	CHECK_EQ(ack(), 0x51);
	CHECK_EQ(own.eoi[0x51], 1);
}

TEST(same_vector_coalesces)
{
	u64 irr[4] = {0};

	setup(true);
	set_vec(irr, 0x77);
	CHECK(inbox_post(&box, EDGE(0x77)));
	CHECK(inbox_post(&box, EDGE(0x77)));
	CHECK(inbox_post(&box, LOWPRI(0x77)));
	CHECK(drain());
	check_vec_reg(VLAPIC_REG_IRR, irr);
	CHECK_EQ(own.kicks, 1); /* set once */
	CHECK_EQ(ack(), 0x77);
	CHECK_EQ(ack(), -1); /* delivered once */
	CHECK(!drain());

	/* A post after the drain is a new interrupt. */
	CHECK(inbox_post(&box, EDGE(0x77)));
	CHECK(drain());
	check_vec_reg(VLAPIC_REG_IRR, irr);
	CHECK_EQ(ack(), 0x77);
	CHECK_EQ(ack(), -1);
	CHECK_EQ(own.kicks, 2);
}

TEST(vectors_in_every_word)
{
	static const u8 vecs[] = {16, 63, 64, 127, 128, 191, 192, 255};
	u64 irr[4] = {0}, tmr[4] = {0};

	setup(true);
	CHECK(!inbox_pending(&box));
	for (unsigned int i = 0; i < sizeof(vecs); i++) {
		bool level = i % 2;
		CHECK(inbox_post(&box, level ? LEVEL(vecs[i]) : EDGE(vecs[i])));
		CHECK(inbox_pending(&box));
		set_vec(irr, vecs[i]);
		if (level)
			set_vec(tmr, vecs[i]);
	}
	check_vec_reg(VLAPIC_REG_IRR, none);
	CHECK(drain());
	CHECK(!inbox_pending(&box));
	check_vec_reg(VLAPIC_REG_IRR, irr);
	check_vec_reg(VLAPIC_REG_TMR, tmr);
	CHECK_EQ(own.kicks, (int)sizeof(vecs));
	CHECK(!drain());

	/* Highest first, each exactly once, and the level ones (odd positions) EOI the IOAPIC. */
	for (int i = (int)sizeof(vecs) - 1; i >= 0; i--) {
		CHECK_EQ(ack(), vecs[i]);
		CHECK_EQ(own.eoi[vecs[i]], i % 2);
	}
	CHECK_EQ(ack(), -1);
	CHECK_EQ(own.neoi, (int)sizeof(vecs) / 2);
	check_vec_reg(VLAPIC_REG_IRR, none);
	check_vec_reg(VLAPIC_REG_ISR, none);
}

TEST(pending_and_empty_drain)
{
	static const u32 msgs[] = {EDGE(0x30), LEVEL(0xff), LOWPRI(0x80), NMI, INIT, SIPI(0x9a)};

	setup(true);
	CHECK(!inbox_pending(&box));
	CHECK(!drain());
	CHECK(!inbox_drain(&box, &lapic, NULL, NULL));
	check_vec_reg(VLAPIC_REG_IRR, none);
	CHECK_EQ(own.kicks, 0);

	/* Each kind alone makes the inbox pending, and one drain empties it. */
	for (unsigned int i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		setup(true);
		CHECK(inbox_post(&box, msgs[i]));
		CHECK(inbox_pending(&box));
		CHECK(drain());
		CHECK(!inbox_pending(&box));
		CHECK(!drain());
		CHECK_EQ(own.kicks, 1);
	}
}

/* ---- what the vLAPIC refuses ---- */

TEST(illegal_vector_sets_esr)
{
	u64 want[4] = {0};

	for (u8 v = 0; v < 16; v++) {
		setup(true);
		CHECK(inbox_post(&box, EDGE(v))); /* the inbox carries it; the vLAPIC judges it */
		CHECK(drain());
		check_vec_reg(VLAPIC_REG_IRR, none);
		CHECK_EQ(esr(), VLAPIC_ESR_RECV_ILLEGAL_VECTOR);
		CHECK_EQ(own.kicks, 0);
		CHECK_EQ(own.ndropped, 0);
	}

	/* Exactly as vlapic_set_irq reports it: the unmasked error LVT raises its vector. */
	setup(true);
	wr(VLAPIC_REG_LVT_ERROR, 0xe0);
	CHECK(inbox_post(&box, EDGE(3)));
	CHECK(inbox_post(&box, EDGE(16))); /* the first legal vector: no error */
	CHECK(drain());
	set_vec(want, 0xe0);
	set_vec(want, 16);
	check_vec_reg(VLAPIC_REG_IRR, want);
	CHECK_EQ(esr(), VLAPIC_ESR_RECV_ILLEGAL_VECTOR);
	CHECK_EQ(ack(), 0xe0);
	CHECK_EQ(ack(), 16);
	CHECK_EQ(ack(), -1);

	/* A legal vector alone records nothing. */
	setup(true);
	CHECK(inbox_post(&box, LEVEL(16)));
	CHECK(drain());
	CHECK_EQ(esr(), 0);
}

TEST(disabled_vlapic_reports_dropped_level)
{
	setup(false); /* power-up: software-disabled */
	CHECK(inbox_post(&box, LEVEL(0x61)));
	CHECK(inbox_post(&box, IOAPIC_LVL(0xb1)));
	CHECK(inbox_post(&box, LOWPRI(0x99) | VLAPIC_ICR_LEVEL));
	CHECK(inbox_post(&box, LEVEL(0x61))); /* coalesces: one message, one report */
	CHECK(inbox_post(&box, EDGE(0x62)));
	CHECK(inbox_post(&box, LOWPRI(0x63)));
	CHECK(drain());
	CHECK(!inbox_pending(&box));
	CHECK_EQ(own.ndropped, 3);
	CHECK_EQ(own.dropped[0x61], 1);
	CHECK_EQ(own.dropped[0xb1], 1);
	CHECK_EQ(own.dropped[0x99], 1);
	check_vec_reg(VLAPIC_REG_IRR, none);
	check_vec_reg(VLAPIC_REG_TMR, none);
	CHECK_EQ(own.kicks, 0);
	CHECK_EQ(own.neoi, 0);
	CHECK(!drain());
	CHECK_EQ(own.ndropped, 3);

	/* Without a callback the drops are silent, and nothing lands either. */
	CHECK(inbox_post(&box, LEVEL(0x61)));
	CHECK(inbox_drain(&box, &lapic, NULL, &own));
	CHECK_EQ(own.ndropped, 3);
	check_vec_reg(VLAPIC_REG_IRR, none);

	/* Software-disabled after having been enabled: the same, and what was already in IRR stays (SDM 11.4.7.2). */
	setup(true);
	CHECK(inbox_post(&box, LEVEL(0x70)));
	CHECK(drain());
	wr(VLAPIC_REG_SVR, 0xff);
	CHECK(inbox_post(&box, LEVEL(0x71)));
	CHECK(inbox_post(&box, EDGE(0x72)));
	CHECK(drain());
	CHECK_EQ(own.ndropped, 1);
	CHECK_EQ(own.dropped[0x71], 1);
	{
		u64 irr[4] = {0};
		set_vec(irr, 0x70);
		check_vec_reg(VLAPIC_REG_IRR, irr);
	}

	/* An enabled vLAPIC drops nothing, so reports nothing. */
	setup(true);
	CHECK(inbox_post(&box, LEVEL(0x61)));
	CHECK(drain());
	CHECK_EQ(own.ndropped, 0);

	/* Globally disabled (IA32_APIC_BASE.EN clear): level messages are reported too. */
	setup(true);
	CHECK_EQ(vlapic_set_apic_base(&lapic, vlapic_get_apic_base(&lapic) & ~(u64)APIC_BASE_ENABLE, T), 0);
	CHECK(inbox_post(&box, LEVEL(0x44)));
	CHECK(inbox_post(&box, EDGE(0x45)));
	CHECK(drain());
	CHECK_EQ(own.ndropped, 1);
	CHECK_EQ(own.dropped[0x44], 1);
	CHECK_EQ(vlapic_pending_vector(&lapic), -1);
}

/* ---- INIT, SIPI, NMI ---- */

TEST(init_then_sipi_in_one_drain)
{
	u8 vec = 0;

	setup(true);
	wr(VLAPIC_REG_TPR, 0x20);
	CHECK(inbox_post(&box, INIT));
	CHECK(inbox_post(&box, SIPI(0x9a)));
	CHECK(!vlapic_take_init(&lapic)); /* nothing reaches the vLAPIC before the drain */
	CHECK(!vlapic_take_sipi(&lapic, &vec));
	CHECK(drain());
	CHECK(!inbox_pending(&box));
	/* The INIT reached the vLAPIC as an INIT: it is back in the INIT state. */
	CHECK_EQ(rd(VLAPIC_REG_SVR), 0xff);
	CHECK_EQ(rd(VLAPIC_REG_TPR), 0);
	CHECK(vlapic_take_init(&lapic));
	CHECK(!vlapic_take_init(&lapic));
	/* And the SIPI came after it (an INIT discards a SIPI already pending in the vLAPIC). */
	CHECK(vlapic_take_sipi(&lapic, &vec));
	CHECK_EQ(vec, 0x9a);
	CHECK(!vlapic_take_sipi(&lapic, &vec));
	CHECK(!vlapic_take_nmi(&lapic));
	check_vec_reg(VLAPIC_REG_IRR, none);
	CHECK(!drain());
}

/* Fed to a vLAPIC in this order, the INIT cancels the SIPI before it: the inbox must not turn it around. */
TEST(sipi_before_init_is_cancelled)
{
	u8 vec = 0;

	setup(true);
	CHECK(inbox_post(&box, SIPI(0x12)));
	CHECK(inbox_post(&box, INIT));
	CHECK(drain());
	CHECK(vlapic_take_init(&lapic));
	CHECK(!vlapic_take_sipi(&lapic, &vec));
	/* INIT, SIPI, INIT: the last INIT leaves the vCPU waiting. */
	CHECK(inbox_post(&box, INIT));
	CHECK(inbox_post(&box, SIPI(0x34)));
	CHECK(inbox_post(&box, INIT));
	CHECK(drain());
	CHECK(vlapic_take_init(&lapic));
	CHECK(!vlapic_take_sipi(&lapic, &vec));
	/* And a SIPI after that INIT still counts. */
	CHECK(inbox_post(&box, INIT));
	CHECK(inbox_post(&box, SIPI(0x56)));
	CHECK(drain());
	CHECK(vlapic_take_init(&lapic));
	CHECK(vlapic_take_sipi(&lapic, &vec));
	CHECK_EQ(vec, 0x56);
}

/* A software-disabled but globally enabled vLAPIC still records an illegal vector in the ESR, as vlapic_set_irq
 * does; it is not a dropped level interrupt. */
TEST(illegal_vector_on_soft_disabled_vlapic_sets_esr)
{
	setup(false);
	CHECK(inbox_post(&box, 5 | VLAPIC_ICR_LEVEL));
	CHECK(drain());
	CHECK_EQ(esr(), VLAPIC_ESR_RECV_ILLEGAL_VECTOR);
	CHECK_EQ(own.ndropped, 0);
}

TEST(init_drops_fixed_posted_with_it)
{
	setup(true);
	/* Fixed messages drained with an INIT meet a vLAPIC in the INIT state (software-disabled): they are dropped,
	 * and a level one is reported so its IOAPIC pin is not left waiting for an EOI. */
	CHECK(inbox_post(&box, LEVEL(0x70)));
	CHECK(inbox_post(&box, EDGE(0x71)));
	CHECK(inbox_post(&box, INIT));
	CHECK(drain());
	CHECK(vlapic_take_init(&lapic));
	check_vec_reg(VLAPIC_REG_IRR, none);
	CHECK_EQ(vlapic_pending_vector(&lapic), -1);
	CHECK_EQ(own.ndropped, 1);
	CHECK_EQ(own.dropped[0x70], 1);
}

TEST(last_sipi_wins)
{
	u8 vec = 0;

	setup(false); /* a software-disabled vLAPIC still takes SIPI */
	CHECK(inbox_post(&box, SIPI(0x10)));
	CHECK(inbox_post(&box, SIPI(0x20)));
	CHECK(drain());
	CHECK(!vlapic_take_init(&lapic));
	CHECK(vlapic_take_sipi(&lapic, &vec));
	CHECK_EQ(vec, 0x20);
	CHECK(!vlapic_take_sipi(&lapic, &vec));
	CHECK_EQ(own.kicks, 1);

	/* Across drains each SIPI arrives with its own vector. */
	CHECK(inbox_post(&box, SIPI(0x30)));
	CHECK(drain());
	CHECK(inbox_post(&box, SIPI(0x00)));
	CHECK(drain());
	CHECK(vlapic_take_sipi(&lapic, &vec));
	CHECK_EQ(vec, 0x00); /* the vLAPIC's own last-wins */
	CHECK(!vlapic_take_sipi(&lapic, &vec));
}

TEST(nmi_taken_once)
{
	setup(false); /* a software-disabled vLAPIC still takes NMI */
	CHECK(inbox_post(&box, NMI));
	CHECK(inbox_post(&box, NMI | 0x33)); /* the vector field of an NMI is ignored */
	CHECK(!vlapic_take_nmi(&lapic));
	CHECK(drain());
	CHECK(vlapic_take_nmi(&lapic));
	CHECK(!vlapic_take_nmi(&lapic));
	CHECK(!vlapic_take_init(&lapic));
	check_vec_reg(VLAPIC_REG_IRR, none);
	CHECK_EQ(own.kicks, 1);
	CHECK(!drain());
	CHECK(!vlapic_take_nmi(&lapic));

	CHECK(inbox_post(&box, NMI));
	CHECK(drain());
	CHECK(vlapic_take_nmi(&lapic));
	CHECK(!vlapic_take_nmi(&lapic));
}

/* ---- what the inbox does not carry ---- */

TEST(unsupported_modes_refused)
{
	static const u32 extra[] = {0,
				    0x10,
				    0xff,
				    VLAPIC_ICR_LEVEL | 0x42,
				    VLAPIC_ICR_ASSERT | 0x80,
				    VLAPIC_ICR_LEVEL | VLAPIC_ICR_ASSERT | 0x05};
	static const u8 refused[] = {VLAPIC_DM_SMI, 3, VLAPIC_DM_EXTINT};
	struct vcpu_inbox empty, before;

	setup(true);
	memset(&empty, 0, sizeof(empty));
	for (unsigned int m = 0; m < sizeof(refused); m++)
		for (unsigned int i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
			CHECK(!inbox_post(&box, DM(refused[m]) | extra[i]));
			CHECK(memcmp(&box, &empty, sizeof(box)) == 0);
			CHECK(!inbox_pending(&box));
		}
	CHECK(!drain());

	/* Nor do they disturb what is already posted. */
	CHECK(inbox_post(&box, LEVEL(0x50)));
	CHECK(inbox_post(&box, SIPI(0x12)));
	memcpy(&before, &box, sizeof(box));
	for (unsigned int m = 0; m < sizeof(refused); m++)
		for (unsigned int i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
			CHECK(!inbox_post(&box, DM(refused[m]) | extra[i]));
			CHECK(memcmp(&box, &before, sizeof(box)) == 0);
		}
	CHECK(drain());
	{
		u64 irr[4] = {0};
		u8 vec = 0;
		set_vec(irr, 0x50);
		check_vec_reg(VLAPIC_REG_IRR, irr);
		check_vec_reg(VLAPIC_REG_TMR, irr);
		CHECK(vlapic_take_sipi(&lapic, &vec));
		CHECK_EQ(vec, 0x12);
		CHECK(!vlapic_take_nmi(&lapic));
		CHECK(!vlapic_take_init(&lapic));
	}
	CHECK_EQ(own.nipis, 0);

	/* Every mode the inbox does carry is accepted. */
	CHECK(inbox_post(&box, DM(VLAPIC_DM_FIXED) | 0x20));
	CHECK(inbox_post(&box, DM(VLAPIC_DM_LOWPRI) | 0x20));
	CHECK(inbox_post(&box, DM(VLAPIC_DM_NMI)));
	CHECK(inbox_post(&box, DM(VLAPIC_DM_INIT) | VLAPIC_ICR_ASSERT));
	CHECK(inbox_post(&box, DM(VLAPIC_DM_SIPI) | 0x20));
}

/* ---- concurrency ---- */

/* Three senders post known vector sets while the owner drains and takes everything, continuously. Each post is
 * logged with the drain round that was current when it began, and the owner logs, per round, how far each sender's
 * returned posts reach before that round's drain. Posts of one vector coalesce, so deliveries are not counted one
 * for one, but after the senders are joined these must hold:
 *   - never lost: every post is delivered by a drain no earlier than the round current when it began and no later
 *     than the first drain that began after it returned (so the last post of each vector is delivered);
 *   - never invented: the j-th delivery of a vector (in round order) has at least j posts of it that began no later
 *     than that round; a vector nobody posted is never delivered; one drain delivers a vector at most once;
 *   - nothing is left: after the final drain the inbox, IRR and ISR are empty;
 *   - a vector always posted level makes one IOAPIC EOI per delivery, an edge one none.
 * Each sender posts a few hot vectors shared with the others (coalescing across senders) and many cold ones of its
 * own, rare enough that a lost post of one is not hidden by a later post of the same vector. */
#define NPOSTERS   3
#define NPOSTS	   100000
#define NPASSES	   3 /* the whole run, with a different seed each time */
#define SYNC_EVERY 4 /* a sender waits for a new drain round this often, so drains really interleave posts */

static const u8 hot_vecs[] = {63, 64, 127, 200};

static bool is_level_vec(u8 v)
{
	return v == 127 || v == 200 || v % 5 == 0;
}

/* Sender t's cold vectors: 16..255 with v % 8 == t + 1. Vectors with v % 8 in {0, 4, 5, 6, 7}, hot ones aside,
 * are never posted. */
static bool is_cold_of(u8 v, int t)
{
	return v >= 16 && v % 8 == t + 1;
}

static struct {
	struct vcpu_inbox box;
	u64 seed;
	u64 started[256];	     /* atomic: posts of the vector begun */
	u64 done[NPOSTERS];	     /* atomic: posts of the sender returned */
	u64 round;		     /* atomic: the owner's current drain round, 1 for the first */
	int running;		     /* atomic: senders not yet finished */
	int stop;		     /* atomic: the owner saw a failure */
	int bad_post;		     /* atomic: an inbox_post returned false */
	u8 vec[NPOSTERS][NPOSTS];    /* sender's log: vector of its i-th post */
	u32 begun[NPOSTERS][NPOSTS]; /* sender's log: the round current when its i-th post began */
	u32 bound[NPOSTERS][NPOSTS]; /* owner's log: the first round whose drain began after the i-th post returned */
	u64 seen_done[NPOSTERS];     /* owner: st.done as of the last round */
} st;

static void *poster(void *arg)
{
	int t = (int)(uintptr_t)arg;
	u64 x = 0x9e3779b97f4a7c15ULL * (u64)(t + 1) + st.seed;
	u64 synced = 0;
	u8 cold[32];
	int ncold = 0;

	for (int v = 0; v < 256; v++)
		if (is_cold_of((u8)v, t))
			cold[ncold++] = (u8)v;
	for (int i = 0; i < NPOSTS && !__atomic_load_n(&st.stop, __ATOMIC_RELAXED); i++) {
		if (i % SYNC_EVERY == SYNC_EVERY - 1) {
			while (__atomic_load_n(&st.round, __ATOMIC_SEQ_CST) == synced &&
			       !__atomic_load_n(&st.stop, __ATOMIC_RELAXED))
				sched_yield();
			synced = __atomic_load_n(&st.round, __ATOMIC_SEQ_CST);
		}
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		u8 v = (x >> 32) % 2 ? hot_vecs[x % sizeof(hot_vecs)] : cold[x % (u64)ncold];
		u32 icr = (is_level_vec(v) ? LEVEL(v) : EDGE(v)) | (i % 2 ? DM(VLAPIC_DM_LOWPRI) : 0);

		st.vec[t][i] = v;
		st.begun[t][i] = (u32)__atomic_load_n(&st.round, __ATOMIC_SEQ_CST);
		__atomic_fetch_add(&st.started[v], 1, __ATOMIC_SEQ_CST);
		if (!inbox_post(&st.box, icr))
			__atomic_store_n(&st.bad_post, 1, __ATOMIC_SEQ_CST);
		__atomic_fetch_add(&st.done[t], 1, __ATOMIC_SEQ_CST);
	}
	__atomic_fetch_sub(&st.running, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* Failures seen while the senders run are recorded, not raised: test_fail() would longjmp away from live threads. */
static char stress_err[256];

static __attribute__((format(printf, 1, 2))) void stress_fail(const char *fmt, ...)
{
	va_list ap;

	if (stress_err[0])
		return;
	va_start(ap, fmt);
	vsnprintf(stress_err, sizeof(stress_err), fmt, ap);
	va_end(ap);
	__atomic_store_n(&st.stop, 1, __ATOMIC_SEQ_CST);
}

/* The rounds in which each vector was delivered, ascending. */
static struct {
	u32 *round;
	u64 n, cap;
} deliv[256];
static u64 rounds, busy_rounds;

static void log_delivery(int v, u32 k)
{
	if (deliv[v].n == deliv[v].cap) {
		deliv[v].cap = deliv[v].cap ? 2 * deliv[v].cap : 1024;
		deliv[v].round = realloc(deliv[v].round, deliv[v].cap * sizeof(u32));
		if (!deliv[v].round) {
			stress_fail("out of memory");
			return;
		}
	}
	deliv[v].round[deliv[v].n++] = k;
}

/* One round of the owner: note which posts have returned, drain, take and EOI everything. Whether it delivered. */
static bool owner_round(void)
{
	bool got[256] = {false};
	bool any = false;
	int v;

	u32 k = (u32)__atomic_add_fetch(&st.round, 1, __ATOMIC_SEQ_CST);
	/* Every post these counts include returned before the drain below began: this drain or an earlier one must
	 * take it. */
	for (int t = 0; t < NPOSTERS; t++) {
		u64 d = __atomic_load_n(&st.done[t], __ATOMIC_SEQ_CST);
		for (u64 i = st.seen_done[t]; i < d; i++)
			st.bound[t][i] = k;
		st.seen_done[t] = d;
	}
	bool drained = inbox_drain(&st.box, &lapic, dropped_level, &own);
	while ((v = vlapic_pending_vector(&lapic)) >= 0) {
		if (got[v])
			stress_fail("round %u: vector %d delivered twice by one drain", k, v);
		got[v] = true;
		any = true;
		log_delivery(v, k);
		vlapic_accept(&lapic, (u8)v);
		if (vlapic_mmio_write(&lapic, VLAPIC_REG_EOI, 4, 0, T) != 0)
			stress_fail("EOI write failed");
	}
	rounds++;
	busy_rounds += any;
	/* Every vector posted is legal and the vLAPIC is enabled with IRR empty: a drain that took anything set IRR. */
	if (drained != any)
		stress_fail("round %u: drain returned %d, delivered %d", k, drained, any);
	for (int i = 0; i < 256; i++)
		if (deliv[i].n > __atomic_load_n(&st.started[i], __ATOMIC_SEQ_CST))
			stress_fail("round %u: vector %d delivered %" PRIu64 " times, posted fewer", k, i, deliv[i].n);
	return any;
}

static int cmp_u32(const void *a, const void *b)
{
	u32 x = *(const u32 *)a, y = *(const u32 *)b;

	return x < y ? -1 : x > y;
}

/* Check every logged post and delivery of vector v (see above). */
static void check_vector(u8 v, u32 *begun_sorted)
{
	u64 nposts = 0;
	const u32 *d = deliv[v].round;
	u64 nd = deliv[v].n;

	for (int t = 0; t < NPOSTERS; t++)
		for (u64 i = 0; i < NPOSTS; i++) {
			if (st.vec[t][i] != v)
				continue;
			u32 lo = st.begun[t][i], hi = st.bound[t][i];
			begun_sorted[nposts++] = lo;
			/* The first delivery in or after round lo must come no later than round hi. */
			u64 a = 0, b = nd;
			while (a < b) {
				u64 m = (a + b) / 2;
				if (d[m] < lo)
					a = m + 1;
				else
					b = m;
			}
			if (a == nd || d[a] > hi)
				test_fail(__FILE__, __LINE__,
					  "vector %u: post %" PRIu64
					  " of sender %d (rounds %u-%u) lost: next delivery %s%u",
					  v, i, t, lo, hi, a == nd ? "never, last " : "in round ",
					  a == nd ? (nd ? d[nd - 1] : 0) : d[a]);
		}
	CHECK_EQ(nposts, st.started[v]);
	if (nposts == 0) {
		CHECK_EQ(nd, 0);
		return;
	}
	qsort(begun_sorted, nposts, sizeof(u32), cmp_u32);
	CHECK(nd <= nposts);
	for (u64 j = 0; j < nd; j++) {
		if (j && d[j] <= d[j - 1])
			test_fail(__FILE__, __LINE__, "vector %u delivered twice in round %u", v, d[j]);
		if (begun_sorted[j] > d[j])
			test_fail(__FILE__, __LINE__,
				  "vector %u: delivery %" PRIu64 " in round %u, but only %" PRIu64
				  " posts of it began by then",
				  v, j, d[j], j);
	}
	CHECK_EQ(own.eoi[v], is_level_vec(v) ? nd : 0);
}

static void stress_pass(int pass)
{
	pthread_t th[NPOSTERS];
	static u32 scratch[NPOSTERS * NPOSTS];
	u64 total_delivered = 0;
	int posted_vectors = 0;

	setup(true);
	memset(&st, 0, sizeof(st));
	st.seed = (u64)pass * 0x2545f4914f6cdd1dULL;
	for (int v = 0; v < 256; v++) {
		free(deliv[v].round); /* from an earlier run: kept reachable so a failed run does not read as a leak */
		deliv[v].round = NULL;
		deliv[v].n = deliv[v].cap = 0;
	}
	stress_err[0] = 0;
	rounds = busy_rounds = 0;
	st.running = NPOSTERS;

	for (int t = 0; t < NPOSTERS; t++)
		CHECK_EQ(pthread_create(&th[t], NULL, poster, (void *)(uintptr_t)t), 0);
	while (__atomic_load_n(&st.running, __ATOMIC_SEQ_CST) && !__atomic_load_n(&st.stop, __ATOMIC_SEQ_CST))
		if (!owner_round())
			sched_yield(); /* an idle owner must not starve the senders on a host with few CPUs */
	for (int t = 0; t < NPOSTERS; t++)
		CHECK_EQ(pthread_join(th[t], NULL), 0);
	if (!stress_err[0])
		owner_round(); /* the final drain, after every post has returned */
	if (stress_err[0])
		test_fail(__FILE__, __LINE__, "%s", stress_err);
	CHECK_EQ(st.bad_post, 0);
	for (int t = 0; t < NPOSTERS; t++)
		CHECK_EQ(st.done[t], NPOSTS);

	CHECK(!inbox_pending(&st.box));
	CHECK(!inbox_drain(&st.box, &lapic, dropped_level, &own));
	check_vec_reg(VLAPIC_REG_IRR, none);
	check_vec_reg(VLAPIC_REG_ISR, none);

	for (int v = 0; v < 256; v++) {
		bool expected = memchr(hot_vecs, v, sizeof(hot_vecs)) != NULL;
		for (int t = 0; t < NPOSTERS; t++)
			expected |= is_cold_of((u8)v, t);
		/* Each listed vector was posted (the generator reaches all of them), the others never. */
		CHECK_EQ(st.started[v] != 0, expected);
		check_vector((u8)v, scratch);
		total_delivered += deliv[v].n;
		posted_vectors += expected;
	}
	CHECK(posted_vectors > 80);
	CHECK_EQ(own.kicks, total_delivered); /* each delivery newly set IRR */
	CHECK_EQ(own.ndropped, 0);
	CHECK_EQ(esr(), 0);
	/* The senders waited for a new round every SYNC_EVERY posts, so drains really ran between posts: posts of one
	 * sender three waits apart are taken by different drains. */
	CHECK(busy_rounds >= NPOSTS / SYNC_EVERY / 3);
	if (getenv("INBOX_STATS"))
		fprintf(stderr, "  pass %d: %" PRIu64 " rounds, %" PRIu64 " with deliveries, %" PRIu64 " deliveries\n",
			pass, rounds, busy_rounds, total_delivered);
}

TEST(concurrent_posts_never_lost)
{
	for (int pass = 0; pass < NPASSES; pass++)
		stress_pass(pass);
}
