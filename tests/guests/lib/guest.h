/* The guest test library: everything a test kernel in tests/guests/ may use. A guest defines `test_name` and
 * `test_main()`; lib/start.c brings up the console, the IDT and the boot information, then calls test_main and exits
 * with its return value through the isa-debug-exit port. */
#ifndef GUEST_GUEST_H
#define GUEST_GUEST_H

#include <stdarg.h>
#include "x86.h"

#define __noreturn     __attribute__((noreturn))
#define __printf(a, b) __attribute__((format(printf, a, b)))

/* ---- provided by each guest ---- */
extern const char test_name[];
int test_main(void);

/* ---- console (16550 at 0x3f8, polled) and results ---- */
void serial_putc(char c);
int printf(const char *fmt, ...) __printf(1, 2);
int vprintf(const char *fmt, va_list ap);
int snprintf(char *buf, size_t n, const char *fmt, ...) __printf(3, 4);
int vsnprintf(char *buf, size_t n, const char *fmt, va_list ap);

/* Exit status written to the isa-debug-exit port (QEMU exits with (status << 1) | 1). */
#define EXIT_PASS      0
#define EXIT_FAIL      1
#define EXIT_EXCEPTION 2
#define EXIT_BAD_IRQ   3
void guest_exit(u32 status) __noreturn;
/* Print `TEST <name> PASS` (or FAIL <reason>, SKIP <reason>) and exit with 0 (1, 0). */
void test_pass(void) __noreturn;
void test_fail(const char *fmt, ...) __printf(1, 2) __noreturn;
void test_skip(const char *fmt, ...) __printf(1, 2) __noreturn;

/* ---- strings ---- */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
/* Parse a decimal or 0x-hex number; returns the number of characters used (0: none). */
int parse_u64(const char *s, u64 *out);
u32 crc32(const void *p, size_t n); /* the zlib CRC-32, so a host can compare with zlib.crc32() */

/* ---- boot information (multiboot 1) ---- */
#define MB_LOADER_MAGIC 0x2badb002
#define MB_INFO_MEM	(1u << 0)
#define MB_INFO_CMDLINE (1u << 2)
#define MB_INFO_MODS	(1u << 3)
#define MB_INFO_MMAP	(1u << 6)
#define MB_INFO_LOADER	(1u << 9)

struct mb_info {
	u32 flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
	u32 syms[4];
	u32 mmap_length, mmap_addr, drives_length, drives_addr, config_table, boot_loader_name;
};
struct mb_module {
	u32 mod_start, mod_end, string, reserved;
};

#define MEM_RAM		1
#define MEM_MAX_REGIONS 32
struct mem_region {
	u64 start, end; /* [start, end) */
	u32 type;	/* multiboot type: 1 RAM, 2 reserved, 3 ACPI, 4 NVS, 5 bad */
};

struct boot_info {
	u32 magic;
	const struct mb_info *mbi; /* NULL unless the magic was right */
	const char *cmdline;	   /* "" when none */
	u32 nr_mods;
	const struct mb_module *mods;
	const char *loader; /* boot loader name, or NULL */
	u32 nr_regions;
	struct mem_region regions[MEM_MAX_REGIONS]; /* the memory map in loader order */
	u64 ram_top;				    /* end of the highest RAM region (0 without a map) */
	u64 ram_bytes;				    /* sum of the RAM regions */
	/* Ranges the guest must not overwrite: its image, the boot information, modules, everything below 1 MiB. */
	u32 nr_reserved;
	struct mem_region reserved[MEM_MAX_REGIONS + 16];
};
extern struct boot_info boot;

/* The image as linked (page-aligned): code, data, page tables, stack. */
extern char __image_start[], __image_end[];

/* The value of `key=` in the multiboot command line: true and *out set when present and numeric. */
bool cmdline_u64(const char *key, u64 *out);
/* Whether a word `key` or `key=...` is on the command line. */
bool cmdline_has(const char *key);

