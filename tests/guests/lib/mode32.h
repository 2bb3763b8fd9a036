/* Running a script in 32-bit protected mode with PAE or 32-bit paging, from the 64-bit guest: mode32_run() leaves
 * IA-32e mode the way SDM Vol. 3A 9.8.5.4 describes (compatibility mode, CR0.PG = 0, EFER.LME = 0), loads the
 * caller's CR4, CR3, EFER and CR0, runs the operations one by one, then goes back to long mode as entry.S entered it
 * and returns. The script is data because the guest has no 32-bit C: the 64-bit test writes PTE updates, INVLPGs
 * and accesses as operations, and reads each access's outcome (value, or #PF error code and CR2) afterwards.
 *
 * Accesses may fault: a #PF during an access ends that access (its result says so) and the script goes on. Any other
 * exception, or a #PF outside an access, ends the run (m32_params.fatal_*). Accesses with M32_USER run at CPL 3
 * through the stubs of lib/user.h (mapped by the caller at user_read/user_write/user_fetch), on user_esp; CPL 3
 * comes back through INT 0x80. Everything the runner itself touches (its code, stack, the script, the parameters,
 * its IDT and GDT) must be identity-mapped with U/S = 0 in the caller's 32-bit tables, and below 4 GiB. */
#ifndef GUEST_MODE32_H
#define GUEST_MODE32_H

#include "guest.h"

enum m32_kind {
	M32_END,
	M32_STORE32,	/* *(u32 *)addr = lo (one MOV) */
	M32_STORE64,	/* addr + 4 = hi, then addr = lo: Linux's PAE set_pte() order */
	M32_XCHG32,	/* res_lo = old value; XCHG of lo with *(u32 *)addr */
	M32_CLEAR64,	/* Linux's PAE ptep_get_and_clear(): XCHG the low half with 0, then read and clear the high */
	M32_CMPXCHG8B,	/* LOCK CMPXCHG8B: the qword at addr (read first) becomes hi:lo; res = the old qword */
	M32_BTS,	/* LOCK BTS lo, (addr) */
	M32_BTR,	/* LOCK BTR lo, (addr) */
	M32_INVLPG,	/* INVLPG (addr) */
	M32_RELOAD_CR3, /* MOV CR3, CR3 */
	M32_LOAD64,	/* res = the qword at addr (two dword reads; not an access under test) */
	M32_SET_CR0,	/* CR0 = lo */
	M32_SET_CR4,	/* CR4 = lo */
	M32_READ,	/* an access under test: res = the qword at addr (two dword reads) */
	M32_WRITE,	/* an access under test: *(u32 *)addr = lo */
	M32_FETCH,	/* an access under test: CALL addr (a RET there returns) */
	M32_NR_KINDS
};
#define M32_USER 0x100 /* the access runs at CPL 3 */
#define M32_AC	 0x200 /* STAC before the access (CPL 0; only with SMAP); EFLAGS is restored after it */

struct m32_op {
	u32 kind, addr, lo, hi;
	u32 fault; /* 0, or the vector + 1 that ended the access */
	u32 error, cr2;
	u32 res_lo, res_hi;
};

struct m32_params {
	u32 cr0, cr3, cr4, efer; /* for the 32-bit run; EFER.LME must be clear */
	u32 ops;		 /* the script, ended by M32_END */
	u32 user_esp;		 /* CPL 3 stack top, and the stubs, as the 32-bit tables map them */
	u32 user_read, user_write, user_fetch;
	u32 done;	  /* operations completed */
	u32 fatal_vector; /* 0, or the vector + 1 of an exception that ended the run */
	u32 fatal_error, fatal_eip, fatal_cr2;
};

/* Run the script; returns false (with p->fatal_* set) if an unexpected exception ended it early. The CPU comes back
 * in long mode with the CR0, CR3, CR4 and EFER it had, and the 64-bit TSS stack (user.h; it calls user_init()). */
bool mode32_run(struct m32_params *p);

#endif
