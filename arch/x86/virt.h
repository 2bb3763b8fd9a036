/* The vendor operations table. Every op is listed once in VIRT_OPS; DEFINE_VIRT_OPS(prefix) builds a backend's
 * table from functions named prefix_op, so a backend that lacks an op fails to compile. The table is bound once at
 * boot (virt_select) and nothing outside arch/x86/vmx and arch/x86/svm knows which one it is. */
#ifndef ARCH_X86_VIRT_H
#define ARCH_X86_VIRT_H

#include "hv/types.h"

struct percpu;

/* X(prefix, return type, op, parameters) */
#define VIRT_OPS(X, p)                                                                                                 \
	/* Read and report the capabilities; 0 if this CPU can run the backend with the requested paging mode. */     \
	X(p, int, probe, (bool want_tdp))                                                                              \
	/* Turn virtualization on for the executing CPU (VMXON, or EFER.SVME and the host save area). */              \
	X(p, int, hardware_enable, (struct percpu * cpu))                                                              \
	/* And off again, before poweroff or reboot. */                                                                \
	X(p, void, hardware_disable, (struct percpu * cpu))

#define __VIRT_FIELD(p, ret, op, params) ret(*op) params;
#define __VIRT_INIT(p, ret, op, params) .op = p##_##op,
#define __VIRT_DECL(p, ret, op, params) ret p##_##op params;

struct virt_ops {
	const char *name;
	VIRT_OPS(__VIRT_FIELD, )
};

#define DECLARE_VIRT_OPS(p) VIRT_OPS(__VIRT_DECL, p) extern const struct virt_ops p##_virt_ops
#define DEFINE_VIRT_OPS(p, vname) const struct virt_ops p##_virt_ops = { .name = vname, VIRT_OPS(__VIRT_INIT, p) }

DECLARE_VIRT_OPS(vmx);
DECLARE_VIRT_OPS(svm);

enum virt_backend { VIRT_AUTO, VIRT_VMX, VIRT_SVM, VIRT_NONE };

/* The bound backend, or NULL when the machine has none usable. */
extern const struct virt_ops *virt_ops;
extern bool virt_tdp; /* nested paging (EPT/NPT) in use */

/* Report the CPU, pick the backend (`want` from hv.backend=, `tdp` from hv.tdp=) and probe it. 0 or -ENODEV. */
int virt_select(enum virt_backend want, bool tdp);

#endif
