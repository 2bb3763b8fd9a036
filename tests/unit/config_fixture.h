/* The fixture shared by the VM configuration parser tests (test_config*.c): a boot_info to add module lines to, an
 * output array that starts as garbage, and a parse that captures every log line, notices included, into logs[]. */
#ifndef CONFIG_FIXTURE_H
#define CONFIG_FIXTURE_H

#include <string.h>

#include "boot/mb2.h"
#include "test.h"
#include "vm/config.h"

extern struct boot_info bi;
extern struct vm_config cfg[BOOT_MAX_MODULES]; /* room for a VM per module, as vm/sched.c gives */
extern u32 ncfg;
extern char logs[65536];

/* An empty boot_info, and cfg[] filled with 0xa5 (the parser must not rely on a zeroed array). */
void reset(void);
/* Module line cmdline, with a distinct non-empty module range. */
void add(const char *cmdline);
/* vm_config_parse(&bi, cfg, BOOT_MAX_MODULES, &ncfg), its whole log captured into logs[]. */
int parse(void);
/* vm_config_check_kernel(c, kind), its log captured into logs[] as parse() does. */
u32 check_kernel(const struct vm_config *c, enum vm_kernel_kind kind);
/* One line that must be rejected: the error names the module, the word and the check, and nothing is configured. */
void check_rejected(const char *line, const char *expect);

/* The log of the last parse() contains s. */
#define CHECK_LOG(s)                                                                                                   \
	do {                                                                                                           \
		if (!strstr(logs, (s)))                                                                                \
			test_fail(__FILE__, __LINE__, "log lacks \"%s\"; log:\n%s", (s), logs);                        \
	} while (0)

#endif
