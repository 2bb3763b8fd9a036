/* The split virtqueue (vm/dev/virtio/virtqueue.c, req.c) against a fake guest memory: chains, index wrap at 65535,
 * event index and NO_INTERRUPT, indirect tables, and every malformed chain a hostile driver can build (virtio 1.2,
 * 2.7), each of which must be refused without consuming anything. */
#include <string.h>

#include "test.h"
#include "virtq_fixture.h"

enum { NEXT = 1, WRITE = 2, INDIRECT = 4 };

static struct vqf fx;

static int pop(void)
{
	spin_lock(&fx.q.lock);
	int rc = virtq_pop(&fx.q, &fx.mem);
	spin_unlock(&fx.q.lock);
	return rc;
}

static int push(u32 written)
{
	spin_lock(&fx.q.lock);
	int rc = virtq_push(&fx.q, &fx.mem, written);
	spin_unlock(&fx.q.lock);
	return rc;
}

static bool need_irq(void)
{
	spin_lock(&fx.q.lock);
	bool r = virtq_need_irq(&fx.q, &fx.mem);
	spin_unlock(&fx.q.lock);
	return r;
}

/* A refused chain leaves the queue as it was: same last_avail, nothing in the used ring. */
static void expect_refused(int want)
{
	u16 before = fx.q.last_avail;
	int rc = pop();
	CHECK(rc < 0);
	if (want)
		CHECK_EQ(rc, want);
	CHECK_EQ(fx.q.last_avail, before);
	CHECK_EQ(vqf_get16(&fx, VQF_USED + 2), 0);
}

TEST(chain_out_in_roundtrip)
{
	vqf_init(&fx, 8, false, false);
	strcpy(vqf_ptr(&fx, VQF_BUF), "hello ");
	strcpy(vqf_ptr(&fx, VQF_BUF + 0x100), "world");
	vqf_desc(&fx, VQF_DESC, 3, VQF_BUF, 6, NEXT, 5);
	vqf_desc(&fx, VQF_DESC, 5, VQF_BUF + 0x100, 5, NEXT, 0);
	vqf_desc(&fx, VQF_DESC, 0, VQF_BUF + 0x200, 4, NEXT | WRITE, 7);
	vqf_desc(&fx, VQF_DESC, 7, VQF_BUF + 0x300, 8, WRITE, 0);
	CHECK_EQ(pop(), 0);
	vqf_publish(&fx, 3);
	CHECK_EQ(pop(), 1);
	struct virtio_req *r = &fx.q.req;
	CHECK_EQ(r->head, 3);
	CHECK_EQ(r->nr_out, 2);
	CHECK_EQ(r->nr_in, 2);
	CHECK_EQ(r->out_len, 11);
	CHECK_EQ(r->in_len, 12);
	char buf[16] = { 0 };
	CHECK_EQ(virtio_req_read(r, &fx.mem, 0, buf, 11), 0);
	CHECK(memcmp(buf, "hello world", 11) == 0);
	CHECK_EQ(virtio_req_read(r, &fx.mem, 4, buf, 4), 0); /* across the segment boundary */
	CHECK(memcmp(buf, "o wo", 4) == 0);
	CHECK_EQ(virtio_req_read(r, &fx.mem, 8, buf, 4), -ERANGE);
	CHECK_EQ(virtio_req_read(r, &fx.mem, 12, buf, 0), 0);
	CHECK_EQ(virtio_req_write(r, &fx.mem, 2, "ABCDEFGHIJ", 10), 0);
	CHECK(memcmp(vqf_ptr(&fx, VQF_BUF + 0x202), "AB", 2) == 0);
	CHECK(memcmp(vqf_ptr(&fx, VQF_BUF + 0x300), "CDEFGHIJ", 8) == 0);
	CHECK_EQ(virtio_req_write(r, &fx.mem, 5, "12345678", 8), -ERANGE);
	CHECK_EQ(pop(), 0);
	CHECK_EQ(push(12), 0);
	CHECK_EQ(vqf_get16(&fx, VQF_USED + 2), 1);
	u32 elem[2];
	memcpy(elem, vqf_ptr(&fx, VQF_USED + 4), 8);
	CHECK_EQ(elem[0], 3);
	CHECK_EQ(elem[1], 12);
}

