/* Instruction emulation for the vCPU: accesses the hardware could not complete for the guest (MMIO, write-tracked
 * pages) are redone by the emulator against guest RAM and the MMIO bus. Addresses go through the guest's own page
 * tables (mm/shadow/gwalk) with its current paging mode, exactly as the CPU would have translated them. */
#include "arch/x86/cpu.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/virt.h"
#include "hv/errno.h"
#include "hv/log.h"
#include "mm/shadow/gwalk.h"
#include "vm/debug.h"
#include "vm/dr.h"
#include "vm/dev/vlapic.h"
#include "vm/emulate/emulate.h"
#include "vm/io.h"
#include "vm/mmio_env.h"
#include "vm/vcpu.h"

static int walk_read_gpa(void *opaque, gpa_t gpa, void *buf, unsigned int len)
{
	struct emu_env *env = opaque;

	return mmu_read_gpte(&env->v->vm->mmu, gpa, buf, len);
}

/* The A/D bits the walk sets are the vCPU's writes, seen by write tracking like any other. One a protection user
 * refuses is dropped, and the walk goes on as if it had been made: the guest loses an A/D bit on a page it asked to
 * be read-only, as it would lose any other write there. */
static int walk_cmpxchg_gpa(void *opaque, gpa_t gpa, u64 old, u64 new, unsigned int len)
{
	struct emu_env *env = opaque;
	int r = mmu_cmpxchg_gpa_ad(&env->v->vm->mmu, env->v, gpa, old, new, len, NULL);

	return r == -EPERM ? 0 : r;
}

static const struct gwalk_ops walk_ops = { .read_gpa = walk_read_gpa, .cmpxchg_gpa = walk_cmpxchg_gpa };

void vcpu_paging_mode(struct vcpu *v, struct gwalk_mode *mode)
{
	u64 cr0 = virt_ops->get_cr(v, 0), cr4 = virt_ops->get_cr(v, 4), efer = virt_ops->get_efer(v);

	*mode = (struct gwalk_mode){
		.pg = cr0 & CR0_PG,
		.wp = cr0 & CR0_WP,
		.pae = cr4 & CR4_PAE,
		.pse = cr4 & CR4_PSE,
		.smep = cr4 & CR4_SMEP,
		.smap = cr4 & CR4_SMAP,
		.la57 = cr4 & CR4_LA57,
		.lma = efer & EFER_LMA,
		.nxe = efer & EFER_NXE,
		.ac = virt_ops->get_rflags(v) & RFLAGS_AC,
		.gbpages = true,
		.maxphyaddr = vcpu_maxphyaddr(),
	};
	/* Protection keys: the guest's PKRU is in this CPU's register while its vCPU runs here (the host has CR4.PKE
	 * on wherever a guest may: cpu_has_pku). Keys apply in IA-32e paging only. */
	if ((cr4 & CR4_PKE) && mode->lma) {
		mode->pke = true;
		mode->pkru = rdpkru();
	}
	/* The CPU walks with the PDPTEs it loaded (vm/pdptes.c). Under TDP the backend does not track them: the walk
	 * reads the PDPT in memory, which the guest changes only before its next CR3 load, as an OS does. */
	if (v->vm->mmu.shadow.enabled && mode->pg && mode->pae && !mode->lma)
		mode->pdptes = v->pdptes;
}

/*
 * PAE paging under TDP: the backend keeps no PDPTE registers, and on SVM there are none to keep: with nested paging
 * the CPU reads the PDPTEs from memory during each walk (there is no VMCB field for them; KVM re-reads them too).
 * QEMU's walk then sets the accessed flag, bit 5, in the PDPTE, and checks only bits 63:MAXPHYADDR. The APM's legacy
 * PDPE format still lists bits 2:1 and 8:5 as MBZ, and gwalk checks them, as it must for PDPTE registers loaded at a
 * CR3 load (vm/pdptes.c validates those then, as the SDM 4.4.1 load does). A check at walk time of a bit the CPU's
 * own walk set would fault every emulated access, and every fetch for an intercepted instruction's length, of a PAE
 * guest: so the walk is given the PDPTEs as read now, with those bits ignored, as KVM's walker checks only P in a
 * PDPTE (its reserved bits are load_pdptrs' business). Left to gwalk to read (and fault) when the PDPT is not RAM.
 */
