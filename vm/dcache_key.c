/* The decode caches' key and guard (see dcache_key.h). */
#include "vm/dcache_key.h"
#include "arch/x86/cpu.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/virt.h"
#include "hv/compiler.h"
#include "vm/vcpu.h"

static_assert(DCACHE_RFLAGS_VM == RFLAGS_VM, "the memo compares the VM flag");

bool vcpu_dcache_key(const struct insn_fetch_state *st, struct emu_dcache_key *k, enum emu_mode *mode)
{
	u64 cr0 = st->cr0, cr4 = st->cr4, efer = st->efer;
	bool pg = cr0 & CR0_PG, lma = efer & EFER_LMA;

	if (pg && !lma && (cr4 & CR4_PAE))
		return false;
	*mode = emu_mode_of(cr0 & CR0_PE, st->rflags & RFLAGS_VM, lma, st->cs_attr & SEG_ATTR_L,
			    st->cs_attr & SEG_ATTR_DB);
	*k = (struct emu_dcache_key){
		.rip = st->rip,
		.cr3 = pg ? st->cr3 : 0,
		.cs_base = st->cs_base,
		.cs_limit = st->cs_limit,
		.flags = EMU_DKEY_MODE(*mode) | EMU_DKEY_CPL(st->cpl) | (pg ? EMU_DKEY_PG : 0) |
			 ((cr4 & CR4_PSE) ? EMU_DKEY_PSE : 0) | ((cr4 & CR4_SMEP) ? EMU_DKEY_SMEP : 0) |
			 (lma ? EMU_DKEY_LMA : 0) | ((cr4 & CR4_LA57) ? EMU_DKEY_LA57 : 0) |
			 ((efer & EFER_NXE) ? EMU_DKEY_NXE : 0) | ((cr0 & CR0_WP) ? EMU_DKEY_WP : 0),
	};
	return true;
}

int vcpu_dcache_guard_equal(void *opaque, const struct emu_dcache_range *r, unsigned int n)
{
	static_assert(sizeof(struct emu_dcache_range) == sizeof(struct mmu_gpa_range) &&
			      offsetof(struct emu_dcache_range, expect) == offsetof(struct mmu_gpa_range, expect) &&
			      offsetof(struct emu_dcache_range, len) == offsetof(struct mmu_gpa_range, len),
		      "the cache's ranges are the MMU's");
	return mmu_gpa_equal(&((struct vcpu *)opaque)->vm->mmu, (const struct mmu_gpa_range *)r, n);
}
