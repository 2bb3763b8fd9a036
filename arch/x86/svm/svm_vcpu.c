/* VMCB setup for a vCPU: intercepts, the I/O and MSR permission maps, nested paging, and the guest state a loader
 * asks for; plus the register accessors of the vendor-neutral core. */
#include "arch/x86/cpu.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/svm/svm.h"
#include "arch/x86/virt.h"
#include "vm/crcheck.h"
#include "vm/vcpu.h"
#include "hv/errno.h"
#include "hv/platform.h"
#include "hv/string.h"

/* MSRPM: two bits per MSR (read, then write) in three 2 KiB ranges. The byte holding msr's pair and the pair's
 * shift in it; NULL for an MSR outside the ranges (always intercepted). */
static u8 *msrpm_pair(u8 *msrpm, u32 msr, unsigned int *shift)
{
	u32 base;

	if (msr <= 0x1fff)
		base = 0;
	else if (msr >= 0xc0000000 && msr <= 0xc0001fff)
		base = 0x800, msr -= 0xc0000000;
	else if (msr >= 0xc0010000 && msr <= 0xc0011fff)
		base = 0x1000, msr -= 0xc0010000;
	else
		return NULL;
	*shift = 2 * (msr % 4);
	return &msrpm[base + msr / 4];
}

static void msr_passthrough(u8 *msrpm, u32 msr)
{
	unsigned int shift;
	u8 *b = msrpm_pair(msrpm, msr, &shift);

	if (b)
		*b &= (u8)~(3u << shift);
}

/*
 * Writes to the MSRs that hold a linear address the CPU checks for canonical form stay intercepted on SVM, reads
 * pass through: VMRUN does not check these bases, so a CPU that did not check the WRMSR either (QEMU's SVM does not)
 * would hand the guest a value real hardware refuses with #GP; vm/msr.c checks them (vm/crcheck.c). Cheap: 64-bit
 * kernels write these once at boot, or switch FS/GS with WRFSBASE/SWAPGS rather than WRMSR. LSTAR stays
 * intercepted after protect=...:late has armed its ranges (vm/protect.c no longer needs the exit). SYSENTER_ESP/EIP
 * are not among them: AMD does not check those.
 */
static const u32 canonical_msrs[] = { MSR_FS_BASE, MSR_GS_BASE, MSR_KERNEL_GS_BASE, MSR_LSTAR, MSR_CSTAR };

/*
 * PAT exits both ways on SVM, unlike on VMX. Its writes: a reserved memory type is #GP on the WRMSR (SDM Vol. 3A
 * 12.12.2, APM Vol. 2 7.8.1), and not every SVM implementation checks it (QEMU's takes any value). Its reads: with
 * nested paging the guest's PAT is the VMCB's G_PAT, which VMRUN loads and #VMEXIT saves on AMD's CPUs, but QEMU's
 * SVM keeps one PAT for host and guest; without nested paging there is no G_PAT at all and a guest owning the MSR
 * would own the host's. So the guest's value is kept in G_PAT (svm_set_passthrough_msr) and served from there. Cheap:
 * kernels write PAT once per CPU at boot.
 */
static void msr_intercept_both(u8 *msrpm, u32 msr)
{
	unsigned int shift;
	u8 *b = msrpm_pair(msrpm, msr, &shift);

	if (b)
		*b |= (u8)(3u << shift);
}

/* Whether every write to msr must exit, whoever asks to stop intercepting it. */
static bool is_checked_msr(u32 msr)
{
	if (msr == MSR_IA32_PAT)
		return true;
	for (u32 i = 0; i < ARRAY_SIZE(canonical_msrs); i++)
		if (canonical_msrs[i] == msr)
			return true;
	return false;
}

void svm_intercept_msr_write(struct vcpu *v, u32 msr, bool on)
{
	unsigned int shift;
	u8 *b = msrpm_pair(phys_to_virt(to_svm(v)->msrpm_pa), msr, &shift);

	BUG_ON(!b);
	if (!on && is_checked_msr(msr))
		return; /* checked on every write (above), whoever else no longer needs the exit */
	if (on)
		*b |= (u8)(2u << shift);
	else
		*b &= (u8)~(2u << shift);
}