static void walk_time_pdptes(struct emu_env *env)
{
	for (unsigned int i = 0; i < 4; i++) {
		if (mmu_read_gpte(&env->v->vm->mmu, (env->cr3 & 0xffffffe0) + i * 8, &env->pdptes[i], 8))
			return;
		env->pdptes[i] &= ~(GENMASK_ULL(8, 5) | GENMASK_ULL(2, 1));
	}
	env->mode.pdptes = env->pdptes;
}

static void env_load_mode(struct emu_env *env)
{
	vcpu_paging_mode(env->v, &env->mode);
	env->mode_ready = true;
	if (env->mode.pg && env->mode.pae && !env->mode.lma && !env->mode.pdptes)
		walk_time_pdptes(env);
}

void mmio_env_init_lazy(struct emu_env *env, struct vcpu *v, u64 cr3, u8 cpl)
{
	env->v = v;
	env->cr3 = cr3;
	env->cpl = cpl;
	env->mode_ready = false;
	env->exit_gpa = INVALID_GPA;
	env->nfetch = 0;
	env->db_hits = 0;
	env->dr7 = virt_ops->get_dr(v, 7);
	for (int i = 0; i < 4 && (env->dr7 & 0xff); i++)
		env->dr[i] = virt_ops->get_dr(v, i);
}

void mmio_env_init(struct emu_env *env, struct vcpu *v)
{
	mmio_env_init_lazy(env, v, virt_ops->get_cr(v, 3), (u8)virt_ops->get_cpl(v));
	env_load_mode(env);
}

/* The walk a decode cache entry's guard re-reads: every entry from the top level down to the leaf. */
static void record_chain(struct emu_dcache_chain *c, const struct gwalk_result *res)
{
	c->levels = 0;
	c->pte_size = res->top_level == 2 ? 4 : 8; /* 32-bit paging has 4-byte entries */
	for (unsigned int level = res->top_level; level >= res->level && level > 0; level--) {
		c->pte_gpa[c->levels] = res->pte_gpa[level];
		c->pte[c->levels++] = res->pte[level];
	}
	c->code_gpa = res->gpa;
}

/* Translate for an access; 0 with *gpa, EMU_CB_FAULT with the guest's exception, or a negative errno. chain, when
 * not NULL, gets the walk of a translation that succeeded. */
static int translate_chain(struct emu_env *env, gva_t linear, u32 access, gpa_t *gpa, struct emu_fault *fault,
			   struct emu_dcache_chain *chain)
{
	struct gwalk_result res;

	if (!env->mode_ready)
		env_load_mode(env);
	if (env->cpl == 3)
		access |= GWALK_USER;
	int r = gwalk(&env->mode, env->cr3, linear, access, &walk_ops, env, &res);
	if (r)
		return r;
	switch (res.fault) {
	case GWALK_FAULT_NONE:
		*gpa = res.gpa;
		if (chain)
			record_chain(chain, &res);
		return 0;
	case GWALK_FAULT_PF:
		*fault = (struct emu_fault){ .vector = EXC_PF, .has_error = true, .error_code = res.error_code,
					     .cr2 = linear };
		return EMU_CB_FAULT;
	default:
		*fault = (struct emu_fault){ .vector = EXC_GP, .has_error = true, .error_code = 0 };
		return EMU_CB_FAULT;
	}
}

static int translate(struct emu_env *env, gva_t linear, u32 access, gpa_t *gpa, struct emu_fault *fault)
{
	return translate_chain(env, linear, access, gpa, fault, NULL);
}

static bool is_ram(struct vm *vm, gpa_t gpa)
{
	return memslot_find(&vm->mmu.slots, gpa >> PAGE_SHIFT) != NULL;
}

/* size bytes (1, 2, 4 or 8: io_mmio_piece's sizes) between buf and the low end of *val, moved inline: a call to
 * memcpy for a size known to be one of four costs more than the move. */
static inline void piece_copy(void *dst, const void *src, unsigned int size)
{
	switch (size) {
	case 1:
		__builtin_memcpy(dst, src, 1);
		break;
	case 2:
		__builtin_memcpy(dst, src, 2);
		break;
	case 4:
		__builtin_memcpy(dst, src, 4);
		break;
	default:
		__builtin_memcpy(dst, src, 8);
		break;
	}
}

