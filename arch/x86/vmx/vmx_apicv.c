/* VMX APIC virtualization (SDM Vol. 3 ch. 30): TPR shadow, APIC-register virtualization and virtual-interrupt
 * delivery, used together where the CPU has all of them, under EPT, and hv.apicv=1. The vLAPIC's register page is the
 * virtual-APIC page (vm/dev/vlapic.h), so the CPU and the model share one copy: the guest reads its registers, writes
 * TPR, and EOIs edge-triggered vectors without an exit, and gets its pending interrupts delivered by the CPU at entry
 * or as soon as it unblocks them, without an injection or an interrupt-window exit. Exits remain for what only the
 * model can do: a register write with side effects (trap-like APIC-write), the EOI of a level-triggered vector
 * (EOI-induced: the IOAPIC), and the registers the CPU does not virtualize (the current count: APIC-access). In
 * x2APIC mode the same holds for the MSR interface (virtualize x2APIC mode). */
#include "arch/x86/vmx/vmx.h"
#include "hv/platform.h"
#include "hv/log.h"
#include "kernel/options.h"
#include "vm/dev/vlapic.h"
#include "vm/vcpu.h"

#define APIC_DEFAULT_GFN (0xfee00000ULL >> PAGE_SHIFT)

#define APICV_EXEC2 (CPU2_VIRT_APIC_ACCESS | CPU2_APIC_REG_VIRT | CPU2_VIRT_INTR_DELIVERY)

static bool cpu_has_apicv(void)
{
	return vmx_caps.tpr_shadow && vmx_caps.virt_apic_access && vmx_caps.apic_reg_virt &&
	       vmx_caps.virt_intr_delivery;
}

void vmx_apicv_choose(struct vmx_vcpu *x)
{
	struct vcpu *v = x->vcpu;

	/* Virtual-interrupt delivery needs external-interrupt exiting (SDM 26.2.1.1), which every vCPU has. The
	 * APIC-access page is mapped by the TDP MMU: none under shadow paging, and none in a private VM (whose MMIO
	 * the guest does by hypercall). */
	if (!hv_opts.apicv || x->shadow || !cpu_has_apicv() || !(x->exec & CPU_SECONDARY_CONTROLS) ||
	    !(x->pin & PIN_EXT_INTR_EXITING))
		return;
	if (mmu_set_apic_access_page(&v->vm->mmu, APIC_DEFAULT_GFN) == INVALID_HPA)
		return;
	x->apic_access_gfn = APIC_DEFAULT_GFN;
	/* CR8 is the TPR shadow's: MOV CR8 reads and writes VTPR, with PPR virtualization (SDM 30.3). */
	x->exec = (x->exec | CPU_TPR_SHADOW) & ~(CPU_CR8_LOAD_EXITING | CPU_CR8_STORE_EXITING);
	x->exec2 |= APICV_EXEC2;
	v->apicv = true;
}

void vmx_apicv_setup(struct vmx_vcpu *x)
{
	struct vcpu *v = x->vcpu;

	if (!v->apicv)
		return;
	vmcs_write(VIRTUAL_APIC_PAGE_ADDR, vcpu_lapic_page(v));
	vmcs_write(APIC_ACCESS_ADDR, v->vm->mmu.apic_access_hpa);
	/* With virtual-interrupt delivery the threshold plays no part (no TPR-below-threshold exits, SDM 30.1.2). */
	vmcs_write(TPR_THRESHOLD, 0);
	vmcs_write(GUEST_INTR_STATUS, 0);
	for (int i = 0; i < 4; i++) {
		vmcs_write(EOI_EXIT_BITMAP0 + 2 * i, 0);
		x->eoi_exit[i] = 0;
	}
}

/* The x2APIC registers the CPU may read from the page (SDM 30.5, APIC-register virtualization reads every MSR in
 * 800H-8FFH the bitmap lets through): those the vLAPIC has in x2APIC mode, as MSR numbers less 800H. Not the current
 * count (the CPU does not know it), not EOI and SELF IPI (write-only: RDMSR #GPs), not the CMCI LVT (the vLAPIC has
 * none). KVM's vmx_update_msr_bitmap_x2apic opens the same set. */
