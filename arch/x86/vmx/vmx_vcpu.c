/* VMCS setup for a vCPU: controls chosen from the capability MSRs (TRUE_* where they exist), the host state of the
 * CPU the vCPU is pinned to, MSR and I/O bitmaps, VPID, and the guest state a loader asks for. */
#include "arch/x86/cpu.h"
#include "arch/x86/desc.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/virt.h"
#include "arch/x86/vmx/vmx.h"
#include "vm/vcpu.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "hv/errno.h"
#include "hv/layout.h"
#include "hv/log.h"
#include "hv/platform.h"
#include "hv/spinlock.h"
#include "hv/string.h"

#define NR_VPIDS 4096
static spinlock_t vpid_lock = SPINLOCK_INIT; /* protects vpid_used */
static u8 vpid_used[NR_VPIDS / 8];

static u16 vpid_alloc(void)
{
	u16 id = 0;

	spin_lock(&vpid_lock);
	for (u32 i = 1; i < NR_VPIDS; i++) {
		if (!(vpid_used[i / 8] & BIT(i % 8))) {
			vpid_used[i / 8] |= (u8)BIT(i % 8);
			id = (u16)i;
			break;
		}
	}
	spin_unlock(&vpid_lock);
	return id;
}

static void vpid_free(u16 id)
{
	if (!id)
		return;
	spin_lock(&vpid_lock);
	vpid_used[id / 8] &= (u8)~BIT(id % 8);
	spin_unlock(&vpid_lock);
}

void vmcs_write_failed(enum vmcs_field f, u64 v)
{
	panic("vmx: VMWRITE of 0x%llx to field 0x%x failed, VM-instruction error %u", (unsigned long long)v, f,
	      vmcs_read32(VM_INSTRUCTION_ERROR));
}

/* Let the guest access an MSR directly: clear its read and write intercepts. */
static void msr_passthrough(u8 *bitmap, u32 msr)
{
	u32 base;

	if (msr <= 0x1fff)
		base = 0;
	else if (msr >= 0xc0000000 && msr <= 0xc0001fff)
		base = 0x400, msr -= 0xc0000000;
	else
		return;
	bitmap[base + msr / 8] &= (u8)~BIT(msr % 8);
	bitmap[base + 0x800 + msr / 8] &= (u8)~BIT(msr % 8);
}

void vmx_intercept_msr_write(struct vcpu *v, u32 msr, bool on)
{
	u8 *bitmap = phys_to_virt(to_vmx(v)->msr_bitmap);
	u32 base = 0x800; /* the write bitmaps: low MSRs at 0x800, high ones at 0xc00 */

	if (msr >= 0xc0000000 && msr <= 0xc0001fff)
		base = 0xc00, msr -= 0xc0000000;
	else
		BUG_ON(msr > 0x1fff);
	if (on)
		bitmap[base + msr / 8] |= (u8)BIT(msr % 8);
	else
		bitmap[base + msr / 8] &= (u8)~BIT(msr % 8);
}

/* Both bitmaps start all ones: every port and every MSR exits unless deliberately opened. The MSRs opened here live
 * in the VMCS guest-state area or are never used by the host, so the guest can own them. */
static int setup_bitmaps(struct vmx_vcpu *x)
{
	x->msr_bitmap = frame_alloc(0);
	x->io_bitmap_a = frame_alloc(0);
	x->io_bitmap_b = frame_alloc(0);
	if (x->msr_bitmap == INVALID_HPA || x->io_bitmap_a == INVALID_HPA || x->io_bitmap_b == INVALID_HPA)
		return -ENOMEM;
	memset(phys_to_virt(x->msr_bitmap), 0xff, PAGE_SIZE);
	memset(phys_to_virt(x->io_bitmap_a), 0xff, PAGE_SIZE);
	memset(phys_to_virt(x->io_bitmap_b), 0xff, PAGE_SIZE);
	for (u32 i = 0; i < msr_passthrough_count; i++)
		msr_passthrough(phys_to_virt(x->msr_bitmap), msr_passthrough_list[i]);
	if (vmx_caps.rdtscp)
		msr_passthrough(phys_to_virt(x->msr_bitmap), MSR_TSC_AUX);
	return 0;
}

