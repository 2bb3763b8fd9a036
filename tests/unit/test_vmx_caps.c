/* Tests of the VMX capability decoder, control adjustment, CR fixed bits, minimum check and report, against MSR sets
 * modelled on real CPUs: a Skylake-SP-class part with everything, Sandy Bridge, and a Core 2 without secondary
 * controls. */
#include <string.h>

#include "test.h"
#include "fake_platform.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/vmx/vmx_caps.h"
#include "hv/errno.h"

/* Secondary controls a Skylake server allows: bits 0-14, 16-18, 20 and 25. */
#define SKL_PROC2_ALLOWED1 0x02177fffULL

static const struct vmx_msrs skylake = {
    .basic = 0x00da040000000004ULL,
    .pinbased = 0x000000ff00000016ULL,
    .procbased = 0xfff9fffe0401e172ULL,
    .exit = 0x01ffffff00036dffULL,
    .entry = 0x0003ffff000011ffULL,
    .misc = 0x000000007004c1e7ULL,
    .cr0_fixed0 = 0x80000021ULL,
    .cr0_fixed1 = 0xffffffffULL,
    .cr4_fixed0 = 0x2000ULL,
    .cr4_fixed1 = 0x3767ffULL,
    .vmcs_enum = 0x2eULL,
    .procbased2 = SKL_PROC2_ALLOWED1 << 32,
    .ept_vpid_cap = 0x00000f0106734141ULL,
    .true_pinbased = 0x000000ff00000016ULL,
    .true_procbased = 0xfff9fffe04006172ULL,
    .true_exit = 0x01ffffff00036dfbULL,
    .true_entry = 0x0003ffff000011fbULL,
    .vmfunc = 0x1ULL,
};

static const struct vmx_msrs sandy_bridge = {
    .basic = 0x00da040000000010ULL,
    .pinbased = 0x0000007f00000016ULL,
    .procbased = 0xfff9fffe0401e172ULL,
    .exit = 0x007fffff00036dffULL,
    .entry = 0x0000ffff000011ffULL,
    .misc = 0x00000000100401e5ULL,
    .cr0_fixed0 = 0x80000021ULL,
    .cr0_fixed1 = 0xffffffffULL,
    .cr4_fixed0 = 0x2000ULL,
    .cr4_fixed1 = 0x627ffULL,
    .vmcs_enum = 0x2aULL,
    .procbased2 = 0x000000ff00000000ULL,
    .ept_vpid_cap = 0x00000f0106114141ULL,
    .true_pinbased = 0x0000007f00000016ULL,
    .true_procbased = 0xfff9fffe04006172ULL,
    .true_exit = 0x007fffff00036dfbULL,
    .true_entry = 0x0000ffff000011fbULL,
};

/* Core 2 class: no secondary controls, no TRUE MSRs, no EFER/PAT load/save. procbased2 and ept_vpid_cap hold
 * garbage the decoder must not believe, as if a careless caller had read them anyway. */
static const struct vmx_msrs core2 = {
    .basic = 0x005a040000000007ULL,
    .pinbased = 0x0000003f00000016ULL,
    .procbased = 0x7ff9fffe0401e172ULL,
    .exit = 0x0003ffff00036dffULL,
    .entry = 0x00003fff000011ffULL,
    .misc = 0x00000000000403c0ULL,
    .cr0_fixed0 = 0x80000021ULL,
    .cr0_fixed1 = 0xffffffffULL,
    .cr4_fixed0 = 0x2000ULL,
    .cr4_fixed1 = 0x27ffULL,
    .procbased2 = 0x000000ff00000000ULL,
    .ept_vpid_cap = 0x00000f0106734141ULL,
    .true_procbased = 0xfff9fffe04006172ULL,
};

/* Is tok in s as a whole word (bounded by start/end, space, comma, newline or parenthesis)? */
static bool has_token(const char *s, const char *tok)
{
	size_t n = strlen(tok);

	for (const char *p = strstr(s, tok); p; p = strstr(p + 1, tok)) {
		bool start = p == s || strchr(" ,\n(:", p[-1]);
		bool end = p[n] == '\0' || strchr(" ,\n()", p[n]);
		if (start && end)
			return true;
	}
	return false;
}

