/*
 * virtio-net (OASIS virtio v1.2, 5.1) on the virtual switch (vswitch.h): one device per VM that names a network.
 *
 * Features offered, and why no more: MAC (a stable address derived from the VM name), STATUS (link always up), MTU
 * (1500, so the largest frame is known: 1514 bytes, 1518 with an 802.1Q tag) and MRG_RXBUF (Linux then posts
 * page-fragment receive buffers and a frame spans as many as it needs; without it each buffer must hold a whole
 * frame). No checksum or segmentation offload (CSUM, GUEST_CSUM, *_TSO*, *_UFO): frames cross the switch exactly as
 * sent, so each guest computes its own checksums and segments to the MTU, and nothing in the switch has to finish a
 * partial checksum for a receiver that did not negotiate it. No control queue (CTRL_VQ): the switch delivers every
 * frame for a port's MAC, broadcast and multicast, so receive filtering and promiscuous mode have nothing to change.
 * One queue pair: queue 0 receives, queue 1 transmits.
 */
#ifndef VM_DEV_VIRTIO_NET_H
#define VM_DEV_VIRTIO_NET_H

#include "vm/dev/virtio/virtio.h"
#include "vm/dev/virtio/vswitch.h"

#define VIRTIO_NET_F_MTU       3
#define VIRTIO_NET_F_MAC       5
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS    16

#define VIRTIO_NET_S_LINK_UP 1

#define VNET_RXQ	    0
#define VNET_TXQ	    1
#define VNET_MTU	    1500
#define VNET_FRAME_MAX	    (ETH_HLEN + 4 + VNET_MTU) /* one 802.1Q tag */

/* 5.1.6: the header in front of every frame, 12 bytes with VERSION_1 (num_buffers is always there). */
struct virtio_net_hdr {
	u8 flags;
	u8 gso_type;
	u16 hdr_len;
	u16 gso_size;
	u16 csum_start;
	u16 csum_offset;
	u16 num_buffers;
} __attribute__((packed));
_Static_assert(sizeof(struct virtio_net_hdr) == 12, "virtio 1.2 5.1.6");

/* 5.1.4: the device configuration, up to mtu (the fields of features not offered read as zero). */
struct virtio_net_config {
	u8 mac[ETH_ALEN];
	u16 status;
	u16 max_virtqueue_pairs;
	u16 mtu;
} __attribute__((packed));
_Static_assert(sizeof(struct virtio_net_config) == 12, "virtio 1.2 5.1.4");

struct vnet {
	struct virtio_dev dev;           /* dev.priv == this */
	struct vswitch_port port;        /* port.priv == this */
	struct virtio_net_config cfg;    /* constant */
	char net[VSWITCH_NAME_MAX];      /* constant */
	bool rx_ready;                   /* atomic: DRIVER_OK seen and no reset since */
	/* The frame being sent, copied out of the guest's transmit chain: under q[VNET_TXQ].lock. */
	u8 tx_frame[VNET_FRAME_MAX];
	/* A receive in progress, under q[VNET_RXQ].lock: the first chain's leading segments (where the header goes,
	 * written last when the buffer count is known) and the chains used so far. */
	struct virtio_seg rx_hdr_seg[sizeof(struct virtio_net_hdr)];
	u16 rx_hdr_nseg;
	struct virtq_used_elem rx_used[VIRTQ_MAX_SIZE];
};

/* The stable MAC of VM `name`: locally administered (bit 1 of the first octet), unicast (bit 0 clear), the other 46
 * bits from a 64-bit FNV-1a hash of the name, finalized as
 * MurmurHash3's fmix64 does. */
void vnet_mac_from_name(const char *name, u8 mac[ETH_ALEN]);

/* Set n up as VM vm_name's device on network `net` (mem, vm and transport are the caller's): the ops, the
 * configuration, the switch port. Joins the switch. 0, or vswitch_join's error. */
int vnet_init(struct vnet *n, const char *vm_name, const char *net);
/* Leave the switch (before the VM's memory goes: a peer may be delivering into it until this returns). */
void vnet_fini(struct vnet *n);

extern const struct virtio_dev_ops vnet_ops;

#endif
