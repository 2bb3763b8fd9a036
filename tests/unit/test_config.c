/* Unit tests of the VM configuration parser (vm/config.c): good lines, every kind of error (each must be reported with
 * the module index, the word and the check, and leave only its own VM out), modules ahead of their kernel, several
 * VMs, the Linux initrd role, and GRUB's re-quoting of words that hold spaces. Log lines are captured from the
 * harness's stderr echo (config_fixture.c). protect= ranges are test_config_protect.c's, role=disk and virtcon= test_config_devices.c's. */
#include <stdio.h>
#include <string.h>

#include "config_fixture.h"
#include "hv/compiler.h"
#include "hv/errno.h"

TEST(config_kernel_defaults)
{
	reset();
	add("vm=solo");
	CHECK_EQ(parse(), 0);
	CHECK_EQ(ncfg, 1);
	CHECK_STR(cfg[0].name, "solo");
	CHECK_EQ(cfg[0].mem_bytes, 64ULL << 20);
	CHECK_EQ(cfg[0].cpus, 1);
	CHECK_STR(cfg[0].cmdline, "");
	CHECK_EQ(cfg[0].kernel_start, 0x1000000);
	CHECK_EQ(cfg[0].kernel_end, 0x1008000);
	CHECK_EQ(cfg[0].nr_modules, 0);
	CHECK_EQ(cfg[1].name[0], 0); /* unused slots are cleared */
}

TEST(config_cpus)
{
	reset();
	add("vm=one");
	add("vm=two cpus=2");
	add("vm=max cpus=16");
	add("vm=hex cpus=0x4");
	CHECK_EQ(parse(), 0);
	CHECK_EQ(ncfg, 4);
	CHECK_EQ(cfg[0].cpus, 1);
	CHECK_EQ(cfg[1].cpus, 2);
	CHECK_EQ(cfg[2].cpus, 16);
	CHECK_EQ(cfg[3].cpus, 4);
}

TEST(config_full_kernel_and_modules)
{
	reset();
	add("vm=linux role=kernel mem=512M cpus=1 cmdline=\"console=ttyS0 quiet\"");
	add("vm=linux role=module cmdline=\"initrd root=/dev/ram0\"");
	add("  vm=linux   role=module  ");
	CHECK_EQ(parse(), 0);
	CHECK_EQ(ncfg, 1);
	CHECK_EQ(cfg[0].mem_bytes, 512ULL << 20);
	CHECK_STR(cfg[0].cmdline, "console=ttyS0 quiet");
	CHECK_EQ(cfg[0].nr_modules, 2);
	CHECK_EQ(cfg[0].modules[0].start, 0x1100000);
	CHECK_EQ(cfg[0].modules[0].end, 0x1108001);
	CHECK_STR(cfg[0].modules[0].cmdline, "initrd root=/dev/ram0");
	CHECK_EQ(cfg[0].modules[1].start, 0x1200000);
	CHECK_STR(cfg[0].modules[1].cmdline, "");
}

TEST(config_grub_requoted_words)
{
	reset();
	/* What GRUB hands over for `cmdline="console=ttyS0 quiet"` in grub.cfg, and for a value without spaces. */
	add("vm=g \"cmdline=console=ttyS0 quiet\" mem=32M");
	add("vm=g role=module cmdline=a=b");
	add("vm=g role=module \"cmdline=\"");
	CHECK_EQ(parse(), 0);
	CHECK_EQ(ncfg, 1);
	CHECK_STR(cfg[0].cmdline, "console=ttyS0 quiet");
	CHECK_EQ(cfg[0].mem_bytes, 32ULL << 20);
	CHECK_STR(cfg[0].modules[0].cmdline, "a=b");
	CHECK_STR(cfg[0].modules[1].cmdline, "");
}

TEST(config_mem_sizes_and_rounding)
{
	static const struct {
		const char *mem;
		u64 bytes;
	} cases[] = {
	    {"2M", 2ULL << 20}, {"3M", 4ULL << 20},   {"2049K", 4ULL << 20},	  {"0x400000", 4ULL << 20},
	    {"1G", 1ULL << 30}, {"64G", 64ULL << 30}, {"100000000", 96ULL << 20}, /* 95.37 MiB rounds up to 96 */
	};
	char line[64];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		reset();
		snprintf(line, sizeof(line), "vm=m mem=%s", cases[i].mem);
		add(line);
		CHECK_EQ(parse(), 0);
		CHECK_EQ(ncfg, 1);
		CHECK_EQ(cfg[0].mem_bytes, cases[i].bytes);
	}
}

