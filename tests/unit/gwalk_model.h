/* A reference model of the guest page-table walk, written from the SDM (Vol. 3A 4.3 to 4.8) apart from the walker
 * (mm/shadow/gwalk.c) and sharing none of its code, so that each checks the other on random tables: the unit tests
 * (test_gwalk_model.c, test_gwalk_pku.c) and the fuzz target (tests/fuzz/fuzz_gwalk.c). It uses only gwalk.h's types
 * and bit names, and follows gwalk.h's conventions where the SDM leaves a choice (MAXPHYADDR clamped to 32..52, LMA
 * decides the format, A/D set only when the access is allowed). It never writes memory: it says which A/D bits the
 * walk should set instead. */
#ifndef GWALK_MODEL_H
#define GWALK_MODEL_H

#include "mm/shadow/gwalk.h"

/* Reads guest-physical memory like gwalk_ops.read_gpa: 0, or an error that ends the walk. */
typedef int (*gmodel_read_fn)(void *ctx, gpa_t gpa, void *buf, unsigned int len);

struct gmodel {
	/* What gwalk() should return: 0, or the read callback's error (a positive one as -EIO). */
	int ret;
	/* What gwalk() should leave in its result when it does not update A/D bits (read-only callbacks): the entries
	 * as read, by level. */
	struct gwalk_result res;
	/* With A/D updates, the bits the walk adds to the entry it read at each level (only when the access is
	 * allowed): res.pte[l] | ad[l] is then what it leaves in memory and in its result. */
	u64 ad[GWALK_MAX_LEVELS + 1];
};

/* Accesses the model defines: a read, a write or a fetch (never both of the last two), as GWALK_* bits. */
static inline bool gmodel_access_is_defined(u32 access)
{
	return !((access & GWALK_WRITE) && (access & GWALK_FETCH));
}

void gmodel_walk(const struct gwalk_mode *mode, u64 cr3, gva_t gva, u32 access, gmodel_read_fn read, void *ctx,
		 struct gmodel *out);

/* Compares a gwalk() result with the model's: NULL when they agree, else the name of the first field that differs.
 * ad_applied: the walk had a cmpxchg callback, so its entries should carry the model's A/D bits. */
const char *gmodel_compare(const struct gwalk_result *res, const struct gmodel *model, bool ad_applied);

/* Whether the entries of a completed translation live at distinct addresses (always true for one that did not
 * complete: it updates nothing). When two levels share one, the A/D update of the first changes what the second
 * holds, and the walker restarts on the new value, which the model does not follow. */
bool gmodel_entries_distinct(const struct gmodel *model);

#endif