static void vmcb_dirty(struct svm_vcpu *s, u32 bits)
{
	s->vmcb->control.clean &= ~bits;
}

/* A private VM on a CPU without DecodeAssists: its MOV to CR could only be decoded from its private code. */
static bool private_without_decode(const struct vcpu *v)
{
	return v->vm->private_mem && !svm_caps.decode_assists;
}

int svm_vcpu_create(struct vcpu *v)
{
	struct svm_vcpu *s = kzalloc(sizeof(*s));

	if (!s)
		return -ENOMEM;
	v->arch = s;
	s->vmcb_pa = frame_alloc(0);
	s->iopm_pa = frame_alloc(2);  /* 12 KiB, contiguous */
	s->msrpm_pa = frame_alloc(1); /* 8 KiB, contiguous */
	if (s->vmcb_pa == INVALID_HPA || s->iopm_pa == INVALID_HPA || s->msrpm_pa == INVALID_HPA)
		return -ENOMEM;
	s->vmcb = phys_to_virt(s->vmcb_pa);
	memset(phys_to_virt(s->iopm_pa), 0xff, 4 * PAGE_SIZE);
	memset(phys_to_virt(s->msrpm_pa), 0xff, 2 * PAGE_SIZE);
	for (u32 i = 0; i < msr_passthrough_count; i++)
		msr_passthrough(phys_to_virt(s->msrpm_pa), msr_passthrough_list[i]);
	/* RDTSCP needs TSC_AUX; SVM has no control for it, so the guest owns it (cleared at start). */
	msr_passthrough(phys_to_virt(s->msrpm_pa), MSR_TSC_AUX);
	for (u32 i = 0; i < ARRAY_SIZE(canonical_msrs); i++)
		svm_intercept_msr_write(v, canonical_msrs[i], true);
	msr_intercept_both(phys_to_virt(s->msrpm_pa), MSR_IA32_PAT);

	struct vmcb_control *c = &s->vmcb->control;
	/* #MC belongs to the host; #DB and #AC are reflected, so their delivery cannot loop inside the CPU
	 * (CVE-2015-8104, CVE-2015-5307). */
	c->intercept_exc = BIT(1) | BIT(17) | BIT(18);
	c->tsc_offset = v->msrs.tsc_offset;
	c->intercept_misc1 = SVM_INTERCEPT_INTR | SVM_INTERCEPT_NMI | SVM_INTERCEPT_INIT | SVM_INTERCEPT_RDPMC |
			     SVM_INTERCEPT_CPUID | SVM_INTERCEPT_INVD | SVM_INTERCEPT_HLT | SVM_INTERCEPT_INVLPGA |
			     SVM_INTERCEPT_IOIO | SVM_INTERCEPT_MSR | SVM_INTERCEPT_TASK_SWITCH |
			     SVM_INTERCEPT_SHUTDOWN;
	/* Every SVM instruction: a guest may not use SVM (VMRUN must be intercepted for VMRUN to work at all). */
	c->intercept_misc2 = SVM_INTERCEPT_VMRUN | SVM_INTERCEPT_VMMCALL | SVM_INTERCEPT_VMLOAD |
			     SVM_INTERCEPT_VMSAVE | SVM_INTERCEPT_STGI | SVM_INTERCEPT_CLGI | SVM_INTERCEPT_SKINIT |
			     SVM_INTERCEPT_MONITOR | SVM_INTERCEPT_MWAIT | SVM_INTERCEPT_MWAIT_COND |
			     SVM_INTERCEPT_XSETBV | SVM_INTERCEPT_RDPRU | SVM_INTERCEPT_WBINVD |
			     SVM_INTERCEPT_ICEBP; /* INT1: svm_run.c says why */
	/* INVPCID too: the guest's CPUID hides it (vm/cpuid_table.c), so it is #UD as on a CPU without it, and a shadow
	 * MMU never misses the flush it would ask for. */
	c->intercept_misc3 = SVM_INTERCEPT_INVLPGB | SVM_INTERCEPT_INVLPGB_ILLEGAL | SVM_INTERCEPT_INVPCID |
			     SVM_INTERCEPT_MCOMMIT | SVM_INTERCEPT_TLBSYNC;
	c->iopm_base_pa = s->iopm_pa;
	c->msrpm_base_pa = s->msrpm_pa;
	c->int_ctl = V_INTR_MASKING;
	c->nested_ctl = SVM_NESTED_CTL_NP_ENABLE;
	/* CR4 writes exit even under NPT, as in KVM: the CPU would accept any bit the host has, but a bit the guest's
	 * CPUID hides (OSXSAVE, UMIP, LA57, ...) must raise #GP (vm/crcheck.c). CR0 writes (MOV, CLTS, LMSW) too: not
	 * every implementation of SVM checks a MOV to CR0 as VMRUN does. QEMU's takes CR0[63:32], PG cleared in 64-bit
	 * mode, NW without CD and PG without PE, then fails the next VMRUN and the VM ends where hardware raises #GP
	 * (SDM Vol. 2A MOV CR, APM Vol. 2 3.1.1); vm/crcheck.c checks them all. The cost, an exit per CR0 write, falls
	 * on boot and mode switches, and on a legacy kernel's lazy FPU (CLTS and setting TS, one per task switch).
	 * Shadow paging intercepts more. */
	c->intercept_cr = BIT(16 + 4) | BIT(16 + 0);
	if (v->vm->mmu.shadow.enabled)
		svm_shadow_init(s);
	c->intercept_cr |= BIT(16 + 8); /* MOV to CR8: the vLAPIC's TPR (svm_run.c: sync_v_tpr) */
	/* A private VM's MOV to CR could only be decoded from its private code without DecodeAssists: the writes
	 * stay in the guest, and CR4 bits its CPUID hides are not refused (vm/private.c says so). */
	if (private_without_decode(v))
		c->intercept_cr = 0;
	c->clean = 0;
	s->vmcb->save.g_pat = 0x0007040600070406ULL;
	s->vmcb->save.dr6 = 0xffff0ff0;
	s->vmcb->save.dr7 = 0x400;
	return 0;
}

