/* Freestanding memory and string primitives. GCC may emit calls to memcpy/memset/memmove/memcmp itself, so these
 * carry their standard names. Byte loops with rep-string instructions: simple and fast enough for the hypervisor. */
#include "hv/string.h"

void *memset(void *dst, int c, size_t n)
{
	void *d = dst;

	/* Whole quadwords when the block allows: clearing guest RAM (2 MiB at a time) and page tables is most of what
	 * the hypervisor sets, and emulators (and some CPUs without fast-string microcode) pay per iteration. */
	if (!(((u64)dst | n) & 7)) {
		size_t q = n / 8;
		u64 v = 0x0101010101010101ULL * (u8)c;
		__asm__ __volatile__("rep stosq" : "+D"(d), "+c"(q) : "a"(v) : "memory");
		return dst;
	}
	__asm__ __volatile__("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
	return dst;
}

/* Quadwords, then the tail in bytes: a device's request copies are 4-64 KiB, and emulators (and CPUs without
 * fast-string microcode) pay per iteration; where fast strings exist, MOVSQ gets them as MOVSB does. */
void *memcpy(void *__restrict dst, const void *__restrict src, size_t n)
{
	void *d = dst;
	size_t q = n / 8, r = n & 7;

	__asm__ __volatile__("rep movsq" : "+D"(d), "+S"(src), "+c"(q) : : "memory");
	__asm__ __volatile__("rep movsb" : "+D"(d), "+S"(src), "+c"(r) : : "memory");
	return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	if (d <= s || d >= s + n)
		return memcpy(dst, src, n);
	while (n--)
		d[n] = s[n];
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] - y[i];
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

size_t strnlen(const char *s, size_t max)
{
	size_t n = 0;
	while (n < max && s[n])
		n++;
	return n;
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (unsigned char)*a - (unsigned char)*b;
		if (!*a)
			return 0;
	}
	return 0;
}

char *strchr(const char *s, int c)
{
	for (;; s++) {
		if (*s == (char)c)
			return (char *)s;
		if (!*s)
			return NULL;
	}
}
