/* See caps_text.h. */
#include "arch/x86/caps_text.h"

#include "hv/compiler.h"
#include "hv/errno.h"
#include "hv/log.h"

void put_str(struct text *t, const char *s)
{
	for (; *s; s++, t->pos++)
		if (t->pos + 1 < t->len)
			t->buf[t->pos] = *s;
	if (t->len)
		t->buf[MIN(t->pos, t->len - 1)] = '\0';
}

void put_num(struct text *t, u64 v, unsigned int base)
{
	char tmp[24];
	size_t i = sizeof(tmp);

	tmp[--i] = '\0';
	do {
		tmp[--i] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (base == 16)
		put_str(t, "0x");
	put_str(t, tmp + i);
}

int caps_check_needs(const char *who, const struct cap_need *need, size_t n)
{
	char msg[320];
	struct text t = {.buf = msg, .len = sizeof(msg)};
	bool ok = true;

	put_str(&t, who);
	put_str(&t, ": CPU lacks required features:");
	for (size_t i = 0; i < n; i++) {
		if (!need[i].ok) {
			put_str(&t, " ");
			put_str(&t, need[i].name);
			ok = false;
		}
	}
	if (ok)
		return 0;
	pr_err("%s\n", msg);
	return -EOPNOTSUPP;
}