void svm_vcpu_destroy(struct vcpu *v)
{
	struct svm_vcpu *s = to_svm(v);

	if (!s)
		return;
	if (s->vmcb_pa && s->vmcb_pa != INVALID_HPA)
		frame_free(s->vmcb_pa, 0);
	if (s->iopm_pa && s->iopm_pa != INVALID_HPA)
		frame_free(s->iopm_pa, 2);
	if (s->msrpm_pa && s->msrpm_pa != INVALID_HPA)
		frame_free(s->msrpm_pa, 1);
	kfree(s);
	v->arch = NULL;
}

static struct vmcb_seg *seg_of(struct vmcb *vmcb, int seg)
{
	switch (seg) {
	case SEG_ES: return &vmcb->save.es;
	case SEG_CS: return &vmcb->save.cs;
	case SEG_SS: return &vmcb->save.ss;
	case SEG_DS: return &vmcb->save.ds;
	case SEG_FS: return &vmcb->save.fs;
	case SEG_GS: return &vmcb->save.gs;
	case SEG_LDTR: return &vmcb->save.ldtr;
	default: return &vmcb->save.tr;
	}
}

void svm_get_segment(struct vcpu *v, int seg, struct vcpu_segment *out)
{
	struct vmcb_seg *s = seg_of(to_svm(v)->vmcb, seg);

	out->selector = s->selector;
	out->base = s->base;
	out->limit = s->limit;
	/* SVM has no "unusable" bit: a segment that is not present reads as unusable. */
	out->attr = (s->attrib & BIT(7)) ? s->attrib & 0xfff : SEG_ATTR_UNUSABLE;
}

void svm_set_segment(struct vcpu *v, int seg, const struct vcpu_segment *in)
{
	struct svm_vcpu *sv = to_svm(v);
	struct vmcb_seg *s = seg_of(sv->vmcb, seg);

	s->selector = in->selector;
	s->base = in->base;
	s->limit = in->limit;
	s->attrib = (in->attr & SEG_ATTR_UNUSABLE) ? 0 : in->attr & 0xfff;
	/* The VMCB keeps the CPL apart from SS (APM 15.5.1): it is SS.DPL, as a segment load makes it. */
	if (seg == SEG_SS)
		sv->vmcb->save.cpl = (in->attr >> 5) & 3;
	vmcb_dirty(sv, VMCB_CLEAN_SEG);
}

