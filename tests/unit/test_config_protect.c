/* Unit tests of protect=START-END[:MODE] on a VM's kernel line (vm/config.c): good ranges in every form and mode, the
 * one key that may repeat, each refusal (reported once, naming the module, the word and the check, and leaving out
 * only its own VM), and the check against guest RAM, which has a hole from 3G to 4G once mem= is over 3G. */
#include <stdio.h>
#include <string.h>

#include "config_fixture.h"
#include "fake_platform.h"
#include "hv/compiler.h"

#define G (1ULL << 30)
#define M (1ULL << 20)

/* VM p's line (module 1) must be refused with exactly one error, expect; the VMs before and after it still start. */
static void check_protect_rejected(const char *line, const char *expect)
{
	reset();
	add("vm=before");
	add(line);
	add("vm=after");
	CHECK_EQ(parse(), 1);
	CHECK_EQ(ncfg, 2);
	CHECK_STR(cfg[0].name, "before");
	CHECK_STR(cfg[1].name, "after");
	CHECK_EQ(cfg[1].nr_protect, 0);
	CHECK_LOG(expect);
	CHECK_LAST_LOG("vm config: vm p left out because of the errors above");
}

/* VM p's line must be accepted, with n ranges. */
static void check_protect_accepted(const char *line, u32 n)
{
	reset();
	add(line);
	CHECK_EQ(parse(), 0);
	CHECK_EQ(ncfg, 1);
	CHECK_EQ(cfg[0].nr_protect, n);
}

TEST(config_protect_modes_and_number_forms)
{
	reset();
	add("vm=p protect=0x100000-0x200000:log protect=2097152-3145728:deny protect=4M-8M:kill "
	    "protect=0x800000-0x801000 \"protect=12m-16m:kill\" mem=32M");
	add("vm=plain");
	CHECK_EQ(parse(), 0);
	CHECK_EQ(ncfg, 2);
	CHECK_EQ(cfg[0].mem_bytes, 32 * M);
	CHECK_EQ(cfg[0].nr_protect, 5);
	/* hex with a mode */
	CHECK_EQ(cfg[0].protect[0].start, 0x100000);
	CHECK_EQ(cfg[0].protect[0].end, 0x200000);
	CHECK_EQ(cfg[0].protect[0].mode, VM_PROTECT_LOG);
	/* decimal, touching the range before it (ranges are half-open) */
	CHECK_EQ(cfg[0].protect[1].start, 0x200000);
	CHECK_EQ(cfg[0].protect[1].end, 0x300000);
	CHECK_EQ(cfg[0].protect[1].mode, VM_PROTECT_DENY);
	/* suffixes */
	CHECK_EQ(cfg[0].protect[2].start, 4 * M);
	CHECK_EQ(cfg[0].protect[2].end, 8 * M);
	CHECK_EQ(cfg[0].protect[2].mode, VM_PROTECT_KILL);
	/* one page, and no mode: deny */
	CHECK_EQ(cfg[0].protect[3].start, 0x800000);
	CHECK_EQ(cfg[0].protect[3].end, 0x801000);
	CHECK_EQ(cfg[0].protect[3].mode, VM_PROTECT_DENY);
	/* as GRUB re-quotes a word; lower-case suffixes */
	CHECK_EQ(cfg[0].protect[4].start, 12 * M);
	CHECK_EQ(cfg[0].protect[4].end, 16 * M);
	CHECK_EQ(cfg[0].protect[4].mode, VM_PROTECT_KILL);
	for (int i = 0; i < 5; i++)
		CHECK(!cfg[0].protect[i].late);
	/* A VM without protect= has none, although cfg[] started as 0xa5 garbage. */
	CHECK_STR(cfg[1].name, "plain");
	CHECK_EQ(cfg[1].nr_protect, 0);
	CHECK_EQ(cfg[1].protect[0].start, 0);
	CHECK_EQ(cfg[1].protect[0].end, 0);
}

