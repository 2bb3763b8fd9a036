/*
 * Real mode without unrestricted guest (VMX without EPT): VM entry refuses CR0.PE = 0, so the guest's real mode runs in
 * virtual-8086 mode, as KVM's vmx.c does (rmode.vm86_active):
 *   - segments: base = selector << 4, limit 64 KiB, DPL 3 (what vm86 requires and what real mode computes anyway);
 *   - a TSS of the hypervisor's in the legacy BIOS area, which no guest is told is RAM: its interrupt redirection
 *     bitmap is all zeros, so with CR4.VME a software INT n goes through the real-mode IVT in the guest itself, and
 *     its I/O bitmap is all zeros, so port I/O reaches the VMX I/O bitmap (the TSS check comes first, SDM 25.1.1);
 *   - RFLAGS.IOPL = 3 (CLI, STI, PUSHF, POPF, INT and IRET then run natively); the guest's own IOPL is kept aside;
 *   - every exception exits: privileged instructions (#GP at CPL 3: MOV CR, LGDT, LMSW, HLT, ...) are emulated by the
 *     generic exit code, the rest are reflected through the IVT; events are delivered the real-mode way in software
 *     (push FLAGS, CS, IP; CS:IP from the IVT), since VMX injection would use the protected-mode IDT.
 * Leaving real mode (the guest sets PE) turns the vm86 segments into protected-mode ones with the same bases, RPL 0
 * for CS and SS (VM entry demands CS.RPL == SS.RPL == SS.DPL), until the guest reloads them from its GDT.
 *
 * Unreal mode. A real-mode segment load sets the base only: the limit (and G, D/B) stay what protected mode left in
 * the hidden part, which is why SDM Vol. 3A 9.9.2 has software load 64 KiB segments before it clears PE (KVM's
 * emulator keeps them likewise). A guest that loaded a 4 GiB data segment before clearing PE thus reaches all of
 * memory from real mode with 32-bit addresses, where vm86 has 64 KiB segments. The hidden limits of real-mode entry
 * are kept aside (rm_limit) and are the ones the guest's view reports: an access past 64 KiB raises #GP(0) (#SS(0)
 * through SS) in vm86, which exits, and the instruction emulator runs it with the real limits (as KVM's emulation of
 * invalid guest state would, but only for the instructions that need it); past the real limit the exception is the
 * guest's. Setting PE gives the segments their hidden limits back, as the CPU keeps them. A base that is not
 * selector << 4 is taken by picking that selector (as KVM's fix_rmode_seg does; the selector reads differently until
 * the guest loads one). Unsupported, with a clear end of the VM: a base that no selector gives (not 16-byte aligned,
 * or above 0xffff0), which would need every instruction emulated until the guest loads the segment again. Hidden
 * attributes vm86 cannot have (a 32-bit CS or SS kept from protected mode) are not kept: vm86 runs 16-bit.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/virt.h"
#include "arch/x86/vmx/vmx.h"
#include "hv/errno.h"
#include "hv/log.h"
#include "hv/string.h"
#include "vm/vcpu.h"

#define VM86_TSS_GPA	0xfd000 /* 3 pages below 1 MiB: in the [0x9fc00, 1 MiB) range no guest map calls RAM */
#define TSS_BASE_SIZE	104
#define TSS_REDIR_SIZE	32
#define TSS_IOMAP_SIZE	8192
#define VM86_TSS_LIMIT	(TSS_BASE_SIZE + TSS_REDIR_SIZE + TSS_IOMAP_SIZE) /* the 0xff byte ending the I/O map */
#define AR_VM86		0xf3 /* present, DPL 3, read/write data, accessed: what vm86 requires of every segment */
#define AR_TSS32_BUSY	0x8b
#define ATTR_G		BIT(11) /* struct vcpu_segment's packed layout (virt.h) */
#define VMX_AR_DB	BIT(14)
#define VMX_AR_G	BIT(15)

static const enum vmcs_field seg_sel[6] = { GUEST_ES_SELECTOR, GUEST_CS_SELECTOR, GUEST_SS_SELECTOR,
					    GUEST_DS_SELECTOR, GUEST_FS_SELECTOR, GUEST_GS_SELECTOR };
static const enum vmcs_field seg_base[6] = { GUEST_ES_BASE, GUEST_CS_BASE, GUEST_SS_BASE,
					     GUEST_DS_BASE, GUEST_FS_BASE, GUEST_GS_BASE };
static const enum vmcs_field seg_limit[6] = { GUEST_ES_LIMIT, GUEST_CS_LIMIT, GUEST_SS_LIMIT,
					      GUEST_DS_LIMIT, GUEST_FS_LIMIT, GUEST_GS_LIMIT };
static const enum vmcs_field seg_ar[6] = { GUEST_ES_AR_BYTES, GUEST_CS_AR_BYTES, GUEST_SS_AR_BYTES,
					   GUEST_DS_AR_BYTES, GUEST_FS_AR_BYTES, GUEST_GS_AR_BYTES };

