/* Running a VMX vCPU: entry, exit decode into generic exits, event injection and re-injection, and the EPT and
 * VPID TLB controls. */
#include "arch/x86/cpu.h"
#include "arch/x86/virt.h"
#include "arch/x86/vmx/vmx.h"
#include "hv/errno.h"
#include "hv/log.h"
#include "kernel/options.h"
#include "mm/spte.h"
#include "vm/run_inner.h"

/* Put back an event whose delivery the exit interrupted, so the guest never loses it (SDM 27.2.4). */
static void reinject_interrupted_event(struct vmx_vcpu *x, u32 idt)
{
	/* The emulated task switch delivers the event that went through a task gate itself. */
	if (x->vcpu->exit.reason == EXIT_TASK_SWITCH)
		return;
	x->vcpu->exit.vectoring = true;
	if (x->vm86) {
		/* Only the guest's own INT n, redirected through the IVT, is delivered by the CPU in vm86 (everything
		 * else is intercepted or delivered in software): its RIP still points at the INT, which runs again. */
		u32 type = idt & (7u << 8);
		if (type != INTR_TYPE_SOFT_INTR && type != INTR_TYPE_SOFT_EXCEPTION)
			vmx_rmode_deliver(x->vcpu, idt & 0xff, 0);
		return;
	}
	vmcs_write(VM_ENTRY_INTR_INFO_FIELD, idt & ~(u32)INTR_INFO_NMI_UNBLOCK);
	if (idt & INTR_INFO_HAS_ERROR)
		vmcs_write(VM_ENTRY_EXCEPTION_ERROR_CODE, vmcs_read32(IDT_VECTORING_ERROR_CODE));
	u32 type = idt & (7u << 8);
	if (type == INTR_TYPE_SOFT_INTR || type == INTR_TYPE_SOFT_EXCEPTION || type == INTR_TYPE_PRIV_SW_EXCEPTION)
		vmcs_write(VM_ENTRY_INSTRUCTION_LEN, vmcs_read32(VM_EXIT_INSTRUCTION_LEN));
}

static enum exit_reason ept_violation(struct vcpu *v, u64 qual)
{
	v->exit.tdp.gpa = vmcs_read(GUEST_PHYSICAL_ADDRESS);
	v->exit.tdp.access = ((qual & BIT(0)) ? SPTE_ACC_READ : 0) | ((qual & BIT(1)) ? SPTE_ACC_WRITE : 0) |
			     ((qual & BIT(2)) ? SPTE_ACC_EXEC : 0);
	/* A valid guest-linear address (bit 7) whose translation was not the final one (bit 8 clear): the CPU was
	 * walking the guest's page tables. */
	v->exit.tdp.walk = (qual & (BIT(7) | BIT(8))) == BIT(7);
	/* The fault hit an IRET that unblocked NMIs: block them again before re-executing it (SDM 27.2.3). */
	if ((qual & BIT(12)) && (to_vmx(v)->pin & PIN_VIRTUAL_NMIS) &&
	    !(vmx_vc_read(to_vmx(v), VMCS_C_IDT_VECTORING) & INTR_INFO_VALID))
		vmx_vc_write(to_vmx(v), VMCS_C_INTR_STATE, vmx_vc_read(to_vmx(v), VMCS_C_INTR_STATE) | GUEST_INTR_NMI);
	return EXIT_TDP_FAULT;
}

