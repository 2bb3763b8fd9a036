/* The exit-dispatch table: one handler per generic exit reason. An exit without a handler is logged with the
 * complete guest state and ends that VM; the hypervisor and the other VMs go on. */
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/virt.h"
#include "hv/errno.h"
#include "hv/log.h"
#include "kernel/panic.h"
#include "vm/crcheck.h"
#include "vm/debug.h"
#include "vm/dev/vlapic.h"
#include "vm/emulate/emulate.h"
#include "vm/private.h"
#include "vm/protect.h"
#include "vm/vcpu.h"
#include "vm/ws.h"

#define HC_NOP 0
#define HC_GET_STAT 1
/* RBX gpa, RCX length (page-aligned, nonzero), RDX 0 to age or 1 to test: whether a leaf mapping the range was young
 * (1 or 0), or -EINVAL. The guest ages only its own memory: it learns nothing it could not learn by touching it. */
#define HC_AGE 4
/* RBX gpa, RCX length (page-aligned, nonzero): drop the VM's own TDP or shadow mappings of the range. Memory keeps
 * its contents; the next access faults it in again, on chunks already cleared (bench/README.md: the 2M refault row
 * is the 2M fault net of clearing). 0, -EINVAL, or -EPERM for a private VM, whose private leaves going would scrub
 * their pages (mm/private.h). The guest learns nothing it could not learn by touching the memory. */
#define HC_UNMAP 9

static const char *const exit_names[NR_EXIT_REASONS] = {
	[EXIT_NONE] = "none", [EXIT_IO] = "io", [EXIT_MMIO] = "mmio", [EXIT_TDP_FAULT] = "tdp-fault",
	[EXIT_CPUID] = "cpuid", [EXIT_MSR_READ] = "rdmsr", [EXIT_MSR_WRITE] = "wrmsr", [EXIT_CR_ACCESS] = "cr",
	[EXIT_HLT] = "hlt", [EXIT_HYPERCALL] = "hypercall", [EXIT_EXCEPTION] = "exception", [EXIT_EXTINT] = "extint",
	[EXIT_NMI] = "nmi", [EXIT_INTR_WINDOW] = "intr-window", [EXIT_TRIPLE_FAULT] = "triple-fault",
	[EXIT_INIT] = "init", [EXIT_XSETBV] = "xsetbv", [EXIT_INVLPG] = "invlpg", [EXIT_PREEMPTION] = "preemption",
	[EXIT_UD] = "ud", [EXIT_GP] = "gp", [EXIT_NOP] = "nop", [EXIT_ENTRY_FAILED] = "entry-failed",
	[EXIT_TASK_SWITCH] = "task-switch", [EXIT_EVENT_QUEUED] = "event-queued",
	[EXIT_APIC_WRITE] = "apic-write", [EXIT_APIC_EOI] = "apic-eoi",
	[EXIT_UNKNOWN] = "unknown",
};

const char *exit_reason_name(int reason)
{
	if (reason < 0 || reason >= NR_EXIT_REASONS || !exit_names[reason])
		return "invalid";
	return exit_names[reason];
}

static int unhandled_exit(struct vcpu *v)
{
	vm_log(v->vm, LOG_ERR, "unhandled exit %s (hardware reason 0x%x, qualification 0x%llx) at RIP 0x%llx\n",
	       exit_reason_name(v->exit.reason), v->exit.hw_reason, (unsigned long long)v->exit.hw_qual,
	       (unsigned long long)virt_ops->get_rip(v));
	virt_ops->dump_state(v);
	vm_end(v->vm, VM_END_UNHANDLED_EXIT, v->exit.hw_reason);
	return 0;
}

static int handle_entry_failed(struct vcpu *v)
{
	vm_log(v->vm, LOG_ERR, "VM entry failed (hardware reason 0x%x, detail 0x%llx)\n", v->exit.hw_reason,
	       (unsigned long long)v->exit.hw_qual);
	virt_ops->dump_state(v);
	vm_end(v->vm, VM_END_ENTRY_FAILED, v->exit.hw_reason);
	return 0;
}