/* Copy the report line starting with prefix into out (without the newline); false if there is none. */
static bool find_line(const char *report, const char *prefix, char *out, size_t len)
{
	for (const char *p = report; *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		if (strncmp(p, prefix, strlen(prefix)) == 0) {
			snprintf(out, len, "%.*s", (int)l, p);
			return true;
		}
		p += l + (nl ? 1 : 0);
	}
	return false;
}

static void decode(const struct vmx_msrs *m, struct vmx_caps *c)
{
	memset(c, 0xa5, sizeof(*c)); /* the decoder must set every field, not rely on a zeroed struct */
	vmx_caps_decode(m, c);
}

TEST(skylake_basic_and_misc)
{
	struct vmx_caps c;

	decode(&skylake, &c);
	CHECK_EQ(c.revision_id, 4);
	CHECK_EQ(c.vmcs_size, 1024);
	CHECK_EQ(c.vmcs_memtype, 6);
	CHECK(c.vmcs_wb);
	CHECK(!c.addr_32bit);
	CHECK(c.ins_outs_info);
	CHECK(c.true_ctls);
	CHECK_EQ(c.preemption_timer_rate, 7);
	CHECK(c.exit_stores_lma);
	CHECK(c.activity_hlt && c.activity_shutdown && c.activity_wait_sipi);
	CHECK_EQ(c.cr3_target_count, 4);
	CHECK_EQ(c.max_msr_list, 512);
	CHECK(c.vmwrite_any_field);
	CHECK_EQ(c.max_vmcs_index, 0x17);
	CHECK_EQ(c.cr0_fixed0, 0x80000021);
	CHECK_EQ(c.cr4_fixed1, 0x3767ff);
	/* Unrestricted guest lifts PE and PG from the guest's must-be-1 set, nothing else. */
	CHECK_EQ(c.cr0_fixed0_ug, 0x20);
}

TEST(skylake_controls)
{
	struct vmx_caps c;

	decode(&skylake, &c);
	CHECK(c.has_secondary);
	CHECK_EQ(c.proc2.allowed1, SKL_PROC2_ALLOWED1);
	CHECK_EQ(c.proc2.allowed0, 0);
	CHECK(c.virtual_nmis && c.preemption_timer && c.posted_intr);
	CHECK(c.tpr_shadow && c.io_bitmaps && c.msr_bitmaps && c.monitor_trap_flag);
	CHECK(c.virt_apic_access && c.ept && c.rdtscp && c.x2apic_virt && c.vpid && c.unrestricted_guest);
	CHECK(c.apic_reg_virt && c.virt_intr_delivery && c.invpcid && c.vmfunc && c.vmcs_shadowing);
	CHECK(c.pml && c.ept_violation_ve && c.xsaves && c.tsc_scaling);
	CHECK(c.exit_host_64bit && c.exit_save_pat && c.exit_load_pat && c.exit_save_efer && c.exit_load_efer);
	CHECK(c.entry_ia32e_guest && c.entry_load_pat && c.entry_load_efer);
	CHECK(c.vmfunc_eptp_switching);
}

TEST(skylake_ept_vpid)
{
	struct vmx_caps c;

	decode(&skylake, &c);
	CHECK(c.ept_exec_only && c.ept_pwl4 && !c.ept_pwl5 && c.ept_uc && c.ept_wb);
	CHECK(c.ept_2m && c.ept_1g && c.ept_ad && c.ept_adv_exit_info && !c.ept_sss);
	CHECK(c.invept && c.invept_single && c.invept_all);
	CHECK(c.invvpid && c.invvpid_addr && c.invvpid_single && c.invvpid_all && c.invvpid_single_global);
}

TEST(sandy_bridge_decode)
{
	struct vmx_caps c;

	decode(&sandy_bridge, &c);
	CHECK_EQ(c.revision_id, 0x10);
	CHECK(c.ept && c.vpid && c.unrestricted_guest);
	CHECK(c.ept_pwl4 && c.ept_wb && c.ept_2m && c.ept_exec_only);
	CHECK(!c.ept_1g);
	CHECK(!c.ept_ad);
	CHECK(!c.ept_adv_exit_info);
	CHECK(c.invept_single && c.invept_all);
	CHECK(!c.pml && !c.vmcs_shadowing && !c.apic_reg_virt && !c.virt_intr_delivery && !c.vmfunc);
	CHECK(!c.posted_intr && c.preemption_timer);
	CHECK_EQ(c.preemption_timer_rate, 5);
	CHECK(!c.vmfunc_eptp_switching);
	CHECK_EQ(vmx_caps_check_minimum(&c, true), 0);
}

