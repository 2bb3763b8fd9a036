/* Text for the virtualization capability reports of both backends (vmx_caps.c, svm_caps.c): a cursor that counts
 * what would have been written (snprintf-style) and never writes past len - 1, and the one "CPU lacks required
 * features" check. kernel/printf.c is not leaned on, so the reports build and run in the host unit tests as they are;
 * they need only strings and integers. */
#ifndef ARCH_X86_CAPS_TEXT_H
#define ARCH_X86_CAPS_TEXT_H

#include "hv/types.h"

struct text {
	char *buf;
	size_t len;
	size_t pos;
};

void put_str(struct text *t, const char *s);
/* Base 10, or base 16 with a 0x prefix. */
void put_num(struct text *t, u64 v, unsigned int base);

struct cap_need {
	bool ok;
	const char *name;
};

/* 0 when every entry is ok; otherwise one error line "<who>: CPU lacks required features: NAME NAME..." naming each
 * entry that is not, and -EOPNOTSUPP. */
int caps_check_needs(const char *who, const struct cap_need *need, size_t n);

#endif
