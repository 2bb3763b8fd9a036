/* Unit tests for kernel/printf.c. Where C pins the behaviour down, the host libc's snprintf is the oracle, run over
 * generated tables of flags, widths, precisions, length modifiers and boundary values; our own choices (%p, NULL
 * strings, unknown conversions) are checked against literal expectations. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/printf.h"
#include "test.h"

/* Runs both implementations on the same format and arguments, through a buffer with guard bytes either side. */
static void __attribute__((format(printf, 4, 5)))
compare_at(const char *file, int line, size_t size, const char *fmt, ...)
{
	char want[512], got[512 + 16];
	va_list ap, ap2;
	int nw, ng;

	va_start(ap, fmt);
	va_copy(ap2, ap);
	nw = vsnprintf(want, size, fmt, ap);
	memset(got, 0x5a, sizeof(got));
	ng = hv_vsnprintf(got + 8, size, fmt, ap2);
	va_end(ap2);
	va_end(ap);

	if (nw != ng)
		test_fail(file, line, "format \"%s\" size %zu: returned %d, libc %d", fmt, size, ng, nw);
	if (size && strcmp(want, got + 8) != 0)
		test_fail(file, line, "format \"%s\" size %zu: \"%s\", libc \"%s\"", fmt, size, got + 8, want);
	for (int i = 0; i < 8; i++)
		if ((unsigned char)got[i] != 0x5a)
			test_fail(file, line, "format \"%s\": wrote before the buffer", fmt);
	for (size_t i = 8 + size; i < sizeof(got); i++)
		if ((unsigned char)got[i] != 0x5a)
			test_fail(file, line, "format \"%s\" size %zu: wrote past the buffer", fmt, size);
}

#define CMP(...)	    compare_at(__FILE__, __LINE__, 512, __VA_ARGS__)
#define CMP_SIZE(size, ...) compare_at(__FILE__, __LINE__, size, __VA_ARGS__)

static const char *const flag_sets[] = {"", "-", "0", "+", " ", "#", "-0", "+ ", "0#", "-+#", "0+", " 0#", "-0+ #"};
static const char *const widths[] = {"", "1", "2", "7", "23", "40"};
static const char *const precs[] = {"", ".", ".0", ".1", ".5", ".25"};
static const char conversions[] = "diuxXo";

/* Calls fn(fmt) for every combination of flags, width, precision and conversion, with the given length modifier. */
static void for_each_int_format(const char *lenmod, void (*fn)(const char *fmt))
{
	char fmt[64];

	for (size_t f = 0; f < ARRAY_SIZE(flag_sets); f++)
		for (size_t w = 0; w < ARRAY_SIZE(widths); w++)
			for (size_t p = 0; p < ARRAY_SIZE(precs); p++)
				for (const char *c = conversions; *c; c++) {
					snprintf(fmt, sizeof(fmt), "<%%%s%s%s%s%c>", flag_sets[f], widths[w], precs[p],
						 lenmod, *c);
					fn(fmt);
				}
}

static const int int_values[] = {0,   1,   -1,	7,    8,    9,	  10,	     15,      16,      42,
				 -42, 255, 256, -256, 0x7f, 4096, 123456789, INT_MAX, INT_MIN, INT_MIN + 1};
static const long long ll_values[] = {0,
				      1,
				      -1,
				      8,
				      16,
				      0x7fffffffLL,
				      0x80000000LL,
				      -0x80000000LL,
				      0xffffffffLL,
				      1234567890123LL,
				      -1234567890123LL,
				      INT64_MAX,
				      INT64_MIN,
				      (long long)UINT64_MAX};

static void int_fmt(const char *fmt)
{
	for (size_t i = 0; i < ARRAY_SIZE(int_values); i++)
		CMP(fmt, int_values[i]);
}

static void hh_fmt(const char *fmt)
{
	static const int v[] = {0, 1, -1, 127, 128, -128, -129, 255, 256, 300, -300, INT_MIN, INT_MAX};
	for (size_t i = 0; i < ARRAY_SIZE(v); i++)
		CMP(fmt, v[i]);
}

