/* The hypervisor command line (and per-VM module command lines): space-separated `key=value` or bare `key` words,
 * values optionally double-quoted to hold spaces. A tokenizer for any user, and a table-driven parser on top of it
 * that applies what it recognises and reports, without stopping, everything it does not. */
#ifndef HV_KERNEL_CMDLINE_H
#define HV_KERNEL_CMDLINE_H

#include "hv/types.h"

/* Longest option name cmdline_parse can match, excluding the NUL. */
#define CMDLINE_KEY_MAX 63

enum cmdline_type { CMDLINE_BOOL, CMDLINE_U64, CMDLINE_STR, CMDLINE_ENUM };

struct cmdline_opt {
	const char *name; /* e.g. "loglevel", "hv.backend"; at most CMDLINE_KEY_MAX characters */
	enum cmdline_type type;
	void *dst;		    /* bool*, u64*, char[str_len], or int* for ENUM (index into choices) */
	u64 min, max;		    /* U64 bounds, inclusive; max == 0 means no upper bound */
	size_t str_len;		    /* STR capacity including NUL */
	const char *const *choices; /* ENUM: NULL-terminated names */
	const char *help;	    /* one line, for documentation */
};

/* One word as cmdline_next found it. */
struct cmdline_word {
	const char *text; /* the word as written, quotes included; not NUL-terminated; for messages */
	size_t len;
	size_t key_len; /* full length of the key and of the value, quotes removed, even if the buffers were smaller */
	size_t val_len;
	bool has_val; /* an '=' was present; the value may still be empty */
};

/*
 * Reads the word at *cursor and moves *cursor past it. Whitespace separates words; a double quote anywhere in a word
 * starts or ends a quoted run in which whitespace and '=' are ordinary characters, and the quotes themselves are
 * dropped. The key (up to the first unquoted '=') goes to key[klen] and the value to val[vlen], both NUL-terminated
 * and truncated if need be; val may be NULL with vlen 0 to only measure the value (word->val_len).
 *
 * Returns 1 for a word, 0 at the end of the line, -E2BIG if the key or (with val non-NULL) the value was truncated,
 * -EINVAL for an unterminated quote (the word then runs to the end of the line). On an error *cursor still moves on,
 * so a caller can report the word and carry on with the next.
 */
int cmdline_next(const char **cursor, char *key, size_t klen, char *val, size_t vlen, struct cmdline_word *word);

/*
 * Applies every recognised word of `line` to its option's dst; returns the number of problems, each pr_warn'ed with
 * the word at fault: unknown key, missing or malformed value, out-of-range number, unknown enum choice, over-long
 * string, unterminated quote. A problem never stops the rest of the line from being applied, and a word with a
 * problem leaves its dst untouched. Keys may repeat: the last good one wins. A NULL line is an empty one.
 *
 * BOOL: bare key (true), or =1/0/y/n/yes/no/on/off/true/false in any case.
 * U64: decimal or 0x hex, optionally followed by K, M or G (binary multiples); overflow is out of range.
 * STR: any value, including an empty one, that fits str_len with its NUL.
 * ENUM: one of choices exactly; dst gets its index.
 */
int cmdline_parse(const char *line, const struct cmdline_opt *opts, size_t nopts);

/* Parses a whole U64 value as cmdline_parse does: 0, -EINVAL if malformed, -ERANGE on overflow. */
int cmdline_parse_u64(const char *s, u64 *out);

#endif
