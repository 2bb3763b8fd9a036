/*
 * The virtual switch that joins the virtio-net devices of VMs naming the same network (`net=NAME` on the kernel
 * line): a learning Ethernet switch in the hypervisor. Pure code (no hardware, no struct vm): a port is anything that
 * can take a frame, so the host unit tests plug in fake ports and the virtio-net model (net.c) plugs in RX queues.
 *
 * Forwarding, as an IEEE 802.1D bridge without spanning tree or ageing timers: the source MAC of every frame is
 * learnt against the port that sent it (unicast sources only); a frame to a learnt unicast MAC goes to that port
 * alone (and nowhere when that is the sender's own port, as a bridge filters it); broadcast, multicast and unknown
 * unicast flood to every other port. A learnt entry lives until its MAC shows up on another port, the slot is taken
 * by another MAC, or its port leaves.
 *
 * Frames are copied: the sender hands a buffer it owns, each receiver copies it into its own guest memory inside
 * deliver(). Nothing is queued in the switch: a receiver with no room drops the frame and the switch counts it, as a
 * NIC whose receive ring is empty does.
 *
 * Locking, outermost first:
 *   the sender's TX queue lock (net.c: it owns the frame buffer)
 *     -> sw->ports_lock for read (held across the whole delivery, so a port cannot leave under it)
 *        -> sw->fdb_lock (learning and look-up only, released before any delivery)
 *        -> one receiver's RX queue lock at a time, inside deliver() (never two at once)
 *           -> that receiver's interrupt path (virtio_pci's irq_lock, its IOAPIC lock for INTx), lock-free MSI posts
 *   vswitch_join / vswitch_leave take sw->ports_lock for write with no queue lock held, so once leave returns no
 *   sender is inside that port's deliver() and none will enter it again.
 * RX queue locks are never held while a TX lock or ports_lock is wanted, so two VMs sending to each other at once
 * cannot deadlock: each holds its own TX lock and waits only for the other's RX lock.
 */
#ifndef VM_DEV_VIRTIO_VSWITCH_H
#define VM_DEV_VIRTIO_VSWITCH_H

#include "hv/rwlock.h"
#include "hv/spinlock.h"
#include "hv/types.h"

#define ETH_ALEN	 6
#define ETH_HLEN	 14 /* destination, source, EtherType */
#define VSWITCH_NAME_MAX 32
#define VSWITCH_FDB_SIZE 256 /* learnt MACs, hashed, one per slot: a collision costs a flood, never a misdelivery */

struct vswitch_port;

/* Deliver one frame of len bytes (ETH_HLEN <= len) to the port's owner. 0: delivered; -ENOSPC: no room (dropped);
 * -ENODEV: the port's driver is not ready to receive (dropped). Called with the sender's locks held (above). */
typedef int (*vswitch_deliver_fn)(struct vswitch_port *p, const u8 *frame, u32 len);

/* Per-port counters, updated atomically (relaxed) by whichever CPU sends or delivers. */
struct vswitch_stats {
	u64 tx_frames, tx_bytes;   /* frames the port sent into the switch */
	u64 rx_frames, rx_bytes;   /* frames delivered to the port */
	u64 rx_dropped;            /* frames for the port it had no room for (or its driver was not ready) */
	u64 tx_errors;             /* frames the port sent that the switch refused (runts) */
};

struct vswitch;

struct vswitch_port {
	/* Set by the owner before vswitch_join, constant while joined. */
	u8 mac[ETH_ALEN];          /* the port's own address, for the log and the duplicate check */
	const char *name;          /* the owner's name (the VM's), for the log */
	vswitch_deliver_fn deliver;
	void *priv;
	/* Owned by the switch. */
	struct vswitch *sw;        /* NULL while not joined */
	struct vswitch_port *next; /* sw->ports_lock */
	struct vswitch_stats stats;
};

/* Join network `net` (created on first use; the name follows VM name rules, checked by the config). 0, -ENOMEM,
 * -EEXIST when a port of that network already has p->mac (two VM names hashing alike: refused, never half-working). */
int vswitch_join(const char *net, struct vswitch_port *p);
/* Leave the network (no-op when not joined): forget its learnt MACs, log its counters. No queue lock held. */
void vswitch_leave(struct vswitch_port *p);
/* Send a frame from port src (joined). The frame is the sender's and stays so; receivers copy it. Returns how many
 * ports it was offered to (each delivered it or counted a drop). */
u32 vswitch_send(struct vswitch_port *src, const u8 *frame, u32 len);

/* Drop every network (host unit tests, between tests). */
void vswitch_reset_all(void);

#endif
