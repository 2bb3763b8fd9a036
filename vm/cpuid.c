/* CPUID policy: the guest sees the host's CPU, less every feature this hypervisor cannot back (nested
 * virtualization, performance counters, XSAVE-managed state, MONITOR/MWAIT, thermal and power controls, ...), with
 * its own topology (one logical processor per vCPU), and the hypervisor leaves at 0x40000000. Leaves 7 and the
 * extended feature leaves are whitelists: a new CPU feature stays hidden until someone decides it is safe. */
#include "arch/x86/cpu.h"
#include "arch/x86/virt.h"
#include "hv/string.h"
#include "vm/private.h"
#include "vm/dev/vlapic.h"
#include "vm/vcpu.h"

#define HV_CPUID_BASE 0x40000000
#define HV_CPUID_MAX 0x40000001
#define BASIC_MAX 0xd
#define EXT_MAX 0x80000008

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
/* FSGSBASE BMI1 SMEP BMI2 ERMS ADX SMAP CLFLUSHOPT CLWB SHA RDSEED; INVPCID is added when the backend enables it */
#define L7_EBX_KEEP                                                                                                    \
	(BIT(0) | BIT(3) | BIT(7) | BIT(8) | BIT(9) | BIT(18) | BIT(19) | BIT(20) | BIT(23) | BIT(24) | BIT(29))
#define EXT1_ECX_KEEP (BIT(0) | BIT(5) | BIT(6) | BIT(7) | BIT(8))
#define EXT1_EDX_KEEP                                                                                                  \
	(GENMASK_ULL(9, 0) | GENMASK_ULL(17, 11) | BIT(20) | BIT(22) | BIT(23) | BIT(24) | BIT(25) | BIT(26) |       \
	 BIT(27) | BIT(29))

u8 vcpu_maxphyaddr(void)
{
	static u8 maxphyaddr;

	if (!maxphyaddr)
		maxphyaddr = cpuid(0x80000000).eax >= 0x80000008 ? (u8)cpuid(0x80000008).eax : 36;
	return maxphyaddr;
}

static void hv_leaves(const struct vcpu *v, u32 leaf, u32 out[4])
{
	static const char sig[12] = "MicroHVisor!";

	if (leaf == HV_CPUID_BASE) {
		out[0] = HV_CPUID_MAX;
		memcpy(&out[1], sig, 12);
	} else if (leaf == HV_CPUID_BASE + 1) {
		out[0] = HV_FEATURE_TESTDEV | HV_FEATURE_HYPERCALL;
		if (vm_private_shared_bit(v->vm)) {
			out[0] |= HV_FEATURE_PRIVATE;
			out[1] = vm_private_shared_bit(v->vm);
		}
	}
}

void cpuid_policy(struct vcpu *v, u32 leaf, u32 sub, u32 out[4])
{
	struct cpuid_regs r;

	out[0] = out[1] = out[2] = out[3] = 0; /* no memset call on the CPUID exit's path */
	if (leaf >= HV_CPUID_BASE && leaf < HV_CPUID_BASE + 0x100) {
		hv_leaves(v, leaf, out);
		return;
	}
	if (leaf > EXT_MAX || (leaf > BASIC_MAX && leaf < 0x80000000))
		return;
	r = cpuid_count(leaf, sub);
	switch (leaf) {
	case 0:
		r.eax = MIN(r.eax, (u32)BASIC_MAX);
		/* IA32_MISC_ENABLE.LIMIT_CPUID (Intel): leaf 0 reports at most 2 (SDM Vol. 4 table 2-2). */
		if (!v->msrs.amd && (v->msrs.misc_enable & MISC_LIMIT_CPUID))
			r.eax = MIN(r.eax, 2u);
		break;
	case 1:
		r.ebx = (r.ebx & 0xffff) | (1u << 16) | (v->id << 24);
		r.ecx = (r.ecx & ~(u32)L1_ECX_HIDE) | (u32)L1_ECX_SET;
		r.edx = (r.edx & ~(u32)L1_EDX_HIDE) | (u32)L1_EDX_SET;
		/* APIC follows IA32_APIC_BASE.EN: a globally disabled APIC is as if absent (SDM Vol. 3A 11.4.3). */
		if (vlapic_mode(v->lapic) == VLAPIC_MODE_DISABLED)
			r.edx &= ~(u32)BIT(9);
		break;
	case 4:
		r.eax &= 0x3fff; /* one core per package, no cache sharing: EAX[31:14] = 0 */
		break;
	case 7:
		if (sub == 0) {
			r.eax = 0;
			r.ebx = (r.ebx & (u32)L7_EBX_KEEP) | (u32)L7_EBX_SET;
			r.ecx = r.edx = 0;
			/* PKU, and OSPKE as the guest's CR4.PKE says (the hardware's own rule): its PKRU is in the CPU's
			 * register while it runs, reset between guests (fpu_reset). Shadow leaves carry the guest's keys. */
			if (cpu_has_pku())
				r.ecx |= BIT(3) | ((virt_ops->get_cr(v, 4) & CR4_PKE) ? BIT(4) : 0);
			/* 5-level paging where the CPU has it: both backends run the guest with its own CR4.LA57, and
			 * the shadow MMU builds 5-level roots for it (mm/shadow/spage.c: shadow_root_key). */
			if (cpu_has_la57())
				r.ecx |= BIT(16);
		} else {
			r.eax = r.ebx = r.ecx = r.edx = 0;
		}
		break;
	case 0xb:
		/* One thread in one core: the x2APIC ID is the vCPU index at every level. */
		r.eax = 0;
		r.ebx = sub < 2 ? 1 : 0;
		r.ecx = sub < 2 ? ((sub + 1) << 8) | sub : sub;
		r.edx = v->id;
		break;
	case 2:
	case 3:
	case 5:
		break;
	case 0x80000000:
		r.eax = MIN(r.eax, (u32)EXT_MAX);
		break;
	case 0x80000001:
		r.ecx &= (u32)EXT1_ECX_KEEP;
		r.edx &= (u32)EXT1_EDX_KEEP;
		if (v->msrs.amd)
			r.edx |= (u32)L1_EDX_SET; /* AMD mirrors MCE and MCA here */
		/* IA32_MISC_ENABLE.XD_DISABLE (Intel) hides NX. */
		if (!v->msrs.amd && (v->msrs.misc_enable & MISC_XD_DISABLE))
			r.edx &= ~(u32)BIT(20);
		break;
	case 0x80000002:
	case 0x80000003:
	case 0x80000004:
	case 0x80000005:
	case 0x80000006:
		break;
	case 0x80000007:
		r.eax = r.ebx = r.ecx = 0;
		r.edx &= BIT(8); /* invariant TSC: the guest's TSC is the host's */
		break;
	case 0x80000008:
		r.eax &= 0xffff; /* physical and linear address sizes */
		r.ebx = r.ecx = r.edx = 0;
		break;
	default:
		/* 6 (power), 8, 9, 0xa (PMU), 0xc, 0xd (XSAVE): nothing this hypervisor backs. */
		return;
	}
	out[0] = r.eax;
	out[1] = r.ebx;
	out[2] = r.ecx;
	out[3] = r.edx;
}