void svm_get_dtable(struct vcpu *v, bool idt, struct vcpu_dtable *dt)
{
	struct vmcb_seg *s = idt ? &to_svm(v)->vmcb->save.idtr : &to_svm(v)->vmcb->save.gdtr;

	dt->base = s->base;
	dt->limit = (u16)s->limit;
}

void svm_set_dtable(struct vcpu *v, bool idt, const struct vcpu_dtable *dt)
{
	struct svm_vcpu *sv = to_svm(v);
	struct vmcb_seg *s = idt ? &sv->vmcb->save.idtr : &sv->vmcb->save.gdtr;

	s->base = dt->base;
	s->limit = dt->limit;
	vmcb_dirty(sv, VMCB_CLEAN_DT);
}

int svm_get_cpl(struct vcpu *v)
{
	return to_svm(v)->vmcb->save.cpl;
}

void svm_vcpu_set_state(struct vcpu *v, const struct vcpu_boot_state *st)
{
	struct svm_vcpu *s = to_svm(v);
	struct vmcb_save *save = &s->vmcb->save;

	for (int i = 0; i < NR_SEGS; i++) {
		struct vmcb_seg *d = seg_of(s->vmcb, i);
		d->selector = st->seg[i].selector;
		d->base = st->seg[i].base;
		d->limit = st->seg[i].limit;
		d->attrib = (st->seg[i].attr & SEG_ATTR_UNUSABLE) ? 0 : st->seg[i].attr & 0xfff;
	}
	save->gdtr.base = st->gdt.base;
	save->gdtr.limit = st->gdt.limit;
	save->idtr.base = st->idt.base;
	save->idtr.limit = st->idt.limit;
	save->cpl = (st->seg[SEG_SS].attr >> 5) & 3;
	/* A whole new state: the rule that LME may not change while paging is on is for the guest's WRMSR, not for a
	 * state load, so the previous state's CR0 must not take part in it. */
	save->cr0 = 0;
	s->g_cr0 = 0;
	save->efer = EFER_SVME;
	svm_set_efer(v, st->efer);
	save->cr4 = st->cr4;
	save->cr0 = st->cr0 | CR0_ET;
	/* VMRUN takes LMA from the VMCB: a loader that starts the guest in long mode (the Linux 64-bit boot
	 * protocol) needs it set here, as the CPU would have when paging was enabled with LME. */
	if ((save->efer & EFER_LME) && (save->cr0 & CR0_PG))
		save->efer |= EFER_LMA;
	save->cr3 = st->cr3;
	if (s->shadow) {
		/* The guest's view; the hardware's follows from it, and CR3 is the shadow root once loaded. */
		s->g_cr0 = st->cr0 | CR0_ET;
		s->g_cr3 = st->cr3;
		s->g_cr4 = st->cr4;
		s->g_efer = st->efer & ~(u64)(EFER_SVME | EFER_LMA);
		if ((s->g_efer & EFER_LME) && (s->g_cr0 & CR0_PG))
			s->g_efer |= EFER_LMA;
		/* A state with PAE paging on (no loader starts one today) comes with its PDPTEs, as a VM entry loads
		 * them; invalid ones leave none present. */
		if (vcpu_cr_write_loads_pdptes(3, 0, s->g_cr0, s->g_cr4, s->g_efer) && vcpu_load_pdptes(v, s->g_cr3))
			memset(v->pdptes, 0, sizeof(v->pdptes));
		svm_shadow_sync(s);
	}
	save->rip = st->rip;
	save->rflags = st->rflags | BIT(1);
	save->rsp = v->regs[VCPU_RSP];
	save->star = save->lstar = save->cstar = save->sfmask = save->kernel_gs_base = 0;
	/* TSC_AUX is passed through: clear what the previous guest on this CPU left. */
	if (cpuid(0x80000001).edx & BIT(27))
		wrmsr(MSR_TSC_AUX, 0);
	save->sysenter_cs = save->sysenter_esp = save->sysenter_eip = 0;
	/* A new state (an AP's SIPI after INIT) starts with nothing being delivered and no interrupt shadow. */
	s->vmcb->control.event_inj = 0;
	s->vmcb->control.int_state = 0;
	svm_set_intr_window(v, false);
	svm_nmi_reset(v);
	s->vmcb->control.clean = 0;
	s->need_flush = true;
}

