/* The intercepted instruction's decode from a per-vCPU cache guarded by its fetch's paging entries and bytes
 * (vm/insn_len_cache.c): for backends whose exits do not give the length (SVM without NRIPS). */
#ifndef VM_INSN_LEN_CACHE_H
#define VM_INSN_LEN_CACHE_H

#include "vm/dcache_key.h"
#include "vm/emulate/dcache.h"

struct vcpu;


struct insn_len_cache {
	struct emu_dcache dc;
	/* The last hit: its fetch state, key and entry, so that a loop exiting from one RIP neither builds the key nor
	 * searches the set again (the guard still runs every time). last_e is NULL, or dc's entry for last_key: only
	 * this file inserts and drops, and it forgets last_e first. */
	struct insn_fetch_state last_st;
	struct emu_dcache_key last_key;
	struct emu_dcache_entry *last_e;
};

/* vcpu_decode_insn's contract (vm/vcpu.h), the same result, from c when the guard allows: on 0, *out is the decode,
 * in c (valid until the next call) or in buf. */
int vcpu_decode_insn_cached(struct vcpu *v, struct insn_len_cache *c, const struct insn_fetch_state *st,
			    struct emu_insn *buf, const struct emu_insn **out);

#endif
