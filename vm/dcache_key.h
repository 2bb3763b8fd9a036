/* What a decode-cache entry is keyed by and guarded with, for both of its users: the MMIO fast path's cache
 * (vm/mmio_fast.c) and the backend's instruction-length cache (vm/insn_len_cache.c). One definition, so that the
 * two can never disagree on what makes a cached decode valid. */
#ifndef VM_DCACHE_KEY_H
#define VM_DCACHE_KEY_H

#include "vm/emulate/dcache.h"
#include "vm/emulate/emulate.h"

/* What the fetch and decode at CS:RIP depend on, as the guest sees it. */
struct insn_fetch_state {
	u64 rip, rflags;
	u64 cr0, cr3, cr4, efer;
	u64 cs_base;
	u32 cs_limit;
	u16 cs_attr; /* vcpu_segment attributes (L, D/B) */
	u8 cpl;
};

/* The key of the instruction at CS:RIP and the mode it decodes in; false where no entry may be used: PAE paging
 * outside long mode walks from the PDPTE registers, not from memory the guard could re-read. */
bool vcpu_dcache_key(const struct insn_fetch_state *st, struct emu_dcache_key *k, enum emu_mode *mode);
/* RFLAGS.VM (arch/x86/cpu.h's RFLAGS_VM, checked equal in dcache_key.c): this header is in struct vcpu's, which
 * host unit tests include without the CPU's header. */
#define DCACHE_RFLAGS_VM BIT(17)

/* Whether a and b make the same key (each field vcpu_dcache_key reads; RFLAGS for its VM bit only). */
static inline bool insn_fetch_state_same_key(const struct insn_fetch_state *a, const struct insn_fetch_state *b)
{
	return a->rip == b->rip && a->cr3 == b->cr3 && a->cr0 == b->cr0 && a->cr4 == b->cr4 && a->efer == b->efer &&
	       !((a->rflags ^ b->rflags) & DCACHE_RFLAGS_VM) && a->cs_base == b->cs_base &&
	       a->cs_limit == b->cs_limit && a->cs_attr == b->cs_attr && a->cpl == b->cpl;
}

/* The last few states keys were built from, with their keys: an MMIO loop exits from the same RIP in the same state
 * again and again (an interrupt's ICR write and its handler's EOI from two), and comparing a state costs a fraction
 * of building its key (emu_mode_of, the flags). A key is a function of the state alone: nothing goes stale. */
#define DCACHE_KEY_MEMO 4

struct dcache_key_memo {
	struct dcache_key_memo_entry {
		bool valid;
		enum emu_mode mode;
		struct insn_fetch_state st;
		struct emu_dcache_key key;
	} e[DCACHE_KEY_MEMO];
	u8 next; /* the entry the next new state replaces */
	u8 last; /* the entry of the last hit or insertion */
};

/* vcpu_dcache_key through the memo m, which it updates. */
static inline bool vcpu_dcache_key_memo(struct dcache_key_memo *m, const struct insn_fetch_state *st,
					struct emu_dcache_key *k, enum emu_mode *mode)
{
	struct dcache_key_memo_entry *e;

	/* The last hit first: a loop's exits come from one RIP. */
	for (unsigned int i = 0, n = m->last; i < DCACHE_KEY_MEMO; i++, n = (n + 1) % DCACHE_KEY_MEMO) {
		e = &m->e[n];
		if (e->valid && e->st.rip == st->rip && insn_fetch_state_same_key(&e->st, st)) {
			m->last = (u8)n;
			*k = e->key;
			*mode = e->mode;
			return true;
		}
	}
	if (!vcpu_dcache_key(st, k, mode))
		return false;
	m->last = m->next;
	e = &m->e[m->next];
	m->next = (m->next + 1) % DCACHE_KEY_MEMO;
	*e = (struct dcache_key_memo_entry){.valid = true, .mode = *mode, .st = *st, .key = *k};
	return true;
}

/* The guard's comparison (emu_dcache_check's callback), opaque being the vCPU: each range of guest memory still
 * holds what the entry expects. */
int vcpu_dcache_guard_equal(void *opaque, const struct emu_dcache_range *r, unsigned int n);

#endif