u64 svm_get_rip(struct vcpu *v)
{
	return to_svm(v)->vmcb->save.rip;
}

void svm_set_rip(struct vcpu *v, u64 rip)
{
	struct svm_vcpu *s = to_svm(v);

	s->vmcb->save.rip = rip;
	s->vmcb->control.int_state &= ~SVM_INTERRUPT_SHADOW; /* virt.h: the shadowed instruction is over */
}

/* DR6 and DR7 are in the VMCB's save area; DR0-DR3 are not switched by VMRUN or #VMEXIT and stay the guest's in the
 * CPU (APM Vol. 2 15.5.1, 15.6). */
u64 svm_get_dr(struct vcpu *v, int dr)
{
	struct vmcb_save *sv = &to_svm(v)->vmcb->save;

	return dr == 7 ? sv->dr7 : dr == 6 ? sv->dr6 : read_dr(dr);
}

void svm_set_dr(struct vcpu *v, int dr, u64 val)
{
	struct vmcb *vmcb = to_svm(v)->vmcb;

	if (dr == 6 || dr == 7) {
		if (dr == 6)
			vmcb->save.dr6 = val;
		else
			vmcb->save.dr7 = val;
		vmcb->control.clean &= ~VMCB_CLEAN_DR;
		return;
	}
	write_dr(dr, val);
}

u64 svm_get_rflags(struct vcpu *v)
{
	return to_svm(v)->vmcb->save.rflags;
}

void svm_set_rflags(struct vcpu *v, u64 rflags)
{
	to_svm(v)->vmcb->save.rflags = rflags | BIT(1);
}

/* The CPU updates LMA in the VMCB as the guest enables paging: derive the guest's view from there. LMA is LME with
 * CR0.PG by definition (APM Vol. 2 14.6.1, SDM Vol. 3A 10.8.5), and Bochs 2.7 saves EFER without it in compatibility
 * mode (EFER 0x100 with CR0.PG set, seen at a MOV CR0 exit): taken from the definition, so that the emulator's walk
 * and decode see IA-32e mode there. */
u64 svm_get_efer(struct vcpu *v)
{
	struct svm_vcpu *s = to_svm(v);
	u64 efer;

	if (s->shadow)
		return s->g_efer;
	efer = s->vmcb->save.efer & ~(u64)EFER_SVME;
	if ((efer & EFER_LME) && (s->vmcb->save.cr0 & CR0_PG))
		efer |= EFER_LMA;
	return efer;
}

/* The VMCB's EFER must have SVME set for VMRUN to accept it; the guest never sees that bit, since its EFER
 * accesses exit and read this view instead. */
int svm_set_efer(struct vcpu *v, u64 efer)
{
	struct svm_vcpu *s = to_svm(v);
	u64 allowed = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE | EFER_FFXSR;

	/* The guest's WRMSR passed vm/crcheck.c (reserved bits for its CPUID, LME only with paging off). */
	if (efer & ~allowed)
		return -EINVAL;
	u64 cur = s->vmcb->save.efer;
	if (s->shadow) {
		s->g_efer = (efer & ~(u64)EFER_LMA) | (s->g_efer & EFER_LMA);
		svm_shadow_sync(s);
		return 0;
	}
	/* LMA is the CPU's to set: keep the current value. */
	s->vmcb->save.efer = (efer & ~(u64)EFER_LMA) | (cur & EFER_LMA) | EFER_SVME;
	vmcb_dirty(s, VMCB_CLEAN_CR);
	return 0;
}

u64 svm_get_cr(struct vcpu *v, int cr)
{
	struct svm_vcpu *s = to_svm(v);
	struct vmcb_save *save = &s->vmcb->save;

	switch (cr) {
	case 0: return s->shadow ? s->g_cr0 : save->cr0;
	case 2: return save->cr2;
	case 3: return s->shadow ? s->g_cr3 : save->cr3;
	case 4: return s->shadow ? s->g_cr4 : save->cr4;
	default: return 0;
	}
}

