/* Unit tests for kernel/cmdline.c: the tokenizer, every option type, every kind of problem (counted and named in the
 * warning), quoting, repeated keys, and hostile lines (huge, unterminated, overflowing numbers). */
#include <stdlib.h>
#include <string.h>

#include "fake_platform.h"
#include "hv/compiler.h"
#include "hv/errno.h"
#include "kernel/cmdline.h"
#include "test.h"

static bool opt_verbose, opt_serial;
static u64 opt_loglevel, opt_mem, opt_any;
static char opt_name[16], opt_big[512];
static int opt_backend;
static const char *const backends[] = {"auto", "vmx", "svm", NULL};

static const struct cmdline_opt opts[] = {
    {.name = "verbose", .type = CMDLINE_BOOL, .dst = &opt_verbose, .help = "chatty boot"},
    {.name = "hv.serial", .type = CMDLINE_BOOL, .dst = &opt_serial, .help = "serial console"},
    {.name = "loglevel", .type = CMDLINE_U64, .dst = &opt_loglevel, .min = 0, .max = 7, .help = "0..7"},
    {.name = "mem", .type = CMDLINE_U64, .dst = &opt_mem, .min = 1, .max = 0, .help = "memory"},
    {.name = "any", .type = CMDLINE_U64, .dst = &opt_any, .help = "any number"},
    {.name = "name", .type = CMDLINE_STR, .dst = opt_name, .str_len = sizeof(opt_name), .help = "a name"},
    {.name = "big", .type = CMDLINE_STR, .dst = opt_big, .str_len = sizeof(opt_big), .help = "a long string"},
    {.name = "hv.backend", .type = CMDLINE_ENUM, .dst = &opt_backend, .choices = backends, .help = "backend"},
};

static int parse(const char *line)
{
	test_last_log[0] = '\0';
	return cmdline_parse(line, opts, ARRAY_SIZE(opts));
}

static void reset_opts(void)
{
	opt_verbose = opt_serial = false;
	opt_loglevel = 4;
	opt_mem = opt_any = 0;
	strcpy(opt_name, "unset");
	opt_big[0] = '\0';
	opt_backend = -1;
}

TEST(cmdline_next_words)
{
	const char *cur = "  a b=c\t\"d e\"=f g=\"h i=j\" k= \n";
	char key[16], val[16];
	struct cmdline_word w;

	CHECK_EQ(cmdline_next(&cur, key, sizeof(key), val, sizeof(val), &w), 1);
	CHECK_STR(key, "a");
	CHECK(!w.has_val);
	CHECK_EQ(w.len, 1);
	CHECK_EQ(cmdline_next(&cur, key, sizeof(key), val, sizeof(val), &w), 1);
	CHECK_STR(key, "b");
	CHECK_STR(val, "c");
	CHECK(w.has_val);
	CHECK_EQ(cmdline_next(&cur, key, sizeof(key), val, sizeof(val), &w), 1);
	CHECK_STR(key, "d e");
	CHECK_STR(val, "f");
	CHECK_EQ(w.len, 7);
	CHECK_EQ(cmdline_next(&cur, key, sizeof(key), val, sizeof(val), &w), 1);
	CHECK_STR(key, "g");
	CHECK_STR(val, "h i=j");
	CHECK_EQ(w.val_len, 5);
	CHECK_EQ(cmdline_next(&cur, key, sizeof(key), val, sizeof(val), &w), 1);
	CHECK_STR(key, "k");
	CHECK_STR(val, "");
	CHECK(w.has_val);
	CHECK_EQ(cmdline_next(&cur, key, sizeof(key), val, sizeof(val), &w), 0);
	CHECK_EQ(cmdline_next(&cur, key, sizeof(key), val, sizeof(val), &w), 0);
}

TEST(cmdline_next_truncates_and_measures)
{
	const char *cur = "averyveryverylongkey=0123456789abcdef x=y";
	char key[8], val[4];
	struct cmdline_word w;

	CHECK_EQ(cmdline_next(&cur, key, sizeof(key), val, sizeof(val), &w), -E2BIG);
	CHECK_STR(key, "averyve");
	CHECK_STR(val, "012");
	CHECK_EQ(w.key_len, 20);
	CHECK_EQ(w.val_len, 16);
	/* Measuring only: a NULL value buffer is not a truncation. */
	CHECK_EQ(cmdline_next(&cur, key, sizeof(key), NULL, 0, &w), 1);
	CHECK_STR(key, "x");
	CHECK_EQ(w.val_len, 1);
	CHECK_EQ(cmdline_next(&cur, key, sizeof(key), NULL, 0, &w), 0);
}

