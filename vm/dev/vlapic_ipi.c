/* The virtual LAPIC's IPIs: the ICR's decode into a message, which targets a destination selects (physical,
 * flat and cluster logical, the shorthands), and what a target does with a message it accepts (fixed, NMI, INIT,
 * SIPI). vlapic.c owns the registers. */
#include "vm/dev/vlapic.h"
#include "vm/dev/vlapic_internal.h"

#include "hv/bug.h"
#include "hv/compiler.h"

static bool match_logical(const struct vlapic *t, u32 dest)
{
	u32 ldr = reg_get(t, VLAPIC_REG_LDR);

	if (is_x2apic(t)) {
		if (dest == VLAPIC_X2APIC_BROADCAST)
			return true;
		return (dest >> 16) == (ldr >> 16) && (dest & ldr & 0xffff);
	}
	dest &= 0xff;
	ldr >>= 24;
	if (dest == VLAPIC_XAPIC_BROADCAST)
		return true;
	switch (reg_get(t, VLAPIC_REG_DFR) >> 28) {
	case 0xf: /* flat: one bit per APIC, up to 8 */
		return dest & ldr;
	case 0x0: /* cluster: cluster number in the high nibble, one bit per APIC in the low */
		return (dest >> 4) == (ldr >> 4) && (dest & ldr & 0xf);
	default: /* reserved models match nothing, as in KVM */
		return false;
	}
}

bool vlapic_match_dest(const struct vlapic *t, const struct vlapic *s, const struct vlapic_ipi *ipi)
{
	if (!hw_enabled(t))
		return false;
	switch (ipi->shorthand) {
	case VLAPIC_SH_SELF:
		return t == s;
	case VLAPIC_SH_ALL:
		return true;
	case VLAPIC_SH_OTHERS:
		return t != s;
	}
	if (ipi->logical)
		return match_logical(t, ipi->dest);
	if (ipi->dest == (ipi->x2apic ? VLAPIC_X2APIC_BROADCAST : VLAPIC_XAPIC_BROADCAST))
		return true;
	return ipi->dest == vlapic_id(t);
}

static bool is_init_deassert(u32 icr_lo)
{
	/* INIT with trigger level and level de-assert: the P6 arbitration-ID sync, a no-op since the Pentium 4. */
	return (icr_lo & (VLAPIC_ICR_ASSERT | VLAPIC_ICR_LEVEL)) == VLAPIC_ICR_LEVEL;
}

bool vlapic_deliver(struct vlapic *t, u32 icr_lo)
{
	u8 vector = icr_lo & VLAPIC_ICR_VECTOR;

	if (!hw_enabled(t))
		return false;
	/* A software-disabled APIC still takes NMI, INIT and SIPI (SDM 11.4.7.2); accept_fixed drops the rest. */
	switch ((icr_lo & VLAPIC_ICR_DM) >> VLAPIC_ICR_DM_SHIFT) {
	case VLAPIC_DM_FIXED:
	case VLAPIC_DM_LOWPRI:
		return vlapic_set_irq(t, vector, icr_lo & VLAPIC_ICR_LEVEL);
	case VLAPIC_DM_NMI:
		if (t->nmi_pending < VLAPIC_NMI_MAX)
			t->nmi_pending++;
		break;
	case VLAPIC_DM_INIT:
		if (is_init_deassert(icr_lo))
			return false;
		/* The INIT state keeps the ID (all 32 bits in x2APIC mode) and IA32_APIC_BASE, mode included. */
		vlapic_reset_regs(t, is_x2apic(t) ? t->x2apic_id : reg_get(t, VLAPIC_REG_ID));
		t->init_pending = true;
		t->sipi_pending = false;
		break;
	case VLAPIC_DM_SIPI:
		/* Recorded whatever the vCPU's state: only a vCPU waiting for SIPI acts on it (the owner knows). */
		t->sipi_vector = vector;
		t->sipi_pending = true;
		break;
	default: /* SMI (no SMM), reserved modes */
		return false;
	}
	t->ops->kick(t->owner);
	return true;
}

/* Send the IPI in icr_lo (already masked to the writable bits) to `dest`. IPIs that can only reach the sender (the
 * self shorthand, or a physical destination equal to its own ID) are applied here; everything else goes to the
 * owner, which may call vlapic_deliver() on this APIC too (all including self, logical matches). */
void vlapic_send_ipi(struct vlapic *l, u32 icr_lo, u32 dest)
{
	struct vlapic_ipi ipi = {
	    .dest = dest,
	    .icr_lo = icr_lo,
	    .vector = icr_lo & VLAPIC_ICR_VECTOR,
	    .delivery = (icr_lo & VLAPIC_ICR_DM) >> VLAPIC_ICR_DM_SHIFT,
	    .shorthand = (icr_lo & VLAPIC_ICR_SH) >> VLAPIC_ICR_SH_SHIFT,
	    .logical = icr_lo & VLAPIC_ICR_LOGICAL,
	    .level = icr_lo & VLAPIC_ICR_LEVEL,
	    .x2apic = is_x2apic(l),
	};
	u32 bcast = ipi.x2apic ? VLAPIC_X2APIC_BROADCAST : VLAPIC_XAPIC_BROADCAST;

	switch (ipi.delivery) {
	case VLAPIC_DM_FIXED:
	case VLAPIC_DM_LOWPRI:
		/* SDM 11.5.3: an illegal vector is caught at the sender and not sent. */
		if (ipi.vector < 16) {
			vlapic_esr_error(l, VLAPIC_ESR_SEND_ILLEGAL_VECTOR);
			return;
		}
		break;
	case VLAPIC_DM_INIT:
		if (is_init_deassert(icr_lo))
			return;
		break;
	case VLAPIC_DM_SMI:
	case VLAPIC_DM_NMI:
	case VLAPIC_DM_SIPI:
		break;
	default: /* reserved delivery modes send nothing */
		return;
	}
	if (ipi.shorthand == VLAPIC_SH_SELF ||
	    (ipi.shorthand == VLAPIC_SH_NONE && !ipi.logical && dest != bcast && dest == vlapic_id(l))) {
		vlapic_deliver(l, icr_lo);
		return;
	}
	l->ops->send_ipi(l->owner, &ipi);
}

unsigned int vlapic_take_nmi(struct vlapic *l)
{
	unsigned int r = l->nmi_pending;

	l->nmi_pending = 0;
	return r;
}

bool vlapic_take_init(struct vlapic *l)
{
	bool r = l->init_pending;

	l->init_pending = false;
	return r;
}

bool vlapic_take_sipi(struct vlapic *l, u8 *vector)
{
	if (!l->sipi_pending)
		return false;
	l->sipi_pending = false;
	*vector = l->sipi_vector;
	return true;
}
