/* The console multiplexer's pure part (vm/conmux_key.c): the Ctrl-A x3 sequence and what it holds back, the
 * Ctrl-A w report key, the owner cycle {VM 1, VM 2, ..., monitor}, and the bytes held for a full FIFO. */
#include <string.h>

#include "hv/errno.h"
#include "test.h"
#include "vm/conmux_key.h"

/* Feed a string; the bytes for the owner into got (NUL-terminated), the actions counted. */
static void feed(struct conmux_keys *k, const char *s, char *got, int *switches, int *reports)
{
	u32 n = 0;

	*switches = *reports = 0;
	for (; *s; s++) {
		u8 out[CONMUX_SWITCH_N];
		enum conmux_action a;
		u32 m = conmux_key(k, (u8)*s, out, &a);

		CHECK(m <= CONMUX_SWITCH_N);
		memcpy(got + n, out, m);
		n += m;
		*switches += a == CONMUX_SWITCH;
		*reports += a == CONMUX_WS;
	}
	got[n] = 0;
}

TEST(conmux_plain_keys_pass)
{
	struct conmux_keys k = {0};
	char got[64];
	int sw, rep;

	feed(&k, "hello w\r", got, &sw, &rep);
	CHECK_STR(got, "hello w\r");
	CHECK_EQ(sw, 0);
	CHECK_EQ(rep, 0);
}

TEST(conmux_three_ctrl_a_switch)
{
	struct conmux_keys k = {0};
	char got[64];
	int sw, rep;

	feed(&k,
	     "a\x01\x01\x01"
	     "b",
	     got, &sw, &rep);
	CHECK_STR(got, "ab"); /* the three Ctrl-As are the switch's, none reaches a guest */
	CHECK_EQ(sw, 1);
	feed(&k, "\x01\x01\x01\x01\x01\x01", got, &sw, &rep);
	CHECK_STR(got, "");
	CHECK_EQ(sw, 2);
	CHECK_EQ(k.escapes, 0);
}

/* Fewer than three are held, then given back before the key that shows they were not a switch (Xen). */
TEST(conmux_held_ctrl_a_given_back)
{
	struct conmux_keys k = {0};
	char got[64];
	int sw, rep;

	feed(&k, "\x01x", got, &sw, &rep);
	CHECK_STR(got, "\x01x");
	feed(&k, "\x01\x01y", got, &sw, &rep);
	CHECK_STR(got, "\x01\x01y");
	CHECK_EQ(sw, 0);
	feed(&k, "\x01\x01", got, &sw, &rep);
	CHECK_STR(got, ""); /* still held: the next key decides */
	CHECK_EQ(k.escapes, 2);
	feed(&k, "\x01\x01z", got, &sw, &rep); /* 2 + 1: a switch; then one held, given back with z */
	CHECK_STR(got, "\x01z");
	CHECK_EQ(sw, 1);
}

TEST(conmux_ctrl_a_w_reports)
{
	struct conmux_keys k = {0};
	char got[64];
	int sw, rep;

	feed(&k, "\x01w", got, &sw, &rep);
	CHECK_STR(got, "");
	CHECK_EQ(rep, 1);
	feed(&k, "w\x01\x01w", got, &sw, &rep); /* two Ctrl-As then w: not the report key */
	CHECK_STR(got, "w\x01\x01w");
	CHECK_EQ(rep, 0);
}

TEST(conmux_cycle_in_configuration_order)
{
	/* Slots hold configurations 2, (empty), 0, 5: the cycle is config 0 (slot 2), 2 (slot 0), 5 (slot 3), monitor.
	 */
	int order[4] = {2, -1, 0, 5};

	CHECK_EQ(conmux_next_owner(order, 4, CONMUX_MONITOR), 2);
	CHECK_EQ(conmux_next_owner(order, 4, 0), 0);
	CHECK_EQ(conmux_next_owner(order, 4, 2), 3);
	CHECK_EQ(conmux_next_owner(order, 4, 5), CONMUX_MONITOR);
	/* An owner that left (config 3, between 2 and 5) hands on to the next one in the cycle. */
	CHECK_EQ(conmux_next_owner(order, 4, 3), 3);
}

TEST(conmux_cycle_without_vms_stays_on_monitor)
{
	int order[3] = {-1, -1, -1};

	CHECK_EQ(conmux_next_owner(order, 3, CONMUX_MONITOR), CONMUX_MONITOR);
	CHECK_EQ(conmux_next_owner(order, 3, 1), CONMUX_MONITOR);
	order[1] = 7; /* one VM: VM, monitor, VM, ... */
	CHECK_EQ(conmux_next_owner(order, 3, CONMUX_MONITOR), 1);
	CHECK_EQ(conmux_next_owner(order, 3, 7), CONMUX_MONITOR);
}

TEST(conmux_held_bytes_fifo)
{
	struct conmux_held h = {0};

	CHECK_EQ(conmux_held_peek(&h), -1);
	for (int round = 0; round < 3; round++) { /* wraps around the ring */
		for (int i = 0; i < CONMUX_HELD_MAX; i++)
			CHECK_EQ(conmux_held_push(&h, (u8)('a' + i)), 0);
		CHECK_EQ(conmux_held_push(&h, 'z'), -ENOSPC);
		CHECK_EQ(conmux_held_peek(&h), 'a');
		conmux_held_pop(&h);
		CHECK_EQ(conmux_held_push(&h, 'e'), 0);
		for (int i = 1; i <= CONMUX_HELD_MAX; i++) {
			CHECK_EQ(conmux_held_peek(&h), 'a' + i);
			conmux_held_pop(&h);
		}
		CHECK_EQ(conmux_held_peek(&h), -1);
		conmux_held_pop(&h); /* popping empty is harmless */
		CHECK_EQ(h.len, 0);
	}
}
