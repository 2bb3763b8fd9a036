/* What the parts of the ptstorm guest share (tests/guests/ptstorm.c says what each phase checks): reporting, the
 * CPU's paging features, a random stream, free RAM, the content every test page holds, the access-rights rules of
 * the SDM as the test predicts them, and probes that run an access at CPL 0 or 3 and catch its #PF. */
#ifndef PTSTORM_H
#define PTSTORM_H

#include "guest.h"
#include "user.h"

/* ---- reporting: one TEST line per phase; the first failure ends the run ---- */
extern const char *phase;
void fail(const char *fmt, ...) __printf(1, 2) __noreturn;
void pass(void);
void skip(const char *fmt, ...) __printf(1, 2);

/* ---- what the CPU has (CPUID), read once ---- */
struct features {
	bool nx, smep, smap, pcid, invpcid, pge, pse, pae, g1;
	bool pku; /* CPUID.(EAX=7,ECX=0):ECX.PKU: protection keys for user pages (phase pkey) */
	u32 phys_bits;
	bool amd;      /* AMD/Hygon: the APM leaves the #PF I/D bit undefined unless EFER.NXE and CR4.PAE are set */
	bool tcg_rsvd; /* cmdline `tcg_rsvd`: accept a reserved-bit #PF without P, as QEMU TCG 7.2 delivers it */
};
extern struct features feat;
extern u64 timeout; /* TSC cycles for any wait on another CPU (`timeout=`) */

/* ---- a reproducible random stream (xorshift64*; `seed=` on the command line) ---- */
u64 rnd(void);
static inline u32 rnd_below(u32 n)
{
	return (u32)((rnd() >> 32) * n >> 32);
}
void rnd_seed(u64 s);

/* ---- free RAM below 1 GiB (identity-mapped by the boot tables and by the 32-bit tables of phase pae) ---- */
u64 ps_alloc(u64 size, u64 align);
u64 *ps_table(void); /* a zeroed 4 KiB page for a paging structure */
#define PS_RAM_LIMIT (1 * GiB)

/* ---- content: every qword of a test page names its own physical address, so a read shows where it went ---- */
static inline u64 pat(u64 pa)
{
	return (pa ^ 0x7074737472616d21ULL) * 0x9e3779b97f4a7c15ULL; /* a bijection: odd multiplier */
}
void fill_pat(u64 pa, u64 size);
/* Which physical qword `v` names, or ~0 if none of the candidates: v must be pat(base[i] + off) for some i. */
int pat_which(u64 v, const u64 *bases, int n, u64 off);

/* ---- paging bits beyond guest.h ---- */
#define PTE_G	    (1ULL << 8)
#define PTE_PAT_2M  (1ULL << 12)
#define PTE_AD	    (PTE_A | PTE_D)
#define PF_P	    0x1u
#define PF_W	    0x2u
#define PF_U	    0x4u
#define PF_RSVD	    0x8u
#define PF_I	    0x10u
#define PF_PK	    0x20u
#define PF_VECTOR   14
#define CR0_WP	    (1ULL << 16)
#define CR0_PG	    (1ULL << 31)
#define CR4_PSE	    (1ULL << 4)
#define CR4_PAE	    (1ULL << 5)
#define CR4_PGE	    (1ULL << 7)
#define CR4_PCIDE   (1ULL << 17)
#define CR4_SMEP    (1ULL << 20)
#define CR4_SMAP    (1ULL << 21)
#define CR4_PKE	    (1ULL << 22)
#define EFER_NXE    (1ULL << 11)
#define CR3_NOFLUSH (1ULL << 63)
/* The protection key of a leaf (IA-32e paging, CR4.PKE = 1; ignored otherwise and in entries that map tables). */
#define PTE_PKEY_SHIFT 59
#define PTE_PKEY       (0xfULL << PTE_PKEY_SHIFT)
static inline unsigned pte_pkey(u64 leaf)
{
	return (unsigned)(leaf >> PTE_PKEY_SHIFT) & 15;
}
static inline u64 pkey_bits(unsigned key)
{
	return (u64)(key & 15) << PTE_PKEY_SHIFT;
}
/* PKRU (SDM Vol. 3A 2.7): AD of key i at bit 2i, WD at bit 2i + 1. RDPKRU/WRPKRU need CR4.PKE (else #UD) and
 * ECX = 0 (else #GP); WRPKRU also EDX = 0. */