TEST(no_secondary_ignores_ept_caps)
{
	struct vmx_caps c;

	CHECK(!vmx_msrs_has_procbased2(&core2));
	CHECK(!vmx_msrs_has_ept_vpid_cap(&core2));
	decode(&core2, &c);
	CHECK(!c.has_secondary);
	CHECK_EQ(c.proc2.allowed0, 0);
	CHECK_EQ(c.proc2.allowed1, 0);
	CHECK(!c.ept && !c.vpid && !c.unrestricted_guest && !c.rdtscp);
	CHECK(!c.ept_pwl4 && !c.ept_wb && !c.ept_2m && !c.ept_1g && !c.invept && !c.invept_all);
	CHECK(!c.invvpid && !c.invvpid_all);
	/* No unrestricted guest, so a guest's CR0 must keep PE and PG. */
	CHECK_EQ(c.cr0_fixed0_ug, 0x80000021);
}

TEST(true_ctls_used_when_basic_bit55)
{
	struct vmx_caps c;

	CHECK(vmx_msrs_has_true_ctls(&skylake));
	decode(&skylake, &c);
	/* CR3-load/store exiting (bits 15, 16) are default1 in the legacy MSR but may be 0 in the TRUE one. */
	CHECK_EQ(c.proc.allowed0, 0x04006172);
	CHECK_EQ(c.exit.allowed0, 0x00036dfb);
	CHECK_EQ(c.entry.allowed0, 0x000011fb);
	CHECK_EQ(c.proc.allowed1, 0xfff9fffe);
	CHECK_EQ(vmx_ctl_msr(c.proc), 0xfff9fffe04006172ULL);
}

TEST(true_ctls_ignored_without_bit55)
{
	struct vmx_msrs m = skylake;
	struct vmx_caps c;

	m.basic &= ~(1ULL << 55);
	decode(&m, &c);
	CHECK(!c.true_ctls);
	CHECK_EQ(c.proc.allowed0, 0x0401e172);
	CHECK_EQ(c.exit.allowed0, 0x00036dff);
	CHECK_EQ(c.entry.allowed0, 0x000011ff);

	/* Core 2 carries a bogus TRUE value too; without bit 55 it must not be used. */
	decode(&core2, &c);
	CHECK_EQ(c.proc.allowed0, 0x0401e172);
}

TEST(ept_caps_need_ept_vpid_caps_need_vpid)
{
	struct vmx_msrs m = skylake;
	struct vmx_caps c;

	/* VPID only: the MSR exists, but its EPT half means nothing. */
	m.procbased2 = (SKL_PROC2_ALLOWED1 & ~(1ULL << 1)) << 32;
	CHECK(vmx_msrs_has_ept_vpid_cap(&m));
	decode(&m, &c);
	CHECK(!c.ept && !c.ept_pwl4 && !c.invept && !c.unrestricted_guest && !c.pml);
	CHECK(c.vpid && c.invvpid && c.invvpid_single);

	/* EPT only. */
	m.procbased2 = (SKL_PROC2_ALLOWED1 & ~(1ULL << 5)) << 32;
	decode(&m, &c);
	CHECK(c.ept && c.ept_pwl4 && c.invept_all);
	CHECK(!c.vpid && !c.invvpid && !c.invvpid_single);
}

TEST(misc_msr_list_and_rate)
{
	struct vmx_msrs m = skylake;
	struct vmx_caps c;

	m.misc = (2ULL << 25) | (0x1ffULL << 16) | 0x1f;
	decode(&m, &c);
	CHECK_EQ(c.max_msr_list, 512 * 3);
	CHECK_EQ(c.cr3_target_count, 0x1ff);
	CHECK_EQ(c.preemption_timer_rate, 0x1f);
	CHECK(!c.exit_stores_lma && !c.activity_hlt && !c.vmwrite_any_field);
}

TEST(adjust_forces_default1_bits)
{
	u32 out = 0;

	/* Pin-based: bits 1, 2, 4 must be 1 even though nobody asked for them. */
	CHECK_EQ(vmx_adjust_controls(skylake.pinbased, 1u << 0, 0, &out), 0);
	CHECK_EQ(out, 0x17);
	CHECK_EQ(vmx_adjust_controls(skylake.procbased, 0, 0, &out), 0);
	CHECK_EQ(out, 0x0401e172);
}