/* INS/OUTS: the emulator's string engine on the exit's description (vm/mmio.c). For INS the segment is always ES,
 * so only an OUTS needs the segment from the exit. */
static __attribute__((noinline)) int handle_string_io(struct vcpu *v)
{
	struct vm_exit *e = &v->exit;
	u32 info = e->io.info;
	bool in = info & EXIT_IO_IN;
	struct emu_pio_string io = { .port = exit_io_port(info), .size = (u8)exit_io_size(info),
				     .addr_size = e->io.addr_size, .seg = in ? EMU_SEG_ES : e->io.seg,
				     .len = (u8)e->insn_len, .in = in, .rep = info & EXIT_IO_REP };
	bool complete = io.addr_size != 0xff && io.seg != 0xff && e->insn_len && e->insn_len <= EMU_MAX_INSN_LEN;

	if (v->vm->mmu.priv.enabled) /* the string is in guest memory: the guest moves it itself (vm/private.c) */
		return vcpu_private_ve(v, VE_REASON_INSTRUCTION, 0, in ? VE_ACCESS_WRITE : VE_ACCESS_READ);

	return vcpu_emulate_pio_string(v, &io, complete);
}

/* After an IN or OUT with RF, TF or a breakpoint enabled in DR7 (skip_io_instruction's mark). */
static __attribute__((noinline)) void complete_io(struct vcpu *v, u64 rflags)
{
	u32 info = v->exit.io.info;
	u64 hits = (rflags & VIRT_RFLAGS_DR7_ENABLED) ?
			   vcpu_io_breakpoints(v, exit_io_port(info), exit_io_size(info)) : 0;

	rflags &= ~VIRT_RFLAGS_DR7_ENABLED;
	if (hits || (rflags & (RFLAGS_RF | RFLAGS_TF)))
		vcpu_complete_instruction(v, rflags, hits);
}

/* IN: the device's value into AL/AX/EAX. A 32-bit write zero-extends into RAX, narrower ones merge (val has nothing
 * above the access size). Out of line: an OUT's tail call needs no frame. */
static __attribute__((noinline)) int handle_in(struct vcpu *v, u16 port, unsigned int size)
{
	u64 val;
	int r = io_bus_read(&v->vm->pio, v, port, size, &val);

	if (r)
		return r;
	v->regs[VCPU_RAX] = size == 4 ? (u32)val : (v->regs[VCPU_RAX] & ~io_size_mask(size)) | val;
	return 0;
}

static int handle_io(struct vcpu *v)
{
	if (unlikely(v->exit.io.info & EXIT_IO_STRING))
		return handle_string_io(v);
	/* The CPU never completed the IN/OUT: RIP moves past it, and its I/O breakpoints and single-step trap are raised
	 * here. The device then sees the access, from a tail call: none looks at RIP, and one that resets or ends the
	 * VM does so through requests, after this exit. Port devices reach the vLAPIC only through the IOAPIC's posts
	 * (requests) and the PIC (looked at again); a device timer they arm moves vm_timers_next: a simple exit. */
	u64 rflags = virt_ops->skip_io_instruction(v);

	if (unlikely(rflags & (RFLAGS_RF | RFLAGS_TF | VIRT_RFLAGS_DR7_ENABLED)))
		complete_io(v, rflags);
	v->exit_simple = true;
	/* Read again after the calls, so that nothing but v lives across them. */
	u32 info = v->exit.io.info;
	if (info & EXIT_IO_IN)
		return handle_in(v, exit_io_port(info), exit_io_size(info));
	/* The bus hands the device only the access size's bytes of RAX. */
	return io_bus_write(&v->vm->pio, v, exit_io_port(info), exit_io_size(info), v->regs[VCPU_RAX]);
}

