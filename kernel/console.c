/* Console output and log_printf. One lock serialises lines from different CPUs so they never interleave mid-line.
 * Each message is formatted into a bounded buffer first, so a long message is cut, never overflowing. */
#include <stdarg.h>

#include "drivers/uart16550.h"
#include "kernel/console.h"
#include "kernel/printf.h"
#include "hv/log.h"
#include "hv/spinlock.h"

u64 console_loglevel = LOG_INFO;
static bool have_uart;
static bool panic_mode;
static spinlock_t console_lock = SPINLOCK_INIT; /* serialises writers of whole messages to the UART */
/* console_lock: the last byte written ended a line. Output that does not end its line (the monitor's prompt and
 * echo, a console=raw guest) is followed by log messages on a line of their own, never glued after it. */
static bool at_line_start = true;

void console_init(void)
{
	have_uart = uart_init(COM1_BASE) == 0;
}

bool console_has_uart(void)
{
	return have_uart;
}

int console_getc(void)
{
	return have_uart ? uart_getc(COM1_BASE) : -1;
}

void console_enter_panic(void)
{
	__atomic_store_n(&panic_mode, true, __ATOMIC_RELEASE);
}

static void __console_write(const char *s, size_t n)
{
	if (!have_uart)
		return;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			uart_putc(COM1_BASE, '\r');
		uart_putc(COM1_BASE, s[i]);
	}
	if (n)
		at_line_start = s[n - 1] == '\n';
}

/* A whole message (log_printf): on a line of its own. */
static void console_write_message(const char *s, size_t n)
{
	bool panic = __atomic_load_n(&panic_mode, __ATOMIC_ACQUIRE);

	if (!panic)
		spin_lock(&console_lock);
	if (!at_line_start)
		__console_write("\n", 1);
	__console_write(s, n);
	if (!panic)
		spin_unlock(&console_lock);
}

void console_write(const char *s, size_t n)
{
	if (__atomic_load_n(&panic_mode, __ATOMIC_ACQUIRE)) {
		__console_write(s, n);
		return;
	}
	spin_lock(&console_lock);
	__console_write(s, n);
	spin_unlock(&console_lock);
}

void log_printf(int level, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	if ((u64)level > console_loglevel)
		return;
	va_start(ap, fmt);
	n = hv_vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf)) {
		n = sizeof(buf) - 1;
		buf[n - 1] = '\n'; /* keep line structure even when a message was cut */
	}
	console_write_message(buf, (size_t)n);
}