TEST(adjust_drops_disallowed_optional_bits)
{
	u32 out = 0;

	/* Sandy Bridge has no posted interrupts (pin bit 7): asked as optional, it is left out quietly. */
	test_last_log[0] = '\0';
	CHECK_EQ(vmx_adjust_controls(sandy_bridge.pinbased, 1u << 0, (1u << 6) | (1u << 7), &out), 0);
	CHECK_EQ(out, 0x16 | 0x1 | 0x40);
	CHECK_EQ(test_last_log[0], '\0');
}

TEST(adjust_missing_required_bit_fails)
{
	u32 out = 0;

	test_last_log[0] = '\0';
	CHECK_EQ(vmx_adjust_controls(sandy_bridge.pinbased, (1u << 0) | (1u << 7), 1u << 6, &out), -EOPNOTSUPP);
	/* *out is still the best the CPU can do. */
	CHECK_EQ(out, 0x16 | 0x1 | 0x40);
	CHECK(strstr(test_last_log, "0x80"));
	CHECK(has_token(test_last_log, "7"));
	CHECK(!has_token(test_last_log, "6"));

	/* Core 2 exit controls cannot load EFER (bit 21) or PAT (bit 19). */
	CHECK_EQ(vmx_adjust_controls(core2.exit, (1u << 9) | (1u << 19) | (1u << 21), 0, &out), -EOPNOTSUPP);
	CHECK(has_token(test_last_log, "19") && has_token(test_last_log, "21") && !has_token(test_last_log, "9"));
	CHECK_EQ(out, 0x00036dff | (1u << 9));
}

TEST(cr_fixed_bits)
{
	struct vmx_caps c;

	decode(&skylake, &c);
	/* A host CR4 without VMXE gets it; bits the CPU does not allow are stripped. */
	CHECK_EQ(vmx_fixed_bits(0x20, c.cr4_fixed0, c.cr4_fixed1), 0x2020);
	CHECK_EQ(vmx_fixed_bits(0x2020 | (1ULL << 24), c.cr4_fixed0, c.cr4_fixed1), 0x2020);
	CHECK(!vmx_cr_ok(0x20, c.cr4_fixed0, c.cr4_fixed1));
	CHECK(vmx_cr_ok(0x2020, c.cr4_fixed0, c.cr4_fixed1));
	CHECK(!vmx_cr_ok(0x2020 | (1ULL << 24), c.cr4_fixed0, c.cr4_fixed1));

	/* CR0: PE, NE and PG forced; a real-mode guest is acceptable only against the unrestricted-guest mask. */
	CHECK_EQ(vmx_fixed_bits(0x10, c.cr0_fixed0, c.cr0_fixed1), 0x80000031);
	CHECK(!vmx_cr_ok(0x30, c.cr0_fixed0, c.cr0_fixed1));
	CHECK(vmx_cr_ok(0x30, c.cr0_fixed0_ug, c.cr0_fixed1));
	CHECK(vmx_cr_ok(vmx_fixed_bits(0, c.cr0_fixed0, c.cr0_fixed1), c.cr0_fixed0, c.cr0_fixed1));
}

TEST(check_minimum_passes_on_skylake)
{
	struct vmx_caps c;

	decode(&skylake, &c);
	CHECK_EQ(vmx_caps_check_minimum(&c, true), 0);
	CHECK_EQ(vmx_caps_check_minimum(&c, false), 0);
	const char *why = "untouched";
	CHECK(vmx_caps_tdp_usable(&c, &why));
	CHECK_STR(why, "untouched");
}

TEST(check_minimum_names_every_missing_feature)
{
	struct vmx_caps c;

	decode(&core2, &c);
	test_last_log[0] = '\0';
	CHECK_EQ(vmx_caps_check_minimum(&c, true), -EOPNOTSUPP);
	CHECK(strncmp(test_last_log, "vmx: ", 5) == 0);
	CHECK(has_token(test_last_log, "secondary-controls"));
	CHECK(has_token(test_last_log, "EPT"));
	CHECK(has_token(test_last_log, "unrestricted-guest"));
	/* EFER and PAT switch through the MSR lists where their controls are missing: not required. */
	CHECK(!has_token(test_last_log, "entry-load-EFER") && !has_token(test_last_log, "exit-save-PAT"));
	/* What it does have is not listed, and the EPT sub-features are not piled on top of "EPT". */
	CHECK(!has_token(test_last_log, "MSR-bitmaps") && !has_token(test_last_log, "IO-bitmaps"));
	CHECK(!has_token(test_last_log, "exit-host-64bit") && !has_token(test_last_log, "entry-ia32e-guest"));
	CHECK(!has_token(test_last_log, "EPT-4-level") && !has_token(test_last_log, "EPT-WB"));

	/* The shadow-paging fallback needs neither the secondary controls nor the EFER/PAT controls: Core 2 runs. */
	CHECK_EQ(vmx_caps_check_minimum(&c, false), 0);
	const char *why = NULL;
	CHECK(!vmx_caps_tdp_usable(&c, &why));
	CHECK_STR(why, "the CPU has no EPT");
}