static int handle_cpuid(struct vcpu *v)
{
	vcpu_cpuid_regs(v);
	vcpu_skip_instruction(v);
	v->exit_simple = true;
	return 0;
}

static int handle_rdmsr(struct vcpu *v)
{
	u64 val;

	if (msr_read(v, v->exit.msr.index, &val)) {
		vcpu_queue_exception(v, EXC_GP, true, 0);
		return 0;
	}
	v->regs[VCPU_RAX] = (u32)val;
	v->regs[VCPU_RDX] = val >> 32;
	vcpu_skip_instruction(v);
	return 0;
}

static int handle_wrmsr(struct vcpu *v)
{
	if (msr_write(v, v->exit.msr.index, v->exit.msr.value)) {
		vcpu_queue_exception(v, EXC_GP, true, 0);
		return 0;
	}
	vcpu_skip_instruction(v);
	/* A tickless guest's every tick (KVM's handle_fastpath_set_msr_irqoff): the write only moved the vLAPIC timer,
	 * which the fast re-entry re-arms the host timer for. One already due raised its IRR bit (irq_changed). */
	if (v->exit.msr.index == MSR_IA32_TSC_DEADLINE) {
		v->timer_moved = true;
		v->exit_simple = true;
	}
	return 0;
}

/* A guest write to CR0, CR3, CR4 or CR8, as an intercepted MOV (or the emulator) does it: -EINVAL when hardware
 * raises #GP, else done, with the TLB flush and MMU root reload the write implies. */
int vcpu_write_cr(struct vcpu *v, int cr, u64 val)
{
	if (cr == 8) {
		/* CR8 is the LAPIC's TPR[7:4]. */
		if (val & ~0xfULL)
			return -EINVAL;
		vlapic_set_tpr(v->lapic, (u8)(val << 4));
		return 0;
	}
	/* Outside long mode only the low 32 bits of the source register count. */
	if (!(virt_ops->get_efer(v) & EFER_LMA))
		val = (u32)val;
	u64 old = virt_ops->get_cr(v, cr);
	/* The architectural #GP rules against the guest's CPUID (vm/crcheck.c), then what the backend cannot run. */
	if (vcpu_check_cr(v, cr, val) || virt_ops->set_cr(v, cr, val))
		return -EINVAL;
	/* A MOV to CR0 or CR4 that changes how linear addresses translate flushes the TLB on a real CPU, global
	 * entries included (SDM 4.10.4.1); the emulated write must do the same, or VPID/ASID keeps stale entries. */
	u64 flush_bits = cr == 0 ? (CR0_PG | CR0_WP | CR0_PE)
			 : cr == 4 ? (CR4_PGE | CR4_PAE | CR4_PSE | CR4_SMEP | CR4_SMAP | CR4_PCIDE)
				   : 0;
	if ((old ^ val) & flush_bits) {
		/* The guest's own flush (not the MMU's): unsync shadow tables must be in sync before it returns. */
		mmu_shadow_flush(&v->vm->mmu);
		vcpu_request(v, VCPU_REQ_TLB_FLUSH);
	}
	/* Under shadow paging the root follows CR3 and the paging mode; a reload finds it in the root cache. */
	if (v->vm->mmu.shadow.enabled && cr != 2)
		vcpu_request(v, VCPU_REQ_LOAD_ROOT);
	/* A MOV to CR3 flushes the TLB (but global entries), unless CR4.PCIDE is set and bit 63 of the source asks it
	 * not to (SDM Vol. 3A 4.10.4.1): the unsync tables the new root reaches are synced then, after the load. */
	if (v->vm->mmu.shadow.enabled && cr == 3 && !((val & BIT(63)) && (virt_ops->get_cr(v, 4) & CR4_PCIDE)))
		vcpu_request(v, VCPU_REQ_MMU_SYNC);
	return 0;
}

