/* Running an SVM vCPU: ASIDs with a per-CPU generation, TLB control, VMRUN, exit decode into generic exits, next-RIP
 * with or without NRIPS, event injection and re-injection, and interrupt windows through V_IRQ and the VINTR
 * intercept. */
#include "arch/x86/cpu.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/apic.h"
#include "arch/x86/svm/svm.h"
#include "arch/x86/svm/svm_tcg_quirk.h"
#include "arch/x86/virt.h"
#include "kernel/percpu.h"
#include "hv/errno.h"
#include "hv/log.h"
#include "vm/dev/vlapic.h"
#include "vm/emulate/dcache.h"
#include "vm/emulate/emulate.h"
#include "vm/insn_len_cache.h"
#include "vm/run_inner.h"
#include "vm/vcpu.h"

/* A fresh ASID for this vCPU on this CPU. When the CPU runs out, a new generation starts: every ASID of the old one
 * may have stale translations, so the first VMRUN of the new generation flushes them all. */
static void assign_asid(struct svm_vcpu *s, struct percpu *cpu)
{
	if (cpu->svm_next_asid == 0 || cpu->svm_next_asid >= svm_caps.nr_asids) {
		cpu->svm_asid_generation++;
		cpu->svm_next_asid = 1; /* ASID 0 is the host's */
		s->vmcb->control.tlb_control = TLB_CONTROL_FLUSH_ALL;
	}
	s->asid = cpu->svm_next_asid++;
	s->asid_generation = cpu->svm_asid_generation;
	s->vmcb->control.asid = s->asid;
	s->vmcb->control.clean &= ~VMCB_CLEAN_ASID;
}

static void prepare_tlb(struct svm_vcpu *s, struct percpu *cpu)
{
	s->vmcb->control.tlb_control = TLB_CONTROL_DO_NOTHING;
	if (s->asid_generation != cpu->svm_asid_generation || !s->asid) {
		assign_asid(s, cpu);
		s->need_flush = false; /* a new ASID has no translations to flush */
	}
	if (s->need_flush) {
		/* Without FlushByASID the only flush is all of them, which also serves. */
		if (s->vmcb->control.tlb_control != TLB_CONTROL_FLUSH_ALL)
			s->vmcb->control.tlb_control =
				svm_caps.flush_by_asid ? TLB_CONTROL_FLUSH_ASID : TLB_CONTROL_FLUSH_ALL;
		s->need_flush = false;
	}
}

/* An event whose delivery the exit interrupted goes back into EVENTINJ (APM 15.7.2). */
static void reinject_interrupted_event(struct vcpu *v, struct svm_vcpu *s)
{
	u32 info = s->vmcb->control.exit_int_info;

	s->vmcb->control.event_inj = 0;
	/* The emulated task switch delivers the event that went through a task gate itself. */
	if (!(info & SVM_EVTINJ_VALID) || v->exit.reason == EXIT_TASK_SWITCH)
		return;
	v->exit.vectoring = true;
	/* INTn, INT3 and INTO interrupted mid-delivery: RIP still points at the instruction, so letting it execute
	 * again redelivers it with the right return address; re-injecting would push RIP of the INT itself (and,
	 * for INTn without NRIPS, run the system call twice). */
	u32 type = info & SVM_EVTINJ_TYPE_MASK, vec = info & 0xff;
	if (type == SVM_EVTINJ_TYPE_SOFT || (type == SVM_EVTINJ_TYPE_EXEPT && (vec == 3 || vec == 4)))
		return;
	s->vmcb->control.event_inj = info;
	s->vmcb->control.event_inj_err = s->vmcb->control.exit_int_info_err;
}

/* CR8 is TPR[7:4] (SDM Vol. 3 11.8.6.1, APM Vol. 2 16.6.4). With V_INTR_MASKING the guest's MOV from CR8 reads V_TPR,
 * and every MOV to CR8 exits (svm_vcpu.c) into the vLAPIC, whose TPR is then the one register: copied in here. The
 * write intercept costs an exit per CR8 write, but lets the vLAPIC see every TPR change at once (an interrupt it
 * held back is delivered when CR8 drops), and QEMU's TCG aborts on an SVM guest's CR8 write it does not intercept. */
