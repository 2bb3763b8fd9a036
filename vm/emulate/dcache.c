/* The decoded-instruction cache (dcache.h): a handful of ways searched in full, since a vCPU that exits on the same
 * instruction repeatedly has only a few such instructions at a time (a driver's register accessors). */
#include "vm/emulate/dcache.h"

#include "hv/string.h"

static bool key_equal(const struct emu_dcache_key *a, const struct emu_dcache_key *b)
{
	return a->rip == b->rip && a->cr3 == b->cr3 && a->cs_base == b->cs_base && a->cs_limit == b->cs_limit &&
	       a->flags == b->flags;
}

struct emu_dcache_entry *emu_dcache_lookup(struct emu_dcache *dc, const struct emu_dcache_key *key)
{
	for (unsigned int i = 0; i < EMU_DCACHE_WAYS; i++) {
		struct emu_dcache_entry *e = &dc->e[i];

		if (e->valid && key_equal(&e->key, key))
			return e;
	}
	return NULL;
}

bool emu_dcache_check(const struct emu_dcache_entry *e, emu_dcache_read_fn read, void *opaque)
{
	const struct emu_dcache_chain *c = &e->chain;
	u8 bytes[EMU_MAX_INSN_LEN];
	unsigned int len = e->insn.len;

	for (unsigned int i = 0; i < c->levels; i++) {
		u64 pte = 0;

		if (read(opaque, c->pte_gpa[i], &pte, c->pte_size) || pte != c->pte[i])
			return false;
	}
	if (!len || len > EMU_MAX_INSN_LEN || read(opaque, c->code_gpa, bytes, len))
		return false;
	return !memcmp(bytes, e->insn.bytes, len);
}

void emu_dcache_insert(struct emu_dcache *dc, const struct emu_dcache_key *key, const struct emu_dcache_chain *chain,
		       const struct emu_insn *insn)
{
	struct emu_dcache_entry *e = emu_dcache_lookup(dc, key);

	if (!insn->len || chain->levels > EMU_DCACHE_LEVELS ||
	    (chain->levels && chain->pte_size != 4 && chain->pte_size != 8))
		return;
	if (!e) {
		e = &dc->e[dc->next];
		dc->next = (dc->next + 1) % EMU_DCACHE_WAYS;
	}
	e->key = *key;
	e->chain = *chain;
	e->insn = *insn;
	e->valid = true;
}

void emu_dcache_drop(struct emu_dcache_entry *e)
{
	e->valid = false;
}

void emu_dcache_flush(struct emu_dcache *dc)
{
	for (unsigned int i = 0; i < EMU_DCACHE_WAYS; i++)
		dc->e[i].valid = false;
}