/*
 * CR4 bits a shadow-paged guest may set: the architectural ones this host CPU has, minus what the hypervisor hides
 * (VMXE/SMXE, OSXSAVE with XSAVE, CET). PKE where the CPU has keys: shadow leaves carry the guest's. LA57 where the
 * CPU has it: the VMCB's CR4 carries it, so the CPU walks the shadow root as 5-level in long mode, and the shadow MMU
 * builds the root of that depth (shadow_root_key). Under NPT the hardware checks CR4 itself.
 */
static u64 shadow_cr4_allowed(void)
{
	static u64 allowed;

	if (!allowed) {
		struct cpuid_regs l1 = cpuid(1), l7 = cpuid(0).eax >= 7 ? cpuid_count(7, 0) : (struct cpuid_regs){ 0 };
		allowed = GENMASK_ULL(10, 0); /* VME through OSXMMEXCPT */
		if (l7.ecx & BIT(2))
			allowed |= BIT(11); /* UMIP */
		if (l7.ebx & BIT(0))
			allowed |= BIT(16); /* FSGSBASE */
		if (l1.ecx & BIT(17))
			allowed |= CR4_PCIDE;
		if (l7.ebx & BIT(7))
			allowed |= CR4_SMEP;
		if (l7.ebx & BIT(20))
			allowed |= CR4_SMAP;
		if (cpu_has_pku())
			allowed |= CR4_PKE;
		if (cpu_has_la57())
			allowed |= CR4_LA57;
	}
	return allowed;
}

/*
 * The guest's MOV to CR0/CR3/CR4 under shadow paging, once vm/crcheck.c found it valid as the CPU would (SDM Vol. 3A
 * 2.5 and 4.1.1; APM Vol. 2 3.1): kept as the guest's view. Enabling paging with EFER.LME set enters long mode (LMA), which
 * needs CR4.PAE; clearing it leaves. With PAE paging in use after it, the write loads the PDPTEs (vm/pdptes.c), whose
 * reserved bits make it #GP: so the new values are checked in full before any is committed. The caller reloads the
 * MMU root.
 */
static int shadow_set_cr(struct vcpu *v, int cr, u64 val)
{
	struct svm_vcpu *s = to_svm(v);
	u64 cr0 = s->g_cr0, cr3 = s->g_cr3, cr4 = s->g_cr4, efer = s->g_efer, old;

	switch (cr) {
	case 0:
		old = cr0;
		if ((val & CR0_PG) && !(cr0 & CR0_PG) && (efer & EFER_LME))
			efer |= EFER_LMA;
		if (!(val & CR0_PG) && (cr0 & CR0_PG) && (efer & EFER_LMA))
			efer &= ~(u64)EFER_LMA;
		cr0 = val | CR0_ET;
		break;
	case 3:
		old = cr3;
		/* With PCIDE, bit 63 asks not to flush; the shadow MMU flushes at every root load, which is allowed. */
		if (cr4 & CR4_PCIDE)
			val &= ~BIT(63);
		if (val & GENMASK_ULL(63, 52))
			return -EINVAL;
		cr3 = val;
		break;
	case 4:
		old = cr4;
		if (val & ~shadow_cr4_allowed())
			return -EINVAL;
		cr4 = val;
		break;
	default:
		return -EINVAL;
	}
	if (vcpu_cr_write_pdptes(v, cr, old, cr0, cr3, cr4, efer))
		return -EINVAL;
	s->g_cr0 = cr0;
	s->g_cr3 = cr3;
	s->g_cr4 = cr4;
	s->g_efer = efer;
	if (cr != 3)
		svm_shadow_sync(s);
	return 0;
}

