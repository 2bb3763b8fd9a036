/* libFuzzer target for the split virtqueue parser (vm/dev/virtio/virtqueue.c): the input's first bytes choose the
 * queue (size, event index, indirect, starting indices), the rest is the guest's RAM holding the rings, descriptors
 * and indirect tables, so the fuzzer writes hostile chains directly. Besides ASan/UBSan, every outcome is checked:
 * a popped chain has 1..size segments, all in RAM, nonzero, readable before writable, lengths that add up; a refused
 * one consumed nothing; push and need_irq never touch memory outside RAM (the fake refuses it, and they must cope).
 * fuzz-srcs: vm/dev/virtio/virtqueue.c vm/dev/virtio/req.c tests/unit/fake_platform.c */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/virtq_fixture.h"

#define ensure(cond)                                                                                                   \
	do {                                                                                                           \
		if (!(cond))                                                                                           \
			__builtin_trap();                                                                              \
	} while (0)

void bug_report(const char *file, int line, const char *expr)
{
	fprintf(stderr, "BUG at %s:%d: %s\n", file, line, expr);
	abort();
}

void warn_report(const char *file, int line, const char *expr) { (void)file, (void)line, (void)expr; }

static struct vqf fx;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 8)
		return 0;
	u16 qsize = (u16)1 << (data[0] % 9); /* 1 .. 256 */
	vqf_init(&fx, qsize, data[1] & 1, data[1] & 2);
	u16 start;
	memcpy(&start, data + 2, 2);
	fx.q.last_avail = fx.q.used_idx = start;
	/* Rings where the fixture puts them, or (bit 2) somewhere the input says, maybe outside RAM. */
	if (data[1] & 4) {
		u16 off;
		memcpy(&off, data + 4, 2);
		fx.q.desc = VQF_BASE + (u64)off * 16;
		fx.q.avail = VQF_BASE + (u64)data[6] * 0x200 + (data[1] & 8 ? VQF_SIZE - 0x100 : 0);
		fx.q.used = VQF_BASE + (u64)data[7] * 0x200;
	}
	size_t n = MIN(size - 8, (size_t)VQF_SIZE);
	memcpy(fx.ram, data + 8, n);
	/* Let the fuzzer's descriptor addresses land in RAM often: a byte pattern in the input would rarely spell
	 * 0x100000+, so descriptors' addresses are taken modulo a window around RAM. */
	if (data[1] & 16) {
		for (u32 i = 0; i < qsize; i++) {
			u8 *d = vqf_ptr(&fx, VQF_DESC + 16 * (u64)i);
			u64 a;
			memcpy(&a, d, 8);
			a = VQF_BASE - 0x100 + a % (VQF_SIZE + 0x200);
			memcpy(d, &a, 8);
		}
	}

	spin_lock(&fx.q.lock);
	for (int iter = 0; iter < 2 * qsize + 2; iter++) {
		u16 before = fx.q.last_avail;
		int rc = virtq_pop(&fx.q, &fx.mem);
		if (rc <= 0) {
			ensure(fx.q.last_avail == before);
			break;
		}
		ensure(rc == 1);
		ensure(fx.q.last_avail == (u16)(before + 1));
		const struct virtio_req *r = &fx.q.req;
		ensure(r->head < qsize);
		ensure(r->nr_out + r->nr_in >= 1 && r->nr_out + r->nr_in <= qsize);
		u64 out = 0, in = 0;
		for (u32 i = 0; i < (u32)r->nr_out + r->nr_in; i++) {
			ensure(r->seg[i].len > 0);
			ensure(vqf_in_ram(r->seg[i].gpa, r->seg[i].len));
			*(i < r->nr_out ? &out : &in) += r->seg[i].len;
		}
		ensure(out == r->out_len && in == r->in_len);
		u8 buf[64];
		u32 l = MIN(r->out_len, sizeof(buf));
		ensure(virtio_req_read(r, &fx.mem, r->out_len - l, buf, l) == 0);
		ensure(virtio_req_read(r, &fx.mem, r->out_len, buf, 1) == -ERANGE);
		l = MIN(r->in_len, sizeof(buf));
		ensure(virtio_req_write(r, &fx.mem, 0, buf, l) == 0);
		if (virtq_push(&fx.q, &fx.mem, data[iter % size]) == 0)
			(void)virtq_need_irq(&fx.q, &fx.mem);
	}
	spin_unlock(&fx.q.lock);
	return 0;
}