static enum exit_reason cr_access(struct vcpu *v, u64 qual)
{
	v->exit.cr.num = qual & 0xf;
	v->exit.cr.gpr = (qual >> 8) & 0xf;
	switch ((qual >> 4) & 3) {
	case 0: /* MOV to CR */
		v->exit.cr.write = true;
		break;
	case 1: /* MOV from CR */
		v->exit.cr.write = false;
		break;
	case 2: /* CLTS */
		v->exit.cr.write = true;
		v->exit.cr.value_valid = true;
		v->exit.cr.value = vmx_get_cr(v, 0) & ~(u64)CR0_TS;
		break;
	case 3: /* LMSW: loads PE, MP, EM, TS; it can set PE but never clear it */
		v->exit.cr.write = true;
		v->exit.cr.value_valid = true;
		u64 cr0 = vmx_get_cr(v, 0), src = (qual >> 16) & 0xf;
		v->exit.cr.value = (cr0 & ~0xeULL) | (src & 0xe) | ((cr0 | src) & 1);
		break;
	}
	return EXIT_CR_ACCESS;
}

static enum exit_reason exception_or_nmi(struct vcpu *v)
{
	u32 info = vmcs_read32(VM_EXIT_INTR_INFO);

	if ((info & (7u << 8)) == INTR_TYPE_NMI) {
		/* The NMI was consumed by the exit: hand it to the host's handler now, with interrupts still off. */
		__asm__ __volatile__("int $2");
		return EXIT_NMI;
	}
	v->exit.exc.vector = info & 0xff;
	v->exit.exc.has_error = info & INTR_INFO_HAS_ERROR;
	if (v->exit.exc.vector == 14)
		v->exit.exc.fault_addr = v->exit.hw_qual; /* #PF: the linear address (SDM 27.2.1) */
	if (v->exit.exc.has_error)
		v->exit.exc.error_code = vmcs_read32(VM_EXIT_INTR_ERROR_CODE);
	/* INT1 (ICEBP) is a privileged software exception: it must go back as one, with its length. */
	v->exit.exc.icebp = (info & (7u << 8)) == INTR_TYPE_PRIV_SW_EXCEPTION;
	v->exit.exc.soft = (info & (7u << 8)) == INTR_TYPE_SOFT_EXCEPTION;
	if (v->exit.exc.vector == 1 && !v->exit.exc.icebp) {
		/* An intercepted #DB leaves DR6 and DR7 alone and reports B0-B3, BD and BS in the qualification (SDM
		 * Vol. 3C 27.2.1, exit qualification for debug exceptions): vm/debug.c updates them as delivery would. */
		v->exit.exc.db_payload = v->exit.hw_qual & 0x600f;
		/* With TF set in an STI or MOV-SS shadow, VM entry requires a pending single-step (BS) in the pending
		 * debug exceptions (SDM Vol. 3C 26.3.1.5, guest non-register state), which the CPU sets at every exit
		 * but one for a #DB it intercepted: set it, as KVM does. */
		if ((vmx_vc_read(to_vmx(v), VMCS_C_RFLAGS) & RFLAGS_TF) &&
		    (vmx_vc_read(to_vmx(v), VMCS_C_INTR_STATE) & (GUEST_INTR_STI | GUEST_INTR_MOV_SS)))
			vmcs_write(GUEST_PENDING_DBG_EXCEPTIONS, vmcs_read(GUEST_PENDING_DBG_EXCEPTIONS) | BIT(14));
	}
	return EXIT_EXCEPTION;
}

/* INS/OUTS: the VM-exit instruction information gives the address size (bits 9:7: 0 16-bit, 1 32-bit, 2 64-bit) and,
 * for OUTS, the segment (bits 17:15), where IA32_VMX_BASIC[54] says the CPU reports it (SDM Vol. 3C 28.2.5). */
static void io_string_info(struct vm_exit *e)
{
	u32 info;
	u8 asz;

	if (!vmx_caps.ins_outs_info)
		return;
	info = vmcs_read32(VMX_INSTRUCTION_INFO);
	asz = (info >> 7) & 7;
	if (asz <= 2)
		e->io.addr_size = (u8)(2 << asz);
	e->io.seg = (e->io.info & EXIT_IO_IN) ? 0 : (info >> 15) & 7;
}

/* The exits a guest makes all the time are decoded inline (decode_exit), each writing its whole union member. The
 * rest come here, where the union starts zeroed, as their decoders expect. */