void vcpu_invlpg(struct vcpu *v, gva_t gva)
{
	/* A leaf the refresh zaps is flushed from every vCPU by the MMU; the hardware's entry for gva goes here in any
	 * case, as KVM's kvm_mmu_invlpg does, so no translation older than the INVLPG survives it. */
	mmu_shadow_invlpg(&v->vm->mmu, &v->mmu, gva, virt_ops->get_cr(v, 4) & CR4_PCIDE);
	virt_ops->flush_guest_tlb_gva(v, gva);
}

u64 vcpu_read_cr(struct vcpu *v, int cr)
{
	return cr == 8 ? vlapic_get_tpr(v->lapic) >> 4 : virt_ops->get_cr(v, cr);
}

static int handle_cr(struct vcpu *v)
{
	struct vm_exit *e = &v->exit;

	if (e->cr.emulate)
		return vcpu_emulate(v);
	if (!e->cr.write) {
		v->regs[e->cr.gpr] = vcpu_read_cr(v, e->cr.num);
	} else if (vcpu_write_cr(v, e->cr.num, e->cr.value_valid ? e->cr.value : v->regs[e->cr.gpr])) {
		vcpu_queue_exception(v, EXC_GP, true, 0);
		return 0;
	}
	vcpu_skip_instruction(v);
	return 0;
}

static int handle_hlt(struct vcpu *v)
{
	u64 rflags = virt_ops->get_rflags(v);

	v->stats[VM_STAT_HLT_EXITS]++;
	/* HLT completes (RF cleared), but its single-step trap waits for the event that ends the halt. */
	virt_ops->skip_instruction(v);
	vcpu_complete_instruction(v, rflags & ~RFLAGS_TF, 0);
	v->hlt_step = rflags & RFLAGS_TF;
	v->halted = true;
	return 0;
}

static u64 hc_age(struct vm *vm, gpa_t gpa, u64 len, u64 test_only)
{
	if (!len || ((gpa | len) & (PAGE_SIZE - 1)) || gpa + len < gpa || test_only > 1)
		return (u64)-EINVAL;
	if (test_only)
		return mmu_test_age_gfn_range(&vm->mmu, gpa >> PAGE_SHIFT, (gpa + len) >> PAGE_SHIFT);
	return mmu_age_gfn_range(&vm->mmu, gpa >> PAGE_SHIFT, (gpa + len) >> PAGE_SHIFT);
}

static u64 hc_unmap(struct vm *vm, gpa_t gpa, u64 len)
{
	if (!len || ((gpa | len) & (PAGE_SIZE - 1)) || gpa + len < gpa)
		return (u64)-EINVAL;
	if (vm->mmu.priv.enabled)
		return (u64)-EPERM;
	mmu_zap_gfn_range(&vm->mmu, gpa >> PAGE_SHIFT, (gpa + len) >> PAGE_SHIFT);
	return 0;
}

