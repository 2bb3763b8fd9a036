/*
 * The modern virtio PCI transport (virtio 1.2, 4.1): internal layout shared by virtio_pci.c (registers) and
 * virtio_irq.c (MSI-X and INTx). Device models never include it.
 *
 * One 64-bit memory BAR (BAR 0, VPCI_BAR_SIZE) holds every region:
 *   0x0000 common configuration (4.1.4.3)     0x1000 ISR status (4.1.4.5)
 *   0x2000 device-specific configuration       0x3000 notifications: queue i at 0x3000 + 4 * i (multiplier 4)
 *   0x4000 MSI-X table (one entry per queue, plus one for configuration changes)
 *   0x5000 MSI-X pending bit array
 * Capabilities: COMMON_CFG, NOTIFY_CFG, ISR_CFG, DEVICE_CFG, PCI_CFG (its window reaches BAR 0), MSI-X.
 *
 * Locks, outermost first: the bus lock (config space) -> d->lock (status, features, selects, queue setup) ->
 * q[i].lock (popping and pushing) -> vp->irq_lock (ISR, INTx level, MSI-X table and PBA) -> the IOAPIC's lock.
 * virtio_complete and virtio_fail run under a queue lock, so the interrupt side has its own lock inside it; the
 * status bit NEEDS_RESET is set atomically for the same reason.
 */
#ifndef VM_DEV_VIRTIO_VIRTIO_PCI_H
#define VM_DEV_VIRTIO_VIRTIO_PCI_H

#include "vm/dev/pci.h"
#include "vm/dev/virtio/virtio.h"

#define VPCI_BAR_SIZE	 0x8000
#define VPCI_COMMON	 0x0000
#define VPCI_ISR	 0x1000
#define VPCI_DEVICE	 0x2000
#define VPCI_NOTIFY	 0x3000
#define VPCI_MSIX_TABLE	 0x4000
#define VPCI_MSIX_PBA	 0x5000
#define VPCI_REGION	 0x1000
#define VPCI_NOTIFY_MULT 4
#define VPCI_MSIX_VECS	 (VIRTIO_MAX_QUEUES + 1)

struct vpci_msix_entry {
	u32 addr_lo, addr_hi, data, ctrl; /* ctrl bit 0: masked */
};

struct virtio_pci {
	struct pci_dev pci;
	struct virtio_dev *d;
	struct vm *vm;
	u32 dfselect, gfselect; /* d->lock */
	u16 queue_select;	/* d->lock */
	u8 msix_cap;		/* offset of the MSI-X capability (constant) */
	u8 cfg_cap;		/* offset of the PCI_CFG capability (constant) */
	spinlock_t irq_lock;	/* covers everything below, and d->isr */
	bool intx_level;
	struct vpci_msix_entry msix[VPCI_MSIX_VECS];
	u64 pba;
	u64 irqs_sent;		/* interrupts delivered (MSI-X messages and INTx rising edges) */
};

/* Interrupts (virtio_irq.c). isr_bit: 1 queue, 2 configuration change. */
void vpci_irq_send(struct virtio_pci *vp, u16 vector, u8 isr_bit);
u8 vpci_isr_read_clear(struct virtio_pci *vp);
int vpci_msix_read(struct virtio_pci *vp, u64 off, unsigned int size, u64 *val);
int vpci_msix_write(struct virtio_pci *vp, u64 off, unsigned int size, u64 val);
/* The MSI-X enable or function mask may have changed, or INTx disable: deliver what became deliverable. */
void vpci_irq_config_changed(struct virtio_pci *vp);

#endif