TEST(check_minimum_ept_subfeatures_and_fallback)
{
	struct vmx_msrs m = skylake;
	struct vmx_caps c;

	/* EPT without a WB memory type and without 4-level walks. */
	m.ept_vpid_cap &= ~((1ULL << 6) | (1ULL << 14));
	decode(&m, &c);
	CHECK_EQ(vmx_caps_check_minimum(&c, true), -EOPNOTSUPP);
	CHECK(has_token(test_last_log, "EPT-4-level") && has_token(test_last_log, "EPT-WB"));
	CHECK(!has_token(test_last_log, "EPT") && !has_token(test_last_log, "INVEPT"));

	/* No EPT at all: fatal with need_ept, fine for the shadow-paging fallback. */
	m = skylake;
	m.procbased2 &= ~(1ULL << (32 + 1));
	decode(&m, &c);
	CHECK(!c.unrestricted_guest);
	CHECK_EQ(vmx_caps_check_minimum(&c, true), -EOPNOTSUPP);
	CHECK(has_token(test_last_log, "EPT") && has_token(test_last_log, "unrestricted-guest"));
	CHECK(!has_token(test_last_log, "secondary-controls"));
	CHECK_EQ(vmx_caps_check_minimum(&c, false), 0);
	const char *why = NULL;
	CHECK(!vmx_caps_tdp_usable(&c, &why));
	CHECK_STR(why, "the CPU has no EPT");
	/* EPT without unrestricted guest: the shadow MMU with vm86 real mode instead. */
	m = skylake;
	m.procbased2 &= ~(1ULL << (32 + 7));
	decode(&m, &c);
	CHECK(!vmx_caps_tdp_usable(&c, &why));
	CHECK_STR(why, "the CPU has no unrestricted guest");

	/* Missing I/O bitmaps is fatal either way. */
	m = skylake;
	m.true_procbased &= ~(1ULL << (32 + 25));
	decode(&m, &c);
	CHECK_EQ(vmx_caps_check_minimum(&c, false), -EOPNOTSUPP);
	CHECK(has_token(test_last_log, "IO-bitmaps") && !has_token(test_last_log, "MSR-bitmaps"));
}

TEST(report_skylake_lines)
{
	struct vmx_caps c;
	char buf[2048], line[512];

	decode(&skylake, &c);
	size_t n = vmx_caps_format(&c, buf, sizeof(buf));
	CHECK_EQ(n, strlen(buf));
	CHECK(find_line(buf, "vmx: EPT", line, sizeof(line)));
	CHECK_STR(
	    line,
	    "vmx: EPT +4-level -5-level +WB +UC +2M +1G +A/D +exec-only +adv-exit-info -SSS, INVEPT +single +all");
	CHECK(find_line(buf, "vmx: VPID", line, sizeof(line)));
	CHECK_STR(line, "vmx: VPID, INVVPID +addr +single +all +single-global");
	CHECK(find_line(buf, "vmx: rev", line, sizeof(line)));
	CHECK(strncmp(line, "vmx: rev 0x4, vmcs 1024B WB, +true-ctls +ins/outs-info,", 55) == 0);
	CHECK(find_line(buf, "vmx: ctls", line, sizeof(line)));
	CHECK(has_token(line, "+unrestricted-guest") && has_token(line, "+PML") && has_token(line, "+VMCS-shadowing"));
	CHECK(strstr(line, "+preemption-timer(rate 7)"));
	CHECK(has_token(line, "+posted-intr") && has_token(line, "+MSR-bitmaps") && has_token(line, "+IO-bitmaps"));
	CHECK(find_line(buf, "vmx: entry", line, sizeof(line)));
	CHECK_STR(line,
		  "vmx: entry +ia32e-guest +load-EFER +load-PAT, exit +host-64bit +save-EFER +load-EFER +save-PAT "
		  "+load-PAT");
	/* Every line fits the report's line buffer, so nothing is cut off in the log. */
	for (char *p = buf, *nl; (nl = strchr(p, '\n')); p = nl + 1)
		CHECK((size_t)(nl - p) < 200);
}

