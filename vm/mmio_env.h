/* Internal to vm/mmio.c, vm/mmio_fast.c, vm/mmio_sys.c (and vm/lapic_eoi.c, for the cached decode): the emulator's environment
 * for a vCPU (its callbacks' state), and the steps of an emulation both files take. Not for other callers: they use
 * vm/vcpu.h. */
#ifndef VM_MMIO_ENV_H
#define VM_MMIO_ENV_H

#include "mm/shadow/gwalk.h"
#include "vm/emulate/dcache.h"
#include "vm/emulate/emulate.h"
#include "vm/vcpu.h"

struct emu_env {
	struct vcpu *v;
	struct gwalk_mode mode; /* valid once mode_ready: the fast path loads it only if a walk is needed */
	bool mode_ready;
	u64 cr3;
	u8 cpl;
	u64 pdptes[4]; /* PAE under TDP: the PDPTEs as the CPU's walk reads them (walk_time_pdptes) */
	/* The gpa the exit reported for the instruction's one data access (INVALID_GPA: none), used instead of a walk
	 * when the linear address has its page offset: that is the translation the CPU made (KVM's gpa_available). */
	gpa_t exit_gpa;
	/* The fetches of the instruction and the first one's walk, for the decode cache. */
	u8 nfetch;
	struct emu_dcache_chain fetch_chain;
	/* The guest's breakpoints, for the data and I/O accesses the emulator makes for the instruction: the CPU
	 * never saw them, so their #DB trap is raised when the instruction completes (mmio_finish). */
	u64 dr7, dr[4];
	u64 db_hits; /* B0-B3 of the breakpoints hit so far */
};

extern const struct emu_ops mmio_emu_ops;
extern const struct emu_sys_ops mmio_sys_ops; /* vm/mmio_sys.c */

/* The environment for v's current state; mmio_env_init_lazy leaves the paging mode to the first walk. */
void mmio_env_init(struct emu_env *env, struct vcpu *v);
void mmio_env_init_lazy(struct emu_env *env, struct vcpu *v, u64 cr3, u8 cpl);
/* The emulator's context for v: registers, mode, every segment, the ops over env. */
void mmio_ctxt_init(struct emu_ctxt *c, struct emu_env *env, struct vcpu *v);
/* The emulator's view of a segment's type (its EMU_SEGF_* flags). */
u8 mmio_seg_flags(u16 attr);
/* Act on the emulator's result (unprotect: see vcpu_emulate_wp, or INVALID_GPA). */
int mmio_finish(struct vcpu *v, struct emu_ctxt *c, enum emu_result r, gpa_t unprotect);
/* The slow path of an MMIO exit: decode and execute; remember the decode under key when key is not NULL. */
int mmio_emulate_fill(struct vcpu *v, const struct emu_dcache_key *key);
/* Decode only, remembered under key (not NULL): 0 with *insn; 1 when the fetch faulted, that fault now queued for
 * the guest (the instruction is not done); a negative errno when the bytes are nothing the decoder knows or decode
 * to #UD (which the CPU would have raised before the exit: other bytes than it ran). */
int mmio_decode_fill(struct vcpu *v, const struct emu_dcache_key *key, struct emu_insn *insn);
/* The MMIO exit's instruction from the decode cache (vm/mmio_fast.c), filled on a miss: mmio_decode_fill's
 * results, on 0 *out being the decode (in the cache, valid until the next decode or emulation, or in buf). For an
 * exit that needs to know only what the instruction is (vm/lapic_eoi.c). */
int mmio_decode_cached(struct vcpu *v, struct emu_insn *buf, const struct emu_insn **out);

#endif
