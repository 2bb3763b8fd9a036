/* Next-RIP computation for SVM without NRIPS. */
#include <string.h>

#include "arch/x86/svm/svm.h"
#include "test.h"

#define LEN(code, lm, ...)                                                                                             \
	({                                                                                                             \
		const u8 b[] = { __VA_ARGS__ };                                                                        \
		svm_insn_len(code, b, sizeof(b), lm, true);                                                            \
	})

TEST(nrip_plain_encodings)
{
	CHECK_EQ(LEN(SVM_EXIT_CPUID, false, 0x0f, 0xa2), 2);
	CHECK_EQ(LEN(SVM_EXIT_HLT, false, 0xf4), 1);
	CHECK_EQ(LEN(SVM_EXIT_VMMCALL, true, 0x0f, 0x01, 0xd9), 3);
	CHECK_EQ(LEN(SVM_EXIT_MSR, true, 0x0f, 0x32), 2);
	CHECK_EQ(LEN(SVM_EXIT_MSR, true, 0x0f, 0x30), 2);
	CHECK_EQ(LEN(SVM_EXIT_INVD, false, 0x0f, 0x08), 2);
	CHECK_EQ(LEN(SVM_EXIT_WBINVD, false, 0x0f, 0x08), 2); /* QEMU's TCG: INVD under WBINVD's code */
	CHECK_EQ(LEN(SVM_EXIT_XSETBV, true, 0x0f, 0x01, 0xd1), 3);
}

TEST(nrip_trailing_bytes_ignored)
{
	CHECK_EQ(LEN(SVM_EXIT_CPUID, true, 0x0f, 0xa2, 0x90, 0x90, 0xcc), 2);
	CHECK_EQ(LEN(SVM_EXIT_HLT, true, 0xf4, 0xeb, 0xfe), 1);
}

TEST(nrip_prefixes_counted)
{
	CHECK_EQ(LEN(SVM_EXIT_CPUID, false, 0x66, 0x0f, 0xa2), 3);
	CHECK_EQ(LEN(SVM_EXIT_CPUID, true, 0x2e, 0x66, 0x48, 0x0f, 0xa2), 5); /* legacy prefixes, then REX.W */
	CHECK_EQ(LEN(SVM_EXIT_HLT, false, 0xf3, 0xf4), 2);
}

TEST(nrip_rex_only_in_long_mode)
{
	/* Outside 64-bit mode 0x48 is DEC EAX, not a prefix: the bytes are not CPUID. */
	CHECK_EQ(LEN(SVM_EXIT_CPUID, false, 0x48, 0x0f, 0xa2), 0);
	CHECK_EQ(LEN(SVM_EXIT_CPUID, true, 0x48, 0x0f, 0xa2), 3);
	/* REX must be the last prefix: REX then 66 is not a valid prefix order for our purpose. */
	CHECK_EQ(LEN(SVM_EXIT_CPUID, true, 0x48, 0x66, 0x0f, 0xa2), 0);
}

TEST(nrip_wrong_instruction_refused)
{
	CHECK_EQ(LEN(SVM_EXIT_CPUID, true, 0xf4), 0);           /* HLT bytes for a CPUID exit */
	CHECK_EQ(LEN(SVM_EXIT_VMMCALL, true, 0x0f, 0x01, 0xc1), 0); /* VMCALL (Intel) is not VMMCALL */
	CHECK_EQ(LEN(SVM_EXIT_MSR, true, 0x0f, 0x31), 0);       /* RDTSC */
	CHECK_EQ(LEN(SVM_EXIT_IOIO, true, 0xee), 0);            /* not a fixed encoding: exit info has next RIP */
}

TEST(nrip_truncated_and_overlong)
{
	CHECK_EQ(LEN(SVM_EXIT_CPUID, true, 0x0f), 0);
	u8 b[20];
	memset(b, 0x66, sizeof(b));
	b[14] = 0x0f;
	b[15] = 0xa2;
	/* 14 prefixes and a 2-byte opcode is 16 bytes: longer than any instruction may be. */
	CHECK_EQ(svm_insn_len(SVM_EXIT_CPUID, b, 16, true, true), 0);
	CHECK_EQ(svm_insn_len(SVM_EXIT_CPUID, b + 1, 15, true, true), 15);
	CHECK_EQ(svm_insn_len(SVM_EXIT_CPUID, b, 0, true, true), 0);
}
