/* Console and results: a polled 16550 at 0x3f8, a small printf, the TEST lines and exit through isa-debug-exit. */
#include "guest.h"

#define COM1 0x3f8

void serial_init(void)
{
	outb(COM1 + 1, 0x00); /* no interrupts */
	outb(COM1 + 3, 0x80); /* DLAB */
	outb(COM1 + 0, 0x01); /* 115200 baud */
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03); /* 8N1 */
	outb(COM1 + 2, 0xc7); /* FIFO on, cleared */
	outb(COM1 + 4, 0x03); /* DTR, RTS; OUT2 clear: no IRQ */
}

void serial_putc(char c)
{
	/* Bounded: a missing UART reads all ones (THRE set); a stuck one must not hang the test. */
	for (int i = 0; i < 100000 && !(inb(COM1 + 5) & 0x20); i++)
		pause();
	outb(COM1, (u8)c);
}

struct sink {
	char *buf;
	size_t size, len;
};

static void emit(struct sink *s, char c)
{
	if (s->buf) {
		if (s->len + 1 < s->size)
			s->buf[s->len] = c;
	} else {
		serial_putc(c);
	}
	s->len++;
}

static void emit_num(struct sink *s, u64 v, unsigned base, bool upper, bool neg, int width, char pad, bool left)
{
	char tmp[24];
	int n = 0;
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v);
	int len = n + (neg ? 1 : 0);
	if (neg && pad == '0')
		emit(s, '-');
	if (!left)
		for (; len < width; width--)
			emit(s, pad);
	if (neg && pad != '0')
		emit(s, '-');
	while (n)
		emit(s, tmp[--n]);
	if (left)
		for (; len < width; width--)
			emit(s, ' ');
}

static int format(struct sink *s, const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			emit(s, *fmt);
			continue;
		}
		fmt++;
		bool left = false;
		char pad = ' ';
		for (;; fmt++) {
			if (*fmt == '-')
				left = true;
			else if (*fmt == '0')
				pad = '0';
			else
				break;
		}
		int width = 0, prec = -1;
		if (*fmt == '*') {
			width = va_arg(ap, int);
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		if (*fmt == '.') {
			prec = 0;
			fmt++;
			if (*fmt == '*') {
				prec = va_arg(ap, int);
				fmt++;
			}
			while (*fmt >= '0' && *fmt <= '9')
				prec = prec * 10 + (*fmt++ - '0');
		}
		int lng = 0;
		while (*fmt == 'l' || *fmt == 'z' || *fmt == 'h') {
			if (*fmt != 'h')
				lng++;
			fmt++;
		}
		if (left)
			pad = ' ';
		switch (*fmt) {
		case 'd':
		case 'i': {
			s64 v = lng ? va_arg(ap, s64) : va_arg(ap, int);
			emit_num(s, v < 0 ? -(u64)v : (u64)v, 10, false, v < 0, width, pad, left);
			break;
		}
		case 'u':
		case 'x':
		case 'X': {
			u64 v = lng ? va_arg(ap, u64) : va_arg(ap, unsigned int);
			emit_num(s, v, *fmt == 'u' ? 10 : 16, *fmt == 'X', false, width, pad, left);
			break;
		}
		case 'p':
			emit(s, '0');
			emit(s, 'x');
			emit_num(s, (u64)va_arg(ap, void *), 16, false, false, width, pad, left);
			break;
		case 'c':
			emit(s, (char)va_arg(ap, int));
			break;
		case 's': {
			const char *str = va_arg(ap, const char *);
			if (!str)
				str = "(null)";
			int len = 0;
			while (str[len] && (prec < 0 || len < prec))
				len++;
			if (!left)
				for (int i = len; i < width; i++)
					emit(s, ' ');
			for (int i = 0; i < len; i++)
				emit(s, str[i]);
			if (left)
				for (int i = len; i < width; i++)
					emit(s, ' ');
			break;
		}
		case '%':
			emit(s, '%');
			break;
		case '\0':
			return (int)s->len;
		default:
			emit(s, '%');
			emit(s, *fmt);
		}
	}
	return (int)s->len;
}

int vsnprintf(char *buf, size_t n, const char *fmt, va_list ap)
{
	struct sink s = {buf, n, 0};
	int len = format(&s, fmt, ap);
	if (n)
		buf[s.len < n ? s.len : n - 1] = '\0';
	return len;
}

int snprintf(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vsnprintf(buf, n, fmt, ap);
	va_end(ap);
	return r;
}

int vprintf(const char *fmt, va_list ap)
{
	struct sink s = {NULL, 0, 0};
	return format(&s, fmt, ap);
}

int printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vprintf(fmt, ap);
	va_end(ap);
	return r;
}

void guest_exit(u32 status)
{
	cli();
	outl(0xf4, status);
	/* Still here: no debug-exit device. Halting with interrupts off ends the VM under the hypervisor. */
	printf("guest %s: exit(%u): the debug-exit port did not stop the VM; halting\n", test_name, status);
	for (;;)
		asm volatile("cli; hlt");
}

void test_pass(void)
{
	printf("TEST %s PASS\n", test_name);
	guest_exit(EXIT_PASS);
}

void test_fail(const char *fmt, ...)
{
	va_list ap;
	printf("TEST %s FAIL ", test_name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	guest_exit(EXIT_FAIL);
}

void test_skip(const char *fmt, ...)
{
	va_list ap;
	printf("TEST %s SKIP ", test_name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	guest_exit(EXIT_PASS);
}
