/* The working-set estimator's generations and report (see ws.h): pure arithmetic over the per-page age bytes, so
 * host unit tests check it exactly. */
#include "vm/ws.h"
#include "hv/compiler.h"
#include "kernel/printf.h"

void ws_gen_update(u8 *age, const u64 *young, u64 n)
{
	for (u64 i = 0; i < n; i++) {
		if (young[i / 64] & (1ULL << (i % 64)))
			age[i] = 1;
		else if (age[i] != WS_AGE_NEVER && age[i] != WS_AGE_MAX)
			age[i]++;
	}
}

bool ws_gen_is_cold(const u8 *age, u64 n, u8 min_age)
{
	for (u64 i = 0; i < n; i++)
		if (age[i] != WS_AGE_NEVER && age[i] < min_age)
			return false;
	return true;
}

void ws_gen_count(const u8 *age, u64 n, struct ws_report *r)
{
	for (u64 i = 0; i < n; i++) {
		u8 a = age[i];

		if (a == WS_AGE_NEVER) {
			r->never++;
			continue;
		}
		if (a > 1u << (WS_BUCKETS - 1)) {
			r->idle++;
			continue;
		}
		/* Cumulative: a page seen a scans ago counts in every bucket 2^b >= a. */
		for (int b = WS_BUCKETS - 1; b >= 0 && a <= 1u << b; b--)
			r->young[b]++;
	}
	r->pages += n;
}

static int fmt_kib(char *buf, size_t len, u64 pages)
{
	u64 kib = pages * 4;

	if (kib >= 1024 && !(kib % 1024))
		return hv_snprintf(buf, len, "%llu MiB", (unsigned long long)(kib / 1024));
	return hv_snprintf(buf, len, "%llu KiB", (unsigned long long)kib);
}

int ws_report_format(char *buf, size_t len, const char *name, u64 interval_us, const struct ws_report *r)
{
	size_t n = 0;
	char sz[32];

#define PUT(...)                                                                                                       \
	do {                                                                                                           \
		int k_ = hv_snprintf(buf + MIN(n, len), n < len ? len - n : 0, __VA_ARGS__);                           \
		if (k_ > 0)                                                                                            \
			n += (size_t)k_;                                                                               \
	} while (0)
	if (interval_us % 1000000 == 0)
		PUT("vm %s: working set after %llu scans every %llu s:", name, (unsigned long long)r->scans,
		    (unsigned long long)(interval_us / 1000000));
	else if (interval_us % 1000 == 0)
		PUT("vm %s: working set after %llu scans every %llu ms:", name, (unsigned long long)r->scans,
		    (unsigned long long)(interval_us / 1000));
	else
		PUT("vm %s: working set after %llu scans every %llu us:", name, (unsigned long long)r->scans,
		    (unsigned long long)interval_us);
	for (int b = 0; b < WS_BUCKETS; b++) {
		fmt_kib(sz, sizeof(sz), r->young[b]);
		PUT("%s %u: %s", b ? "," : " touched in the last", 1u << b, sz);
	}
	fmt_kib(sz, sizeof(sz), r->idle);
	PUT("; idle longer %s", sz);
	fmt_kib(sz, sizeof(sz), r->never);
	PUT(", never touched %s", sz);
	fmt_kib(sz, sizeof(sz), r->pages);
	PUT(", of %s", sz);
	if (r->reclaimed || r->refaulted)
		PUT("; reclaimed %llu pages, refaulted %llu", (unsigned long long)r->reclaimed,
		    (unsigned long long)r->refaulted);
	PUT("\n");
#undef PUT
	return (int)n;
}