TEST(config_modules_before_their_kernel)
{
	reset();
	add("vm=b role=module cmdline=b-first");
	add("vm=a");
	add("vm=a role=module cmdline=a-mod");
	add("vm=b role=module cmdline=b-second");
	add("vm=b mem=8M cmdline=bk");
	CHECK_EQ(parse(), 0);
	CHECK_EQ(ncfg, 2);
	/* Order of first appearance: b (module 0) before a (module 1). */
	CHECK_STR(cfg[0].name, "b");
	CHECK_STR(cfg[1].name, "a");
	CHECK_EQ(cfg[0].kernel_start, bi.modules[4].start);
	CHECK_EQ(cfg[0].mem_bytes, 8ULL << 20);
	CHECK_STR(cfg[0].cmdline, "bk");
	CHECK_EQ(cfg[0].nr_modules, 2);
	CHECK_STR(cfg[0].modules[0].cmdline, "b-first");
	CHECK_STR(cfg[0].modules[1].cmdline, "b-second");
	CHECK_EQ(cfg[1].nr_modules, 1);
	CHECK_STR(cfg[1].modules[0].cmdline, "a-mod");
}

TEST(config_several_vms_one_bad)
{
	reset();
	add("vm=one mem=4M");
	add("vm=two mem=1M"); /* too small: two is left out */
	add("vm=three.x_Y-9");
	add("vm=two role=module");
	CHECK_EQ(parse(), 1);
	CHECK_EQ(ncfg, 2);
	CHECK_STR(cfg[0].name, "one");
	CHECK_STR(cfg[1].name, "three.x_Y-9");
	CHECK_EQ(cfg[1].kernel_start, bi.modules[2].start);
	CHECK_EQ(cfg[2].name[0], 0);
	CHECK_LOG("module 1: 'mem=1M': size out of range [2M, 64G]");
	CHECK_LOG("vm two left out");
}

TEST(config_skips_modules_without_vm)
{
	reset();
	add("role=kernel name=first"); /* belongs to some other feature */
	add("");
	add("vm=ok");
	CHECK_EQ(parse(), 0);
	CHECK_EQ(ncfg, 1);
	CHECK_STR(cfg[0].name, "ok");
	CHECK_LOG("module 0 has no vm=");
	CHECK_LOG("module 1 has no vm=");
}

TEST(config_unknown_key_duplicate_and_missing_value)
{
	check_rejected("vm=a memory=4M", "module 0: 'memory=4M': unknown key");
	check_rejected("vm=a averyveryverylongkeyname=1", "unknown key");
	check_rejected("vm=a mem=4M mem=8M", "module 0: 'mem=8M': key given twice");
	check_rejected("vm=a vm=a", "'vm=a': key given twice");
	check_rejected("vm=a mem", "module 0: 'mem': missing value");
	check_rejected("vm=a /boot/kernel", "'/boot/kernel': unknown key");
	check_rejected("vm=a cmdline=\"oops", "unterminated quote");
}

TEST(config_bad_names)
{
	check_rejected("vm=", "'vm=': VM name must be 1-31 characters");
	check_rejected("vm=\"\"", "VM name must be 1-31 characters");
	check_rejected("vm=has/slash", "'vm=has/slash': VM name must be 1-31 characters of [A-Za-z0-9_.-]");
	check_rejected("vm=\"a b\"", "VM name must be");
	check_rejected("vm=abcdefghijklmnopqrstuvwxyz012345", "VM name must be");
	/* 31 characters is the longest name. */
	reset();
	add("vm=abcdefghijklmnopqrstuvwxyz01234");
	CHECK_EQ(parse(), 0);
	CHECK_EQ(ncfg, 1);
}

