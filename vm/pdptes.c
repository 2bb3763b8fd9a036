/* A vCPU's PAE PDPTE registers under shadow paging. With PAE paging the CPU reads the 4 PDPTEs when CR3 is loaded
 * and when CR0/CR4 paging bits change (SDM Vol. 3A 4.4.1), checks them (a reserved bit makes the MOV raise #GP and
 * change nothing), and walks with those copies until the next load: a guest write to its PDPT in between has no
 * effect. The vCPU holds them (v->pdptes); its walks (vcpu_paging_mode) and its shadow root, which is keyed by them
 * (mm/shadow), use them instead of memory. Vendor-neutral: each backend's CR-write path for shadow paging calls
 * vcpu_cr_write_pdptes before it commits the write. */
#include "arch/x86/cpu.h"
#include "arch/x86/msr_index.h"
#include "mm/shadow/gwalk.h"
#include "vm/vcpu.h"

static int read_gpa(void *opaque, gpa_t gpa, void *buf, unsigned int len)
{
	/* All ones where gpa is not RAM, as the bus gives the CPU: reserved bits, so #GP. */
	return mmu_read_gpte(opaque, gpa, buf, len);
}

int vcpu_load_pdptes(struct vcpu *v, u64 cr3)
{
	static const struct gwalk_ops ops = { .read_gpa = read_gpa };

	return gwalk_load_pdptes(&ops, &v->vm->mmu, cr3, vcpu_maxphyaddr(), v->pdptes);
}

bool vcpu_cr_write_loads_pdptes(int cr, u64 old_val, u64 cr0, u64 cr4, u64 efer)
{
	if (!(cr0 & CR0_PG) || !(cr4 & CR4_PAE) || (efer & EFER_LMA))
		return false; /* PAE paging is not in use after the write */
	switch (cr) {
	case 0:
		return (old_val ^ cr0) & (CR0_PG | CR0_CD | CR0_NW);
	case 3:
		return true;
	case 4:
		return (old_val ^ cr4) & (CR4_PAE | CR4_PGE | CR4_PSE | CR4_SMEP);
	default:
		return false;
	}
}

int vcpu_cr_write_pdptes(struct vcpu *v, int cr, u64 old_val, u64 cr0, u64 cr3, u64 cr4, u64 efer)
{
	if (!vcpu_cr_write_loads_pdptes(cr, old_val, cr0, cr4, efer))
		return 0;
	return vcpu_load_pdptes(v, cr3);
}
