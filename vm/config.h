/* VM configuration from the GRUB module command lines: which modules make up which VM, and how big it is. The syntax
 * below is the user-facing contract (README copies it); vm_config_parse() checks every word and leaves out, with a
 * message, each VM that has anything wrong, so one bad VM never stops the others. */
#ifndef VM_CONFIG_H
#define VM_CONFIG_H

#include "boot/mb2.h"
#include "hv/types.h"

/*
 * Syntax. Each GRUB `module2` line carries, after the file name, words `key=value` separated by spaces; a value may be
 * double-quoted to hold spaces (quotes are dropped). Keys are case-sensitive and each may appear once per module,
 * except protect=, the one key that may repeat.
 *
 *   vm=NAME        required: the VM the module belongs to; 1-31 characters of [A-Za-z0-9_.-]. A module without vm=
 *                  is not a VM module: it is skipped with a note (other features may use it).
 *   role=kernel    (the default) the guest kernel: a Multiboot (v1) image or a Linux x86 bzImage
 *                  (vm/loader/linux.h). Exactly one per VM.
 *   role=module    handed to the guest kernel as a Multiboot module, in the order of the module2 lines; at most 8.
 *                  A Linux kernel takes none (vm_config_check_kernel, below: its VM is refused).
 *   role=initrd    the initial ramdisk of a Linux kernel; at most one per VM, not empty. The line takes no key
 *                  but vm= and role= (the ramdisk has no command line, and size keys belong to the kernel). A
 *                  Multiboot kernel has none (its VM is refused: give the file as role=module).
 *   role=disk      a virtio-blk disk (vm/dev/virtio/blk.h) whose contents are the module: the first is vda, the
 *                  next vdb, in the order of the module2 lines; at most 8. The line takes no key but vm= and role=,
 *                  and the word `ro` (no value), which makes the disk read-only (VIRTIO_BLK_F_RO). Its size must be
 *                  a non-zero multiple of 512 bytes: it is refused otherwise, not padded (the bytes after a module
 *                  are not the module's to use). The disk lives in host RAM: the guest's writes change the module's
 *                  memory only, and are lost at power-off. A disk is a PCI device: a Multiboot kernel with one
 *                  needs platform=pc (vm_config_check_kernel).
 *   mem=SIZE       kernel module only: guest RAM, decimal or 0x hex with an optional K, M or G suffix (binary); at
 *                  least 2M, at most 64G, rounded up to a multiple of 2M. Default 64M.
 *   cpus=N         kernel module only: vCPUs, 1 to 16. Default 1. Each vCPU has a physical CPU to itself while the
 *                  VM runs (vCPU i has APIC ID i; vCPU 0 starts the guest, the others wait for its INIT-SIPI), so
 *                  a VM starts once that many CPUs are free, and one that wants more than the machine has is
 *                  refused.
 *   console=lines|raw  kernel module only: `lines` (default) prints the guest's output a line at a time as
 *                  "[NAME] line", with control characters shown as '.'; `raw` passes it through as it comes, escape
 *                  sequences included, for an interactive guest on the console (`make run`).
 *   virtcon=on|off kernel module only: give the VM a virtio-console (one port, vm/dev/virtio/console.h) on its PCI
 *                  bus (the PC platform: Linux, or platform=pc). Its output is printed like the UART's; typed input
 *                  goes to it once its driver is ready (a Linux guest then wants console=hvc0), to the UART before.
 *                  Off by default: a guest that loads the driver but keeps its console on ttyS0 would lose its
 *                  input to an hvc0 nobody reads.
 *   pages=4k|2m|1g kernel module only: the largest page the TDP MMU maps guest RAM with (the hardware's largest
 *                  by default). pages=4k makes every fault a 4K fault, for tests and benchmarks.
 *   ws=INTERVAL    kernel module only: run the working-set estimator (vm/ws.h), one scan of the whole guest every
 *                  INTERVAL: a decimal number with a unit, us, ms or s (ws=10ms, ws=1s), from 1ms to 3600s. Off
 *                  by default.
 *   reclaim=on|off kernel module only, with ws=: give back to the hypervisor the guest memory the scans find cold
 *                  and all zero, in 2 MiB chunks (mm/mmu_reclaim.c). Off by default.
 *   private=on|off kernel module only, Multiboot kernels only: the VM's RAM is private (vm/private.c,
 *                  mm/private.h): the hypervisor cannot read it, and the guest shares pages explicitly
 *                  (vm/private_abi.h). Needs TDP (EPT or NPT); not with tdp=0, reclaim=on or protect=. Off by
 *                  default.
 *   age_flush=on|off  kernel module only: whether an aging pass (a ws= scan, HC_AGE) that made a page old ends with
 *                  a TLB flush of the VM's vCPUs (mm/mmu.h: mmu->age_flush). Default: hv.age_flush (off).
 *   platform=pc|minimal  kernel module only: `pc` adds to the devices every VM has the rest of a PC: PIT, RTC,
 *                  i8042, port 0x80, IOAPIC at 0xfec00000, HPET at 0xfed00000, the ACPI PM block and reset port,
 *                  and ACPI tables (RSDP in 0xe0000-0xfffff; MADT, FADT, HPET, DSDT). `minimal` leaves them out.
 *                  Default: pc for a Linux kernel (which is refused with minimal), minimal for a Multiboot one
 *                  (see vm_platform below).
 *   net=NAME       kernel module only: a virtio-net device (vm/dev/virtio/net.h) on the virtual switch NAME
 *                  (vm/dev/virtio/vswitch.h), shared by every VM that names it; NAME follows the rules of vm=. Its MAC
 *                  is derived from the VM's name. Needs the PC platform (the device is on PCI). None by default.
 *   cmdline="..."  on the kernel module, the guest kernel's command line; on a role=module module, that module's
 *                  Multiboot string. Default empty.
 *   protect=START-END[:MODE][:late]
 *                  kernel module only, and may be given up to 16 times: a guest-physical range [START, END)
 *                  whose writes, by the guest or by a device, are watched. START and END are numbers as for mem=
 *                  (decimal or 0x hex, optional K, M or G suffix), both 4K-aligned, START below END. The range must
 *                  lie wholly inside one piece of guest RAM, which with mem=M is [0, min(M, 3G)) and, when M is
 *                  over 3G, [4G, 4G + M - 3G); the ranges of a VM must not overlap (they may touch). MODE says what
 *                  a write to the range does: `log` lets it through and logs it, `deny` (the default) drops it and
 *                  counts it, `kill` ends the VM. `late` arms the range only once the guest kernel sets IA32_LSTAR
 *                  (vm/protect.h), so its loader and decompressor may write it. Options come in any order, each at
 *                  most once. Example: protect=0x100000-0x200000:kill protect=16M-17M:log:late. The MMU enforces
 *                  it by write-protecting the range (refcounted write tracking, mm/track; vm/protect.c).
 *
 * A module's whole argument line must stay under 255 characters: struct boot_info keeps 255 and cuts longer ones
 * short, so a line that fills it is refused rather than used with its end missing.
 *
 * GRUB applies its own shell quoting first: it removes the quotes written in grub.cfg and then re-quotes, as a whole,
 * any argument that contains a space, so `cmdline="console=ttyS0 quiet"` in grub.cfg arrives as
 * `"cmdline=console=ttyS0 quiet"`. Both forms are accepted: a word with no '=' outside quotes is split at its first
 * '=' inside them. GRUB also puts a backslash before every \, ' and " in an argument, and those backslashes reach the
 * guest as they are: keep guest command lines free of those three characters.
 *
 * There is no limit on VMs but the one on modules: a boot keeps BOOT_MAX_MODULES (boot/mb2.h, 128) GRUB modules, and
 * one with more starts no VM at all, since any of them could be missing a module.
 *
 * A VM is listed where its name first appears, so its modules may come before its kernel. Example (grub.cfg):
 *
 *   multiboot2 /boot/hv.elf loglevel=6
 *   module2 /boot/initrd.img vm=linux role=initrd
 *   module2 /boot/vmlinuz    vm=linux mem=512M cmdline="console=ttyS0 quiet"
 *   module2 /boot/test.elf   vm=test1 mem=16M
 *   module2 /boot/mod.bin    vm=test1 role=module cmdline="first"
 *
 * Errors, each reported with pr_err naming the module index, the word and the check that failed; the VM concerned is
 * left out: an unknown key, a key given twice, a word without a value or with an unterminated quote, a bad name, a
 * bad role, `ro` with a value or on a line that is not role=disk, any key but vm= and role= on a role=disk line, a
 * ninth disk, an empty disk or one whose size is not a multiple of 512, mem=, cpus=, pages= or ws= out of range or malformed, reclaim= not on or off, or on without ws= or on a
 * role=module line, any key but vm= and role= on a role=initrd line, a value too long, a second kernel or a second
 * initrd for a VM, a VM with no kernel, a ninth module, an empty kernel image or initrd; for protect=: a value that is
 * not START-END[:MODE] (no '-', a bad number, an unknown mode, anything after it), a bound not 4K-aligned, an empty or
 * reversed range, a range that overlaps another of the VM, a seventeenth range, protect= on a role=module or
 * role=initrd line, a range outside guest RAM; a bad network name, net= on another line than the kernel's.
 */

