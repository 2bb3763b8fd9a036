/*
 * Interrupts of a virtio PCI function (virtio 1.2, 4.1.4.5 and 4.1.5.1.2; PCI 3.0, 6.8.2 for MSI-X): an MSI-X
 * message per vector while MSI-X is enabled, else the ISR status byte and a level-triggered INTx line, routed to
 * IOAPIC pin pci_slot_gsi(slot) by the DSDT's _PRT, that stays asserted until the driver reads the ISR.
 */
#include "hv/string.h"
#include "vm/dev/ioapic.h"
#include "vm/dev/virtio/virtio_pci.h"

#define MSIX_ENABLE	 0x8000
#define MSIX_FUNC_MASK	 0x4000

static u16 msix_ctrl(const struct virtio_pci *vp)
{
	u16 v;
	memcpy(&v, &vp->pci.cfg[vp->msix_cap + 2], 2); /* read racily: the bus lock is not ours to take here */
	return v;
}

static void intx_update(struct virtio_pci *vp)
{
	u16 cmd;
	memcpy(&cmd, &vp->pci.cfg[PCI_COMMAND], 2);
	bool level = vp->d->isr && !(msix_ctrl(vp) & MSIX_ENABLE) && !(cmd & PCI_CMD_INTX_OFF);
	if (level == vp->intx_level)
		return;
	vp->intx_level = level;
	if (level)
		vp->irqs_sent++;
	ioapic_set_irq(vp->vm, pci_slot_gsi(vp->pci.slot), level);
}

static void msix_deliver(struct virtio_pci *vp, u16 vec)
{
	const struct vpci_msix_entry *e = &vp->msix[vec];
	vp->irqs_sent++;
	vm_msi_deliver(vp->vm, ((u64)e->addr_hi << 32) | e->addr_lo, e->data);
}

void vpci_irq_send(struct virtio_pci *vp, u16 vector, u8 isr_bit)
{
	spin_lock(&vp->irq_lock);
	u16 ctrl = msix_ctrl(vp);
	if (ctrl & MSIX_ENABLE) {
		if (isr_bit & 2)
			vp->d->isr |= 2; /* 4.1.4.5.1: set before a configuration change notification, in any mode */
		if (vector < VPCI_MSIX_VECS) { /* NO_VECTOR, or one past the table: no interrupt (4.1.5.1.2.1) */
			if ((ctrl & MSIX_FUNC_MASK) || (vp->msix[vector].ctrl & 1))
				vp->pba |= 1ULL << vector;
			else
				msix_deliver(vp, vector);
		}
	} else {
		vp->d->isr |= isr_bit;
		intx_update(vp);
	}
	spin_unlock(&vp->irq_lock);
}

u8 vpci_isr_read_clear(struct virtio_pci *vp)
{
	spin_lock(&vp->irq_lock);
	u8 v = vp->d->isr;
	vp->d->isr = 0;
	intx_update(vp);
	spin_unlock(&vp->irq_lock);
	return v;
}

/* Pending vectors whose mask went away are sent now (PCI 3.0, 6.8.2.9). irq_lock held. */
static void msix_flush_pending(struct virtio_pci *vp)
{
	u16 ctrl = msix_ctrl(vp);
	if (!(ctrl & MSIX_ENABLE) || (ctrl & MSIX_FUNC_MASK))
		return;
	for (u16 v = 0; v < VPCI_MSIX_VECS; v++) {
		if ((vp->pba >> v & 1) && !(vp->msix[v].ctrl & 1)) {
			vp->pba &= ~(1ULL << v);
			msix_deliver(vp, v);
		}
	}
}

void vpci_irq_config_changed(struct virtio_pci *vp)
{
	spin_lock(&vp->irq_lock);
	intx_update(vp);
	msix_flush_pending(vp);
	spin_unlock(&vp->irq_lock);
}

/* The table takes 4- and 8-byte accesses at their natural alignment; the PBA is read-only. */
int vpci_msix_read(struct virtio_pci *vp, u64 off, unsigned int size, u64 *val)
{
	*val = 0;
	spin_lock(&vp->irq_lock);
	if (off >= VPCI_MSIX_TABLE && off < VPCI_MSIX_TABLE + sizeof(vp->msix) && (size == 4 || size == 8) &&
	    !(off & (size - 1)))
		memcpy(val, (u8 *)vp->msix + (off - VPCI_MSIX_TABLE), size);
	else if (off >= VPCI_MSIX_PBA && off < VPCI_MSIX_PBA + 8 && (size == 4 || size == 8) && !(off & (size - 1)))
		*val = vp->pba >> (8 * (off - VPCI_MSIX_PBA));
	spin_unlock(&vp->irq_lock);
	return 0;
}

int vpci_msix_write(struct virtio_pci *vp, u64 off, unsigned int size, u64 val)
{
	if (off < VPCI_MSIX_TABLE || off >= VPCI_MSIX_TABLE + sizeof(vp->msix) || !(size == 4 || size == 8) ||
	    (off & (size - 1)))
		return 0;
	spin_lock(&vp->irq_lock);
	u8 *p = (u8 *)vp->msix + (off - VPCI_MSIX_TABLE);
	memcpy(p, &val, size);
	for (u32 i = 0; i < VPCI_MSIX_VECS; i++)
		vp->msix[i].ctrl &= 1; /* vector control: only the mask bit exists */
	msix_flush_pending(vp);
	spin_unlock(&vp->irq_lock);
	return 0;
}
