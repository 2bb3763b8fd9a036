/* The vLAPIC under APIC virtualization (VMX APIC-register virtualization and virtual-interrupt delivery, SDM Vol. 3
 * ch. 30 "APIC Virtualization and Virtual Interrupts"): the register page is the virtual-APIC page, so IRR, ISR,
 * PPR and TPR need no copying in or out. Three things do: the RVI and SVI the CPU keeps in the VMCS, which are
 * functions of the page; the EOI-exit bitmap, a function of TMR; and the writes the CPU stores in the page before
 * it exits for the hypervisor to give them their effect. Pure: no hardware, host-tested. */
#include "hv/compiler.h"
#include "vm/dev/vlapic.h"

/* Highest set vector of the 256-bit register at base (IRR, ISR or TMR: eight dwords 16 bytes apart), or -1.
 * Unrolled, with constant offsets: this runs before every entry after the vLAPIC changed (a timer tick's delivery),
 * and as a loop it cost 8 instructions a word, 64 for an empty ISR; now 3. */
static int highest(const struct vlapic *l, u32 base)
{
#pragma GCC unroll 8
	for (int i = 7; i >= 0; i--) {
		u32 w = l->regs[(base + (u32)i * 0x10) / 4];
		if (w)
			return i * 32 + 31 - __builtin_clz(w);
	}
	return -1;
}

/* Whether IRR holds a vector besides top, its highest. */
static bool irr_has_another(const struct vlapic *l, int top)
{
	if (l->regs[(VLAPIC_REG_IRR + (u32)(top >> 5) * 0x10) / 4] & ~(1u << (top & 31)))
		return true;
	for (int i = (top >> 5) - 1; i >= 0; i--)
		if (l->regs[(VLAPIC_REG_IRR + (u32)i * 0x10) / 4])
			return true;
	return false;
}

void vlapic_apicv_state(struct vlapic *l, struct vlapic_apicv_state *st)
{
	int irr = highest(l, VLAPIC_REG_IRR), isr = highest(l, VLAPIC_REG_ISR);
	enum vlapic_mode mode = vlapic_mode(l); /* once: it is a call */

	l->apicv_dirty = false;
	/* RVI is the highest requested vector whatever PPR says: the CPU compares RVI[7:4] with VPPR[7:4] itself
	 * (SDM 30.2.1), and re-evaluates after every TPR write and EOI it virtualizes. */
	st->rvi = irr < 0 ? 0 : (u8)irr;
	st->svi = isr < 0 ? 0 : (u8)isr;
	st->xapic_base = mode == VLAPIC_MODE_XAPIC ? vlapic_mmio_base(l) : ~0ULL;
	st->x2apic = mode == VLAPIC_MODE_X2APIC;
	/* A level-triggered vector's EOI goes to the IOAPIC, unless the guest suppressed the broadcast (SVR bit 12):
	 * then it EOIs the IOAPIC itself and no exit is needed. TMR is written when a vector is accepted into IRR,
	 * before the entry that loads this bitmap, so an in-service level vector always has its bit. */
	bool suppress = l->regs[VLAPIC_REG_SVR / 4] & VLAPIC_SVR_EOI_SUPPRESS;
	/* While a requested vector could become deliverable by an EOI inside a handler (another one requested or in
	 * service besides the highest request), every outstanding vector exits on its EOI too. The CPU would deliver
	 * the next one there, in the handler with IF = 0, only when IF allows; Bochs 2.7 delivers a pending virtual
	 * interrupt whatever IF says once a host interrupt comes (see vcpu.c: deliver_interrupts, which holds such a
	 * vector behind the interrupt window instead). The exit brings the vector to that pass. A lone request or
	 * vectors only in service unmask nothing, so on hardware this costs an exit only when interrupts queue. */
	bool queue = irr >= 0 && (isr >= 0 || irr_has_another(l, irr));
#pragma GCC unroll 4
	for (int i = 0; i < 4; i++) {
		u32 r = (u32)i * 0x20;
		u64 lo = l->regs[(VLAPIC_REG_TMR + r) / 4];
		u64 hi = l->regs[(VLAPIC_REG_TMR + r + 0x10) / 4];
		u64 q = 0;
		if (queue)
			q = (l->regs[(VLAPIC_REG_IRR + r) / 4] | l->regs[(VLAPIC_REG_ISR + r) / 4]) |
			    (u64)(l->regs[(VLAPIC_REG_IRR + r + 0x10) / 4] | l->regs[(VLAPIC_REG_ISR + r + 0x10) / 4])
				    << 32;
		st->eoi_exit[i] = (suppress ? 0 : lo | hi << 32) | q;
	}
}

void vlapic_apicv_write(struct vlapic *l, u32 offset, u64 now)
{
	u32 off = offset & 0xff0, val;

	/* The CPU has already decided that the write was one it virtualizes and stored it at the register's start
	 * (the low bits of the offset are the access's, as KVM's handle_apic_write notes): complete it as a dword. */
	if (offset >= PAGE_SIZE)
		return;
	val = l->regs[off / 4];
	vlapic_timer_restore(l, off);
	vlapic_mmio_write(l, off, 4, val, now);
}

void vlapic_apicv_eoi(struct vlapic *l, u8 vector)
{
	u32 tmr = l->regs[(VLAPIC_REG_TMR + (u32)(vector >> 5) * 0x10) / 4];

	/* The EOI-exit bitmap follows what is outstanding (vlapic_apicv_state), which this EOI changed. */
	l->apicv_dirty = true;
	if ((tmr >> (vector & 31)) & 1 && !(l->regs[VLAPIC_REG_SVR / 4] & VLAPIC_SVR_EOI_SUPPRESS) && l->ops->eoi)
		l->ops->eoi(l->owner, vector);
}
