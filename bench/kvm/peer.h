/* The pure logic of the KVM peer's VMM (bench/kvm/vmm.c), kept apart from the ioctls so that the host unit tests
 * (tests/unit/test_kvm_peer.c) can run it: the guest's marks (phase name, begin, end), the repeats of each timed
 * loop and their most frequent total, KVM's binary statistics (KVM_GET_STATS_FD), and the check that each operation
 * made exactly one exit of the expected kind. */
#ifndef BENCH_KVM_PEER_H
#define BENCH_KVM_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The guest's ports (bench/kvm/guest.c): the name of the next phase, a byte at a time; begin (the value: the
 * operation count); end (the value: the low 32 bits of the loop's rdtsc delta). */
#define PEER_PORT_BEGIN 0x5e0
#define PEER_PORT_END	0x5e4
#define PEER_PORT_NAME	0x5e8

#define PEER_MAX_PHASES	 16
#define PEER_MAX_REPEATS 64
#define PEER_MAX_STATS	 96
#define PEER_NAME_LEN	 32

/* KVM's statistics of one file descriptor, by name: where each u64 lives in the data block. */
struct peer_stats {
	unsigned n;
	char name[PEER_MAX_STATS][48];
	uint32_t offset[PEER_MAX_STATS]; /* byte offset into the data block */
	uint32_t data_offset;		 /* of the data block in the file */
	uint32_t data_size;		 /* bytes to read: up to the end of the last value */
};

/* Parse the header and descriptors of a KVM stats file, read whole into buf (struct kvm_stats_header, then
 * num_desc descriptors of sizeof(struct kvm_stats_desc) + name_size bytes each). Only cumulative or instant u64
 * counters of size 1 are kept. Returns 0, or -1 when the buffer is too short or malformed. */
int peer_stats_parse(struct peer_stats *s, const void *buf, size_t len);
/* The index of a statistic by name, or -1. */
int peer_stats_find(const struct peer_stats *s, const char *name);

struct peer_repeat {
	uint64_t total;
	uint64_t delta[PEER_MAX_STATS];
};

struct peer_phase {
	char name[PEER_NAME_LEN];
	uint64_t ops;
	unsigned nrep;
	struct peer_repeat rep[PEER_MAX_REPEATS];
};

struct peer {
	struct peer_stats stats;
	unsigned nphase;
	struct peer_phase phase[PEER_MAX_PHASES];
	/* the mark in progress */
	char name[PEER_NAME_LEN];
	unsigned name_len;
	int cur; /* phase index between begin and end, else -1 */
	uint64_t before[PEER_MAX_STATS];
	unsigned errors; /* protocol errors (an end without a begin, a phase too many, ...) */
};

void peer_init(struct peer *p);
/* The guest's marks. `now` is a snapshot of every statistic (p->stats.n values) taken at this exit. */
void peer_name_byte(struct peer *p, uint8_t c);
void peer_begin(struct peer *p, uint64_t ops, const uint64_t *now);
void peer_end(struct peer *p, uint64_t total, const uint64_t *now);

/* The most frequent value of v[0..n) (the smallest of equally frequent ones); *count how often it occurs. n > 0. */
uint64_t peer_mode(const uint64_t *v, unsigned n, unsigned *count);

/* The counters an operation of a phase must move: over one repeat of `ops` operations, counter `stat` grows by
 * per_op * ops + extra (the end mark is one exit to this VMM, an I/O exit, after the loop). */
struct peer_expect {
	const char *phase, *stat;
	uint64_t per_op, extra;
};
extern const struct peer_expect peer_expects[];

/* Check one repeat of a phase against peer_expects: 0 when every expectation whose statistic exists holds, else
 * the number that failed, each described in msg (one line per failure, appended; may be NULL). */
int peer_check(const struct peer_stats *s, const struct peer_phase *ph, const struct peer_repeat *r, char *msg,
	       size_t msglen);

#endif
