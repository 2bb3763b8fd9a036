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

static bool try_step_side(struct pt_iter *iter)
{
	if (pt_index(iter->gfn << PAGE_SHIFT, iter->level) == PT_ENTRIES - 1)
		return false;
	iter->gfn += pt_level_pages(iter->level);
	iter->next_last_level_gfn = iter->gfn;
	iter->sptep++;
	iter->old_spte = pt_iter_read_entry(iter->sptep);
	return true;
}

static bool try_step_up(struct pt_iter *iter)
{
	if (iter->level == iter->root_level)
		return false;
	iter->level++;
	iter->gfn = pt_iter_round_gfn(iter->gfn, iter->level);
	pt_iter_refresh_sptep(iter);
	return true;
}

void pt_iter_next_slow(struct pt_iter *iter)
{
	if (iter->yielded) {
		pt_iter_restart(iter);
		return;
	}
	do {
		if (try_step_side(iter))
			return;
	} while (try_step_up(iter));
	iter->valid = false;
}
