/* Next-RIP without NRIPS: the length of an intercepted instruction. Every instruction this backend steps over
 * (CPUID, HLT, VMMCALL, RDMSR, WRMSR, INVD, WBINVD, XSETBV, RDPMC, MONITOR, MWAIT) has a fixed encoding with no
 * operands, so its length is that of the encoding plus any prefixes in front of it: legacy prefixes, and REX in
 * 64-bit mode. Bytes that are not the intercepted instruction (a guest that rewrote it under us) give 0, and the
 * caller refuses to guess. Pure, so it is unit-tested on the host. */
#include "arch/x86/svm/svm.h"
#include "hv/string.h"

struct known_encoding {
	u64 exit_code;
	u8 len;
	u8 bytes[3];
};

static const struct known_encoding encodings[] = {
	{ SVM_EXIT_CPUID, 2, { 0x0f, 0xa2 } },
	{ SVM_EXIT_HLT, 1, { 0xf4 } },
	{ SVM_EXIT_VMMCALL, 3, { 0x0f, 0x01, 0xd9 } },
	{ SVM_EXIT_MSR, 2, { 0x0f, 0x32 } }, /* RDMSR */
	{ SVM_EXIT_MSR, 2, { 0x0f, 0x30 } }, /* WRMSR */
	{ SVM_EXIT_INVD, 2, { 0x0f, 0x08 } },
	{ SVM_EXIT_WBINVD, 2, { 0x0f, 0x09 } },
	/* QEMU's TCG reports INVD under the WBINVD exit code (seen with -cpu max); both are the same no-op here. */
	{ SVM_EXIT_WBINVD, 2, { 0x0f, 0x08 } },
	{ SVM_EXIT_XSETBV, 3, { 0x0f, 0x01, 0xd1 } },
	{ SVM_EXIT_RDPMC, 2, { 0x0f, 0x33 } },
	{ SVM_EXIT_MONITOR, 3, { 0x0f, 0x01, 0xc8 } },
	{ SVM_EXIT_MWAIT, 3, { 0x0f, 0x01, 0xc9 } },
};

static bool is_legacy_prefix(u8 b)
{
	switch (b) {
	case 0x26: case 0x2e: case 0x36: case 0x3e: case 0x64: case 0x65:
	case 0x66: case 0x67: case 0xf0: case 0xf2: case 0xf3:
		return true;
	default:
		return false;
	}
}

unsigned int svm_insn_len(u64 exit_code, const u8 *bytes, unsigned int avail, bool long_mode, bool cs_d)
{
	unsigned int p = 0;

	(void)cs_d;
	while (p < avail && p < 14 && is_legacy_prefix(bytes[p]))
		p++;
	/* REX counts only as the last prefix before the opcode. */
	if (long_mode && p < avail && (bytes[p] & 0xf0) == 0x40)
		p++;
	for (size_t i = 0; i < ARRAY_SIZE(encodings); i++) {
		const struct known_encoding *k = &encodings[i];
		if (k->exit_code == exit_code && avail >= p + k->len && p + k->len <= 15 &&
		    memcmp(bytes + p, k->bytes, k->len) == 0)
			return p + k->len;
	}
	return 0;
}