TEST(cmdline_next_unterminated_quote)
{
	const char *cur = "a=1 b=\"oops c=2";
	char key[8], val[16];
	struct cmdline_word w;

	CHECK_EQ(cmdline_next(&cur, key, sizeof(key), val, sizeof(val), &w), 1);
	CHECK_EQ(cmdline_next(&cur, key, sizeof(key), val, sizeof(val), &w), -EINVAL);
	CHECK_EQ(w.len, strlen("b=\"oops c=2"));
	CHECK_EQ(*cur, '\0');
	CHECK_EQ(cmdline_next(&cur, key, sizeof(key), val, sizeof(val), &w), 0);
}

TEST(cmdline_empty_lines)
{
	reset_opts();
	CHECK_EQ(parse(""), 0);
	CHECK_EQ(parse("   \t \n"), 0);
	CHECK_EQ(parse(NULL), 0);
	CHECK_EQ(opt_loglevel, 4);
	CHECK_STR(opt_name, "unset");
}

TEST(cmdline_bool_values)
{
	static const char *const truthy[] = {"1", "y", "yes", "on", "true", "TRUE", "Yes", "ON"};
	static const char *const falsy[] = {"0", "n", "no", "off", "false", "FALSE", "No", "Off"};
	char line[64];

	reset_opts();
	CHECK_EQ(parse("verbose hv.serial"), 0);
	CHECK(opt_verbose && opt_serial);
	for (size_t i = 0; i < ARRAY_SIZE(falsy); i++) {
		snprintf(line, sizeof(line), "verbose=%s", falsy[i]);
		opt_verbose = true;
		CHECK_EQ(parse(line), 0);
		CHECK(!opt_verbose);
		snprintf(line, sizeof(line), "verbose=%s", truthy[i]);
		CHECK_EQ(parse(line), 0);
		CHECK(opt_verbose);
	}
}

TEST(cmdline_bool_malformed)
{
	reset_opts();
	CHECK_EQ(parse("verbose=maybe"), 1);
	CHECK_LAST_LOG("'verbose=maybe'");
	CHECK(!opt_verbose);
	CHECK_EQ(parse("verbose="), 1);
	CHECK_LAST_LOG("'verbose='");
	CHECK_LAST_LOG("missing value");
	CHECK_EQ(parse("verbose=yess"), 1);
	CHECK(!opt_verbose);
}

TEST(cmdline_u64_forms)
{
	reset_opts();
	CHECK_EQ(parse("any=0 loglevel=7"), 0);
	CHECK_EQ(opt_any, 0);
	CHECK_EQ(opt_loglevel, 7);
	CHECK_EQ(parse("any=0x1F"), 0);
	CHECK_EQ(opt_any, 0x1f);
	CHECK_EQ(parse("any=0XdeadBEEF"), 0);
	CHECK_EQ(opt_any, 0xdeadbeef);
	CHECK_EQ(parse("any=4K"), 0);
	CHECK_EQ(opt_any, 4096);
	CHECK_EQ(parse("any=3m"), 0);
	CHECK_EQ(opt_any, 3ULL << 20);
	CHECK_EQ(parse("mem=2G"), 0);
	CHECK_EQ(opt_mem, 2ULL << 30);
	CHECK_EQ(parse("any=0x10M"), 0);
	CHECK_EQ(opt_any, 16ULL << 20);
	CHECK_EQ(parse("any=\"12\""), 0);
	CHECK_EQ(opt_any, 12);
	CHECK_EQ(parse("any=18446744073709551615"), 0);
	CHECK_EQ(opt_any, UINT64_MAX);
	CHECK_EQ(parse("any=0xffffffffffffffff"), 0);
	CHECK_EQ(opt_any, UINT64_MAX);
	CHECK_EQ(parse("any=17179869183G"), 0); /* (2^34 - 1) << 30 still fits */
	CHECK_EQ(opt_any, 17179869183ULL << 30);
	CHECK_EQ(parse("any=000000000000000000000000000000000042"), 0);
	CHECK_EQ(opt_any, 42);
}

