/* CPUID policy: the guest sees the host's CPU, less every feature this hypervisor cannot back (nested
 * virtualization, performance counters, XSAVE-managed state, MONITOR/MWAIT, thermal and power controls, ...), with
 * its own topology (one logical processor per vCPU), and the hypervisor leaves at 0x40000000. Leaves 7 and the
 * extended feature leaves are whitelists: a new CPU feature stays hidden until someone decides it is safe.
 *
 * cpuid_policy_leaf answers one leaf and subleaf; cpuid_table_build runs it once per VM over every leaf and subleaf
 * it answers differently, and the CPUID exit only looks the answer up (vm/cpuid_table.h). */
#include "vm/cpuid_table.h"

#include "hv/bug.h"
#include "vm/private_abi.h"

/* Features of the hypervisor interface, in leaf 0x40000001 EAX. */
#define HV_FEATURE_TESTDEV BIT(0)   /* the counter device at ports 0x5f0-0x5ff */
#define HV_FEATURE_HYPERCALL BIT(1) /* VMCALL/VMMCALL: 0 = NOP, 1 = read counter RBX */

#define L1_ECX_HIDE                                                                                                    \
	(BIT(2) | BIT(3) | BIT(4) | BIT(5) | BIT(6) | BIT(7) | BIT(8) | BIT(12) | BIT(14) | BIT(15) | BIT(18) |        \
	 BIT(26) | BIT(27) | BIT(28) | BIT(29))
#define L1_ECX_SET (BIT(21) | BIT(24) | BIT(31)) /* x2APIC, TSC-deadline (the vLAPIC has both), hypervisor */
#define L1_EDX_HIDE (BIT(12) | BIT(21) | BIT(22) | BIT(28) | BIT(29) | BIT(31))
/* MCE and MCA: the machine-check MSRs are the vCPU's own (vm/msr_arch.c), whatever the host has. */
#define L1_EDX_SET (BIT(7) | BIT(14))
/* IA32_TSC_ADJUST, which vm/msr_arch.c emulates on any host, as KVM offers it on both vendors. */
#define L7_EBX_SET BIT(1)
/* FSGSBASE BMI1 SMEP BMI2 ERMS ADX SMAP CLFLUSHOPT CLWB SHA RDSEED. INVPCID stays hidden: no backend offers it. */
#define L7_EBX_KEEP                                                                                                    \
	(BIT(0) | BIT(3) | BIT(7) | BIT(8) | BIT(9) | BIT(18) | BIT(19) | BIT(20) | BIT(23) | BIT(24) | BIT(29))
#define EXT1_ECX_KEEP (BIT(0) | BIT(5) | BIT(6) | BIT(7) | BIT(8))
#define EXT1_EDX_KEEP                                                                                                  \
	(GENMASK_ULL(9, 0) | GENMASK_ULL(17, 11) | BIT(20) | BIT(22) | BIT(23) | BIT(24) | BIT(25) | BIT(26) |       \
	 BIT(27) | BIT(29))

static void hv_leaves(const struct cpuid_host *h, u32 leaf, struct cpuid_entry *e)
{
	if (leaf == CPUID_HV_BASE) {
		e->eax = CPUID_HV_MAX;
		e->ebx = 0x7263694d; /* "MicroHVisor!" */
		e->ecx = 0x6956486f;
		e->edx = 0x21726f73;
	} else if (leaf == CPUID_HV_BASE + 1) {
		e->eax = HV_FEATURE_TESTDEV | HV_FEATURE_HYPERCALL;
		if (h->shared_bit) {
			e->eax |= HV_FEATURE_PRIVATE;
			e->ebx = h->shared_bit;
		}
	}
}

