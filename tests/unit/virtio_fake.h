/* Fakes for testing virtio device models on the host without the core (virtio.h): a guest memory of FAKE_MEM_SIZE
 * bytes at guest-physical 0 (anything past it is -EFAULT), requests built by hand, a scripted queue that
 * virtq_pop() serves from, and virtio_complete/virtio_fail stand-ins that record what the model did. */
#ifndef TESTS_UNIT_VIRTIO_FAKE_H
#define TESTS_UNIT_VIRTIO_FAKE_H

#include "vm/dev/virtio/virtio.h"

#define FAKE_MEM_SIZE (4u << 20)

extern u8 fake_mem[FAKE_MEM_SIZE];
extern const struct virtio_mem fake_virtio_mem;

/* Build a request: segments added in order, readable ones first. */
void fake_req_init(struct virtio_req *r, u16 head);
void fake_req_add(struct virtio_req *r, u64 gpa, u32 len, bool writable);

/* The scripted queue: virtq_pop() hands out these in order (copied into q->req), then returns 0; an entry with
 * pop_error set makes it return that error instead. */
#define FAKE_QUEUE_MAX 16
struct fake_queue {
	struct virtio_req req[FAKE_QUEUE_MAX];
	int pop_error[FAKE_QUEUE_MAX];
	u32 n, next;
	/* What the model did. */
	u32 completed;
	u32 written[FAKE_QUEUE_MAX];
	u16 completed_head[FAKE_QUEUE_MAX];
	u32 failed;
	const char *fail_why;
};
extern struct fake_queue fake_q;
void fake_queue_reset(void);

#endif
