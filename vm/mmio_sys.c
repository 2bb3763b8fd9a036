/* The emulator's system-instruction callbacks for a vCPU (struct emu_sys_ops, used by vm/mmio.c's context): control
 * and debug registers, descriptor tables, MSRs, HLT, INVLPG and WBINVD, each through the same path as its intercept. */
#include "arch/x86/cpu.h"
#include "arch/x86/virt.h"
#include "vm/debug.h"
#include "vm/dr.h"
#include "vm/mmio_env.h"
#include "vm/vcpu.h"

/* The system instructions, which the emulator runs for VMX's virtual-8086 real mode (every privileged instruction
 * there raises #GP at CPL 3) and wherever else a guest's instruction must be redone: the same paths as the
 * intercepts of MOV CR, RDMSR/WRMSR and HLT. */
static int sys_get_cr(void *opaque, unsigned int cr, u64 *val)
{
	*val = vcpu_read_cr(((struct emu_env *)opaque)->v, (int)cr);
	return 0;
}

static int sys_set_cr(void *opaque, unsigned int cr, u64 val, struct emu_fault *fault)
{
	if (!vcpu_write_cr(((struct emu_env *)opaque)->v, (int)cr, val))
		return 0;
	*fault = (struct emu_fault){ .vector = EXC_GP, .has_error = true };
	return EMU_CB_FAULT;
}

static void sys_get_dt(void *opaque, bool idt, u16 *limit, u64 *base)
{
	struct vcpu_dtable dt;

	virt_ops->get_dtable(((struct emu_env *)opaque)->v, idt, &dt);
	*limit = dt.limit;
	*base = dt.base;
}

static void sys_set_dt(void *opaque, bool idt, u16 limit, u64 base)
{
	struct vcpu_dtable dt = { .base = base, .limit = limit };

	virt_ops->set_dtable(((struct emu_env *)opaque)->v, idt, &dt);
}

static u16 sys_get_seg_sel(void *opaque, unsigned int which)
{
	struct vcpu_segment s;

	virt_ops->get_segment(((struct emu_env *)opaque)->v, which ? SEG_TR : SEG_LDTR, &s);
	return s.selector;
}

static int sys_msr(void *opaque, u32 msr, u64 *val, bool write, struct emu_fault *fault)
{
	struct vcpu *v = ((struct emu_env *)opaque)->v;

	if (!(write ? msr_write(v, msr, *val) : msr_read(v, msr, val)))
		return 0;
	*fault = (struct emu_fault){ .vector = EXC_GP, .has_error = true };
	return EMU_CB_FAULT;
}

static int sys_rdmsr(void *opaque, u32 msr, u64 *val, struct emu_fault *fault)
{
	return sys_msr(opaque, msr, val, false, fault);
}

static int sys_wrmsr(void *opaque, u32 msr, u64 val, struct emu_fault *fault)
{
	return sys_msr(opaque, msr, &val, true, fault);
}

static int sys_halt(void *opaque)
{
	struct vcpu *v = ((struct emu_env *)opaque)->v;

	v->stats[VM_STAT_HLT_EXITS]++;
	v->halted = true;
	return 0;
}

static int sys_invlpg(void *opaque, gva_t linear)
{
	vcpu_invlpg(((struct emu_env *)opaque)->v, linear);
	return 0;
}

static int sys_wbinvd(void *opaque)
{
	(void)opaque; /* caches are coherent for guest RAM; a guest cannot make the host flush them */
	return 0;
}

static int sys_get_dr(void *opaque, unsigned int dr, u64 *val, struct emu_fault *fault)
{
	return vcpu_get_dr(((struct emu_env *)opaque)->v, dr, val, fault);
}

static int sys_set_dr(void *opaque, unsigned int dr, u64 val, struct emu_fault *fault)
{
	return vcpu_set_dr(((struct emu_env *)opaque)->v, dr, val, fault);
}

const struct emu_sys_ops mmio_sys_ops = {
	.get_cr = sys_get_cr, .set_cr = sys_set_cr, .get_dr = sys_get_dr, .set_dr = sys_set_dr,
	.get_dt = sys_get_dt, .set_dt = sys_set_dt,
	.get_seg_sel = sys_get_seg_sel, .rdmsr = sys_rdmsr, .wrmsr = sys_wrmsr, .halt = sys_halt,
	.invlpg = sys_invlpg, .wbinvd = sys_wbinvd,
};
