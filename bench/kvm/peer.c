/* The KVM peer's pure logic (peer.h): marks, repeats, the most frequent total, KVM's binary statistics and the
 * one-exit-per-operation check. No ioctl here: vmm.c feeds it, tests/unit/test_kvm_peer.c tests it. */
#include "peer.h"

#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>

int peer_stats_parse(struct peer_stats *s, const void *buf, size_t len)
{
	const struct kvm_stats_header *h = buf;
	memset(s, 0, sizeof(*s));
	if (len < sizeof(*h) || h->desc_offset > len)
		return -1;
	size_t dsz = sizeof(struct kvm_stats_desc) + h->name_size;
	if (h->num_desc > (len - h->desc_offset) / dsz)
		return -1;
	s->data_offset = h->data_offset;
	for (uint32_t i = 0; i < h->num_desc; i++) {
		const struct kvm_stats_desc *d = (const void *)((const char *)buf + h->desc_offset + i * dsz);
		uint32_t type = d->flags & KVM_STATS_TYPE_MASK;
		if (d->size != 1 || (type != KVM_STATS_TYPE_CUMULATIVE && type != KVM_STATS_TYPE_INSTANT &&
				     type != KVM_STATS_TYPE_PEAK))
			continue;
		if (s->n == PEER_MAX_STATS)
			break;
		size_t nl = strnlen(d->name, h->name_size);
		if (nl >= sizeof(s->name[0]))
			nl = sizeof(s->name[0]) - 1;
		memcpy(s->name[s->n], d->name, nl);
		s->name[s->n][nl] = '\0';
		s->offset[s->n] = d->offset;
		if (d->offset + 8 > s->data_size)
			s->data_size = d->offset + 8;
		s->n++;
	}
	return 0;
}

int peer_stats_find(const struct peer_stats *s, const char *name)
{
	for (unsigned i = 0; i < s->n; i++)
		if (!strcmp(s->name[i], name))
			return (int)i;
	return -1;
}

void peer_init(struct peer *p)
{
	memset(p, 0, sizeof(*p));
	p->cur = -1;
}

void peer_name_byte(struct peer *p, uint8_t c)
{
	if (p->name_len + 1 < sizeof(p->name))
		p->name[p->name_len++] = (char)c;
	else
		p->errors++;
	p->name[p->name_len] = '\0';
}

void peer_begin(struct peer *p, uint64_t ops, const uint64_t *now)
{
	int i;
	for (i = 0; i < (int)p->nphase; i++)
		if (!strcmp(p->phase[i].name, p->name))
			break;
	if (p->cur >= 0 || !p->name_len || !ops) {
		p->errors++;
		goto out;
	}
	if (i == (int)p->nphase) {
		if (p->nphase == PEER_MAX_PHASES) {
			p->errors++;
			goto out;
		}
		p->nphase++;
		strcpy(p->phase[i].name, p->name);
		p->phase[i].ops = ops;
	}
	if (p->phase[i].ops != ops || p->phase[i].nrep == PEER_MAX_REPEATS) {
		p->errors++;
		goto out;
	}
	p->cur = i;
	memcpy(p->before, now, p->stats.n * sizeof(*now));
out:
	p->name_len = 0;
	p->name[0] = '\0';
}

void peer_end(struct peer *p, uint64_t total, const uint64_t *now)
{
	if (p->cur < 0) {
		p->errors++;
		return;
	}
	struct peer_phase *ph = &p->phase[p->cur];
	struct peer_repeat *r = &ph->rep[ph->nrep++];
	r->total = total;
	for (unsigned i = 0; i < p->stats.n; i++)
		r->delta[i] = now[i] - p->before[i];
	p->cur = -1;
}

uint64_t peer_mode(const uint64_t *v, unsigned n, unsigned *count)
{
	uint64_t best = v[0];
	unsigned best_n = 0;
	for (unsigned i = 0; i < n; i++) {
		unsigned c = 0;
		for (unsigned j = 0; j < n; j++)
			c += v[j] == v[i];
		if (c > best_n || (c == best_n && v[i] < best)) {
			best = v[i];
			best_n = c;
		}
	}
	*count = best_n;
	return best;
}

/* Every phase ends with the end mark, one I/O exit to this VMM after the loop's last operation: the "+ 1"s. The
 * statistics are those of KVM's struct kvm_vcpu_stat (arch/x86/include/asm/kvm_host.h). */
const struct peer_expect peer_expects[] = {
    {"loop", "exits", 0, 1},
    {"loop", "io_exits", 0, 1},
    {"cpuid", "exits", 1, 1},
    {"cpuid", "io_exits", 0, 1},
    {"pio_out", "exits", 1, 1},
    {"pio_out", "io_exits", 1, 1},
    {"hypercall", "exits", 1, 1},
    {"hypercall", "hypercalls", 1, 0},
    {"hypercall", "io_exits", 0, 1},
    {"mmio4k_table", "exits", 1, 1},
    {"mmio4k_table", "pf_mmio_spte_created", 1, 0},
    {"mmio4k_table", "mmio_exits", 1, 0},
    {"mmio4k_first", "exits", 1, 1},
    {"mmio4k_first", "pf_mmio_spte_created", 1, 0},
    {"mmio4k_first", "mmio_exits", 1, 0},
    {"mmio4k_again", "exits", 1, 1},
    {"mmio4k_again", "pf_mmio_spte_created", 0, 0},
    {"mmio4k_again", "mmio_exits", 1, 0},
    {"mmio_ioapic", "exits", 1, 1},
    {"mmio_ioapic", "mmio_exits", 0, 0},
    {"mmio_ioapic", "io_exits", 0, 1},
    {NULL, NULL, 0, 0},
};

int peer_check(const struct peer_stats *s, const struct peer_phase *ph, const struct peer_repeat *r, char *msg,
	       size_t msglen)
{
	int bad = 0;
	for (const struct peer_expect *e = peer_expects; e->phase; e++) {
		if (strcmp(e->phase, ph->name))
			continue;
		int i = peer_stats_find(s, e->stat);
		if (i < 0)
			continue;
		uint64_t want = e->per_op * ph->ops + e->extra;
		if (r->delta[i] == want)
			continue;
		bad++;
		if (msg) {
			size_t l = strlen(msg);
			if (l < msglen)
				snprintf(msg + l, msglen - l, "%s%s grew by %llu, want %llu", l ? "; " : "", e->stat,
					 (unsigned long long)r->delta[i], (unsigned long long)want);
		}
	}
	return bad;
}