static void sync_v_tpr(struct vcpu *v, struct vmcb_control *c)
{
	u32 ctl = (c->int_ctl & ~V_TPR_MASK) | (vlapic_get_tpr(v->lapic) >> 4);

	if (ctl != c->int_ctl) {
		c->int_ctl = ctl;
		c->clean &= ~VMCB_CLEAN_INTR;
	}
}

/* The mark of QEMU's second delivery (svm_tcg_quirk.h), which the workaround should leave no room for: said once, so
 * that a log shows the guest saw one interrupt too many. */
static void report_redelivery(struct vcpu *v, u32 info)
{
	static bool said;

	if (!__atomic_exchange_n(&said, true, __ATOMIC_RELAXED))
		vm_log(v->vm, LOG_WARN, "vcpu %u: the CPU delivered interrupt vector 0x%x twice (QEMU TCG's VMRUN)\n",
		       v->id, info & 0xff);
}

/* One entry and its exit decoded (0), inlined into svm_vcpu_run's loop. */
static __always_inline int enter_once(struct vcpu *v)
{
	struct svm_vcpu *s = to_svm(v);
	struct percpu *cpu = this_cpu();

	prepare_tlb(s, cpu);
	if (!svm_caps.vmcb_clean || !s->ran_here)
		s->vmcb->control.clean = 0;
	s->vmcb->save.rax = v->regs[VCPU_RAX];
	s->vmcb->save.rsp = v->regs[VCPU_RSP];
	sync_v_tpr(v, &s->vmcb->control);
	svm_nmi_before_entry(v);
	/* Bochs 2.7's VMRUN reads CR2 from the VMCB but never loads it, so its guest would see the host's CR2 (an
	 * injected #PF, from the emulator or shadow paging, would report a wrong address). Loading the CPU's CR2
	 * too costs a MOV when they differ; on hardware VMRUN then loads the VMCB's value over the same one. */
	if (read_cr2() != s->vmcb->save.cr2)
		write_cr2(s->vmcb->save.cr2);
	/* QEMU's TCG may deliver an injected interrupt a second time unless the guest exits right after the delivery:
	 * a wake IPI to ourselves, held by GIF until the VMRUN, makes it exit there (svm_tcg_quirk.c). The exit that
	 * follows is where a second delivery would show, had one happened anyway. */
	bool intr = unlikely(svm_tcg_redelivery_quirk) && svm_event_is_intr(s->vmcb->control.event_inj);
	if (intr)
		lapic_send_wake_self(); /* the immediate exit svm_nmi.c uses too; one pending VEC_WAKE serves both */
	svm_enter(v->regs, s->vmcb_pa, cpu->svm_host_save);
	s->ran_here = true;
	if (unlikely(intr) && svm_exit_info_shows_redelivery(s->vmcb->control.exit_int_info))
		report_redelivery(v, s->vmcb->control.exit_int_info);
	v->regs[VCPU_RAX] = s->vmcb->save.rax;
	v->regs[VCPU_RSP] = s->vmcb->save.rsp;
	/* Everything the VMCB holds is now what the CPU last saw; writers below mark what they change. */
	s->vmcb->control.clean = VMCB_CLEAN_ALL;
	bool nmi_step = svm_nmi_after_exit(v);
	svm_decode_exit(v);
	/* The single-step trap over an IRET (svm_nmi.c) was only for the NMI now unblocked: the guest never sees it. */
	if (nmi_step)
		v->exit.reason = EXIT_INTR_WINDOW;
	reinject_interrupted_event(v, s);
	svm_exit_decode_insn(v); /* after the re-injection: it may queue a fault of its own */
	return 0;
}

int svm_vcpu_run(struct vcpu *v, u64 *exited_at)
{
	return vcpu_run_inner(v, exited_at, enter_once);
}