TEST(config_bad_values)
{
	check_rejected("vm=a role=ramdisk", "'role=ramdisk': role must be kernel, module, initrd or disk");
	check_rejected("vm=a mem=lots", "'mem=lots': malformed size");
	check_rejected("vm=a mem=4T", "malformed size");
	check_rejected("vm=a mem=1048575", "size out of range");
	check_rejected("vm=a mem=65G", "size out of range");
	check_rejected("vm=a mem=0", "size out of range");
	check_rejected("vm=a mem=99999999999999999999999", "size out of range");
	check_rejected("vm=a cpus=17", "'cpus=17': vCPU count out of range [1, 16]");
	check_rejected("vm=a cpus=0", "'cpus=0': vCPU count out of range");
	check_rejected("vm=a cpus=99999999999999999999999", "vCPU count out of range");
	check_rejected("vm=a cpus=x", "'cpus=x': malformed number");
}

TEST(config_long_lines)
{
	/* The longest line boot_info can be trusted to hold whole is 254 characters. */
	reset();
	bi.nr_modules = 1;
	bi.modules[0].end = 0x1000;
	memset(bi.modules[0].cmdline, 'y', BOOT_MODULE_CMDLINE_MAX - 2);
	memcpy(bi.modules[0].cmdline, "vm=a cmdline=", 13);
	CHECK_EQ(parse(), 0);
	CHECK_EQ(ncfg, 1);
	CHECK_EQ(strlen(cfg[0].cmdline), BOOT_MODULE_CMDLINE_MAX - 2 - 13);
	/* The same as GRUB would quote it. */
	bi.modules[0].cmdline[5] = '"';
	memcpy(bi.modules[0].cmdline + 6, "cmdline=", 8);
	bi.modules[0].cmdline[BOOT_MODULE_CMDLINE_MAX - 3] = '"';
	CHECK_EQ(parse(), 0);
	CHECK_EQ(strlen(cfg[0].cmdline), BOOT_MODULE_CMDLINE_MAX - 3 - 14);

	/* 255 characters fill the buffer: the loader may have cut the line, so its VM is refused, even when the line is
	 * a module of a VM whose kernel is fine (that VM would otherwise start without the module). */
	add("vm=b");
	add("");
	memset(bi.modules[2].cmdline, 'y', BOOT_MODULE_CMDLINE_MAX - 1);
	memcpy(bi.modules[2].cmdline, "vm=b role=module cmdline=", 25);
	add("vm=c");
	CHECK_EQ(parse(), 1);
	CHECK_EQ(ncfg, 2);
	CHECK_STR(cfg[0].name, "a");
	CHECK_STR(cfg[1].name, "c");
	CHECK_LOG("module 2: command line of 255 characters or more may have been cut short");
	CHECK_LOG("vm b left out");
	/* A module line that fills its whole buffer without a NUL is read no further than the buffer. */
	memset(bi.modules[2].cmdline, 'z', sizeof(bi.modules[2].cmdline));
	memcpy(bi.modules[2].cmdline, "vm=b role=module ", 17);
	CHECK_EQ(parse(), 2); /* cut short, and what is left of the last word is no key=value */
	CHECK_EQ(ncfg, 2);
	CHECK_LOG("module 2: command line of 255 characters");
	CHECK_LOG("'zzzzzz");
	CHECK_LOG("vm b left out");
	memset(bi.modules[2].cmdline, 'z', sizeof(bi.modules[2].cmdline));
	CHECK_EQ(parse(), 0);
	CHECK_EQ(ncfg, 3);
	CHECK_LOG("module 2 has no vm=");
}

TEST(config_mem_and_cpus_only_on_kernel)
{
	reset();
	add("vm=a");
	add("vm=a role=module mem=8M");
	CHECK_EQ(parse(), 1);
	CHECK_EQ(ncfg, 0);
	CHECK_LOG("module 1: 'mem=8M': mem= goes on the kernel module");
	reset();
	add("vm=a role=module cpus=1");
	add("vm=a");
	CHECK_EQ(parse(), 1);
	CHECK_EQ(ncfg, 0);
	CHECK_LOG("module 0: 'cpus=1': cpus= goes on the kernel module");
}

