/* Stand-ins for the virtio core (virtio.h) under the virtio-net and switch tests: a guest memory of VNET_FAKE_MEM
 * bytes at guest-physical 0 (past it: -EFAULT), per-queue scripted chains that virtq_pop hands out in order (the
 * queue's last_avail is the cursor, so virtq_unpop works as on a real ring), and a record of what was completed. */
#ifndef TESTS_UNIT_VNET_FAKE_H
#define TESTS_UNIT_VNET_FAKE_H

#include "vm/dev/virtio/virtio.h"

#define VNET_FAKE_MEM	(1u << 20)
#define VNET_FAKE_CHAINS 64

struct vnet_fake_q {
	struct virtio_req chain[VNET_FAKE_CHAINS];
	int pop_error[VNET_FAKE_CHAINS];
	u16 n;
	/* What the model returned, in order. */
	struct virtq_used_elem used[VNET_FAKE_CHAINS];
	u16 nr_used;
	u16 batches; /* virtio_complete calls plus virtio_complete_many calls */
};

struct vnet_fake {
	u8 mem[VNET_FAKE_MEM];
	struct virtio_mem vmem;
	struct vnet_fake_q q[2];
	u32 failed;
	const char *fail_why;
};

/* Set up f as the memory of d (d->mem) and make d's queues 0 and 1 enabled and empty. */
void vnet_fake_init(struct vnet_fake *f, struct virtio_dev *d);
/* Script a chain on queue qi: one writable (or readable) buffer of len bytes at gpa. Returns the chain. */
struct virtio_req *vnet_fake_add(struct vnet_fake *f, u16 qi, u64 gpa, u32 len, bool writable);
/* Add one more segment to a scripted chain. */
void vnet_fake_seg(struct virtio_req *r, u64 gpa, u32 len, bool writable);

#endif
