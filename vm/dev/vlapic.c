/* The virtual local APIC: register semantics for xAPIC MMIO and x2APIC MSRs, IA32_APIC_BASE transitions, interrupt
 * acceptance and priority (IRR, ISR, TMR, TPR, PPR, EOI), the ESR, and the register file. IPIs (ICR decode, destinations, delivery) are in vlapic_ipi.c, the timer in vlapic_timer.c.
 * The register page holds every register at its architectural offset, as the hardware's virtual-APIC page does. */
#include "vm/dev/vlapic.h"
#include "vm/dev/vlapic_internal.h"

#include "hv/bug.h"
#include "hv/compiler.h"
#include "hv/errno.h"
#include "hv/string.h"

#define APIC_DEFAULT_BASE 0xfee00000ULL
#define REG_END		  0x400 /* registers live in [0, 0x400); the rest of the page is reserved */

#define ICR_WMASK                                                                                                      \
	(VLAPIC_ICR_VECTOR | VLAPIC_ICR_DM | VLAPIC_ICR_LOGICAL | VLAPIC_ICR_ASSERT | VLAPIC_ICR_LEVEL | VLAPIC_ICR_SH)

/* What an access to a register may do in the current mode: 0 means the register does not exist (reserved). */
#define ACC_R 1u
#define ACC_W 2u

static const u32 lvt_regs[] = {
    VLAPIC_REG_LVT_CMCI,  VLAPIC_REG_LVT_TIMER, VLAPIC_REG_LVT_THERMAL, VLAPIC_REG_LVT_PERF,
    VLAPIC_REG_LVT_LINT0, VLAPIC_REG_LVT_LINT1, VLAPIC_REG_LVT_ERROR,
};

enum vlapic_mode vlapic_mode(const struct vlapic *l)
{
	if (!(l->apic_base & APIC_BASE_ENABLE))
		return VLAPIC_MODE_DISABLED;
	return (l->apic_base & APIC_BASE_X2APIC) ? VLAPIC_MODE_X2APIC : VLAPIC_MODE_XAPIC;
}

static bool lvt_present(const struct vlapic *l, u32 off)
{
	return off != VLAPIC_REG_LVT_CMCI || (l->features & VLAPIC_F_CMCI);
}

/* The bits of an LVT entry software can set; the rest read 0 (delivery status, remote IRR: we never show a message
 * in flight or a level-triggered LINT awaiting EOI). Bit 18 of the timer mode exists only with TSC-deadline: without
 * it a write of mode 2 (reserved then) reads back and acts as one-shot, as in KVM. */
static u32 lvt_wmask(const struct vlapic *l, u32 off)
{
	switch (off) {
	case VLAPIC_REG_LVT_TIMER:
		return VLAPIC_LVT_VECTOR | VLAPIC_LVT_MASKED |
		       ((l->features & VLAPIC_F_TSC_DEADLINE) ? VLAPIC_LVT_TIMER_MODE : VLAPIC_LVT_TIMER_PERIODIC);
	case VLAPIC_REG_LVT_LINT0:
	case VLAPIC_REG_LVT_LINT1:
		return VLAPIC_LVT_VECTOR | VLAPIC_LVT_DM | VLAPIC_LVT_POLARITY | VLAPIC_LVT_LEVEL | VLAPIC_LVT_MASKED;
	case VLAPIC_REG_LVT_ERROR:
		return VLAPIC_LVT_VECTOR | VLAPIC_LVT_MASKED;
	default: /* CMCI, thermal, performance counters */
		return VLAPIC_LVT_VECTOR | VLAPIC_LVT_DM | VLAPIC_LVT_MASKED;
	}
}

static u32 svr_wmask(const struct vlapic *l)
{
	return VLAPIC_SVR_VECTOR | VLAPIC_SVR_ENABLE | VLAPIC_SVR_FOCUS_DISABLE |
	       ((l->features & VLAPIC_F_EOI_SUPPRESS) ? VLAPIC_SVR_EOI_SUPPRESS : 0);
}