static int handle_hypercall(struct vcpu *v)
{
	u64 nr = v->regs[VCPU_RAX];

	if (virt_ops->get_cpl(v) != 0) {
		vcpu_queue_exception(v, EXC_UD, false, 0);
		return 0;
	}
	switch (nr) {
	case HC_NOP:
		v->regs[VCPU_RAX] = 0;
		v->exit_simple = true;
		break;
	case HC_GET_STAT:
		v->regs[VCPU_RAX] = vm_stat(v->vm, (enum vm_stat)(v->regs[VCPU_RBX] < NR_VM_STATS ?
								     v->regs[VCPU_RBX] : NR_VM_STATS));
		v->exit_simple = true;
		break;
	case HC_MEM_LOCK:
		v->regs[VCPU_RAX] = protect_hc_mem_lock(v->vm, v->regs[VCPU_RBX], v->regs[VCPU_RCX], v->regs[VCPU_RDX]);
		break;
	case HC_TRACK_TEST:
		v->regs[VCPU_RAX] = protect_hc_track_test(v->vm, v->regs[VCPU_RBX], v->regs[VCPU_RCX]);
		break;
	case HC_AGE:
		v->regs[VCPU_RAX] = hc_age(v->vm, v->regs[VCPU_RBX], v->regs[VCPU_RCX], v->regs[VCPU_RDX]);
		break;
	case HC_UNMAP:
		v->regs[VCPU_RAX] = hc_unmap(v->vm, v->regs[VCPU_RBX], v->regs[VCPU_RCX]);
		break;
	case HC_WS:
		v->regs[VCPU_RAX] = ws_hypercall(v->vm, v->regs[VCPU_RBX], v->regs[VCPU_RCX], v->regs[VCPU_RDX]);
		break;
	case HC_MAP_GPA:
		v->regs[VCPU_RAX] = vcpu_hc_map_gpa(v, v->regs[VCPU_RBX], v->regs[VCPU_RCX]);
		break;
	case HC_VE_INFO:
		v->regs[VCPU_RAX] = vcpu_hc_ve_info(v);
		break;
	case HC_MMIO:
		v->regs[VCPU_RAX] = vcpu_hc_mmio(v, v->regs[VCPU_RBX], v->regs[VCPU_RCX], v->regs[VCPU_RDX]);
		break;
	default:
		/* Unknown: as cheap as the no-op (issue 15), and silent: a guest probing numbers is no error. */
		v->regs[VCPU_RAX] = (u64)-ENOSYS;
		v->exit_simple = true;
		break;
	}
	vcpu_skip_instruction(v);
	return 0;
}

/* Whether gpa is at the EOI register's offset in its page: the one test every MMIO exit makes before the EOI fast path
 * (vm/lapic_eoi.c) is asked, so that an access anywhere else pays no call for it. */
static inline bool may_be_eoi(gpa_t gpa)
{
	return (gpa & (PAGE_SIZE - 1)) == VLAPIC_REG_EOI;
}

/* Redo an access the hardware could not complete (MMIO, a write-protected page) by emulating the instruction at RIP.
 * If the exit interrupted event delivery, the access was the CPU's own (an IDT entry, an exception frame), not that
 * instruction's: emulating it would be wrong, so this VM ends instead, as KVM does. */
static int emulate_access(struct vcpu *v)
{
	/* A private VM's instructions are private: the guest does the access by hypercall (vm/private.c). */
	if (v->vm->mmu.priv.enabled && !v->exit.vectoring)
		return vcpu_private_ve(v, VE_REASON_MMIO, v->exit.tdp.gpa,
				       v->exit.tdp.access & SPTE_ACC_WRITE ? VE_ACCESS_WRITE :
				       v->exit.tdp.access & SPTE_ACC_EXEC ? VE_ACCESS_FETCH : VE_ACCESS_READ);
	if (v->exit.vectoring) {
		vm_log(v->vm, LOG_ERR, "event delivery touched MMIO at gpa 0x%llx\n", (unsigned long long)v->exit.tdp.gpa);
		vm_end(v->vm, VM_END_INTERNAL_ERROR, v->exit.tdp.gpa);
		return 0;
	}
	if (may_be_eoi(v->exit.tdp.gpa) && vcpu_lapic_eoi_fast(v, v->exit.tdp.gpa))
		return 0;
	return vcpu_emulate(v);
}

/* An MMIO access under TDP: the same, through the decode cache. The exit's gpa is the data access's unless the
 * exit says the CPU was walking the guest's page tables (VMX's EPT misconfiguration does not say: like KVM, the
 * page offset check in vm/mmio.c is what stands between a walk's gpa and the data access). A private VM's code is
 * never read (emulate_access gives it a #VE), and neither is it by the cache's guard. */