/*
 * Length of the intercepted instruction: NRIPS gives it; else the IOIO exit info does for port I/O (EXITINFO2 is the
 * next RIP with or without NRIPS, APM Vol. 2 15.10.2); else the emulator's decoder reads it at CS:RIP through the
 * guest's paging (vcpu_decode_insn). 0 when the bytes there are not the instruction the exit names; -1 when their
 * fetch faulted and the fault is queued for the guest instead.
 */
/* The guest's view of what its fetch depends on, from the VMCB and, under shadow paging, the guest's own CRs. */
static void fetch_state(struct vcpu *v, struct svm_vcpu *s, struct insn_fetch_state *st)
{
	const struct vmcb_save *save = &s->vmcb->save;
	u16 cs_attr = save->cs.attrib;

	*st = (struct insn_fetch_state){
		.rip = save->rip,
		.rflags = save->rflags,
		.cr0 = s->shadow ? s->g_cr0 : save->cr0,
		.cr3 = s->shadow ? s->g_cr3 : save->cr3,
		.cr4 = s->shadow ? s->g_cr4 : save->cr4,
		.efer = svm_get_efer(v),
		.cs_base = save->cs.base,
		.cs_limit = save->cs.limit,
		.cs_attr = (cs_attr & BIT(7)) ? cs_attr & 0xfff : SEG_ATTR_UNUSABLE, /* as svm_get_segment reads it */
		.cpl = save->cpl,
	};
}

static int exit_insn_len(struct vcpu *v, u64 code)
{
	struct svm_vcpu *s = to_svm(v);
	struct insn_fetch_state st;
	const struct emu_insn *insn;
	struct emu_insn buf;

	if (svm_caps.nrips && s->vmcb->control.next_rip)
		return (int)(s->vmcb->control.next_rip - s->vmcb->save.rip);
	if (code == SVM_EXIT_IOIO)
		return (int)(s->vmcb->control.exit_info_2 - s->vmcb->save.rip);
	if (v->vm->mmu.priv.enabled)
		return svm_private_insn_len(code);
	fetch_state(v, s, &st);
	int r = vcpu_decode_insn_cached(v, &s->len_cache, &st, &buf, &insn);
	if (r)
		return r > 0 ? -1 : 0;
	if (!svm_insn_is_intercepted(code, insn)) {
		if (vcpu_may_log(v))
			vm_log(v->vm, LOG_WARN, "SVM exit 0x%llx at RIP 0x%llx: the bytes there are another instruction\n",
			       (unsigned long long)code, (unsigned long long)s->vmcb->save.rip);
		return 0;
	}
	return insn->len;
}

/* What the exit needs from the instruction's bytes, once the exit is decoded and an interrupted event re-injected
 * (a fault of the fetch is queued after it): the CR and GPR of a CR access, and the length of every instruction the
 * common code steps over. Stepping over an instruction of unknown length would corrupt the guest: such an exit is
 * left unhandled. */
void svm_exit_decode_insn(struct vcpu *v)
{
	struct vm_exit *e = &v->exit;
	u64 code = to_svm(v)->vmcb->control.exit_code;
	int len;

	switch (e->reason) {
	case EXIT_CR_ACCESS:
		len = svm_decode_cr_exit(v, code);
		if (len < 0)
			e->reason = EXIT_EVENT_QUEUED;
		else if (!len)
			e->reason = EXIT_UNKNOWN;
		break;
	case EXIT_ENTRY_FAILED:
		if (!svm_decode_invalid_as_cr_write(v))
			e->reason = EXIT_ENTRY_FAILED;
		break;
	case EXIT_EXCEPTION:
		if (!e->exc.icebp)
			break;
		/* INT1 is delivered after the instruction, so its length is needed */
		__attribute__((fallthrough));
	case EXIT_CPUID:
	case EXIT_HLT:
	case EXIT_HYPERCALL:
	case EXIT_NOP:
	case EXIT_IO:
	case EXIT_MSR_READ:
	case EXIT_MSR_WRITE:
	case EXIT_XSETBV:
		len = exit_insn_len(v, code);
		if (len < 0)
			e->reason = EXIT_EVENT_QUEUED;
		else if (!len)
			e->reason = EXIT_UNKNOWN;
		e->insn_len = len > 0 ? (u32)len : 0;
		break;
	default:
		break;
	}
}

