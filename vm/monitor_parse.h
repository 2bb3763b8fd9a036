/*
 * The hypervisor monitor's pure part: its line editor (echo, backspace) and its strict command parser. vm/monitor.c
 * runs the commands. Parsed strictly: a command takes exactly the arguments it names, and anything else is an error
 * (the monitor then prints its help), so a typo never does something else.
 */
#ifndef VM_MONITOR_PARSE_H
#define VM_MONITOR_PARSE_H

#include "hv/types.h"

#define MON_LINE_MAX 80
#define MON_NAME_MAX 32 /* VM_NAME_MAX, with its NUL */

enum mon_cmd {
	MON_EMPTY, /* an empty line: nothing to do but prompt again */
	MON_HELP,  /* help */
	MON_LIST,  /* list: every running VM, one line each */
	MON_STATS, /* stats NAME: one VM's counters */
	MON_END,   /* end NAME: end a VM, as a guest fault would */
	MON_WS,	   /* ws NAME: its working-set report */
	MON_BAD,   /* anything else: the error is in why */
};

struct mon_parsed {
	enum mon_cmd cmd;
	char name[MON_NAME_MAX]; /* MON_STATS, MON_END, MON_WS */
	const char *why;	 /* MON_BAD: "unknown command", "takes no argument", ... */
};

/* Parse one line (NUL-terminated, without its end of line). 0, or -EINVAL with p->cmd MON_BAD. Words are separated
 * by spaces or tabs; a NAME is what vm= accepts: 1 to 31 of [A-Za-z0-9_.-]. */
int monitor_parse(const char *line, struct mon_parsed *p);

/* The line being typed. */
struct mon_line {
	char buf[MON_LINE_MAX + 1];
	u32 len;
};

/* Feed one typed byte. The bytes to echo go to echo (at most MON_ECHO_MAX) with their count in *echo_len. Returns
 * true when a line is complete: l->buf holds it, NUL-terminated, and the next byte starts a new one. Printable ASCII
 * is appended (dropped past MON_LINE_MAX, with a bell), backspace or DEL erases the last one, CR or LF ends the line,
 * Ctrl-U erases it all; other control bytes (escape sequences' ESC) are ignored. */
#define MON_ECHO_MAX (3 * MON_LINE_MAX)
bool monitor_line_key(struct mon_line *l, u8 c, char *echo, u32 *echo_len);

#endif