static int emulate_mmio(struct vcpu *v)
{
	if (v->exit.vectoring || v->vm->mmu.priv.enabled)
		return emulate_access(v);
	/* The xAPIC EOI write first (vm/lapic_eoi.c), as emulate_access does: the same exit on every path. */
	if (may_be_eoi(v->exit.tdp.gpa) && vcpu_lapic_eoi_fast(v, v->exit.tdp.gpa))
		return 0;
	return vcpu_emulate_mmio(v, v->exit.tdp.walk ? INVALID_GPA : v->exit.tdp.gpa);
}

static int handle_tdp_fault(struct vcpu *v)
{
	struct mmu_fault f;
	int r = mmu_page_fault(&v->vm->mmu, &v->mmu, v->exit.tdp.gpa, v->exit.tdp.access, &f);

	/* Fixed or spurious, nearly every fault: one compare before the switch's table. The MMU touched no vLAPIC,
	 * halt or NMI state: the run loop may re-enter at once (vm/run_inner.h: may_reenter_fast), as after CPUID. A
	 * flush the fault owes another vCPU, or this one, is a request, which the entry still sees. */
	static_assert(MMU_FAULT_FIXED == 0 && MMU_FAULT_SPURIOUS == 1, "the two outcomes that re-enter at once");
	if (likely((unsigned int)r <= MMU_FAULT_SPURIOUS)) {
		v->exit_simple = true;
		return 0;
	}
	switch (r) {
	case MMU_FAULT_RETRY:
		vcpu_request(v, VCPU_REQ_LOAD_ROOT);
		return 0;
	case MMU_FAULT_MMIO:
		return emulate_mmio(v);
	case MMU_FAULT_WRITE_PROTECTED:
		return emulate_access(v);
	case MMU_FAULT_WRONG_KIND:
		return vcpu_private_ve(v, f.is_private ? VE_REASON_PRIVATE_GPA_SHARED : VE_REASON_SHARED_GPA_PRIVATE,
				       v->exit.tdp.gpa,
				       f.access & SPTE_ACC_WRITE ? VE_ACCESS_WRITE :
				       f.access & SPTE_ACC_EXEC ? VE_ACCESS_FETCH : VE_ACCESS_READ);
	default:
		return r < 0 ? r : -EIO;
	}
}

static int handle_mmio(struct vcpu *v)
{
	return emulate_mmio(v);
}

/* APIC virtualization's exits: the CPU did its part in the register page; the vLAPIC does the rest. */
static int handle_apic_write(struct vcpu *v)
{
	vlapic_apicv_write(v->lapic, v->exit.apic.offset, rdtsc());
	return 0;
}

static int handle_apic_eoi(struct vcpu *v)
{
	vlapic_apicv_eoi(v->lapic, v->exit.apic.vector);
	return 0;
}

static int handle_triple_fault(struct vcpu *v)
{
	vm_log(v->vm, LOG_NOTICE, "triple fault at RIP 0x%llx\n", (unsigned long long)virt_ops->get_rip(v));
	vm_end(v->vm, VM_END_TRIPLE_FAULT, 0);
	return 0;
}

static int handle_extint(struct vcpu *v)
{
	host_take_pending_interrupt();
	return 0;
}

static int handle_nmi(struct vcpu *v)
{
	return 0; /* the backend already gave the host NMI to the host's handler */
}

static int handle_nothing(struct vcpu *v)
{
	return 0; /* the run loop re-evaluates interrupts and timers */
}

static int handle_ud(struct vcpu *v)
{
	vcpu_queue_exception(v, EXC_UD, false, 0);
	return 0;
}

static int handle_gp(struct vcpu *v)
{
	vcpu_queue_exception(v, EXC_GP, true, 0);
	return 0;
}

static int handle_nop(struct vcpu *v)
{
	vcpu_skip_instruction(v);
	return 0;
}

