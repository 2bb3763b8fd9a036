/* pt_iter: the one walker over every page-table format (host, EPT, NPT). It visits, in pre-order, every entry that
 * overlaps a gfn range, from the root down to a minimum level, present or not; every range operation of the TDP MMU
 * and the host mapper (mm/pt.c) is a loop over it. The picture is in pt_iter.c. */
#ifndef MM_PT_ITER_H
#define MM_PT_ITER_H

#include "hv/bug.h"
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

/*
 * Starting and stepping down are inline: a fault's walk is nothing but those (root to leaf, one entry per level),
 * and as calls they were a third of the TDP fault path. Sideways and up steps, which only range walks take, stay
 * out of line (pt_iter.c).
 */

/* Acquire: a table is filled before the entry pointing to it is published, and a walker that sees the entry must
 * see the filled table. */
static inline u64 pt_iter_read_entry(const u64 *sptep)
{
	return __atomic_load_n(sptep, __ATOMIC_ACQUIRE);
}

static inline gfn_t pt_iter_round_gfn(gfn_t gfn, int level)
{
	return gfn & ~(pt_level_pages(level) - 1);
}

static inline void pt_iter_refresh_sptep(struct pt_iter *iter)
{
	iter->sptep = iter->pt_path[iter->level - 1] + pt_index(iter->gfn << PAGE_SHIFT, iter->level);
	iter->old_spte = pt_iter_read_entry(iter->sptep);
}

/* Walk again from the root to the root-level entry covering next_last_level_gfn, re-reading it: for when the tree
 * may have changed under the walk (the lock was dropped, a compare-exchange lost). The next pt_iter_next steps
 * down the path towards next_last_level_gfn, so every entry from there on is visited with fresh values. */
static inline void pt_iter_restart(struct pt_iter *iter)
{
	iter->yielded = false;
	iter->yielded_gfn = iter->next_last_level_gfn;
	iter->level = iter->root_level;
	iter->valid = iter->next_last_level_gfn < pt_level_pages(iter->root_level + 1);
	if (!iter->valid)
		return;
	iter->gfn = pt_iter_round_gfn(iter->next_last_level_gfn, iter->level);
	pt_iter_refresh_sptep(iter);
}

/* What pt_iter_start sets but the position (gfn, sptep, old_spte): the walker at the root level, heading for start.
 * Whether start is within the root's reach (valid). */
static inline bool pt_iter_start_fields(struct pt_iter *iter, const struct pt_format *fmt, hpa_t root, int root_level,
					int min_level, gfn_t start)
{
	BUG_ON(root_level < 1 || root_level > PT_MAX_LEVELS || min_level < 1 || min_level > root_level);
	iter->fmt = fmt;
	iter->root_level = root_level;
	iter->min_level = min_level;
	iter->pt_path[root_level - 1] = phys_to_virt(root);
	iter->next_last_level_gfn = start;
	iter->yielded = false;
	iter->yielded_gfn = start;
	iter->level = root_level;
	iter->valid = start < pt_level_pages(root_level + 1);
	return iter->valid;
}

/* Start at the root-level entry covering `start`; the walk never steps below min_level. (pt_iter_restart's work, for
 * a walker that has not moved.) */
static inline void pt_iter_start(struct pt_iter *iter, const struct pt_format *fmt, hpa_t root, int root_level,
				 int min_level, gfn_t start)
{
	if (!pt_iter_start_fields(iter, fmt, root, root_level, min_level, start))
		return;
	iter->gfn = pt_iter_round_gfn(start, root_level);
	pt_iter_refresh_sptep(iter);
}

/* Into the table the current entry points to, at the entry covering next_last_level_gfn. The entry is read again:
 * the body may have just replaced it (a new table, a split, a zap), and the walk must follow what is linked now. */
static inline bool pt_iter_try_step_down(struct pt_iter *iter)
{
	int level = iter->level;
	u64 e, *pt;

	if (level == iter->min_level)
		return false;
	e = pt_iter_read_entry(iter->sptep);
	iter->old_spte = e;
	if (!pt_is_present(iter->fmt, e) || pt_is_leaf(iter->fmt, e, level))
		return false;
	/* The child's entries cover 512^(level - 2) pages each: its index and first gfn come from one shift. */
	unsigned int shift = 9 * (level - 2);
	gfn_t g = iter->next_last_level_gfn >> shift;

	pt = pt_child_table(e);
	iter->level = level - 1;
	iter->pt_path[level - 2] = pt;
	iter->gfn = g << shift;
	iter->sptep = pt + (g & (PT_ENTRIES - 1));
	iter->old_spte = pt_iter_read_entry(iter->sptep);
	return true;
}

/*
 * The start of a fault's walk: from the root towards `start`, straight down through present tables, until the entry
 * at stop_level or the first entry that is not a present table (a hole, a leaf, a frozen entry: whatever the caller
 * must look at). The walker is then exactly where pt_iter_start and that many pt_iter_next would have left it, but
 * the entries on the way are not shown to the loop body, and the descent runs in registers, storing only the path:
 * stepping down one visit at a time was most of a fault's cost. Everything after it is the ordinary walk.
 */
static inline void pt_iter_start_descend(struct pt_iter *iter, const struct pt_format *fmt, hpa_t root, int root_level,
					 int min_level, gfn_t start, int stop_level)
{
	/* pt_iter_start, but with every value the descent needs in registers: read back from the walker after the
	 * acquire load of an entry, they cost a fault a dozen loads and a second test of valid. */
	if (!pt_iter_start_fields(iter, fmt, root, root_level, min_level, start))
		return;
	u64 present = fmt->present, huge = fmt->huge;
	u64 *sptep = (u64 *)phys_to_virt(root) + pt_index(start << PAGE_SHIFT, root_level), e = pt_iter_read_entry(sptep);
	int level = root_level, stop = stop_level > min_level ? stop_level : min_level;

	while (level > stop && (e & present) && !(e & huge)) { /* level > 1 here: a 4K entry is always a leaf */
		u64 *pt = pt_child_table(e);

		level--;
		iter->pt_path[level - 1] = pt;
		sptep = pt + ((start >> (9 * (level - 1))) & (PT_ENTRIES - 1));
		e = pt_iter_read_entry(sptep);
	}
	iter->level = level;
	iter->sptep = sptep;
	iter->old_spte = e;
	iter->gfn = pt_iter_round_gfn(start, level);
}

/* Sideways, else up and sideways; or the restart after a yield (pt_iter.c). */
void pt_iter_next_slow(struct pt_iter *iter);

/* The next entry in pre-order: down into a present table (unless at min_level), else sideways, else up and
 * sideways; valid becomes false after the root's last entry. After a yield it restarts instead. */
static inline void pt_iter_next(struct pt_iter *iter)
{
	if (likely(!iter->yielded) && pt_iter_try_step_down(iter))
		return;
	pt_iter_next_slow(iter);
}

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

/* The same, starting with pt_iter_start_descend: the entries above stop_level that lead down through present tables
 * towards start are skipped, not visited. */
#define for_each_pt_entry_descend(iter, fmt, root, root_level, min_level, start, end, stop_level)                    \
	for (pt_iter_start_descend(&(iter), fmt, root, root_level, min_level, start, stop_level);                     \
	     (iter).valid && (iter).gfn < (end) && (start) < (end); pt_iter_next(&(iter)))

#define for_each_pt_entry(iter, fmt, root, root_level, start, end)                                                     \
	for_each_pt_entry_min_level(iter, fmt, root, root_level, 1, start, end)

#endif
