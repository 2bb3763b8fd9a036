/*
 * The console multiplexer's pure part: what a byte typed on the hypervisor's serial line means (Xen's model: Ctrl-A
 * pressed three times in a row moves the input to the next of {VM 1, VM 2, ..., monitor}), which owner comes next,
 * and the few bytes held back for an owner whose input FIFO is full. No locks, no hardware: vm/conmux.c drives it.
 */
#ifndef VM_CONMUX_KEY_H
#define VM_CONMUX_KEY_H

#include "hv/types.h"

#define CONMUX_ESCAPE	0x01 /* Ctrl-A */
#define CONMUX_SWITCH_N 3    /* presses in a row that switch the input */
#define CONMUX_MONITOR	(-1) /* the owner value of the monitor */

enum conmux_action {
	CONMUX_NONE,
	CONMUX_SWITCH, /* Ctrl-A x3: move the input to the next owner */
	CONMUX_WS,     /* Ctrl-A w: the owner VM's working-set report (vm/ws.h), as before the multiplexer */
};

/* Ctrl-As seen in a row and held back (0 .. CONMUX_SWITCH_N - 1): they are the owner's if another key follows. */
struct conmux_keys {
	u8 escapes;
};

/* Feed one typed byte. Writes the bytes for the owner to out (at most CONMUX_SWITCH_N: held Ctrl-As, then the key)
 * and returns how many; *action says what else the byte asked for. One Ctrl-A then 'w' is CONMUX_WS (the 'w' and
 * the Ctrl-A are consumed); one or two Ctrl-As then any other key pass through untouched, as in Xen. */
u32 conmux_key(struct conmux_keys *k, u8 c, u8 out[CONMUX_SWITCH_N], enum conmux_action *action);

/* The slot that owns the input after the owner whose place in the cycle is cur_order (CONMUX_MONITOR for the
 * monitor), or CONMUX_MONITOR. order[i] is slot i's place (its configuration index), or -1 for an empty slot. The
 * next is the present slot with the smallest order above cur_order, else the monitor; after the monitor, the present
 * slot with the smallest order (the monitor again when there is none). An owner that has just left counts from its
 * own order, so the cycle goes on where it was. */
int conmux_next_owner(const int *order, u32 n, int cur_order);

/* Bytes for the owner that its device had no room for yet: delivered first at the next poll, in order. While any is
 * held, nothing more is read from the host UART, so a paste waits there (flow control) instead of being dropped. */
#define CONMUX_HELD_MAX 4
struct conmux_held {
	u8 b[CONMUX_HELD_MAX];
	u8 head, len;
};

/* 0, or -ENOSPC when full (cannot happen for the at most CONMUX_SWITCH_N bytes of one key after a full drain). */
int conmux_held_push(struct conmux_held *h, u8 c);
/* The oldest held byte, or -1. */
int conmux_held_peek(const struct conmux_held *h);
void conmux_held_pop(struct conmux_held *h);

#endif
