/* net=NAME on the kernel line (vm/config.h): a network name as strict as a VM name, the kernel line only, and the
 * PC platform (the device is on PCI). */
#include <string.h>

#include "config_fixture.h"
#include "test.h"

TEST(config_net)
{
	reset();
	add("vm=a net=lan0");
	add("vm=b net=lan0");
	add("vm=c");
	CHECK_EQ(parse(), 0);
	CHECK_EQ(ncfg, 3);
	CHECK_STR(cfg[0].net, "lan0");
	CHECK_STR(cfg[1].net, "lan0");
	CHECK_STR(cfg[2].net, "");
	check_rejected("vm=w net=", "network name must be 1-31 characters of [A-Za-z0-9_.-]");
	check_rejected("vm=w net=a/b", "network name must be 1-31 characters of [A-Za-z0-9_.-]");
	check_rejected("vm=w net=0123456789012345678901234567890123", "network name must be 1-31 characters");
	check_rejected("vm=w net", "missing value (expected key=value)");
	check_rejected("vm=w net=x net=x", "key given twice in this module");
	check_rejected("vm=w nett=x", "unknown key (expected vm, role, mem, cpus, pages, console, tdp, entry, ws, "
				      "reclaim, age_flush, private, platform, net, virtcon, cmdline, protect or ro)");
	reset();
	add("vm=m");
	add("vm=m role=initrd net=lan");
	CHECK(parse() > 0);
	CHECK_LOG("net= goes on the kernel module (role=kernel), not on a role=initrd line");
	CHECK_EQ(ncfg, 0);
}

/* A Linux kernel has the PC platform; a Multiboot kernel needs platform=pc for a network device. */
TEST(config_net_needs_pci)
{
	reset();
	add("vm=d net=lan");
	add("vm=p net=lan platform=pc");
	CHECK_EQ(parse(), 0);
	CHECK_EQ(check_kernel(&cfg[0], VM_KERNEL_LINUX), 0);
	CHECK_EQ(check_kernel(&cfg[1], VM_KERNEL_MULTIBOOT), 0);
	CHECK_EQ(check_kernel(&cfg[0], VM_KERNEL_MULTIBOOT), 1);
	CHECK_LOG("vm config: module 0: net=lan on vm d, whose kernel is a Multiboot image without platform=pc");
}
