/* The console multiplexer's key sequence, owner cycle and held bytes (vm/conmux_key.h): pure, unit-tested. */
#include "hv/errno.h"
#include "vm/conmux_key.h"

u32 conmux_key(struct conmux_keys *k, u8 c, u8 out[CONMUX_SWITCH_N], enum conmux_action *action)
{
	u32 n = 0;

	*action = CONMUX_NONE;
	if (c == CONMUX_ESCAPE) {
		if (++k->escapes == CONMUX_SWITCH_N) {
			k->escapes = 0;
			*action = CONMUX_SWITCH;
		}
		return 0;
	}
	if (k->escapes == 1 && c == 'w') {
		k->escapes = 0;
		*action = CONMUX_WS;
		return 0;
	}
	/* Xen gives the held Ctrl-As back before the key that showed they were not a switch. */
	for (; k->escapes; k->escapes--)
		out[n++] = CONMUX_ESCAPE;
	out[n++] = c;
	return n;
}

int conmux_next_owner(const int *order, u32 n, int cur_order)
{
	int best = CONMUX_MONITOR;

	for (u32 i = 0; i < n; i++) {
		if (order[i] < 0 || (cur_order >= 0 && order[i] <= cur_order))
			continue;
		if (best == CONMUX_MONITOR || order[i] < order[best])
			best = (int)i;
	}
	return best;
}

int conmux_held_push(struct conmux_held *h, u8 c)
{
	if (h->len == CONMUX_HELD_MAX)
		return -ENOSPC;
	h->b[(h->head + h->len++) % CONMUX_HELD_MAX] = c;
	return 0;
}

int conmux_held_peek(const struct conmux_held *h)
{
	return h->len ? h->b[h->head] : -1;
}

void conmux_held_pop(struct conmux_held *h)
{
	if (!h->len)
		return;
	h->head = (u8)((h->head + 1) % CONMUX_HELD_MAX);
	h->len--;
}