static u32 version(const struct vlapic *l)
{
	u32 nr_lvt = (l->features & VLAPIC_F_CMCI) ? 7 : 6;

	return VLAPIC_VERSION | ((nr_lvt - 1) << 16) |
	       ((l->features & VLAPIC_F_EOI_SUPPRESS) ? VLAPIC_VER_EOI_SUPPRESS : 0);
}

/* x2APIC logical ID (SDM 11.12.10.2): cluster = ID[19:4] in bits 31:16, one bit for ID[3:0] in bits 15:0. */
static u32 x2apic_ldr(u32 id)
{
	return ((id >> 4) << 16) | (1u << (id & 0xf));
}

/* PPR from TPR and isr, the highest in-service vector (-1: none). */
static void set_ppr(struct vlapic *l, int isr)
{
	u32 tpr = reg_get(l, VLAPIC_REG_TPR) & 0xff;
	u32 isrv = isr < 0 ? 0 : (u32)isr;

	reg_set(l, VLAPIC_REG_PPR, (tpr & 0xf0) >= (isrv & 0xf0) ? tpr : (isrv & 0xf0));
}

static void update_ppr(struct vlapic *l)
{
	set_ppr(l, vec_highest(l, VLAPIC_REG_ISR));
}

/* The register state of the INIT and power-up states (SDM 11.4.7.1, 11.12.5.1): IRR, ISR, TMR, ICR, LDR, TPR,
 * timer and divide 0, DFR all ones, SVR 0xff (software-disabled), every LVT masked. The caller says what the ID
 * register holds. IA32_APIC_BASE and the pending NMI/INIT/SIPI (events the core already took) are not touched. */
void vlapic_reset_regs(struct vlapic *l, u32 id_reg)
{
	memset(l->regs, 0, PAGE_SIZE);
	l->apicv_dirty = true;
	reg_set(l, VLAPIC_REG_ID, id_reg);
	reg_set(l, VLAPIC_REG_VER, version(l));
	reg_set(l, VLAPIC_REG_DFR, 0xffffffffu);
	reg_set(l, VLAPIC_REG_SVR, 0xff);
	for (unsigned int i = 0; i < ARRAY_SIZE(lvt_regs); i++)
		if (lvt_present(l, lvt_regs[i]))
			reg_set(l, lvt_regs[i], VLAPIC_LVT_MASKED);
	if (is_x2apic(l))
		reg_set(l, VLAPIC_REG_LDR, x2apic_ldr(l->x2apic_id));
	l->esr_pending = 0;
	vlapic_timer_reset(l);
}

int vlapic_init(struct vlapic *l, const struct vlapic_config *cfg)
{
	if (!cfg->page || !IS_ALIGNED((uintptr_t)cfg->page, PAGE_SIZE) || !cfg->ops || !cfg->ops->send_ipi ||
	    !cfg->ops->kick || !cfg->tsc_hz || cfg->maxphyaddr < 32 || cfg->maxphyaddr > 52)
		return -EINVAL;
	memset(l, 0, sizeof(*l));
	l->regs = cfg->page;
	l->ops = cfg->ops;
	l->owner = cfg->owner;
	l->x2apic_id = cfg->apic_id;
	l->features = cfg->features;
	l->bsp_at_reset = cfg->bsp;
	l->tsc_hz = cfg->tsc_hz;
	l->timer_hz = cfg->timer_hz ? cfg->timer_hz : VLAPIC_TIMER_HZ_DEFAULT;
	l->base_rsvd = ~(GENMASK_ULL(cfg->maxphyaddr - 1, 12) | APIC_BASE_BSP | APIC_BASE_ENABLE |
			 ((l->features & VLAPIC_F_X2APIC) ? APIC_BASE_X2APIC : 0));
	vlapic_timer_init(l);
	vlapic_reset(l);
	return 0;
}

