/* The intercepted instruction's decode from a per-vCPU cache guarded by its fetch's paging entries and bytes
 * (vm/insn_len_cache.c): for backends whose exits do not give the length (SVM without NRIPS). */
#ifndef VM_INSN_LEN_CACHE_H
#define VM_INSN_LEN_CACHE_H

#include "hv/compiler.h"

struct vcpu;
struct emu_dcache;
struct emu_insn;

/* What the fetch and decode at CS:RIP depend on, as the guest sees it, filled by the backend straight from its
 * state: the key is built on every exit, and eight virt_ops calls cost more than the lookup. */
struct insn_fetch_state {
	u64 rip, rflags;
	u64 cr0, cr3, cr4, efer;
	u64 cs_base;
	u32 cs_limit;
	u16 cs_attr; /* vcpu_segment attributes (L, D/B) */
	u8 cpl;
};

/* vcpu_decode_insn's contract (vm/vcpu.h), the same result, from dc when the guard allows: on 0, *out is the decode,
 * in dc (valid until the next call) or in buf. */
int vcpu_decode_insn_cached(struct vcpu *v, struct emu_dcache *dc, const struct insn_fetch_state *st,
			    struct emu_insn *buf, const struct emu_insn **out);

#endif
