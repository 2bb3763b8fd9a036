/* SVM without nested paging: the hardware walks the shadow MMU's tables (mm/shadow/), so the guest's CR0, CR3, CR4
 * and EFER are virtual. Every access to them exits; the VMCB holds what the CPU runs with:
 *   - CR3: the shadow root (svm_load_mmu_root);
 *   - CR0: the guest's, with PG forced on while the guest's paging is off (AMD's "paged real mode" runs real and
 *     protected mode on a direct shadow root) and WP always on, so the shadow's read-only mappings of write-tracked
 *     pages also hold for the guest's supervisor code;
 *   - CR4: the guest's, with PAE forced on outside long mode: the shadow MMU's roots there are in PAE format,
 *     for a guest with paging off, with PAE paging, and with 32-bit paging alike (mm/shadow/spage.c);
 *   - EFER: the guest's, without LME/LMA while its paging is off (the CPU must not enter long mode then), and with
 *     NXE always on: only then does the CPU report instruction fetches in the #PF error code (I/D) whatever the
 *     guest's NXE and SMEP, and the shadow MMU needs to know a fetch from a read (SMAP applies to the one only). The
 *     shadow leaves follow the guest's NXE (without it nothing is NX), and the guest sees its own error code.
 * As KVM's svm.c does without NPT. */
#include "arch/x86/cpu.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/svm/svm.h"
#include "arch/x86/svm/svm_caps.h"
#include "arch/x86/svm/vmcb.h"
#include "arch/x86/virt.h"
#include "kernel/options.h"
#include "vm/emulate/emulate.h"
#include "vm/vcpu.h"

#define CR_READ(n) BIT(n)
#define CR_WRITE(n) BIT(16 + (n))
#define EXC_PF_BIT BIT(14)

void svm_shadow_init(struct svm_vcpu *s)
{
	struct vmcb_control *c = &s->vmcb->control;

	s->shadow = true;
	c->nested_ctl = 0;
	c->intercept_cr = CR_READ(0) | CR_READ(3) | CR_READ(4) | CR_WRITE(0) | CR_WRITE(3) | CR_WRITE(4);
	c->intercept_exc |= EXC_PF_BIT;
	/* INVLPG tells the shadow MMU that the guest may rely on a changed entry now: its leaf in an unsync table is
	 * refreshed. With every guest table write-protected (no unsync) the shadow is never stale and INVLPG runs in
	 * the guest. */
	if (hv_opts.shadow_unsync)
		c->intercept_misc1 |= SVM_INTERCEPT_INVLPG;
}

/* With DecodeAssists the exit gives INVLPG's linear address (EXITINFO1), with NRIPS its length; without both, the
 * handler has the emulator decode the instruction (its operand, its prefixes, its length) and do it. */
void svm_decode_invlpg_exit(struct vcpu *v)
{
	struct svm_vcpu *s = to_svm(v);

	v->exit.reason = EXIT_INVLPG;
	v->exit.invlpg = (typeof(v->exit.invlpg)){ 0 };
	if (svm_caps.decode_assists && svm_caps.nrips && s->vmcb->control.next_rip) {
		v->exit.invlpg.gva = s->vmcb->control.exit_info_1;
		v->exit.invlpg.gva_valid = true;
		v->exit.insn_len = (u32)(s->vmcb->control.next_rip - s->vmcb->save.rip);
	}
}

void svm_shadow_sync(struct svm_vcpu *s)
{
	struct vmcb_save *save = &s->vmcb->save;
	u64 cr0 = s->g_cr0 | CR0_WP | CR0_ET, cr4 = s->g_cr4, efer = s->g_efer;

	cr4 |= CR4_PAE; /* a 32-bit guest's tables are shadowed by PAE-format ones */
	if (!(s->g_cr0 & CR0_PG)) {
		cr0 |= CR0_PG;
		/* The direct root's leaves are user pages: with the guest's paging off its SMEP/SMAP/PKE mean nothing,
		 * and left on they would fault every supervisor access forever. */
		cr4 &= ~(u64)(CR4_SMEP | CR4_SMAP | CR4_PKE);
		efer &= ~(u64)(EFER_LME | EFER_LMA);
	}
	save->cr0 = cr0;
	save->cr4 = cr4;
	save->efer = efer | EFER_NXE | EFER_SVME;
	s->vmcb->control.clean &= ~VMCB_CLEAN_CR;
}

