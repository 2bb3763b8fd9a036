/* Command-line tokenizer and table-driven option parser. The line comes from the boot loader, so it is untrusted
 * text: nothing here assumes a length, a terminated quote or a well-formed number, and every word at fault is named
 * in a warning so the user can see which one was ignored. */
#include "kernel/cmdline.h"
#include "kernel/printf.h"
#include "hv/bug.h"
#include "hv/errno.h"
#include "hv/log.h"
#include "hv/string.h"

/* Words longer than this are cut short in messages; the console line stays readable. */
#define MSG_WORD_MAX 80

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void put(char *buf, size_t cap, size_t idx, char c)
{
	if (buf && idx + 1 < cap)
		buf[idx] = c;
}

static void terminate(char *buf, size_t cap, size_t len)
{
	if (buf && cap)
		buf[len < cap ? len : cap - 1] = '\0';
}

int cmdline_next(const char **cursor, char *key, size_t klen, char *val, size_t vlen, struct cmdline_word *word)
{
	const char *p = *cursor;
	bool quoted = false, in_val = false;
	size_t kl = 0, vl = 0;

	memset(word, 0, sizeof(*word));
	terminate(key, klen, 0);
	terminate(val, vlen, 0);
	if (!p)
		return 0;
	while (is_space(*p))
		p++;
	*cursor = p;
	if (!*p)
		return 0;

	word->text = p;
	for (; *p && (quoted || !is_space(*p)); p++) {
		if (*p == '"') {
			quoted = !quoted;
		} else if (!in_val && !quoted && *p == '=') {
			in_val = true;
		} else if (in_val) {
			put(val, vlen, vl++, *p);
		} else {
			put(key, klen, kl++, *p);
		}
	}
	terminate(key, klen, kl);
	terminate(val, vlen, vl);
	word->len = (size_t)(p - word->text);
	word->key_len = kl;
	word->val_len = vl;
	word->has_val = in_val;
	*cursor = p;

	if (quoted)
		return -EINVAL;
	if ((key && kl >= klen) || (val && vl >= vlen))
		return -E2BIG;
	return 1;
}

static int digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return 99;
}