#define PKRU_AD 1u
#define PKRU_WD 2u
static inline u32 pkru_bits(unsigned key, u32 adwd)
{
	return (adwd & 3) << (2 * (key & 15));
}
static inline u32 rdpkru(void)
{
	u32 eax, edx;
	asm volatile(".byte 0x0f, 0x01, 0xee" : "=a"(eax), "=d"(edx) : "c"(0)); /* RDPKRU */
	return eax;
}
static inline void wrpkru(u32 v)
{
	asm volatile(".byte 0x0f, 0x01, 0xef" : : "a"(v), "c"(0), "d"(0) : "memory"); /* WRPKRU */
}
static inline u64 *table_at(u64 pa)
{
	return (u64 *)pa; /* paging structures live in identity-mapped RAM */
}
static inline unsigned pt_index(u64 va, int level)
{
	return (unsigned)(va >> (12 + 9 * (level - 1))) & 511;
}
/* The PML4 slots this test owns (the boot tables use 0 and 17-19). */
#define SLOT_USER  24 /* CPL 3 code and stack (perm) */
#define SLOT_4K	   25 /* perm: a 4 KiB page, PDE and PTE under test */
#define SLOT_2M	   26 /* perm: a 2 MiB page, PDPTE and PDE under test */
#define SLOT_1G	   27 /* perm: a 1 GiB page, PML4E and PDPTE under test */
#define SLOT_REMAP 28
#define SLOT_SMP   29
#define SLOT_CR3   30 /* cr3: one PDPT per address space */
#define SLOT_SHARE 31 /* cr3: one PDPT shared by every address space */
static inline u64 slot_va(unsigned slot)
{
	return (u64)slot << 39;
}
/* Link a fresh PDPT into the current PML4 at `slot` (P, W, U); returns its address. */
u64 slot_link(unsigned slot);
/* A software walk of 4-level tables: the physical address va translates to, or NOT_MAPPED. Only P, PS and the
 * address are looked at (what the test itself needs as its reference). */
#define NOT_MAPPED (~0ULL)
u64 soft_walk(u64 pml4, u64 va);

/* ---- the access-rights rules (SDM Vol. 3A 4.6, 4.7; APM Vol. 2 5.6, 8.4.2), independent of the CPU ---- */
enum access { ACC_READ, ACC_WRITE, ACC_FETCH };
enum paging { PAGING_4LEVEL, PAGING_PAE, PAGING_32BIT };
struct mode {
	enum paging paging;
	bool wp, smep, smap, nxe;
	bool pke; /* CR4.PKE (4-level paging only) */
	u32 pkru; /* what PKRU holds (it matters only with pke) */
};
/* What a walk found, combined over every entry it used. */
struct rights {
	bool present;  /* every entry had P = 1 */
	bool rsvd;     /* some present entry had a reserved bit set */
	bool user;     /* U/S = 1 in every entry: a user-mode address */
	bool write;    /* R/W = 1 in every entry */
	bool xd;       /* XD = 1 in some entry */
	unsigned pkey; /* the leaf's protection key (bits 62:59), for 4-level paging */
};
#define PF_NONE 0xffffffffu /* pf_predict(): no fault */
u32 pf_predict(const struct mode *m, const struct rights *r, int cpl, enum access acc, bool ac);
/* Whether an actual #PF error code matches the predicted one (the I/D bit where the APM leaves it undefined on AMD;
 * the P bit of a reserved-bit fault under `tcg_rsvd`, counted in rsvd_without_p). */
bool pf_error_matches(const struct mode *m, u32 want, u32 got);
extern u32 rsvd_without_p;
const char *acc_name(enum access a);
/* Fold one present entry (its U/S, R/W and XD bits) into r. */
void rights_add(struct rights *r, u64 entry);