#define VM_CONFIG_MAX_MODULES 8
#define VM_CONFIG_MAX_DISKS   8 /* role=disk per VM: vda to vdh; the error message says 8 */
#define VM_CONFIG_DISK_SECTOR 512
#define VM_CONFIG_MAX_VCPUS   16 /* = VM_MAX_VCPUS (vm/vm.h); the parse error message says 16 */
#define VM_CONFIG_NAME_MAX    32  /* including the NUL */
#define VM_CONFIG_CMDLINE_MAX 256 /* including the NUL */
#define VM_CONFIG_MEM_DEFAULT (64ULL << 20)
#define VM_CONFIG_MEM_MIN     (2ULL << 20)
#define VM_CONFIG_MEM_MAX     (64ULL << 30)
/* Guest RAM of mem=M bytes is [0, min(M, LOW_MAX)) and, beyond that, [HIGH_BASE, HIGH_BASE + M - LOW_MAX): the gap
 * is the 32-bit PCI/MMIO hole. vm/launch.c builds the memslots from these; protect= ranges are checked against them. */
#define VM_CONFIG_RAM_LOW_MAX	(3ULL << 30)
#define VM_CONFIG_RAM_HIGH_BASE (4ULL << 30)
#define VM_CONFIG_MAX_PROTECT	16 /* protect= ranges per VM; the error message says 16 */
#define WS_INTERVAL_MIN_US	1000ULL       /* ws=1ms; the error message says so */
#define WS_INTERVAL_MAX_US	3600000000ULL /* ws=3600s */