TEST(push_clamps_written_to_writable_length)
{
	vqf_init(&fx, 4, false, false);
	vqf_desc(&fx, VQF_DESC, 0, VQF_BUF, 16, WRITE, 0);
	vqf_publish(&fx, 0);
	CHECK_EQ(pop(), 1);
	CHECK_EQ(push(1000), 0);
	u32 len;
	memcpy(&len, vqf_ptr(&fx, VQF_USED + 8), 4);
	CHECK_EQ(len, 16);
}

/* The 16-bit indices run freely and wrap (2.7.6, 2.7.8): ring slots are idx mod size. */
TEST(index_wrap_at_65535)
{
	vqf_init(&fx, 4, false, false);
	fx.q.last_avail = fx.q.used_idx = 65534;
	fx.avail_idx = 65534;
	vqf_put16(&fx, VQF_USED + 2, 65534);
	for (u16 i = 0; i < 4; i++)
		vqf_desc(&fx, VQF_DESC, i, VQF_BUF + 0x100 * i, 32, WRITE, 0);
	for (u16 i = 0; i < 4; i++)
		vqf_publish(&fx, i);
	CHECK_EQ(fx.avail_idx, 2);
	for (u16 i = 0; i < 4; i++) {
		CHECK_EQ(pop(), 1);
		CHECK_EQ(fx.q.req.head, i);
		CHECK_EQ(push(i), 0);
	}
	CHECK_EQ(pop(), 0);
	CHECK_EQ(fx.q.last_avail, 2);
	CHECK_EQ(vqf_get16(&fx, VQF_USED + 2), 2);
	/* 65534 mod 4 = 2: the first element went to slot 2, the fourth (index 1) to slot 1. */
	u32 id;
	memcpy(&id, vqf_ptr(&fx, VQF_USED + 4 + 8 * 2), 4);
	CHECK_EQ(id, 0);
	memcpy(&id, vqf_ptr(&fx, VQF_USED + 4 + 8 * 1), 4);
	CHECK_EQ(id, 3);
}

TEST(avail_idx_ahead_by_more_than_size_refused)
{
	vqf_init(&fx, 4, false, false);
	vqf_desc(&fx, VQF_DESC, 0, VQF_BUF, 16, 0, 0);
	vqf_put16(&fx, VQF_AVAIL + 2, 5);
	expect_refused(-EINVAL);
	vqf_put16(&fx, VQF_AVAIL + 2, 4); /* exactly size ahead is a full ring, legal */
	CHECK_EQ(pop(), 1);
}

TEST(no_interrupt_flag_without_event_idx)
{
	vqf_init(&fx, 4, false, false);
	vqf_desc(&fx, VQF_DESC, 0, VQF_BUF, 16, WRITE, 0);
	vqf_publish(&fx, 0);
	CHECK_EQ(pop(), 1);
	CHECK_EQ(push(0), 0);
	CHECK(need_irq());
	vqf_put16(&fx, VQF_AVAIL, 1); /* VIRTQ_AVAIL_F_NO_INTERRUPT */
	CHECK(!need_irq());
}

/* 2.7.10: with VIRTIO_F_EVENT_IDX, interrupt only when used_idx moves past used_event; the device publishes
 * avail_event so the driver kicks only past what the device has already seen. */
