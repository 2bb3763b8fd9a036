/* SPTEs: the entries of the tables the MMU builds for guests (EPT, NPT). Every software bit an SPTE carries is named
 * here and proved disjoint from the others and from every hardware bit of every format; the constructors below are
 * the only code that composes an SPTE, so the formats (mm/pt.h) differ in data, never in code.
 *
 * Layout, the same for EPT and NPT (the hardware bits in between belong to the format):
 *
 *   63  62..59   58..56    55       54       53            52             51..12    11           10..0
 *   hw  avoided  MMIO gen  saved X  saved R  MMU_WRITABLE  HOST_WRITABLE  address   MMU_PRESENT  hw
 *       (NPT PK)           (access tracking, EPT w/o A/D)
 *
 * Bit 11 and 52-58 are ignored by EPT and available to software in x86 entries; 59-62 are left alone because they
 * hold protection keys in x86 entries in some contexts.
 */
#ifndef MM_SPTE_H
#define MM_SPTE_H

#include "hv/bug.h"
#include "mm/pt.h"

/*
 * SPTE_MMU_PRESENT: set in every SPTE that maps memory or points to a table, clear in every other one. Presence
 * cannot be read from the hardware bits: an EPT MMIO SPTE has W set (that is what makes it a misconfiguration), an
 * NPT MMIO SPTE has P set (with a reserved bit), and an access-tracked EPT SPTE (below) has R, W and X all clear
 * while it still maps its page. The formats' `present` field is this bit, so the shared walker agrees.
 */
#define SPTE_MMU_PRESENT BIT(11)

/*
 * Writability is three bits, and the two software ones are deliberately separate:
 *
 *   W (hardware)   the guest may write through this SPTE now.
 *   MMU_WRITABLE   the MMU allows the guest to write this gfn: clear while the gfn is write-tracked (a guest page
 *                  table the shadow MMU shadows, a page an external user watches through mm/track).
 *   HOST_WRITABLE  the backing allows writes at all: clear for a read-only memslot. A property of the host frame,
 *                  fixed for the SPTE's lifetime.
 *
 * Invariant: W => MMU_WRITABLE => HOST_WRITABLE (make_leaf_spte is the only place they are set).
 *
 * W alone is dropped and restored cheaply: dirty logging write-protects pages by clearing W, and the write fault
 * that follows restores it by looking at MMU_WRITABLE only, without consulting memslots or the write tracker. If one
 * software bit had to say both "the backing is read-only" and "this gfn is tracked", a write-protect for dirty
 * logging and one for write tracking would look the same, and that fast path would make a tracked page writable:
 * the guest would then change a page table the shadow MMU shadows without a fault, and the shadow tables would
 * silently diverge from the guest's. Conversely, when tracking of a gfn ends, MMU_WRITABLE may be restored wherever
 * HOST_WRITABLE is set without looking up the slot again, and never where the backing is read-only. A write fault
 * that hits a present leaf with MMU_WRITABLE clear is therefore never spurious: the write must be emulated
 * (TDP_FAULT_WRITE_PROTECTED).
 */
#define SPTE_HOST_WRITABLE BIT(52)
#define SPTE_MMU_WRITABLE BIT(53)

/*
 * Access tracking, for EPT without A/D (aging: mm/ept/tdp_age.c): a leaf is "access-tracked" by clearing its R, W and
 * X bits while MMU_PRESENT stays set, so the next access faults and marks the page young. R and X are saved here to
 * be restored by that fault (the lockless fast path, mm/ept/tdp_fast.c); W is not saved, because MMU_WRITABLE
 * already says whether it may come back, and it comes back only for a write (without A/D, W is the only record of
 * "maybe written": mm/spte_change.c harvests it when it goes).
 */
#define SPTE_ACC_TRACK_SAVED_R BIT(54)
#define SPTE_ACC_TRACK_SAVED_X BIT(55)
#define SPTE_ACC_TRACK_SAVED_MASK (SPTE_ACC_TRACK_SAVED_R | SPTE_ACC_TRACK_SAVED_X)

/*
 * An MMIO SPTE caches "this gfn is not guest RAM", so the next access exits straight to emulation without a memslot
 * lookup. It holds the low bits of memslots->generation from when it was made: any memslot change bumps the
 * generation and makes every existing MMIO SPTE stale at once, with no walk. Only three bits fit beside the others,
 * so the TDP MMU removes every MMIO SPTE whenever the generation has moved SPTE_MMIO_GEN_SPAN or more since its last
 * sweep (tdp_fault.c); between sweeps the live generations span fewer values than the field holds, so an MMIO SPTE
 * matches the current generation's low bits only if it was made in the current generation.
 */
