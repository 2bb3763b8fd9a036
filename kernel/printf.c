/* hv_vsnprintf: a freestanding, integer-only snprintf. The output position keeps counting past the end of the buffer
 * so that the return value is what C99 asks for (the untruncated length), which callers use to size a retry or to
 * detect truncation. */
#include <limits.h>

#include "kernel/printf.h"
#include "hv/errno.h"
#include "hv/string.h"

#define FL_LEFT	 BIT(0) /* '-' */
#define FL_ZERO	 BIT(1) /* '0' */
#define FL_PLUS	 BIT(2) /* '+' */
#define FL_SPACE BIT(3) /* ' ' */
#define FL_ALT	 BIT(4) /* '#' */

struct out {
	char *buf;
	size_t size;
	size_t pos; /* characters produced so far, including those that did not fit */
};

struct spec {
	unsigned int flags;
	int width;
	int prec; /* -1 when no precision was given */
};

static void out_char(struct out *o, char c)
{
	if (o->size && o->pos < o->size - 1)
		o->buf[o->pos] = c;
	o->pos++;
}

static void out_repeat(struct out *o, char c, size_t n)
{
	while (n--)
		out_char(o, c);
}

static void out_mem(struct out *o, const char *s, size_t n)
{
	while (n--)
		out_char(o, *s++);
}

static size_t pad_needed(const struct spec *sp, size_t len)
{
	return (size_t)sp->width > len ? (size_t)sp->width - len : 0;
}

/* A body of `len` characters, padded with spaces to the field width on the side the '-' flag chooses. */
static void out_field(struct out *o, const struct spec *sp, const char *s, size_t len)
{
	size_t pad = pad_needed(sp, len);

	if (!(sp->flags & FL_LEFT))
		out_repeat(o, ' ', pad);
	out_mem(o, s, len);
	if (sp->flags & FL_LEFT)
		out_repeat(o, ' ', pad);
}

/*
 * Field layout: [spaces] [sign] [0x] [zeros] digits [spaces]. The zeros come from the precision (minimum digit count)
 * or, when no precision is given and the '0' flag is, from the field width.
 */
static void out_number(struct out *o, const struct spec *sp, u64 v, bool negative, unsigned int base, bool upper)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24]; /* 22 octal digits hold 2^64 - 1 */
	size_t nd = 0, nzeros = 0, len, pad;
	const char *prefix = "";
	char sign = 0;

	if (!(sp->prec == 0 && v == 0)) {
		do {
			tmp[sizeof(tmp) - 1 - nd++] = digits[v % base];
			v /= base;
		} while (v);
	}

	if (negative)
		sign = '-';
	else if (sp->flags & FL_PLUS)
		sign = '+';
	else if (sp->flags & FL_SPACE)
		sign = ' ';

	if ((sp->flags & FL_ALT) && base == 16 && nd && tmp[sizeof(tmp) - nd] != '0')
		prefix = upper ? "0X" : "0x";
	/* '#' with octal: the first digit must be a zero; a precision long enough already supplies one. */
	if ((sp->flags & FL_ALT) && base == 8 && (nd == 0 || tmp[sizeof(tmp) - nd] != '0'))
		nzeros = 1;
	if (sp->prec > (int)nd)
		nzeros = (size_t)sp->prec - nd;
	len = (sign ? 1 : 0) + strlen(prefix) + nzeros + nd;
	pad = pad_needed(sp, len);
	if ((sp->flags & FL_ZERO) && !(sp->flags & FL_LEFT) && sp->prec < 0) {
		nzeros += pad;
		pad = 0;
	}

	if (!(sp->flags & FL_LEFT))
		out_repeat(o, ' ', pad);
	if (sign)
		out_char(o, sign);
	out_mem(o, prefix, strlen(prefix));
	out_repeat(o, '0', nzeros);
	out_mem(o, tmp + sizeof(tmp) - nd, nd);
	if (sp->flags & FL_LEFT)
		out_repeat(o, ' ', pad);
}

/* Parses a decimal field at *p, saturating rather than overflowing on absurd widths. */
static int parse_decimal(const char **p)
{
	int v = 0;

	while (**p >= '0' && **p <= '9') {
		if (v < 100000000)
			v = v * 10 + (**p - '0');
		(*p)++;
	}
	return v;
}

enum length { LEN_INT, LEN_HH, LEN_H, LEN_L, LEN_LL, LEN_Z, LEN_T, LEN_J };

static s64 arg_signed(va_list *ap, enum length len)
{
	switch (len) {
	case LEN_HH:
		return (signed char)va_arg(*ap, int);
	case LEN_H:
		return (short)va_arg(*ap, int);
	case LEN_L:
		return va_arg(*ap, long);
	case LEN_LL:
		return va_arg(*ap, long long);
	case LEN_Z:
		/* The signed type corresponding to size_t. */
		return (s64)va_arg(*ap, size_t);
	case LEN_T:
		return va_arg(*ap, ptrdiff_t);
	case LEN_J:
		return va_arg(*ap, intmax_t);
	default:
		return va_arg(*ap, int);
	}
}