/*
 * Without DecodeAssists the exit names the CR but not the register, and without NRIPS not the length: the
 * emulator's decoder reads the instruction (vcpu_decode_insn; prefixes, REX and length as the CPU counts them). MOV
 * to/from CRn is 0F 22 / 0F 20 with a ModRM whose reg field (with REX.R) is the CR and whose r/m field (with REX.B)
 * is the GPR (mod is ignored: always a register, SDM Vol. 2B MOV-Move to/from Control Registers); AMD's LOCK MOV
 * CR0 is CR8 (APM Vol. 3 MOV CRn, CR8 legacy access). CLTS (0F 06) and LMSW (0F 01 /6) write CR0 too, SMSW
 * (0F 01 /4) reads it. Under NPT too, where CR0 and CR4 writes exit (svm_vcpu_create). False when the instruction is
 * not an access of the CR the exit names.
 */
static bool cr_exit_from_insn(struct vcpu *v, u64 code, const struct emu_insn *insn)
{
	struct vm_exit *e = &v->exit;
	unsigned int ext = (insn->modrm >> 3) & 7;

	e->reason = EXIT_CR_ACCESS;
	e->cr = (typeof(e->cr)){ .num = code & 0xf, .write = code >= 0x10 };
	if (insn->map != 1 || insn->vex)
		return false;
	e->insn_len = insn->len;
	switch (insn->opcode) {
	case 0x06: /* CLTS */
		if (!e->cr.write || e->cr.num != 0)
			return false;
		e->cr.value_valid = true;
		e->cr.value = svm_get_cr(v, 0) & ~(u64)CR0_TS;
		return true;
	case 0x01:
		if (e->cr.num != 0 || !insn->has_modrm)
			return false;
		/* SMSW reads CR0 (APM: the CR0-read intercept takes it), register or memory, 16 to 64 bits; LMSW from
		 * memory: both are the emulator's, as the intercept gives no value. */
		if ((ext == 4 && !e->cr.write) || (ext == 6 && e->cr.write && insn->mod != 3)) {
			e->cr.emulate = true;
			return true;
		}
		if (ext != 6 || !e->cr.write)
			return false;
		/* LMSW: the low 4 bits of CR0 from the register; it can set PE but never clear it (SDM Vol. 2A). */
		u64 src = v->regs[insn->rm] & 0xf, cr0 = svm_get_cr(v, 0);
		e->cr.value_valid = true;
		e->cr.value = (cr0 & ~0xeULL) | src | (cr0 & CR0_PE);
		return true;
	case 0x20:
	case 0x22:
		if ((insn->opcode == 0x22) != e->cr.write)
			return false;
		if ((insn->lock && insn->reg == 0 ? 8u : insn->reg) != e->cr.num)
			return false;
		e->cr.gpr = insn->rm;
		return true;
	default:
		return false;
	}
}

/* 1 with v->exit the CR access, 0 when the bytes are not one of the CR code names, -1 when their fetch faulted and
 * the fault is queued for the guest. */
int svm_decode_cr_exit(struct vcpu *v, u64 code)
{
	struct emu_insn insn;
	int r = vcpu_decode_insn(v, &insn);

	if (r)
		return r > 0 ? -1 : 0;
	return cr_exit_from_insn(v, code, &insn) ? 1 : 0;
}

/*
 * QEMU's SVM answers a guest's MOV to CR0 or CR3 with reserved bits set (CR0[63:32], CR3 above MAXPHYADDR in long
 * mode) with VMEXIT_INVALID at that instruction instead of #GP, even where the write is not intercepted. Real CPUs
 * raise #GP there. A VMEXIT_INVALID whose RIP holds a MOV to CR0, CR3 or CR4 is taken as that write's exit: the common
 * path checks it (vm/crcheck.c) and raises the #GP, or performs it. Any other entry failure stays one; and if the
 * write was valid after all, a second failure at the next instruction is reported as an entry failure.
 */
bool svm_decode_invalid_as_cr_write(struct vcpu *v)
{
	static const int crs[] = { 0, 3, 4 };
	struct emu_insn insn;

	if (vcpu_decode_insn(v, &insn))
		return false;
	for (unsigned int i = 0; i < ARRAY_SIZE(crs); i++)
		if (cr_exit_from_insn(v, SVM_EXIT_WRITE_CR0 + crs[i], &insn) && !v->exit.cr.emulate)
			return true;
	v->exit.cr = (typeof(v->exit.cr)){ 0 };
	v->exit.insn_len = 0;
	return false;
}