TEST(config_kernel_count_errors)
{
	reset();
	add("vm=a");
	add("vm=b");
	add("vm=a role=kernel");
	CHECK_EQ(parse(), 1);
	CHECK_EQ(ncfg, 1);
	CHECK_STR(cfg[0].name, "b");
	CHECK_LOG("module 2: second kernel for vm a (module 0 is its kernel");

	reset();
	add("vm=lonely role=module");
	add("vm=fine");
	CHECK_EQ(parse(), 1);
	CHECK_EQ(ncfg, 1);
	CHECK_STR(cfg[0].name, "fine");
	CHECK_LOG("vm lonely has no kernel module");

	/* An unreadable role is one error, not also "no kernel". */
	reset();
	add("vm=r role=kernl");
	CHECK_EQ(parse(), 1);
	CHECK(!strstr(logs, "no kernel"));

	reset();
	add("vm=e");
	bi.modules[0].end = bi.modules[0].start;
	CHECK_EQ(parse(), 1);
	CHECK_EQ(ncfg, 0);
	CHECK_LOG("module 0: kernel image of vm e is empty");
}

TEST(config_too_many_modules)
{
	char line[64];

	reset();
	add("vm=m");
	for (int i = 0; i < VM_CONFIG_MAX_MODULES; i++) {
		snprintf(line, sizeof(line), "vm=m role=module cmdline=m%d", i);
		add(line);
	}
	add("vm=other");
	CHECK_EQ(parse(), 0);
	CHECK_EQ(ncfg, 2);
	CHECK_EQ(cfg[0].nr_modules, VM_CONFIG_MAX_MODULES);
	CHECK_STR(cfg[0].modules[7].cmdline, "m7");
	add("vm=m role=module cmdline=m8");
	CHECK_EQ(parse(), 1);
	CHECK_EQ(ncfg, 1);
	CHECK_STR(cfg[0].name, "other");
	CHECK_LOG("module 10: vm m has more than 8 modules");
}

/* No limit on VMs but the one on modules: a VM per module, up to BOOT_MAX_MODULES of them. */
TEST(config_as_many_vms_as_modules)
{
	char line[64];
	static struct vm_config small[2];
	u32 n;

	reset();
	for (int i = 0; i < BOOT_MAX_MODULES; i++) {
		snprintf(line, sizeof(line), "vm=v%d mem=2M", i);
		add(line);
	}
	CHECK_EQ(parse(), 0);
	CHECK_EQ(ncfg, BOOT_MAX_MODULES);
	CHECK_STR(cfg[16].name, "v16"); /* the seventeenth, refused before */
	CHECK_STR(cfg[BOOT_MAX_MODULES - 1].name, "v127");
	/* A smaller output array than the names is an error for each VM beyond it. */
	CHECK_EQ(vm_config_parse(&bi, small, 2, &n), BOOT_MAX_MODULES - 2);
	CHECK_EQ(n, 2);
	CHECK_STR(small[1].name, "v1");
	CHECK_EQ(vm_config_parse(&bi, small, 0, &n), -EINVAL);
	CHECK_EQ(vm_config_parse(NULL, small, 2, &n), -EINVAL);
}

/* Modules the boot information could not keep (boot/mb2.c counts them) could be any VM's: none is started. */
TEST(config_lost_modules_start_no_vm)
{
	reset();
	add("vm=a");
	add("vm=b");
	bi.modules_dropped = 3;
	CHECK_EQ(parse(), 1);
	CHECK_EQ(ncfg, 0);
	CHECK_LOG(
	    "vm config: the boot loader passed 5 modules, and the hypervisor keeps 128 (BOOT_MAX_MODULES): any VM "
	    "may be missing one of the 3 others, so none is started");
	CHECK_EQ(cfg[0].name[0], 0);
}

TEST(config_all_errors_of_a_line_are_reported)
{
	reset();
	add("vm=a mem=1K cpus=40 colour=blue");
	CHECK_EQ(parse(), 3);
	CHECK_EQ(ncfg, 0);
	CHECK_LOG("'mem=1K'");
	CHECK_LOG("'cpus=40'");
	CHECK_LOG("'colour=blue'");
}