static int write_tss(struct vcpu *v)
{
	static const u8 zero[TSS_BASE_SIZE + TSS_REDIR_SIZE];
	u8 tail = 0xff;
	u16 iomap = TSS_BASE_SIZE + TSS_REDIR_SIZE;
	int r = vm_write_gpa(v->vm, VM86_TSS_GPA, zero, sizeof(zero));

	for (u32 off = 0; !r && off < TSS_IOMAP_SIZE; off += sizeof(zero))
		r = vm_write_gpa(v->vm, VM86_TSS_GPA + iomap + off, zero, MIN(sizeof(zero), TSS_IOMAP_SIZE - off));
	if (!r)
		r = vm_write_gpa(v->vm, VM86_TSS_GPA + 102, &iomap, 2);
	if (!r)
		r = vm_write_gpa(v->vm, VM86_TSS_GPA + VM86_TSS_LIMIT, &tail, 1);
	return r;
}

/* Every exception exits while in vm86, #PF included (the filter would let the guest's own ones through, to a
 * protected-mode IDT the guest does not have). */
static void set_intercepts(struct vmx_vcpu *x)
{
	vmx_shadow_intercepts(x->vm86);
}

int vmx_rmode_enter(struct vcpu *v)
{
	struct vmx_vcpu *x = to_vmx(v);

	for (int i = 0; i < 6; i++) {
		u16 sel = (u16)vmcs_read(seg_sel[i]);
		u64 base = vmcs_read(seg_base[i]);
		u32 ar = vmcs_read32(seg_ar[i]);
		/* An unusable segment (a null selector loaded in protected mode) has no limit to keep: real mode's. */
		x->rm_limit[i] = (ar & VMX_AR_UNUSABLE) ? 0xffff : vmcs_read32(seg_limit[i]);
		x->rm_attr[i] = (ar & VMX_AR_UNUSABLE) ? 0 : vmx_attr_from_ar(ar);
		if (base != (u64)sel << 4) {
			/* A base real mode could have (a selector's); another one, as KVM does, by picking that selector. */
			if ((base & 0xf) || base > 0xffff0) {
				vm_log(v->vm, LOG_ERR,
				       "vcpu %u: real mode with segment %d base 0x%llx, which virtual-8086 mode cannot hold "
				       "(VMX without unrestricted guest)\n", v->id, i, (unsigned long long)base);
				return -EOPNOTSUPP;
			}
			sel = (u16)(base >> 4);
		}
		vmcs_write(seg_sel[i], sel);
		vmcs_write(seg_base[i], (u64)sel << 4);
		vmcs_write(seg_limit[i], 0xffff);
		vmcs_write(seg_ar[i], AR_VM86);
	}
	if (write_tss(v)) {
		vm_log(v->vm, LOG_ERR, "vcpu %u: no guest RAM at 0x%x for the virtual-8086 TSS\n", v->id, VM86_TSS_GPA);
		return -EOPNOTSUPP;
	}
	x->rm_tr.selector = (u16)vmcs_read(GUEST_TR_SELECTOR);
	x->rm_tr.base = vmcs_read(GUEST_TR_BASE);
	x->rm_tr.limit = vmcs_read32(GUEST_TR_LIMIT);
	x->rm_tr.attr = vmx_attr_from_ar(vmcs_read32(GUEST_TR_AR_BYTES));
	vmcs_write(GUEST_TR_SELECTOR, 0);
	vmcs_write(GUEST_TR_BASE, VM86_TSS_GPA);
	vmcs_write(GUEST_TR_LIMIT, VM86_TSS_LIMIT);
	vmcs_write(GUEST_TR_AR_BYTES, AR_TSS32_BUSY);
	u64 rflags = vmx_vc_read(x, VMCS_C_RFLAGS);
	x->rm_iopl = rflags & RFLAGS_IOPL;
	vmx_vc_write(x, VMCS_C_RFLAGS, rflags | RFLAGS_VM | RFLAGS_IOPL);
	x->vm86 = true;
	set_intercepts(x);
	return 0;
}

