/* Posting into a vCPU's inbox and draining it into the vLAPIC (see vm/inbox.h). A post is a store and an atomic OR
 * (a short compare-exchange loop for INIT), so senders never wait for each other or for the owner; the owner takes
 * each word with an exchange, so a bit set during the drain is either taken now or stays for the next one. */
#include "vm/dev/vlapic.h"
#include "vm/inbox.h"

bool inbox_post(struct vcpu_inbox *b, u32 icr_lo)
{
	u8 vector = icr_lo & VLAPIC_ICR_VECTOR;
	u32 ev;

	switch ((icr_lo & VLAPIC_ICR_DM) >> VLAPIC_ICR_DM_SHIFT) {
	case VLAPIC_DM_FIXED:
	case VLAPIC_DM_LOWPRI:
		/* The mode byte goes first: a drain that sees the summary bit then takes the byte, mode and pending
		 * together. A drain that takes the byte before our summary bit lands delivers this post early, and the
		 * next drain finds the bit with a zero byte and skips it. */
		__atomic_store_n(&b->mode[vector], (icr_lo & VLAPIC_ICR_LEVEL) ? INBOX_LEVEL : INBOX_EDGE,
				 __ATOMIC_RELEASE);
		__atomic_fetch_or(&b->pending[vector / 64], 1ULL << (vector % 64), __ATOMIC_SEQ_CST);
		return true;
	case VLAPIC_DM_NMI:
		/* The count first: a drain that takes the flag takes the count with it, or finds it at its next one. A
		 * count the flag's drain already took leaves a later flag with 0, which delivers nothing. Beyond
		 * VLAPIC_NMI_MAX waiting, an NMI is lost, as it would be in the vLAPIC. */
		ev = __atomic_load_n(&b->nmis, __ATOMIC_RELAXED);
		while (ev < VLAPIC_NMI_MAX &&
		       !__atomic_compare_exchange_n(&b->nmis, &ev, ev + 1, true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
			;
		__atomic_fetch_or(&b->events, INBOX_NMI, __ATOMIC_SEQ_CST);
		return true;
	case VLAPIC_DM_INIT:
		ev = __atomic_load_n(&b->events, __ATOMIC_RELAXED);
		while (!__atomic_compare_exchange_n(&b->events, &ev, (ev | INBOX_INIT) & ~INBOX_SIPI, true,
						    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
			;
		return true;
	case VLAPIC_DM_SIPI:
		__atomic_store_n(&b->sipi_vector, vector, __ATOMIC_RELAXED);
		__atomic_fetch_or(&b->events, INBOX_SIPI, __ATOMIC_SEQ_CST);
		return true;
	default:
		return false;
	}
}

bool inbox_pending(const struct vcpu_inbox *b)
{
	if (__atomic_load_n(&b->events, __ATOMIC_ACQUIRE))
		return true;
	for (int i = 0; i < 4; i++)
		if (__atomic_load_n(&b->pending[i], __ATOMIC_ACQUIRE))
			return true;
	return false;
}

bool inbox_drain(struct vcpu_inbox *b, struct vlapic *l, void (*dropped_level)(void *owner, u8 vector),
		 void *owner)
{
	bool any = false;
	/* INIT before SIPI: a SIPI posted before the INIT was cancelled by it (inbox_post), so one still here came
	 * after it. INIT also discards whatever fixed messages the vLAPIC had, as it should. */
	u32 ev = __atomic_load_n(&b->events, __ATOMIC_ACQUIRE) ? __atomic_exchange_n(&b->events, 0, __ATOMIC_ACQ_REL) : 0;

	if (ev) {
		any = true;
		if (ev & INBOX_INIT)
			vlapic_deliver(l, VLAPIC_DM_INIT << VLAPIC_ICR_DM_SHIFT | VLAPIC_ICR_ASSERT);
		if (ev & INBOX_SIPI)
			vlapic_deliver(l, VLAPIC_DM_SIPI << VLAPIC_ICR_DM_SHIFT |
						  __atomic_load_n(&b->sipi_vector, __ATOMIC_RELAXED));
		if (ev & INBOX_NMI)
			for (u32 n = __atomic_exchange_n(&b->nmis, 0, __ATOMIC_ACQ_REL); n; n--)
				vlapic_deliver(l, VLAPIC_DM_NMI << VLAPIC_ICR_DM_SHIFT);
	}
	for (int i = 0; i < 4; i++) {
		/* A plain load first: the drain runs before every entry, and most of the time the inbox is empty. */
		if (!__atomic_load_n(&b->pending[i], __ATOMIC_ACQUIRE))
			continue;
		u64 bits = __atomic_exchange_n(&b->pending[i], 0, __ATOMIC_ACQ_REL);
		while (bits) {
			u8 vector = (u8)(i * 64 + __builtin_ctzll(bits));
			bits &= bits - 1;
			u8 mode = __atomic_exchange_n(&b->mode[vector], 0, __ATOMIC_ACQ_REL);
			if (!mode)
				continue; /* an earlier drain took it with the previous post's byte */
			any = true;
			/* Illegal vectors still reach vlapic_set_irq, which records them in the ESR while enabled. */
			if (vector >= 16 && !vlapic_accepts_fixed(l)) {
				if (mode == INBOX_LEVEL && dropped_level)
					dropped_level(owner, vector);
				continue;
			}
			vlapic_set_irq(l, vector, mode == INBOX_LEVEL);
		}
	}
	return any;
}
