/*
 * virtio 1.x devices (OASIS virtio v1.2): the contract between the transport and queue core (virtio_pci.c,
 * virtqueue.c) and the device models (blk.c, net.c, console.c). A device model never sees PCI, never parses a ring and
 * never touches guest memory except through the request it is handed; the core never knows what a request means.
 *
 *   guest driver --MMIO/PIO--> virtio_pci.c (common/notify/ISR/device config, MSI-X, INTx)
 *                                   | ops->notify(dev, queue)
 *                                   v
 *                   device model: while (virtq_pop(...) > 0) { virtio_req_read/write; virtio_complete(...) }
 *
 * Guest memory is reached only through struct virtio_mem, whose hypervisor implementation goes through the VM's
 * memslots (mmu_read_gpa / mmu_write_gpa: RAM of this VM only, write tracking honoured, private pages refused). Host
 * unit tests and the fuzz target supply a fake one. Pure code: no hardware, no vm/ internals (vm is opaque here).
 */
#ifndef VM_DEV_VIRTIO_VIRTIO_H
#define VM_DEV_VIRTIO_VIRTIO_H

#include "hv/types.h"
#include "hv/spinlock.h"

struct vm;

/* Device IDs (virtio 1.2, 5). */
#define VIRTIO_ID_NET	  1
#define VIRTIO_ID_BLOCK	  2
#define VIRTIO_ID_CONSOLE 3

/* Device status (2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE	 1
#define VIRTIO_STATUS_DRIVER		 2
#define VIRTIO_STATUS_DRIVER_OK		 4
#define VIRTIO_STATUS_FEATURES_OK	 8
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED		 128

/* Transport feature bits the core offers for every device (6); a device model offers only its own bits 0-23. */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX     29
#define VIRTIO_F_VERSION_1     32

#define VIRTQ_MAX_SIZE	   256 /* queue size offered; a chain (direct or indirect) longer than this is refused */
#define VIRTIO_MAX_QUEUES  8
#define VIRTIO_NO_VECTOR   0xffff

/* Guest-physical memory as a device sees it. Both return 0, or -EFAULT when any byte of [gpa, gpa+len) is not RAM
 * this VM may hand to a device (outside its memslots, MMIO, private). They may be called from any vCPU. */
struct virtio_mem {
	void *ctx;
	int (*read)(void *ctx, u64 gpa, void *buf, u32 len);
	int (*write)(void *ctx, u64 gpa, const void *buf, u32 len);
	/* Optional (NULL: every range passes, the copies fail later): 0 when all of [gpa, gpa+len) is such RAM, else
	 * -EFAULT. virtq_pop checks each buffer with it, so a chain pointing at MMIO is refused before a model runs. */
	int (*check)(void *ctx, u64 gpa, u64 len);
};

/* The VM's own: RAM through its memslots (vm/dev/virtio/mem.c). Device models fill d->mem with it. */
void virtio_mem_init_vm(struct virtio_mem *m, struct vm *vm);

/* One buffer of a chain: guest-physical, already checked to lie in RAM by the core when popped. */
struct virtio_seg {
	u64 gpa;
	u32 len;
};

/* A popped descriptor chain: the device-readable segments first (seg[0 .. nr_out)), then the device-writable ones
 * (seg[nr_out .. nr_out + nr_in)), as 2.7.4.2 requires of drivers (a chain that mixes them is refused). */
struct virtio_req {
	u16 head;		/* the chain's head index, returned in the used ring */
	u16 nr_out, nr_in;
	u32 out_len, in_len;	/* sums of the readable and writable segment lengths (each chain < 4 GiB) */
	struct virtio_seg seg[VIRTQ_MAX_SIZE];
};

/* Copy len bytes at byte offset off of the request's readable part into buf / of buf into its writable part,
 * across segment boundaries. 0, -ERANGE when [off, off+len) exceeds out_len / in_len, -EFAULT from the memory. */
int virtio_req_read(const struct virtio_req *r, const struct virtio_mem *m, u32 off, void *buf, u32 len);
int virtio_req_write(const struct virtio_req *r, const struct virtio_mem *m, u32 off, const void *buf, u32 len);

/*
 * A split virtqueue (2.7). Configured by the driver through the transport while the device is not DRIVER_OK;
 * popped and pushed under its lock, from whichever CPU handles it (a vCPU of the owning VM on a kick, or a vCPU of
 * another VM for a network peer's receive queue).
 */
struct virtq {
	spinlock_t lock;	/* covers everything below once the queue is enabled; virtq_* assert it */
	u16 size;		/* driver-chosen, power of two, <= VIRTQ_MAX_SIZE */
	bool enabled;
	u16 msix_vector;
	u64 desc, avail, used;	/* guest-physical ring addresses */
	u16 last_avail;		/* next avail index the device reads */
	u16 used_idx;		/* next used index the device writes */
	u16 signalled_used;	/* used_idx at the last interrupt (event index) */
	bool signalled_valid;
	bool event_idx, indirect; /* negotiated */
	struct virtio_req req;	/* the chain virtq_pop returned last */
};

