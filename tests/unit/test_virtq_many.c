/* What virtio-net's mergeable receive adds to the virtqueue (virtio.h): virtq_push_many publishes n chains with one
 * used->idx store, across the ring's wrap; virtq_unpop gives popped chains back so the next pop sees them again. */
#include <string.h>

#include "test.h"
#include "virtq_fixture.h"

static struct vqf fx;

TEST(push_many_publishes_all_at_once_across_the_wrap)
{
	struct virtq_used_elem e[3] = { { 5, 100 }, { 6, 200 }, { 7, 30 } };

	vqf_init(&fx, 4, false, false);
	fx.q.used_idx = 0xfffe; /* slots 2, 3, then 0 */
	vqf_put16(&fx, VQF_USED + 2, 0xfffe);
	spin_lock(&fx.q.lock);
	CHECK_EQ(virtq_push_many(&fx.q, &fx.mem, e, 3), 0);
	spin_unlock(&fx.q.lock);
	CHECK_EQ(vqf_get16(&fx, VQF_USED + 2), 0x0001);
	CHECK_EQ(fx.q.used_idx, 0x0001);
	u32 got[2];
	memcpy(got, vqf_ptr(&fx, VQF_USED + 4 + 8 * 2), 8);
	CHECK_EQ(got[0], 5);
	CHECK_EQ(got[1], 100);
	memcpy(got, vqf_ptr(&fx, VQF_USED + 4 + 8 * 3), 8);
	CHECK_EQ(got[0], 6);
	memcpy(got, vqf_ptr(&fx, VQF_USED + 4 + 8 * 0), 8);
	CHECK_EQ(got[0], 7);
	CHECK_EQ(got[1], 30);
}

TEST(push_many_with_a_bad_used_ring_publishes_nothing)
{
	struct virtq_used_elem e[2] = { { 0, 1 }, { 1, 1 } };

	vqf_init(&fx, 4, false, false);
	fx.q.used = VQF_BASE + VQF_SIZE - 4 - 8 - 2; /* room for the index and one element only */
	spin_lock(&fx.q.lock);
	CHECK(virtq_push_many(&fx.q, &fx.mem, e, 2) < 0);
	spin_unlock(&fx.q.lock);
	CHECK_EQ(fx.q.used_idx, 0);
	CHECK_EQ(vqf_get16(&fx, fx.q.used + 2), 0);
}

TEST(unpop_gives_chains_back)
{
	vqf_init(&fx, 8, true, false);
	vqf_desc(&fx, VQF_DESC, 0, VQF_BUF, 64, 2 /* WRITE */, 0);
	vqf_desc(&fx, VQF_DESC, 1, VQF_BUF + 0x100, 64, 2, 0);
	vqf_publish(&fx, 0);
	vqf_publish(&fx, 1);
	spin_lock(&fx.q.lock);
	CHECK_EQ(virtq_pop(&fx.q, &fx.mem), 1);
	CHECK_EQ(virtq_pop(&fx.q, &fx.mem), 1);
	CHECK_EQ(virtq_pop(&fx.q, &fx.mem), 0);
	virtq_unpop(&fx.q, 2);
	CHECK_EQ(fx.q.last_avail, 0);
	CHECK_EQ(virtq_pop(&fx.q, &fx.mem), 1);
	CHECK_EQ(fx.q.req.head, 0);
	CHECK_EQ(virtq_pop(&fx.q, &fx.mem), 1);
	CHECK_EQ(fx.q.req.head, 1);
	spin_unlock(&fx.q.lock);
	EXPECT_BUG(virtq_unpop(&fx.q, 1)); /* without the lock */
}