TEST(config_pages)
{
	static const struct {
		const char *word;
		u8 level;
	} ok[] = { { "pages=4k", 1 }, { "pages=2m", 2 }, { "pages=1g", 3 } };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char line[64];
		snprintf(line, sizeof(line), "vm=p %s", ok[i].word);
		reset();
		add(line);
		CHECK_EQ(parse(), 0);
		CHECK_EQ(ncfg, 1);
		CHECK_EQ(cfg[0].max_page_level, ok[i].level);
	}
	reset();
	add("vm=p");
	CHECK_EQ(parse(), 0);
	CHECK_EQ(cfg[0].max_page_level, 0); /* the hardware's largest */
	check_rejected("vm=p pages=8k", "pages must be 4k, 2m or 1g");
	check_rejected("vm=p pages=4k pages=2m", "key given twice");
	reset();
	add("vm=p");
	add("vm=p role=module pages=4k");
	CHECK(parse() >= 1);
	CHECK_EQ(ncfg, 0);
	CHECK_LOG("pages= goes on the kernel module");
}

TEST(config_initrd)
{
	reset();
	add("vm=lx role=initrd");
	add("vm=lx mem=256M cmdline=\"console=ttyS0\"");
	add("vm=lx role=module cmdline=extra");
	add("vm=plain");
	CHECK_EQ(parse(), 0);
	CHECK_EQ(ncfg, 2);
	CHECK_STR(cfg[0].name, "lx");
	CHECK(cfg[0].has_initrd);
	CHECK_EQ(cfg[0].initrd_start, bi.modules[0].start);
	CHECK_EQ(cfg[0].initrd_end, bi.modules[0].end);
	CHECK_EQ(cfg[0].kernel_start, bi.modules[1].start);
	CHECK_STR(cfg[0].cmdline, "console=ttyS0");
	/* The initrd is not also a module. */
	CHECK_EQ(cfg[0].nr_modules, 1);
	CHECK_STR(cfg[0].modules[0].cmdline, "extra");
	/* A VM without one says so, although the array started out as 0xa5 garbage. */
	CHECK_STR(cfg[1].name, "plain");
	CHECK(!cfg[1].has_initrd);
	CHECK_EQ(cfg[1].initrd_start, 0);
	CHECK_EQ(cfg[1].initrd_end, 0);
}

TEST(config_initrd_errors)
{
	/* Only vm= and role= belong on an initrd line; each other key is its own error. */
	reset();
	add("vm=a");
	add("vm=a role=initrd cmdline=x mem=8M cpus=1 pages=4k");
	CHECK_EQ(parse(), 4);
	CHECK_EQ(ncfg, 0);
	CHECK_LOG("module 1: 'cmdline=x': an initrd has no command line");
	CHECK_LOG("module 1: 'mem=8M': mem= goes on the kernel module (role=kernel), not on a role=initrd line");
	CHECK_LOG("module 1: 'cpus=1': cpus= goes on the kernel module");
	CHECK_LOG("module 1: 'pages=4k': pages= goes on the kernel module");
	CHECK_LOG("vm a left out");

	/* An empty cmdline= is still a cmdline= word. */
	check_rejected("vm=a role=initrd cmdline=", "'cmdline=': an initrd has no command line");

	/* At most one per VM; the other VM is not affected. */
	reset();
	add("vm=a");
	add("vm=a role=initrd");
	add("vm=b");
	add("vm=a role=initrd");
	CHECK_EQ(parse(), 1);
	CHECK_EQ(ncfg, 1);
	CHECK_STR(cfg[0].name, "b");
	CHECK(!cfg[0].has_initrd);
	CHECK_LOG("module 3: second initrd for vm a (module 1 is its initrd)");

	/* Empty, and an initrd alone is no VM. */
	reset();
	add("vm=e");
	add("vm=e role=initrd");
	bi.modules[1].end = bi.modules[1].start;
	CHECK_EQ(parse(), 1);
	CHECK_EQ(ncfg, 0);
	CHECK_LOG("module 1: initrd of vm e is empty");
	reset();
	add("vm=lonely role=initrd");
	CHECK_EQ(parse(), 1);
	CHECK_EQ(ncfg, 0);
	CHECK_LOG("vm lonely has no kernel module");

	/* GRUB's quoting of the role word changes nothing. */
	reset();
	add("\"vm=q\" \"role=initrd\"");
	add("vm=q");
	CHECK_EQ(parse(), 0);
	CHECK_EQ(ncfg, 1);
	CHECK(cfg[0].has_initrd);
}