#define SPTE_MMIO_GEN_SHIFT 56
#define SPTE_MMIO_GEN_BITS 3
#define SPTE_MMIO_GEN_MASK GENMASK_ULL(SPTE_MMIO_GEN_SHIFT + SPTE_MMIO_GEN_BITS - 1, SPTE_MMIO_GEN_SHIFT)
#define SPTE_MMIO_GEN_SPAN (1ULL << SPTE_MMIO_GEN_BITS)

/* The MMIO patterns (see struct pt_format). Never present: MMU_PRESENT is part of each mask and clear in each
 * value. */
#define EPT_MMIO_VALUE EPT_W
#define EPT_MMIO_MASK (EPT_RWX | SPTE_MMU_PRESENT)
#define NPT_MMIO_RSVD BIT(51)
#define NPT_MMIO_VALUE (PTE_P | NPT_MMIO_RSVD)
#define NPT_MMIO_MASK (PTE_P | NPT_MMIO_RSVD | SPTE_MMU_PRESENT)

#define SPTE_SW_MASK                                                                                                   \
	(SPTE_MMU_PRESENT | SPTE_HOST_WRITABLE | SPTE_MMU_WRITABLE | SPTE_ACC_TRACK_SAVED_MASK | SPTE_MMIO_GEN_MASK)

/* Pairwise disjoint: the bits of the OR equal the sum of the bits of each. */
static_assert(__builtin_popcountll(SPTE_SW_MASK) ==
		      __builtin_popcountll(SPTE_MMU_PRESENT) + __builtin_popcountll(SPTE_HOST_WRITABLE) +
			      __builtin_popcountll(SPTE_MMU_WRITABLE) +
			      __builtin_popcountll(SPTE_ACC_TRACK_SAVED_MASK) +
			      __builtin_popcountll(SPTE_MMIO_GEN_MASK),
	      "software SPTE bits overlap");
static_assert((SPTE_SW_MASK & EPT_HW_MASK) == 0, "a software SPTE bit is an EPT hardware bit");
static_assert((SPTE_SW_MASK & X86_PTE_HW_MASK) == 0, "a software SPTE bit is an x86/NPT hardware bit");
static_assert((EPT_MMIO_VALUE & SPTE_SW_MASK) == 0 && (NPT_MMIO_VALUE & SPTE_SW_MASK) == 0,
	      "MMIO patterns are hardware bits only");
static_assert((EPT_MMIO_VALUE & ~EPT_MMIO_MASK) == 0 && (NPT_MMIO_VALUE & ~NPT_MMIO_MASK) == 0,
	      "MMIO value outside its mask");
static_assert(EPT_PS == PTE_PS, "spte_is_leaf reads bit 7 in every format");

#define SPTE_HUGE PTE_PS

/*
 * The frozen SPTE: the value an entry holds while one CPU makes a change in several steps (a split, a collapse, a
 * hook that must run before the new value is visible). It is not present to the hardware in any format (EPT's R, W
 * and X clear; NPT's P clear), not MMU_PRESENT to software, not an MMIO SPTE, and not 0: no walker takes it for a
 * mapping, and none for a hole it may fill, since every fill is a compare-exchange from the value the walker read.
 * The CPU that froze the entry is the only one that writes it next. Anyone else backs off (a fault re-enters the
 * guest and faults again) or waits. The bits are ones every format ignores in a non-present entry. Unlike KVM's
 * 0x5a0, no accessed or dirty bit of any format is among them: aging clears A with an atomic AND on an entry that
 * may have changed since it read it (spte_change.c: mmu_sptep_clear_accessed), which must leave a frozen entry
 * frozen.
 */
#define SPTE_FROZEN 0x480ULL
static_assert(!(SPTE_FROZEN & (SPTE_MMU_PRESENT | EPT_RWX | PTE_P)), "a frozen SPTE is present to someone");
static_assert(!(SPTE_FROZEN & (EPT_A | EPT_D | PTE_A | PTE_D)), "aging's atomic AND would thaw a frozen SPTE");
static_assert((SPTE_FROZEN & EPT_MMIO_MASK) != EPT_MMIO_VALUE && (SPTE_FROZEN & NPT_MMIO_MASK) != NPT_MMIO_VALUE,
	      "a frozen SPTE looks like an MMIO SPTE");

static inline bool spte_is_frozen(u64 spte)
{
	return spte == SPTE_FROZEN;
}

