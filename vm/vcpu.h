/* The run loop and the exit handlers' shared helpers. */
#ifndef VM_VCPU_H
#define VM_VCPU_H

#include "vm/vm.h"

int vcpu_run_loop(struct vcpu *v);
/* Dispatch v->exit through the exit table: 0 to keep running, a negative errno for an internal failure. */
int exit_dispatch(struct vcpu *v);
/* BUG unless every exit reason has a handler (vm/exit.c): checked as each VM starts. */
void exit_handlers_check(void);
void vcpu_queue_exception(struct vcpu *v, u8 vector, bool has_error, u32 error_code);

/* Whether a guest-triggered message may still be printed: each vCPU gets VCPU_LOG_BUDGET of them. */
#define VCPU_LOG_BUDGET 32
static inline bool vcpu_may_log(struct vcpu *v)
{
	if (v->log_budget >= VCPU_LOG_BUDGET)
		return false;
	if (++v->log_budget == VCPU_LOG_BUDGET)
		vm_log(v->vm, LOG_INFO, "vcpu %u: further guest-triggered messages suppressed\n", v->id);
	return true;
}

#define EXC_UD 6
#define EXC_GP 13
#define EXC_PF 14

/* The guest's paging controls as the vCPU holds them now (vm/mmio.c), for the guest page walker; under shadow paging
 * with PAE paging in use, with the vCPU's loaded PDPTEs. */
struct gwalk_mode;
void vcpu_paging_mode(struct vcpu *v, struct gwalk_mode *mode);
/* The guest's MAXPHYADDR, as its CPUID 80000008H reports it (vm/cpuid.c). */
u8 vcpu_maxphyaddr(void);
/* An MMIO access at gpa as the emulator makes it (the LAPIC page, then the MMIO bus), for HC_MMIO. */
int vcpu_mmio_access(struct vcpu *v, gpa_t gpa, void *buf, unsigned int size, bool write);

/*
 * The PAE PDPTE registers under shadow paging (vm/pdptes.c; SDM Vol. 3A 4.4.1), for the backends' CR-write paths.
 *
 * vcpu_load_pdptes: read the 4 PDPTEs at cr3 (bits 31:5) into v->pdptes, as the CPU does. 0; or -EINVAL when a
 * present one has a reserved bit set (or the PDPT is not RAM, which reads as all ones): the MOV must raise #GP and
 * take no effect, and v->pdptes is unchanged.
 *
 * vcpu_cr_write_loads_pdptes: whether a MOV to CR<cr> (0, 3 or 4) loads them: PAE paging is in use after it (cr0,
 * cr4 and efer are the values the write leaves, EFER.LMA as it leaves it) and it is a MOV to CR3, or changes
 * CR0.PG/CD/NW or CR4.PAE/PGE/PSE/SMEP (old_val: the register before the write).
 *
 * vcpu_cr_write_pdptes: both: call it with a write the backend has checked and is about to commit; 0 (loaded, or
 * nothing to load), or -EINVAL: #GP, do not commit. The caller then requests VCPU_REQ_LOAD_ROOT as for any CR write
 * under shadow paging (vm/exit.c does), since the root is keyed by the PDPTEs.
 */
int vcpu_load_pdptes(struct vcpu *v, u64 cr3);
bool vcpu_cr_write_loads_pdptes(int cr, u64 old_val, u64 cr0, u64 cr4, u64 efer);
int vcpu_cr_write_pdptes(struct vcpu *v, int cr, u64 old_val, u64 cr0, u64 cr3, u64 cr4, u64 efer);

/* The guest's MOV to/from CR0, CR2, CR3, CR4, CR8 (vm/exit.c): the write returns -EINVAL where hardware raises
 * #GP, and otherwise flushes and reloads the MMU root as the new value requires. */
int vcpu_write_cr(struct vcpu *v, int cr, u64 val);
u64 vcpu_read_cr(struct vcpu *v, int cr);
/* The guest's INVLPG of gva (the intercept, or the emulator's): its shadow leaf refreshed, its translation flushed. */
void vcpu_invlpg(struct vcpu *v, gva_t gva);

/* Emulate the instruction at RIP against guest RAM and the MMIO bus (vm/mmio.c). */
int vcpu_emulate(struct vcpu *v);
/* The same for an access the TDP MMU found to be MMIO, through the decode cache first (vm/mmio_fast.c). gpa: the
 * guest-physical address the exit reported for the instruction's data access, or INVALID_GPA when it may be another
 * access's (a guest page-table entry's). */
int vcpu_emulate_mmio(struct vcpu *v, gpa_t gpa);
/* The same for a write that hit gpa, a guest page table the shadow MMU write-protects: an instruction the emulator
 * does not know unprotects the table and re-executes instead of raising #UD. */