static __attribute__((noinline)) void decode_other_exit(struct vcpu *v, u32 raw, u64 qual)
{
	struct vm_exit *e = &v->exit;

	vm_exit_clear_info(e);
	switch (raw & 0xffff) {
	case VMX_EXIT_EXCEPTION_NMI:
		e->reason = exception_or_nmi(v);
		break;
	case VMX_EXIT_TRIPLE_FAULT:
		e->reason = EXIT_TRIPLE_FAULT;
		break;
	case VMX_EXIT_INIT:
		e->reason = EXIT_INIT;
		break;
	case VMX_EXIT_NMI_WINDOW:
		e->reason = EXIT_INTR_WINDOW; /* a window opened: the run loop looks at what is pending */
		break;
	case VMX_EXIT_INVD:
	case VMX_EXIT_WBINVD:
		e->reason = EXIT_NOP;
		break;
	case VMX_EXIT_RDPMC:
		e->reason = EXIT_GP;
		break;
	case VMX_EXIT_GETSEC:
	case VMX_EXIT_VMCLEAR ... VMX_EXIT_VMXON:
	case VMX_EXIT_INVEPT:
	case VMX_EXIT_INVVPID:
	case VMX_EXIT_VMFUNC:
	case VMX_EXIT_MONITOR:
	case VMX_EXIT_MWAIT:
	case VMX_EXIT_ENCLS:
		e->reason = EXIT_UD;
		break;
	case VMX_EXIT_CR_ACCESS:
		e->reason = cr_access(v, qual);
		break;
	case VMX_EXIT_APIC_ACCESS:
		e->reason = vmx_apicv_access_exit(v, qual);
		break;
	case VMX_EXIT_TASK_SWITCH:
		e->reason = vmx_decode_task_switch(v, qual);
		break;
	case VMX_EXIT_XSETBV:
		e->reason = EXIT_XSETBV;
		break;
	case VMX_EXIT_INVLPG:
		/* Intercepted under shadow paging with unsync tables. The qualification is the linear address. */
		e->reason = EXIT_INVLPG;
		e->invlpg = (typeof(e->invlpg)){ .gva = qual, .gva_valid = true };
		break;
	case VMX_EXIT_INVPCID:
		/* The same; INVPCID's own checks (#GP for a bad type or descriptor) are the CPU's before the exit only
		 * in part. The handler flushes every context, which any INVPCID type allows. */
		e->reason = EXIT_INVLPG;
		e->invlpg = (typeof(e->invlpg)){ .all = true };
		break;
	default:
		e->reason = EXIT_UNKNOWN;
		break;
	}
}


