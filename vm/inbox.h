/* A vCPU's inbox: interrupts and INIT/SIPI/NMI sent to it from other CPUs (IOAPIC messages, IPIs). A vLAPIC belongs
 * to its vCPU and is never touched by another CPU; a sender posts here instead, lock-free, and the owner drains the
 * inbox into its vLAPIC before it next decides what to inject (the software form of posted interrupts). Senders may
 * post concurrently with each other and with the drain; a post is never lost, and the posts of one vector before a
 * drain coalesce, as a second edge does in a real IRR. NMIs are counted instead: two sent at once both arrive. */
#ifndef VM_INBOX_H
#define VM_INBOX_H

#include "hv/types.h"

struct vlapic;

#define INBOX_NMI  (1u << 0)
#define INBOX_INIT (1u << 1)
#define INBOX_SIPI (1u << 2)

struct vcpu_inbox {
	u64 pending[4]; /* atomic: summary, one bit per vector with a fixed or lowest-priority message waiting */
	u8 mode[256];   /* atomic: that message's trigger mode (INBOX_EDGE, INBOX_LEVEL), 0 once drained */
	u32 events;     /* atomic: INBOX_* */
	u32 nmis;       /* atomic: NMIs posted since the last drain (INBOX_NMI says there are some) */
	u8 sipi_vector; /* written before INBOX_SIPI is set; the last SIPI wins, as in the vLAPIC */
};

#define INBOX_EDGE  1
#define INBOX_LEVEL 2

/* Post an interrupt message in ICR low-word form (delivery mode, vector, trigger mode). Any CPU. Returns false for a
 * delivery mode the inbox does not carry (SMI, ExtINT, reserved): the caller handles or drops those. An INIT is
 * always an INIT here: callers filter the INIT level de-assert (the vLAPIC's ICR decode does), and it cancels a
 * SIPI still waiting, as the same two messages would in a vLAPIC. */
bool inbox_post(struct vcpu_inbox *b, u32 icr_lo);
/* Whether anything is waiting (a racy hint: a post may land right after it returns false). */
bool inbox_pending(const struct vcpu_inbox *b);
/* Owner only: move everything posted into the vLAPIC, as if each message arrived now. Level-triggered vectors the
 * vLAPIC drops (it is disabled) are reported through *dropped_level(owner, vector), so the IOAPIC pin that sent them
 * is not left waiting for an EOI that will never come. Returns true if anything was drained. */
bool inbox_drain(struct vcpu_inbox *b, struct vlapic *l, void (*dropped_level)(void *owner, u8 vector),
		 void *owner);

#endif