static int decode_npf(struct vcpu *v)
{
	struct vmcb_control *c = &to_svm(v)->vmcb->control;
	u64 err = c->exit_info_1;

	v->exit.tdp = (typeof(v->exit.tdp)){ .gpa = c->exit_info_2, .walk = err & BIT(33) };
	/* DecodeAssists: the instruction's bytes, which let the decode cache skip its guard (vm/mmio_fast.c). Some CPUs
	 * give none where the fetch itself would fault (KVM: AMD erratum 1096): then nbytes is 0. */
	if (svm_caps.decode_assists) {
		v->exit_nbytes = MIN(c->insn_len, (u8)sizeof(v->exit_bytes));
		__builtin_memcpy(v->exit_bytes, c->insn_bytes, sizeof(v->exit_bytes));
	}
	/* The NPF error code is a #PF error code: P, W, U, RSVD, I/D, plus final-translation/table-walk bits. */
	if (err & BIT(3))
		return EXIT_MMIO; /* a reserved bit: our MMIO SPTE */
	v->exit.tdp.access = SPTE_ACC_READ | ((err & BIT(1)) ? SPTE_ACC_WRITE : 0) | ((err & BIT(4)) ? SPTE_ACC_EXEC : 0);
	return EXIT_TDP_FAULT;
}

/* The exits a guest makes all the time are decoded in svm_decode_exit, each writing its whole union member. The rest
 * come here, where the union starts zeroed, as their decoders expect. */
static __attribute__((noinline)) void decode_other_exit(struct vcpu *v, u64 code)
{
	struct vmcb_control *c = &to_svm(v)->vmcb->control;
	struct vm_exit *e = &v->exit;

	vm_exit_clear_info(e);
	switch (code) {
	case SVM_EXIT_NMI:
		e->reason = EXIT_NMI;
		break;
	case SVM_EXIT_INIT:
		e->reason = EXIT_INIT;
		break;
	case SVM_EXIT_SHUTDOWN:
		e->reason = EXIT_TRIPLE_FAULT;
		break;
	case SVM_EXIT_INVD:
	case SVM_EXIT_WBINVD:
		e->reason = EXIT_NOP;
		break;
	case SVM_EXIT_RDPMC:
		e->reason = EXIT_GP;
		break;
	case SVM_EXIT_VMRUN:
	case SVM_EXIT_VMLOAD ... SVM_EXIT_SKINIT:
	case SVM_EXIT_INVLPGA:
	case SVM_EXIT_MONITOR:
	case SVM_EXIT_MWAIT:
	case SVM_EXIT_MWAIT_COND:
	case SVM_EXIT_RDPRU:
	case 0xa0 ... 0xa5: /* INVLPGB, TLBSYNC, MCOMMIT and friends */
		e->reason = EXIT_UD;
		break;
	case SVM_EXIT_XSETBV: /* the CPU checked CR4.OSXSAVE (#UD) first; the rest is vcpu_handle_xsetbv's */
		e->reason = EXIT_XSETBV;
		break;
	case SVM_EXIT_INVLPG:
		svm_decode_invlpg_exit(v);
		break;
	case SVM_EXIT_CR0_READ ... SVM_EXIT_CR0_READ + 31:
		e->reason = EXIT_CR_ACCESS; /* which register and how long: svm_exit_decode_insn reads the instruction */
		break;
	case SVM_EXIT_EXCP_BASE ... SVM_EXIT_EXCP_BASE + 31:
		e->reason = EXIT_EXCEPTION;
		e->exc.vector = (u8)(code - SVM_EXIT_EXCP_BASE);
		/* Exceptions that push an error code report it in EXITINFO1. */
		e->exc.has_error = e->exc.vector == 8 || (e->exc.vector >= 10 && e->exc.vector <= 14) ||
				   e->exc.vector == 17;
		e->exc.error_code = (u32)c->exit_info_1;
		e->exc.fault_addr = c->exit_info_2; /* #PF: the address (APM 15.12) */
		/* #DB: the CPU updated the VMCB's DR6 before the intercept (as KVM's db_interception reads it); its
		 * active-high bits are the payload. INT1 does not come here: it has its own intercept below. */
		e->exc.db_payload = to_svm(v)->vmcb->save.dr6 & 0xe00f;
		break;
	case SVM_EXIT_ICEBP:
		/* INT1 is intercepted as an instruction (RIP at it), not left to the #DB intercept, whose saved RIP for
		 * INT1's trap-like #DB is ambiguous on real CPUs (Xen intercepts it always for that reason). */
		e->reason = EXIT_EXCEPTION;
		e->exc.vector = 1;
		e->exc.icebp = true;
		break;
	case SVM_EXIT_TASK_SWITCH:
		svm_decode_task_switch(v);
		break;
	case SVM_EXIT_ERR:
	case (u32)SVM_EXIT_ERR:
		/* VMEXIT_INVALID: VMRUN refused the guest state (APM 15.5.1). Some implementations (QEMU) store it as a
		 * 32-bit -1, as KVM's u32 exit_code reads it too: either is an entry failure, reported with the VMCB
		 * (unless svm_exit_decode_insn finds QEMU's refused CR write there). */
		e->reason = EXIT_ENTRY_FAILED;
		break;
	default:
		e->reason = EXIT_UNKNOWN;
		break;
	}
}

