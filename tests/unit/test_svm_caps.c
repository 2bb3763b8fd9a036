/* Tests of the SVM capability decoder, minimum check and report, against CPUID Fn8000_000A as QEMU TCG (-cpu max)
 * and Bochs (zambezi) present it, plus VM_CR firmware settings. */
#include <string.h>

#include "test.h"
#include "fake_platform.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/svm/svm_caps.h"
#include "hv/errno.h"

/* QEMU TCG: NPT, VGIF and the VMRUN address check, nothing else; 16 ASIDs. */
static const struct svm_cpuid qemu_tcg = {.eax = 1, .ebx = 16, .ecx = 0, .edx = (1u << 0) | (1u << 16) | (1u << 28)};
/* Bochs zambezi: NPT, LbrVirt, NRIPS, FlushByASID. */
static const struct svm_cpuid bochs_zambezi = {
    .eax = 1, .ebx = 64, .ecx = 0, .edx = (1u << 0) | (1u << 1) | (1u << 3) | (1u << 6)};

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

static void decode(const struct svm_cpuid *leaf, bool supported, u64 vm_cr, struct svm_caps *c)
{
	memset(c, 0xa5, sizeof(*c)); /* every field must be written by the decoder */
	svm_caps_decode(leaf, supported, vm_cr, c);
}

TEST(qemu_tcg_decode)
{
	struct svm_caps c;

	decode(&qemu_tcg, true, 0, &c);
	CHECK(c.supported && !c.disabled_by_firmware && !c.vm_cr_locked);
	CHECK_EQ(c.revision, 1);
	CHECK_EQ(c.nr_asids, 16);
	CHECK(c.npt && c.vgif && c.vmcb_addr_chk);
	CHECK(!c.nrips && !c.flush_by_asid && !c.decode_assists && !c.vmcb_clean);
	CHECK(!c.lbr_virt && !c.avic && !c.vnmi && !c.tsc_rate_msr && !c.pause_filter);
}

TEST(bochs_zambezi_decode)
{
	struct svm_caps c;

	decode(&bochs_zambezi, true, VM_CR_LOCK, &c);
	CHECK(c.supported && !c.disabled_by_firmware && c.vm_cr_locked);
	CHECK_EQ(c.nr_asids, 64);
	CHECK(c.npt && c.nrips && c.flush_by_asid && c.lbr_virt);
	CHECK(!c.vgif && !c.decode_assists && !c.vmcb_clean && !c.svm_lock);
}

/* Each defined EDX bit sets exactly its own field and nothing else; reserved bits set nothing. */
TEST(every_edx_bit_maps_to_one_field)
{
	struct svm_caps c;
	struct {
		unsigned int bit;
		const bool *field;
	} map[] = {
	    {0, &c.npt},
	    {1, &c.lbr_virt},
	    {2, &c.svm_lock},
	    {3, &c.nrips},
	    {4, &c.tsc_rate_msr},
	    {5, &c.vmcb_clean},
	    {6, &c.flush_by_asid},
	    {7, &c.decode_assists},
	    {10, &c.pause_filter},
	    {12, &c.pause_filter_threshold},
	    {13, &c.avic},
	    {15, &c.vmsave_virt},
	    {16, &c.vgif},
	    {17, &c.gmet},
	    {18, &c.x2avic},
	    {19, &c.sss_check},
	    {20, &c.spec_ctrl},
	    {21, &c.rogpt},
	    {23, &c.host_mce_override},
	    {24, &c.tlbictl},
	    {25, &c.vnmi},
	    {26, &c.ibs_virt},
	    {28, &c.vmcb_addr_chk},
	};

	for (unsigned int bit = 0; bit < 32; bit++) {
		struct svm_cpuid leaf = {.eax = 1, .ebx = 8, .edx = 1u << bit};
		int set = 0, expect = 0;

		decode(&leaf, true, 0, &c);
		for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
			set += *map[i].field;
			if (map[i].bit == bit) {
				expect = 1;
				CHECK(*map[i].field);
			}
		}
		CHECK_EQ(set, expect);
	}
}

TEST(unsupported_ignores_leaf_and_vm_cr)
{
	struct svm_caps c;

	decode(&bochs_zambezi, false, VM_CR_SVMDIS | VM_CR_LOCK, &c);
	CHECK(!c.supported && !c.npt && !c.nrips && !c.disabled_by_firmware && !c.vm_cr_locked);
	CHECK_EQ(c.nr_asids, 0);
	decode(NULL, false, 0, &c);
	CHECK(!c.supported);
	CHECK_EQ(svm_caps_check_minimum(&c, false), -EOPNOTSUPP);
	CHECK(has_token(test_last_log, "SVM"));
	/* Only the root cause, not its consequences. */
	CHECK(!has_token(test_last_log, "NPT") && !has_token(test_last_log, "guest-ASID"));
}