/*
 * Without mmu->lock, a present leaf may change only in these bits: A and D (the hardware sets them; aging clears A);
 * and, in a format without hardware A/D, the permissions and their saved copies (aging access-tracks a leaf, the
 * fast fault path restores it, adding W only where MMU_WRITABLE allows). Presence, the frame, leaf-ness and the
 * software writability bits change only under the lock, so a lock holder that exchanges an entry may find these
 * bits, and only these, changed since it read it (__mmu_set_spte checks).
 */
static inline u64 spte_lockless_mask(const struct pt_format *fmt)
{
	u64 m = fmt->accessed | fmt->dirty;

	if (!fmt->ad_enabled)
		m |= fmt->readable | fmt->writable | fmt->executable | SPTE_ACC_TRACK_SAVED_MASK;
	return m;
}

/* Access kinds, for make_leaf_spte and spte_allows (the TDP MMU's TDP_ACC_* have the same values). */
#define SPTE_ACC_READ BIT(0)
#define SPTE_ACC_WRITE BIT(1)
#define SPTE_ACC_EXEC BIT(2)
#define SPTE_ACC_USER BIT(3) /* a leaf CPL 3 may use (shadow paging; TDP leaves are always "user": NPT needs it) */
#define SPTE_ACC_ALL (SPTE_ACC_READ | SPTE_ACC_WRITE | SPTE_ACC_EXEC | SPTE_ACC_USER)
/* Above the access kinds, for shadow paging's x86-format leaves: the guest leaf's protection key (its bits 62:59),
 * which the CPU checks against the guest's PKRU in the shadow leaf as it would in the guest's. TDP leaves carry
 * none (0). */
#define SPTE_ACC_PKEY_SHIFT 4
#define SPTE_ACC_PKEY_MASK (0xfu << SPTE_ACC_PKEY_SHIFT)
#define SPTE_PKEY_SHIFT 59
#define SPTE_PKEY_MASK GENMASK_ULL(62, SPTE_PKEY_SHIFT)
static_assert(!(SPTE_PKEY_MASK & SPTE_SW_MASK), "a shadow leaf's protection key is not a software bit");

static inline bool spte_is_present(u64 spte)
{
	return (spte & SPTE_MMU_PRESENT) != 0;
}

/* Whether a present SPTE at `level` maps memory rather than pointing to a table. */
static inline bool spte_is_leaf(u64 spte, int level)
{
	return level == 1 || (spte & SPTE_HUGE);
}

static inline bool spte_is_mmio(const struct pt_format *fmt, u64 spte)
{
	return fmt->mmio_value && (spte & fmt->mmio_mask) == fmt->mmio_value;
}

static inline u64 spte_mmio_gen(u64 spte)
{
	return (spte & SPTE_MMIO_GEN_MASK) >> SPTE_MMIO_GEN_SHIFT;
}

static inline bool spte_mmio_gen_matches(u64 spte, u64 generation)
{
	return spte_mmio_gen(spte) == (generation & (SPTE_MMIO_GEN_SPAN - 1));
}

/* The frame a present SPTE maps or points to. */
static inline hfn_t spte_pfn(u64 spte)
{
	return (spte & PT_ADDR_MASK) >> PAGE_SHIFT;
}

static inline bool spte_is_writable(const struct pt_format *fmt, u64 spte)
{
	return spte_is_present(spte) && (spte & fmt->writable);
}

/* Whether a present leaf lets an access of kind SPTE_ACC_* through. */
static inline bool spte_allows(const struct pt_format *fmt, u64 spte, u32 access)
{
	if (!spte_is_present(spte))
		return false;
	if ((access & SPTE_ACC_READ) && !(spte & fmt->readable))
		return false;
	if ((access & SPTE_ACC_WRITE) && !(spte & fmt->writable))
		return false;
	if ((access & SPTE_ACC_USER) && !(spte & fmt->user))
		return false;
	if (access & SPTE_ACC_EXEC) {
		if (fmt->executable ? !(spte & fmt->executable) : (spte & fmt->nx) != 0)
			return false;
	}
	return true;
}

/*
 * A leaf mapping hpa at `level`. TDP leaves are always readable; `access` adds write and execute. The leaf is made
 * writable only if the access asks for it, the backing allows it (host_writable) and the MMU does (mmu_writable); the
 * software bits record the last two (see the invariant above). With hardware A/D the leaf starts accessed, and dirty
 * when writable, as KVM does: the guest is about to touch it, and setting the bits now spares the CPU a locked
 * update of the entry on the first access.
 */