static int choose_controls(struct vmx_vcpu *x)
{
	int r = 0;

	r |= vmx_adjust_controls(vmx_ctl_msr(vmx_caps.pin), PIN_EXT_INTR_EXITING | PIN_NMI_EXITING,
				 PIN_VIRTUAL_NMIS, &x->pin);
	r |= vmx_adjust_controls(vmx_ctl_msr(vmx_caps.proc),
				 CPU_HLT_EXITING | CPU_USE_IO_BITMAPS | CPU_USE_MSR_BITMAPS | CPU_SECONDARY_CONTROLS |
					 CPU_CR8_LOAD_EXITING | CPU_CR8_STORE_EXITING | CPU_MWAIT_EXITING |
					 CPU_MONITOR_EXITING | CPU_RDPMC_EXITING | CPU_USE_TSC_OFFSETTING,
				 0, &x->exec);
	/* EPT makes guest CR3 and INVLPG the guest's own business. */
	x->exec &= ~(CPU_CR3_LOAD_EXITING | CPU_CR3_STORE_EXITING | CPU_INVLPG_EXITING);
	/* WBINVD exits: a guest looping on it would flush the caches every other VM depends on. */
	bool shadow = x->vcpu->vm->mmu.shadow.enabled;
	r |= vmx_adjust_controls(vmx_ctl_msr(vmx_caps.proc2), shadow ? 0 : CPU2_ENABLE_EPT | CPU2_UNRESTRICTED_GUEST,
				 CPU2_ENABLE_VPID | CPU2_RDTSCP | CPU2_WBINVD_EXITING, &x->exec2);
	/* "Enable INVPCID" stays 0: the guest's CPUID hides INVPCID (vm/cpuid_table.c), and with the control 0 the
	 * instruction raises #UD, as on a CPU without it (SDM Vol. 3C 25.4.1); with it 1 a guest that ignores CPUID
	 * would run an instruction its CPU says it does not have. */
	/* EFER and PAT: by these controls where the CPU has them, else through the MSR lists (vmx_msr_switch.c). */
	r |= vmx_adjust_controls(vmx_ctl_msr(vmx_caps.exit), EXIT_CTL_HOST_64BIT | EXIT_CTL_SAVE_DEBUG,
				 EXIT_CTL_SAVE_EFER | EXIT_CTL_LOAD_EFER | EXIT_CTL_SAVE_PAT | EXIT_CTL_LOAD_PAT, &x->exit);
	/* DR7 and DEBUGCTL travel with the VMCS, so a guest's breakpoints survive exits on every CPU generation. */
	r |= vmx_adjust_controls(vmx_ctl_msr(vmx_caps.entry), ENTRY_CTL_LOAD_DEBUG,
				 ENTRY_CTL_LOAD_EFER | ENTRY_CTL_LOAD_PAT, &x->entry);
	x->entry &= ~ENTRY_CTL_IA32E_GUEST; /* set from the guest's EFER.LMA */
	if (!vmx_caps.invvpid_single && !vmx_caps.invvpid_all)
		x->exec2 &= ~CPU2_ENABLE_VPID;
	x->cr0_guest_owned = CR0_TS | CR0_MP | CR0_EM | CR0_WP | CR0_AM;
	if (shadow)
		vmx_shadow_setup(x);
	/* Without secondary controls the field does not exist; whatever was chosen for it must be nothing. */
	if (!(x->exec & CPU_SECONDARY_CONTROLS))
		x->exec2 = 0;
	if (!x->exec2)
		x->exec &= ~CPU_SECONDARY_CONTROLS;
	return r ? -EOPNOTSUPP : 0;
}