/* ---- phase perm's paths and its checked access, shared with phase pkey ---- */
struct path {
	const char *name;
	volatile u64 *e[4]; /* the entries used, top down; the last maps the page */
	u64 v[4];	    /* what to write into them (A and D cleared) */
	int n;
	u64 va;	    /* the page, as mapped */
	u64 target; /* its physical address */
	bool rsvd;  /* a reserved bit other than XD is set in some entry (the caller says) */
};
struct perm_paths {
	struct path *path[3];	      /* 4 KiB, 2 MiB, 1 GiB (n = 0 where the CPU has no 1 GiB pages) */
	volatile u64 *user_stack_pte; /* the CPL 3 stack's PTE: a user page, so PKRU applies to its pushes */
	u64 user_stack_page;	      /* its linear address */
};
/* Build the paths and the CPL 3 pages once (later calls return the same). */
const struct perm_paths *perm_build(void);
/* Set CR0.WP, CR4.SMEP, CR4.SMAP and EFER.NXE as m says (not CR4.PKE or PKRU). */
void perm_set_mode(const struct mode *m);
/* What the rules see in p as written. */
struct rights perm_path_rights(const struct mode *m, const struct path *p);
/* Counts of perm_run_case(), reset by whoever reports them. */
struct perm_counts {
	u32 cases, faults, ad_checks;
};
extern struct perm_counts perm_counts;
/* One access on p (rewritten with A = D = 0 and INVLPG'd first) checked against pf_predict(): fault or not, the
 * error code and CR2, the value read or written, A/D. Returns the predicted error code (PF_NONE: no fault). */
u32 perm_run_case(const struct mode *m, struct path *p, int cpl, enum access acc, bool ac);

/* ---- probes: one access under test, at CPL 0 or 3; 0 or the vector + 1 ---- */
struct pf_record {
	u32 taken; /* vector + 1 of the last fault, 0 if none */
	u64 error, cr2, rip;
};
extern volatile struct pf_record pf;
void probes_init(void); /* the #PF handler */
int kread(u64 va, u64 *v, bool ac);
int kwrite(u64 va, u64 v, bool ac);
int kfetch(u64 va); /* CALL va: a RET there comes back */
/* CPL 3: the stubs at user_code (an alias of user_page mapped U/S = 1) on the stack ending at user_stack. */
void probes_set_user(u64 user_code, u64 user_stack);
int uread(u64 va, u64 *v);
int uwrite(u64 va, u64 v);
int ufetch(u64 va);

/* ---- paging writes the way Linux does them (arch/x86/include/asm/pgtable*.h) ---- */
enum pte_op { OP_MOV, OP_XCHG, OP_CMPXCHG, NR_PTE_OPS };
/* Write `v` into *p by `how`; returns what was there (XCHG, CMPXCHG) or the value read before the MOV. */
u64 pte_write(volatile u64 *p, u64 v, enum pte_op how);
static inline void pte_set_bit(volatile u64 *p, int bit)
{
	asm volatile("lock btsq %1, %0" : "+m"(*p) : "Ir"((u64)bit) : "memory"); /* set_bit() */
}
static inline void pte_clear_bit(volatile u64 *p, int bit)
{
	asm volatile("lock btrq %1, %0" : "+m"(*p) : "Ir"((u64)bit) : "memory"); /* clear_bit(): ptep_set_wrprotect */
}
static inline u64 pte_get_and_clear(volatile u64 *p)
{
	return __atomic_exchange_n(p, 0, __ATOMIC_SEQ_CST); /* XCHG: native_ptep_get_and_clear() on SMP */
}
const char *pte_op_name(enum pte_op how);

/* ---- phases ---- */
void phase_remap(void);
void phase_cr3(void);
void phase_perm(void);
void phase_pkey(void);
void phase_pae(void);
void phase_legacy32(void);
void phase_smp(void);
void phase_la57(void);

#endif
