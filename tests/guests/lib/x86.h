/* CPU primitives for the guest test kernels: port I/O, MSRs, control registers, CPUID, TSC. Header-only, inline asm;
 * nothing here knows about the hypervisor. */
#ifndef GUEST_X86_H
#define GUEST_X86_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int32_t s32;
typedef int64_t s64;

#define PAGE_SIZE ((u64)0x1000)
#define SIZE_2M	  ((u64)0x200000)
#define SIZE_1G	  ((u64)0x40000000)
#define KiB	  ((u64)1024)
#define MiB	  ((u64)1024 * 1024)
#define GiB	  ((u64)1024 * MiB)

#define ALIGN_UP(x, a)	 (((x) + (a)-1) & ~((u64)(a)-1))
#define ALIGN_DOWN(x, a) ((x) & ~((u64)(a)-1))
#define ARRAY_SIZE(a)	 (sizeof(a) / sizeof((a)[0]))

#define MSR_APIC_BASE 0x1b
#define MSR_EFER      0xc0000080

static inline void outb(u16 port, u8 v)
{
	asm volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outw(u16 port, u16 v)
{
	asm volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outl(u16 port, u32 v)
{
	asm volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}
static inline u8 inb(u16 port)
{
	u8 v;
	asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline u16 inw(u16 port)
{
	u16 v;
	asm volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline u32 inl(u16 port)
{
	u32 v;
	asm volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline void cpuid(u32 leaf, u32 sub, u32 *a, u32 *b, u32 *c, u32 *d)
{
	asm volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}

static inline u64 rdmsr(u32 msr)
{
	u32 lo, hi;
	asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((u64)hi << 32) | lo;
}
static inline void wrmsr(u32 msr, u64 v)
{
	asm volatile("wrmsr" : : "c"(msr), "a"((u32)v), "d"((u32)(v >> 32)) : "memory");
}

/* rdtsc is not ordered against earlier loads; lfence makes a measurement start after what precedes it. */
static inline u64 rdtsc(void)
{
	u32 lo, hi;
	asm volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
	return ((u64)hi << 32) | lo;
}

#define DEFINE_CR(n)                                                                                                   \
	static inline u64 read_cr##n(void)                                                                             \
	{                                                                                                              \
		u64 v;                                                                                                 \
		asm volatile("mov %%cr" #n ", %0" : "=r"(v));                                                          \
		return v;                                                                                              \
	}                                                                                                              \
	static inline void write_cr##n(u64 v)                                                                          \
	{                                                                                                              \
		asm volatile("mov %0, %%cr" #n : : "r"(v) : "memory");                                                 \
	}
DEFINE_CR(0)
DEFINE_CR(2)
DEFINE_CR(3)
DEFINE_CR(4)
#undef DEFINE_CR

static inline void invlpg(u64 va)
{
	asm volatile("invlpg (%0)" : : "r"(va) : "memory");
}
static inline void flush_tlb(void)
{
	write_cr3(read_cr3());
}
static inline void cli(void)
{
	asm volatile("cli" : : : "memory");
}
static inline void sti(void)
{
	asm volatile("sti" : : : "memory");
}
/* sti; hlt back to back: the STI shadow makes the pair atomic, so a wake-up interrupt cannot slip in between. */
static inline void sti_hlt(void)
{
	asm volatile("sti; hlt" : : : "memory");
}
static inline void pause(void)
{
	asm volatile("pause" : : : "memory");
}
static inline void barrier(void)
{
	asm volatile("" : : : "memory");
}

#endif