static void h_fmt(const char *fmt)
{
	static const int v[] = {0, 1, -1, 32767, 32768, -32768, -32769, 65535, 65536, 70000, INT_MIN, INT_MAX};
	for (size_t i = 0; i < ARRAY_SIZE(v); i++)
		CMP(fmt, v[i]);
}

static void l_fmt(const char *fmt)
{
	for (size_t i = 0; i < ARRAY_SIZE(ll_values); i++)
		CMP(fmt, (long)ll_values[i]);
}

static void ll_fmt(const char *fmt)
{
	for (size_t i = 0; i < ARRAY_SIZE(ll_values); i++)
		CMP(fmt, ll_values[i]);
}

static void z_fmt(const char *fmt)
{
	for (size_t i = 0; i < ARRAY_SIZE(ll_values); i++)
		CMP(fmt, (size_t)ll_values[i]);
}

static void t_fmt(const char *fmt)
{
	for (size_t i = 0; i < ARRAY_SIZE(ll_values); i++)
		CMP(fmt, (ptrdiff_t)ll_values[i]);
}

static void j_fmt(const char *fmt)
{
	for (size_t i = 0; i < ARRAY_SIZE(ll_values); i++)
		CMP(fmt, (intmax_t)ll_values[i]);
}

TEST(printf_int_table)
{
	for_each_int_format("", int_fmt);
}

TEST(printf_hh_h_table)
{
	for_each_int_format("hh", hh_fmt);
	for_each_int_format("h", h_fmt);
}

TEST(printf_l_ll_table)
{
	for_each_int_format("l", l_fmt);
	for_each_int_format("ll", ll_fmt);
}

TEST(printf_z_t_j_table)
{
	for_each_int_format("z", z_fmt);
	for_each_int_format("t", t_fmt);
	for_each_int_format("j", j_fmt);
}

TEST(printf_extremes)
{
	CMP("%lld %lld %llu %llx %llo", (long long)INT64_MIN, (long long)INT64_MAX, (unsigned long long)UINT64_MAX,
	    (unsigned long long)UINT64_MAX, (unsigned long long)UINT64_MAX);
	CMP("%d %d %u %x %X %o", INT_MIN, INT_MAX, UINT_MAX, UINT_MAX, UINT_MAX, UINT_MAX);
	CMP("%#llo %#llx %#llX", (unsigned long long)UINT64_MAX, (unsigned long long)UINT64_MAX,
	    (unsigned long long)UINT64_MAX);
	CMP("%+.30lld|%-+40lld|%040lld", (long long)INT64_MIN, (long long)INT64_MIN, (long long)INT64_MIN);
	CMP("%.200d", 5);
	CMP("%300d|", -5);
	CMP("%-300x|", 0xabcu);
}

TEST(printf_star_width_precision)
{
	static const int ws[] = {-30, -5, -1, 0, 1, 5, 30};
	for (size_t i = 0; i < ARRAY_SIZE(ws); i++) {
		for (size_t j = 0; j < ARRAY_SIZE(ws); j++) {
			CMP("[%*d]", ws[i], 1234);
			CMP("[%-*d]", ws[i], -1234);
			CMP("[%0*d]", ws[i], -1234);
			CMP("[%.*d]", ws[j], 0);
			CMP("[%*.*x]", ws[i], ws[j], 0xbeefu);
			CMP("[%#*.*o]", ws[i], ws[j], 0u);
			CMP("[%*.*s]", ws[i], ws[j], "hypervisor");
			CMP("[%*c]", ws[i], 'q');
		}
	}
}

TEST(printf_strings_and_chars)
{
	static const char *const strs[] = {"", "a", "hello", "a rather longer string, past widths"};
	static const char *const sfmts[] = {"[%s]",    "[%10s]",   "[%-10s]", "[%.0s]", "[%.3s]",
					    "[%8.3s]", "[%-8.3s]", "[%.40s]", "[%1s]"};
	for (size_t i = 0; i < ARRAY_SIZE(strs); i++)
		for (size_t f = 0; f < ARRAY_SIZE(sfmts); f++)
			CMP(sfmts[f], strs[i]);
	CMP("%c%c%c", 'a', 0x7f, 0xe9);
	CMP("[%5c][%-5c][%1c]", 'x', 'y', 'z');
	CMP("100%% sure, %d%%", 99);
	CMP("plain text, no conversions");
	CMP("%s=%d %s=%#x", "a", 1, "b", 2u);
}