static void setup_host_state(struct vmx_vcpu *x, struct percpu *cpu)
{
	u64 idt_base;

	vmcs_write(HOST_CR0, read_cr0());
	vmcs_write(HOST_CR3, read_cr3());
	vmcs_write(HOST_CR4, read_cr4());
	vmcs_write(HOST_CS_SELECTOR, GDT_KERNEL_CS);
	vmcs_write(HOST_SS_SELECTOR, GDT_KERNEL_DS);
	vmcs_write(HOST_DS_SELECTOR, GDT_KERNEL_DS);
	vmcs_write(HOST_ES_SELECTOR, GDT_KERNEL_DS);
	vmcs_write(HOST_FS_SELECTOR, 0);
	vmcs_write(HOST_GS_SELECTOR, 0);
	vmcs_write(HOST_TR_SELECTOR, GDT_TSS);
	vmcs_write(HOST_FS_BASE, 0);
	vmcs_write(HOST_GS_BASE, (u64)cpu);
	vmcs_write(HOST_TR_BASE, (u64)&cpu->tss);
	vmcs_write(HOST_GDTR_BASE, (u64)cpu->gdt);
	__asm__ __volatile__("sub $16, %%rsp; sidt (%%rsp); movq 2(%%rsp), %0; add $16, %%rsp" : "=r"(idt_base));
	vmcs_write(HOST_IDTR_BASE, idt_base);
	vmcs_write(HOST_IA32_SYSENTER_CS, 0);
	vmcs_write(HOST_IA32_SYSENTER_ESP, 0);
	vmcs_write(HOST_IA32_SYSENTER_EIP, 0);
	/* These fields exist only with their load controls; elsewhere the VM-exit MSR-load list restores the two. */
	if (x->exit & EXIT_CTL_LOAD_EFER)
		vmcs_write(HOST_IA32_EFER, rdmsr(MSR_EFER));
	if (x->exit & EXIT_CTL_LOAD_PAT)
		vmcs_write(HOST_IA32_PAT, rdmsr(MSR_IA32_PAT));
	vmcs_write(HOST_RIP, (u64)vmx_exit_point);
}

int vmx_vcpu_create(struct vcpu *v)
{
	struct vmx_vcpu *x = kzalloc(sizeof(*x));
	int r;

	if (!x)
		return -ENOMEM;
	v->arch = x;
	x->vcpu = v;
	x->vmcs = frame_alloc(0);
	if (x->vmcs == INVALID_HPA)
		return -ENOMEM;
	*(u32 *)phys_to_virt(x->vmcs) = vmx_caps.revision_id;
	r = setup_bitmaps(x);
	if (r)
		return r;
	r = choose_controls(x);
	if (r)
		return r;
	vmx_apicv_choose(x);
	r = vmx_msr_switch_setup(x);
	if (r)
		return r;
	if (x->exec2 & CPU2_ENABLE_VPID) {
		x->vpid = vpid_alloc();
		if (!x->vpid)
			x->exec2 &= ~CPU2_ENABLE_VPID;
	}
	if (vmx_vmclear(x->vmcs) || vmx_vmptrld(x->vmcs)) {
		pr_err("vmx: VMCLEAR/VMPTRLD of a new VMCS failed\n");
		return -EIO;
	}
	vmx_update_exec_controls(x);
	vmx_apicv_setup(x);
	vmcs_write(VM_EXIT_CONTROLS, x->exit);
	vmcs_write(VM_ENTRY_CONTROLS, x->entry);
	/* #MC belongs to the host. #DB and #AC are intercepted and reflected because their delivery can fault on
	 * itself forever inside the CPU (CVE-2015-8104, CVE-2015-5307), which would take this CPU from the host. */
	vmcs_write(EXCEPTION_BITMAP, BIT(1) | BIT(17) | BIT(18));
	if (x->shadow)
		vmx_shadow_intercepts(false);
	else {
		vmcs_write(PAGE_FAULT_ERROR_CODE_MASK, 0);
		vmcs_write(PAGE_FAULT_ERROR_CODE_MATCH, 0);
	}
	vmcs_write(CR3_TARGET_COUNT, 0);
	vmcs_write(TSC_OFFSET, x->vcpu->msrs.tsc_offset); /* a vCPU made on its CPU keeps the TSC it was given */
	vmx_msr_switch_load(x);
	vmcs_write(VM_ENTRY_INTR_INFO_FIELD, 0);
	vmcs_write(IO_BITMAP_A, x->io_bitmap_a);
	vmcs_write(IO_BITMAP_B, x->io_bitmap_b);
	vmcs_write(MSR_BITMAP, x->msr_bitmap);
	vmcs_write(VMCS_LINK_POINTER, ~0ULL);
	if (x->vpid)
		vmcs_write(VIRTUAL_PROCESSOR_ID, x->vpid);
	/* The guest owns TS, MP, EM, AM (and WP with EPT); every other CR0 bit, and every CR4 bit, exit on write. */
	vmcs_write(CR0_GUEST_HOST_MASK, ~x->cr0_guest_owned);
	vmcs_write(CR4_GUEST_HOST_MASK, ~0ULL);
	setup_host_state(x, this_cpu()); /* create runs on the CPU that will run the vCPU */
	return 0;
}