static __always_inline void decode_exit(struct vcpu *v)
{
	u32 raw = vmcs_read32(VM_EXIT_REASON);
	u64 qual = vmcs_read(EXIT_QUALIFICATION);
	struct vm_exit *e = &v->exit;

	/* Field by field: a whole-struct clear is a REP STOS of 7 words on every exit. */
	e->hw_reason = raw;
	e->hw_qual = qual;
	e->insn_len = vmcs_read32(VM_EXIT_INSTRUCTION_LEN);
	e->vectoring = false;
	if (raw & VMX_EXIT_REASON_FAILED_ENTRY) {
		vm_exit_clear_info(e);
		e->reason = EXIT_ENTRY_FAILED;
		return;
	}
	switch (raw & 0xffff) {
	case VMX_EXIT_EXTERNAL_INTERRUPT:
		e->reason = EXIT_EXTINT;
		break;
	case VMX_EXIT_INTERRUPT_WINDOW:
		e->reason = EXIT_INTR_WINDOW;
		break;
	case VMX_EXIT_CPUID:
		e->reason = EXIT_CPUID;
		break;
	case VMX_EXIT_HLT:
		e->reason = EXIT_HLT;
		break;
	case VMX_EXIT_VMCALL:
		e->reason = EXIT_HYPERCALL;
		break;
	case VMX_EXIT_IO_INSTRUCTION:
		e->reason = EXIT_IO;
		e->io.info = (u32)qual; /* the generic layout is this one (vm/exit.h), bit 6 (immediate port) aside */
		e->io.addr_size = e->io.seg = 0xff;
		if (unlikely(qual & EXIT_IO_STRING))
			io_string_info(e);
		break;
	case VMX_EXIT_MSR_READ:
		e->reason = EXIT_MSR_READ;
		e->msr = (typeof(e->msr)){ .index = (u32)v->regs[VCPU_RCX] };
		break;
	case VMX_EXIT_MSR_WRITE:
		e->reason = EXIT_MSR_WRITE;
		e->msr = (typeof(e->msr)){ .index = (u32)v->regs[VCPU_RCX],
					   .value = (v->regs[VCPU_RDX] << 32) | (u32)v->regs[VCPU_RAX] };
		break;
	case VMX_EXIT_EPT_VIOLATION:
		e->reason = ept_violation(v, qual); /* all of tdp */
		break;
	case VMX_EXIT_EPT_MISCONFIG:
		/* Our MMIO SPTE: the exit says nothing of the access or of a walk (vm/exit.c: emulate_mmio). */
		e->reason = EXIT_MMIO;
		e->tdp = (typeof(e->tdp)){ .gpa = vmcs_read(GUEST_PHYSICAL_ADDRESS) };
		break;
	case VMX_EXIT_APIC_WRITE:
		e->reason = EXIT_APIC_WRITE;
		e->apic = (typeof(e->apic)){ .offset = qual & 0xfff };
		break;
	case VMX_EXIT_EOI_INDUCED:
		e->reason = EXIT_APIC_EOI;
		e->apic = (typeof(e->apic)){ .vector = qual & 0xff };
		break;
	case VMX_EXIT_PREEMPTION_TIMER:
		e->reason = EXIT_PREEMPTION;
		break;
	default:
		decode_other_exit(v, raw, qual);
		break;
	}
}

/* One entry and its exit decoded (0), inlined into vmx_vcpu_run's loop. */
static __always_inline int enter_once(struct vcpu *v)
{
	struct vmx_vcpu *x = to_vmx(v);

	if (v->regs[VCPU_RSP] != x->rsp_cache) {
		vmcs_write(GUEST_RSP, v->regs[VCPU_RSP]);
		x->rsp_cache = v->regs[VCPU_RSP];
	}
	if (read_cr2() != x->cr2)
		write_cr2(x->cr2);
	vmcs_cache_flush(&x->vc);
	if (vmx_enter(v->regs, x->launched, &x->host_rsp)) {
		vmcs_cache_invalidate(&x->vc);
		v->exit = (struct vm_exit){ .reason = EXIT_ENTRY_FAILED, .hw_reason = ~0u,
					    .hw_qual = vmcs_read32(VM_INSTRUCTION_ERROR) };
		return 0;
	}
	/* Every exit looks at the IDT-vectoring information: read it with the cache's reset. */
	u32 idt = (u32)vmcs_cache_reset_read(&x->vc, VMCS_C_IDT_VECTORING);
	x->launched = true;
	x->cr2 = read_cr2();
	x->rsp_cache = v->regs[VCPU_RSP] = vmcs_read(GUEST_RSP);
	decode_exit(v);
	if (unlikely(idt & INTR_INFO_VALID))
		reinject_interrupted_event(x, idt);
	return 0;
}

int vmx_vcpu_run(struct vcpu *v, u64 *exited_at)
{
	return vcpu_run_inner(v, exited_at, enter_once);
}

