/* The guest page-table walker: translates a guest-virtual address through the guest's own page tables (32-bit, PAE,
 * 4-level, 5-level) with the CPU's permission, protection-key and reserved-bit rules, for the instruction emulator and
 * the shadow MMU. Guest memory is reached only through callbacks, so the walker runs unchanged in host unit tests and
 * under the fuzzer. */
#ifndef MM_SHADOW_GWALK_H
#define MM_SHADOW_GWALK_H

#include "hv/compiler.h"

/* #PF error-code bits (SDM Vol. 3A, 4.7). */
#define PFERR_PRESENT BIT(0) /* 1: protection or reserved-bit violation; 0: a not-present entry */
#define PFERR_WRITE   BIT(1)
#define PFERR_USER    BIT(2)
#define PFERR_RSVD    BIT(3)
#define PFERR_FETCH   BIT(4) /* reported only with SMEP, or with NXE under PAE / 4-level / 5-level paging */
/* A data access to a user-mode address whose protection key PKRU denies it (SDM Vol. 3A 4.7): always with P, and set
 * whenever PKRU denies the access, even when R/W, U/S or SMAP deny it too, as the SDM defines the bit (and KVM's
 * permission_fault() and kvm-unit-tests' access test expect of the hardware). */
#define PFERR_PK BIT(5)

/* The access being translated. The low bits equal the #PF error-code bits, so the W/U/I bits of a hardware error
 * code can be passed straight through. A read is neither WRITE nor FETCH. */
#define GWALK_WRITE PFERR_WRITE
#define GWALK_USER  PFERR_USER /* an explicit access at CPL 3 */
#define GWALK_FETCH PFERR_FETCH
/* An implicit supervisor access (GDT, IDT, TSS, ...): never a user access, even at CPL 3, and SMAP applies whatever
 * RFLAGS.AC says. */
#define GWALK_IMPLICIT BIT(31)
/* A hardware error code passed as the access may carry P, RSVD or PK: none of them is read as an access kind. */
static_assert(!((PFERR_PRESENT | PFERR_RSVD | PFERR_PK) & (GWALK_WRITE | GWALK_USER | GWALK_FETCH | GWALK_IMPLICIT)),
	      "an error-code bit reads as an access kind");

/* Permissions a translation grants, accumulated over every level. */
#define GWALK_PERM_W BIT(0)
#define GWALK_PERM_U BIT(1)
#define GWALK_PERM_X BIT(2)

/* Bits of a paging-structure entry the walker interprets. */
#define GPTE_P	BIT(0)
#define GPTE_RW BIT(1)
#define GPTE_US BIT(2)
#define GPTE_A	BIT(5)
#define GPTE_D	BIT(6)
#define GPTE_PS BIT(7)
#define GPTE_NX BIT(63)
/* IA-32e paging: bits 62:59 of a leaf (4K, 2M or 1G) are its protection key with CR4.PKE, ignored bits without (and
 * in non-leaf entries); PAE paging reserves them. */
#define GPTE_PKEY_SHIFT 59
#define GPTE_PKEY	GENMASK_ULL(62, 59)
static_assert(GPTE_PKEY == 15ULL << GPTE_PKEY_SHIFT, "a protection key is 4 bits");
/* The key lies in bits 4-level paging ignores: no address bit at any MAXPHYADDR, nor XD, nor a bit the walker uses. */
static_assert(!(GPTE_PKEY & (GENMASK_ULL(51, 0) | GPTE_NX)), "protection key overlaps an interpreted bit");

/* PKRU: for protection key k, bit 2k is AD (access disable) and bit 2k+1 WD (write disable) (SDM Vol. 3A 2.7). */
#define PKRU_AD(key) BIT(2 * (key))
#define PKRU_WD(key) BIT(2 * (key) + 1)

#define GWALK_MAX_LEVELS 5 /* 5-level paging: the PML5 is level 5 */

/* The paging controls of the guest, as its vCPU holds them now. */
struct gwalk_mode {
	bool pg;	   /* CR0.PG: off means gpa == gva truncated to 32 bits */
	bool wp;	   /* CR0.WP: supervisor writes honour R/W */
	bool pae;	   /* CR4.PAE */
	bool pse;	   /* CR4.PSE: 4M pages in 32-bit paging (PAE and 4-level paging ignore it) */
	bool smep;	   /* CR4.SMEP */
	bool smap;	   /* CR4.SMAP */
	bool pke;	   /* CR4.PKE: protection keys for user-mode addresses, only with lma (SDM Vol. 3A 4.6.2) */
	bool la57;	   /* CR4.LA57: with lma, 5-level paging and 57-bit canonical addresses */
	bool lma;	   /* EFER.LMA: 4-level (or 5-level) paging and the canonical check */
	bool nxe;	   /* EFER.NXE: bit 63 is XD instead of reserved */
	bool ac;	   /* RFLAGS.AC: explicit supervisor data accesses may reach user pages under SMAP */
	bool gbpages;	   /* CPUID 80000001H:EDX[26]: PS in a 4-level PDPTE maps 1G; reserved otherwise */
	u8 maxphyaddr;	   /* CPUID 80000008H:EAX[7:0]; clamped to 32..52 */
	u32 pkru;	   /* PKRU: the rights of each protection key, used with pke */
	const u64 *pdptes; /* PAE paging: the 4 PDPTEs the CPU loaded with CR3, or NULL to read them at cr3 */
};