/* `late` arms the range when the guest kernel sets up its system calls (vm/protect.h), in either order with MODE. */
TEST(config_protect_late_option)
{
	reset();
	add("vm=p protect=1M-2M:log:late protect=2M-3M:late protect=3M-4M:late:kill protect=4M-5M:kill mem=32M");
	CHECK_EQ(parse(), 0);
	CHECK_EQ(cfg[0].nr_protect, 4);
	CHECK_EQ(cfg[0].protect[0].mode, VM_PROTECT_LOG);
	CHECK(cfg[0].protect[0].late);
	CHECK_EQ(cfg[0].protect[1].mode, VM_PROTECT_DENY);
	CHECK(cfg[0].protect[1].late);
	CHECK_EQ(cfg[0].protect[2].mode, VM_PROTECT_KILL);
	CHECK(cfg[0].protect[2].late);
	CHECK_EQ(cfg[0].protect[3].mode, VM_PROTECT_KILL);
	CHECK(!cfg[0].protect[3].late);
}

TEST(config_protect_only_key_that_repeats)
{
	check_protect_accepted("vm=p protect=1M-2M protect=2M-3M protect=8M-9M", 3);
	/* Every other key still may appear once, protect= words around it or not. */
	check_protect_rejected("vm=p protect=1M-2M mem=8M protect=2M-3M mem=8M", "module 1: 'mem=8M': key given twice");
	check_protect_rejected("vm=p cmdline=a protect=1M-2M cmdline=b", "module 1: 'cmdline=b': key given twice");
	check_protect_rejected("vm=p protect=1M-2M vm=p", "module 1: 'vm=p': key given twice");
	check_protect_rejected("vm=p protection=1M-2M", "module 1: 'protection=1M-2M': unknown key (expected vm, role, "
							"mem, cpus, pages, console, tdp, entry, ws, reclaim, age_flush, "
							"private, platform, net, virtcon, cmdline, protect or ro)");
}

TEST(config_protect_malformed)
{
	static const struct {
		const char *word, *check;
	} cases[] = {
	    {"protect", "missing value (expected key=value)"},
	    {"protect=", "malformed range (expected protect=START-END[:MODE][:late])"},
	    {"protect=0x100000", "malformed range (expected protect=START-END[:MODE][:late])"},
	    {"protect=1M:kill", "malformed range (expected protect=START-END[:MODE][:late])"},
	    {"protect=-2M", "malformed address (expected a number with an optional K, M or G suffix)"},
	    {"protect=1M-", "malformed address"},
	    {"protect=1M-2M-3M", "malformed address"},
	    {"protect=1M-2Mx", "malformed address"}, /* trailing garbage */
	    {"protect=0x1000q-0x20000", "malformed address"},
	    {"protect=0x-0x1000", "malformed address"},
	    {"protect=1T-2T", "malformed address"},
	    {"protect=\"1M - 2M\"", "malformed address"},
	    {"protect=0-99999999999999999999999", "address does not fit in 64 bits"},
	    {"protect=0-0x10000000000000000", "address does not fit in 64 bits"},
	    {"protect=0-17179869184G", "address does not fit in 64 bits"},
	    {"protect=1M-2M:", "protect option must be log, deny, kill or late, each at most once"},
	    {"protect=1M-2M:Deny", "protect option must be log, deny, kill or late, each at most once"},
	    {"protect=1M-2M:denyx", "protect option must be log, deny, kill or late, each at most once"}, /* trailing garbage */
	    {"protect=1M-2M:deny:kill", "protect option must be log, deny, kill or late, each at most once"},
	    {"protect=1M-2M:allow", "protect option must be log, deny, kill or late, each at most once"},
	    {"protect=1M-2M:late:late", "protect option must be log, deny, kill or late, each at most once"},
	    {"protect=1M-2M:log:late:deny", "protect option must be log, deny, kill or late, each at most once"},
	};
	char line[128], expect[192];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		snprintf(line, sizeof(line), "vm=p %s", cases[i].word);
		snprintf(expect, sizeof(expect), "vm config: module 1: '%s': %s", cases[i].word, cases[i].check);
		check_protect_rejected(line, expect);
	}
}

TEST(config_protect_unaligned_empty_reversed)
{
	check_protect_rejected("vm=p protect=0x1001-0x2000",
			       "module 1: 'protect=0x1001-0x2000': range not 4K-aligned (START and END must be "
			       "multiples of 0x1000)");
	check_protect_rejected("vm=p protect=0x1000-0x2800:log", "module 1: 'protect=0x1000-0x2800:log': range not "
								 "4K-aligned");
	check_protect_rejected("vm=p protect=1K-8K", "range not 4K-aligned");
	check_protect_rejected("vm=p protect=2M-2M", "module 1: 'protect=2M-2M': empty or reversed range (START must "
						     "be below END)");
	check_protect_rejected("vm=p protect=0x3000-0x2000:kill", "module 1: 'protect=0x3000-0x2000:kill': empty or "
								  "reversed range");
	/* 0 is a fine start, and 4K alignment is all that is asked. */
	check_protect_accepted("vm=p protect=0-4K protect=0x5000-0x7000", 2);
}