void vmx_inject_event(struct vcpu *v, const struct vcpu_event *ev)
{
	u32 info = INTR_INFO_VALID | ev->vector;

	if (to_vmx(v)->vm86) {
		bool after = ev->type == EVENT_SOFT_INT || ev->type == EVENT_ICEBP;
		vmx_rmode_deliver(v, ev->type == EVENT_NMI ? 2 : ev->vector, after ? v->exit.insn_len : 0);
		return;
	}
	switch (ev->type) {
	case EVENT_EXTINT:
		info |= INTR_TYPE_EXT_INTR;
		break;
	case EVENT_NMI:
		info |= INTR_TYPE_NMI;
		break;
	case EVENT_SOFT_INT:
		info |= INTR_TYPE_SOFT_INTR;
		vmcs_write(VM_ENTRY_INSTRUCTION_LEN, v->exit.insn_len);
		break;
	case EVENT_ICEBP:
		info |= INTR_TYPE_PRIV_SW_EXCEPTION;
		vmcs_write(VM_ENTRY_INSTRUCTION_LEN, v->exit.insn_len);
		break;
	default:
		info |= INTR_TYPE_HW_EXCEPTION;
		if (ev->has_error) {
			info |= INTR_INFO_HAS_ERROR;
			vmcs_write(VM_ENTRY_EXCEPTION_ERROR_CODE, ev->error_code);
		}
		break;
	}
	/* An exception raised by the exit handler replaces a re-injected event, as a CPU would fault first. */
	vmcs_write(VM_ENTRY_INTR_INFO_FIELD, info);
}

bool vmx_interrupt_allowed(struct vcpu *v)
{
	if (vmcs_read32(VM_ENTRY_INTR_INFO_FIELD) & INTR_INFO_VALID)
		return false;
	if (!(vmx_vc_read(to_vmx(v), VMCS_C_RFLAGS) & RFLAGS_IF))
		return false;
	return !(vmx_vc_read(to_vmx(v), VMCS_C_INTR_STATE) & (GUEST_INTR_STI | GUEST_INTR_MOV_SS));
}

void vmx_set_intr_window(struct vcpu *v, bool on)
{
	struct vmx_vcpu *x = to_vmx(v);
	u32 exec = on ? x->exec | CPU_INTR_WINDOW_EXITING : x->exec & ~CPU_INTR_WINDOW_EXITING;

	if (exec != x->exec) {
		x->exec = exec;
		vmcs_write(CPU_BASED_VM_EXEC_CONTROL, exec);
	}
}

/* NMIs: with virtual NMIs the CPU keeps "blocking by NMI" in the interruptibility state from injection to the guest's
 * IRET, and NMI-window exiting reports the end. Without them the bit still reads the guest's real blocking, and a
 * pending NMI waits for the next exit. STI blocking is treated as blocking too: some CPUs fail an entry that injects
 * an NMI in an STI shadow (SDM 26.3.1.5). */
bool vmx_nmi_allowed(struct vcpu *v)
{
	if (vmcs_read32(VM_ENTRY_INTR_INFO_FIELD) & INTR_INFO_VALID)
		return false;
	/* A debug trap still pending from a trap-like exit (BS or B0-B3: an APIC write single-stepped) goes first
	 * (SDM Vol. 3A 6.9; Vol. 3C 26.6.3: it is lost if the entry injects an event), and the NMI-window exit comes
	 * after its delivery (26.6.6: debug traps have priority over it). A HLT stepped with TF leaves BS pending while
	 * it is halted; its #DB is vcpu_take_hlt_step's to queue when the NMI wakes it, so that one does not block. */
	if (!v->hlt_step && (vmcs_read(GUEST_PENDING_DBG_EXCEPTIONS) & (BIT(14) | 0xf)))
		return false;
	return !(vmx_vc_read(to_vmx(v), VMCS_C_INTR_STATE) & (GUEST_INTR_NMI | GUEST_INTR_STI | GUEST_INTR_MOV_SS));
}