void vmx_vcpu_destroy(struct vcpu *v)
{
	struct vmx_vcpu *x = to_vmx(v);

	if (!x)
		return;
	if (x->vmcs != INVALID_HPA && x->vmcs) {
		vmx_vmclear(x->vmcs);
		frame_free(x->vmcs, 0);
	}
	if (x->vpid) {
		if (vmx_caps.invvpid_single)
			vmx_invvpid(INVVPID_SINGLE, x->vpid, 0);
		else
			vmx_invvpid(INVVPID_ALL, 0, 0);
		vpid_free(x->vpid);
	}
	if (x->msr_bitmap && x->msr_bitmap != INVALID_HPA)
		frame_free(x->msr_bitmap, 0);
	if (x->io_bitmap_a && x->io_bitmap_a != INVALID_HPA)
		frame_free(x->io_bitmap_a, 0);
	if (x->io_bitmap_b && x->io_bitmap_b != INVALID_HPA)
		frame_free(x->io_bitmap_b, 0);
	vmx_msr_switch_free(x);
	kfree(x);
	v->arch = NULL;
}

void vmx_update_exec_controls(struct vmx_vcpu *x)
{
	vmcs_write(PIN_BASED_VM_EXEC_CONTROL, x->pin);
	vmcs_write(CPU_BASED_VM_EXEC_CONTROL, x->exec);
	if (x->exec & CPU_SECONDARY_CONTROLS)
		vmcs_write(SECONDARY_VM_EXEC_CONTROL, x->exec2);
}

/* VMX access rights put AVL/L/D/G at bits 12-15 and "unusable" at 16; the neutral form packs them at 8-11. */
u32 vmx_ar_from_attr(u16 attr)
{
	if (attr & SEG_ATTR_UNUSABLE)
		return VMX_AR_UNUSABLE;
	return (attr & 0xff) | ((u32)(attr & 0xf00) << 4);
}

u16 vmx_attr_from_ar(u32 ar)
{
	if (ar & VMX_AR_UNUSABLE)
		return SEG_ATTR_UNUSABLE;
	return (u16)((ar & 0xff) | ((ar >> 4) & 0xf00));
}

static const struct {
	enum vmcs_field sel, base, limit, ar;
} seg_fields[NR_SEGS] = {
	[SEG_ES] = { GUEST_ES_SELECTOR, GUEST_ES_BASE, GUEST_ES_LIMIT, GUEST_ES_AR_BYTES },
	[SEG_CS] = { GUEST_CS_SELECTOR, GUEST_CS_BASE, GUEST_CS_LIMIT, GUEST_CS_AR_BYTES },
	[SEG_SS] = { GUEST_SS_SELECTOR, GUEST_SS_BASE, GUEST_SS_LIMIT, GUEST_SS_AR_BYTES },
	[SEG_DS] = { GUEST_DS_SELECTOR, GUEST_DS_BASE, GUEST_DS_LIMIT, GUEST_DS_AR_BYTES },
	[SEG_FS] = { GUEST_FS_SELECTOR, GUEST_FS_BASE, GUEST_FS_LIMIT, GUEST_FS_AR_BYTES },
	[SEG_GS] = { GUEST_GS_SELECTOR, GUEST_GS_BASE, GUEST_GS_LIMIT, GUEST_GS_AR_BYTES },
	[SEG_LDTR] = { GUEST_LDTR_SELECTOR, GUEST_LDTR_BASE, GUEST_LDTR_LIMIT, GUEST_LDTR_AR_BYTES },
	[SEG_TR] = { GUEST_TR_SELECTOR, GUEST_TR_BASE, GUEST_TR_LIMIT, GUEST_TR_AR_BYTES },
};

void vmx_get_segment(struct vcpu *v, int seg, struct vcpu_segment *s)
{
	s->selector = (u16)vmcs_read(seg_fields[seg].sel);
	s->base = vmcs_read(seg_fields[seg].base);
	s->limit = vmcs_read32(seg_fields[seg].limit);
	s->attr = vmx_attr_from_ar(vmcs_read32(seg_fields[seg].ar));
	if (to_vmx(v)->vm86)
		vmx_rmode_get_segment(v, seg, s);
}

