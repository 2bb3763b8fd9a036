/* pt_iter: the one walker over every page-table format (host, EPT, NPT). It visits, in pre-order, every entry that
 * overlaps a gfn range, from the root down to a minimum level, present or not; every range operation of the TDP MMU
 * and the host mapper (mm/pt.c) is a loop over it. The picture is in pt_iter.c. */
#ifndef MM_PT_ITER_H
#define MM_PT_ITER_H

#include "mm/pt.h"

struct pt_iter {
	/* Where the walk is heading: the range start, then the first gfn of every entry it steps sideways to. A
	 * restart walks down from the root towards it again. */
	gfn_t next_last_level_gfn;
	/* next_last_level_gfn when the walk (re)started: a yield is pointless unless the walk moved past it. */
	gfn_t yielded_gfn;
	u64 *pt_path[PT_MAX_LEVELS]; /* [level - 1]: the table holding the entry the walk visits at that level */
	u64 *sptep;              /* the current entry */
	u64 old_spte;            /* its value when read; the SPTE change functions keep it current */
	gfn_t gfn;               /* first gfn the current entry covers (aligned to its level) */
	const struct pt_format *fmt;
	int root_level;
	int min_level;
	int level;               /* of the current entry */
	bool valid;              /* false once the walk has left the root's last entry */
	bool yielded;            /* the tree may have changed under the walk: the next step restarts from the root */
};

/* Start at the root-level entry covering `start`; the walk never steps below min_level. */
void pt_iter_start(struct pt_iter *iter, const struct pt_format *fmt, hpa_t root, int root_level, int min_level,
		    gfn_t start);
/* The next entry in pre-order: down into a present table (unless at min_level), else sideways, else up and
 * sideways; valid becomes false after the root's last entry. After a yield it restarts instead. */
void pt_iter_next(struct pt_iter *iter);
/* Walk again from the root to the root-level entry covering next_last_level_gfn, re-reading it: for when the tree
 * may have changed under the walk (the lock was dropped, a compare-exchange lost). The next pt_iter_next steps
 * down the path towards next_last_level_gfn, so every entry from there on is visited with fresh values. */
void pt_iter_restart(struct pt_iter *iter);

/* Mark that the lock was dropped: the walk restarts from the root at its next step, re-visiting the current entry
 * and those above it. */
static inline void pt_iter_set_yielded(struct pt_iter *iter)
{
	iter->yielded = true;
}

/* Every entry overlapping [start, end) at levels root_level..min_level, in pre-order; nothing when start >= end. */
#define for_each_pt_entry_min_level(iter, fmt, root, root_level, min_level, start, end)                               \
	for (pt_iter_start(&(iter), fmt, root, root_level, min_level, start);                                         \
	     (iter).valid && (iter).gfn < (end) && (start) < (end); pt_iter_next(&(iter)))

#define for_each_pt_entry(iter, fmt, root, root_level, start, end)                                                     \
	for_each_pt_entry_min_level(iter, fmt, root, root_level, 1, start, end)

#endif
