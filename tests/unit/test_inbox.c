/* Unit tests of a vCPU's inbox (vm/inbox.c) drained into a real vLAPIC (vm/dev/vlapic*.c): every delivery mode the
 * inbox carries lands in the vLAPIC as vlapic_deliver() would put it there, and the ones it does not carry are
 * refused. The concurrent posters are test_inbox_stress.c. */
#include <string.h>

#include "inbox_fixture.h"

static bool drain(void)
{
	return inbox_drain(&box, &lapic, dropped_level, &own);
}

static void set_vec(u64 m[4], u8 v)
{
	m[v / 64] |= 1ULL << (v % 64);
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

/* NMIs are counted, not merged: two posted before a drain both reach the vLAPIC (one to deliver, one to hold),
 * a third is lost (VLAPIC_NMI_MAX). */
TEST(nmi_counted_up_to_two)
{
	setup(false); /* a software-disabled vLAPIC still takes NMI */
	CHECK(inbox_post(&box, NMI));
	CHECK(inbox_post(&box, NMI | 0x33)); /* the vector field of an NMI is ignored */
	CHECK(inbox_post(&box, NMI));
	CHECK(!vlapic_take_nmi(&lapic));
	CHECK(drain());
	CHECK_EQ(vlapic_take_nmi(&lapic), 2);
	CHECK_EQ(vlapic_take_nmi(&lapic), 0);
	CHECK(!vlapic_take_init(&lapic));
	check_vec_reg(VLAPIC_REG_IRR, none);
	CHECK_EQ(own.kicks, 2);
	CHECK(!drain());
	CHECK(!vlapic_take_nmi(&lapic));

	CHECK(inbox_post(&box, NMI));
	CHECK(drain());
	CHECK_EQ(vlapic_take_nmi(&lapic), 1);
	CHECK(!vlapic_take_nmi(&lapic));

	/* Posts after a drain took the count wait for the next drain; the flag of an emptied count delivers none. */
	CHECK(inbox_post(&box, NMI));
	CHECK(drain());
	CHECK(inbox_post(&box, NMI));
	CHECK(inbox_post(&box, NMI));
	CHECK(drain());
	CHECK_EQ(vlapic_take_nmi(&lapic), 2); /* 1 + 2, capped in the vLAPIC */
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
