/* conecho: reads its UART (COM1, polled) a line at a time and says what it got, for the console multiplexer's test
 * (vm/conmux.h): "conecho: got LINE", control bytes shown as <XX>. The line "done" ends it: PASS when exactly
 * `lines=N` lines came before it, so a byte meant for another VM or for the monitor that leaked in fails it. */
#include "guest.h"

const char test_name[] = "conecho";

#define COM1	 0x3f8
#define LINE_MAX 64

static u8 getc_polled(void)
{
	while (!(inb(COM1 + 5) & 0x01)) /* LSR.DR */
		pause();
	return inb(COM1);
}

int test_main(void)
{
	char line[LINE_MAX * 4 + 1];
	u64 want = 0, got = 0;
	u32 n = 0;

	cmdline_u64("lines", &want);
	printf("conecho: ready\n");
	for (;;) {
		u8 c = getc_polled();

		if (c != '\r' && c != '\n') {
			if (n + 4 < sizeof(line))
				n += (u32)snprintf(line + n, sizeof(line) - n, c < 0x20 || c >= 0x7f ? "<%02x>" : "%c",
						   c);
			continue;
		}
		if (!n)
			continue; /* CR LF */
		line[n] = 0;
		n = 0;
		if (!strcmp(line, "done"))
			break;
		printf("conecho: got %s\n", line);
		got++;
	}
	if (got != want)
		test_fail("%lu lines before done, expected %lu", got, want);
	printf("TEST conecho PASS\n");
	return 0;
}