TEST(cmdline_u64_malformed)
{
	static const char *const bad[] = {"any=abc", "any=12x", "any=-1", "any=+1", "any=0x",	    "any=0xg",
					  "any=1KK", "any=1.5", "any= ",  "any=1T", "any=0x1_0000", "any=K"};
	reset_opts();
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		opt_any = 77;
		int n = parse(bad[i]);
		/* "any= " is a word with an empty value. */
		CHECK_EQ(n, 1);
		CHECK_EQ(opt_any, 77);
		CHECK(strstr(test_last_log, "'any=") != NULL);
	}
	CHECK_EQ(parse("any=12x"), 1);
	CHECK_LAST_LOG("'any=12x'");
	CHECK_LAST_LOG("malformed");
	CHECK_EQ(parse("any"), 1);
	CHECK_LAST_LOG("'any'");
	CHECK_LAST_LOG("missing value");
}

TEST(cmdline_u64_overflow)
{
	static const char *const huge[] = {"any=18446744073709551616", "any=99999999999999999999999",
					   "any=0x10000000000000000",  "any=0x1ffffffffffffffff",
					   "any=20000000000G",	       "any=17179869184G",
					   "any=18014398509481984K",   "any=17592186044416M"};
	reset_opts();
	for (size_t i = 0; i < ARRAY_SIZE(huge); i++) {
		opt_any = 5;
		CHECK_EQ(parse(huge[i]), 1);
		CHECK_EQ(opt_any, 5);
		CHECK_LAST_LOG(huge[i]);
		CHECK_LAST_LOG("out of range");
	}
	u64 v;
	CHECK_EQ(cmdline_parse_u64("18446744073709551616", &v), -ERANGE);
	CHECK_EQ(cmdline_parse_u64("18446744073709551616q", &v), -EINVAL);
	CHECK_EQ(cmdline_parse_u64("16G", &v), 0);
	CHECK_EQ(v, 16ULL << 30);
}

TEST(cmdline_u64_bounds)
{
	reset_opts();
	CHECK_EQ(parse("loglevel=8"), 1);
	CHECK_LAST_LOG("'loglevel=8'");
	CHECK_LAST_LOG("[0, 7]");
	CHECK_EQ(opt_loglevel, 4);
	CHECK_EQ(parse("mem=0"), 1);
	CHECK_LAST_LOG("'mem=0'");
	CHECK_EQ(opt_mem, 0);
	CHECK_EQ(parse("mem=1"), 0);
	CHECK_EQ(opt_mem, 1);
	CHECK_EQ(parse("loglevel=0x7"), 0);
	CHECK_EQ(opt_loglevel, 7);
}

TEST(cmdline_strings)
{
	reset_opts();
	CHECK_EQ(parse("name=hello"), 0);
	CHECK_STR(opt_name, "hello");
	CHECK_EQ(parse("name=\"two words\""), 0);
	CHECK_STR(opt_name, "two words");
	CHECK_EQ(parse("name=\"a=b c\" verbose"), 0);
	CHECK_STR(opt_name, "a=b c");
	CHECK(opt_verbose);
	CHECK_EQ(parse("name="), 0);
	CHECK_STR(opt_name, "");
	CHECK_EQ(parse("name=\"\""), 0);
	CHECK_STR(opt_name, "");
	CHECK_EQ(parse("name=abc\"d e\"f"), 0); /* quotes may open mid-word */
	CHECK_STR(opt_name, "abcd ef");
	CHECK_EQ(parse("name=123456789012345"), 0); /* exactly fills 15 + NUL */
	CHECK_STR(opt_name, "123456789012345");
}

TEST(cmdline_string_too_long_or_missing)
{
	reset_opts();
	strcpy(opt_name, "keep");
	CHECK_EQ(parse("name=1234567890123456"), 1);
	CHECK_STR(opt_name, "keep");
	CHECK_LAST_LOG("'name=1234567890123456'");
	CHECK_LAST_LOG("too long");
	CHECK_EQ(parse("name"), 1);
	CHECK_STR(opt_name, "keep");
	CHECK_LAST_LOG("'name'");
	CHECK_LAST_LOG("missing value");
}