/* Field by field: a whole-struct clear is a REP STOS of 7 words on every exit. */
void svm_decode_exit(struct vcpu *v)
{
	struct vmcb_control *c = &to_svm(v)->vmcb->control;
	struct vm_exit *e = &v->exit;
	u64 code = c->exit_code;

	e->hw_reason = (u32)code;
	e->hw_qual = c->exit_info_1;
	e->insn_len = 0;
	e->vectoring = false;
	switch (code) {
	case SVM_EXIT_INTR:
		e->reason = EXIT_EXTINT;
		break;
	case SVM_EXIT_VINTR:
	case SVM_EXIT_IRET: /* NMI unblocking ahead (svm_nmi.c); the IRET itself runs at the next entry */
		e->reason = EXIT_INTR_WINDOW;
		break;
	case SVM_EXIT_CPUID:
		e->reason = EXIT_CPUID;
		break;
	case SVM_EXIT_HLT:
		e->reason = EXIT_HLT;
		break;
	case SVM_EXIT_VMMCALL:
		e->reason = EXIT_HYPERCALL;
		break;
	case SVM_EXIT_IOIO: {
		u64 info = c->exit_info_1, sz = (info >> SVM_IOIO_SIZE_SHIFT) & 7; /* SZ8, SZ16, SZ32: one bit each */

		e->reason = EXIT_IO;
		e->io.info = (u32)(info & 0xffff0000u) | (sz == 4 ? 3 : sz == 2 ? 1 : 0) |
			     ((info & SVM_IOIO_TYPE_IN) ? EXIT_IO_IN : 0) | ((info & SVM_IOIO_STR) ? EXIT_IO_STRING : 0) |
			     ((info & SVM_IOIO_REP) ? EXIT_IO_REP : 0);
		e->io.addr_size = e->io.seg = 0xff;
		if (likely(!(info & SVM_IOIO_STR)))
			break;
		/* INS/OUTS: A16/A32/A64 in bits 9:7; the effective segment in bits 12:10 is given only by CPUs with
		 * DecodeAssists (APM Vol. 2 15.10.2), else the instruction says (vm/mmio.c decodes it). */
		e->io.addr_size = (info & SVM_IOIO_A64) ? 8 : (info & SVM_IOIO_A32) ? 4 : (info & SVM_IOIO_A16) ? 2 : 0xff;
		if (svm_caps.decode_assists)
			e->io.seg = (info >> SVM_IOIO_SEG_SHIFT) & 7;
		break;
	}
	case SVM_EXIT_MSR:
		e->reason = c->exit_info_1 ? EXIT_MSR_WRITE : EXIT_MSR_READ;
		e->msr = (typeof(e->msr)){ .index = (u32)v->regs[VCPU_RCX],
					   .value = (v->regs[VCPU_RDX] << 32) | (u32)v->regs[VCPU_RAX] };
		break;
	case SVM_EXIT_NPF:
		e->reason = decode_npf(v); /* all of tdp */
		break;
	default:
		decode_other_exit(v, code);
		break;
	}
}