static inline u64 make_leaf_spte(const struct pt_format *fmt, hpa_t hpa, int level, u32 access, bool host_writable,
				 bool mmu_writable)
{
	u64 spte = SPTE_MMU_PRESENT | hpa | fmt->readable | fmt->leaf_attrs | fmt->accessed;

	BUG_ON(level < 1 || level > 3 || (hpa & ~PT_ADDR_MASK) || !IS_ALIGNED(hpa, pt_level_size(level)));
	if (level > 1)
		spte |= fmt->huge;
	if (access & SPTE_ACC_USER)
		spte |= fmt->user;
	spte |= (access & SPTE_ACC_EXEC) ? fmt->executable : fmt->nx;
	if (host_writable)
		spte |= SPTE_HOST_WRITABLE;
	if ((access & SPTE_ACC_WRITE) && host_writable && mmu_writable)
		spte |= SPTE_MMU_WRITABLE | fmt->writable | fmt->dirty;
	spte |= (u64)((access & SPTE_ACC_PKEY_MASK) >> SPTE_ACC_PKEY_SHIFT) << SPTE_PKEY_SHIFT;
	BUG_ON(spte_is_mmio(fmt, spte)); /* an hpa with NPT's reserved bit 51 */
	return spte;
}

/* ---- aging (mm/ept/tdp_age.c) and access tracking ---- */

/* A present leaf whose permissions aging took away (only in a format without hardware A/D: with A/D, aging clears
 * A instead). A TDP leaf is always readable otherwise, so "no R, W or X" is unambiguous, and MMIO SPTEs are not
 * present. */
static inline bool spte_is_access_tracked(const struct pt_format *fmt, u64 spte)
{
	return !fmt->ad_enabled && spte_is_present(spte) &&
	       !(spte & (fmt->readable | fmt->writable | fmt->executable));
}

/* Whether a present leaf was accessed since it was last aged: its A bit, or (without A/D) not access-tracked. */
static inline bool spte_is_young(const struct pt_format *fmt, u64 spte)
{
	return fmt->ad_enabled ? (spte & fmt->accessed) != 0 : !spte_is_access_tracked(fmt, spte);
}

/* Whether the page a present leaf maps may have been written through it since its dirty state was last harvested:
 * D with hardware A/D; without, W (nothing finer exists, as in KVM's is_dirty_spte). */
static inline bool spte_is_dirty(const struct pt_format *fmt, u64 spte)
{
	return (spte & (fmt->ad_enabled ? fmt->dirty : fmt->writable)) != 0;
}

/* The access-tracked form of a young leaf of a format without A/D: R and X saved, R, W and X cleared. */
static inline u64 make_access_tracked_spte(const struct pt_format *fmt, u64 spte)
{
	BUG_ON(fmt->ad_enabled || !spte_is_present(spte) || spte_is_access_tracked(fmt, spte) ||
	       (spte & SPTE_ACC_TRACK_SAVED_MASK));
	if (spte & fmt->readable)
		spte |= SPTE_ACC_TRACK_SAVED_R;
	if (spte & fmt->executable)
		spte |= SPTE_ACC_TRACK_SAVED_X;
	return spte & ~(fmt->readable | fmt->writable | fmt->executable);
}

/* The leaf an access-tracked SPTE came from, without W (a write adds it where MMU_WRITABLE allows). */
static inline u64 restore_access_tracked_spte(const struct pt_format *fmt, u64 spte)
{
	BUG_ON(!spte_is_access_tracked(fmt, spte));
	if (spte & SPTE_ACC_TRACK_SAVED_R)
		spte |= fmt->readable;
	if (spte & SPTE_ACC_TRACK_SAVED_X)
		spte |= fmt->executable;
	return spte & ~SPTE_ACC_TRACK_SAVED_MASK;
}

/* An entry pointing to the lower table at `table`; its permissions are all-allowing, the leaves decide. */
static inline u64 make_table_spte(const struct pt_format *fmt, hpa_t table)
{
	BUG_ON(table & ~PT_ADDR_MASK);
	return table | fmt->table_attrs;
}

/* An MMIO SPTE of memslot generation `generation` (only its low bits are kept). */
static inline u64 make_mmio_spte(const struct pt_format *fmt, u64 generation)
{
	BUG_ON(!fmt->mmio_value);
	return fmt->mmio_value | ((generation << SPTE_MMIO_GEN_SHIFT) & SPTE_MMIO_GEN_MASK);
}

#endif
