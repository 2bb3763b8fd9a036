/* The pre-order page-table walker (after Linux KVM's tdp_iter.c), format-neutral: the format says which entries are
 * present and which are leaves, nothing else differs. It reads tables only through phys_to_virt(), so host unit
 * tests run it over fake memory.
 *
 * A walk of [start, end) with min_level 1; the numbers are the order in which the loop body sees the entries:
 *
 *              start                                                          end
 *                v                                                             v
 *   level 4   [ 1                                                                          ]
 *   level 3   [ 2                                         ][ 9 not present             ]
 *   level 2   [ 3              ][ 6              ][ 8 leaf ]     (no step down into 9 or 8)
 *   level 1   [ 4 ][ 5 ]..      [ 7 ]..
 *
 * From each entry the walk steps down if the entry points to a table and the level is above min_level, else
 * sideways to the next entry of the same table, else up and sideways (repeatedly). It yields every entry overlapping
 * the range, present or not, so the body decides what to do with holes (allocate a table, skip, ...). The body may
 * change the current entry: the next step reads the entry again and follows what it points to now. The walk ends
 * at the first entry that starts at or after `end`, or after the root's last entry: an `end` at the very top of the
 * address space needs no special case.
 */
#include "mm/pt_iter.h"
#include "hv/bug.h"

/* Acquire: a table is filled before the entry pointing to it is published, and a walker that sees the entry must
 * see the filled table. */
static inline u64 read_entry(const u64 *sptep)
{
	return __atomic_load_n(sptep, __ATOMIC_ACQUIRE);
}

static inline gfn_t round_gfn(gfn_t gfn, int level)
{
	return gfn & ~(pt_level_pages(level) - 1);
}

static void refresh_sptep(struct pt_iter *iter)
{
	iter->sptep = iter->pt_path[iter->level - 1] + pt_index(iter->gfn << PAGE_SHIFT, iter->level);
	iter->old_spte = read_entry(iter->sptep);
}

void pt_iter_restart(struct pt_iter *iter)
{
	iter->yielded = false;
	iter->yielded_gfn = iter->next_last_level_gfn;
	iter->level = iter->root_level;
	iter->valid = iter->next_last_level_gfn < pt_level_pages(iter->root_level + 1);
	if (!iter->valid)
		return;
	iter->gfn = round_gfn(iter->next_last_level_gfn, iter->level);
	refresh_sptep(iter);
}

void pt_iter_start(struct pt_iter *iter, const struct pt_format *fmt, hpa_t root, int root_level, int min_level,
		    gfn_t start)
{
	BUG_ON(root_level < 1 || root_level > PT_MAX_LEVELS || min_level < 1 || min_level > root_level);
	iter->fmt = fmt;
	iter->root_level = root_level;
	iter->min_level = min_level;
	iter->pt_path[root_level - 1] = phys_to_virt(root);
	iter->next_last_level_gfn = start;
	pt_iter_restart(iter);
}

/* Into the table the current entry points to, at the entry covering next_last_level_gfn. The entry is read again:
 * the body may have just replaced it (a new table, a split, a zap), and the walk must follow what is linked now. */
static bool try_step_down(struct pt_iter *iter)
{
	if (iter->level == iter->min_level)
		return false;
	iter->old_spte = read_entry(iter->sptep);
	if (!pt_is_present(iter->fmt, iter->old_spte) || pt_is_leaf(iter->fmt, iter->old_spte, iter->level))
		return false;
	iter->level--;
	iter->pt_path[iter->level - 1] = pt_child_table(iter->old_spte);
	iter->gfn = round_gfn(iter->next_last_level_gfn, iter->level);
	refresh_sptep(iter);
	return true;
}

static bool try_step_side(struct pt_iter *iter)
{
	if (pt_index(iter->gfn << PAGE_SHIFT, iter->level) == PT_ENTRIES - 1)
		return false;
	iter->gfn += pt_level_pages(iter->level);
	iter->next_last_level_gfn = iter->gfn;
	iter->sptep++;
	iter->old_spte = read_entry(iter->sptep);
	return true;
}

static bool try_step_up(struct pt_iter *iter)
{
	if (iter->level == iter->root_level)
		return false;
	iter->level++;
	iter->gfn = round_gfn(iter->gfn, iter->level);
	refresh_sptep(iter);
	return true;
}

void pt_iter_next(struct pt_iter *iter)
{
	if (iter->yielded) {
		pt_iter_restart(iter);
		return;
	}
	if (try_step_down(iter))
		return;
	do {
		if (try_step_side(iter))
			return;
	} while (try_step_up(iter));
	iter->valid = false;
}