u64 svm_skip_instruction(struct vcpu *v)
{
	struct svm_vcpu *s = to_svm(v);

	s->vmcb->save.rip += v->exit.insn_len;
	s->vmcb->control.int_state &= ~SVM_INTERRUPT_SHADOW;
	return s->vmcb->save.rflags;
}

u64 svm_skip_io_instruction(struct vcpu *v)
{
	u64 rflags = svm_skip_instruction(v);

	return (to_svm(v)->vmcb->save.dr7 & DR7_ENABLE_BITS) ? rflags | VIRT_RFLAGS_DR7_ENABLED : rflags;
}

void svm_inject_event(struct vcpu *v, const struct vcpu_event *ev)
{
	struct vmcb_control *c = &to_svm(v)->vmcb->control;
	u32 info = SVM_EVTINJ_VALID | ev->vector;

	switch (ev->type) {
	case EVENT_EXTINT:
		info |= SVM_EVTINJ_TYPE_INTR;
		break;
	case EVENT_NMI:
		info |= SVM_EVTINJ_TYPE_NMI;
		to_svm(v)->nmi_masked = true;
		to_svm(v)->awaiting_iret = false;
		svm_set_intercept_misc1(to_svm(v), SVM_INTERCEPT_IRET, true);
		break;
	case EVENT_SOFT_INT:
		/* Soft interrupts push the next RIP: step over INTn first (no NRIPS needed for that). */
		info |= SVM_EVTINJ_TYPE_SOFT;
		svm_skip_instruction(v);
		break;
	case EVENT_ICEBP:
		/* INT1's #DB is a trap after the instruction, without the gate DPL check of a software interrupt
		 * (which SVM's type 4 would make): step over it, then deliver #DB as an exception. */
		svm_skip_instruction(v);
		info |= SVM_EVTINJ_TYPE_EXEPT;
		break;
	default:
		info |= SVM_EVTINJ_TYPE_EXEPT;
		if (ev->has_error) {
			info |= SVM_EVTINJ_VALID_ERR;
			c->event_inj_err = ev->error_code;
		}
		break;
	}
	c->event_inj = info;
}

bool svm_interrupt_allowed(struct vcpu *v)
{
	struct vmcb *vmcb = to_svm(v)->vmcb;

	if (vmcb->control.event_inj & SVM_EVTINJ_VALID)
		return false;
	if (!(vmcb->save.rflags & RFLAGS_IF))
		return false;
	return !(vmcb->control.int_state & SVM_INTERRUPT_SHADOW);
}

/* A virtual interrupt with V_IGN_TPR makes the CPU exit (VINTR intercept) the moment the guest could take an
 * interrupt; the real one is then injected through EVENTINJ. */
void svm_set_intr_window(struct vcpu *v, bool on)
{
	struct svm_vcpu *s = to_svm(v);

	s->intr_window = on;
	svm_apply_vintr(s);
}

void svm_load_mmu_root(struct vcpu *v, hpa_t root, int level)
{
	struct svm_vcpu *s = to_svm(v);

	if (s->shadow) {
		/* The shadow root is the guest's CR3 as the CPU sees it: 4-level in long mode (5-level with the
		 * guest's CR4.LA57, which the VMCB's CR4 carries), PAE format (below 4 GiB) outside it, whether the
		 * guest's paging is off, PAE or 32-bit. Loading it is what the guest's MOV to CR3 asked for: a TLB
		 * flush. */
		BUG_ON(level != 5 && level != 4 && level != 3);
		s->vmcb->save.cr3 = root;
		s->vmcb->control.clean &= ~VMCB_CLEAN_CR;
		s->need_flush = true;
		return;
	}
	BUG_ON(level != 4); /* nCR3 walks with the host's paging mode: 4-level */
	s->vmcb->control.nested_cr3 = root;
	s->vmcb->control.clean &= ~VMCB_CLEAN_NPT;
	s->need_flush = true;
}