TEST(event_idx_used_event_and_avail_event)
{
	vqf_init(&fx, 8, true, false);
	for (u16 i = 0; i < 8; i++)
		vqf_desc(&fx, VQF_DESC, i, VQF_BUF + 0x100 * i, 16, WRITE, 0);
	u64 used_event = VQF_AVAIL + 4 + 2 * 8, avail_event = VQF_USED + 4 + 8 * 8;
	vqf_put16(&fx, VQF_AVAIL, 1); /* NO_INTERRUPT is ignored with event index */
	vqf_put16(&fx, used_event, 2); /* interrupt when entry 2 is used (used idx goes 2 -> 3) */
	for (u16 i = 0; i < 4; i++)
		vqf_publish(&fx, i);
	CHECK_EQ(pop(), 1);
	CHECK_EQ(vqf_get16(&fx, avail_event), 1);
	CHECK_EQ(push(0), 0);
	CHECK(need_irq()); /* the first interrupt is always sent (signalled_used not yet valid) */
	CHECK_EQ(pop(), 1);
	CHECK_EQ(push(0), 0);
	CHECK(!need_irq()); /* used 1 -> 2: event 2 not crossed */
	CHECK_EQ(pop(), 1);
	CHECK_EQ(push(0), 0);
	CHECK(need_irq()); /* used 2 -> 3 */
	CHECK_EQ(pop(), 1);
	CHECK_EQ(push(0), 0);
	CHECK(!need_irq());
	/* Empty: the device asks for a kick at the next buffer. */
	CHECK_EQ(pop(), 0);
	CHECK_EQ(vqf_get16(&fx, avail_event), 4);
	/* Several completions at once cross the event: one interrupt. */
	vqf_put16(&fx, used_event, 5);
	for (u16 i = 4; i < 8; i++)
		vqf_publish(&fx, i);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(pop(), 1);
		CHECK_EQ(push(0), 0);
	}
	CHECK(need_irq()); /* used 4 -> 7 crosses 5 */
}

TEST(indirect_table)
{
	vqf_init(&fx, 4, false, true);
	u64 t = VQF_BUF + 0x1000;
	vqf_desc(&fx, t, 0, VQF_BUF, 10, NEXT, 1);
	vqf_desc(&fx, t, 1, VQF_BUF + 0x100, 20, NEXT | WRITE, 2);
	vqf_desc(&fx, t, 2, VQF_BUF + 0x200, 30, WRITE, 0);
	vqf_desc(&fx, VQF_DESC, 2, t, 3 * 16, INDIRECT | WRITE /* ignored, 2.7.5.3.2 */, 0);
	vqf_publish(&fx, 2);
	CHECK_EQ(pop(), 1);
	CHECK_EQ(fx.q.req.head, 2);
	CHECK_EQ(fx.q.req.nr_out, 1);
	CHECK_EQ(fx.q.req.nr_in, 2);
	CHECK_EQ(fx.q.req.in_len, 50);
	CHECK_EQ(fx.q.req.seg[2].gpa, VQF_BUF + 0x200);
}

TEST(indirect_refused_when_not_negotiated_nested_chained_or_odd_length)
{
	u64 t = VQF_BUF + 0x1000, t2 = VQF_BUF + 0x2000;
	vqf_init(&fx, 4, false, false);
	vqf_desc(&fx, t, 0, VQF_BUF, 10, 0, 0);
	vqf_desc(&fx, VQF_DESC, 0, t, 16, INDIRECT, 0);
	vqf_publish(&fx, 0);
	expect_refused(-EINVAL); /* not negotiated */
	fx.q.indirect = true;
	CHECK_EQ(pop(), 1);

	vqf_init(&fx, 4, false, true);
	vqf_desc(&fx, t2, 0, VQF_BUF, 10, 0, 0);
	vqf_desc(&fx, t, 0, t2, 16, INDIRECT, 0);
	vqf_desc(&fx, VQF_DESC, 0, t, 16, INDIRECT, 0);
	vqf_publish(&fx, 0);
	expect_refused(-EINVAL); /* nested */

	vqf_init(&fx, 4, false, true);
	vqf_desc(&fx, t, 0, VQF_BUF, 10, 0, 0);
	vqf_desc(&fx, VQF_DESC, 0, t, 16, INDIRECT | NEXT, 1);
	vqf_desc(&fx, VQF_DESC, 1, VQF_BUF, 10, 0, 0);
	vqf_publish(&fx, 0);
	expect_refused(-EINVAL); /* INDIRECT with NEXT */

	vqf_init(&fx, 4, false, true);
	vqf_desc(&fx, VQF_DESC, 0, t, 24, INDIRECT, 0);
	vqf_publish(&fx, 0);
	expect_refused(-EINVAL); /* not a multiple of 16 */
	vqf_desc(&fx, VQF_DESC, 0, t, 0, INDIRECT, 0);
	expect_refused(-EINVAL); /* empty */
	vqf_desc(&fx, VQF_DESC, 0, t, 5 * 16, INDIRECT, 0);
	expect_refused(-EINVAL); /* more entries than the queue size */
	vqf_desc(&fx, VQF_DESC, 0, VQF_BASE + VQF_SIZE - 16, 32, INDIRECT, 0);
	expect_refused(-EFAULT); /* table past RAM */

	/* next pointing outside the indirect table */
	vqf_init(&fx, 4, false, true);
	vqf_desc(&fx, t, 0, VQF_BUF, 10, NEXT, 2);
	vqf_desc(&fx, t, 1, VQF_BUF, 10, 0, 0);
	vqf_desc(&fx, VQF_DESC, 0, t, 32, INDIRECT, 0);
	vqf_publish(&fx, 0);
	expect_refused(-EINVAL);
	/* a loop inside the indirect table */
	vqf_desc(&fx, t, 0, VQF_BUF, 10, NEXT, 1);
	vqf_desc(&fx, t, 1, VQF_BUF, 10, NEXT, 0);
	expect_refused(-E2BIG);
}

