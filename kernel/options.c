/* The option table. Every option the hypervisor understands is here, with its bounds and a line of help; anything
 * else on the command line is reported and ignored, never fatal. */
#include "arch/x86/virt.h"
#include "kernel/cmdline.h"
#include "kernel/options.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "hv/compiler.h"
#include "hv/log.h"

struct hv_options hv_opts = {
	.loglevel = LOG_INFO,
	.backend = VIRT_AUTO,
	.tdp = true,
	.ept_ad = true,
	.apicv = true,
	.shadow_unsync = true,
	.rsb_fill = true,
	.max_cpus = MAX_CPUS,
	.panic = PANIC_HALT,
	.on_done = ON_DONE_POWEROFF,
};

static const char *const backend_names[] = { "auto", "vmx", "svm", "none", NULL };
static const char *const mmu_lock_names[] = { "shared", "exclusive", NULL };
static const char *const panic_names[] = { "halt", "poweroff", "reboot", NULL };
static const char *const done_names[] = { "poweroff", "halt", "reboot", NULL };
static const char *const selftest_names[] = { "none", "ud", "pf", "panic", "bug", NULL };

static const struct cmdline_opt opts[] = {
	{ "loglevel", CMDLINE_U64, &hv_opts.loglevel, 0, 7, 0, NULL,
	  "console verbosity 0-7 (3 errors, 4 warnings, 6 info, 7 debug); default 6" },
	{ "hv.backend", CMDLINE_ENUM, &hv_opts.backend, 0, 0, 0, backend_names,
	  "auto|vmx|svm|none: virtualization backend; auto picks from CPUID" },
	{ "hv.tdp", CMDLINE_BOOL, &hv_opts.tdp, 0, 0, 0, NULL, "0|1: nested paging (EPT/NPT); 0 asks for shadow paging" },
	{ "hv.ept_ad", CMDLINE_BOOL, &hv_opts.ept_ad, 0, 0, 0, NULL,
	  "0|1: use EPT accessed/dirty bits where the CPU has them (0: age by access tracking, as without them)" },
	{ "hv.apicv", CMDLINE_BOOL, &hv_opts.apicv, 0, 0, 0, NULL,
	  "0|1: APIC virtualization where the CPU has it and the xAPIC EOI fast path (0: emulate every APIC access)" },
	{ "hv.shadow_unsync", CMDLINE_BOOL, &hv_opts.shadow_unsync, 0, 0, 0, NULL,
	  "0|1: shadow paging lets guest leaf tables go unsync (default 1; 0: every write to them is emulated)" },
	{ "hv.rsb_fill", CMDLINE_BOOL, &hv_opts.rsb_fill, 0, 0, 0, NULL,
	  "0|1: refill the return stack buffer after every VM exit (default 1; 0 only to measure its cost, bench/)" },
	{ "hv.age_flush", CMDLINE_BOOL, &hv_opts.age_flush, 0, 0, 0, NULL,
	  "0|1: flush the VM's TLBs after an aging pass that made a page old (default 0, as KVM; age_flush= per VM)" },
	{ "hv.vtest", CMDLINE_BOOL, &hv_opts.vtest, 0, 0, 0, NULL,
	  "0|1: give every platform=pc VM the virtio test device, an echo queue for guest tests (default 0)" },
	{ "hv.mmu_lock", CMDLINE_ENUM, &hv_opts.mmu_lock, 0, 0, 0, mmu_lock_names,
	  "shared|exclusive: TDP faults run in parallel under the MMU lock held for read (default), or one at a time" },
	{ "hv.stall", CMDLINE_U64, &hv_opts.stall, 0, 3600, 0, NULL,
	  "seconds of silence on a VM's console after which each vCPU logs its state, for hung guests (0: never)" },
	{ "hv.cpus", CMDLINE_U64, &hv_opts.max_cpus, 1, MAX_CPUS, 0, NULL, "use at most this many CPUs (1-64)" },
	{ "hv.panic", CMDLINE_ENUM, &hv_opts.panic, 0, 0, 0, panic_names,
	  "halt|poweroff|reboot: what a hypervisor panic does after printing its report" },
	{ "hv.done", CMDLINE_ENUM, &hv_opts.on_done, 0, 0, 0, done_names,
	  "poweroff|halt|reboot: what happens when there is nothing left to run" },
	{ "hv.selftest", CMDLINE_ENUM, &hv_opts.selftest, 0, 0, 0, selftest_names,
	  "none|ud|pf|panic|bug: provoke a fault after boot, to test the crash report" },
	{ "hv.help", CMDLINE_BOOL, &hv_opts.help, 0, 0, 0, NULL, "print this list at boot" },
};

int options_parse(const char *cmdline)
{
	return cmdline_parse(cmdline, opts, ARRAY_SIZE(opts));
}

void options_print_help(void)
{
	pr_info("hv: command-line options:\n");
	for (size_t i = 0; i < ARRAY_SIZE(opts); i++)
		pr_info("  %-12s %s\n", opts[i].name, opts[i].help);
}
