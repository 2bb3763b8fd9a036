/* Decoding, reporting and checking of the SVM capabilities (CPUID Fn8000_000A EDX, APM Vol. 3 appendix E; VM_CR, APM
 * Vol. 2 15.30.1). One table names every EDX bit, so the decoder and the report cannot drift apart. */
#include "arch/x86/svm/svm_caps.h"

#include "arch/x86/caps_text.h"
#include "arch/x86/msr_index.h"
#include "hv/compiler.h"
#include "hv/errno.h"
#include "hv/log.h"
#include "hv/string.h"

/* `first` features are the ones the backend chooses VMCB usage by; they go on the first feature line. */
static const struct {
	u8 bit;
	bool first;
	size_t offset;
	const char *name;
} svm_features[] = {
    {0, true, offsetof(struct svm_caps, npt), "NPT"},
    {3, true, offsetof(struct svm_caps, nrips), "NRIPS"},
    {6, true, offsetof(struct svm_caps, flush_by_asid), "FlushByASID"},
    {7, true, offsetof(struct svm_caps, decode_assists), "DecodeAssists"},
    {5, true, offsetof(struct svm_caps, vmcb_clean), "VMCBClean"},
    {16, true, offsetof(struct svm_caps, vgif), "VGIF"},
    {25, true, offsetof(struct svm_caps, vnmi), "vNMI"},
    {13, true, offsetof(struct svm_caps, avic), "AVIC"},
    {18, true, offsetof(struct svm_caps, x2avic), "x2AVIC"},
    {4, true, offsetof(struct svm_caps, tsc_rate_msr), "TscRateMsr"},
    {10, true, offsetof(struct svm_caps, pause_filter), "PauseFilter"},
    {12, true, offsetof(struct svm_caps, pause_filter_threshold), "PFThreshold"},
    {1, false, offsetof(struct svm_caps, lbr_virt), "LbrVirt"},
    {2, false, offsetof(struct svm_caps, svm_lock), "SVML"},
    {15, false, offsetof(struct svm_caps, vmsave_virt), "VMSAVEvirt"},
    {17, false, offsetof(struct svm_caps, gmet), "GMET"},
    {19, false, offsetof(struct svm_caps, sss_check), "SSSCheck"},
    {20, false, offsetof(struct svm_caps, spec_ctrl), "SpecCtrl"},
    {21, false, offsetof(struct svm_caps, rogpt), "ROGPT"},
    {23, false, offsetof(struct svm_caps, host_mce_override), "HostMCEOverride"},
    {24, false, offsetof(struct svm_caps, tlbictl), "TlbiCtl"},
    {26, false, offsetof(struct svm_caps, ibs_virt), "IbsVirt"},
    {28, false, offsetof(struct svm_caps, vmcb_addr_chk), "VmcbAddrChk"},
};

static bool *feature_field(struct svm_caps *c, size_t i)
{
	return (bool *)((char *)c + svm_features[i].offset);
}

static bool feature_on(const struct svm_caps *c, size_t i)
{
	return *(const bool *)((const char *)c + svm_features[i].offset);
}

void svm_caps_decode(const struct svm_cpuid *leaf, bool svm_supported, u64 vm_cr, struct svm_caps *c)
{
	memset(c, 0, sizeof(*c));
	/* Without SVM the leaf is reserved and VM_CR may not exist: whatever the caller got there means nothing. */
	if (!svm_supported || !leaf)
		return;

	c->supported = true;
	c->disabled_by_firmware = vm_cr & VM_CR_SVMDIS;
	c->vm_cr_locked = vm_cr & VM_CR_LOCK;
	c->revision = leaf->eax & 0xff;
	c->nr_asids = leaf->ebx;
	for (size_t i = 0; i < ARRAY_SIZE(svm_features); i++)
		*feature_field(c, i) = leaf->edx & (1u << svm_features[i].bit);
}

static void line_basic(const struct svm_caps *c, struct text *t)
{
	if (!c->supported) {
		put_str(t, "svm: unsupported (CPUID 0x80000001 ECX bit 2 clear)");
		return;
	}
	put_str(t, "svm: rev ");
	put_num(t, c->revision, 10);
	put_str(t, ", ");
	put_num(t, c->nr_asids, 10);
	put_str(t, " ASIDs, ");
	if (c->disabled_by_firmware)
		put_str(t, c->vm_cr_locked ? "disabled by firmware (VM_CR.SVMDIS, locked)"
					   : "disabled by firmware (VM_CR.SVMDIS, not locked)");
	else
		put_str(t, c->vm_cr_locked ? "enabled, VM_CR locked" : "enabled");
}

static void line_features(const struct svm_caps *c, struct text *t, bool first)
{
	put_str(t, first ? "svm:" : "svm: more");
	for (size_t i = 0; i < ARRAY_SIZE(svm_features); i++) {
		if (svm_features[i].first != first)
			continue;
		put_str(t, feature_on(c, i) ? " +" : " -");
		put_str(t, svm_features[i].name);
	}
}

/* Line n of the report; false once there are no more. */
static bool format_line(const struct svm_caps *c, unsigned int n, struct text *t)
{
	if (n == 0)
		line_basic(c, t);
	else if (n <= 2 && c->supported)
		line_features(c, t, n == 1);
	else
		return false;
	return true;
}

size_t svm_caps_format(const struct svm_caps *c, char *buf, size_t len)
{
	struct text t = {.buf = buf, .len = len};

	put_str(&t, "");
	for (unsigned int n = 0; format_line(c, n, &t); n++)
		put_str(&t, "\n");
	return t.pos;
}

void svm_caps_report(const struct svm_caps *c)
{
	char line[160];

	for (unsigned int n = 0;; n++) {
		struct text t = {.buf = line, .len = sizeof(line)};

		if (!format_line(c, n, &t))
			break;
		pr_info("%s\n", line);
	}
}

int svm_caps_check_minimum(const struct svm_caps *c, bool need_npt)
{
	/* Without SVM at all, the rest would only be noise. */
	const struct cap_need need[] = {
	    {c->supported, "SVM"},
	    {!c->supported || !c->disabled_by_firmware, "SVM-enabled-by-firmware(VM_CR.SVMDIS)"},
	    {!c->supported || c->nr_asids >= 2, "guest-ASID"},
	    {!c->supported || !need_npt || c->npt, "NPT"},
	};
	return caps_check_needs("svm", need, ARRAY_SIZE(need));
}