/* A chain of direct descriptors ending in an indirect one counts every descriptor against the queue size. */
TEST(chain_length_counts_direct_and_indirect)
{
	u64 t = VQF_BUF + 0x1000;
	vqf_init(&fx, 4, false, true);
	vqf_desc(&fx, VQF_DESC, 0, VQF_BUF, 8, NEXT, 1);
	vqf_desc(&fx, VQF_DESC, 1, t, 3 * 16, INDIRECT, 0);
	for (u16 i = 0; i < 3; i++)
		vqf_desc(&fx, t, i, VQF_BUF + 0x100, 8, i < 2 ? NEXT : 0, i + 1);
	vqf_publish(&fx, 0);
	expect_refused(-E2BIG); /* 2 + 3 descriptors > 4 */
	vqf_desc(&fx, VQF_DESC, 1, t, 2 * 16, INDIRECT, 0);
	vqf_desc(&fx, t, 1, VQF_BUF + 0x100, 8, 0, 0);
	CHECK_EQ(pop(), 1); /* 2 + 2 = 4 */
	CHECK_EQ(fx.q.req.nr_out, 3);
}

TEST(loop_refused)
{
	vqf_init(&fx, 8, false, false);
	vqf_desc(&fx, VQF_DESC, 0, VQF_BUF, 8, NEXT, 1);
	vqf_desc(&fx, VQF_DESC, 1, VQF_BUF, 8, NEXT, 2);
	vqf_desc(&fx, VQF_DESC, 2, VQF_BUF, 8, NEXT, 1);
	vqf_publish(&fx, 0);
	expect_refused(-E2BIG);
	vqf_desc(&fx, VQF_DESC, 0, VQF_BUF, 8, NEXT, 0); /* self loop */
	expect_refused(-E2BIG);
}

TEST(full_length_chain_accepted)
{
	vqf_init(&fx, 8, false, false);
	for (u16 i = 0; i < 8; i++)
		vqf_desc(&fx, VQF_DESC, i, VQF_BUF + 16 * i, 16, i < 7 ? NEXT : 0, i + 1);
	vqf_publish(&fx, 0);
	CHECK_EQ(pop(), 1);
	CHECK_EQ(fx.q.req.nr_out, 8);
	CHECK_EQ(fx.q.req.out_len, 128);
}

TEST(bad_indices_refused)
{
	vqf_init(&fx, 4, false, false);
	vqf_publish(&fx, 4); /* head out of range */
	expect_refused(-EINVAL);
	vqf_init(&fx, 4, false, false);
	vqf_desc(&fx, VQF_DESC, 0, VQF_BUF, 8, NEXT, 9); /* next out of range */
	vqf_publish(&fx, 0);
	expect_refused(-EINVAL);
}

