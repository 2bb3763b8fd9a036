/* Next-RIP without NRIPS: which instructions an intercept may stop. The length itself comes from the emulator's
 * decoder (vm/mmio.c vcpu_decode_insn, vm/emulate/decode.c), the project's one decoder, so prefixes count as the CPU
 * counts them (any number of legacy prefixes, REX only right before the opcode, the last REX wins, 15 bytes at
 * most). This table only checks that the decoded instruction is one the exit code names: bytes that are another
 * instruction (a guest that rewrote its code under the intercept, from another vCPU) are not stepped over by a
 * length that belongs to something else. Pure, so it is unit-tested on the host with the decoder. */
#include "arch/x86/svm/svm.h"
#include "vm/emulate/emulate.h"

#define NO_MODRM 0xffff

struct intercepted {
	u64 exit_code;
	u8 map, opcode;
	u16 modrm; /* the whole ModRM byte for the 0F 01 register forms, or NO_MODRM */
};

static const struct intercepted intercepted[] = {
    {SVM_EXIT_CPUID, 1, 0xa2, NO_MODRM},
    {SVM_EXIT_HLT, 0, 0xf4, NO_MODRM},
    {SVM_EXIT_VMMCALL, 1, 0x01, 0xd9},
    {SVM_EXIT_MSR, 1, 0x32, NO_MODRM}, /* RDMSR */
    {SVM_EXIT_MSR, 1, 0x30, NO_MODRM}, /* WRMSR */
    {SVM_EXIT_INVD, 1, 0x08, NO_MODRM},
    {SVM_EXIT_WBINVD, 1, 0x09, NO_MODRM},
    /* QEMU's TCG reports INVD under the WBINVD exit code (seen with -cpu max); both are the same no-op here. */
    {SVM_EXIT_WBINVD, 1, 0x08, NO_MODRM},
    {SVM_EXIT_XSETBV, 1, 0x01, 0xd1},
    {SVM_EXIT_RDPMC, 1, 0x33, NO_MODRM},
    {SVM_EXIT_MONITOR, 1, 0x01, 0xc8},
    {SVM_EXIT_MWAIT, 1, 0x01, 0xc9},
    /* IN and OUT: the IOIO exit gives the next RIP in EXITINFO2 whatever NRIPS says, so this is for completeness. */
    {SVM_EXIT_IOIO, 0, 0xe4, NO_MODRM},
    {SVM_EXIT_IOIO, 0, 0xe5, NO_MODRM},
    {SVM_EXIT_IOIO, 0, 0xe6, NO_MODRM},
    {SVM_EXIT_IOIO, 0, 0xe7, NO_MODRM},
    {SVM_EXIT_IOIO, 0, 0xec, NO_MODRM},
    {SVM_EXIT_IOIO, 0, 0xed, NO_MODRM},
    {SVM_EXIT_IOIO, 0, 0xee, NO_MODRM},
    {SVM_EXIT_IOIO, 0, 0xef, NO_MODRM},
};

bool svm_insn_is_intercepted(u64 exit_code, const struct emu_insn *insn)
{
	if (insn->vex || !insn->len)
		return false;
	for (unsigned int i = 0; i < ARRAY_SIZE(intercepted); i++) {
		const struct intercepted *k = &intercepted[i];
		if (k->exit_code == exit_code && k->map == insn->map && k->opcode == insn->opcode &&
		    (k->modrm == NO_MODRM ? !insn->has_modrm : insn->has_modrm && insn->modrm == k->modrm))
			return true;
	}
	return false;
}

/*
 * A private VM's instructions are in memory the hypervisor does not read (vm/private.c), so without NRIPS their
 * lengths cannot come from the decoder: each intercepted instruction is taken in its plain encoding, the table's
 * opcode bytes with no prefix (vm/private_abi.h makes that the guest's side of the contract). 0 for an exit whose
 * instruction has no single plain length.
 */
int svm_private_insn_len(u64 exit_code)
{
	unsigned int len = 0;

	for (unsigned int i = 0; i < ARRAY_SIZE(intercepted); i++) {
		const struct intercepted *k = &intercepted[i];
		unsigned int n = (k->map ? 2 : 1) + (k->modrm != NO_MODRM);

		if (k->exit_code != exit_code || exit_code == SVM_EXIT_IOIO)
			continue;
		if (len && len != n)
			return 0; /* two encodings of different lengths */
		len = n;
	}
	return (int)len;
}
