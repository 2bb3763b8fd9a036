/* The KVM peer VMM's pure logic (bench/kvm/peer.c): the most frequent total, KVM's binary statistics format, the
 * guest's marks and the one-exit-per-operation check. */
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>

#include "bench/kvm/peer.h"
#include "test.h"

TEST(peer_mode_picks_most_frequent_then_smallest)
{
	unsigned c;
	uint64_t a[] = {5, 3, 5, 3, 7};
	CHECK_EQ(peer_mode(a, 5, &c), 3);
	CHECK_EQ(c, 2);
	uint64_t b[] = {9};
	CHECK_EQ(peer_mode(b, 1, &c), 9);
	CHECK_EQ(c, 1);
	/* A timer tick in some repeats: the tick-free total wins. */
	uint64_t t[] = {56272, 56272, 61001, 56272, 70333, 56272};
	CHECK_EQ(peer_mode(t, 6, &c), 56272);
	CHECK_EQ(c, 4);
}

/* A stats file as KVM_GET_STATS_FD gives it: header, descriptors (name_size bytes of name each), data. */
static size_t fake_stats(uint8_t *buf, size_t len)
{
	const uint32_t name_size = 48, nd = 3;
	size_t dsz = sizeof(struct kvm_stats_desc) + name_size;
	struct kvm_stats_header *h = (void *)buf;
	memset(buf, 0, len);
	h->name_size = name_size;
	h->num_desc = nd;
	h->id_offset = sizeof(*h);
	h->desc_offset = sizeof(*h) + 64;
	h->data_offset = h->desc_offset + nd * dsz;
	const char *names[] = {"exits", "halt_wait_hist", "io_exits"};
	uint32_t flags[] = {KVM_STATS_TYPE_CUMULATIVE, KVM_STATS_TYPE_LOG_HIST, KVM_STATS_TYPE_CUMULATIVE};
	uint16_t size[] = {1, 32, 1};
	uint32_t off[] = {0, 8, 8 + 32 * 8};
	for (uint32_t i = 0; i < nd; i++) {
		struct kvm_stats_desc *d = (void *)(buf + h->desc_offset + i * dsz);
		d->flags = flags[i];
		d->size = size[i];
		d->offset = off[i];
		strcpy(d->name, names[i]);
	}
	return h->data_offset + off[2] + 8;
}

TEST(peer_stats_parse_keeps_u64_counters)
{
	static uint8_t buf[4096];
	size_t len = fake_stats(buf, sizeof(buf));
	struct peer_stats s;
	CHECK_EQ(peer_stats_parse(&s, buf, len), 0);
	CHECK_EQ(s.n, 2); /* the histogram is left out */
	CHECK_EQ(peer_stats_find(&s, "exits"), 0);
	CHECK_EQ(peer_stats_find(&s, "io_exits"), 1);
	CHECK_EQ(peer_stats_find(&s, "halt_wait_hist"), (uint64_t)-1);
	CHECK_EQ(s.offset[1], 8 + 32 * 8);
	CHECK_EQ(s.data_size, 8 + 32 * 8 + 8);
	CHECK_EQ(peer_stats_parse(&s, buf, 10), (uint64_t)-1);			   /* shorter than the header */
	CHECK_EQ(peer_stats_parse(&s, buf, len - 8 - 32 * 8 - 150), (uint64_t)-1); /* descriptors cut off */
}

static void two_stats(struct peer *p)
{
	peer_init(p);
	p->stats.n = 3;
	strcpy(p->stats.name[0], "exits");
	strcpy(p->stats.name[1], "io_exits");
	strcpy(p->stats.name[2], "hypercalls");
}

static void mark(struct peer *p, const char *name, uint64_t ops, uint64_t total, const uint64_t *a, const uint64_t *b)
{
	for (const char *c = name; *c; c++)
		peer_name_byte(p, (uint8_t)*c);
	peer_begin(p, ops, a);
	peer_end(p, total, b);
}

TEST(peer_marks_collect_repeats_and_deltas)
{
	struct peer *p = calloc(1, sizeof(*p));
	two_stats(p);
	uint64_t a[] = {100, 5, 0}, b[] = {121, 6, 20}, c[] = {150, 7, 20};
	mark(p, "hypercall", 20, 61192, a, b);
	mark(p, "hypercall", 20, 61192, b, c); /* a repeat with 8 exits too many */
	mark(p, "cpuid", 20, 56272, a, b);
	CHECK_EQ(p->errors, 0);
	CHECK_EQ(p->nphase, 2);
	CHECK_STR(p->phase[0].name, "hypercall");
	CHECK_EQ(p->phase[0].nrep, 2);
	CHECK_EQ(p->phase[0].rep[0].total, 61192);
	CHECK_EQ(p->phase[0].rep[0].delta[0], 21);
	CHECK_EQ(p->phase[0].rep[0].delta[2], 20);

	char msg[256] = "";
	CHECK_EQ(peer_check(&p->stats, &p->phase[0], &p->phase[0].rep[0], msg, sizeof(msg)), 0);
	CHECK_STR(msg, "");
	CHECK_EQ(peer_check(&p->stats, &p->phase[0], &p->phase[0].rep[1], msg, sizeof(msg)), 2);
	CHECK_STR(msg, "exits grew by 29, want 21; hypercalls grew by 0, want 20");
	/* cpuid: 21 exits, one of them the end mark's I/O exit; the hypercall counter is not its business. */
	CHECK_EQ(peer_check(&p->stats, &p->phase[1], &p->phase[1].rep[0], NULL, 0), 0);
	free(p);
}

TEST(peer_marks_reject_broken_protocol)
{
	struct peer *p = calloc(1, sizeof(*p));
	two_stats(p);
	uint64_t a[3] = {0}, b[3] = {0};
	peer_end(p, 5, b); /* an end without a begin */
	CHECK_EQ(p->errors, 1);
	peer_begin(p, 20, a); /* a begin without a name */
	CHECK_EQ(p->errors, 2);
	mark(p, "loop", 20, 70, a, b);
	mark(p, "loop", 21, 70, a, b); /* the same phase with another count: the begin fails, and so its end */
	CHECK_EQ(p->errors, 4);
	CHECK_EQ(p->phase[0].nrep, 1);
	for (int i = 0; i < 40; i++) /* a name longer than the buffer */
		peer_name_byte(p, 'x');
	CHECK_EQ(p->errors > 4, 1);
	free(p);
}
