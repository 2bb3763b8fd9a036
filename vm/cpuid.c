/* The CPUID a vCPU sees: its VM's table (vm/cpuid_table.h), built once the VM's inputs are known, and the bits that
 * follow the vCPU's own state read from it at each lookup. */
#include "arch/x86/cpu.h"
#include "arch/x86/virt.h"
#include "vm/private.h"
#include "vm/dev/vlapic.h"
#include "vm/vcpu.h"

u8 vcpu_maxphyaddr(void)
{
	static u8 maxphyaddr;

	if (!maxphyaddr)
		maxphyaddr = cpuid(0x80000000).eax >= 0x80000008 ? (u8)cpuid(0x80000008).eax : 36;
	return maxphyaddr;
}

static void host_cpuid(void *ctx, u32 leaf, u32 sub, u32 out[4])
{
	struct cpuid_regs r = cpuid_count(leaf, sub);

	out[0] = r.eax;
	out[1] = r.ebx;
	out[2] = r.ecx;
	out[3] = r.edx;
}

void vm_cpuid_init(struct vm *vm, bool amd)
{
	const struct cpuid_host h = {
		.cpuid = host_cpuid,
		.amd = amd,
		.pku = cpu_has_pku(),
		.la57 = cpu_has_la57(),
		.shared_bit = vm_private_shared_bit(vm),
	};

	cpuid_table_build(&vm->cpuid, &h);
}

void cpuid_vcpu_dyn(struct vcpu *v, u32 dyn, u32 sub, u32 out[4])
{
	struct cpuid_vcpu s = { .apic_id = v->id, .misc_enable = v->msrs.misc_enable };

	if (dyn == CPUID_DYN_LEAF1)
		s.apic_enabled = vlapic_mode(v->lapic) != VLAPIC_MODE_DISABLED;
	else if (dyn == CPUID_DYN_LEAF7)
		s.cr4_pke = virt_ops->get_cr(v, 4) & CR4_PKE;
	cpuid_apply_dyn(dyn, sub, &s, out);
}

void cpuid_vcpu_dyn_regs(struct vcpu *v, const struct cpuid_entry *e, u32 sub)
{
	u32 out[4] = { e->eax, e->ebx, e->ecx, e->edx };

	cpuid_vcpu_dyn(v, e->dyn, sub, out);
	v->regs[VCPU_RAX] = out[0];
	v->regs[VCPU_RBX] = out[1];
	v->regs[VCPU_RCX] = out[2];
	v->regs[VCPU_RDX] = out[3];
}

void cpuid_policy(struct vcpu *v, u32 leaf, u32 sub, u32 out[4])
{
	const struct cpuid_entry *e = cpuid_table_get(&v->vm->cpuid, leaf, sub);

	out[0] = e->eax;
	out[1] = e->ebx;
	out[2] = e->ecx;
	out[3] = e->edx;
	if (cpuid_dyn_applies(e->dyn, v->msrs.misc_enable))
		cpuid_vcpu_dyn(v, e->dyn, sub, out);
}