TEST(report_sandy_bridge_marks_absent)
{
	struct vmx_caps c;
	char buf[2048], line[512];

	decode(&sandy_bridge, &c);
	vmx_caps_format(&c, buf, sizeof(buf));
	CHECK(find_line(buf, "vmx: EPT", line, sizeof(line)));
	CHECK(has_token(line, "-1G") && has_token(line, "-A/D") && has_token(line, "+2M"));
	CHECK(!has_token(line, "+1G") && !has_token(line, "+A/D"));
	CHECK(find_line(buf, "vmx: ctls", line, sizeof(line)));
	CHECK(has_token(line, "-PML") && has_token(line, "-VMCS-shadowing") && has_token(line, "-posted-intr"));
	CHECK(strstr(line, "+preemption-timer(rate 5)"));
}

TEST(report_without_secondary)
{
	struct vmx_caps c;
	char buf[2048], line[512];

	decode(&core2, &c);
	vmx_caps_format(&c, buf, sizeof(buf));
	CHECK(find_line(buf, "vmx: EPT", line, sizeof(line)));
	CHECK_STR(line, "vmx: EPT unsupported (no secondary controls)");
	CHECK(find_line(buf, "vmx: VPID", line, sizeof(line)));
	CHECK_STR(line, "vmx: VPID unsupported (no secondary controls)");
	CHECK(find_line(buf, "vmx: secondary", line, sizeof(line)));
	CHECK_STR(line, "vmx: secondary controls unsupported");
	CHECK(find_line(buf, "vmx: ctls", line, sizeof(line)));
	CHECK(has_token(line, "-unrestricted-guest") && has_token(line, "-preemption-timer"));
}

TEST(report_logs_each_line)
{
	struct vmx_caps c;
	char buf[2048];

	decode(&skylake, &c);
	vmx_caps_format(&c, buf, sizeof(buf));
	vmx_caps_report(&c);
	/* The last logged line is the last line of the formatted report, newline included. */
	const char *last = buf + strlen(buf) - 1;
	while (last > buf && last[-1] != '\n')
		last--;
	CHECK_STR(test_last_log, last);
	CHECK_STR(test_last_log, "vmx: cr0 fixed0 0x80000021 fixed1 0xffffffff, cr4 fixed0 0x2000 fixed1 0x3767ff\n");
}

TEST(format_truncates_like_snprintf)
{
	struct vmx_caps c;
	char full[2048], small[16];

	decode(&skylake, &c);
	size_t n = vmx_caps_format(&c, full, sizeof(full));
	memset(small, 'x', sizeof(small));
	CHECK_EQ(vmx_caps_format(&c, small, sizeof(small)), n);
	CHECK_EQ(strlen(small), sizeof(small) - 1);
	CHECK(strncmp(small, full, sizeof(small) - 1) == 0);
	CHECK_EQ(vmx_caps_format(&c, NULL, 0), n);
}

TEST(feature_control_actions)
{
	u64 v = 0;

	CHECK_EQ(vmx_feature_control_action(FEATURE_CONTROL_LOCKED | FEATURE_CONTROL_VMXON_OUTSIDE_SMX, &v),
		 VMX_FC_READY);
	CHECK_EQ(vmx_feature_control_action(FEATURE_CONTROL_LOCKED | FEATURE_CONTROL_VMXON_INSIDE_SMX, &v),
		 VMX_FC_LOCKED_OFF);
	CHECK_EQ(v, FEATURE_CONTROL_LOCKED | FEATURE_CONTROL_VMXON_INSIDE_SMX);
	/* Unlocked: enable outside SMX and lock, keeping what firmware set (here a SENTER bit). */
	CHECK_EQ(vmx_feature_control_action(1ULL << 15, &v), VMX_FC_WRITE);
	CHECK_EQ(v, (1ULL << 15) | FEATURE_CONTROL_LOCKED | FEATURE_CONTROL_VMXON_OUTSIDE_SMX);
}