static int mmio_access_one(struct vcpu *v, gpa_t gpa, void *buf, unsigned int size, bool write)
{
	u64 val = 0;
	int r;

	v->stats[VM_STAT_MMIO_EXITS]++;
	if (write)
		piece_copy(&val, buf, size);
	r = vcpu_lapic_mmio(v, gpa, size, &val, write);
	if (r == -ENOENT)
		r = write ? io_bus_write(&v->vm->mmio, v, gpa, size, val) : io_bus_read(&v->vm->mmio, v, gpa, size, &val);
	else
		v->exit_simple = false; /* the vLAPIC's state changed or was read: the run loop's pass looks again */
	if (r)
		return r;
	if (!write)
		piece_copy(buf, &val, size);
	return 0;
}

/* MMIO: the LAPIC page where the guest's APIC base puts it, then the VM's MMIO bus, in the pieces io_mmio_piece cuts
 * (vm/io.c): whatever the length left by the page split, each device sees 1, 2, 4 or 8 bytes, and no access the CPU
 * would make ends the VM. The LAPIC page is found by each piece's first byte: a piece never crosses a page. */
static inline __attribute__((always_inline)) int mmio_access(struct vcpu *v, gpa_t gpa, void *buf, unsigned int size,
							     bool write)
{
	/* 1, 2, 4 or 8 bytes are one piece (io_mmio_piece): nearly every access, so without the call. */
	if (size == 1 || size == 2 || size == 4 || size == 8)
		return mmio_access_one(v, gpa, buf, size, write);
	while (size) {
		unsigned int n = io_mmio_piece(gpa, size);
		int r = mmio_access_one(v, gpa, buf, n, write);
		if (r)
			return r;
		gpa += n;
		buf = (u8 *)buf + n;
		size -= n;
	}
	return 0;
}

/* One access, split at page boundaries: each page is translated on its own, since consecutive linear pages need
 * not be consecutive in guest-physical memory, and each piece is RAM or MMIO by itself. */
static int emu_access(void *opaque, gva_t linear, void *buf, unsigned int size, struct emu_fault *fault,
		      bool write)
{
	struct emu_env *env = opaque;
	u8 *p = buf;

	while (size) {
		unsigned int n = MIN(size, (unsigned int)(PAGE_SIZE - (linear & (PAGE_SIZE - 1))));
		gpa_t gpa;
		int r = 0;

		/* The exit's own translation, for the one access of an instruction the fast path runs. */
		if (env->exit_gpa != INVALID_GPA && n == size && !((linear ^ env->exit_gpa) & (PAGE_SIZE - 1))) {
			gpa = env->exit_gpa;
			env->exit_gpa = INVALID_GPA;
		} else {
			r = translate(env, linear, write ? GWALK_WRITE : 0, &gpa, fault);
		}
		if (r)
			return r;
		if (!is_ram(env->v->vm, gpa)) {
			r = mmio_access(env->v, gpa, p, n, write);
		} else if (write) {
			/* A write a protection user refused is dropped: the instruction completes without it. */
			r = mmu_write_gpa(&env->v->vm->mmu, env->v, gpa, p, n);
			r = r == -EPERM ? 0 : r;
		} else {
			r = mmu_read_gpa(&env->v->vm->mmu, gpa, p, n);
		}
		if (r)
			return r;
		linear += n;
		p += n;
		size -= n;
	}
	return 0;
}

/* INS's probe of its destination: each page translated for a write, nothing written. */
static int emu_check_write(void *opaque, gva_t linear, unsigned int size, struct emu_fault *fault)
{
	while (size) {
		unsigned int n = MIN(size, (unsigned int)(PAGE_SIZE - (linear & (PAGE_SIZE - 1))));
		gpa_t gpa;
		int r = translate(opaque, linear, GWALK_WRITE, &gpa, fault);

		if (r)
			return r;
		linear += n;
		size -= n;
	}
	return 0;
}

/* INS and OUTS: one element through the VM's port bus, as IN and OUT reach it. */
static int emu_pio_in(void *opaque, u16 port, unsigned int size, u32 *val)
{
	struct emu_env *env = opaque;
	u64 v = 0;
	int r = io_bus_read(&env->v->vm->pio, env->v, port, size, &v);

	*val = (u32)v;
	if (!r)
		env->db_hits |= vcpu_io_breakpoints(env->v, port, size);
	return r;
}