static const u8 x2apic_readable[] = {
    0x02, 0x03, 0x08, 0x0a, 0x0d, 0x0f,				/* ID, version, TPR, PPR, LDR, SVR */
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,		/* ISR */
    0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,		/* TMR */
    0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27,		/* IRR */
    0x28, 0x30, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x3e, /* ESR, ICR, LVTs, initial count, divide */
};

/* Writes the CPU completes itself with virtual-interrupt delivery (SDM 30.5): TPR, EOI and SELF IPI, each with its
 * reserved-bit #GP. Every other x2APIC write exits to the vLAPIC. */
static const u8 x2apic_writable[] = {0x08, 0x0b, 0x3f};

static void msr_intercept(u8 *bitmap, u32 msr, bool write, bool on)
{
	u8 *byte = &bitmap[(write ? 0x800 : 0) + msr / 8];

	*byte = on ? *byte | (u8)BIT(msr % 8) : *byte & (u8)~BIT(msr % 8);
}

/* In x2APIC mode the CPU takes the MSR interface (virtualize x2APIC mode, which excludes APIC-access
 * virtualization); out of it, every x2APIC MSR exits again, for the vLAPIC's #GP. */
static void x2apic_open(struct vmx_vcpu *x, bool open)
{
	u8 *bitmap = phys_to_virt(x->msr_bitmap);

	for (unsigned int i = 0; i < ARRAY_SIZE(x2apic_readable); i++)
		msr_intercept(bitmap, VLAPIC_MSR_X2APIC_FIRST + x2apic_readable[i], false, !open);
	for (unsigned int i = 0; i < ARRAY_SIZE(x2apic_writable); i++)
		msr_intercept(bitmap, VLAPIC_MSR_X2APIC_FIRST + x2apic_writable[i], true, !open);
	x->x2apic_open = open;
}

/* Called only when the model changed what the state derives from (vlapic.apicv_dirty): the CPU's own deliveries
 * and EOIs keep RVI and SVI in step with the page without help. RVI and SVI are written whole; the EOI-exit bitmap
 * changes only with TMR, so it is compared. */
void vmx_apicv_load(struct vcpu *v, const struct vlapic_apicv_state *st)
{
	struct vmx_vcpu *x = to_vmx(v);

	vmcs_write(GUEST_INTR_STATUS, st->rvi | (u16)st->svi << 8);
	for (int i = 0; i < 4; i++) {
		if (st->eoi_exit[i] != x->eoi_exit[i]) {
			vmcs_write(EOI_EXIT_BITMAP0 + 2 * i, st->eoi_exit[i]);
			x->eoi_exit[i] = st->eoi_exit[i];
		}
	}
	/* The APIC-access page is the APIC's only while the guest's APIC decodes MMIO there: in x2APIC mode, disabled,
	 * or moved away, the CPU must stop virtualizing the page (its accesses then reach the MMU's frame, a page of
	 * the guest's own, as with KVM's private memslot). */
	bool want = st->xapic_base == (x->apic_access_gfn << PAGE_SHIFT);
	u32 exec2 = want ? x->exec2 | CPU2_VIRT_APIC_ACCESS : x->exec2 & ~CPU2_VIRT_APIC_ACCESS;
	bool x2 = st->x2apic && vmx_caps.x2apic_virt;
	if (x2 != x->x2apic_open) {
		x2apic_open(x, x2);
		exec2 = x2 ? exec2 | CPU2_VIRT_X2APIC : exec2 & ~CPU2_VIRT_X2APIC;
	}
	if (exec2 != x->exec2) {
		x->exec2 = exec2;
		vmcs_write(SECONDARY_VM_EXEC_CONTROL, exec2);
	}
}

/* Bits 11:0 of the qualification are the page offset, 15:12 the access type (SDM 28.2.1, table 28-6): linear
 * read 0, write 1, fetch 2, during event delivery 3, guest-physical 10 and 15. Every kind is handed to the MMIO path
 * at the page's gpa: the emulator redoes a linear access against the vLAPIC, and an access made while delivering an
 * event ends the VM as any such MMIO access does (the exit is vectoring). */
enum exit_reason vmx_apicv_access_exit(struct vcpu *v, u64 qual)
{
	v->exit.tdp.gpa = (to_vmx(v)->apic_access_gfn << PAGE_SHIFT) | (qual & 0xfff);
	v->exit.tdp.access = ((qual >> 12) & 0xf) == 1 ? SPTE_ACC_WRITE : SPTE_ACC_READ;
	return EXIT_MMIO;
}
