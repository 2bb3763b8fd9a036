/* The intercepted instruction's decode from a per-vCPU cache guarded by its fetch's paging entries and bytes
 * (vm/insn_len_cache.c): for backends whose exits do not give the length (SVM without NRIPS). */
#ifndef VM_INSN_LEN_CACHE_H
#define VM_INSN_LEN_CACHE_H

struct vcpu;
struct emu_dcache;
struct emu_insn;

/* vcpu_decode_insn's contract (vm/vcpu.h), the same result, from dc when the guard allows. */
int vcpu_decode_insn_cached(struct vcpu *v, struct emu_dcache *dc, struct emu_insn *insn);

#endif