/* Whether [start, end) is RAM the guest may overwrite: inside one RAM region, above 1 MiB, clear of reserved ranges. */
bool ram_is_free(u64 start, u64 end);
/* The lowest free RAM range of `size` bytes aligned to `align`, at or above `min`, below `max`; 0 if none. */
u64 ram_find_free(u64 size, u64 align, u64 min, u64 max);
/* Iterate over the free RAM below `max` as maximal page-aligned ranges: start with *cursor = 0; returns false at the
 * end. */
bool ram_next_free(u64 *cursor, u64 max, u64 *start, u64 *end);
/* Whether any memory-map entry (of any type) overlaps [start, end). */
bool mmap_overlaps(u64 start, u64 end);

/* ---- CPU facts, read once at start ---- */
struct cpu_info {
	char vendor[13];
	bool is_amd; /* AMD or Hygon: VMMCALL, else VMCALL */
	u32 max_leaf, max_ext_leaf;
	u32 phys_bits; /* MAXPHYADDR */
	bool has_1g, has_nx, has_apic, has_tsc;
	u32 family, model;
	char hv_signature[13]; /* CPUID 0x40000000 when CPUID.1:ECX.hypervisor is set, else "" */
	u32 hv_features;       /* CPUID 0x40000001 EAX under this project's hypervisor ("MicroHVisor!"), else 0 */
};
extern struct cpu_info cpu;

/* ---- paging: the boot tables identity-map 0..4 GiB with 2 MiB pages (uncached from 3 GiB) ---- */
#define PTE_P	 (1ULL << 0)
#define PTE_W	 (1ULL << 1)
#define PTE_U	 (1ULL << 2)
#define PTE_PWT	 (1ULL << 3)
#define PTE_PCD	 (1ULL << 4)
#define PTE_A	 (1ULL << 5)
#define PTE_D	 (1ULL << 6)
#define PTE_PS	 (1ULL << 7)
#define PTE_NX	 (1ULL << 63)
#define PTE_ADDR 0x000ffffffffff000ULL
#define PTE_UC	 (PTE_PCD | PTE_PWT)

/* level: 1 = 4K PTE, 2 = 2M PDE, 3 = 1G PDPTE, 4 = PML4E */
static inline u64 level_size(int level)
{
	return 1ULL << (12 + 9 * (level - 1));
}
/* The entry that maps `va` at `level`; with alloc, missing tables are created and larger pages on the way split. */
u64 *pt_entry(u64 va, int level, bool alloc);
/* Map one page of level_size(level) at va -> pa with flags (P and, above level 1, PS are added). */
void pt_map(u64 va, u64 pa, int level, u64 flags);
/* Write an entry exactly as given (reserved bits and all) and flush va. */
void pt_set_raw(u64 va, int level, u64 raw);
/* A zeroed page from the page-table pool (identity-mapped). */
u64 pt_alloc_page(void);
/* Window addresses: fixed virtual slots, far from the identity map, for mapping any physical address. */
u64 win_va(int level, u32 slot);
static inline u64 win_map(int level, u32 slot, u64 pa, u64 flags)
{
	u64 va = win_va(level, slot);
	pt_map(va, pa, level, flags);
	return va;
}

/* ---- traps ---- */
struct trap_frame {
	u64 r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
	u64 vector, error;
	u64 rip, cs, rflags, rsp, ss;
};
typedef void (*trap_handler_t)(struct trap_frame *f);
void trap_init(void);
void trap_set_handler(u8 vector, trap_handler_t h);
/* Let CPL 3 reach a vector with INT n (gate DPL 3); the gate stays an interrupt gate. */
void trap_set_user_gate(u8 vector);
/* For a test's own exception handler: resume at the fixup of f->rip and record the fault in `fault` (true), or
 * false when the instruction has none; trap_fatal() is the default end (dump, FAIL line, exit). */
bool trap_fixup(struct trap_frame *f);
void trap_fatal(struct trap_frame *f) __noreturn;

