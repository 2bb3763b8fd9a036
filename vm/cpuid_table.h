/* The CPUID a VM's guests see, as a table built once per VM (vm/cpuid_table.c), as KVM keeps
 * vcpu->arch.cpuid_entries: a CPUID exit looks its answer up and applies the few bits that follow the vCPU's state
 * (KVM's kvm_update_cpuid_runtime), with no host CPUID instruction and no per-leaf policy on the exit's path.
 *
 * Pure: the host's CPUID answers come through struct cpuid_host, so the host unit tests can build tables of recorded
 * CPUs and check every lookup against the policy itself (cpuid_policy_leaf, the code that builds the table). */
#ifndef VM_CPUID_TABLE_H
#define VM_CPUID_TABLE_H

#include "hv/compiler.h"
#include "hv/types.h"
#include "vm/msr_arch.h"

#define CPUID_BASIC_MAX 0xd /* leaf 0 reports at most this */
#define CPUID_EXT_BASE 0x80000000
#define CPUID_EXT_MAX 0x80000008
#define CPUID_HV_BASE 0x40000000 /* the hypervisor leaves: 0x40000000..0x400000ff */
#define CPUID_HV_MAX 0x40000001
/* Leaf 4 lists the host's caches, one per subleaf, up to the first of type 0 (null): real CPUs have at most 5. */
#define CPUID_LEAF4_SUBS 8

/* What a table is built from: the host's CPUID and what the hypervisor can back for this VM. */
struct cpuid_host {
	void (*cpuid)(void *ctx, u32 leaf, u32 sub, u32 out[4]); /* the host CPU's answer, EAX..EDX */
	void *ctx;
	bool amd;              /* the guest's vendor is AMD (or Hygon), else Intel: as the vCPUs' msr_arch.amd */
	bool pku;              /* protection keys: the host has them and runs guests with their PKRU (cpu_has_pku) */
	bool la57;             /* 5-level paging (cpu_has_la57) */
	unsigned int shared_bit; /* a private VM's shared GPA bit, 0 for an ordinary VM (vm_private_shared_bit) */
};

/* The rule, at most one per leaf, by which an answer follows the vCPU's state, applied at each lookup
 * (cpuid_apply_dyn), and the state each reads: */
enum cpuid_dyn {
	CPUID_DYN_NONE,
	CPUID_DYN_LEAF0,    /* Intel: EAX at most 2 under IA32_MISC_ENABLE.LIMIT_CPUID (SDM Vol. 4 table 2-2):
			     * misc_enable */
	CPUID_DYN_LEAF1,    /* EBX[31:24] the initial APIC ID: apic_id; EDX[9] APIC clear while IA32_APIC_BASE.EN is
			     * (SDM Vol. 3A 11.4.3): apic_enabled */
	CPUID_DYN_LEAF7,    /* ECX[4] OSPKE set while CR4.PKE is: cr4_pke */
	CPUID_DYN_TOPOLOGY, /* 0BH: ECX[7:0] the input's (the level number), EDX the x2APIC ID: apic_id */
	CPUID_DYN_EXT1,     /* 80000001H, Intel: EDX[20] NX clear under IA32_MISC_ENABLE.XD_DISABLE: misc_enable */
};

struct cpuid_entry {
	u32 eax, ebx, ecx, edx; /* the answer, less what its rule adds (those bits are 0 here) */
	u32 dyn;                /* enum cpuid_dyn */
};

/* The vCPU state the rules read. Only the fields the entry's rule reads need to be filled. */
struct cpuid_vcpu {
	u32 apic_id;      /* the vCPU's index */
	bool apic_enabled; /* IA32_APIC_BASE.EN */
	bool cr4_pke;
	u64 misc_enable;  /* IA32_MISC_ENABLE (Intel) */
};

/* Constant once built (vm/launch.c, before any vCPU runs). A basic leaf's subleaf 0 is basic[leaf]; a leaf whose
 * answer depends on the subleaf (last[leaf] > 0) keeps subleaves 1..last[leaf] at more[first[leaf]..], and every
 * subleaf above last[leaf] answers as that one does. */
struct cpuid_table {
	struct cpuid_entry basic[CPUID_BASIC_MAX + 1];
	u8 first[CPUID_BASIC_MAX + 1], last[CPUID_BASIC_MAX + 1];
	struct cpuid_entry more[CPUID_LEAF4_SUBS - 1 + 1 + 2]; /* leaf 4's, 7's and 0BH's */
	struct cpuid_entry ext[CPUID_EXT_MAX - CPUID_EXT_BASE + 1];
	struct cpuid_entry hv[CPUID_HV_MAX - CPUID_HV_BASE + 1];
	struct cpuid_entry none; /* every other leaf: all zero */
};

/* The policy for one leaf and subleaf (the guest sees the host's CPU less what this hypervisor cannot back): the
 * table's entries are its answers, and the unit tests' reference. Calls h->cpuid. */
void cpuid_policy_leaf(const struct cpuid_host *h, u32 leaf, u32 sub, struct cpuid_entry *e);
void cpuid_table_build(struct cpuid_table *t, const struct cpuid_host *h);

/* The entry that answers (leaf, sub): a direct index for each range, no search. */
static inline const struct cpuid_entry *cpuid_table_get(const struct cpuid_table *t, u32 leaf, u32 sub)
{
	u32 i;

	if (leaf <= CPUID_BASIC_MAX) {
		if (likely(!sub) || !t->last[leaf])
			return &t->basic[leaf];
		return &t->more[t->first[leaf] + MIN(sub, (u32)t->last[leaf]) - 1];
	}
	if ((i = leaf - CPUID_EXT_BASE) < ARRAY_SIZE(t->ext))
		return &t->ext[i];
	if ((i = leaf - CPUID_HV_BASE) < ARRAY_SIZE(t->hv))
		return &t->hv[i];
	return &t->none;
}

/* Whether the entry's rule can change its answer now: an IA32_MISC_ENABLE rule does nothing while its bit is clear,
 * as it is for nearly every guest, so that the exit's path calls nothing for them (vcpu_cpuid_regs). */
static __always_inline bool cpuid_dyn_applies(u32 dyn, u64 misc_enable)
{
	if (likely(dyn == CPUID_DYN_NONE))
		return false;
	if (dyn == CPUID_DYN_LEAF0)
		return misc_enable & MISC_LIMIT_CPUID;
	if (dyn == CPUID_DYN_EXT1)
		return misc_enable & MISC_XD_DISABLE;
	return true;
}

/* Apply the entry's rule for subleaf sub and vCPU state s to out (EAX..EDX, copied from the entry). */
static inline void cpuid_apply_dyn(u32 dyn, u32 sub, const struct cpuid_vcpu *s, u32 out[4])
{
	switch (dyn) {
	case CPUID_DYN_LEAF0:
		if (s->misc_enable & MISC_LIMIT_CPUID)
			out[0] = MIN(out[0], 2u);
		break;
	case CPUID_DYN_LEAF1:
		out[1] |= s->apic_id << 24;
		if (!s->apic_enabled)
			out[3] &= ~(u32)BIT(9);
		break;
	case CPUID_DYN_LEAF7:
		if (s->cr4_pke)
			out[2] |= BIT(4);
		break;
	case CPUID_DYN_TOPOLOGY:
		out[2] |= sub & 0xff;
		out[3] = s->apic_id;
		break;
	case CPUID_DYN_EXT1:
		if (s->misc_enable & MISC_XD_DISABLE)
			out[3] &= ~(u32)BIT(20);
		break;
	}
}

#endif
