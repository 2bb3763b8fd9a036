/* The architecture's access rights, written from the manuals and nothing else, so that the CPU (or a hypervisor's
 * shadow MMU) can be compared with them: whether an access faults and with which #PF error code.
 *
 * Intel SDM Vol. 3A 4.6.1 ("Determination of Access Rights"), for 4-level, PAE and 32-bit paging alike:
 *   an address is a user-mode address when U/S = 1 in every paging-structure entry used, else a supervisor-mode
 *   address; it is writable when R/W = 1 in every entry; with XD (NXE = 1, PAE or 4-level paging) it is executable
 *   only when XD = 0 in every entry.
 *   supervisor-mode access (CPL < 3):
 *     read   supervisor address: allowed.  user address: allowed if SMAP = 0, or if AC = 1 (explicit accesses).
 *     write  supervisor address: WP = 0: allowed; WP = 1: only if writable.
 *            user address: SMAP = 1 and AC = 0: never; else as for a supervisor address.
 *     fetch  user address with SMEP = 1: never.  otherwise: allowed unless XD applies.
 *   user-mode access (CPL = 3): only user addresses; writes only if writable (whatever WP says); fetches unless XD.
 * SDM 4.7 (and APM Vol. 2 8.4.2), the error code: P = 0 for a not-present entry, else 1 (a reserved bit in a
 *   present entry counts as present: "RSVD ... can be set only if P is also set"); W/R = 1 for a write; U/S = 1 for
 *   a CPL 3 access; RSVD = 1 for a reserved bit; I/D = 1 for a fetch if CR4.SMEP = 1, or if CR4.PAE = 1 and
 *   EFER.NXE = 1 (otherwise 0). The APM defines I/D only with EFER.NXE = 1 and CR4.PAE = 1, so on AMD the bit is not
 *   compared otherwise. */
#include "ptstorm.h"

u32 rsvd_without_p;

const char *acc_name(enum access a)
{
	return a == ACC_READ ? "read" : a == ACC_WRITE ? "write" : "fetch";
}

void rights_add(struct rights *r, u64 entry)
{
	r->user = r->user && (entry & PTE_U);
	r->write = r->write && (entry & PTE_W);
	r->xd = r->xd || (entry & PTE_NX);
}

static bool xd_active(const struct mode *m)
{
	return m->nxe && m->paging != PAGING_32BIT;
}

static bool allowed(const struct mode *m, const struct rights *r, int cpl, enum access acc, bool ac)
{
	bool executable = !(xd_active(m) && r->xd);
	if (cpl == 3) {
		if (!r->user)
			return false;
		return acc == ACC_READ || (acc == ACC_WRITE && r->write) || (acc == ACC_FETCH && executable);
	}
	bool smap_blocks = r->user && m->smap && !ac;
	switch (acc) {
	case ACC_READ:
		return !smap_blocks;
	case ACC_WRITE:
		return !smap_blocks && (!m->wp || r->write);
	default:
		return !(r->user && m->smep) && executable;
	}
}

u32 pf_predict(const struct mode *m, const struct rights *r, int cpl, enum access acc, bool ac)
{
	u32 err = (acc == ACC_WRITE ? PF_W : 0) | (cpl == 3 ? PF_U : 0);
	if (acc == ACC_FETCH && (m->smep || (m->paging != PAGING_32BIT && m->nxe)))
		err |= PF_I;
	if (!r->present)
		return err;
	if (r->rsvd)
		return err | PF_P | PF_RSVD;
	return allowed(m, r, cpl, acc, ac) ? PF_NONE : err | PF_P;
}

bool pf_error_matches(const struct mode *m, u32 want, u32 got)
{
	if (feat.amd && !(m->paging != PAGING_32BIT && m->nxe)) {
		want &= ~PF_I;
		got &= ~PF_I;
	}
	if (got == want)
		return true;
	if (feat.tcg_rsvd && (want & PF_RSVD) && got == (want & ~PF_P)) {
		rsvd_without_p++;
		return true;
	}
	return false;
}
