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
/* The guard's comparison (emu_dcache_check's callback), opaque being the vCPU: each range of guest memory still
 * holds what the entry expects. */
int vcpu_dcache_guard_equal(void *opaque, const struct emu_dcache_range *r, unsigned int n);

#endif
