/* The decoded-instruction cache (dcache.h): a few ways per set of RIPs, each set searched in full. */
#include "vm/emulate/dcache.h"

static bool key_equal(const struct emu_dcache_key *a, const struct emu_dcache_key *b)
{
	return a->rip == b->rip && a->cr3 == b->cr3 && a->cs_base == b->cs_base && a->cs_limit == b->cs_limit &&
	       a->flags == b->flags;
}

struct emu_dcache_entry *emu_dcache_lookup(struct emu_dcache *dc, const struct emu_dcache_key *key)
{
	struct emu_dcache_entry *set = dc->e[emu_dcache_set(key->rip)];

	for (unsigned int i = 0; i < EMU_DCACHE_WAYS; i++) {
		struct emu_dcache_entry *e = &set[i];

		if (e->valid && key_equal(&e->key, key))
			return e;
	}
	return NULL;
}

/* The guard against host memory: one aligned load per paging entry (entries are naturally aligned), then the bytes.
 * The guest may be writing them on another vCPU: a load sees the old or the new entry, either of which the CPU's own
 * walk could have seen. */
static bool check_in_place(const struct emu_dcache_entry *e)
{
	const struct emu_dcache_chain *c = &e->chain;
	const unsigned int levels = c->levels, len = e->insn.len; /* read once: the loads below may alias them */
	const u8 *code = c->hva[levels];
	unsigned int i;

	if (c->pte_size == 8) {
		for (i = 0; i < levels; i++)
			if (__atomic_load_n((const u64 *)c->hva[i], __ATOMIC_RELAXED) != c->pte[i])
				return false;
	} else {
		for (i = 0; i < levels; i++)
			if (__atomic_load_n((const u32 *)c->hva[i], __ATOMIC_RELAXED) != (u32)c->pte[i])
				return false;
	}
	for (i = 0; i < len; i++)
		if (code[i] != e->insn.bytes[i])
			return false;
	return true;
}

static bool has_hvas(const struct emu_dcache_chain *c)
{
	for (unsigned int i = 0; i <= c->levels; i++)
		if (!c->hva[i])
			return false;
	return true;
}

/* The guard through the callback: out of line, so that the common in-place check pays nothing for its frame. */
static __attribute__((noinline)) bool check_through(const struct emu_dcache_entry *e, emu_dcache_equal_fn equal,
						    void *opaque)
{
	const struct emu_dcache_chain *c = &e->chain;
	struct emu_dcache_range r[EMU_DCACHE_LEVELS + 1];
	unsigned int n = 0;

	/* Little-endian: a 4-byte entry is the low half of pte[]. */
	for (; n < c->levels; n++)
		r[n] = (struct emu_dcache_range){.gpa = c->pte_gpa[n], .expect = &c->pte[n], .len = c->pte_size};
	r[n++] = (struct emu_dcache_range){.gpa = c->code_gpa, .expect = e->insn.bytes, .len = e->insn.len};
	return equal(opaque, r, n) == 1;
}

bool emu_dcache_check(const struct emu_dcache_entry *e, emu_dcache_equal_fn equal, void *opaque, u64 gen)
{
	const struct emu_dcache_chain *c = &e->chain;

	if (!e->insn.len || e->insn.len > EMU_MAX_INSN_LEN || c->levels > EMU_DCACHE_LEVELS)
		return false;
	if (e->in_place && c->hva_gen == gen)
		return check_in_place(e);
	return check_through(e, equal, opaque);
}

void emu_dcache_insert(struct emu_dcache *dc, const struct emu_dcache_key *key, const struct emu_dcache_chain *chain,
		       const struct emu_insn *insn)
{
	struct emu_dcache_entry *e = emu_dcache_lookup(dc, key);

	if (!insn->len || chain->levels > EMU_DCACHE_LEVELS ||
	    (chain->levels && chain->pte_size != 4 && chain->pte_size != 8))
		return;
	if (!e) {
		unsigned int set = emu_dcache_set(key->rip);

		e = &dc->e[set][dc->next[set]];
		dc->next[set] = (dc->next[set] + 1) % EMU_DCACHE_WAYS;
	}
	e->key = *key;
	e->chain = *chain;
	e->insn = *insn;
	e->in_place = has_hvas(chain);
	e->valid = true;
}

void emu_dcache_drop(struct emu_dcache_entry *e)
{
	e->valid = false;
}

void emu_dcache_flush(struct emu_dcache *dc)
{
	for (unsigned int s = 0; s < EMU_DCACHE_SETS; s++)
		for (unsigned int i = 0; i < EMU_DCACHE_WAYS; i++)
			dc->e[s][i].valid = false;
}