static int emu_pio_out(void *opaque, u16 port, unsigned int size, u32 val)
{
	struct emu_env *env = opaque;
	int r = io_bus_write(&env->v->vm->pio, env->v, port, size, val);

	if (!r)
		env->db_hits |= vcpu_io_breakpoints(env->v, port, size);
	return r;
}

/* A data access of the instruction's that completed: the breakpoints it hit (SDM Vol. 3B 18.2.4). */
static void data_breakpoints(struct emu_env *env, gva_t linear, unsigned int size, bool write)
{
	if (env->dr7 & 0xff)
		env->db_hits |= dr_data_hits(env->dr, env->dr7, linear, size, write);
}

/* A REP whose iteration hit a breakpoint ends its batch there: the trap comes after that iteration. */
static bool emu_rep_stop(void *opaque)
{
	return ((struct emu_env *)opaque)->db_hits != 0;
}

static int emu_read(void *opaque, gva_t linear, void *buf, unsigned int size, struct emu_fault *fault)
{
	int r = emu_access(opaque, linear, buf, size, fault, false);

	if (!r)
		data_breakpoints(opaque, linear, size, false);
	return r;
}

static int emu_write(void *opaque, gva_t linear, const void *buf, unsigned int size, struct emu_fault *fault)
{
	int r = emu_access(opaque, linear, (void *)buf, size, fault, true);

	if (!r)
		data_breakpoints(opaque, linear, size, true);
	return r;
}

/*
 * The write of a LOCKed read-modify-write: atomic against the other vCPUs when the operand is naturally aligned RAM
 * of up to 8 bytes (what mmu_cmpxchg_gpa does, write tracking included), so that a guest's LOCK CMPXCHG or LOCK BTS
 * on a write-tracked page (a shadowed page table, a protected page) loses nothing to another vCPU or to the shadow
 * MMU's A/D updates. -EAGAIN from it (the value changed since the emulator read it) makes the guest re-execute the
 * instruction. Anything else (a device, whose model serialises its accesses; a misaligned, page-crossing or 16-byte
 * operand, which hardware locks with a bus lock) is written as a plain write.
 */
static int emu_cmpxchg(void *opaque, gva_t linear, const void *old, const void *new, unsigned int size,
		       struct emu_fault *fault)
{
	struct emu_env *env = opaque;
	u64 o = 0, n = 0;
	gpa_t gpa;
	int r;

	data_breakpoints(env, linear, size, true); /* a fault or retry restarts the instruction: no trap then */
	if (size > 8 || (linear & (size - 1)))
		return emu_access(opaque, linear, (void *)new, size, fault, true);
	r = translate(env, linear, GWALK_WRITE, &gpa, fault);
	if (r)
		return r;
	if (!is_ram(env->v->vm, gpa))
		return emu_access(opaque, linear, (void *)new, size, fault, true);
	__builtin_memcpy(&o, old, size);
	__builtin_memcpy(&n, new, size);
	r = mmu_cmpxchg_gpa(&env->v->vm->mmu, env->v, gpa, o, n, size, NULL);
	return r == -EPERM ? 0 : r; /* a write a protection user refused is dropped, as in emu_access */
}

static int emu_fetch(void *opaque, gva_t linear, void *buf, unsigned int len, struct emu_fault *fault)
{
	struct emu_env *env = opaque;
	gpa_t gpa;
	int r = translate_chain(env, linear, GWALK_FETCH, &gpa, fault, env->nfetch ? NULL : &env->fetch_chain);

	env->nfetch++;
	if (r)
		return r;
	/* Executing from MMIO is not something this platform supports: the guest gets a #GP rather than garbage. */
	if (vm_read_gpa(env->v->vm, gpa, buf, len)) {
		*fault = (struct emu_fault){ .vector = EXC_GP, .has_error = true };
		return EMU_CB_FAULT;
	}
	return 0;
}

/*
 * The guest's SSE registers, for the emulator's vector moves. They are the CPU's own registers while the guest's exit
 * is handled: neither VM exit saves them, no hypervisor code touches them (it is built -mgeneral-regs-only, and
 * fpu_reset runs only before and after a VM), and a vCPU never leaves its CPU. So they are read and written in
 * place. The YMM upper halves are out of reach (the host leaves CR4.OSXSAVE off) and the guest cannot have them
 * either (CPUID hides XSAVE and AVX; xcr0 below says x87 only, so the emulator refuses VEX before asking).
 */
