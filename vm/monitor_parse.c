/* The monitor's line editor and command parser (vm/monitor_parse.h): pure, unit-tested. */
#include "hv/compiler.h"
#include "hv/errno.h"
#include "hv/string.h"
#include "vm/monitor_parse.h"

#define MON_MAX_WORDS 3 /* one more than any command takes, to tell "too many" */

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
	       c == '-';
}

static int bad(struct mon_parsed *p, const char *why)
{
	p->cmd = MON_BAD;
	p->why = why;
	return -EINVAL;
}

static const struct {
	const char *word;
	enum mon_cmd cmd;
	bool takes_name;
} commands[] = {
    {"help", MON_HELP, false}, {"list", MON_LIST, false}, {"stats", MON_STATS, true},
    {"end", MON_END, true},    {"ws", MON_WS, true},
};

int monitor_parse(const char *line, struct mon_parsed *p)
{
	const char *word[MON_MAX_WORDS];
	size_t wlen[MON_MAX_WORDS];
	u32 n = 0;

	memset(p, 0, sizeof(*p));
	for (const char *s = line; *s;) {
		if (is_space(*s)) {
			s++;
			continue;
		}
		if (n == MON_MAX_WORDS)
			return bad(p, "too many words");
		word[n] = s;
		while (*s && !is_space(*s))
			s++;
		wlen[n] = (size_t)(s - word[n]);
		n++;
	}
	if (!n) {
		p->cmd = MON_EMPTY;
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		if (strlen(commands[i].word) != wlen[0] || memcmp(commands[i].word, word[0], wlen[0]))
			continue;
		if (!commands[i].takes_name) {
			if (n != 1)
				return bad(p, "takes no argument");
			p->cmd = commands[i].cmd;
			return 0;
		}
		if (n != 2)
			return bad(p, "takes one VM name");
		if (wlen[1] >= MON_NAME_MAX)
			return bad(p, "VM name too long");
		for (size_t j = 0; j < wlen[1]; j++)
			if (!is_name_char(word[1][j]))
				return bad(p, "VM name with a character vm= refuses");
		memcpy(p->name, word[1], wlen[1]);
		p->name[wlen[1]] = 0;
		p->cmd = commands[i].cmd;
		return 0;
	}
	return bad(p, "unknown command");
}

bool monitor_line_key(struct mon_line *l, u8 c, char *echo, u32 *echo_len)
{
	u32 e = 0;

	if (c == '\r' || c == '\n') {
		l->buf[l->len] = 0;
		l->len = 0;
		echo[e++] = '\n';
		*echo_len = e;
		return true;
	}
	if (c == 0x08 || c == 0x7f) {
		if (l->len) {
			l->len--;
			echo[e++] = '\b', echo[e++] = ' ', echo[e++] = '\b';
		}
	} else if (c == 0x15) { /* Ctrl-U */
		for (; l->len; l->len--)
			echo[e++] = '\b', echo[e++] = ' ', echo[e++] = '\b';
	} else if (c >= 0x20 && c < 0x7f) {
		if (l->len < MON_LINE_MAX) {
			l->buf[l->len++] = (char)c;
			echo[e++] = (char)c;
		} else {
			echo[e++] = '\a';
		}
	}
	*echo_len = e;
	return false;
}