void svm_flush_guest_tlb(struct vcpu *v)
{
	to_svm(v)->need_flush = true;
}

void svm_flush_guest_tlb_gva(struct vcpu *v, gva_t gva)
{
	struct svm_vcpu *s = to_svm(v);

	/* An ASID of an older generation is never used again: the next entry gets a fresh one, with nothing cached. */
	if (!s->asid || s->asid_generation != this_cpu()->svm_asid_generation)
		return;
	__asm__ __volatile__("invlpga %%rax, %%ecx" ::"a"(gva), "c"(s->asid) : "memory");
}

int svm_tdp_max_level(void)
{
	/* NPT uses the host's page-table format, 1G leaves included when the CPU has them. */
	return cpu_has_feature_1gpage() ? 3 : 2;
}

const struct pt_format *svm_tdp_format(void)
{
	return &pt_format_npt;
}

void svm_dump_state(struct vcpu *v)
{
	struct svm_vcpu *s = to_svm(v);
	struct vmcb_control *c = &s->vmcb->control;
	struct vmcb_save *sv = &s->vmcb->save;
	static const char *const names[] = { "ES", "CS", "SS", "DS", "FS", "GS", "LDTR", "TR" };

	pr_err("svm: VMCB of vm %s vcpu %u at 0x%llx, ASID %u\n", v->vm->name, v->id, (unsigned long long)s->vmcb_pa,
	       s->asid);
	pr_err("  exit_code 0x%llx info1 0x%llx info2 0x%llx int_info 0x%x next_rip 0x%llx\n",
	       (unsigned long long)c->exit_code, (unsigned long long)c->exit_info_1,
	       (unsigned long long)c->exit_info_2, c->exit_int_info, (unsigned long long)c->next_rip);
	pr_err("  intercepts cr 0x%x exc 0x%x misc 0x%x 0x%x 0x%x int_ctl 0x%x int_state 0x%x event_inj 0x%x\n",
	       c->intercept_cr, c->intercept_exc, c->intercept_misc1, c->intercept_misc2, c->intercept_misc3,
	       c->int_ctl, c->int_state, c->event_inj);
	pr_err("  nested_cr3 0x%llx tlb_control %u clean 0x%x\n", (unsigned long long)c->nested_cr3, c->tlb_control,
	       c->clean);
	pr_err("  rip 0x%llx rsp 0x%llx rflags 0x%llx cpl %u\n", (unsigned long long)sv->rip,
	       (unsigned long long)sv->rsp, (unsigned long long)sv->rflags, sv->cpl);
	pr_err("  cr0 0x%llx cr2 0x%llx cr3 0x%llx cr4 0x%llx efer 0x%llx (guest view 0x%llx) g_pat 0x%llx\n",
	       (unsigned long long)sv->cr0, (unsigned long long)sv->cr2, (unsigned long long)sv->cr3,
	       (unsigned long long)sv->cr4, (unsigned long long)sv->efer, (unsigned long long)svm_get_efer(v),
	       (unsigned long long)sv->g_pat);
	for (int i = 0; i < NR_SEGS; i++) {
		struct vcpu_segment seg;
		svm_get_segment(v, i, &seg);
		pr_err("  %-4s sel 0x%04x base 0x%016llx limit 0x%08x attr 0x%03x\n", names[i], seg.selector,
		       (unsigned long long)seg.base, seg.limit, seg.attr);
	}
	pr_err("  GDTR base 0x%llx limit 0x%x IDTR base 0x%llx limit 0x%x\n", (unsigned long long)sv->gdtr.base,
	       sv->gdtr.limit, (unsigned long long)sv->idtr.base, sv->idtr.limit);
	for (int i = 0; i < NR_VCPU_GPRS; i += 4)
		pr_err("  r%-2d..r%-2d %016llx %016llx %016llx %016llx\n", i, i + 3, (unsigned long long)v->regs[i],
		       (unsigned long long)v->regs[i + 1], (unsigned long long)v->regs[i + 2],
		       (unsigned long long)v->regs[i + 3]);
}