void vlapic_reset(struct vlapic *l)
{
	l->apic_base = APIC_DEFAULT_BASE | APIC_BASE_ENABLE | (l->bsp_at_reset ? APIC_BASE_BSP : 0);
	vlapic_reset_regs(l, (l->x2apic_id & 0xff) << 24);
	l->nmi_pending = 0;
	l->init_pending = l->sipi_pending = false;
	l->sipi_vector = 0;
}

u64 vlapic_get_apic_base(const struct vlapic *l)
{
	return l->apic_base;
}

u64 vlapic_mmio_base(const struct vlapic *l)
{
	return l->apic_base & APIC_BASE_ADDR_MASK;
}

u32 vlapic_id(const struct vlapic *l)
{
	return is_x2apic(l) ? l->x2apic_id : reg_get(l, VLAPIC_REG_ID) >> 24;
}

u8 vlapic_get_tpr(const struct vlapic *l)
{
	return reg_get(l, VLAPIC_REG_TPR) & 0xff;
}

void vlapic_set_tpr(struct vlapic *l, u8 tpr)
{
	reg_set(l, VLAPIC_REG_TPR, tpr);
	update_ppr(l);
}

/* ---- interrupt acceptance ---- */

/* Set IRR for a vector already known to be legal. */
bool vlapic_accept_fixed(struct vlapic *l, u8 vector, bool level)
{
	if (!hw_enabled(l) || !sw_enabled(l))
		return false;
	if (level)
		vec_set(l, VLAPIC_REG_TMR, vector);
	else
		vec_clear(l, VLAPIC_REG_TMR, vector);
	if (vec_test(l, VLAPIC_REG_IRR, vector))
		return false;
	vec_set(l, VLAPIC_REG_IRR, vector);
	l->ops->kick(l->owner);
	return true;
}

/* Record an error and raise the error LVT. An illegal vector in the error LVT itself only adds its own error bit:
 * delivering it would report another error, and so on. */
void vlapic_esr_error(struct vlapic *l, u32 bits)
{
	u32 lvt = reg_get(l, VLAPIC_REG_LVT_ERROR);
	u8 vector = lvt & VLAPIC_LVT_VECTOR;

	l->esr_pending |= bits;
	if (lvt & VLAPIC_LVT_MASKED)
		return;
	if (vector < 16)
		l->esr_pending |= VLAPIC_ESR_RECV_ILLEGAL_VECTOR;
	else
		vlapic_accept_fixed(l, vector, false);
}

bool vlapic_set_irq(struct vlapic *l, u8 vector, bool level)
{
	if (!hw_enabled(l))
		return false;
	/* SDM 11.5.3: the APIC never sets an IRR bit in 0-15; it reports "receive illegal vector" instead. */
	if (vector < 16) {
		vlapic_esr_error(l, VLAPIC_ESR_RECV_ILLEGAL_VECTOR);
		return false;
	}
	return vlapic_accept_fixed(l, vector, level);
}

/* The IRR is the owner's alone (other CPUs post to the inbox), so nothing changes under the check. */
bool vlapic_irr_any(const struct vlapic *l)
{
	u32 any = 0;

	for (int i = 0; i < 8; i++)
		any |= reg_get(l, VLAPIC_REG_IRR + (u32)i * 0x10);
	return any != 0;
}

bool vlapic_accepts_fixed(const struct vlapic *l)
{
	return hw_enabled(l) && sw_enabled(l);
}

int vlapic_pending_vector(struct vlapic *l)
{
	int v;

	if (!hw_enabled(l))
		return -1;
	/* Run before every entry, and the IRR is empty nearly always: one pass of loads, no scan. */
	if (!vlapic_irr_any(l))
		return -1;
	v = vec_highest(l, VLAPIC_REG_IRR);
	if (v < 0 || ((u32)v & 0xf0) <= (reg_get(l, VLAPIC_REG_PPR) & 0xf0))
		return -1;
	return v;
}

