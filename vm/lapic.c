/* The vCPU's side of its virtual LAPIC (vm/dev/vlapic.c): creation with what our CPUID advertises, IPI routing
 * inside the VM through the targets' inboxes, and the LAPIC page at whatever base the guest gave it. */
#include "arch/x86/cpu.h"
#include "drivers/timer.h"
#include "hv/errno.h"
#include "hv/platform.h"
#include "vm/dev/ioapic.h"
#include "vm/dev/vlapic.h"
#include "vm/vcpu.h"

struct vcpu_lapic {
	struct vlapic lapic;
	hpa_t page; /* the register page: a whole frame, the virtual-APIC page under APIC virtualization */
};

/* Post to every vCPU of the VM the IPI selects (to the first for lowest priority: any one is architecturally
 * right); IDs the VM does not have match nothing and are dropped, which is how INIT and SIPI to absent CPUs are
 * ignored without harm. The targets' destination registers are read without their owners: a sender that sees an
 * ID or LDR just before its owner changes it delivers as if the IPI had been sent a moment earlier. */
static void lapic_send_ipi(void *owner, const struct vlapic_ipi *ipi)
{
	struct vcpu *src = owner;
	struct vm *vm = src->vm;

	for (u32 i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *t = vm->vcpus[i];
		if (!vlapic_match_dest(t->lapic, src->lapic, ipi))
			continue;
		vcpu_post(t, ipi->icr_lo);
		if (ipi->delivery == VLAPIC_DM_LOWPRI)
			break;
	}
}

/* Only the owner's CPU touches a vLAPIC, and it looks at the vLAPIC again before it next enters or sleeps: a new
 * IRR bit only has to keep a fast re-entry from skipping that look. */
static void lapic_kick(void *owner)
{
	struct vcpu *v = owner;

	v->irq_changed = true;
}

/* EOI of a level-triggered vector: the IOAPIC clears remote IRR and re-delivers a pin still asserted. Also for a
 * level-triggered message the vLAPIC dropped (it was disabled), which will never see an EOI. */
static void lapic_eoi(void *owner, u8 vector)
{
	struct vcpu *v = owner;
	if (v->vm->devices[VM_DEV_IOAPIC])
		ioapic_eoi(v->vm, vector);
}

bool vcpu_lapic_drain_inbox(struct vcpu *v)
{
	return inbox_drain(&v->inbox, v->lapic, lapic_eoi, v);
}

static const struct vlapic_ops lapic_ops = { .send_ipi = lapic_send_ipi, .kick = lapic_kick, .eoi = lapic_eoi };

struct vlapic *vcpu_lapic_create(struct vcpu *v)
{
	struct vcpu_lapic *l = kzalloc(sizeof(*l));

	if (!l)
		return NULL;
	l->page = frame_alloc(0);
	if (l->page == INVALID_HPA) {
		kfree(l);
		return NULL;
	}
	struct vlapic_config cfg = {
		.apic_id = v->id,
		.bsp = v->id == 0,
		.features = VLAPIC_F_X2APIC | VLAPIC_F_TSC_DEADLINE,
		.maxphyaddr = cpuid(0x80000000).eax >= 0x80000008 ? (u8)cpuid(0x80000008).eax : 36,
		.tsc_hz = tsc_hz,
		.page = phys_to_virt(l->page),
		.ops = &lapic_ops,
		.owner = v,
	};
	if (vlapic_init(&l->lapic, &cfg)) {
		frame_free(l->page, 0);
		kfree(l);
		return NULL;
	}
	return &l->lapic;
}

hpa_t vcpu_lapic_page(struct vcpu *v)
{
	return container_of(v->lapic, struct vcpu_lapic, lapic)->page;
}

void vcpu_lapic_destroy(struct vlapic *lapic)
{
	if (!lapic)
		return;
	struct vcpu_lapic *l = container_of(lapic, struct vcpu_lapic, lapic);
	frame_free(l->page, 0);
	kfree(l);
}

int vcpu_lapic_mmio(struct vcpu *v, gpa_t gpa, unsigned int size, u64 *val, bool write)
{
	u64 base = vlapic_mmio_base(v->lapic);

	/* The page first (one unsigned compare): every MMIO access of the VM asks, few are the LAPIC's. */
	if (gpa - base >= PAGE_SIZE || vlapic_mode(v->lapic) != VLAPIC_MODE_XAPIC)
		return -ENOENT;
	int r = write ? vlapic_mmio_write(v->lapic, (u32)(gpa - base), size, *val, rdtsc())
		      : vlapic_mmio_read(v->lapic, (u32)(gpa - base), size, val, rdtsc());
	return r == VLAPIC_MMIO_UNCLAIMED ? -ENOENT : r;
}
