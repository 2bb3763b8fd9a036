/* The fixture shared by the inbox unit tests (test_inbox*.c): one vCPU's inbox and the real vLAPIC it drains into,
 * owned by a fake vCPU that counts every callback, plus the ICR words senders post and checks of the 256-bit IRR,
 * ISR and TMR. */
#ifndef INBOX_FIXTURE_H
#define INBOX_FIXTURE_H

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

extern struct vlapic lapic;
extern struct owner own;
extern struct vcpu_inbox box;
extern const u64 none[4]; /* an empty 256-bit register */

/* The owner's inbox_drain callback for a level-triggered message a disabled vLAPIC dropped: counted in own. */
void dropped_level(void *o, u8 vector);
u32 rd(u32 off);
void wr(u32 off, u32 val);
/* A fresh, empty inbox and a vLAPIC in its power-up state (software-disabled), optionally software-enabled. */
struct vlapic *setup(bool enable);
/* Fail unless the 256-bit register at base (IRR, ISR, TMR) holds want, vector v at bit v % 64 of want[v / 64]. */
void check_vec_reg(u32 base, const u64 want[4]);
u32 esr(void);

#endif