void vlapic_accept(struct vlapic *l, u8 vector)
{
	/* The owner injects only what vlapic_pending_vector() returned, in the same critical section. */
	if (WARN_ON_ONCE(!vec_test(l, VLAPIC_REG_IRR, vector)))
		return;
	vec_clear(l, VLAPIC_REG_IRR, vector);
	vec_set(l, VLAPIC_REG_ISR, vector);
	update_ppr(l);
}

/* EOI retires the highest in-service vector. A level-triggered one (TMR) is broadcast to the IOAPICs unless the
 * guest chose EOI-broadcast suppression (SVR bit 12), in which case it EOIs the IOAPIC itself. */
static void do_eoi(struct vlapic *l)
{
	int v = vec_highest(l, VLAPIC_REG_ISR);

	if (v < 0)
		return;
	vec_clear(l, VLAPIC_REG_ISR, (u8)v);
	/* v was the highest: the next one in service is in its word or below, and PPR needs no scan from the top. */
	set_ppr(l, vec_highest_from(l, VLAPIC_REG_ISR, v / 32));
	if (vec_test(l, VLAPIC_REG_TMR, (u8)v) && !(reg_get(l, VLAPIC_REG_SVR) & VLAPIC_SVR_EOI_SUPPRESS) &&
	    l->ops->eoi)
		l->ops->eoi(l->owner, (u8)v);
}

bool vlapic_accepts_pic_intr(const struct vlapic *l)
{
	u32 lint0 = reg_get(l, VLAPIC_REG_LVT_LINT0);

	if (!hw_enabled(l))
		return true;
	return !(lint0 & VLAPIC_LVT_MASKED) && ((lint0 & VLAPIC_LVT_DM) >> VLAPIC_LVT_DM_SHIFT) == VLAPIC_DM_EXTINT;
}

/* ---- register access, common to MMIO and MSRs ---- */

static unsigned int reg_access(const struct vlapic *l, u32 off)
{
	bool x2 = is_x2apic(l);

	if (off >= VLAPIC_REG_ISR && off < VLAPIC_REG_ESR)
		return ACC_R; /* ISR, TMR, IRR */
	switch (off) {
	case VLAPIC_REG_ID:
	case VLAPIC_REG_LDR:
		return x2 ? ACC_R : ACC_R | ACC_W;
	case VLAPIC_REG_VER:
	case VLAPIC_REG_PPR:
	case VLAPIC_REG_TMCCT:
		return ACC_R;
	case VLAPIC_REG_TPR:
	case VLAPIC_REG_SVR:
	case VLAPIC_REG_ESR:
	case VLAPIC_REG_ICR_LO:
	case VLAPIC_REG_LVT_TIMER:
	case VLAPIC_REG_LVT_THERMAL:
	case VLAPIC_REG_LVT_PERF:
	case VLAPIC_REG_LVT_LINT0:
	case VLAPIC_REG_LVT_LINT1:
	case VLAPIC_REG_LVT_ERROR:
	case VLAPIC_REG_TMICT:
	case VLAPIC_REG_TDCR:
		return ACC_R | ACC_W;
	case VLAPIC_REG_LVT_CMCI:
		return lvt_present(l, off) ? ACC_R | ACC_W : 0;
	case VLAPIC_REG_EOI:
		/* Write-only: an xAPIC read gives 0 without an error (the register exists), an x2APIC RDMSR #GP. */
		return x2 ? ACC_W : ACC_R | ACC_W;
	case VLAPIC_REG_APR:
	case VLAPIC_REG_RRD:
	case VLAPIC_REG_DFR:
	case VLAPIC_REG_ICR_HI:
		return x2 ? 0 : ACC_R | ACC_W;
	case VLAPIC_REG_SELF_IPI:
		return x2 ? ACC_W : 0;
	default:
		return 0;
	}
}

/* The bits an x2APIC WRMSR may set without #GP (SDM 11.12.1.2; the same checks as Xen's guest_wrmsr_x2apic). LVT
 * delivery status and remote IRR are read-only but tolerated. */
