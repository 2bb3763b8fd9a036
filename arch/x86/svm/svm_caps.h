/* AMD SVM capabilities (CPUID Fn8000_000A and VM_CR, APM Vol. 2 15.4 and 15.30) decoded into one struct, which the
 * boot log reports and the SVM backend consults when it picks VMCB features. Nothing here executes CPUID or RDMSR:
 * the caller passes the raw values in, so all of it is pure and unit-tested on the host. */
#ifndef ARCH_X86_SVM_SVM_CAPS_H
#define ARCH_X86_SVM_SVM_CAPS_H

#include "hv/types.h"

/* CPUID Fn8000_000A, read only when svm_supported (the leaf is reserved otherwise). */
struct svm_cpuid {
	u32 eax, ebx, ecx, edx;
};

struct svm_caps {
	bool supported;		   /* CPUID Fn8000_0001 ECX bit 2 */
	bool disabled_by_firmware; /* VM_CR.SVMDIS: EFER.SVME cannot be set */
	bool vm_cr_locked;	   /* VM_CR.LOCK: SVMDIS stays as it is until reset */
	u8 revision;		   /* EAX[7:0] */
	u32 nr_asids;		   /* EBX, ASID 0 included, which belongs to the host */

	/* EDX feature bits */
	bool npt;		     /* 0 */
	bool lbr_virt;		     /* 1 */
	bool svm_lock;		     /* 2 */
	bool nrips;		     /* 3: next RIP saved on intercepts */
	bool tsc_rate_msr;	     /* 4 */
	bool vmcb_clean;	     /* 5 */
	bool flush_by_asid;	     /* 6 */
	bool decode_assists;	     /* 7 */
	bool pause_filter;	     /* 10 */
	bool pause_filter_threshold; /* 12 */
	bool avic;		     /* 13 */
	bool vmsave_virt;	     /* 15 */
	bool vgif;		     /* 16 */
	bool gmet;		     /* 17 */
	bool x2avic;		     /* 18 */
	bool sss_check;		     /* 19 */
	bool spec_ctrl;		     /* 20 */
	bool rogpt;		     /* 21 */
	bool host_mce_override;	     /* 23 */
	bool tlbictl;		     /* 24 */
	bool vnmi;		     /* 25 */
	bool ibs_virt;		     /* 26 */
	bool vmcb_addr_chk;	     /* 28: VMRUN checks the VMCB address against the guest-physical limit */
};

/* leaf may be NULL when !svm_supported; vm_cr is ignored then too (the MSR is only defined with SVM). */
void svm_caps_decode(const struct svm_cpuid *leaf, bool svm_supported, u64 vm_cr, struct svm_caps *c);

/*
 * The report as lines separated by '\n', NUL-terminated when len > 0. Returns the length the whole report would have
 * (snprintf semantics). Every feature prints as +name or -name, so "+NPT" and "-NPT" are never ambiguous.
 */
size_t svm_caps_format(const struct svm_caps *c, char *buf, size_t len);
void svm_caps_report(const struct svm_caps *c);

/* 0 if SVM is usable by this hypervisor (supported, enabled, an ASID for a guest, NPT if need_npt), else -EOPNOTSUPP
 * and one error line naming each missing feature. */
int svm_caps_check_minimum(const struct svm_caps *c, bool need_npt);

#endif