TEST(bad_buffers_refused)
{
	vqf_init(&fx, 4, false, false);
	vqf_publish(&fx, 0);
	vqf_desc(&fx, VQF_DESC, 0, VQF_BUF, 0, 0, 0);
	expect_refused(-EINVAL); /* zero length */
	vqf_desc(&fx, VQF_DESC, 0, VQF_BASE + VQF_SIZE - 8, 16, 0, 0);
	expect_refused(-EFAULT); /* runs past RAM */
	vqf_desc(&fx, VQF_DESC, 0, 0xfebf0000, 16, WRITE, 0);
	expect_refused(-EFAULT); /* MMIO */
	vqf_desc(&fx, VQF_DESC, 0, ~0ull - 7, 16, 0, 0);
	expect_refused(-EFAULT); /* wraps the address space */
	vqf_desc(&fx, VQF_DESC, 0, VQF_BUF, 8, NEXT | WRITE, 1);
	vqf_desc(&fx, VQF_DESC, 1, VQF_BUF, 8, 0, 0);
	expect_refused(-EINVAL); /* readable after writable (2.7.4.2) */
	vqf_desc(&fx, VQF_DESC, 0, VQF_BUF, 8, 0, 0);
	CHECK_EQ(pop(), 1); /* and the queue still works */
}

TEST(ring_in_mmio_fails_cleanly)
{
	vqf_init(&fx, 4, false, false);
	fx.q.avail = 0xfee00000;
	CHECK_EQ(pop(), -EFAULT);
	CHECK_EQ(virtq_check(&fx.q, &fx.mem), -EFAULT);
}

TEST(ring_check)
{
	vqf_init(&fx, 4, false, false);
	CHECK_EQ(virtq_check(&fx.q, &fx.mem), 0);
	fx.q.size = 6;
	CHECK_EQ(virtq_check(&fx.q, &fx.mem), -EINVAL);
	fx.q.size = 512;
	CHECK_EQ(virtq_check(&fx.q, &fx.mem), -EINVAL);
	fx.q.size = 0;
	CHECK_EQ(virtq_check(&fx.q, &fx.mem), -EINVAL);
	fx.q.size = 256;
	CHECK_EQ(virtq_check(&fx.q, &fx.mem), 0);
	fx.q.desc = VQF_DESC + 8;
	CHECK_EQ(virtq_check(&fx.q, &fx.mem), -EINVAL);
	fx.q.desc = VQF_DESC;
	fx.q.avail = VQF_AVAIL + 1;
	CHECK_EQ(virtq_check(&fx.q, &fx.mem), -EINVAL);
	fx.q.avail = VQF_AVAIL;
	fx.q.used = VQF_USED + 2;
	CHECK_EQ(virtq_check(&fx.q, &fx.mem), -EINVAL);
	fx.q.used = VQF_BASE + VQF_SIZE - 0x100; /* 6 + 8 * 256 bytes do not fit */
	CHECK_EQ(virtq_check(&fx.q, &fx.mem), -EFAULT);
}

TEST(disabled_queue_pops_nothing_and_reset_forgets)
{
	vqf_init(&fx, 4, false, false);
	vqf_desc(&fx, VQF_DESC, 0, VQF_BUF, 8, 0, 0);
	vqf_publish(&fx, 0);
	fx.q.enabled = false;
	CHECK_EQ(pop(), 0);
	fx.q.enabled = true;
	CHECK_EQ(pop(), 1);
	virtq_reset(&fx.q);
	CHECK(!fx.q.enabled);
	CHECK_EQ(fx.q.last_avail, 0);
	CHECK_EQ(fx.q.size, VIRTQ_MAX_SIZE);
	CHECK_EQ(fx.q.msix_vector, VIRTIO_NO_VECTOR);
}

TEST(pop_requires_the_lock)
{
	vqf_init(&fx, 4, false, false);
	EXPECT_BUG(virtq_pop(&fx.q, &fx.mem));
}
