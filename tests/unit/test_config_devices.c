/* The VM configuration's device keys (vm/config.h): role=disk modules (vda, vdb, ... in line order, ro as a bare word,
 * sizes in whole sectors, the PC platform) and virtcon=. net= is test_config_net.c's. */
#include <stdio.h>
#include <string.h>

#include "config_fixture.h"
#include "hv/compiler.h"
#include "hv/errno.h"
#include "test.h"

/* role=disk (issue 16): disks in the order of their lines, ro as a bare word, sizes in whole sectors. */
static void set_size(u32 idx, u64 bytes)
{
	bi.modules[idx].end = bi.modules[idx].start + bytes;
}

TEST(config_disks)
{
	reset();
	add("vm=lx role=disk");
	add("vm=lx mem=128M");
	add("vm=lx role=disk ro");
	add("vm=other");
	add("ro vm=lx role=disk");
	set_size(0, 1 << 20);
	set_size(2, 512);
	set_size(4, 0x8000);
	CHECK_EQ(parse(), 0);
	CHECK_EQ(ncfg, 2);
	CHECK_EQ(cfg[0].nr_disks, 3);
	CHECK_EQ(cfg[0].disks[0].start, bi.modules[0].start);
	CHECK_EQ(cfg[0].disks[0].end, bi.modules[0].start + (1 << 20));
	CHECK_EQ(cfg[0].disks[0].index, 0);
	CHECK(!cfg[0].disks[0].ro);
	CHECK_EQ(cfg[0].disks[1].index, 2);
	CHECK_EQ(cfg[0].disks[1].end - cfg[0].disks[1].start, 512);
	CHECK(cfg[0].disks[1].ro);
	CHECK_EQ(cfg[0].disks[2].index, 4);
	CHECK(cfg[0].disks[2].ro);
	CHECK_EQ(cfg[0].nr_modules, 0); /* a disk is not a Multiboot module */
	CHECK(!cfg[0].has_initrd);
	CHECK_EQ(cfg[0].mem_bytes, 128ULL << 20);
	CHECK_EQ(cfg[1].nr_disks, 0);
}

TEST(config_disk_errors)
{
	/* Each refused out loud, its VM left out. */
	check_rejected("vm=a role=disk ro=1", "'ro=1': ro takes no value");
	check_rejected("vm=a role=disk ro ro", "'ro': key given twice in this module");
	check_rejected("vm=a role=disk cmdline=x", "'cmdline=x': a disk has no command line");
	check_rejected("vm=a role=disk mem=8M", "'mem=8M': mem= goes on the kernel module (role=kernel), not on a "
						"role=disk line");
	check_rejected("vm=a role=disk rw", "'rw': unknown key");
	check_rejected("vm=a role=disk cpus=2", "'cpus=2': cpus= goes on the kernel module");

	/* ro on another line. */
	reset();
	add("vm=a ro");
	add("vm=b role=module ro");
	add("vm=c role=initrd ro");
	add("vm=ok");
	CHECK_EQ(parse(), 5); /* and vm b and vm c have no kernel */
	CHECK_EQ(ncfg, 1);
	CHECK_STR(cfg[0].name, "ok");
	CHECK_LOG("module 0: 'ro': ro belongs on a role=disk line");
	CHECK_LOG("module 1: 'ro': ro belongs on a role=disk line");
	CHECK_LOG("module 2: 'ro': ro belongs on a role=disk line");

	/* Sizes: not whole sectors, or empty. */
	reset();
	add("vm=a role=disk");
	add("vm=a");
	add("vm=b role=disk");
	add("vm=b");
	add("vm=ok role=disk");
	add("vm=ok");
	set_size(0, 1000);
	set_size(2, 0);
	set_size(4, 4096);
	CHECK_EQ(parse(), 2);
	CHECK_EQ(ncfg, 1);
	CHECK_STR(cfg[0].name, "ok");
	CHECK_LOG("module 0: disk of vm a is 1000 bytes: a disk must be a non-zero multiple of 512 bytes");
	CHECK_LOG("module 2: disk of vm b is 0 bytes");
	CHECK_LOG("vm config: vm a left out");

	/* A ninth disk. */
	reset();
	for (u32 i = 0; i < VM_CONFIG_MAX_DISKS + 1; i++) {
		add("vm=many role=disk");
		set_size(i, 512 * (i + 1));
	}
	add("vm=many");
	CHECK_EQ(parse(), 1);
	CHECK_EQ(ncfg, 0);
	CHECK_LOG("module 8: vm many has more than 8 disks");

	/* Eight are fine, vda to vdh. */
	reset();
	for (u32 i = 0; i < VM_CONFIG_MAX_DISKS; i++) {
		add("vm=eight role=disk");
		set_size(i, 512 * (i + 1));
	}
	add("vm=eight");
	CHECK_EQ(parse(), 0);
	CHECK_EQ(ncfg, 1);
	CHECK_EQ(cfg[0].nr_disks, 8);
	CHECK_EQ(cfg[0].disks[7].end - cfg[0].disks[7].start, 4096);
}

/* A disk is a PCI device: a Multiboot kernel needs platform=pc for one; a Linux kernel always has the PC. */
TEST(config_disk_needs_pc_platform)
{
	reset();
	add("vm=mb role=disk");
	add("vm=mb");
	add("vm=pc role=disk");
	add("vm=pc platform=pc");
	add("vm=lx role=disk");
	add("vm=lx");
	set_size(2, 4096);
	set_size(4, 4096);
	CHECK_EQ(parse(), 0);
	CHECK_EQ(ncfg, 3);
	CHECK_EQ(check_kernel(&cfg[0], VM_KERNEL_MULTIBOOT), 1);
	CHECK_LOG("module 0: role=disk on vm mb, whose Multiboot kernel gets the minimal platform: a disk is a PCI "
		  "device, add platform=pc to the kernel line");
	CHECK_EQ(check_kernel(&cfg[1], VM_KERNEL_MULTIBOOT), 0);
	CHECK_EQ(check_kernel(&cfg[2], VM_KERNEL_LINUX), 0);
}

/* virtcon=on|off (issue 16): kernel line only, off by default; it needs the PCI bus of the PC platform, so
 * platform=minimal, or a Multiboot kernel without platform=pc, is refused. */
TEST(config_virtcon)
{
	reset();
	add("vm=d");
	add("vm=on virtcon=on");
	add("vm=off virtcon=off platform=pc");
	CHECK_EQ(parse(), 0);
	CHECK(!cfg[0].virtcon);
	CHECK(cfg[1].virtcon);
	CHECK(!cfg[2].virtcon);
	check_rejected("vm=w virtcon=yes", "virtcon must be on or off");
	check_rejected("vm=w virtcon=on platform=minimal", "virtcon=on needs a PCI bus, which platform=minimal has not");
	reset();
	add("vm=m");
	add("vm=m role=module virtcon=on");
	CHECK(parse() > 0);
	CHECK_LOG("virtcon= goes on the kernel module (role=kernel), not on a role=module line");
	reset();
	add("vm=a virtcon=on");
	add("vm=b virtcon=on platform=pc");
	CHECK_EQ(parse(), 0);
	CHECK_EQ(check_kernel(&cfg[0], VM_KERNEL_LINUX), 0);
	CHECK_EQ(check_kernel(&cfg[1], VM_KERNEL_MULTIBOOT), 0);
	CHECK_EQ(check_kernel(&cfg[0], VM_KERNEL_MULTIBOOT), 1);
	CHECK_LOG("vm config: module 0: virtcon=on on vm a, a Multiboot kernel without platform=pc");
}