/* One access with a fixup entry: label 1 is the access, label 2 where a fault resumes (trap_dispatch records the
 * fault in `fault`). For inline asm; the labels are local, so one FIXUP per asm statement. */
#define FIXUP(insn)                                                                                                    \
	"1: " insn "\n2:\n"                                                                                            \
	".pushsection .fixup_table, \"a\"\n.balign 8\n.quad 1b, 2b\n.popsection\n"
/* Interrupts on vectors 0x27, 0x2f (PIC) and 0xff (APIC spurious) are counted, not fatal. */
extern volatile u64 spurious_irqs;

/* A fault taken by an instruction with a fixup (the probe helpers below): recorded here, execution continues. */
struct fault_record {
	u32 taken; /* vector + 1 of the last fault since fault_clear(), 0 if none */
	u32 count; /* all fixed-up faults since start */
	u64 error, cr2, rip;
};
extern volatile struct fault_record fault;
static inline void fault_clear(void)
{
	fault.taken = 0;
}

/* Accesses that survive a fault: return 0, or the vector + 1 (details in `fault`). Sizes 1, 2, 4, 8. */
int probe_read(u64 va, int size, u64 *val);
int probe_write(u64 va, int size, u64 val);
static inline u64 ones(int size)
{
	return size == 8 ? ~0ULL : (1ULL << (8 * size)) - 1;
}

/* ---- the hypervisor's test device (ports 0x5f0-0x5fb) and hypercalls ---- */
enum vm_stat { /* = enum vm_stat in vm/vm.h: the order is the device's ABI */
	       VM_STAT_EXITS,
	       VM_STAT_TDP_FAULTS,
	       VM_STAT_TDP_MAPPED_4K,
	       VM_STAT_TDP_MAPPED_2M,
	       VM_STAT_TDP_MAPPED_1G,
	       VM_STAT_MMIO_EXITS,
	       VM_STAT_IO_EXITS,
	       VM_STAT_CPUID_EXITS,
	       VM_STAT_MSR_EXITS,
	       VM_STAT_HYPERCALLS,
	       VM_STAT_HLT_EXITS,
	       VM_STAT_INTR_INJECTED,
	       VM_STAT_TDP_SPLITS,
	       VM_STAT_TDP_ZAPPED,
	       VM_STAT_TRACKED_WRITES, /* guest writes to write-tracked gfns that the hypervisor emulated */
	       VM_STAT_PROTECT_LOGGED, /* writes to a protect=...:log range (they went through) */
	       VM_STAT_PROTECT_DENIED, /* writes to a deny range or a range locked by HC_MEM_LOCK (dropped) */
	       VM_STAT_TDP_COLLAPSES,  /* TDP page tables replaced by a huge leaf */
	       VM_STAT_AGED_LEAVES,    /* young TDP leaves aged (HC_AGE) */
	       VM_STAT_FAST_FAULTS,    /* TDP faults fixed without the MMU lock (not in TDP_FAULTS) */
	       VM_STAT_ACCESS_TRACK_FAULTS, /* of those, access-tracked leaves restored (aging without EPT A/D) */
	       VM_STAT_TASK_SWITCHES,  /* hardware task switches the hypervisor emulated */
	       VM_STAT_TDP_SHARED_FAULTS,   /* of TDP_FAULTS, run in parallel under the MMU lock held for read */
	       VM_STAT_TDP_FAULT_RACES,     /* compare-exchanges a fault lost to another vCPU's */
	       VM_STAT_TDP_FROZEN_BACKOFFS, /* faults that met a frozen SPTE and re-entered the guest */
	       VM_STAT_PRIVATE_VE,          /* #VEs given to this private VM */
	       VM_STAT_PRIVATE_EXTERNAL_SET, /* frames taken out of the hypervisor's direct map for private leaves */
	       VM_STAT_PRIVATE_EXTERNAL_REMOVED, /* frames scrubbed and mapped back */
	       VM_STAT_PRIVATE_REFUSED,     /* hypervisor accesses to private pages refused */
	       VM_STAT_AGE_FLUSHES,         /* TLB flushes after aging passes (age_flush=on) */
	       VM_STAT_TDP_TABLES,          /* TDP page tables linked below the roots */
	       VM_STAT_TDP_CACHE_ZEROED,    /* frames the table caches took and cleared (each refill up to 16) */
	       VM_STAT_EMU_CACHE_HITS,      /* MMIO exits emulated from the decode cache */
	       VM_STAT_EMU_CACHE_STALE,     /* decode cache entries found stale: the code or its translation changed */
	       VM_STAT_APIC_EOI_FAST,       /* xAPIC EOI writes the hypervisor did without its emulator */
	       NR_VM_STATS
};
#define TESTDEV_INDEX	     0x5f0
#define TESTDEV_LO	     0x5f4
#define TESTDEV_HI	     0x5f8
#define TESTDEV_RESERVED     0x5fc
#define TESTDEV_STREAM	     0x5fe /* the byte stream (vm/dev/dev.h); tests/guests/stringio.c uses it */
#define HV_SIGNATURE	     "MicroHVisor!"
#define HV_FEATURE_TESTDEV   (1u << 0)
#define HV_FEATURE_HYPERCALL (1u << 1)
extern bool testdev_present; /* false when the counter reads are all ones */
/* Whether the counters can be read: false without the device (the caller SKIPs), a FAIL when the hypervisor
 * advertises the device (CPUID 0x40000001) but it reads all ones. */
