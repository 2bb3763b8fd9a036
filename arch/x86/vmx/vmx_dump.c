/* A full VMCS dump for failed entries and unhandled exits: controls, guest state and exit information. */
#include "arch/x86/virt.h"
#include "arch/x86/vmx/vmx.h"
#include "hv/log.h"

#define P(f) pr_err("  %-28s 0x%llx\n", #f, (unsigned long long)vmcs_read(f))

void vmx_dump_state(struct vcpu *v)
{
	struct vmx_vcpu *x = to_vmx(v);

	vmcs_cache_flush(&x->vc); /* the handler's pending writes, so that the dump shows what entry would load */
	pr_err("vmx: VMCS of vm %s vcpu %u (VMCS at 0x%llx, VPID %u, EPTP 0x%llx)\n", v->vm->name, v->id,
	       (unsigned long long)x->vmcs, x->vpid, (unsigned long long)x->eptp);
	P(VM_INSTRUCTION_ERROR);
	P(VM_EXIT_REASON);
	P(EXIT_QUALIFICATION);
	P(VM_EXIT_INTR_INFO);
	P(VM_EXIT_INTR_ERROR_CODE);
	P(IDT_VECTORING_INFO_FIELD);
	P(VM_EXIT_INSTRUCTION_LEN);
	P(GUEST_PHYSICAL_ADDRESS);
	P(GUEST_LINEAR_ADDRESS);
	P(PIN_BASED_VM_EXEC_CONTROL);
	P(CPU_BASED_VM_EXEC_CONTROL);
	P(SECONDARY_VM_EXEC_CONTROL);
	P(VM_ENTRY_CONTROLS);
	P(VM_EXIT_CONTROLS);
	P(VM_ENTRY_INTR_INFO_FIELD);
	P(EXCEPTION_BITMAP);
	P(EPT_POINTER);
	P(GUEST_RIP);
	P(GUEST_RSP);
	P(GUEST_RFLAGS);
	P(GUEST_CR0);
	P(CR0_READ_SHADOW);
	P(GUEST_CR3);
	P(GUEST_CR4);
	P(CR4_READ_SHADOW);
	pr_err("  %-28s 0x%llx\n", "guest EFER (CPU's)", (unsigned long long)vmx_read_guest_efer(x));
	pr_err("  %-28s 0x%llx\n", "guest PAT", (unsigned long long)vmx_read_guest_pat(x));
	if (x->shadow)
		pr_err("  shadow paging: guest CR0 0x%llx CR3 0x%llx CR4 0x%llx EFER 0x%llx%s\n",
		       (unsigned long long)vmx_get_cr(v, 0), (unsigned long long)x->g_cr3, (unsigned long long)x->cr4,
		       (unsigned long long)x->efer, x->vm86 ? ", real mode in vm86" : "");
	P(GUEST_DR7);
	P(GUEST_INTERRUPTIBILITY_INFO);
	P(GUEST_ACTIVITY_STATE);
	static const char *const names[] = { "ES", "CS", "SS", "DS", "FS", "GS", "LDTR", "TR" };
	for (int i = 0; i < NR_SEGS; i++) {
		struct vcpu_segment s;
		vmx_get_segment(v, i, &s);
		pr_err("  %-4s sel 0x%04x base 0x%016llx limit 0x%08x attr 0x%03x\n", names[i], s.selector,
		       (unsigned long long)s.base, s.limit, s.attr);
	}
	P(GUEST_GDTR_BASE);
	P(GUEST_GDTR_LIMIT);
	P(GUEST_IDTR_BASE);
	P(GUEST_IDTR_LIMIT);
	for (int i = 0; i < NR_VCPU_GPRS; i += 4)
		pr_err("  r%-2d..r%-2d %016llx %016llx %016llx %016llx\n", i, i + 3, (unsigned long long)v->regs[i],
		       (unsigned long long)v->regs[i + 1], (unsigned long long)v->regs[i + 2],
		       (unsigned long long)v->regs[i + 3]);
}