TEST(config_console)
{
	reset();
	add("vm=c console=raw");
	CHECK_EQ(parse(), 0);
	CHECK_EQ(cfg[0].console_raw, 1);
	reset();
	add("vm=c console=lines");
	CHECK_EQ(parse(), 0);
	CHECK_EQ(cfg[0].console_raw, 0);
	check_rejected("vm=c console=fancy", "console must be lines or raw");
}

/* tdp=0 picks the shadow MMU for one VM; only on its kernel line, and only 0 or 1. */
TEST(config_tdp)
{
	reset();
	add("vm=s tdp=0");
	add("vm=t tdp=1");
	add("vm=d");
	CHECK_EQ(parse(), 0);
	CHECK_EQ(ncfg, 3);
	CHECK_EQ(cfg[0].shadow_paging, 1);
	CHECK_EQ(cfg[1].shadow_paging, 0);
	CHECK_EQ(cfg[2].shadow_paging, 0);
	check_rejected("vm=c tdp=off", "tdp must be 0 (shadow paging) or 1");
	reset();
	add("vm=m");
	add("vm=m role=module tdp=0");
	CHECK(parse() > 0);
	CHECK_LOG("tdp= goes on the kernel module (role=kernel), not on a role=module line");
}

/* entry=32 starts a Linux kernel at its 32-bit boot-protocol entry; only on the kernel line, only 32 or 64. */
TEST(config_entry)
{
	reset();
	add("vm=a entry=32");
	add("vm=b entry=64");
	add("vm=c");
	CHECK_EQ(parse(), 0);
	CHECK_EQ(ncfg, 3);
	CHECK_EQ(cfg[0].linux_entry32, 1);
	CHECK_EQ(cfg[1].linux_entry32, 0);
	CHECK_EQ(cfg[2].linux_entry32, 0);
	check_rejected("vm=d entry=16", "entry must be 64 (the kernel's 64-bit entry) or 32 (its 32-bit one)");
	reset();
	add("vm=m");
	add("vm=m role=initrd entry=32");
	CHECK(parse() > 0);
	CHECK_LOG("entry= goes on the kernel module (role=kernel), not on a role=initrd line");
	reset();
	add("vm=m");
	add("vm=m role=initrd console=raw");
	CHECK(parse() > 0);
	CHECK_LOG("console= goes on the kernel module (role=kernel), not on a role=initrd line");
}

/* ws=INTERVAL runs the working-set estimator (vm/ws.h): a number and a unit (us, ms, s), 1ms to 3600s, off by
 * default; reclaim=on|off needs it. Both only on the kernel line. */
TEST(config_ws)
{
	static const struct {
		const char *ws;
		u64 us;
	} good[] = {
		{ "10ms", 10000 }, { "1s", 1000000 }, { "1ms", 1000 }, { "1000us", 1000 },
		{ "3600s", 3600000000ULL }, { "250ms", 250000 }, { "007ms", 7000 },
	};
	char line[64];

	for (unsigned int i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		reset();
		snprintf(line, sizeof(line), "vm=w ws=%s", good[i].ws);
		add(line);
		CHECK_EQ(parse(), 0);
		CHECK_EQ(ncfg, 1);
		CHECK_EQ(cfg[0].ws_interval_us, good[i].us);
		CHECK_EQ(cfg[0].ws_reclaim, 0);
	}
	reset();
	add("vm=off");
	add("vm=r ws=1s reclaim=on");
	add("vm=n ws=1s reclaim=off");
	CHECK_EQ(parse(), 0);
	CHECK_EQ(ncfg, 3);
	CHECK_EQ(cfg[0].ws_interval_us, 0); /* off by default */
	CHECK_EQ(cfg[0].ws_reclaim, 0);
	CHECK_EQ(cfg[1].ws_reclaim, 1);
	CHECK_EQ(cfg[2].ws_reclaim, 0);

	check_rejected("vm=w ws=10", "interval needs a unit: us, ms or s (ws=10ms)");
	check_rejected("vm=w ws=10m", "interval needs a unit: us, ms or s");
	check_rejected("vm=w ws=10 ms", "unknown key"); /* "ms" alone is a word without a key */
	check_rejected("vm=w ws=ms", "malformed interval (expected a number and a unit");
	check_rejected("vm=w ws=-5ms", "malformed interval");
	check_rejected("vm=w ws=0x10ms", "interval needs a unit");
	check_rejected("vm=w ws=", "malformed interval");
	check_rejected("vm=w ws=999us", "interval out of range [1ms, 3600s]");
	check_rejected("vm=w ws=0s", "interval out of range [1ms, 3600s]");
	check_rejected("vm=w ws=3601s", "interval out of range [1ms, 3600s]");
	check_rejected("vm=w ws=3600001ms", "interval out of range [1ms, 3600s]");
	check_rejected("vm=w ws=99999999999999999999s", "interval out of range [1ms, 3600s]");
	check_rejected("vm=w ws=18446744073709551ms", "interval out of range [1ms, 3600s]"); /* v * 1000 wraps */
	check_rejected("vm=w ws=1s ws=2s", "key given twice in this module");
	check_rejected("vm=w reclaim=on", "reclaim=on needs ws=INTERVAL");
	check_rejected("vm=w ws=1s reclaim=yes", "reclaim must be on or off");
	check_rejected("vm=w ws=1s reclaim", "missing value (expected key=value)");
}