void vmx_set_nmi_window(struct vcpu *v, bool on)
{
	struct vmx_vcpu *x = to_vmx(v);

	if (!(x->pin & PIN_VIRTUAL_NMIS) || !(vmx_ctl_msr(vmx_caps.proc) >> 32 & CPU_NMI_WINDOW_EXITING))
		return;
	u32 exec = on ? x->exec | CPU_NMI_WINDOW_EXITING : x->exec & ~CPU_NMI_WINDOW_EXITING;
	if (exec != x->exec) {
		x->exec = exec;
		vmcs_write(CPU_BASED_VM_EXEC_CONTROL, exec);
	}
}

/* Without EPT the guest's TLB entries are linear mappings: tagged by VPID when it is on, else dropped by every VM
 * entry and exit anyway (SDM 28.3.3.1), so there is nothing to do. */
static void invvpid_current(struct vmx_vcpu *x)
{
	if (!x->vpid)
		return;
	if (vmx_caps.invvpid_single)
		vmx_invvpid(INVVPID_SINGLE, x->vpid, 0);
	else
		vmx_invvpid(INVVPID_ALL, 0, 0);
}

static void invept_current(struct vmx_vcpu *x)
{
	if (x->shadow) {
		invvpid_current(x);
		return;
	}
	if (vmx_caps.invept_single && x->eptp)
		vmx_invept(INVEPT_SINGLE, x->eptp);
	else
		vmx_invept(INVEPT_ALL, 0);
}

/* EPT A/D is used when the CPU has it and `hv.ept_ad=0` does not turn it off: the one switch that decides both the
 * EPTP's A/D enable and the SPTE format (which bits aging reads, and whether it access-tracks), so they never
 * disagree. Off, a CPU with A/D runs the access-tracking path of CPUs without it. */
static bool vmx_ept_ad_enabled(void)
{
	return vmx_caps.ept_ad && hv_opts.ept_ad;
}

void vmx_load_mmu_root(struct vcpu *v, hpa_t root, int level)
{
	struct vmx_vcpu *x = to_vmx(v);

	if (x->shadow) {
		/* A shadow root: 4-level (5-level with the guest's CR4.LA57, which GUEST_CR4 carries), or the 4
		 * PDPTEs of a PAE root below 4 GiB that VM entry loads itself. */
		BUG_ON(level != 5 && level != 4 && level != 3);
		vmcs_write(GUEST_CR3, root);
		invvpid_current(x);
		return;
	}
	BUG_ON(level != 4); /* the only EPT walk length the MMU builds */
	x->eptp = vmx_eptp(root, level, vmx_ept_ad_enabled());
	vmcs_write(EPT_POINTER, x->eptp);
	/* The root's frames may have served an earlier root: drop anything the TLB still caches under this EPTP. */
	invept_current(x);
}

void vmx_flush_guest_tlb(struct vcpu *v)
{
	struct vmx_vcpu *x = to_vmx(v);

	/* Guest-physical and combined mappings are tagged by EPTP; INVEPT drops both for this context. */
	invept_current(x);
}

void vmx_flush_guest_tlb_gva(struct vcpu *v, gva_t gva)
{
	struct vmx_vcpu *x = to_vmx(v);

	/* Without VPID every VM entry and exit flushes already. A non-canonical address makes INVVPID fail: the
	 * guest's INVLPG of one is a no-op anyway. */
	if (!x->shadow || !x->vpid)
		invept_current(x);
	else if (vmx_caps.invvpid_addr && (u64)((s64)(gva << 16) >> 16) == gva)
		vmx_invvpid(INVVPID_ADDR, x->vpid, gva);
	else
		invvpid_current(x);
}

int vmx_tdp_max_level(void)
{
	return vmx_caps.ept_1g ? 3 : 2;
}

const struct pt_format *vmx_tdp_format(void)
{
	return vmx_ept_ad_enabled() ? &pt_format_ept : &pt_format_ept_noad;
}
