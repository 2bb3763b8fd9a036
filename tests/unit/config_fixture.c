/* The module lines, the output array and the log capture behind the VM configuration tests; see config_fixture.h. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config_fixture.h"
#include "fake_platform.h"

struct boot_info bi;
struct vm_config cfg[BOOT_MAX_MODULES];
u32 ncfg;
char logs[65536];

void reset(void)
{
	memset(&bi, 0, sizeof(bi));
	memset(cfg, 0xa5, sizeof(cfg));
}

void add(const char *cmdline)
{
	struct boot_module *m = &bi.modules[bi.nr_modules];

	CHECK(bi.nr_modules < BOOT_MAX_MODULES);
	m->start = 0x1000000 + 0x100000ULL * bi.nr_modules;
	m->end = m->start + 0x8000 + bi.nr_modules;
	CHECK(strlen(cmdline) < sizeof(m->cmdline));
	strcpy(m->cmdline, cmdline);
	bi.nr_modules++;
}

/* Between these two, every log line, notices included, goes to logs[]. */
static FILE *capture_tmp;
static int capture_saved_fd, capture_saved_level;

static void capture_begin(void)
{
	capture_tmp = tmpfile();
	CHECK(capture_tmp);
	fflush(stderr);
	capture_saved_fd = dup(2);
	dup2(fileno(capture_tmp), 2);
	capture_saved_level = test_log_level_max;
	test_log_level_max = 7;
}

static void capture_end(void)
{
	size_t len;

	test_log_level_max = capture_saved_level;
	fflush(stderr);
	dup2(capture_saved_fd, 2);
	close(capture_saved_fd);
	rewind(capture_tmp);
	len = fread(logs, 1, sizeof(logs) - 1, capture_tmp);
	logs[len] = '\0';
	fclose(capture_tmp);
}

int parse(void)
{
	int ret;

	capture_begin();
	ret = vm_config_parse(&bi, cfg, BOOT_MAX_MODULES, &ncfg);
	capture_end();
	return ret;
}

u32 check_kernel(const struct vm_config *c, enum vm_kernel_kind kind)
{
	u32 ret;

	capture_begin();
	ret = vm_config_check_kernel(c, kind);
	capture_end();
	return ret;
}

void check_rejected(const char *line, const char *expect)
{
	reset();
	add(line);
	CHECK(parse() >= 1);
	CHECK_EQ(ncfg, 0);
	CHECK_LOG(expect);
}