void cpuid_policy_leaf(const struct cpuid_host *h, u32 leaf, u32 sub, struct cpuid_entry *e)
{
	u32 r[4];

	*e = (struct cpuid_entry){ 0 };
	if (leaf >= CPUID_HV_BASE && leaf < CPUID_HV_BASE + 0x100) {
		hv_leaves(h, leaf, e);
		return;
	}
	if (leaf > CPUID_EXT_MAX || (leaf > CPUID_BASIC_MAX && leaf < CPUID_EXT_BASE))
		return;
	h->cpuid(h->ctx, leaf, sub, r);
	switch (leaf) {
	case 0:
		r[0] = MIN(r[0], (u32)CPUID_BASIC_MAX);
		if (!h->amd)
			e->dyn = CPUID_DYN_LEAF0;
		break;
	case 1:
		r[1] = (r[1] & 0xffff) | (1u << 16);
		r[2] = (r[2] & ~(u32)L1_ECX_HIDE) | (u32)L1_ECX_SET;
		r[3] = (r[3] & ~(u32)L1_EDX_HIDE) | (u32)L1_EDX_SET;
		e->dyn = CPUID_DYN_LEAF1;
		break;
	case 4:
		r[0] &= 0x3fff; /* one core per package, no cache sharing: EAX[31:14] = 0 */
		break;
	case 7:
		if (sub != 0) {
			r[0] = r[1] = r[2] = r[3] = 0;
			break;
		}
		r[0] = 0;
		r[1] = (r[1] & (u32)L7_EBX_KEEP) | (u32)L7_EBX_SET;
		r[2] = r[3] = 0;
		/* PKU, and OSPKE as the guest's CR4.PKE says (the hardware's own rule): its PKRU is in the CPU's
		 * register while it runs, reset between guests (fpu_reset). Shadow leaves carry the guest's keys. */
		if (h->pku) {
			r[2] |= BIT(3);
			e->dyn = CPUID_DYN_LEAF7;
		}
		/* 5-level paging where the CPU has it: both backends run the guest with its own CR4.LA57, and the
		 * shadow MMU builds 5-level roots for it (mm/shadow/spage.c: shadow_root_key). */
		if (h->la57)
			r[2] |= BIT(16);
		break;
	case 0xb:
		/* One thread in one core: the x2APIC ID is the vCPU index at every level. ECX[15:8] is the level type
		 * (1 SMT, 2 core, 0 past the last level); ECX[7:0] the input's (SDM Vol. 2A CPUID 0BH). */
		r[0] = 0;
		r[1] = sub < 2 ? 1 : 0;
		r[2] = sub < 2 ? (sub + 1) << 8 : 0;
		r[3] = 0;
		e->dyn = CPUID_DYN_TOPOLOGY;
		break;
	case 2:
	case 3:
	case 5:
		break;
	case 0x80000000:
		r[0] = MIN(r[0], (u32)CPUID_EXT_MAX);
		break;
	case 0x80000001:
		r[2] &= (u32)EXT1_ECX_KEEP;
		r[3] &= (u32)EXT1_EDX_KEEP;
		if (h->amd)
			r[3] |= (u32)L1_EDX_SET; /* AMD mirrors MCE and MCA here */
		else
			e->dyn = CPUID_DYN_EXT1;
		break;
	case 0x80000002:
	case 0x80000003:
	case 0x80000004:
	case 0x80000005:
	case 0x80000006:
		break;
	case 0x80000007:
		r[0] = r[1] = r[2] = 0;
		r[3] &= BIT(8); /* invariant TSC: the guest's TSC is the host's */
		break;
	case 0x80000008:
		r[0] &= 0xffff; /* physical and linear address sizes */
		r[1] = r[2] = r[3] = 0;
		break;
	default:
		/* 6 (power), 8, 9, 0xa (PMU), 0xc, 0xd (XSAVE): nothing this hypervisor backs. */
		return;
	}
	e->eax = r[0];
	e->ebx = r[1];
	e->ecx = r[2];
	e->edx = r[3];
}

/* How many subleaves of basic leaf the table keeps: the last one kept answers for every subleaf above it. The
 * host's answer to the leaves other than 4, 7 and 0BH does not depend on ECX (SDM Vol. 2A CPUID), nor does the
 * policy's for those: 0DH is all zero while XSAVE stays hidden. Leaf 4 ends at the host's first null cache (type 0),
 * whose answer every later subleaf repeats. */
static u32 policy_subleaves(const struct cpuid_host *h, u32 leaf)
{
	struct cpuid_entry e;
	u32 n;

	switch (leaf) {
	case 4:
		for (n = 0; n < CPUID_LEAF4_SUBS - 1; n++) {
			cpuid_policy_leaf(h, 4, n, &e);
			if (!(e.eax & 0x1f))
				break;
		}
		return n + 1;
	case 7:
		return 2; /* subleaf 0, and the all-zero rest */
	case 0xb:
		return 3; /* the SMT level, the core level, and every subleaf past them */
	default:
		return 1;
	}
}

void cpuid_table_build(struct cpuid_table *t, const struct cpuid_host *h)
{
	u32 next = 0;

	for (u32 leaf = 0; leaf <= CPUID_BASIC_MAX; leaf++) {
		u32 n = policy_subleaves(h, leaf);

		BUG_ON(next + n - 1 > ARRAY_SIZE(t->more));
		cpuid_policy_leaf(h, leaf, 0, &t->basic[leaf]);
		t->first[leaf] = (u8)next;
		t->last[leaf] = (u8)(n - 1);
		for (u32 s = 1; s < n; s++)
			cpuid_policy_leaf(h, leaf, s, &t->more[next++]);
	}
	for (u32 i = 0; i < ARRAY_SIZE(t->ext); i++)
		cpuid_policy_leaf(h, CPUID_EXT_BASE + i, 0, &t->ext[i]);
	for (u32 i = 0; i < ARRAY_SIZE(t->hv); i++)
		cpuid_policy_leaf(h, CPUID_HV_BASE + i, 0, &t->hv[i]);
	t->none = (struct cpuid_entry){ 0 };
}
