/* CPU identification helpers used by boot reports and by page-table setup. */
#include "arch/x86/cpu.h"
#include "hv/bug.h"
#include "hv/string.h"

static u32 max_ext_leaf(void)
{
	return cpuid(0x80000000).eax;
}

bool cpu_has_feature_1gpage(void)
{
	return max_ext_leaf() >= 0x80000001 && (cpuid(0x80000001).edx & BIT(26));
}

bool cpu_has_nx(void)
{
	return max_ext_leaf() >= 0x80000001 && (cpuid(0x80000001).edx & BIT(20));
}

void cpu_get_vendor(char vendor[13])
{
	struct cpuid_regs r = cpuid(0);
	memcpy(vendor, &r.ebx, 4);
	memcpy(vendor + 4, &r.edx, 4);
	memcpy(vendor + 8, &r.ecx, 4);
	vendor[12] = 0;
}

void cpu_get_brand(char brand[49])
{
	brand[0] = 0;
	if (max_ext_leaf() < 0x80000004)
		return;
	for (u32 i = 0; i < 3; i++) {
		struct cpuid_regs r = cpuid(0x80000002 + i);
		memcpy(brand + i * 16, &r, 16);
	}
	brand[48] = 0;
	/* Brand strings are padded with leading spaces on many parts. */
	size_t skip = 0;
	while (brand[skip] == ' ')
		skip++;
	memmove(brand, brand + skip, 49 - skip);
	for (size_t n = strlen(brand); n && brand[n - 1] == ' '; n--)
		brand[n - 1] = 0;
}

bool cpu_has_pku(void)
{
	static int have = -1;

	if (have < 0)
		have = cpuid(0).eax >= 7 && (cpuid_count(7, 0).ecx & BIT(3));
	return have;
}

bool cpu_has_la57(void)
{
	static int have = -1;

	if (have < 0)
		have = cpuid(0).eax >= 7 && (cpuid_count(7, 0).ecx & BIT(16));
	return have;
}

void cpu_setup_this_cpu(void)
{
	write_cr4(read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT | (cpu_has_pku() ? CR4_PKE : 0));
	write_cr0((read_cr0() | CR0_MP | CR0_NE) & ~(u64)(CR0_EM | CR0_TS));
}

void fpu_reset(void)
{
	/* An FXSAVE image of the power-on state: FCW 0x37f, MXCSR 0x1f80, every register zero. */
	static const u8 clean[512] __aligned(16) = {
		[0] = 0x7f, [1] = 0x03,                /* FCW */
		[24] = 0x80, [25] = 0x1f,              /* MXCSR */
		[28] = 0xff, [29] = 0xff,              /* MXCSR_MASK (ignored by FXRSTOR) */
	};
	__asm__ __volatile__("fninit; fxrstor %0" ::"m"(clean));
	/* PKRU is user state like the FPU's, and outside XSAVE here: its reset value is 0 (SDM 2.7). */
	if (cpu_has_pku())
		wrpkru(0);
}

void debug_regs_reset(void)
{
	u64 zero = 0, dr6 = 0xffff0ff0, dr7 = 0x400;

	__asm__ __volatile__("mov %0, %%dr7\n\tmov %1, %%dr0\n\tmov %1, %%dr1\n\tmov %1, %%dr2\n\tmov %1, %%dr3\n\t"
			     "mov %2, %%dr6" ::"r"(dr7), "r"(zero), "r"(dr6));
}

#define DR_CASE(n)                                                                                                     \
	case n:                                                                                                        \
		if (write)                                                                                             \
			__asm__ __volatile__("mov %0, %%dr" #n ::"r"(*val));                                           \
		else                                                                                                   \
			__asm__ __volatile__("mov %%dr" #n ", %0" : "=r"(*val));                                       \
		break;

static void dr_access(int n, u64 *val, bool write)
{
	switch (n) {
		DR_CASE(0)
		DR_CASE(1)
		DR_CASE(2)
		DR_CASE(3)
		DR_CASE(6)
	default:
		BUG_ON(1); /* DR7 is the VMCS's or the VMCB's, DR4/DR5 are aliases: no caller asks for them */
	}
}
#undef DR_CASE

u64 read_dr(int n)
{
	u64 val = 0;

	dr_access(n, &val, false);
	return val;
}

void write_dr(int n, u64 val)
{
	dr_access(n, &val, true);
}

void cpu_ibpb(void)
{
	static int have = -1;

	if (have < 0) {
		bool intel = cpuid(0).eax >= 7 && (cpuid_count(7, 0).edx & BIT(26));
		bool amd = cpuid(0x80000000).eax >= 0x80000008 && (cpuid(0x80000008).ebx & BIT(12));
		have = intel || amd;
	}
	if (have)
		wrmsr(0x49 /* IA32_PRED_CMD */, 1 /* IBPB */);
}
