/* CPU primitives: CPUID, MSRs, control registers, port I/O, TSC. Thin inline wrappers; the only place that spells
 * these instructions outside the vendor backends and the boot assembly. */
#ifndef ARCH_X86_CPU_H
#define ARCH_X86_CPU_H

#include "hv/compiler.h"

struct cpuid_regs {
	u32 eax, ebx, ecx, edx;
};

static inline struct cpuid_regs cpuid_count(u32 leaf, u32 subleaf)
{
	struct cpuid_regs r;
	__asm__ __volatile__("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx) : "a"(leaf), "c"(subleaf));
	return r;
}

static inline struct cpuid_regs cpuid(u32 leaf)
{
	return cpuid_count(leaf, 0);
}

static inline u64 rdmsr(u32 msr)
{
	u32 lo, hi;
	__asm__ __volatile__("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((u64)hi << 32) | lo;
}

static inline void wrmsr(u32 msr, u64 v)
{
	__asm__ __volatile__("wrmsr" ::"c"(msr), "a"((u32)v), "d"((u32)(v >> 32)) : "memory");
}

#define DEFINE_CR(n)                                                                                                   \
	static inline u64 read_cr##n(void)                                                                             \
	{                                                                                                              \
		u64 v;                                                                                                 \
		__asm__ __volatile__("mov %%cr" #n ", %0" : "=r"(v));                                                  \
		return v;                                                                                              \
	}                                                                                                              \
	static inline void write_cr##n(u64 v)                                                                          \
	{                                                                                                              \
		__asm__ __volatile__("mov %0, %%cr" #n ::"r"(v) : "memory");                                           \
	}
DEFINE_CR(0)
DEFINE_CR(2)
DEFINE_CR(3)
DEFINE_CR(4)
#undef DEFINE_CR

#define CR0_PE BIT(0)
#define CR0_MP BIT(1)
#define CR0_EM BIT(2)
#define CR0_TS BIT(3)
#define CR0_ET BIT(4)
#define CR0_NE BIT(5)
#define CR0_WP BIT(16)
#define CR0_AM BIT(18)
#define CR0_NW BIT(29)
#define CR0_CD BIT(30)
#define CR0_PG BIT(31)

#define CR4_VME BIT(0)
#define CR4_DE BIT(3)
#define CR4_PSE BIT(4)
#define CR4_PAE BIT(5)
#define CR4_PGE BIT(7)
#define CR4_OSFXSR BIT(9)
#define CR4_VMXE BIT(13)
#define CR4_SMXE BIT(14)
#define CR4_PCIDE BIT(17)
#define CR4_OSXSAVE BIT(18)
#define CR4_SMEP BIT(20)
#define CR4_SMAP BIT(21)
#define CR4_LA57 BIT(12)
#define CR4_PKE BIT(22)

#define RFLAGS_CF BIT(0)
#define RFLAGS_ZF BIT(6)
#define RFLAGS_TF BIT(8)
#define RFLAGS_IF BIT(9)
#define RFLAGS_IOPL (3ULL << 12)
#define RFLAGS_RF BIT(16)
#define RFLAGS_VM BIT(17)
#define RFLAGS_AC BIT(18)

static inline u64 read_rflags(void)
{
	u64 f;
	__asm__ __volatile__("pushfq; popq %0" : "=r"(f));
	return f;
}

static inline void outb(u16 port, u8 v) { __asm__ __volatile__("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outw(u16 port, u16 v) { __asm__ __volatile__("outw %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outl(u16 port, u32 v) { __asm__ __volatile__("outl %0, %1" ::"a"(v), "Nd"(port)); }
static inline u8 inb(u16 port)
{
	u8 v;
	__asm__ __volatile__("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline u16 inw(u16 port)
{
	u16 v;
	__asm__ __volatile__("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline u32 inl(u16 port)
{
	u32 v;
	__asm__ __volatile__("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline u64 rdtsc(void)
{
	u32 lo, hi;
	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
	return ((u64)hi << 32) | lo;
}

static inline void cpu_relax(void) { __asm__ __volatile__("pause" ::: "memory"); }
static inline void cli(void) { __asm__ __volatile__("cli" ::: "memory"); }
static inline void sti(void) { __asm__ __volatile__("sti" ::: "memory"); }
static inline void hlt(void) { __asm__ __volatile__("hlt" ::: "memory"); }

static inline void invlpg(u64 va) { __asm__ __volatile__("invlpg (%0)" ::"r"(va) : "memory"); }

/* Stop this CPU for good: interrupts off, halted; only NMI, INIT or SMI can wake it, and it halts again. */
static inline __attribute__((noreturn)) void cpu_halt_forever(void)
{
	for (;;)
		__asm__ __volatile__("cli; hlt" ::: "memory");
}

/* Sleep in HLT until cond(arg) holds. Called with interrupts off, and cond is checked with them off: whoever makes it
 * hold sends a wake IPI afterwards, which STI;HLT takes even if it came just after the check (the STI shadow). */
static inline void cpu_halt_until(bool (*cond)(void *arg), void *arg)
{
	while (!cond(arg))
		__asm__ __volatile__("sti; hlt; cli" ::: "memory");
}

#define CR4_OSXMMEXCPT BIT(10)
#define CR4_UMIP BIT(11)

/* Per-CPU control-register setup every CPU runs once: FXSAVE/SSE enabled so guest FPU state can be reset. */
void cpu_setup_this_cpu(void);
/* Protection keys (CPUID.7.0:ECX.PKU): the host turns CR4.PKE on where the CPU has them, so that it can reset and
 * read a guest's PKRU. Its own mappings are all supervisor ones, which PKRU never restricts. */
bool cpu_has_pku(void);
/* 5-level paging (CPUID 7.0 ECX[16]): what a guest may use too (the MMU shadows 5-level guest tables; under TDP the
 * guest's paging depth does not concern the nested tables, which stay 4-level for this hypervisor's 48-bit gpas). */
bool cpu_has_la57(void);
static inline u32 rdpkru(void)
{
	u32 eax, edx;
	__asm__ __volatile__("rdpkru" : "=a"(eax), "=d"(edx) : "c"(0));
	return eax;
}
static inline void wrpkru(u32 val)
{
	__asm__ __volatile__("wrpkru" ::"a"(val), "c"(0), "d"(0) : "memory");
}
/* Give the FPU and SSE registers their power-on values (FNINIT, zeroed XMM, MXCSR 0x1f80), so nothing one guest
 * left there is visible to the next. The hypervisor itself never touches them. */
void fpu_reset(void);

/* DR0-DR3 = 0, DR6 and DR7 at their reset values: breakpoints one guest set never fire in the next. */
void debug_regs_reset(void);
/* The CPU's DR0-DR3 and DR6 (n = 0-3, 6), which hold the guest's values while its vCPU runs on this CPU. */
u64 read_dr(int n);
void write_dr(int n, u64 val);
/* Indirect branch prediction barrier where the CPU has one: the next guest cannot steer the host's (or its own)
 * indirect branches with predictions the previous guest trained. */
void cpu_ibpb(void);

bool cpu_has_feature_1gpage(void);
bool cpu_has_nx(void);
void cpu_get_vendor(char vendor[13]);
void cpu_get_brand(char brand[49]);

#endif