/* age_flush=on|off: the TLB flush policy after aging (mm/mmu.h), per VM; not given, hv.age_flush decides. Kernel line
 * only. */
TEST(config_age_flush)
{
	reset();
	add("vm=d");
	add("vm=on age_flush=on");
	add("vm=off ws=10ms age_flush=off");
	CHECK_EQ(parse(), 0);
	CHECK_EQ(ncfg, 3);
	CHECK_EQ(cfg[0].age_flush, VM_AGE_FLUSH_DEFAULT);
	CHECK_EQ(cfg[1].age_flush, VM_AGE_FLUSH_ON);
	CHECK_EQ(cfg[2].age_flush, VM_AGE_FLUSH_OFF);
	check_rejected("vm=a age_flush=1", "age_flush must be on or off");
	check_rejected("vm=a age_flush=on age_flush=off", "key given twice in this module");
	reset();
	add("vm=m");
	add("vm=m role=module age_flush=on");
	CHECK(parse() > 0);
	CHECK_EQ(ncfg, 0);
	CHECK_LOG("age_flush= goes on the kernel module (role=kernel), not on a role=module line");
}

TEST(config_ws_and_reclaim_only_on_the_kernel_line)
{
	reset();
	add("vm=m");
	add("vm=m role=module ws=10ms");
	CHECK(parse() > 0);
	CHECK_EQ(ncfg, 0);
	CHECK_LOG("ws= goes on the kernel module (role=kernel), not on a role=module line");
	reset();
	add("vm=m ws=10ms");
	add("vm=m role=initrd reclaim=on");
	CHECK(parse() > 0);
	CHECK_EQ(ncfg, 0);
	CHECK_LOG("reclaim= goes on the kernel module (role=kernel), not on a role=initrd line");
	reset();
	add("vm=m ws=10ms");
	add("vm=m role=initrd ws=1s");
	CHECK(parse() > 0);
	CHECK_LOG("ws= goes on the kernel module (role=kernel), not on a role=initrd line");
}

/* What a VM was given against what its kernel's boot protocol takes (vm_config_check_kernel, once the image says
 * which): a Linux kernel has one initrd and no modules, a Multiboot kernel modules and no initrd. Nothing is dropped:
 * each misfit is an error naming the module and the VM, and the caller refuses the VM. */