void vmx_set_segment(struct vcpu *v, int seg, const struct vcpu_segment *s)
{
	/* Only protected-mode code switches tasks, so the vm86 that runs real mode is never on here. */
	WARN_ON_ONCE(to_vmx(v)->vm86);
	vmcs_write(seg_fields[seg].sel, s->selector);
	vmcs_write(seg_fields[seg].base, s->base);
	vmcs_write(seg_fields[seg].limit, s->limit);
	vmcs_write(seg_fields[seg].ar, vmx_ar_from_attr(s->attr));
}

void vmx_get_dtable(struct vcpu *v, bool idt, struct vcpu_dtable *dt)
{
	dt->base = vmcs_read(idt ? GUEST_IDTR_BASE : GUEST_GDTR_BASE);
	dt->limit = (u16)vmcs_read(idt ? GUEST_IDTR_LIMIT : GUEST_GDTR_LIMIT);
}

void vmx_set_dtable(struct vcpu *v, bool idt, const struct vcpu_dtable *dt)
{
	vmcs_write(idt ? GUEST_IDTR_BASE : GUEST_GDTR_BASE, dt->base);
	vmcs_write(idt ? GUEST_IDTR_LIMIT : GUEST_GDTR_LIMIT, dt->limit);
}

void vmx_vcpu_set_state(struct vcpu *v, const struct vcpu_boot_state *s)
{
	struct vmx_vcpu *x = to_vmx(v);

	vmx_rmode_reset(v);
	for (int i = 0; i < NR_SEGS; i++) {
		vmcs_write(seg_fields[i].sel, s->seg[i].selector);
		vmcs_write(seg_fields[i].base, s->seg[i].base);
		vmcs_write(seg_fields[i].limit, s->seg[i].limit);
		vmcs_write(seg_fields[i].ar, vmx_ar_from_attr(s->seg[i].attr));
	}
	vmcs_write(GUEST_GDTR_BASE, s->gdt.base);
	vmcs_write(GUEST_GDTR_LIMIT, s->gdt.limit);
	vmcs_write(GUEST_IDTR_BASE, s->idt.base);
	vmcs_write(GUEST_IDTR_LIMIT, s->idt.limit);
	x->efer = 0;
	x->cr0 = 0;
	x->cr4 = 0;
	vmx_write_guest_efer(x, 0);
	vmx_set_efer(v, s->efer);
	vmx_set_cr(v, 4, s->cr4);
	vmx_set_cr(v, 0, s->cr0);
	vmx_set_cr(v, 3, s->cr3);
	vmx_vc_write(x, VMCS_C_RIP, s->rip);
	vmx_set_rflags(v, s->rflags);
	vmcs_write(GUEST_RSP, v->regs[VCPU_RSP]);
	x->rsp_cache = v->regs[VCPU_RSP];
	vmcs_write(GUEST_DR7, 0x400);
	vmcs_write(GUEST_IA32_DEBUGCTL, 0);
	vmx_write_guest_pat(x, 0x0007040600070406ULL); /* the power-on PAT */
	vmcs_write(GUEST_SYSENTER_CS, 0);
	vmcs_write(GUEST_SYSENTER_ESP, 0);
	vmcs_write(GUEST_SYSENTER_EIP, 0);
	vmx_vc_write(x, VMCS_C_INTR_STATE, 0);
	vmcs_write(GUEST_ACTIVITY_STATE, 0);
	/* A new state (an AP's SIPI after INIT) starts with nothing being delivered. */
	vmcs_write(VM_ENTRY_INTR_INFO_FIELD, 0);
	vmx_set_intr_window(v, false);
	vmx_set_nmi_window(v, false);
	vmcs_write(GUEST_PENDING_DBG_EXCEPTIONS, 0);
	/* MSRs the guest owns directly hold whatever the previous guest on this CPU left: start clean. */
	wrmsr(MSR_KERNEL_GS_BASE, 0);
	wrmsr(MSR_STAR, 0);
	wrmsr(MSR_LSTAR, 0);
	wrmsr(MSR_CSTAR, 0);
	wrmsr(MSR_SFMASK, 0);
	if (vmx_caps.rdtscp)
		wrmsr(MSR_TSC_AUX, 0);
}