#define XMM_CASE(n, insn, ...)                                                                                         \
	case n:                                                                                                        \
		__asm__ __volatile__(insn __VA_ARGS__);                                                                \
		break;
#define XMM_SWITCH(reg, insn_fmt, ...)                                                                                 \
	switch (reg) {                                                                                                 \
		XMM_CASE(0, insn_fmt(0), __VA_ARGS__)                                                                  \
		XMM_CASE(1, insn_fmt(1), __VA_ARGS__)                                                                  \
		XMM_CASE(2, insn_fmt(2), __VA_ARGS__)                                                                  \
		XMM_CASE(3, insn_fmt(3), __VA_ARGS__)                                                                  \
		XMM_CASE(4, insn_fmt(4), __VA_ARGS__)                                                                  \
		XMM_CASE(5, insn_fmt(5), __VA_ARGS__)                                                                  \
		XMM_CASE(6, insn_fmt(6), __VA_ARGS__)                                                                  \
		XMM_CASE(7, insn_fmt(7), __VA_ARGS__)                                                                  \
		XMM_CASE(8, insn_fmt(8), __VA_ARGS__)                                                                  \
		XMM_CASE(9, insn_fmt(9), __VA_ARGS__)                                                                  \
		XMM_CASE(10, insn_fmt(10), __VA_ARGS__)                                                                \
		XMM_CASE(11, insn_fmt(11), __VA_ARGS__)                                                                \
		XMM_CASE(12, insn_fmt(12), __VA_ARGS__)                                                                \
		XMM_CASE(13, insn_fmt(13), __VA_ARGS__)                                                                \
		XMM_CASE(14, insn_fmt(14), __VA_ARGS__)                                                                \
		XMM_CASE(15, insn_fmt(15), __VA_ARGS__)                                                                \
	default:                                                                                                       \
		return -EINVAL;                                                                                        \
	}
#define XMM_STORE(n) "movdqu %%xmm" #n ", %0"
#define XMM_LOAD(n)  "movdqu %0, %%xmm" #n

struct xmm_bytes {
	u8 b[16];
};

static int emu_get_vreg(void *opaque, unsigned int reg, void *buf, unsigned int size)
{
	struct xmm_bytes *x = buf;

	if (size != 16)
		return -EOPNOTSUPP;
	XMM_SWITCH(reg, XMM_STORE, : "=m"(*x))
	return 0;
}

static int emu_set_vreg(void *opaque, unsigned int reg, const void *buf, unsigned int size)
{
	const struct xmm_bytes *x = buf;

	if (size != 16)
		return -EOPNOTSUPP;
	XMM_SWITCH(reg, XMM_LOAD, ::"m"(*x))
	return 0;
}

const struct emu_ops mmio_emu_ops = {.fetch = emu_fetch,
				     .read = emu_read,
				     .write = emu_write,
				     .cmpxchg = emu_cmpxchg,
				     .check_write = emu_check_write,
				     .pio_in = emu_pio_in,
				     .pio_out = emu_pio_out,
				     .get_vreg = emu_get_vreg,
				     .set_vreg = emu_set_vreg,
				     .rep_stop = emu_rep_stop};

/* The emulator's view of a segment's type (attr: type[3:0], S[4], ..., D/B[10], unusable). */
u8 mmio_seg_flags(u16 attr)
{
	u8 type = attr & 15;

	if ((attr & SEG_ATTR_UNUSABLE) || !(attr & BIT(4)))
		return EMU_SEGF_UNUSABLE; /* null, or a system descriptor, which no data access may use */
	if (type & 8) /* code: never writable, readable with R */
		return EMU_SEGF_NOWRITE | ((type & 2) ? 0 : EMU_SEGF_NOREAD);
	return ((type & 2) ? 0 : EMU_SEGF_NOWRITE) | ((type & 4) ? EMU_SEGF_EXPDOWN : 0) |
	       ((attr & SEG_ATTR_DB) ? EMU_SEGF_BIG : 0);
}