/* What a write to a protect= range does (struct vm_config.protect[].mode). */
enum vm_protect_mode {
	VM_PROTECT_LOG,	 /* the write goes through and is logged */
	VM_PROTECT_DENY, /* the write is dropped and counted (the default) */
	VM_PROTECT_KILL, /* the VM ends */
};

/* Which devices a VM gets beyond those every VM has (vm/dev/platform.c). The default depends on the kernel: Linux
 * expects a PC and gets one; a Multiboot kernel gets the minimal set, which is what the Multiboot specification
 * promises it (nothing) plus the console and test devices, and which keeps device timers (PIT, RTC, HPET) and their
 * wake-ups out of the exit counts of the tests and benchmarks that are most of the Multiboot kernels run here. A
 * Multiboot kernel that wants the PC (a third-party test kernel that programs the PIT or reads ACPI) says
 * platform=pc. */
enum vm_platform { VM_PLATFORM_DEFAULT, VM_PLATFORM_PC, VM_PLATFORM_MINIMAL };

/* One VM. Addresses are host-physical ranges [start, end) of GRUB modules, from struct boot_info. */
enum { VM_AGE_FLUSH_DEFAULT, VM_AGE_FLUSH_OFF, VM_AGE_FLUSH_ON };

struct vm_config {
	char name[VM_CONFIG_NAME_MAX];
	u64 mem_bytes; /* a multiple of 2 MiB */
	u32 cpus;
	u8 max_page_level; /* 0: the hardware's largest; else 1 (4K), 2 (2M), 3 (1G) */
	bool console_raw;  /* console=raw: guest output goes to the host console as it comes, unprefixed */
	bool shadow_paging; /* tdp=0: the shadow MMU even where the CPU has EPT/NPT */
	bool linux_entry32; /* entry=32: a Linux kernel starts at its 32-bit boot-protocol entry, paging off */
	u64 ws_interval_us; /* ws=: the working-set scan interval, 0 when off */
	bool ws_reclaim;    /* reclaim=on */
	bool private_mem;   /* private=on (vm/private.c) */
	u8 age_flush;       /* age_flush=: VM_AGE_FLUSH_DEFAULT (hv.age_flush decides), _OFF or _ON */
	enum vm_platform platform; /* platform=, VM_PLATFORM_DEFAULT when not given */
	char net[VM_CONFIG_NAME_MAX]; /* net=: the virtual switch's name, "" without a network device */
	bool virtcon;       /* virtcon=on: a virtio-console (vm/dev/virtio/console.h) */
	char cmdline[VM_CONFIG_CMDLINE_MAX];
	u64 kernel_start, kernel_end;
	u64 initrd_start, initrd_end; /* the role=initrd module, when has_initrd; never empty */
	bool has_initrd;
	u32 kernel_index, initrd_index; /* GRUB module indices, for messages */
	u32 nr_modules;
	struct {
		u64 start, end;
		u32 index; /* the GRUB module index */
		char cmdline[VM_CONFIG_CMDLINE_MAX];
	} modules[VM_CONFIG_MAX_MODULES];
	/* role=disk modules, in the order of their lines (vda first): non-empty, a multiple of 512 bytes. */
	u32 nr_disks;
	struct {
		u64 start, end;
		u32 index; /* the GRUB module index */
		bool ro;
	} disks[VM_CONFIG_MAX_DISKS];
	/* protect= ranges, in the order of the kernel line: guest-physical [start, end), 4K-aligned, non-empty, each
	 * inside one piece of guest RAM, pairwise disjoint. mode is an enum vm_protect_mode. */
	struct {
		u64 start, end;
		u8 mode;
		bool late; /* armed when the guest kernel first sets IA32_LSTAR (vm/protect.h), not at the VM's start */
	} protect[VM_CONFIG_MAX_PROTECT];
	u32 nr_protect;
};