static u32 x2apic_write_mask(const struct vlapic *l, u32 off)
{
	switch (off) {
	case VLAPIC_REG_TPR:
	case VLAPIC_REG_SELF_IPI:
		return 0xff;
	case VLAPIC_REG_EOI:
	case VLAPIC_REG_ESR:
		return 0;
	case VLAPIC_REG_SVR:
		return svr_wmask(l);
	case VLAPIC_REG_TDCR:
		return 0xb;
	case VLAPIC_REG_TMICT:
		return 0xffffffffu;
	case VLAPIC_REG_LVT_LINT0:
	case VLAPIC_REG_LVT_LINT1:
		return lvt_wmask(l, off) | VLAPIC_LVT_STATUS | VLAPIC_LVT_REMOTE_IRR;
	default: /* the other LVTs */
		return lvt_wmask(l, off) | VLAPIC_LVT_STATUS;
	}
}

static u32 reg_read(struct vlapic *l, u32 off, u64 now)
{
	if (off == VLAPIC_REG_TMCCT)
		return vlapic_timer_read_tmcct(l, now);
	/* Everything else is kept current in the page; write-only and P6-only registers stay 0 there. */
	return reg_get(l, off);
}

static void write_svr(struct vlapic *l, u32 val)
{
	l->apicv_dirty = true; /* EOI-broadcast suppression decides the EOI-exit bitmap */
	reg_set(l, VLAPIC_REG_SVR, val & svr_wmask(l));
	/* Software disable sets every LVT mask bit; re-enabling leaves them set (SDM 11.4.7.2). */
	if (!(val & VLAPIC_SVR_ENABLE)) {
		for (unsigned int i = 0; i < ARRAY_SIZE(lvt_regs); i++)
			if (lvt_present(l, lvt_regs[i]))
				l->regs[lvt_regs[i] / 4] |= VLAPIC_LVT_MASKED;
		vlapic_timer_commit(l);
	}
}

static void write_lvt(struct vlapic *l, u32 off, u32 val)
{
	val &= lvt_wmask(l, off);
	if (!sw_enabled(l))
		val |= VLAPIC_LVT_MASKED;
	if (off == VLAPIC_REG_LVT_TIMER)
		vlapic_timer_write_lvt(l, val);
	else
		reg_set(l, off, val);
}

/* A write the access rules allow (reg_access has ACC_W). The value is cut to the writable bits here; x2APIC callers
 * have already refused reserved bits. The ICR low word sends; the 64-bit x2APIC ICR is written by the MSR path. */
static void reg_write(struct vlapic *l, u32 off, u32 val, u64 now)
{
	switch (off) {
	case VLAPIC_REG_ID:
		reg_set(l, off, val & 0xff000000u);
		break;
	case VLAPIC_REG_TPR:
		vlapic_set_tpr(l, val & 0xff);
		break;
	case VLAPIC_REG_EOI:
		do_eoi(l);
		break;
	case VLAPIC_REG_LDR:
		reg_set(l, off, val & 0xff000000u);
		break;
	case VLAPIC_REG_DFR:
		reg_set(l, off, val | 0x0fffffffu);
		break;
	case VLAPIC_REG_SVR:
		write_svr(l, val);
		break;
	case VLAPIC_REG_ESR:
		/* Write-then-read: a write latches the errors seen since the previous write and starts afresh. */
		reg_set(l, off, l->esr_pending);
		l->esr_pending = 0;
		break;
	case VLAPIC_REG_ICR_LO:
		reg_set(l, off, val & ICR_WMASK);
		vlapic_send_ipi(l, val & ICR_WMASK, reg_get(l, VLAPIC_REG_ICR_HI) >> 24);
		break;
	case VLAPIC_REG_ICR_HI:
		reg_set(l, off, val & 0xff000000u);
		break;
	case VLAPIC_REG_LVT_CMCI:
	case VLAPIC_REG_LVT_TIMER:
	case VLAPIC_REG_LVT_THERMAL:
	case VLAPIC_REG_LVT_PERF:
	case VLAPIC_REG_LVT_LINT0:
	case VLAPIC_REG_LVT_LINT1:
	case VLAPIC_REG_LVT_ERROR:
		write_lvt(l, off, val);
		break;
	case VLAPIC_REG_TMICT:
		vlapic_timer_write_tmict(l, val, now);
		break;
	case VLAPIC_REG_TDCR:
		vlapic_timer_write_tdcr(l, val & 0xb, now);
		break;
	case VLAPIC_REG_SELF_IPI:
		vlapic_send_ipi(l, (VLAPIC_SH_SELF << VLAPIC_ICR_SH_SHIFT) | (val & 0xff), 0);
		break;
	default: /* APR, RRD: P6 leftovers, writes ignored */
		break;
	}
}