TEST(svmdis_locked_and_unlocked)
{
	struct svm_caps c;
	char buf[512];

	decode(&qemu_tcg, true, VM_CR_SVMDIS | VM_CR_LOCK, &c);
	CHECK(c.disabled_by_firmware && c.vm_cr_locked);
	svm_caps_format(&c, buf, sizeof(buf));
	CHECK(strstr(buf, "svm: rev 1, 16 ASIDs, disabled by firmware (VM_CR.SVMDIS, locked)\n"));
	CHECK_EQ(svm_caps_check_minimum(&c, true), -EOPNOTSUPP);
	CHECK(strstr(test_last_log, "VM_CR.SVMDIS"));
	CHECK(!has_token(test_last_log, "NPT"));

	decode(&qemu_tcg, true, VM_CR_SVMDIS, &c);
	CHECK(c.disabled_by_firmware && !c.vm_cr_locked);
	svm_caps_format(&c, buf, sizeof(buf));
	CHECK(strstr(buf, "disabled by firmware (VM_CR.SVMDIS, not locked)"));

	/* LOCK alone leaves SVM enabled. */
	decode(&qemu_tcg, true, VM_CR_LOCK, &c);
	CHECK(!c.disabled_by_firmware);
	CHECK_EQ(svm_caps_check_minimum(&c, true), 0);
}

TEST(check_minimum_passes)
{
	struct svm_caps c;

	decode(&qemu_tcg, true, 0, &c);
	CHECK_EQ(svm_caps_check_minimum(&c, true), 0);
	decode(&bochs_zambezi, true, VM_CR_LOCK, &c);
	CHECK_EQ(svm_caps_check_minimum(&c, true), 0);
}

TEST(check_minimum_npt_only_when_needed)
{
	struct svm_cpuid leaf = bochs_zambezi;
	struct svm_caps c;

	leaf.edx &= ~1u;
	decode(&leaf, true, 0, &c);
	test_last_log[0] = '\0';
	CHECK_EQ(svm_caps_check_minimum(&c, false), 0);
	CHECK_EQ(test_last_log[0], '\0');
	CHECK_EQ(svm_caps_check_minimum(&c, true), -EOPNOTSUPP);
	CHECK(strncmp(test_last_log, "svm: ", 5) == 0);
	CHECK(has_token(test_last_log, "NPT"));
	CHECK(!has_token(test_last_log, "guest-ASID"));
}

TEST(check_minimum_needs_a_guest_asid)
{
	struct svm_cpuid leaf = qemu_tcg;
	struct svm_caps c;

	/* One ASID is only the host's own ASID 0. */
	leaf.ebx = 1;
	leaf.edx &= ~1u;
	decode(&leaf, true, VM_CR_SVMDIS, &c);
	CHECK_EQ(svm_caps_check_minimum(&c, true), -EOPNOTSUPP);
	CHECK(has_token(test_last_log, "guest-ASID"));
	CHECK(has_token(test_last_log, "NPT"));
	CHECK(strstr(test_last_log, "VM_CR.SVMDIS"));
	leaf.ebx = 2;
	decode(&leaf, true, 0, &c);
	CHECK_EQ(svm_caps_check_minimum(&c, false), 0);
}

TEST(report_qemu_tcg)
{
	struct svm_caps c;
	char buf[512];

	decode(&qemu_tcg, true, 0, &c);
	size_t n = svm_caps_format(&c, buf, sizeof(buf));
	CHECK_EQ(n, strlen(buf));
	const char *want =
	    "svm: rev 1, 16 ASIDs, enabled\nsvm: +NPT -NRIPS -FlushByASID -DecodeAssists -VMCBClean +VGIF ";
	CHECK(strncmp(buf, want, strlen(want)) == 0);
	CHECK(has_token(buf, "-vNMI") && has_token(buf, "-AVIC") && has_token(buf, "-LbrVirt"));
	CHECK(has_token(buf, "+VmcbAddrChk"));
	/* svm_caps_report() formats each line into 160 bytes; none may come near that. */
	for (char *p = buf, *nl; (nl = strchr(p, '\n')); p = nl + 1)
		CHECK((size_t)(nl - p) < 140);

	/* The report logs the same lines; the last one logged is the last formatted. */
	svm_caps_report(&c);
	CHECK(strncmp(test_last_log, "svm: more ", 10) == 0);
	CHECK(strstr(buf, test_last_log));
}

TEST(report_bochs_and_unsupported)
{
	struct svm_caps c;
	char buf[512];

	decode(&bochs_zambezi, true, VM_CR_LOCK, &c);
	svm_caps_format(&c, buf, sizeof(buf));
	CHECK(strstr(buf, "svm: rev 1, 64 ASIDs, enabled, VM_CR locked\n"));
	CHECK(has_token(buf, "+NPT") && has_token(buf, "+NRIPS") && has_token(buf, "+FlushByASID"));
	CHECK(has_token(buf, "+LbrVirt") && has_token(buf, "-VGIF") && !has_token(buf, "-NPT"));

	decode(NULL, false, 0, &c);
	CHECK_EQ(svm_caps_format(&c, buf, sizeof(buf)),
		 strlen("svm: unsupported (CPUID 0x80000001 ECX bit 2 clear)\n"));
	CHECK_STR(buf, "svm: unsupported (CPUID 0x80000001 ECX bit 2 clear)\n");
	svm_caps_report(&c);
	CHECK_STR(test_last_log, buf);
}

TEST(format_truncates_like_snprintf)
{
	struct svm_caps c;
	char full[512], small[8];

	decode(&qemu_tcg, true, 0, &c);
	size_t n = svm_caps_format(&c, full, sizeof(full));
	CHECK_EQ(svm_caps_format(&c, small, sizeof(small)), n);
	CHECK_STR(small, "svm: re");
	CHECK_EQ(svm_caps_format(&c, NULL, 0), n);
}
