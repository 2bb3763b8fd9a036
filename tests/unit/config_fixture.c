/* The module lines, the output array and the log capture behind the VM configuration tests; see config_fixture.h. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config_fixture.h"
#include "fake_platform.h"

struct boot_info bi;
struct vm_config cfg[VM_CONFIG_MAX_VMS];
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

int parse(void)
{
	FILE *tmp = tmpfile();
	int saved, ret, level = test_log_level_max;
	size_t len;

	CHECK(tmp);
	fflush(stderr);
	saved = dup(2);
	dup2(fileno(tmp), 2);
	test_log_level_max = 7;
	ret = vm_config_parse(&bi, cfg, VM_CONFIG_MAX_VMS, &ncfg);
	test_log_level_max = level;
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	len = fread(logs, 1, sizeof(logs) - 1, tmp);
	logs[len] = '\0';
	fclose(tmp);
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
