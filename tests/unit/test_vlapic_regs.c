/* Unit tests of the vLAPIC's registers (vm/dev/vlapic.c): the reset state and configuration, xAPIC register rules
 * and odd MMIO accesses, the x2APIC MSRs, and the IA32_APIC_BASE state machine between disabled, xAPIC and x2APIC. */
#include "vlapic_fixture.h"

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