void mmio_ctxt_init(struct emu_ctxt *c, struct emu_env *env, struct vcpu *v)
{
	struct vcpu_segment cs, ss, seg;
	u64 cr0 = virt_ops->get_cr(v, 0), cr4 = virt_ops->get_cr(v, 4);

	virt_ops->get_segment(v, SEG_CS, &cs);
	virt_ops->get_segment(v, SEG_SS, &ss);
	*c = (struct emu_ctxt){
		.regs = v->regs,
		.rip = virt_ops->get_rip(v),
		.rflags = virt_ops->get_rflags(v),
		.mode = emu_mode_of(cr0 & CR0_PE, virt_ops->get_rflags(v) & RFLAGS_VM, virt_ops->get_efer(v) & EFER_LMA,
				    cs.attr & SEG_ATTR_L, cs.attr & SEG_ATTR_DB),
		.cpl = env->cpl,
		.stack_size = (ss.attr & SEG_ATTR_DB) ? 4 : 2,
		.umip = cr4 & CR4_UMIP,
		.cr0 = cr0,
		.cr4 = cr4,
		.xcr0 = 1, /* x87 only: XSAVE is hidden from guests, so XCR0 keeps its reset value */
		.ops = &mmio_emu_ops,
		.sys = &mmio_sys_ops,
		.opaque = env,
	};
	static const int order[EMU_NR_SEGS] = { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS };
	c->seg_checks = true;
	/* Single-stepped, a REP traps after every iteration: emulate one per run. */
	if (c->rflags & RFLAGS_TF)
		c->rep_batch = 1;
	for (int i = 0; i < EMU_NR_SEGS; i++) {
		virt_ops->get_segment(v, order[i], &seg);
		c->seg_base[i] = seg.base;
		c->seg_limit[i] = seg.limit;
		c->seg_flags[i] = mmio_seg_flags(seg.attr);
	}
}

/* Act on the emulator's result. unprotect: the gpa of a write-protected guest page table the exit hit, or
 * INVALID_GPA. */
int mmio_finish(struct vcpu *v, struct emu_ctxt *c, enum emu_result r, gpa_t unprotect)
{
	char bytes[64];

	switch (r) {
	case EMU_OK:
	case EMU_CONTINUE: {
		/* The guest's flags as the instruction began: the emulator's are in c->rflags until here. */
		u64 before = virt_ops->get_rflags(v), hits = ((struct emu_env *)c->opaque)->db_hits;
		virt_ops->set_rip(v, c->rip);
		/* RF suppresses instruction breakpoints for the one instruction that just completed: cleared here, in
		 * the same write, so that vcpu_complete_instruction has only the traps left to do (as a skip). */
		virt_ops->set_rflags(v, c->rflags & ~RFLAGS_RF);
		/* A REP iteration ends like an instruction (SDM Vol. 3B 18.3.1.4: with TF the CPU traps after each
		 * one; env_init runs one at a time then). An emulated HLT's step waits for the wake, as the exit's. */
		if (v->halted && (before & RFLAGS_TF)) {
			v->hlt_step = true;
			before &= ~RFLAGS_TF;
		}
		if (unlikely((before & RFLAGS_TF) || hits))
			vcpu_complete_instruction(v, before, hits);
		return 0;
	}
	case EMU_RETRY:
		return 0;
	case EMU_EXCEPTION:
		if (c->exc.vector == EXC_PF)
			virt_ops->set_cr(v, 2, c->exc.cr2);
		vcpu_queue_exception(v, c->exc.vector, c->exc.has_error, c->exc.error_code);
		return 0;
	case EMU_UNHANDLED:
		/* A write to a shadowed guest page table by an instruction the emulator lacks: stop shadowing the table
		 * and let the guest redo the write itself, as KVM does (reexecute_instruction). */
		if (unprotect != INVALID_GPA && mmu_shadow_unprotect_gfn(&v->vm->mmu, &v->mmu, unprotect >> PAGE_SHIFT)) {
			v->vm->mmu.shadow.stats.unprotects++;
			return 0;
		}
		if (vcpu_may_log(v)) {
			emu_format_bytes(&c->insn, bytes, sizeof(bytes));
			vm_log(v->vm, LOG_WARN, "cannot emulate the instruction at RIP 0x%llx (bytes %s): #UD\n",
			       (unsigned long long)c->rip, bytes);
		}
		vcpu_queue_exception(v, EXC_UD, false, 0);
		return 0;
	default:
		return c->error ? c->error : -EIO;
	}
}