void vmx_rmode_leave(struct vcpu *v)
{
	struct vmx_vcpu *x = to_vmx(v);

	for (int i = 0; i < 6; i++) {
		u16 sel = (u16)vmcs_read(seg_sel[i]);
		bool cs = seg_sel[i] == GUEST_CS_SELECTOR;
		if (cs || seg_sel[i] == GUEST_SS_SELECTOR)
			sel &= ~3;
		vmcs_write(seg_sel[i], sel);
		/* The hidden limit real mode kept, with its granularity (VM entry checks that they agree), and D/B for
		 * the data segments (CS stays 16-bit: the far jump that follows loads it). */
		u32 ar = (cs ? 0x9b : 0x93 | ((sel & 3) << 5)) | ((x->rm_attr[i] & ATTR_G) ? VMX_AR_G : 0) |
			 (!cs && (x->rm_attr[i] & SEG_ATTR_DB) ? VMX_AR_DB : 0);
		vmcs_write(seg_limit[i], x->rm_limit[i]);
		vmcs_write(seg_ar[i], ar);
	}
	vmcs_write(GUEST_TR_SELECTOR, x->rm_tr.selector);
	vmcs_write(GUEST_TR_BASE, x->rm_tr.base);
	vmcs_write(GUEST_TR_LIMIT, x->rm_tr.limit);
	vmcs_write(GUEST_TR_AR_BYTES, vmx_ar_from_attr(x->rm_tr.attr));
	vmx_vc_write(x, VMCS_C_RFLAGS, (vmx_vc_read(x, VMCS_C_RFLAGS) & ~(RFLAGS_VM | RFLAGS_IOPL)) | x->rm_iopl);
	x->vm86 = false;
	set_intercepts(x);
}

void vmx_rmode_reset(struct vcpu *v)
{
	struct vmx_vcpu *x = to_vmx(v);

	if (!x->vm86)
		return;
	x->vm86 = false;
	set_intercepts(x);
}

/* The guest's view while in vm86: real-mode segments (the hardware's selector and base; DPL 0), its own TR. */
void vmx_rmode_get_segment(struct vcpu *v, int seg, struct vcpu_segment *s)
{
	struct vmx_vcpu *x = to_vmx(v);

	if (seg == SEG_TR) {
		*s = x->rm_tr;
		return;
	}
	if (seg == SEG_LDTR)
		return;
	s->attr = seg == SEG_CS ? 0x9b : 0x93;
	s->limit = x->rm_limit[seg]; /* the hidden one, which a real-mode CPU checks (unreal mode) */
}

/*
 * Deliver an interrupt or exception as a real-mode CPU does (SDM Vol. 3A 20.1.4): push FLAGS, CS and IP (the next
 * instruction's for a software interrupt), clear IF, TF and AC, and jump to the IVT's vector. Real mode pushes no
 * error code. A stack or IVT outside guest RAM ends the VM: a real CPU would read all ones and crash the guest.
 */
void vmx_rmode_deliver(struct vcpu *v, u8 vector, u32 ret_len)
{
	struct vmx_vcpu *x = to_vmx(v);
	u64 idt = vmcs_read(GUEST_IDTR_BASE);
	u32 ivt;
	u16 frame[3];

	if ((u32)vector * 4 + 3 > vmcs_read32(GUEST_IDTR_LIMIT) || vm_read_gpa(v->vm, idt + vector * 4, &ivt, 4)) {
		vm_log(v->vm, LOG_ERR, "vcpu %u: real-mode vector %u lies outside the IVT or guest RAM\n", v->id, vector);
		vm_end(v->vm, VM_END_TRIPLE_FAULT, vector);
		return;
	}
	u64 rflags = vmx_rmode_rflags_in(x, vmx_vc_read(x, VMCS_C_RFLAGS));
	frame[2] = (u16)rflags;
	frame[1] = (u16)vmcs_read(GUEST_CS_SELECTOR);
	frame[0] = (u16)(vmx_vc_read(x, VMCS_C_RIP) + ret_len);
	u64 ss = vmcs_read(GUEST_SS_BASE);
	u16 sp = (u16)v->regs[VCPU_RSP];
	for (int i = 2; i >= 0; i--) {
		sp -= 2;
		if (vm_write_gpa(v->vm, ss + sp, &frame[i], 2)) {
			vm_log(v->vm, LOG_ERR, "vcpu %u: real-mode stack at 0x%llx is not guest RAM\n", v->id,
			       (unsigned long long)(ss + sp));
			vm_end(v->vm, VM_END_TRIPLE_FAULT, vector);
			return;
		}
	}
	v->regs[VCPU_RSP] = (v->regs[VCPU_RSP] & ~0xffffULL) | sp;
	rflags &= ~(u64)(RFLAGS_IF | BIT(8) /* TF */ | RFLAGS_AC);
	vmx_vc_write(x, VMCS_C_RFLAGS, vmx_rmode_rflags_out(x, rflags));
	vmcs_write(GUEST_CS_SELECTOR, ivt >> 16);
	vmcs_write(GUEST_CS_BASE, (u64)(ivt >> 16) << 4);
	vmx_vc_write(x, VMCS_C_RIP, ivt & 0xffff);
	/* Delivery ends any STI or MOV SS blocking, as the instruction boundary it happens at does. */
	vmx_vc_write(x, VMCS_C_INTR_STATE,
		     vmx_vc_read(x, VMCS_C_INTR_STATE) & ~(u64)(GUEST_INTR_STI | GUEST_INTR_MOV_SS));
}