/*
 * Parse the command lines of bi's modules into out[0..*n): the valid VMs only, in order of first appearance. out is
 * also the working area, so it needs room for every VM name that appears: bi->nr_modules entries always suffice (a
 * name beyond max is an error; max beyond BOOT_MAX_MODULES is not used). No VM at all when bi lost modules
 * (modules_dropped). Returns the number of errors reported (0 when every VM module was fine; the VMs in out are
 * usable either way), or -EINVAL if an argument is NULL or max is 0. Not reentrant: one parse at a time.
 */
int vm_config_parse(const struct boot_info *bi, struct vm_config *out, u32 max, u32 *n);

/* The boot protocol of a VM's kernel, which its image says (vm/launch.c looks), and which decides what else the VM
 * can be given. */
enum vm_kernel_kind {
	VM_KERNEL_MULTIBOOT, /* takes role=module modules, in order; no initrd, no entry= */
	VM_KERNEL_LINUX,     /* a bzImage: one role=initrd at most, no modules */
};

/*
 * Check c against the boot protocol of its kernel, once the image has said which it is: a role=module given to a
 * Linux kernel, a role=initrd given to a Multiboot kernel, and entry=32 on a Multiboot kernel are each reported,
 * naming the module and the VM. The VM is then to be refused as a whole, not run without what it was given: a guest
 * that silently lacks its initrd or a module fails later and far from the cause. Returns the number of errors.
 */
u32 vm_config_check_kernel(const struct vm_config *c, enum vm_kernel_kind kind);

#endif