/* Under q->lock. 1: a chain was popped into q->req; 0: the avail ring holds none; negative: the chain (or the ring)
 * is malformed: a loop, a length past the queue size, a zero-length or out-of-RAM buffer, a nested indirect table
 * or one whose length is not a multiple of 16 (2.7.5.3 asks no alignment of it), readable after writable, an avail
 * index that ran more than size ahead. The caller then calls virtio_fail(); nothing was consumed. */
int virtq_pop(struct virtq *q, const struct virtio_mem *m);
/* The ring addresses and size the driver configured: 0, or -EINVAL (size not a power of two <= VIRTQ_MAX_SIZE,
 * desc not 16-, avail not 2-, used not 4-byte aligned, 2.7) or -EFAULT (a ring not wholly in RAM). The transport
 * refuses queue_enable with a bad ring by failing the device. */
int virtq_check(const struct virtq *q, const struct virtio_mem *m);
/* Forget the ring (device reset): size back to VIRTQ_MAX_SIZE, addresses and indices 0, disabled, no vector. */
void virtq_reset(struct virtq *q);
/* Under q->lock. Return q->req's chain with `written` bytes written into it. Whether to interrupt is then
 * virtq_need_irq()'s answer (VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with event index). */
int virtq_push(struct virtq *q, const struct virtio_mem *m, u32 written);
bool virtq_need_irq(struct virtq *q, const struct virtio_mem *m);

struct virtio_dev;

/* What a device model provides. Every callback is called with no virtio lock held, unless stated. */
struct virtio_dev_ops {
	const char *name;	/* "virtio-blk", for logs and the monitor */
	u16 device_id;		/* VIRTIO_ID_* */
	u16 nr_queues;		/* <= VIRTIO_MAX_QUEUES */
	u64 features;		/* device-specific bits offered (0-23); the core adds VERSION_1, EVENT_IDX, INDIRECT */
	u32 config_len;		/* size of the device-specific configuration structure */
	/* Read/write [off, off+len) of the device configuration (off+len <= config_len, checked by the core). */
	void (*config_read)(struct virtio_dev *d, u32 off, void *buf, u32 len);
	void (*config_write)(struct virtio_dev *d, u32 off, const void *buf, u32 len);
	/* The driver kicked queue qi (enabled, device DRIVER_OK). Pop, serve and complete what is available. */
	void (*notify)(struct virtio_dev *d, u16 qi);
	/* Device reset (status written 0): forget every request and every negotiated state of the model. Called with
	 * d->lock held (the queues are already reset; it may take q[i].lock). */
	void (*reset)(struct virtio_dev *d);
	/* Optional: the driver set DRIVER_OK (receive queues may start being filled). Called with d->lock held; it may
	 * take q[i].lock and call virtio_complete. */
	void (*driver_ok)(struct virtio_dev *d);
	/* Optional: the VM is torn down, nothing runs any more: free the model's state (d itself if it owns it). */
	void (*destroy)(struct virtio_dev *d);
};

/* One virtio device of a VM. The transport owns the fields up to q[]; the model's state is in priv. */
struct virtio_dev {
	const struct virtio_dev_ops *ops;
	void *priv;
	struct vm *vm;
	struct virtio_mem mem;
	spinlock_t lock;	/* covers status (but virtio_fail sets NEEDS_RESET atomically), features and queue setup;
				 * taken before any q[i].lock, never inside one */
	u8 status;
	u64 driver_features;	/* as written by the driver; checked at FEATURES_OK against what was offered */
	u8 isr;			/* bit 0 queue interrupt, bit 1 configuration change; the transport's irq lock */
	u8 config_generation;	/* atomic */
	u16 config_vector;
	struct virtq q[VIRTIO_MAX_QUEUES];
	void *transport;	/* the PCI function (virtio_pci.c) */
	u64 requests, errors;	/* counted by the model: requests served, requests failed or refused */
};

/* Whether the driver negotiated feature bit `bit`. */
static inline bool virtio_has(const struct virtio_dev *d, unsigned int bit)
{
	return (d->driver_features >> bit) & 1;
}

/*
 * Helpers for device models, implemented by the core.
 * virtio_complete: under q[qi].lock, push the chain just served (virtq_push) and interrupt the driver if
 *   virtq_need_irq() says so (MSI-X vector of the queue, or ISR bit 0 + INTx).
 * virtio_fail: the driver broke the protocol (a malformed chain, a request the model cannot make sense of). Sets
 *   DEVICE_NEEDS_RESET, sends a configuration-change interrupt, logs (vm_log) `virtio-blk: WHY: device needs reset`
 *   once, and ignores the device's queues until a reset. Never ends the VM, never touches other devices.
 *   May be called with q->lock held.
 * virtio_config_changed: bump config_generation and send a configuration-change interrupt.
 */
void virtio_complete(struct virtio_dev *d, u16 qi, u32 written);
void virtio_fail(struct virtio_dev *d, const char *why);
void virtio_config_changed(struct virtio_dev *d);

/* Create the PCI function for d (an initialised virtio_dev with ops, priv, vm, mem) on the VM's PCI bus.
 * 0, -ENOSPC (no slot), -ENOMEM. Called while the VM is being built, before its vCPUs run. */
int virtio_pci_add(struct vm *vm, struct virtio_dev *d);

#endif