int cmdline_parse_u64(const char *s, u64 *out)
{
	unsigned int base = 10, shift = 0;
	bool any = false, overflow = false;
	u64 v = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	for (;; s++) {
		unsigned int d = (unsigned int)digit_value(*s);

		if (d >= base)
			break;
		any = true;
		/* Keep scanning after an overflow so that trailing garbage still reads as malformed. */
		if (v > (UINT64_MAX - d) / base)
			overflow = true;
		else
			v = v * base + d;
	}
	if (!any)
		return -EINVAL;

	switch (*s) {
	case 'k':
	case 'K':
		shift = 10;
		s++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		s++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		s++;
		break;
	}
	if (*s)
		return -EINVAL;
	if (overflow || v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

static char to_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool equal_nocase(const char *a, const char *b)
{
	while (*a && to_lower(*a) == to_lower(*b)) {
		a++;
		b++;
	}
	return to_lower(*a) == to_lower(*b);
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"1", "y", "yes", "on", "true"};
	static const char *const no[] = {"0", "n", "no", "off", "false"};

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (equal_nocase(s, yes[i])) {
			*out = true;
			return 0;
		}
		if (equal_nocase(s, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

static void warn_word(const struct cmdline_word *w, const char *problem)
{
	int n = w->len > MSG_WORD_MAX ? MSG_WORD_MAX : (int)w->len;

	pr_warn("cmdline: '%.*s%s': %s, ignored\n", n, w->text, w->len > MSG_WORD_MAX ? "..." : "", problem);
}

static const struct cmdline_opt *find_opt(const char *key, const struct cmdline_opt *opts, size_t nopts)
{
	for (size_t i = 0; i < nopts; i++)
		if (strcmp(opts[i].name, key) == 0)
			return &opts[i];
	return NULL;
}

/* Re-reads the word at w->text with the value going to val[vlen]; the first pass only measured it. */
static void reread_value(const struct cmdline_word *w, char *val, size_t vlen)
{
	const char *p = w->text;
	struct cmdline_word again;

	cmdline_next(&p, NULL, 0, val, vlen, &again);
}

static int apply_enum(const struct cmdline_opt *opt, const struct cmdline_word *w)
{
	char val[CMDLINE_KEY_MAX + 1], msg[160];
	size_t used;
	int i;

	BUG_ON(!opt->choices);
	if (w->val_len < sizeof(val)) {
		reread_value(w, val, sizeof(val));
		for (i = 0; opt->choices[i]; i++) {
			if (strcmp(opt->choices[i], val) == 0) {
				*(int *)opt->dst = i;
				return 0;
			}
		}
	}

	/* List the choices: a typo is far quicker to fix when the valid spellings are right there. */
	used = (size_t)hv_snprintf(msg, sizeof(msg), "unknown choice, expected one of:");
	for (i = 0; opt->choices[i] && used < sizeof(msg); i++)
		used += (size_t)hv_snprintf(msg + used, sizeof(msg) - used, " %s", opt->choices[i]);
	warn_word(w, msg);
	return -EINVAL;
}

/* Returns 0 if the word was applied, or a negative errno after warning about it. */
static int apply_opt(const struct cmdline_opt *opt, const struct cmdline_word *w)
{
	char val[128], msg[96]; /* val: longer than any sane number, even one with leading zeros */
	u64 v;
	int ret;

	BUG_ON(!opt->dst);
	if (opt->type == CMDLINE_BOOL && !w->has_val) {
		*(bool *)opt->dst = true;
		return 0;
	}
	if (!w->has_val || (w->val_len == 0 && opt->type != CMDLINE_STR)) {
		warn_word(w, "missing value");
		return -EINVAL;
	}

	switch (opt->type) {
	case CMDLINE_BOOL:
		/* Anything longer than the buffer holds cannot be a boolean. */
		if (w->val_len >= sizeof(val)) {
			warn_word(w, "malformed value, expected a boolean");
			return -EINVAL;
		}
		reread_value(w, val, sizeof(val));
		if (parse_bool(val, (bool *)opt->dst) < 0) {
			warn_word(w, "malformed value, expected a boolean");
			return -EINVAL;
		}
		return 0;

	case CMDLINE_U64:
		if (w->val_len >= sizeof(val)) {
			warn_word(w, "malformed number, far too long");
			return -EINVAL;
		}
		reread_value(w, val, sizeof(val));
		ret = cmdline_parse_u64(val, &v);
		if (ret == -EINVAL) {
			warn_word(w, "malformed number");
			return ret;
		}
		if (ret < 0 || v < opt->min || (opt->max && v > opt->max)) {
			hv_snprintf(msg, sizeof(msg), "number out of range [%llu, %llu]", (unsigned long long)opt->min,
				    (unsigned long long)(opt->max ? opt->max : UINT64_MAX));
			warn_word(w, msg);
			return -ERANGE;
		}
		*(u64 *)opt->dst = v;
		return 0;

	case CMDLINE_STR:
		if (w->val_len >= opt->str_len) {
			hv_snprintf(msg, sizeof(msg), "value too long (at most %zu characters)",
				    opt->str_len ? opt->str_len - 1 : 0);
			warn_word(w, msg);
			return -E2BIG;
		}
		reread_value(w, opt->dst, opt->str_len);
		return 0;

	case CMDLINE_ENUM:
		return apply_enum(opt, w);
	}
	BUG();
}

int cmdline_parse(const char *line, const struct cmdline_opt *opts, size_t nopts)
{
	const char *cursor = line;
	int problems = 0;

	for (;;) {
		char key[CMDLINE_KEY_MAX + 1];
		const struct cmdline_opt *opt = NULL;
		struct cmdline_word w;
		int ret;

		/* First pass: the key only; the value is measured and copied once the option says where. */
		ret = cmdline_next(&cursor, key, sizeof(key), NULL, 0, &w);
		if (ret == 0)
			break;
		if (ret == -EINVAL) {
			warn_word(&w, "unterminated quote");
			problems++;
			continue;
		}
		if (ret == 1)
			opt = find_opt(key, opts, nopts);
		if (!opt) {
			warn_word(&w, "unknown option");
			problems++;
			continue;
		}
		if (apply_opt(opt, &w) < 0)
			problems++;
	}
	return problems;
}