TEST(printf_precision_does_not_read_past_string)
{
	/* Not terminated: only as many bytes as the precision allows may be read (ASan watches the heap copy). */
	char *s = malloc(4);
	memcpy(s, "abcd", 4);
	char buf[16];
	CHECK_EQ(hv_snprintf(buf, sizeof(buf), "%.4s|%.2s", s, s), 7);
	CHECK_STR(buf, "abcd|ab");
	free(s);
}

TEST(printf_truncation_every_size)
{
	static const char *const strs[] = {"", "x", "hello, world", "0123456789abcdefghijklmnopqrstuvwxyz"};
	for (size_t i = 0; i < ARRAY_SIZE(strs); i++) {
		size_t n = strlen(strs[i]) + 12;
		for (size_t size = 0; size <= n + 2; size++) {
			CMP_SIZE(size, "%s", strs[i]);
			CMP_SIZE(size, "<%s|%-4d>", strs[i], -7);
			CMP_SIZE(size, "%#llx%s", (unsigned long long)UINT64_MAX, strs[i]);
		}
	}
}

TEST(printf_size_zero_and_null_buffer)
{
	char b[4] = "zzz";
	CHECK_EQ(hv_snprintf(NULL, 0, "%d-%s", 12345, "abc"), 9);
	CHECK_EQ(hv_snprintf(b, 0, "%d", 12345), 5);
	CHECK_STR(b, "zzz"); /* size 0: nothing written, not even the NUL */
	CHECK_EQ(hv_snprintf(b, 1, "%d", 12345), 5);
	CHECK_EQ(b[0], 0);
}

TEST(printf_pointer)
{
	char buf[64];
	CHECK_EQ(hv_snprintf(buf, sizeof(buf), "%p", (void *)0x1234), 18);
	CHECK_STR(buf, "0x0000000000001234");
	hv_snprintf(buf, sizeof(buf), "%p", NULL);
	CHECK_STR(buf, "0x0000000000000000");
	hv_snprintf(buf, sizeof(buf), "%p", (void *)UINTPTR_MAX);
	CHECK_STR(buf, "0xffffffffffffffff");
	hv_snprintf(buf, sizeof(buf), "[%20p][%-20p]", (void *)0xffff800000000000ULL, (void *)0xabc);
	CHECK_STR(buf, "[  0xffff800000000000][0x0000000000000abc  ]");
}

TEST(printf_null_string)
{
	/* Through a volatile, or the compiler rejects the call at build time. */
	const char *volatile null_str = NULL;
	char buf[32];
	CHECK_EQ(hv_snprintf(buf, sizeof(buf), "<%s>", null_str), 8);
	CHECK_STR(buf, "<(null)>");
	hv_snprintf(buf, sizeof(buf), "<%8s>", null_str);
	CHECK_STR(buf, "<  (null)>");
}

/* Unknown conversions go through a non-literal format so the compiler's format checker lets them by. */
static int fmt_nonliteral(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;
	va_start(ap, fmt);
	n = hv_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

TEST(printf_unknown_conversions_literal)
{
	char buf[64];
	int dummy = 0;

	CHECK_EQ(fmt_nonliteral(buf, sizeof(buf), "a%qb"), 4);
	CHECK_STR(buf, "a%qb");
	fmt_nonliteral(buf, sizeof(buf), "[%-5k]");
	CHECK_STR(buf, "[%-5k]");
	/* %n must never write through an argument. */
	CHECK_EQ(fmt_nonliteral(buf, sizeof(buf), "x%ny", &dummy), 4);
	CHECK_STR(buf, "x%ny");
	CHECK_EQ(dummy, 0);
	fmt_nonliteral(buf, sizeof(buf), "%f %d", 7);
	CHECK_STR(buf, "%f 7");
	CHECK_EQ(fmt_nonliteral(buf, sizeof(buf), "end%"), 4);
	CHECK_STR(buf, "end%");
	fmt_nonliteral(buf, sizeof(buf), "%lq");
	CHECK_STR(buf, "%lq");
}
