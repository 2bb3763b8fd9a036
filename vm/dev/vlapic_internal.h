/* Between the files of the virtual LAPIC (vlapic.c, vlapic_ipi.c): the register page's accessors and the acceptance
 * of a fixed interrupt. Not for other callers: they use vlapic.h. */
#ifndef VM_DEV_VLAPIC_INTERNAL_H
#define VM_DEV_VLAPIC_INTERNAL_H

#include "vm/dev/vlapic.h"

static inline u32 reg_get(const struct vlapic *l, u32 off)
{
	return l->regs[off / 4];
}

static inline void reg_set(struct vlapic *l, u32 off, u32 val)
{
	l->regs[off / 4] = val;
}

/* IRR, ISR and TMR: 256 bits in eight registers 16 bytes apart. */
static inline u32 vec_reg(u32 base, u8 v)
{
	return base + (v >> 5) * 0x10;
}

static inline bool vec_test(const struct vlapic *l, u32 base, u8 v)
{
	return reg_get(l, vec_reg(base, v)) & (1u << (v & 31));
}

static inline void vec_set(struct vlapic *l, u32 base, u8 v)
{
	l->regs[vec_reg(base, v) / 4] |= 1u << (v & 31);
	l->apicv_dirty = true;
}

static inline void vec_clear(struct vlapic *l, u32 base, u8 v)
{
	l->regs[vec_reg(base, v) / 4] &= ~(1u << (v & 31));
	l->apicv_dirty = true;
}

/* The highest vector set in the 256-bit register at base, looking only at its 32-bit words top..0 (the caller knows
 * the words above are clear); -1 if none. */
static inline int vec_highest_from(const struct vlapic *l, u32 base, int top)
{
	for (int i = top; i >= 0; i--) {
		u32 w = reg_get(l, base + (u32)i * 0x10);
		if (w)
			return i * 32 + 31 - __builtin_clz(w);
	}
	return -1;
}

static inline int vec_highest(const struct vlapic *l, u32 base)
{
	return vec_highest_from(l, base, 7);
}

static inline bool hw_enabled(const struct vlapic *l)
{
	return l->apic_base & APIC_BASE_ENABLE;
}

static inline bool is_x2apic(const struct vlapic *l)
{
	return vlapic_mode(l) == VLAPIC_MODE_X2APIC;
}

static inline bool sw_enabled(const struct vlapic *l)
{
	return reg_get(l, VLAPIC_REG_SVR) & VLAPIC_SVR_ENABLE;
}

/* Take a fixed interrupt into IRR (and TMR for level): false when the APIC drops it (software-disabled). */
bool vlapic_accept_fixed(struct vlapic *l, u8 vector, bool level);
/* Send the IPI an ICR write describes (vlapic_ipi.c). */
void vlapic_send_ipi(struct vlapic *l, u32 icr_lo, u32 dest);
/* The registers as INIT and reset leave them (vlapic.c), with the ID register's value. */
void vlapic_reset_regs(struct vlapic *l, u32 id_reg);
/* Record an error in the ESR and raise the error LVT's interrupt if it is unmasked. */
void vlapic_esr_error(struct vlapic *l, u32 bits);

#endif