static u64 arg_unsigned(va_list *ap, enum length len)
{
	switch (len) {
	case LEN_HH:
		return (unsigned char)va_arg(*ap, unsigned int);
	case LEN_H:
		return (unsigned short)va_arg(*ap, unsigned int);
	case LEN_L:
		return va_arg(*ap, unsigned long);
	case LEN_LL:
		return va_arg(*ap, unsigned long long);
	case LEN_Z:
		return va_arg(*ap, size_t);
	case LEN_T:
		/* The unsigned type corresponding to ptrdiff_t. */
		return (u64)va_arg(*ap, ptrdiff_t);
	case LEN_J:
		return va_arg(*ap, uintmax_t);
	default:
		return va_arg(*ap, unsigned int);
	}
}

static enum length parse_length(const char **p)
{
	switch (**p) {
	case 'h':
		if ((*p)[1] == 'h') {
			*p += 2;
			return LEN_HH;
		}
		(*p)++;
		return LEN_H;
	case 'l':
		if ((*p)[1] == 'l') {
			*p += 2;
			return LEN_LL;
		}
		(*p)++;
		return LEN_L;
	case 'z':
		(*p)++;
		return LEN_Z;
	case 't':
		(*p)++;
		return LEN_T;
	case 'j':
		(*p)++;
		return LEN_J;
	default:
		return LEN_INT;
	}
}

int hv_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap_in)
{
	struct out o = {.buf = buf, .size = size, .pos = 0};
	va_list ap;

	/* A va_list may be an array type; copying it lets helpers take a plain pointer to it on every ABI. */
	va_copy(ap, ap_in);
	while (*fmt) {
		const char *start = fmt;
		struct spec sp = {.flags = 0, .width = 0, .prec = -1};
		enum length len;
		const char *s;
		char c;

		if (*fmt != '%') {
			out_char(&o, *fmt++);
			continue;
		}
		fmt++;

		for (;; fmt++) {
			if (*fmt == '-')
				sp.flags |= FL_LEFT;
			else if (*fmt == '0')
				sp.flags |= FL_ZERO;
			else if (*fmt == '+')
				sp.flags |= FL_PLUS;
			else if (*fmt == ' ')
				sp.flags |= FL_SPACE;
			else if (*fmt == '#')
				sp.flags |= FL_ALT;
			else
				break;
		}

		if (*fmt == '*') {
			fmt++;
			sp.width = va_arg(ap, int);
			/* A negative width argument is a '-' flag and a positive width. */
			if (sp.width < 0) {
				sp.flags |= FL_LEFT;
				sp.width = sp.width == INT_MIN ? INT_MAX : -sp.width;
			}
		} else {
			sp.width = parse_decimal(&fmt);
		}

		if (*fmt == '.') {
			fmt++;
			if (*fmt == '*') {
				fmt++;
				sp.prec = va_arg(ap, int);
				if (sp.prec < 0)
					sp.prec = -1; /* as if omitted */
			} else {
				sp.prec = parse_decimal(&fmt);
			}
		}

		len = parse_length(&fmt);

		switch (c = *fmt) {
		case 'd':
		case 'i': {
			s64 v = arg_signed(&ap, len);
			/* Negate in unsigned arithmetic so INT64_MIN does not overflow. */
			out_number(&o, &sp, v < 0 ? -(u64)v : (u64)v, v < 0, 10, false);
			break;
		}
		case 'u':
			sp.flags &= ~(FL_PLUS | FL_SPACE);
			out_number(&o, &sp, arg_unsigned(&ap, len), false, 10, false);
			break;
		case 'x':
		case 'X':
			sp.flags &= ~(FL_PLUS | FL_SPACE);
			out_number(&o, &sp, arg_unsigned(&ap, len), false, 16, c == 'X');
			break;
		case 'o':
			sp.flags &= ~(FL_PLUS | FL_SPACE);
			out_number(&o, &sp, arg_unsigned(&ap, len), false, 8, false);
			break;
		case 'c': {
			char ch = (char)va_arg(ap, int);
			out_field(&o, &sp, &ch, 1);
			break;
		}
		case 's':
			s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			/* With a precision the string need not be terminated, so never look past it. */
			out_field(&o, &sp, s, sp.prec >= 0 ? strnlen(s, (size_t)sp.prec) : strlen(s));
			break;
		case 'p': {
			/* Always all 16 digits, so pointers line up in logs; flags other than width and '-' do not
			 * apply. */
			u64 v = (u64)(uintptr_t)va_arg(ap, void *);
			char tmp[18] = {'0', 'x'};

			for (int i = 0; i < 16; i++)
				tmp[2 + i] = "0123456789abcdef"[(v >> (60 - 4 * i)) & 0xf];
			out_field(&o, &sp, tmp, sizeof(tmp));
			break;
		}
		case '%':
			out_char(&o, '%');
			break;
		case '\0':
			/* A lone '%' at the end: print what was there and stop. */
			out_mem(&o, start, (size_t)(fmt - start));
			goto done;
		default:
			/* Unknown conversion (including %n): echo the whole specification as written. */
			out_mem(&o, start, (size_t)(fmt - start) + 1);
			break;
		}
		fmt++;
	}
done:
	va_end(ap);
	if (size)
		buf[o.pos < size ? o.pos : size - 1] = '\0';
	if (o.pos > (size_t)INT_MAX)
		return -EOVERFLOW;
	return (int)o.pos;
}

int hv_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = hv_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}
