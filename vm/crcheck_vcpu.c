/* The CR/EFER/XCR0 validity rules (vm/crcheck.c) applied to a vCPU: its state from the backend, its CPUID from the
 * policy the guest sees (vm/cpuid.c), so a bit CPUID hides is reserved for it even where the host CPU has it. Also
 * the XSETBV exit, which both backends send here. */
#include "vm/crcheck.h"

#include "arch/x86/cpu.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/virt.h"
#include "hv/errno.h"
#include "vm/vcpu.h"
#include "vm/debug.h"

static void guest_cpuid(struct vcpu *v, struct cr_cpuid *id)
{
	u32 r[4];

	cpuid_policy(v, 1, 0, r);
	id->l1_ecx = r[2];
	id->l1_edx = r[3];
	cpuid_policy(v, 7, 0, r);
	id->l7_ebx = r[1];
	id->l7_ecx = r[2];
	id->l7_edx = r[3];
	cpuid_policy(v, 7, 1, r);
	id->l7_1_eax = r[0];
	cpuid_policy(v, 0x80000001, 0, r);
	id->x1_edx = r[3];
	id->maxphyaddr = vcpu_maxphyaddr();
}

static void guest_state(struct vcpu *v, struct cr_state *s)
{
	struct vcpu_segment cs;

	virt_ops->get_segment(v, SEG_CS, &cs);
	s->cr0 = virt_ops->get_cr(v, 0);
	s->cr3 = virt_ops->get_cr(v, 3);
	s->cr4 = virt_ops->get_cr(v, 4);
	s->efer = virt_ops->get_efer(v);
	s->cs_l = !(cs.attr & SEG_ATTR_UNUSABLE) && (cs.attr & SEG_ATTR_L);
}

int vcpu_check_cr(struct vcpu *v, int cr, u64 val)
{
	struct cr_state s;
	struct cr_cpuid id;

	guest_state(v, &s);
	switch (cr) {
	case 0:
		return cr_check_cr0(&s, val);
	case 3:
		return cr_check_cr3(&s, val, vcpu_maxphyaddr());
	case 4:
		guest_cpuid(v, &id);
		return cr_check_cr4(&s, val, cr_cr4_reserved(&id));
	default:
		return 0;
	}
}

int vcpu_check_efer(struct vcpu *v, u64 val)
{
	struct cr_state s;
	struct cr_cpuid id;

	guest_state(v, &s);
	guest_cpuid(v, &id);
	return cr_check_efer(&s, val, cr_efer_reserved(&id));
}

/* The linear-address width WRMSR checks the canonical MSRs against: 57 bits where the guest's CPU has 5-level
 * paging (whatever CR4.LA57 says, as on hardware), else 48. */
unsigned int vcpu_vaddr_bits(struct vcpu *v)
{
	u32 r[4];

	cpuid_policy(v, 7, 0, r);
	return (r[2] & BIT(16)) ? 57 : 48;
}

/* XSETBV (SDM Vol. 2 XSETBV; Vol. 1 13.3): #UD without CR4.OSXSAVE, #GP at CPL > 0, for an XCR other than XCR0, or
 * for an XCR0 value the rules or the guest's CPUID (leaf 0DH) refuse. CPUID hides XSAVE from guests today, so CR4.
 * OSXSAVE cannot be set (vcpu_check_cr) and the CPU raises #UD itself; an exit that comes anyway gets the same
 * answer. Were XSAVE offered, the only XCR0 a guest could have is the reset value (x87), which is all the
 * hypervisor switches: a write of it is accepted and changes nothing. */
int vcpu_handle_xsetbv(struct vcpu *v)
{
	u64 val = (v->regs[VCPU_RDX] << 32) | (u32)v->regs[VCPU_RAX];
	u32 r[4];

	if (!(virt_ops->get_cr(v, 4) & CR4_OSXSAVE)) {
		vcpu_queue_exception(v, EXC_UD, false, 0);
		return 0;
	}
	cpuid_policy(v, 0xd, 0, r);
	if (virt_ops->get_cpl(v) != 0 || (u32)v->regs[VCPU_RCX] != 0 || cr_check_xcr0(val, ((u64)r[3] << 32) | r[0]) ||
	    val != XCR0_X87) {
		vcpu_queue_exception(v, EXC_GP, true, 0);
		return 0;
	}
	vcpu_skip_instruction(v);
	return 0;
}