TEST(config_protect_overlap)
{
	check_protect_rejected("vm=p protect=1M-3M protect=2M-4M",
			       "module 1: 'protect=2M-4M': range overlaps another protect= range of this VM "
			       "('protect=1M-3M')");
	/* contained, containing, equal, a shared last page; the earlier word named is the one overlapped */
	check_protect_rejected(
	    "vm=p protect=8M-9M protect=1M-4M protect=2M-3M:log",
	    "'protect=2M-3M:log': range overlaps another protect= range of this VM ('protect=1M-4M')");
	check_protect_rejected("vm=p protect=2M-3M protect=1M-4M", "'protect=1M-4M': range overlaps");
	check_protect_rejected("vm=p protect=1M-2M:log protect=0x100000-0x200000:kill",
			       "'protect=0x100000-0x200000:kill': range overlaps another protect= range of this VM "
			       "('protect=1M-2M:log')");
	check_protect_rejected("vm=p protect=0x1000-0x3000 protect=0x2000-0x4000", "range overlaps");
	/* Touching is not overlapping, in either order. */
	check_protect_accepted("vm=p protect=0x2000-0x3000 protect=0x1000-0x2000 protect=0x3000-0x4000", 3);
}

TEST(config_protect_limit)
{
	/* 17 short ranges, so the line stays under 255 characters; mem=8G puts the last three above 4G. */
	static const char *const r[] = {"0-4K",	 "4K-8K", "8K-1M", "1M-2M", "2M-3M", "3M-4M", "4M-5M", "5M-6M", "6M-7M",
					"7M-8M", "8M-9M", "9M-1G", "1G-2G", "2G-3G", "4G-5G", "5G-6G", "6G-7G"};
	char line[BOOT_MODULE_CMDLINE_MAX];
	size_t len;

	static_assert(ARRAY_SIZE(r) == VM_CONFIG_MAX_PROTECT + 1, "one range too many");
	len = (size_t)snprintf(line, sizeof(line), "vm=p mem=8G");
	for (size_t i = 0; i < VM_CONFIG_MAX_PROTECT; i++)
		len += (size_t)snprintf(line + len, sizeof(line) - len, " protect=%s", r[i]);
	check_protect_accepted(line, VM_CONFIG_MAX_PROTECT);
	CHECK_EQ(cfg[0].protect[15].start, 5 * G);
	CHECK_EQ(cfg[0].protect[15].end, 6 * G);

	len += (size_t)snprintf(line + len, sizeof(line) - len, " protect=%s", r[VM_CONFIG_MAX_PROTECT]);
	CHECK(len < BOOT_MODULE_CMDLINE_MAX - 1); /* not refused as cut short */
	check_protect_rejected(line, "module 1: 'protect=6G-7G': more than 16 protect= ranges for this VM");
}

TEST(config_protect_only_on_kernel_line)
{
	reset();
	add("vm=p");
	add("vm=p role=module protect=1M-2M protect=2M-3M cmdline=m");
	add("vm=q");
	CHECK_EQ(parse(), 1); /* once for the key, however often it is given */
	CHECK_EQ(ncfg, 1);
	CHECK_STR(cfg[0].name, "q");
	CHECK_LOG("vm config: module 1: 'protect=1M-2M': protect= goes on the kernel module (role=kernel), not on a "
		  "role=module line");

	reset();
	add("vm=i role=initrd protect=1M-2M:kill");
	add("vm=q");
	add("vm=i");
	CHECK_EQ(parse(), 1);
	CHECK_EQ(ncfg, 1);
	CHECK_STR(cfg[0].name, "q");
	CHECK_LOG("vm config: module 0: 'protect=1M-2M:kill': protect= goes on the kernel module (role=kernel), not on "
		  "a role=initrd line");
	CHECK_LOG("vm i left out");

	/* On the kernel line with its role spelt out, it is fine. */
	check_protect_accepted("vm=p role=kernel protect=1M-2M", 1);
}

