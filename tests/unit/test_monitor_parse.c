/* The monitor's strict parser and line editor (vm/monitor_parse.c): each command with exactly its arguments, every
 * other line refused with its reason, and the editor's echo, backspace and line end. */
#include <string.h>

#include "hv/errno.h"
#include "test.h"
#include "vm/monitor_parse.h"

static enum mon_cmd parse(const char *line, struct mon_parsed *p)
{
	int r = monitor_parse(line, p);

	CHECK_EQ(r, p->cmd == MON_BAD ? -EINVAL : 0);
	return p->cmd;
}

TEST(monitor_parse_commands)
{
	struct mon_parsed p;

	CHECK_EQ(parse("help", &p), MON_HELP);
	CHECK_EQ(parse("list", &p), MON_LIST);
	CHECK_EQ(parse("  \tlist  ", &p), MON_LIST);
	CHECK_EQ(parse("stats vm-1.a_B", &p), MON_STATS);
	CHECK_STR(p.name, "vm-1.a_B");
	CHECK_EQ(parse("end\tguest", &p), MON_END);
	CHECK_STR(p.name, "guest");
	CHECK_EQ(parse("ws x", &p), MON_WS);
	CHECK_STR(p.name, "x");
	CHECK_EQ(parse("", &p), MON_EMPTY);
	CHECK_EQ(parse("   ", &p), MON_EMPTY);
}

TEST(monitor_parse_refuses)
{
	struct mon_parsed p;

	CHECK_EQ(parse("bogus", &p), MON_BAD);
	CHECK_STR(p.why, "unknown command");
	CHECK_EQ(parse("LIST", &p), MON_BAD); /* exact words only */
	CHECK_EQ(parse("lis", &p), MON_BAD);
	CHECK_EQ(parse("listx", &p), MON_BAD);
	CHECK_EQ(parse("list all", &p), MON_BAD);
	CHECK_STR(p.why, "takes no argument");
	CHECK_EQ(parse("help me", &p), MON_BAD);
	CHECK_EQ(parse("stats", &p), MON_BAD);
	CHECK_STR(p.why, "takes one VM name");
	CHECK_EQ(parse("end a b", &p), MON_BAD);
	CHECK_EQ(parse("end a b c d", &p), MON_BAD);
	CHECK_STR(p.why, "too many words");
	CHECK_EQ(parse("ws a/b", &p), MON_BAD);
	CHECK_STR(p.why, "VM name with a character vm= refuses");
	CHECK_EQ(parse("stats 0123456789012345678901234567890", &p), MON_STATS); /* 31: the longest name */
	CHECK_EQ(parse("stats 01234567890123456789012345678901", &p), MON_BAD);
	CHECK_STR(p.why, "VM name too long");
}

/* Type s; the echo and the completed lines (joined with '|') come back. */
static void type(struct mon_line *l, const char *s, char *echo, char *lines)
{
	size_t e = 0, n = 0;

	for (; *s; s++) {
		char buf[MON_ECHO_MAX];
		u32 m;

		if (monitor_line_key(l, (u8)*s, buf, &m)) {
			n += (size_t)sprintf(lines + n, "%s|", l->buf);
		}
		CHECK(m <= MON_ECHO_MAX);
		memcpy(echo + e, buf, m);
		e += m;
	}
	echo[e] = lines[n] = 0;
}

TEST(monitor_line_editing)
{
	struct mon_line l = {0};
	char echo[512], lines[512];

	type(&l,
	     "lisx\x7f"
	     "t\r",
	     echo, lines);
	CHECK_STR(lines, "list|");
	CHECK_STR(echo, "lisx\b \bt\n");
	type(&l,
	     "\x08\x08"
	     "ab\x08"
	     "c\n\x1b"
	     "[A\r",
	     echo, lines); /* backspace on an empty line echoes nothing; ESC dropped */
	CHECK_STR(lines, "ac|[A|");
	CHECK_STR(echo, "ab\b \bc\n[A\n");
	type(&l,
	     "stats x\x15"
	     "help\r",
	     echo, lines);
	CHECK_STR(lines, "help|");
	CHECK_STR(echo, "stats x\b \b\b \b\b \b\b \b\b \b\b \b\b \bhelp\n");
}

TEST(monitor_line_too_long)
{
	struct mon_line l = {0};
	char s[MON_LINE_MAX + 3], echo[512], lines[512];

	memset(s, 'a', MON_LINE_MAX + 1);
	s[MON_LINE_MAX + 1] = '\r';
	s[MON_LINE_MAX + 2] = 0;
	type(&l, s, echo, lines);
	CHECK_EQ(strlen(lines), MON_LINE_MAX + 1); /* the line kept its first MON_LINE_MAX bytes, then '|' */
	CHECK_EQ(echo[MON_LINE_MAX], '\a');
}