static bool is_rep_string_store(const struct emu_insn *insn)
{
	return insn->rep && insn->map == 0 && (insn->opcode == 0xa4 || insn->opcode == 0xa5 || insn->opcode == 0xaa ||
					       insn->opcode == 0xab);
}

/* A decode for an exit that only needs to know the instruction (vcpu_decode_insn, mmio_decode_fill): 0 with *insn;
 * 1 when the fetch faulted, that fault now queued for the guest; a negative errno otherwise. Not #UD: the CPU raises
 * that before the exit, so a decode that says #UD has other bytes (the caller falls back to what it would do
 * without the decode). */
static int decode_outcome(struct vcpu *v, struct emu_ctxt *c, enum emu_result r, struct emu_insn *insn)
{
	switch (r) {
	case EMU_OK:
		*insn = c->insn;
		return 0;
	case EMU_EXCEPTION:
		if (c->exc.vector == EXC_UD)
			return -EINVAL;
		mmio_finish(v, c, r, INVALID_GPA);
		return 1;
	case EMU_ERROR:
		return c->error ? c->error : -EIO;
	default:
		return -EINVAL;
	}
}

/* Decode the instruction at RIP in c's full context; one fetched in one piece is remembered under key (when not
 * NULL) with that fetch's walk (one across a page is not). */
static enum emu_result decode_fill(struct vcpu *v, struct emu_ctxt *c, struct emu_env *env,
				   const struct emu_dcache_key *key)
{
	enum emu_result r = emu_decode(c);

	if (r == EMU_OK && key && env->nfetch == 1) {
		struct emu_dcache_chain *ch = &env->fetch_chain;
		for (unsigned int i = 0; i <= ch->levels; i++)
			ch->hva[i] = mmu_gpa_stable_hva(&v->vm->mmu, i < ch->levels ? ch->pte_gpa[i] : ch->code_gpa,
							&ch->hva_gen);
		emu_dcache_insert(&v->dcache, key, ch, &c->insn);
	}
	return r;
}

int mmio_decode_fill(struct vcpu *v, const struct emu_dcache_key *key, struct emu_insn *insn)
{
	struct emu_env env;
	struct emu_ctxt c;

	mmio_env_init(&env, v);
	mmio_ctxt_init(&c, &env, v);
	return decode_outcome(v, &c, decode_fill(v, &c, &env, key), insn);
}

static int emulate(struct vcpu *v, gpa_t unprotect, const struct emu_dcache_key *key)
{
	struct emu_env env;
	struct emu_ctxt c;

	mmio_env_init(&env, v);
	mmio_ctxt_init(&c, &env, v);
	enum emu_result r = decode_fill(v, &c, &env, key);
	/* A REP MOVS or STOS that hit a shadowed guest page table is a page being cleared or copied (a freed table
	 * reused as data), never an update of its entries: emulated, it would cost a trapped write per element. The
	 * table stops being shadowed and the guest redoes the instruction natively, as KVM's retry_instruction does
	 * for instructions that do not write page tables. */
	if (r == EMU_OK && unprotect != INVALID_GPA && is_rep_string_store(&c.insn) &&
	    mmu_shadow_unprotect_gfn(&v->vm->mmu, &v->mmu, unprotect >> PAGE_SHIFT)) {
		v->vm->mmu.shadow.stats.unprotects++;
		return 0;
	}
	if (r == EMU_OK)
		r = emu_execute(&c);
	return mmio_finish(v, &c, r, unprotect);
}

/*
 * INS/OUTS from an I/O exit. The exit said what the instruction is, so its bytes are not read when the backend could
 * give everything (size, address size, length and, for OUTS, the segment); otherwise (SVM without DecodeAssists has
 * no segment, VMX without INS/OUTS instruction information neither segment nor address size) the instruction is
 * decoded from memory and must still be the string I/O the exit reported (another vCPU may have rewritten it: then
 * the guest re-executes whatever is there now). One batch per exit: while the count is not done RIP stays at the
 * instruction and the guest re-enters it, so pending interrupts are taken between batches as between iterations on
 * the CPU.
 */