int vcpu_emulate_wp(struct vcpu *v, gpa_t gpa);
/* INS/OUTS from an I/O exit (vm/mmio.c): one batch of at most PIO_STRING_BATCH elements (KVM re-enters the guest
 * after 1024 iterations too). complete: io describes the instruction fully (the backend knew its segment, address
 * size and length), else it is decoded from guest memory. 0 (done, continuing, or an exception queued), or a
 * negative errno for a failure of the hypervisor's own. */
#define PIO_STRING_BATCH 1024
struct emu_pio_string;
int vcpu_emulate_pio_string(struct vcpu *v, const struct emu_pio_string *io, bool complete);
/* Decode the intercepted instruction at CS:RIP for its length (SVM without NRIPS; vm/mmio.c): 0 with *insn, 1 when
 * its fetch faulted and the fault is queued for the guest, or a negative errno for bytes the decoder does not know. */
struct emu_insn;
int vcpu_decode_insn(struct vcpu *v, struct emu_insn *insn);

/* Task switching (vm/task_switch.c, for the exit of that name) and the accesses it makes (vm/mmio.c). */
struct emu_fault;
int vcpu_task_switch(struct vcpu *v);
int vcpu_access_linear(struct vcpu *v, gva_t linear, void *buf, unsigned int size, bool write, bool user,
		       struct emu_fault *fault);
int vcpu_cmpxchg_linear(struct vcpu *v, gva_t linear, u64 old, u64 new, unsigned int size, struct emu_fault *fault);

/* The vCPU's LAPIC (vm/lapic.c). vcpu_lapic_mmio returns -ENOENT when gpa is not the LAPIC page as the guest
 * currently decodes it, so the access goes to the MMIO bus instead. */
struct vlapic *vcpu_lapic_create(struct vcpu *v);
void vcpu_lapic_destroy(struct vlapic *lapic);
/* The host-physical frame of the vLAPIC's register page (the virtual-APIC page of APIC virtualization). */
hpa_t vcpu_lapic_page(struct vcpu *v);
int vcpu_lapic_mmio(struct vcpu *v, gpa_t gpa, unsigned int size, u64 *val, bool write);
/* Move what other CPUs posted to v into its vLAPIC (v's CPU only); true if there was anything. */
bool vcpu_lapic_drain_inbox(struct vcpu *v);
/* An MMIO exit at gpa: if it is a MOV store to the xAPIC EOI register, do the EOI and step over the instruction
 * without the emulator, and return true (vm/lapic_eoi.c). False: emulate as usual. */
bool vcpu_lapic_eoi_fast(struct vcpu *v, gpa_t gpa);

/* The devices every VM has (vm/dev/platform.c). */
int vm_devices_init(struct vm *vm);
void vm_devices_destroy(struct vm *vm);

/* MSRs the guest may access directly: they live in the VMCS/VMCB guest state or the host never uses them (and
 * vcpu start clears them). The backends open exactly these in their bitmaps. */
extern const u32 msr_passthrough_list[];
extern const u32 msr_passthrough_count;

/* CPUID and MSR policy (vm/cpuid.c, vm/msr.c). vm_cpuid_init builds the VM's CPUID table once its inputs are
 * known (a private VM's shared bit: after sealing), before any vCPU runs; amd: the vCPUs' msr_arch.amd. */
void vm_cpuid_init(struct vm *vm, bool amd);
/* The CPUID v sees for (leaf, subleaf), EAX..EDX: the table's answer, then its rule for v's state, if any
 * (vm/cpuid.c: cpuid_policy). The CPUID exit uses vcpu_cpuid_regs below, which calls nothing unless the rule can
 * change the answer. */
void cpuid_vcpu_dyn(struct vcpu *v, u32 dyn, u32 subleaf, u32 out[4]);
/* The CPUID instruction on v's registers (EAX, ECX in; EAX..EDX out), the exit's: the table's answer straight into
 * the registers, and the rule's case out of line (cpuid_vcpu_dyn_regs), so no answer goes through the stack. */
void cpuid_vcpu_dyn_regs(struct vcpu *v, const struct cpuid_entry *e, u32 subleaf);
static __always_inline void vcpu_cpuid_regs(struct vcpu *v)
{
	u32 subleaf = (u32)v->regs[VCPU_RCX];
	const struct cpuid_entry *e = cpuid_table_get(&v->vm->cpuid, (u32)v->regs[VCPU_RAX], subleaf);

	if (unlikely(cpuid_dyn_applies(e->dyn, v->msrs.misc_enable))) {
		cpuid_vcpu_dyn_regs(v, e, subleaf);
		return;
	}
	v->regs[VCPU_RAX] = e->eax;
	v->regs[VCPU_RBX] = e->ebx;
	v->regs[VCPU_RCX] = e->ecx;
	v->regs[VCPU_RDX] = e->edx;
}
void cpuid_policy(struct vcpu *v, u32 leaf, u32 subleaf, u32 out[4]);
int msr_read(struct vcpu *v, u32 index, u64 *val);
int msr_write(struct vcpu *v, u32 index, u64 val);

#endif