bool counters_available(void);
u64 stat_read(enum vm_stat s);
const char *stat_name(enum vm_stat s);

#define HC_NOP	      0
#define HC_READ_STAT  1
#define HC_MEM_LOCK   2 /* RBX gpa, RCX length, RDX mode: lock [gpa, gpa + length) read-only for the VM's life */
#define HC_TRACK_TEST 3 /* RBX gfn, RCX 1 (add) or 0 (remove): a reference on the raw write tracker */
#define HC_AGE	      4 /* RBX gpa, RCX length, RDX 0 (age) or 1 (test only): 1 if a leaf was young, 0 if not */
#define HC_WS	      5 /* RBX gpa of a struct ws_report, RCX first gfn, RDX pages (0: all RAM): 0, -ENODEV, ... */
#define HC_UNMAP      9 /* RBX gpa, RCX length: drop the VM's mappings of the range (contents stay): 0, -EINVAL, -EPERM */
#define HC_ENOSYS     ((u64)-38)
/* What HC_WS writes (the hypervisor's vm/ws.h), in 4K pages: young[i] were seen young within the last 2^i scans
 * (cumulative), idle longer ago than 128 scans, never not since the VM started; young[7] + idle + never == pages. */
#define WS_BUCKETS 8
struct ws_report {
	u64 scans, pages;
	u64 young[WS_BUCKETS];
	u64 idle, never;
	u64 reclaimed, refaulted;
};
#define HC_LOCK_DENY  0 /* HC_MEM_LOCK modes: a write is dropped and counted, */
#define HC_LOCK_KILL  1 /* or it ends the VM */
/* Hypercall results are 0 or a negative errno, with the hypervisor's numbers (include/hv/errno.h). */
#define EFAULT 14
#define ENODEV 19
#define EEXIST 17
#define EINVAL 22
#define ENOSPC 28
#define ERANGE 34
#define ENOSYS 38
/* VMCALL on Intel, VMMCALL on AMD: RAX = number, RBX = argument, result in RAX. A fault is fatal. */
u64 hypercall(u64 nr, u64 arg);
/* The same, surviving a fault (#UD without a hypervisor): 0 or vector + 1. */
int hypercall_try(u64 nr, u64 arg, u64 *ret);
/* Three arguments, in RBX, RCX and RDX (RCX and RDX are treated as clobbered). */
u64 hypercall3(u64 nr, u64 a, u64 b, u64 c);
int hypercall3_try(u64 nr, u64 a, u64 b, u64 c, u64 *ret);
int wrmsr_try(u32 msr, u64 v);

#endif