int vcpu_emulate_pio_string(struct vcpu *v, const struct emu_pio_string *io, bool complete)
{
	struct emu_env env;
	struct emu_ctxt c;
	enum emu_result r;

	mmio_env_init(&env, v);
	mmio_ctxt_init(&c, &env, v);
	if (!c.rep_batch) /* ctxt_init's 1 under single-step stays */
		c.rep_batch = PIO_STRING_BATCH;
	if (complete)
		return mmio_finish(v, &c, emu_run_pio_string(&c, io), INVALID_GPA);
	r = emu_decode(&c);
	if (r == EMU_OK && (!emu_insn_is_pio_string(&c.insn) || (c.insn.opcode < 0x6e) != io->in ||
			    c.insn.op_size != io->size))
		return 0; /* not what exited any more: re-execute */
	if (r == EMU_OK)
		r = emu_execute(&c);
	return mmio_finish(v, &c, r, INVALID_GPA);
}

int vcpu_emulate(struct vcpu *v)
{
	return emulate(v, INVALID_GPA, NULL);
}

int vcpu_emulate_wp(struct vcpu *v, gpa_t gpa)
{
	return emulate(v, gpa, NULL);
}

int mmio_emulate_fill(struct vcpu *v, const struct emu_dcache_key *key)
{
	return emulate(v, INVALID_GPA, key);
}

/* The CPU's own accesses by linear address (a task switch's TSSs and descriptor tables): supervisor ones unless
 * user, through the paging the vCPU has now (read per call, since a task switch loads CR3 halfway). */
int vcpu_access_linear(struct vcpu *v, gva_t linear, void *buf, unsigned int size, bool write, bool user,
		       struct emu_fault *fault)
{
	struct emu_env env;

	mmio_env_init(&env, v);
	env.cpl = user ? 3 : 0;
	return emu_access(&env, linear, buf, size, fault, write);
}

/* A locked update of size bytes at linear, from old to new: -EAGAIN when memory no longer holds old. */
int vcpu_cmpxchg_linear(struct vcpu *v, gva_t linear, u64 old, u64 new, unsigned int size, struct emu_fault *fault)
{
	struct emu_env env;

	mmio_env_init(&env, v);
	env.cpl = 0;
	return emu_cmpxchg(&env, linear, &old, &new, size, fault);
}

/*
 * The instruction at CS:RIP, decoded by the emulator's decoder for an intercept whose length the backend does not
 * know (SVM without NRIPS: every CPUID, RDMSR, HLT... comes this way). The fetch is the emulator's: the guest's
 * paging in whatever mode it is (TDP or shadow), CS's base and limit, A bits set as the CPU sets them, and a page
 * read only when a byte on it is needed. The CPU fetched the same bytes to execute the instruction, so a fault here
 * means the guest changed its tables or its code under the instruction (without the invalidation that would make
 * the CPU see it): the guest then gets the fault the fetch hit, as the CPU would have raised it with the new
 * translation (SDM Vol. 3A 4.10.4.3 leaves either translation possible). Returns 0 with *insn, 1 when the fault is
 * now queued for the guest (the instruction is not done: RIP stays), or a negative errno when the bytes are not an
 * instruction the decoder knows.
 */
int vcpu_decode_insn(struct vcpu *v, struct emu_insn *insn)
{
	struct emu_env env;
	struct emu_ctxt c;
	struct vcpu_segment cs;
	u64 rflags = virt_ops->get_rflags(v);

	/* Every intercept without NRIPS comes this way: only what the decode reads (the mode, CS, the fetch), not
	 * ctxt_init's full emulator context. */
	mmio_env_init(&env, v);
	virt_ops->get_segment(v, SEG_CS, &cs);
	c = (struct emu_ctxt){
		.rip = virt_ops->get_rip(v),
		.rflags = rflags,
		.mode = emu_mode_of(virt_ops->get_cr(v, 0) & CR0_PE, rflags & RFLAGS_VM, env.mode.lma,
				    cs.attr & SEG_ATTR_L, cs.attr & SEG_ATTR_DB),
		.cpl = env.cpl,
		.seg_checks = true,
		.ops = &mmio_emu_ops,
		.opaque = &env,
		.length_only = true,
	};
	c.seg_base[EMU_SEG_CS] = cs.base;
	c.seg_limit[EMU_SEG_CS] = cs.limit;
	return decode_outcome(v, &c, emu_decode(&c), insn);
}

int vcpu_mmio_access(struct vcpu *v, gpa_t gpa, void *buf, unsigned int size, bool write)
{
	return mmio_access(v, gpa, buf, size, write);
}
