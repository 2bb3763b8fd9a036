/* A per-vCPU cache of decoded instructions, for exits that emulate the same instruction again and again (a driver's
 * MMIO loop). An entry is found by everything the fetch and the decode depended on (RIP, CR3, CS, the mode and the
 * paging controls: struct emu_dcache_key) and is used only after a guard re-reads what the fetch read: each guest
 * paging entry of the code's translation and the instruction's bytes. Equal entries make the guest's walk come out
 * the same, with no A/D bit left to set, and equal bytes decode the same: so a hit is exactly what a fresh fetch and
 * decode would give, and nothing needs to invalidate an entry (a code or page-table write, by the guest, a device
 * or the emulator, just makes the guard fail). Pure logic: guest memory comes through a callback. */
#ifndef VM_EMULATE_DCACHE_H
#define VM_EMULATE_DCACHE_H

#include "vm/emulate/emulate.h"

/* Sets by RIP, each of a few ways: a driver's loop may touch a dozen MMIO registers from as many instructions (the
 * guest test's own loop does), and a lookup must stay a handful of compares. */
#define EMU_DCACHE_SETS	  16
#define EMU_DCACHE_WAYS	  2
#define EMU_DCACHE_LEVELS 5 /* paging entries in a chain: 5-level paging at most */

/* What the fetch and decode of the instruction at RIP depended on, besides guest memory. */
struct emu_dcache_key {
	u64 rip;
	u64 cr3;     /* the root of the fetch's walk (ignored bits and all: a different value is a different key) */
	u64 cs_base; /* the fetch's linear address is CS.base + RIP outside 64-bit mode */
	u32 cs_limit;
	u32 flags; /* EMU_DKEY_* */
};

/* Key flags: the decode mode, the CPL (U/S and SMEP of the fetch) and the paging controls the fetch's walk reads. */
#define EMU_DKEY_MODE(m) ((u32)(m) & 3) /* enum emu_mode */
#define EMU_DKEY_CPL(c)	 (((u32)(c) & 3) << 2)
#define EMU_DKEY_PG	 BIT(4)
#define EMU_DKEY_PSE	 BIT(5)
#define EMU_DKEY_SMEP	 BIT(6)
#define EMU_DKEY_LMA	 BIT(7)
#define EMU_DKEY_LA57	 BIT(8)
#define EMU_DKEY_NXE	 BIT(9)
#define EMU_DKEY_WP	 BIT(10)

/* The guest paging entries the fetch's walk read, top level first, as they were once any A bit was set. */
struct emu_dcache_chain {
	u8 levels;   /* entries below; 0 with paging off */
	u8 pte_size; /* 8, or 4 for 32-bit paging */
	gpa_t pte_gpa[EMU_DCACHE_LEVELS];
	u64 pte[EMU_DCACHE_LEVELS];
	gpa_t code_gpa; /* where the instruction's first byte is; the bytes never cross a page */
	/* Where the entries (then the bytes) are in host memory while the caller's generation is hva_gen, so that the
	 * guard compares in place; any NULL: the guard asks the caller's callback instead. */
	const void *hva[EMU_DCACHE_LEVELS + 1];
	u64 hva_gen;
};

struct emu_dcache_entry {
	bool valid;
	bool in_place; /* every hva of the chain is known */
	struct emu_dcache_key key;
	struct emu_dcache_chain chain;
	struct emu_insn insn; /* decoded: insn.len bytes in insn.bytes */
};

struct emu_dcache {
	struct emu_dcache_entry e[EMU_DCACHE_SETS][EMU_DCACHE_WAYS];
	u8 next[EMU_DCACHE_SETS]; /* the way of the set the next insertion of a new key replaces */
};

/* The set of a RIP: a mix of all its bits (MurmurHash3's finalizer, halved), so that neighbouring instructions and
 * accessors aligned alike both spread over the sets. */
static inline unsigned int emu_dcache_set(u64 rip)
{
	static_assert((EMU_DCACHE_SETS & (EMU_DCACHE_SETS - 1)) == 0, "a power of two");
	rip ^= rip >> 33;
	rip *= 0xff51afd7ed558ccdULL;
	rip ^= rip >> 33;
	return (unsigned int)rip & (EMU_DCACHE_SETS - 1);
}

/* Whether guest RAM holds what the cache expects: n ranges of len bytes (each within one page) at gpa equal
 * expect. 1 if all do, 0 if not (or not RAM). */
struct emu_dcache_range {
	gpa_t gpa;
	const void *expect;
	unsigned int len;
};
typedef int (*emu_dcache_equal_fn)(void *opaque, const struct emu_dcache_range *r, unsigned int n);

/* The entry for key, or NULL; not yet checked against memory. */
struct emu_dcache_entry *emu_dcache_lookup(struct emu_dcache *dc, const struct emu_dcache_key *key);
/* The guard: whether every paging entry of the chain and the instruction's bytes still hold what they held; in place
 * when gen is the chain's hva_gen, else through equal. */
bool emu_dcache_check(const struct emu_dcache_entry *e, emu_dcache_equal_fn equal, void *opaque, u64 gen);
/* Remember insn (decoded, len > 0) for key, over the entry with the same key or the older one of its set. */
/* Another guard, where the exit gave the instruction's bytes as the CPU fetched them: the entry holds when its
 * instruction is their first insn.len bytes (n below the length: the caller uses emu_dcache_check instead). */
static inline bool emu_dcache_match_bytes(const struct emu_dcache_entry *e, const u8 *bytes, unsigned int n)
{
	if (n < e->insn.len || !e->insn.len)
		return false;
	for (unsigned int i = 0; i < e->insn.len; i++)
		if (bytes[i] != e->insn.bytes[i])
			return false;
	return true;
}
void emu_dcache_insert(struct emu_dcache *dc, const struct emu_dcache_key *key, const struct emu_dcache_chain *chain,
		       const struct emu_insn *insn);
void emu_dcache_drop(struct emu_dcache_entry *e);
void emu_dcache_flush(struct emu_dcache *dc);

#endif