/* Shadow paging: a #PF on the shadow root (hardware error code and address), resolved by the shadow MMU. */
static int handle_shadow_pf(struct vcpu *v)
{
	struct shadow_paging p = { .who = v, .cr3 = virt_ops->get_cr(v, 3) };
	gva_t gva = v->exit.exc.fault_addr;
	struct mmu_fault f;
	int r;

	vcpu_paging_mode(v, &p.mode);
	r = mmu_shadow_fault(&v->vm->mmu, &v->mmu, &p, gva, v->exit.exc.error_code, &f);
	switch (r) {
	case MMU_FAULT_FIXED:
		return 0;
	case MMU_FAULT_SPURIOUS:
		vcpu_request(v, VCPU_REQ_TLB_FLUSH);
		return 0;
	case MMU_FAULT_RETRY:
		vcpu_request(v, VCPU_REQ_LOAD_ROOT);
		return 0;
	case MMU_FAULT_GUEST_PF:
		virt_ops->set_cr(v, 2, gva);
		vcpu_queue_exception(v, EXC_PF, true, f.guest_error_code);
		return 0;
	case MMU_FAULT_WRITE_PROTECTED:
		/* The CPU's own write while delivering an event (an exception frame on a page that is also a guest page
		 * table): unprotect the table and deliver again (the backend re-queued the event). */
		if (v->exit.vectoring && mmu_shadow_unprotect_gfn(&v->vm->mmu, &v->mmu, f.gpa >> PAGE_SHIFT)) {
			v->vm->mmu.shadow.stats.unprotects++;
			return 0;
		}
		v->exit.tdp.gpa = f.gpa;
		return v->exit.vectoring ? emulate_access(v) : vcpu_emulate_wp(v, f.gpa);
	case MMU_FAULT_MMIO:
	case MMU_FAULT_EMULATE:
		v->exit.tdp.gpa = f.gpa;
		return emulate_access(v);
	default:
		return r < 0 ? r : -EIO;
	}
}

/* Shadow paging intercepts INVLPG (and INVPCID on VMX) while leaf tables may go unsync: the guest's flush of one
 * address refreshes that address's shadow leaf (vcpu_invlpg); an all-context flush syncs every unsync table and
 * flushes the whole guest TLB. Without the address in the exit, the emulator decodes the operand and comes back
 * through sys_invlpg. */
static int handle_invlpg(struct vcpu *v)
{
	struct mmu *mmu = &v->vm->mmu;

	if (!v->exit.invlpg.all && !v->exit.invlpg.gva_valid)
		return vcpu_emulate(v);
	if (v->exit.invlpg.all) {
		mmu_shadow_flush(mmu);
		vcpu_request(v, VCPU_REQ_TLB_FLUSH);
	} else {
		vcpu_invlpg(v, v->exit.invlpg.gva);
	}
	vcpu_skip_instruction(v);
	return 0;
}

/* Real mode on VMX without unrestricted guest runs in virtual-8086 mode, where every exception exits. A #GP(0)
 * there is a privileged instruction (CPL 3 in vm86, 0 in the guest's real mode), or an access past vm86's 64 KiB
 * segments, as is an #SS(0) through SS: emulate it, with the limits real mode kept (unreal mode, vmx_rmode.c). Anything
 * else is the guest's, delivered through its IVT by the backend (INT3 and INTO after the instruction). */
static int handle_rmode_exception(struct vcpu *v, struct vcpu_event *ev)
{
	if ((ev->vector == EXC_GP || ev->vector == 12 /* #SS */) && ev->error_code == 0)
		return vcpu_emulate(v);
	if (v->exit.exc.soft)
		ev->type = EVENT_SOFT_INT;
	virt_ops->inject_event(v, ev);
	return 0;
}

