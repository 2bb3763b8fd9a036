/* Formatted output into a caller's buffer, with C99 snprintf semantics, for the console, the log and anything else
 * that needs text. Integer conversions only: the hypervisor has no floating point outside the FPU-state code. */
#ifndef HV_KERNEL_PRINTF_H
#define HV_KERNEL_PRINTF_H

#include <stdarg.h>

#include "hv/compiler.h"
#include "hv/types.h"

/*
 * Supported: flags - 0 + space #; width and precision, either may be *; length modifiers hh h l ll z t j;
 * conversions d i u x X o c s p %. %p prints 0x and 16 hex digits, %s of NULL prints "(null)". Anything else (%n
 * included) is copied to the output as written, so a bad format shows up in the text instead of reading stray
 * arguments.
 *
 * The output is always NUL-terminated when size > 0. Returns the length the full output would have had, not
 * counting the NUL, so a return value >= size means the output was truncated; -EOVERFLOW if that length would not
 * fit in an int.
 */
int hv_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int hv_snprintf(char *buf, size_t size, const char *fmt, ...) __printf(3, 4);

#endif
