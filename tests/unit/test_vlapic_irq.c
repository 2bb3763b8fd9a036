/* Unit tests of interrupt delivery in the vLAPIC (vm/dev/vlapic.c): priority, acceptance and EOI of what arrives,
 * and ICR decode, destination matching and INIT/SIPI/NMI for what is sent, through fake owners that route IPIs. */
#include "vlapic_fixture.h"

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

/* Pending NMIs count up to VLAPIC_NMI_MAX (one to deliver, one held behind it); more are lost. */
TEST(nmis_counted_up_to_two)
{
	struct vlapic *l = setup(1, 0);

	CHECK_EQ(vlapic_take_nmi(l), 0);
	CHECK(vlapic_deliver(l, VLAPIC_DM_NMI << 8));
	CHECK_EQ(vlapic_take_nmi(l), 1);
	for (int i = 0; i < 5; i++)
		CHECK(vlapic_deliver(l, VLAPIC_DM_NMI << 8));
	CHECK(vlapic_core_events(l));
	CHECK_EQ(vlapic_take_nmi(l), VLAPIC_NMI_MAX);
	CHECK(!vlapic_core_events(l));
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