/* ---- xAPIC MMIO ---- */

int vlapic_mmio_read(struct vlapic *l, u32 offset, unsigned int size, u64 *val, u64 now)
{
	u32 reg = offset & ~0xfu, shift = offset & 0xf;
	unsigned int acc;
	u32 v;

	if (offset >= PAGE_SIZE)
		return -EINVAL;
	if (vlapic_mode(l) != VLAPIC_MODE_XAPIC)
		return VLAPIC_MMIO_UNCLAIMED;
	vlapic_tick(l, now);
	*val = 0;
	acc = reg < REG_END ? reg_access(l, reg) : 0;
	if (!acc) {
		vlapic_esr_error(l, VLAPIC_ESR_ILLEGAL_REGISTER);
		return 0;
	}
	if ((size != 1 && size != 2 && size != 4) || shift + size > 4 || !(acc & ACC_R))
		return 0;
	v = reg_read(l, reg, now) >> (shift * 8);
	if (size < 4)
		v &= (1u << (size * 8)) - 1;
	*val = v;
	return 0;
}

int vlapic_mmio_write(struct vlapic *l, u32 offset, unsigned int size, u64 val, u64 now)
{
	unsigned int acc;

	if (offset >= PAGE_SIZE)
		return -EINVAL;
	if (vlapic_mode(l) != VLAPIC_MODE_XAPIC)
		return VLAPIC_MMIO_UNCLAIMED;
	vlapic_tick(l, now);
	acc = offset < REG_END ? reg_access(l, offset & ~0xfu) : 0;
	if (!acc) {
		vlapic_esr_error(l, VLAPIC_ESR_ILLEGAL_REGISTER);
		return 0;
	}
	/* SDM 11.4.1: registers are written as aligned dwords; like KVM, anything else is dropped. */
	if (size != 4 || (offset & 0xf) || !(acc & ACC_W))
		return 0;
	reg_write(l, offset, (u32)val, now);
	return 0;
}

/* ---- MSRs ---- */

bool vlapic_is_msr(u32 msr)
{
	return msr == MSR_IA32_APIC_BASE || msr == MSR_IA32_TSC_DEADLINE ||
	       (msr >= VLAPIC_MSR_X2APIC_FIRST && msr <= VLAPIC_MSR_X2APIC_LAST);
}

int vlapic_msr_read(struct vlapic *l, u32 msr, u64 *val, u64 now)
{
	u32 off;

	if (msr == MSR_IA32_APIC_BASE) {
		*val = l->apic_base;
		return 0;
	}
	if (msr == MSR_IA32_TSC_DEADLINE) {
		if (!(l->features & VLAPIC_F_TSC_DEADLINE))
			return -EINVAL;
		*val = vlapic_timer_read_deadline_msr(l, now);
		return 0;
	}
	if (msr < VLAPIC_MSR_X2APIC_FIRST || msr > VLAPIC_MSR_X2APIC_LAST)
		return -ENOENT;
	off = (msr - VLAPIC_MSR_X2APIC_FIRST) << 4;
	if (!is_x2apic(l) || !(reg_access(l, off) & ACC_R))
		return -EINVAL;
	vlapic_tick(l, now);
	*val = reg_read(l, off, now);
	if (off == VLAPIC_REG_ICR_LO)
		*val |= (u64)reg_get(l, VLAPIC_REG_ICR_HI) << 32;
	return 0;
}