TEST(config_kernel_kind_takes_what_it_was_given)
{
	reset();
	add("vm=lx mem=128M");
	add("vm=lx role=initrd");
	add("vm=mb");
	add("vm=lx role=module cmdline=lost");
	add("vm=mb role=module cmdline=first");
	add("vm=mb role=initrd");
	add("vm=lx role=module");
	add("vm=mb role=module");
	CHECK_EQ(parse(), 0); /* the parse cannot tell: it reads command lines, not images */
	CHECK_EQ(ncfg, 2);
	CHECK_EQ(cfg[0].kernel_index, 0);
	CHECK_EQ(cfg[0].initrd_index, 1);
	CHECK_EQ(cfg[0].modules[0].index, 3);
	CHECK_EQ(cfg[0].modules[1].index, 6);
	CHECK_EQ(cfg[1].kernel_index, 2);
	CHECK_EQ(cfg[1].initrd_index, 5);
	CHECK_EQ(cfg[1].modules[1].index, 7);

	/* lx as Linux: its initrd is fine, each of its two modules is an error. */
	CHECK_EQ(check_kernel(&cfg[0], VM_KERNEL_LINUX), 2);
	CHECK_LOG("vm config: module 3: role=module of vm lx, whose kernel (module 0) is a Linux bzImage: the Linux "
		  "boot protocol takes one initrd (role=initrd) and no modules");
	CHECK_LOG("vm config: module 6: role=module of vm lx, whose kernel (module 0)");
	/* mb as Multiboot: its modules are fine, its initrd is an error. */
	CHECK_EQ(check_kernel(&cfg[1], VM_KERNEL_MULTIBOOT), 1);
	CHECK_LOG(
	    "vm config: module 5: role=initrd of vm mb, whose kernel (module 2) is a Multiboot image, not a Linux "
	    "bzImage: Multiboot has no initrd (role=module hands it over as a Multiboot module)");
	/* The other way round: lx's initrd and mb's modules would be the misfits. */
	CHECK_EQ(check_kernel(&cfg[0], VM_KERNEL_MULTIBOOT), 1);
	CHECK_LOG("module 1: role=initrd of vm lx, whose kernel (module 0) is a Multiboot image");
	CHECK_EQ(check_kernel(&cfg[1], VM_KERNEL_LINUX), 2);
	CHECK_LOG("module 4: role=module of vm mb, whose kernel (module 2) is a Linux bzImage");

	/* What fits is no error, and entry=32 only fits a Linux kernel. */
	reset();
	add("vm=lx entry=32");
	add("vm=lx role=initrd");
	add("vm=mb");
	add("vm=mb role=module");
	CHECK_EQ(parse(), 0);
	CHECK_EQ(check_kernel(&cfg[0], VM_KERNEL_LINUX), 0);
	CHECK_EQ(check_kernel(&cfg[1], VM_KERNEL_MULTIBOOT), 0);
	CHECK_EQ(check_kernel(&cfg[0], VM_KERNEL_MULTIBOOT), 2);
	CHECK_LOG("vm config: module 0: entry=32 on vm lx, whose kernel is a Multiboot image: entry= chooses a Linux "
		  "kernel's entry, and a Multiboot kernel names its own");
}

/* platform=pc|minimal: kernel line only; not given, the VM's kernel decides (VM_PLATFORM_DEFAULT). */
TEST(config_platform)
{
	reset();
	add("vm=d");
	add("vm=p platform=pc");
	add("vm=m platform=minimal");
	CHECK_EQ(parse(), 0);
	CHECK_EQ(ncfg, 3);
	CHECK_EQ(cfg[0].platform, VM_PLATFORM_DEFAULT);
	CHECK_EQ(cfg[1].platform, VM_PLATFORM_PC);
	CHECK_EQ(cfg[2].platform, VM_PLATFORM_MINIMAL);
	check_rejected("vm=w platform=isa", "platform must be pc or minimal");
	check_rejected("vm=w platform", "missing value (expected key=value)");
	check_rejected("vm=w platform=pc platform=pc", "key given twice in this module");
	reset();
	add("vm=m");
	add("vm=m role=module platform=pc");
	CHECK(parse() > 0);
	CHECK_LOG("platform= goes on the kernel module (role=kernel), not on a role=module line");
	/* Both fit a Multiboot kernel; a Linux kernel refuses minimal (it could not power off). */
	reset();
	add("vm=p platform=pc");
	add("vm=m platform=minimal");
	CHECK_EQ(parse(), 0);
	CHECK_EQ(check_kernel(&cfg[0], VM_KERNEL_MULTIBOOT), 0);
	CHECK_EQ(check_kernel(&cfg[1], VM_KERNEL_MULTIBOOT), 0);
	CHECK_EQ(check_kernel(&cfg[0], VM_KERNEL_LINUX), 0);
	CHECK_EQ(check_kernel(&cfg[1], VM_KERNEL_LINUX), 1);
	CHECK_LOG("vm config: module 1: platform=minimal on vm m, whose kernel is a Linux bzImage: Linux needs the PC "
		  "platform");
}
