/* The hypervisor command line options (documented in README.md; `hv.help` lists them at boot). */
#ifndef KERNEL_OPTIONS_H
#define KERNEL_OPTIONS_H

#include "hv/types.h"

enum on_done { ON_DONE_POWEROFF, ON_DONE_HALT, ON_DONE_REBOOT };
enum mmu_lock_mode { MMU_LOCK_SHARED, MMU_LOCK_EXCLUSIVE };
enum selftest { SELFTEST_NONE, SELFTEST_UD, SELFTEST_PF, SELFTEST_PANIC, SELFTEST_BUG };

struct hv_options {
	u64 loglevel;
	int backend;   /* enum virt_backend */
	bool tdp;
	bool ept_ad;   /* EPT A/D bits where the CPU has them (arch/x86/vmx/vmx_run.c: vmx_ept_ad_enabled) */
	/* APIC virtualization where the CPU has it (VMX: TPR shadow and virtual-interrupt delivery, vmx_apicv.c), and
	 * the decode-free xAPIC EOI write (vm/lapic_eoi.c); 0: every APIC access takes the emulated path */
	bool apicv;
	bool shadow_unsync; /* shadow paging lets guest leaf tables go unsync (mm/shadow/unsync.c) */
	bool rsb_fill;      /* refill the return stack buffer after every VM exit (arch/x86/rsb.h); 0 only to measure */
	int mmu_lock;  /* enum mmu_lock_mode: TDP faults under the MMU lock held for read, or for write (mm/mmu.h) */
	bool vtest;    /* every platform=pc VM gets the virtio test device (vm/dev/virtio/vtest.c) */
	bool age_flush; /* the default of age_flush= (vm/config.h): TLB flush after aging (mm/mmu.h: mmu->age_flush) */
	u64 stall;     /* seconds of console silence before a VM's stall report (vm/stall.h); 0: never */
	u64 max_cpus;
	int panic;     /* enum panic_action */
	int on_done;   /* enum on_done */
	int selftest;  /* enum selftest */
	bool help;
};

extern struct hv_options hv_opts;

/* Parse the boot command line into hv_opts; returns the number of problems (each already reported). */
int options_parse(const char *cmdline);
void options_print_help(void);

#endif