TEST(cmdline_enum)
{
	reset_opts();
	CHECK_EQ(parse("hv.backend=svm"), 0);
	CHECK_EQ(opt_backend, 2);
	CHECK_EQ(parse("hv.backend=auto"), 0);
	CHECK_EQ(opt_backend, 0);
	CHECK_EQ(parse("hv.backend=VMX"), 1);
	CHECK_EQ(opt_backend, 0);
	CHECK_LAST_LOG("'hv.backend=VMX'");
	CHECK_LAST_LOG("auto vmx svm");
	CHECK_EQ(parse("hv.backend"), 1);
	CHECK_LAST_LOG("missing value");
	CHECK_EQ(parse("hv.backend="), 1);
	CHECK_LAST_LOG("'hv.backend='");
	CHECK_EQ(opt_backend, 0);
}

TEST(cmdline_unknown_keys)
{
	reset_opts();
	CHECK_EQ(parse("bogus"), 1);
	CHECK_LAST_LOG("'bogus'");
	CHECK_LAST_LOG("unknown option");
	CHECK_EQ(parse("verbos=1"), 1);
	CHECK_LAST_LOG("'verbos=1'");
	CHECK_EQ(parse("=5"), 1); /* empty key */
	CHECK_LAST_LOG("'=5'");
	CHECK_EQ(parse("VERBOSE"), 1); /* keys are case-sensitive */
	CHECK(!opt_verbose);
}

TEST(cmdline_unterminated_quote)
{
	reset_opts();
	CHECK_EQ(parse("loglevel=2 name=\"never closed verbose"), 1);
	CHECK_EQ(opt_loglevel, 2);
	CHECK_STR(opt_name, "unset");
	CHECK(!opt_verbose); /* swallowed into the broken word */
	CHECK_LAST_LOG("unterminated quote");
	CHECK_LAST_LOG("name=\"never closed verbose");
}

TEST(cmdline_problems_do_not_stop_the_line)
{
	reset_opts();
	CHECK_EQ(parse("bogus loglevel=99 verbose name=ok any=zz hv.backend=nope mem=1M hv.serial=off"), 4);
	CHECK(opt_verbose);
	CHECK_STR(opt_name, "ok");
	CHECK_EQ(opt_mem, 1ULL << 20);
	CHECK_EQ(opt_loglevel, 4);
	CHECK_EQ(opt_any, 0);
	CHECK_EQ(opt_backend, -1);
	CHECK(!opt_serial);
}

TEST(cmdline_repeated_keys_last_wins)
{
	reset_opts();
	CHECK_EQ(parse("loglevel=1 loglevel=3 name=a name=b verbose verbose=no hv.backend=vmx hv.backend=svm"), 0);
	CHECK_EQ(opt_loglevel, 3);
	CHECK_STR(opt_name, "b");
	CHECK(!opt_verbose);
	CHECK_EQ(opt_backend, 2);
	/* A bad later word does not undo a good earlier one. */
	CHECK_EQ(parse("loglevel=5 loglevel=50"), 1);
	CHECK_EQ(opt_loglevel, 5);
}

TEST(cmdline_very_long_lines)
{
	size_t n = 64 * 1024;
	char *line = malloc(n + 1);
	size_t pos = 0;

	reset_opts();
	/* Thousands of words, with a good one at the very end. */
	while (pos + 16 < n - 64)
		pos += (size_t)snprintf(line + pos, n - pos, "verbose=1 any=%zu ", pos);
	pos += (size_t)snprintf(line + pos, n - pos, "loglevel=6");
	CHECK_EQ(parse(line), 0);
	CHECK_EQ(opt_loglevel, 6);
	CHECK(opt_verbose);

	/* One enormous key, then one enormous value of each type. */
	memset(line, 'k', n);
	line[n] = '\0';
	CHECK_EQ(parse(line), 1);
	CHECK_LAST_LOG("'kkkkkkkkkkkkkkkkkkkk");
	CHECK_LAST_LOG("...");
	CHECK(strlen(test_last_log) < 200);

	static const char *const prefixes[] = {"big=", "any=", "verbose=", "hv.backend=", "name=\""};
	for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++) {
		memset(line, '9', n);
		memcpy(line, prefixes[i], strlen(prefixes[i]));
		line[n] = '\0';
		CHECK_EQ(parse(line), 1);
		CHECK_LAST_LOG(prefixes[i]);
	}
	CHECK_EQ(opt_big[0], '\0');

	/* A long value that does fit. */
	memset(line, 'v', n);
	memcpy(line, "big=", 4);
	line[4 + sizeof(opt_big) - 1] = '\0';
	CHECK_EQ(parse(line), 0);
	CHECK_EQ(strlen(opt_big), sizeof(opt_big) - 1);
	free(line);
}