static int handle_exception(struct vcpu *v)
{
	struct vcpu_event ev = { .type = EVENT_EXCEPTION, .vector = v->exit.exc.vector,
				 .has_error = v->exit.exc.has_error, .error_code = v->exit.exc.error_code };

	switch (v->exit.exc.vector) {
	case 1: /* #DB */
		/* Intercepted only so a recursive delivery cannot wedge the CPU: give it back to the guest. INT1 goes
		 * back as the instruction (RIP after it); any other #DB as the CPU would have delivered it, DR6 and
		 * DR7.GD updated, which an intercepted #DB leaves to the hypervisor. */
		if (v->exit.exc.icebp) {
			/* INT1's #DB clears DR7.GD as any #DB does (SDM Vol. 3B 18.2.4), but an injected #DB changes no
			 * debug register (SDM Vol. 3C 27.6.1.1 on VMX, likewise EVENTINJ): the hypervisor clears it. */
			vcpu_icebp_update_regs(v);
			ev.type = EVENT_ICEBP;
			virt_ops->inject_event(v, &ev);
		} else {
			vcpu_reflect_db(v, v->exit.exc.db_payload);
		}
		return 0;
	case 17: /* #AC: the same reason; a fault, so its frame has RF set */
		vcpu_queue_exception(v, ev.vector, ev.has_error, ev.error_code);
		return 0;
	case EXC_PF:
		if (v->vm->mmu.shadow.enabled)
			return handle_shadow_pf(v);
		return unhandled_exit(v);
	case 18:
		vm_log(v->vm, LOG_ERR, "machine check while the guest ran\n");
		vm_end(v->vm, VM_END_INTERNAL_ERROR, 18);
		return 0;
	default:
		if (!(virt_ops->get_cr(v, 0) & CR0_PE))
			return handle_rmode_exception(v, &ev);
		return unhandled_exit(v);
	}
}

static int (*const exit_handlers[NR_EXIT_REASONS])(struct vcpu *v) = {
	[EXIT_IO] = handle_io,
	[EXIT_MMIO] = handle_mmio,
	[EXIT_TDP_FAULT] = handle_tdp_fault,
	[EXIT_CPUID] = handle_cpuid,
	[EXIT_MSR_READ] = handle_rdmsr,
	[EXIT_MSR_WRITE] = handle_wrmsr,
	[EXIT_CR_ACCESS] = handle_cr,
	[EXIT_HLT] = handle_hlt,
	[EXIT_HYPERCALL] = handle_hypercall,
	[EXIT_EXCEPTION] = handle_exception,
	[EXIT_INVLPG] = handle_invlpg,
	[EXIT_EXTINT] = handle_extint,
	[EXIT_NMI] = handle_nmi,
	[EXIT_INTR_WINDOW] = handle_nothing,
	[EXIT_PREEMPTION] = handle_nothing,
	[EXIT_INIT] = handle_nothing,
	[EXIT_TRIPLE_FAULT] = handle_triple_fault,
	[EXIT_XSETBV] = vcpu_handle_xsetbv,
	[EXIT_UD] = handle_ud,
	[EXIT_GP] = handle_gp,
	[EXIT_NOP] = handle_nop,
	[EXIT_ENTRY_FAILED] = handle_entry_failed,
	[EXIT_TASK_SWITCH] = vcpu_task_switch,
	[EXIT_EVENT_QUEUED] = handle_nothing,
	[EXIT_APIC_WRITE] = handle_apic_write,
	[EXIT_APIC_EOI] = handle_apic_eoi,
	[EXIT_NONE] = unhandled_exit,
	[EXIT_UNKNOWN] = unhandled_exit,
};

/* Every slot filled (a reason added without a handler is a bug caught at the first VM start, not an indirect call
 * through NULL): the dispatch itself is one bounds check and one indirect jump. */
void exit_handlers_check(void)
{
	for (unsigned int r = 0; r < NR_EXIT_REASONS; r++)
		BUG_ON(!exit_handlers[r]);
}

int exit_dispatch(struct vcpu *v)
{
	unsigned int reason = (unsigned int)v->exit.reason;

	if (unlikely(reason >= NR_EXIT_REASONS))
		return unhandled_exit(v);
	v->exits_by_reason[reason]++;
	v->exit_simple = false;
	return exit_handlers[reason](v);
}
