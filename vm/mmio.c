/* Instruction emulation for the vCPU: accesses the hardware could not complete for the guest (MMIO, write-tracked
 * pages) are redone by the emulator against guest RAM and the MMIO bus. Addresses go through the guest's own page
 * tables (mm/shadow/gwalk) with its current paging mode, exactly as the CPU would have translated them. */
#include "arch/x86/cpu.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/virt.h"
#include "hv/errno.h"
#include "hv/log.h"
#include "mm/shadow/gwalk.h"
#include "vm/dev/vlapic.h"
#include "vm/emulate/emulate.h"
#include "vm/vcpu.h"

struct emu_env {
	struct vcpu *v;
	struct gwalk_mode mode;
	u64 cr3;
	u8 cpl;
};

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
	/* The CPU walks with the PDPTEs it loaded (vm/pdptes.c). Under TDP the backend does not track them: the walk
	 * reads the PDPT in memory, which the guest changes only before its next CR3 load, as an OS does. */
	if (v->vm->mmu.shadow.enabled && mode->pg && mode->pae && !mode->lma)
		mode->pdptes = v->pdptes;
}

static void env_init(struct emu_env *env, struct vcpu *v)
{
	env->v = v;
	env->cr3 = virt_ops->get_cr(v, 3);
	env->cpl = (u8)virt_ops->get_cpl(v);
	vcpu_paging_mode(v, &env->mode);
}

/* Translate for an access; 0 with *gpa, EMU_CB_FAULT with the guest's exception, or a negative errno. */
static int translate(struct emu_env *env, gva_t linear, u32 access, gpa_t *gpa, struct emu_fault *fault)
{
	struct gwalk_result res;

	if (env->cpl == 3)
		access |= GWALK_USER;
	int r = gwalk(&env->mode, env->cr3, linear, access, &walk_ops, env, &res);
	if (r)
		return r;
	switch (res.fault) {
	case GWALK_FAULT_NONE:
		*gpa = res.gpa;
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

static bool is_ram(struct vm *vm, gpa_t gpa)
{
	return memslot_find(&vm->mmu.slots, gpa >> PAGE_SHIFT) != NULL;
}

/* MMIO: the LAPIC page where the guest's APIC base puts it, then the VM's MMIO bus. */
static int mmio_access(struct vcpu *v, gpa_t gpa, void *buf, unsigned int size, bool write)
{
	u64 val = 0;
	int r;

	v->stats[VM_STAT_MMIO_EXITS]++;
	if (write)
		__builtin_memcpy(&val, buf, size);
	r = vcpu_lapic_mmio(v, gpa, size, &val, write);
	if (r == -ENOENT)
		r = write ? io_bus_write(&v->vm->mmio, v, gpa, size, val) : io_bus_read(&v->vm->mmio, v, gpa, size, &val);
	if (r)
		return r;
	if (!write)
		__builtin_memcpy(buf, &val, size);
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
		int r = translate(env, linear, write ? GWALK_WRITE : 0, &gpa, fault);

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

static int emu_read(void *opaque, gva_t linear, void *buf, unsigned int size, struct emu_fault *fault)
{
	return emu_access(opaque, linear, buf, size, fault, false);
}

static int emu_write(void *opaque, gva_t linear, const void *buf, unsigned int size, struct emu_fault *fault)
{
	return emu_access(opaque, linear, (void *)buf, size, fault, true);
}

static int emu_fetch(void *opaque, gva_t linear, void *buf, unsigned int len, struct emu_fault *fault)
{
	struct emu_env *env = opaque;
	gpa_t gpa;
	int r = translate(env, linear, GWALK_FETCH, &gpa, fault);

	if (r)
		return r;
	/* Executing from MMIO is not something this platform supports: the guest gets a #GP rather than garbage. */
	if (vm_read_gpa(env->v->vm, gpa, buf, len)) {
		*fault = (struct emu_fault){ .vector = EXC_GP, .has_error = true };
		return EMU_CB_FAULT;
	}
	return 0;
}

static const struct emu_ops ops = { .fetch = emu_fetch, .read = emu_read, .write = emu_write };

static void ctxt_init(struct emu_ctxt *c, struct emu_env *env, struct vcpu *v)
{
	struct vcpu_segment cs, seg;
	u64 cr0 = virt_ops->get_cr(v, 0);

	virt_ops->get_segment(v, SEG_CS, &cs);
	*c = (struct emu_ctxt){
		.regs = v->regs,
		.rip = virt_ops->get_rip(v),
		.rflags = virt_ops->get_rflags(v),
		.mode = emu_mode_of(cr0 & CR0_PE, virt_ops->get_rflags(v) & RFLAGS_VM, virt_ops->get_efer(v) & EFER_LMA,
				    cs.attr & SEG_ATTR_L, cs.attr & SEG_ATTR_DB),
		.cpl = env->cpl,
		.ops = &ops,
		.opaque = env,
	};
	static const int order[EMU_NR_SEGS] = { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS };
	for (int i = 0; i < EMU_NR_SEGS; i++) {
		virt_ops->get_segment(v, order[i], &seg);
		c->seg_base[i] = seg.base;
	}
}

int vcpu_emulate(struct vcpu *v)
{
	struct emu_env env;
	struct emu_ctxt c;
	char bytes[64];

	env_init(&env, v);
	ctxt_init(&c, &env, v);
	enum emu_result r = emu_run(&c);
	switch (r) {
	case EMU_OK:
	case EMU_CONTINUE:
		virt_ops->set_rip(v, c.rip);
		virt_ops->set_rflags(v, c.rflags);
		return 0;
	case EMU_RETRY:
		return 0;
	case EMU_EXCEPTION:
		if (c.exc.vector == EXC_PF)
			virt_ops->set_cr(v, 2, c.exc.cr2);
		vcpu_queue_exception(v, c.exc.vector, c.exc.has_error, c.exc.error_code);
		return 0;
	case EMU_UNHANDLED:
		if (vcpu_may_log(v)) {
			emu_format_bytes(&c.insn, bytes, sizeof(bytes));
			vm_log(v->vm, LOG_WARN, "cannot emulate the instruction at RIP 0x%llx (bytes %s): #UD\n",
			       (unsigned long long)c.rip, bytes);
		}
		vcpu_queue_exception(v, EXC_UD, false, 0);
		return 0;
	default:
		return c.error ? c.error : -EIO;
	}
}

int vcpu_fetch_insn(struct vcpu *v, u8 *buf, unsigned int len)
{
	struct emu_env env;
	struct emu_fault fault;
	struct vcpu_segment cs;
	unsigned int got = 0;

	/* Only CS and the mode matter here (every exit without NRIPS comes this way): no full emulator context. */
	env_init(&env, v);
	virt_ops->get_segment(v, SEG_CS, &cs);
	u64 rip = virt_ops->get_rip(v);
	bool lm64 = (virt_ops->get_efer(v) & EFER_LMA) && (cs.attr & SEG_ATTR_L);
	gva_t linear = lm64 ? rip : (u32)(cs.base + rip);
	while (got < len) {
		unsigned int n = MIN(len - got, (unsigned int)(PAGE_SIZE - ((linear + got) & (PAGE_SIZE - 1))));
		if (emu_fetch(&env, linear + got, buf + got, n, &fault))
			break;
		got += n;
	}
	return got ? (int)got : -EFAULT;
}
