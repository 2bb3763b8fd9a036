/* The virtual switch (vswitch.h): networks by name, their ports, the learnt MAC table and the forwarding of one frame.
 * Locking and forwarding rules are in vswitch.h. */
#include "vm/dev/virtio/vswitch.h"
#include "hv/errno.h"
#include "hv/log.h"
#include "hv/platform.h"
#include "hv/string.h"

struct vswitch_fdb {
	u8 mac[ETH_ALEN];
	struct vswitch_port *port; /* NULL: free slot */
};

struct vswitch {
	char name[VSWITCH_NAME_MAX];       /* constant */
	struct vswitch *next;              /* switches_lock */
	rwlock_t ports_lock;               /* read: a delivery in progress; write: join, leave */
	struct vswitch_port *ports;        /* ports_lock */
	u32 nr_ports;                      /* ports_lock */
	spinlock_t fdb_lock;               /* inside ports_lock (read), never across a delivery */
	struct vswitch_fdb fdb[VSWITCH_FDB_SIZE]; /* fdb_lock; every port named is joined (leave purges under write) */
};

/* Networks live until the hypervisor ends (or vswitch_reset_all): a handful of small objects, and a VM that joins
 * later finds the same switch by name. */
static spinlock_t switches_lock;
static struct vswitch *switches; /* switches_lock */

#define MAC_FMT "%02x:%02x:%02x:%02x:%02x:%02x"
#define MAC_ARG(m) (m)[0], (m)[1], (m)[2], (m)[3], (m)[4], (m)[5]

static bool is_multicast(const u8 *mac)
{
	return mac[0] & 1; /* the I/G bit: group addresses, broadcast included */
}

static u32 fdb_slot(const u8 *mac)
{
	u32 h = 2166136261u; /* FNV-1a */

	for (int i = 0; i < ETH_ALEN; i++)
		h = (h ^ mac[i]) * 16777619u;
	return h % VSWITCH_FDB_SIZE;
}

static void relaxed_add(u64 *c, u64 v)
{
	__atomic_fetch_add(c, v, __ATOMIC_RELAXED);
}

static struct vswitch *find_or_create(const char *net)
{
	struct vswitch *sw;

	spin_lock(&switches_lock);
	for (sw = switches; sw; sw = sw->next)
		if (strcmp(sw->name, net) == 0)
			break;
	if (!sw) {
		sw = kzalloc(sizeof(*sw));
		if (sw) {
			size_t n = strlen(net);

			n = n < VSWITCH_NAME_MAX - 1 ? n : VSWITCH_NAME_MAX - 1;
			memcpy(sw->name, net, n);
			sw->name[n] = '\0';
			rwlock_init(&sw->ports_lock);
			sw->next = switches;
			switches = sw;
		}
	}
	spin_unlock(&switches_lock);
	return sw;
}

int vswitch_join(const char *net, struct vswitch_port *p)
{
	struct vswitch *sw = find_or_create(net);

	if (!sw)
		return -ENOMEM;
	write_lock(&sw->ports_lock);
	for (struct vswitch_port *q = sw->ports; q; q = q->next) {
		if (memcmp(q->mac, p->mac, ETH_ALEN) == 0) {
			write_unlock(&sw->ports_lock);
			pr_err("vswitch %s: %s: MAC " MAC_FMT " is already %s's: not joined\n", sw->name, p->name,
			       MAC_ARG(p->mac), q->name);
			return -EEXIST;
		}
	}
	memset(&p->stats, 0, sizeof(p->stats));
	p->sw = sw;
	p->next = sw->ports;
	sw->ports = p;
	sw->nr_ports++;
	write_unlock(&sw->ports_lock);
	pr_info("vswitch %s: %s joined, MAC " MAC_FMT "\n", sw->name, p->name, MAC_ARG(p->mac));
	return 0;
}

void vswitch_leave(struct vswitch_port *p)
{
	struct vswitch *sw = p->sw;
	const struct vswitch_stats *s = &p->stats;

	if (!sw)
		return;
	write_lock(&sw->ports_lock);
	for (struct vswitch_port **pp = &sw->ports; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			sw->nr_ports--;
			break;
		}
	}
	/* No sender is inside a delivery (they hold the lock for read), so the table may be purged under fdb_lock
	 * alone; it is taken anyway so the rule "fdb under fdb_lock" has no exception. */
	spin_lock(&sw->fdb_lock);
	for (u32 i = 0; i < VSWITCH_FDB_SIZE; i++)
		if (sw->fdb[i].port == p)
			sw->fdb[i].port = NULL;
	spin_unlock(&sw->fdb_lock);
	p->sw = NULL;
	p->next = NULL;
	write_unlock(&sw->ports_lock);
	pr_info("vswitch %s: %s left: tx %llu frames %llu bytes, rx %llu frames %llu bytes, rx dropped %llu, "
		"tx errors %llu\n",
		sw->name, p->name, (unsigned long long)s->tx_frames, (unsigned long long)s->tx_bytes,
		(unsigned long long)s->rx_frames, (unsigned long long)s->rx_bytes, (unsigned long long)s->rx_dropped,
		(unsigned long long)s->tx_errors);
}

static void deliver_one(struct vswitch_port *dst, const u8 *frame, u32 len)
{
	if (dst->deliver(dst, frame, len) == 0) {
		relaxed_add(&dst->stats.rx_frames, 1);
		relaxed_add(&dst->stats.rx_bytes, len);
	} else {
		relaxed_add(&dst->stats.rx_dropped, 1);
	}
}

u32 vswitch_send(struct vswitch_port *src, const u8 *frame, u32 len)
{
	struct vswitch *sw = src->sw;
	struct vswitch_port *dst = NULL;
	const u8 *da = frame, *sa = frame + ETH_ALEN;
	u32 sent = 0;

	if (!sw)
		return 0;
	if (len < ETH_HLEN) {
		relaxed_add(&src->stats.tx_errors, 1);
		return 0;
	}
	relaxed_add(&src->stats.tx_frames, 1);
	relaxed_add(&src->stats.tx_bytes, len);

	read_lock(&sw->ports_lock);
	spin_lock(&sw->fdb_lock);
	if (!is_multicast(sa)) { /* a group address as source is bogus: never learnt */
		struct vswitch_fdb *e = &sw->fdb[fdb_slot(sa)];

		memcpy(e->mac, sa, ETH_ALEN);
		e->port = src;
	}
	if (!is_multicast(da)) {
		struct vswitch_fdb *e = &sw->fdb[fdb_slot(da)];

		if (e->port && memcmp(e->mac, da, ETH_ALEN) == 0)
			dst = e->port;
	}
	spin_unlock(&sw->fdb_lock);

	if (dst) {
		if (dst != src) { /* to the port it came from: filtered */
			deliver_one(dst, frame, len);
			sent = 1;
		}
	} else {
		for (struct vswitch_port *p = sw->ports; p; p = p->next) {
			if (p == src)
				continue;
			deliver_one(p, frame, len);
			sent++;
		}
	}
	read_unlock(&sw->ports_lock);
	return sent;
}

void vswitch_reset_all(void)
{
	spin_lock(&switches_lock);
	while (switches) {
		struct vswitch *sw = switches;

		switches = sw->next;
		kfree(sw);
	}
	spin_unlock(&switches_lock);
}