TEST(config_protect_inside_ram)
{
	/* Default 64M: RAM is [0, 64M). */
	check_protect_accepted("vm=p protect=63M-64M", 1);
	check_protect_rejected("vm=p protect=63M-65M",
			       "vm config: module 1: 'protect=63M-65M': range outside guest RAM ([0, 0x4000000))");
	check_protect_rejected("vm=p protect=64M-68M", "'protect=64M-68M': range outside guest RAM");
	check_protect_rejected("vm=p protect=63M-0x4001000", "'protect=63M-0x4001000': range outside guest RAM");
	check_protect_rejected("vm=p protect=16G-17G", "'protect=16G-17G': range outside guest RAM ([0, 0x4000000))");

	/* mem=4G: [0, 3G) and [4G, 5G). A range in the hole, or across it, is refused; one above 4G is fine. */
	check_protect_rejected("vm=p mem=4G protect=0xe0000000-0xe0001000",
			       "vm config: module 1: 'protect=0xe0000000-0xe0001000': range outside guest RAM ([0, "
			       "0xc0000000) and [0x100000000, 0x140000000); it must lie inside one)");
	check_protect_rejected("vm=p mem=4G protect=0xbffff000-0x100001000", "range outside guest RAM");
	check_protect_rejected("vm=p mem=4G protect=3G-4G", "'protect=3G-4G': range outside guest RAM");
	check_protect_rejected("vm=p mem=4G protect=0xbffff000-0xc0001000", "range outside guest RAM");
	check_protect_rejected("vm=p mem=4G protect=0xfffff000-0x100001000", "range outside guest RAM");
	check_protect_accepted("vm=p mem=4G protect=0xbffff000-3G protect=4G-0x100001000:kill", 2);
	CHECK_EQ(cfg[0].protect[1].start, 4 * G);
	CHECK_EQ(cfg[0].protect[1].end, 4 * G + 0x1000);
	CHECK_EQ(cfg[0].protect[1].mode, VM_PROTECT_KILL);
	/* the end of the high piece */
	check_protect_accepted("vm=p mem=4G protect=0x13ffff000-0x140000000", 1);
	check_protect_rejected("vm=p mem=4G protect=0x13ffff000-0x140001000",
			       "'protect=0x13ffff000-0x140001000': range outside guest RAM");

	/* mem=3G exactly has no high piece. */
	check_protect_accepted("vm=p mem=3G protect=0xbffff000-3G", 1);
	check_protect_rejected("vm=p mem=3G protect=4G-0x100001000",
			       "'protect=4G-0x100001000': range outside guest RAM ([0, 0xc0000000))");

	/* mem= after protect= counts all the same; without mem= the default applies. */
	check_protect_accepted("vm=p protect=4G-5G mem=4G", 1);
	check_protect_rejected("vm=p protect=4G-5G", "'protect=4G-5G': range outside guest RAM ([0, 0x4000000))");
	/* A bad mem= is its own error; the ranges are not also held against a RAM size that does not exist. */
	check_protect_rejected("vm=p protect=32M-33M mem=1M", "module 1: 'mem=1M': size out of range");
	/* mem= rounds up to 2M, and the range is checked against the rounded size. */
	check_protect_accepted("vm=p mem=3M protect=3M-4M", 1);
}

TEST(config_protect_all_errors_of_a_line_are_reported)
{
	reset();
	add("vm=p protect=1M protect=0x1001-0x2000 protect=1M-2M:nope protect=8M-9M protect=8M-10M protect=1G-2G");
	add("vm=q");
	CHECK_EQ(parse(), 5);
	CHECK_EQ(ncfg, 1);
	CHECK_STR(cfg[0].name, "q");
	CHECK_LOG("'protect=1M': malformed range");
	CHECK_LOG("'protect=0x1001-0x2000': range not 4K-aligned");
	CHECK_LOG("'protect=1M-2M:nope': protect option must be");
	CHECK_LOG("'protect=8M-10M': range overlaps another protect= range of this VM ('protect=8M-9M')");
	CHECK_LOG("'protect=1G-2G': range outside guest RAM");
	CHECK(!strstr(logs, "'protect=8M-9M':")); /* the good range is not blamed */
}