int vlapic_msr_write(struct vlapic *l, u32 msr, u64 val, u64 now)
{
	u32 off;

	if (msr == MSR_IA32_APIC_BASE)
		return vlapic_set_apic_base(l, val, now);
	if (msr == MSR_IA32_TSC_DEADLINE) {
		if (!(l->features & VLAPIC_F_TSC_DEADLINE))
			return -EINVAL;
		vlapic_timer_write_deadline_msr(l, val, now);
		return 0;
	}
	if (msr < VLAPIC_MSR_X2APIC_FIRST || msr > VLAPIC_MSR_X2APIC_LAST)
		return -ENOENT;
	off = (msr - VLAPIC_MSR_X2APIC_FIRST) << 4;
	if (!is_x2apic(l) || !(reg_access(l, off) & ACC_W))
		return -EINVAL;
	if (off == VLAPIC_REG_ICR_LO) {
		/* One 64-bit register: destination in 63:32, no delivery status bit. Kept split at 0x300/0x310. */
		if ((u32)val & ~ICR_WMASK)
			return -EINVAL;
		vlapic_tick(l, now);
		reg_set(l, VLAPIC_REG_ICR_LO, (u32)val);
		reg_set(l, VLAPIC_REG_ICR_HI, (u32)(val >> 32));
		vlapic_send_ipi(l, (u32)val, (u32)(val >> 32));
		return 0;
	}
	if ((val >> 32) || ((u32)val & ~x2apic_write_mask(l, off)))
		return -EINVAL;
	vlapic_tick(l, now);
	reg_write(l, off, (u32)val, now);
	return 0;
}

/* ---- IA32_APIC_BASE ---- */

static enum vlapic_mode mode_of(u64 base)
{
	if (!(base & APIC_BASE_ENABLE))
		return VLAPIC_MODE_DISABLED;
	return (base & APIC_BASE_X2APIC) ? VLAPIC_MODE_X2APIC : VLAPIC_MODE_XAPIC;
}

int vlapic_set_apic_base(struct vlapic *l, u64 value, u64 now)
{
	enum vlapic_mode old = vlapic_mode(l), new = mode_of(value);
	u32 id_reg;

	/* SDM 11.12.5: EXTD without EN is the invalid state; x2APIC -> xAPIC and disabled -> x2APIC are illegal. */
	if ((value & l->base_rsvd) || ((value & APIC_BASE_X2APIC) && !(value & APIC_BASE_ENABLE)))
		return -EINVAL;
	if ((old == VLAPIC_MODE_X2APIC && new == VLAPIC_MODE_XAPIC) ||
	    (old == VLAPIC_MODE_DISABLED && new == VLAPIC_MODE_X2APIC))
		return -EINVAL;
	vlapic_tick(l, now);
	l->apic_base = value;
	l->apicv_dirty = true;
	if (old == new)
		return 0;
	switch (new) {
	case VLAPIC_MODE_DISABLED:
		/* A hardware disable loses all APIC state but the ID. Leaving x2APIC, the xAPIC ID is the low byte of
		 * the x2APIC ID (both are preserved, SDM 11.12.5.1); leaving xAPIC, the ID register stays as written.
		 */
		id_reg = old == VLAPIC_MODE_X2APIC ? (l->x2apic_id & 0xff) << 24 : reg_get(l, VLAPIC_REG_ID);
		vlapic_reset_regs(l, id_reg);
		break;
	case VLAPIC_MODE_X2APIC:
		/* The x2APIC ID is the hardware one whatever the xAPIC ID was set to; the logical ID is derived. */
		reg_set(l, VLAPIC_REG_ID, l->x2apic_id);
		reg_set(l, VLAPIC_REG_LDR, x2apic_ldr(l->x2apic_id));
		break;
	case VLAPIC_MODE_XAPIC:
		/* From disabled: nothing could change the registers there, so they still hold the reset state. */
		break;
	}
	return 0;
}