int svm_set_cr(struct vcpu *v, int cr, u64 val)
{
	struct svm_vcpu *s = to_svm(v);
	struct vmcb_save *save = &s->vmcb->save;

	if (s->shadow && cr != 2)
		return shadow_set_cr(v, cr, val);
	/* Under NPT CR0 and CR4 writes exit (svm_vcpu_create), and the emulator's come here: vm/crcheck.c checked them
	 * against the guest's CPUID and state; the CPU checks the guest's own MOV to CR3. */
	switch (cr) {
	case 0:
		/* What the CPU's MOV would have done to long mode (APM 14.6): LMA follows LME and PG. */
		if ((save->efer & EFER_LME) && ((val ^ save->cr0) & CR0_PG))
			save->efer = (val & CR0_PG) ? save->efer | EFER_LMA : save->efer & ~(u64)EFER_LMA;
		save->cr0 = val | CR0_ET;
		break;
	case 2:
		save->cr2 = val;
		vmcb_dirty(s, VMCB_CLEAN_CR2);
		return 0;
	case 3:
		if (val & GENMASK_ULL(63, 52))
			return -EINVAL;
		save->cr3 = val;
		break;
	case 4:
		save->cr4 = val;
		break;
	default:
		return -EINVAL;
	}
	vmcb_dirty(s, VMCB_CLEAN_CR);
	return 0;
}

/* All of them are VMCB save-area state: VMRUN and the VMSAVE after it keep the VMCB current, and the VMLOAD before
 * the next VMRUN loads what is written here. */
int svm_set_passthrough_msr(struct vcpu *v, u32 index, u64 val)
{
	struct vmcb_save *s = &to_svm(v)->vmcb->save;

	switch (index) {
	case MSR_KERNEL_GS_BASE:
		s->kernel_gs_base = val;
		return 0;
	case MSR_STAR:
		s->star = val;
		return 0;
	case MSR_LSTAR:
		s->lstar = val;
		return 0;
	case MSR_CSTAR:
		s->cstar = val;
		return 0;
	case MSR_SFMASK:
		s->sfmask = val;
		return 0;
	case MSR_FS_BASE:
		s->fs.base = val;
		return 0;
	case MSR_GS_BASE:
		s->gs.base = val;
		return 0;
	case MSR_IA32_SYSENTER_CS:
		s->sysenter_cs = val;
		return 0;
	case MSR_IA32_SYSENTER_ESP:
		s->sysenter_esp = val;
		return 0;
	case MSR_IA32_SYSENTER_EIP:
		s->sysenter_eip = val;
		return 0;
	case MSR_IA32_PAT:
		/* Checked by vm/msr.c. Under shadow paging the CPU ignores G_PAT: it only holds the guest's value. */
		s->g_pat = val;
		vmcb_dirty(to_svm(v), VMCB_CLEAN_NPT); /* g_pat is cached with the nested paging state */
		return 0;
	default:
		return -ENOENT;
	}
}

int svm_get_passthrough_msr(struct vcpu *v, u32 index, u64 *val)
{
	const struct vmcb_save *s = &to_svm(v)->vmcb->save;

	switch (index) {
	case MSR_KERNEL_GS_BASE:
		*val = s->kernel_gs_base;
		return 0;
	case MSR_STAR:
		*val = s->star;
		return 0;
	case MSR_LSTAR:
		*val = s->lstar;
		return 0;
	case MSR_CSTAR:
		*val = s->cstar;
		return 0;
	case MSR_SFMASK:
		*val = s->sfmask;
		return 0;
	case MSR_FS_BASE:
		*val = s->fs.base;
		return 0;
	case MSR_GS_BASE:
		*val = s->gs.base;
		return 0;
	case MSR_IA32_SYSENTER_CS:
		*val = s->sysenter_cs;
		return 0;
	case MSR_IA32_SYSENTER_ESP:
		*val = s->sysenter_esp;
		return 0;
	case MSR_IA32_SYSENTER_EIP:
		*val = s->sysenter_eip;
		return 0;
	case MSR_IA32_PAT:
		*val = s->g_pat;
		return 0; /* PAT always exits on SVM (msr_intercept_both) */
	default:
		return -ENOENT;
	}
}

/* The TSC offset is under the intercepts' clean bit (APM Vol. 2 15.15.3). */
void svm_set_tsc_offset(struct vcpu *v, u64 offset)
{
	struct svm_vcpu *s = to_svm(v);

	s->vmcb->control.tsc_offset = offset;
	s->vmcb->control.clean &= ~VMCB_CLEAN_INTERCEPTS;
}
