/* The freestanding string and memory primitives. The hypervisor implements them in kernel/string.c; host unit tests
 * take libc's, whose prototypes are the same. */
#ifndef HV_STRING_H
#define HV_STRING_H

#include "hv/types.h"

void *memset(void *dst, int c, size_t n);
void *memcpy(void *__restrict dst, const void *__restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);

#endif
