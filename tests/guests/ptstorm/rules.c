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
 *   compared otherwise.
 * Protection keys (SDM 4.6.2, with 4.6.1 and 2.7): only with IA-32e (4-level) paging and CR4.PKE = 1, every user-mode
 *   address has the key k in bits 62:59 of the entry that maps its page (the leaf; the bits are ignored in entries
 *   that reference tables). For a data access to it, PKRU.AD[k] = 1 forbids reads and writes, at any CPL; PKRU.WD[k]
 *   = 1 forbids writes by a user-mode access, and by a supervisor-mode access only when CR0.WP = 1. Instruction
 *   fetches and supervisor-mode addresses are never subject to PKRU (PKS, for supervisor pages, is not modelled: the
 *   test never sets CR4.PKS). A key violation is a fault of its own, added to the checks above (SDM 4.6.1 lists
 *   "with a protection key for which ... access is permitted" beside the R/W, U/S and SMAP conditions).
 *   SDM 4.7, the PK flag (bit 5): 1 if (1) IA32_EFER.LMA = CR4.PKE = 1, (2) the access was a data access, (3) to a
 *   user-mode address with protection key k, and (4) PKRU.AD[k] = 1, or WD[k] = 1 for a write that is a user-mode
 *   access or made with CR0.WP = 1. Nothing there asks that the other checks pass: a write at CPL 3 to a read-only
 *   user page under WD[k] = 1 is a #PF with P, W, U and PK, as for the same write to a writable page. KVM computes it
 *   so too (arch/x86/kvm/mmu.h, permission_fault(): the key's verdict is ORed into both the fault and PK, whatever the
 *   ordinary permission bits decided), as QEMU's walker does (target/i386/tcg/sysemu/excp_helper.c: the key check
 *   comes first and faults with PK | P). A not-present or reserved-bit fault has no translation, so no user-mode
 *   address with a key either: no PK (KVM and QEMU report those before any key check). */
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

/* Whether PKRU forbids this access (SDM 4.6.2): the PK flag of the error code, and a fault of its own. */
static bool pkey_denies(const struct mode *m, const struct rights *r, int cpl, enum access acc)
{
	if (!m->pke || m->paging != PAGING_4LEVEL || acc == ACC_FETCH || !r->user)
		return false;
	u32 adwd = (m->pkru >> (2 * r->pkey)) & 3;
	if (adwd & PKRU_AD)
		return true;
	return (adwd & PKRU_WD) && acc == ACC_WRITE && (cpl == 3 || m->wp);
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
	if (pkey_denies(m, r, cpl, acc))
		return err | PF_P | PF_PK;
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
