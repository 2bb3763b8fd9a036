/* Choosing the virtualization backend: from CPUID unless the command line insists, with a clear report of why a
 * backend is not usable. */
#include "arch/x86/cpu.h"
#include "arch/x86/virt.h"
#include "hv/errno.h"
#include "hv/log.h"
#include "hv/string.h"

const struct virt_ops *virt_ops;
bool virt_tdp;
const char *virt_shadow_reason;

static bool cpu_has_vmx(void)
{
	return cpuid(1).ecx & BIT(5);
}

static bool cpu_has_svm(void)
{
	return cpuid(0x80000000).eax >= 0x80000001 && (cpuid(0x80000001).ecx & BIT(2));
}

int virt_select(enum virt_backend want, bool tdp)
{
	char vendor[13], brand[49];
	bool vmx = cpu_has_vmx(), svm = cpu_has_svm();
	const struct virt_ops *ops = NULL;

	cpu_get_vendor(vendor);
	cpu_get_brand(brand);
	pr_info("hv: cpu: %s \"%s\", VMX %s, SVM %s\n", vendor, brand, vmx ? "present" : "absent",
		svm ? "present" : "absent");

	switch (want) {
	case VIRT_NONE:
		pr_info("hv: virt: disabled by hv.backend=none\n");
		return -ENODEV;
	case VIRT_VMX:
		if (!vmx)
			pr_err("hv: virt: hv.backend=vmx, but this CPU has no VMX\n");
		ops = vmx ? &vmx_virt_ops : NULL;
		break;
	case VIRT_SVM:
		if (!svm)
			pr_err("hv: virt: hv.backend=svm, but this CPU has no SVM\n");
		ops = svm ? &svm_virt_ops : NULL;
		break;
	case VIRT_AUTO:
		ops = vmx ? &vmx_virt_ops : svm ? &svm_virt_ops : NULL;
		break;
	}
	if (!ops) {
		if (want == VIRT_AUTO)
			pr_err("hv: virt: neither VMX nor SVM is available on this CPU: guests cannot run\n");
		return -ENODEV;
	}
	const char *why = tdp ? NULL : "hv.tdp=0";
	if (ops->probe(&tdp, &why)) {
		pr_err("hv: virt: the %s backend cannot run on this CPU\n", ops->name);
		return -ENODEV;
	}
	virt_ops = ops;
	virt_tdp = tdp;
	virt_shadow_reason = tdp ? NULL : why;
	if (tdp)
		pr_info("hv: virt: backend %s with %s\n", ops->name, ops == &vmx_virt_ops ? "EPT" : "NPT");
	else
		pr_info("hv: virt: backend %s with shadow paging (%s)\n", ops->name, why);
	return 0;
}