enum gwalk_fault {
	GWALK_FAULT_NONE,
	GWALK_FAULT_PF,		  /* #PF: error_code and fault_level say why; the fault address is the gva */
	GWALK_FAULT_NONCANONICAL, /* a non-canonical gva in long mode (48 or, with la57, 57 bits): #GP(0) or #SS(0) */
};

struct gwalk_result {
	enum gwalk_fault fault;
	gpa_t gpa;     /* the translation (fault == NONE) */
	u8 level;      /* level of the leaf: 1 for 4K, 2 for 2M/4M, 3 for 1G; 0 with paging off */
	u64 page_size; /* size of the page that maps gva */
	/* GWALK_PERM_* the paging-structure entries grant. PKRU's rights are not in it: WRPKRU changes them without
	 * invalidating any TLB entry, so nothing cached from a translation (a shadow PTE) may hold them. */
	u8 perm;
	u32 error_code; /* PF: PFERR_* */
	u8 fault_level; /* PF: level of the not-present or reserved entry, or of the leaf for a permission fault */
	u8 top_level;	/* 2 (32-bit), 3 (PAE), 4 (4-level) or 5 (5-level); 0 with paging off */
	/* Each entry walked, by level, with any A/D bits this walk set; pte_gpa is where it lives. Levels below where
	 * the walk stopped are zero. The shadow MMU write-protects these gfns. */
	u64 pte[GWALK_MAX_LEVELS + 1];
	gpa_t pte_gpa[GWALK_MAX_LEVELS + 1];
};

struct gwalk_ops {
	/* Read len (4 or 8) bytes of guest-physical memory. 0, or a negative errno (the walk fails with it). */
	int (*read_gpa)(void *opaque, gpa_t gpa, void *buf, unsigned int len);
	/* Atomically replace the len-byte entry at gpa with new if it still holds old: 0 when replaced, -EAGAIN when it
	 * held something else (the walk restarts, as the CPU's would), another negative errno on failure. May be NULL:
	 * then A/D bits are not updated. */
	int (*cmpxchg_gpa)(void *opaque, gpa_t gpa, u64 old, u64 new, unsigned int len);
};

/*
 * Translate gva for an access of kind `access` (GWALK_*). Returns 0 when the walk completed: res->fault then says
 * whether the access translates (res->gpa, level, perm) or what the guest must be given instead. Returns a negative
 * errno when the walk could not be done: the callback's error (a positive callback return becomes -EIO), -EAGAIN
 * when the A/D updates kept racing with other writers.
 *
 * With mode->lma && mode->pke, a data access to a user-mode address (U/S set at every level) is also checked against
 * the leaf's key in mode->pkru (SDM Vol. 3A 4.6.1, 4.6.2), whoever makes it: AD denies every data access, and WD
 * denies writes of user-mode accesses and, with CR0.WP, of supervisor-mode ones (implicit ones included). Fetches
 * never consult PKRU. A denial is a #PF with PFERR_PRESENT | PFERR_PK at the leaf's level.
 *
 * A/D bits are set (A on every entry walked, D on the leaf for a write) only when the access is allowed, as KVM
 * does; the SDM lets the CPU set them speculatively, so no guest can rely on either choice.
 */
int gwalk(const struct gwalk_mode *mode, u64 cr3, gva_t gva, u32 access, const struct gwalk_ops *ops, void *opaque,
	  struct gwalk_result *res);

/* The reserved bits of a present 4K page-table entry (level 1) in the mode's paging format (none in 32-bit paging). */
u64 gwalk_pte_rsvd(const struct gwalk_mode *mode);
/* The reserved bits of a present PAE PDPTE (SDM Vol. 3A, table 4-8): 2:1, 8:5 and MAXPHYADDR..63. */
u64 gwalk_pdpte_rsvd(u8 maxphyaddr);

/*
 * What the CPU does when PAE paging is in use after a MOV to CR3, or after a MOV to CR0/CR4 that changes a paging
 * bit (SDM Vol. 3A 4.4.1): read the 4 PDPTEs at cr3 bits 31:5 into its PDPTE registers, which later walks use
 * instead of memory (gwalk_mode.pdptes). 0 with out[] filled; -EINVAL when a present PDPTE has a reserved bit set
 * (the MOV raises #GP and changes nothing: out[] is left as it was); a callback's negative errno. Memory that is
 * not RAM reads as all ones through the shadow MMU's callback, and so gives -EINVAL, as such a bus read would.
 */
int gwalk_load_pdptes(const struct gwalk_ops *ops, void *opaque, u64 cr3, u8 maxphyaddr, u64 out[4]);

/* Whether a 64-bit linear address is canonical for 4-level paging (bits 63:47 all equal). */
static inline bool gwalk_is_canonical(u64 va)
{
	return (u64)((s64)(va << 16) >> 16) == va;
}

/* Whether a 64-bit linear address is canonical for 5-level paging (bits 63:56 all equal). */
static inline bool gwalk_is_canonical_la57(u64 va)
{
	return (u64)((s64)(va << 7) >> 7) == va;
}

/* The protection key of a leaf entry in IA-32e paging. */
static inline unsigned int gwalk_pte_pkey(u64 pte)
{
	return (unsigned int)((pte & GPTE_PKEY) >> GPTE_PKEY_SHIFT);
}

#endif
