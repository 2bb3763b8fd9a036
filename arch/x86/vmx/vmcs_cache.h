/* A per-vCPU cache of the VMCS fields an exit handler reads and writes (KVM's VCPU_EXREG_* and vmx->exit_* cache):
 * a field is read on first use after an exit and kept; a write goes to the cache and reaches the VMCS once, at the
 * next VM entry, however often the handler changed it (a CPUID exit reads RFLAGS three times and writes RIP once).
 * Each exit invalidates the cache, since the CPU rewrote every guest-state and exit field.
 *
 * Pure logic over two hooks the includer defines first, so host unit tests run it over a fake VMCS:
 *   u64 vmcs_cache_hw_read(u32 field);  void vmcs_cache_hw_write(u32 field, u64 val);
 * Every access to a cached field must come through here while the vCPU runs: a direct VMREAD could see a value a
 * pending write is about to replace, and a direct VMWRITE would be overwritten at entry. */
#ifndef ARCH_X86_VMX_VMCS_CACHE_H
#define ARCH_X86_VMX_VMCS_CACHE_H

#include "arch/x86/vmx/vmcs.h"
#include "hv/bug.h"

enum vmcs_cached {
	VMCS_C_RIP,
	VMCS_C_RFLAGS,
	VMCS_C_INTR_STATE,    /* GUEST_INTERRUPTIBILITY_INFO */
	VMCS_C_IDT_VECTORING, /* IDT_VECTORING_INFO_FIELD: read-only, exit information */
	NR_VMCS_CACHED
};

struct vmcs_cache {
	u32 avail; /* BIT(f): val[f] is the field's current value (read since the exit, or written) */
	u32 dirty; /* BIT(f): written since the exit; the VMCS gets val[f] at the next entry */
	u64 val[NR_VMCS_CACHED];
};

static inline u32 vmcs_cache_encoding(enum vmcs_cached f)
{
	static const u32 enc[NR_VMCS_CACHED] = {
	    [VMCS_C_RIP] = GUEST_RIP,
	    [VMCS_C_RFLAGS] = GUEST_RFLAGS,
	    [VMCS_C_INTR_STATE] = GUEST_INTERRUPTIBILITY_INFO,
	    [VMCS_C_IDT_VECTORING] = IDT_VECTORING_INFO_FIELD,
	};
	return enc[f];
}

static inline bool vmcs_cache_writable(enum vmcs_cached f)
{
	return f != VMCS_C_IDT_VECTORING;
}

static inline u64 vmcs_cache_read(struct vmcs_cache *c, enum vmcs_cached f)
{
	if (!(c->avail & BIT(f))) {
		c->val[f] = vmcs_cache_hw_read(vmcs_cache_encoding(f));
		c->avail |= BIT(f);
	}
	return c->val[f];
}

static inline void vmcs_cache_write(struct vmcs_cache *c, enum vmcs_cached f, u64 val)
{
	BUG_ON(!vmcs_cache_writable(f));
	c->val[f] = val;
	c->avail |= BIT(f);
	c->dirty |= BIT(f);
}

static inline void vmcs_cache_flush_one(struct vmcs_cache *c, u32 d, enum vmcs_cached f)
{
	if (d & BIT(f))
		vmcs_cache_hw_write(vmcs_cache_encoding(f), c->val[f]);
}

/* Before VM entry: each dirty field once. Unrolled over the writable fields: a loop over the mask costs more than
 * the VMWRITEs it saves (most exits dirty RIP alone). */
static inline void vmcs_cache_flush(struct vmcs_cache *c)
{
	u32 d = c->dirty;

	static_assert(NR_VMCS_CACHED == 4, "the three writable fields are flushed below, the fourth is read-only");
	if (!d)
		return;
	c->dirty = 0;
	vmcs_cache_flush_one(c, d, VMCS_C_RIP);
	if (d == BIT(VMCS_C_RIP))
		return;
	vmcs_cache_flush_one(c, d, VMCS_C_RFLAGS);
	vmcs_cache_flush_one(c, d, VMCS_C_INTR_STATE);
}

/* After VM exit (or a failed entry): the CPU's values are the truth again. Nothing may be pending here, since the
 * entry flushed it. */
static inline void vmcs_cache_invalidate(struct vmcs_cache *c)
{
	BUG_ON(c->dirty);
	c->avail = 0;
}

/* After VM exit, with field f read at once (the IDT-vectoring information, which every exit looks at): the same as
 * vmcs_cache_invalidate then vmcs_cache_read, in one store of the mask. vmx_vcpu_run flushed just before the entry,
 * so nothing is dirty (vmcs_cache_invalidate's check, not repeated on every exit). */
static inline u64 vmcs_cache_reset_read(struct vmcs_cache *c, enum vmcs_cached f)
{
	c->val[f] = vmcs_cache_hw_read(vmcs_cache_encoding(f));
	c->avail = BIT(f);
	return c->val[f];
}

/*
 * Stepping over the instruction that exited (an exit handler's commonest update): RIP advanced by len, the STI or
 * MOV-SS shadow the instruction was in ended, and RFLAGS returned for the caller's RF/TF check. The same as
 * vmcs_cache_read/write of the three fields, with the masks kept in registers and stored once: this runs on every
 * CPUID, port I/O and hypercall exit.
 */
static inline u64 vmcs_cache_skip(struct vmcs_cache *c, u64 len, u32 shadow_bits)
{
	u32 avail = c->avail, dirty = c->dirty | BIT(VMCS_C_RIP);

	if (!(avail & BIT(VMCS_C_RIP)))
		c->val[VMCS_C_RIP] = vmcs_cache_hw_read(vmcs_cache_encoding(VMCS_C_RIP));
	c->val[VMCS_C_RIP] += len;
	if (!(avail & BIT(VMCS_C_INTR_STATE)))
		c->val[VMCS_C_INTR_STATE] = vmcs_cache_hw_read(vmcs_cache_encoding(VMCS_C_INTR_STATE));
	if (unlikely(c->val[VMCS_C_INTR_STATE] & shadow_bits)) {
		c->val[VMCS_C_INTR_STATE] &= ~(u64)shadow_bits;
		dirty |= BIT(VMCS_C_INTR_STATE);
	}
	if (!(avail & BIT(VMCS_C_RFLAGS)))
		c->val[VMCS_C_RFLAGS] = vmcs_cache_hw_read(vmcs_cache_encoding(VMCS_C_RFLAGS));
	c->avail = avail | BIT(VMCS_C_RIP) | BIT(VMCS_C_INTR_STATE) | BIT(VMCS_C_RFLAGS);
	c->dirty = dirty;
	return c->val[VMCS_C_RFLAGS];
}

#endif
