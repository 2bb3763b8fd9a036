/* The private-memory guest's parts (tests/guests/private.c and private/): the #VE handler and what it records, the
 * hypercalls of vm/private_abi.h, shared aliases, and the phases that live in their own files. */
#ifndef GUEST_PRIVATE_H
#define GUEST_PRIVATE_H

#include "guest.h"
#include "../../../vm/private_abi.h"

#ifndef EPERM
#define EPERM  1
#define ENOENT 2
#define ENOMEM 12
#endif

/* ---- reporting: `TEST private_<phase> PASS` or `... FAIL <reason>`; a FAIL ends the run ---- */
extern const char *phase;
void fail(const char *fmt, ...) __printf(1, 2) __noreturn;
void pass(void);

/* ---- the shared bit and the shared view ---- */
extern u32 shared_bit; /* S: CPUID 0x40000001 EBX */
extern u64 shared;     /* 1 << S */
/* Window slots (lib/paging.c): private.c takes 0-15, private/leak.c 16-19. */
#define SLOT_LEAK 16
/* Map the shared alias (gpa | shared) of the 4K page at gpa at window slot `slot`: its virtual address. */
u64 alias_map(u32 slot, u64 gpa);

/* ---- hypercalls ---- */
struct hc_regs {
	u64 rax, rbx, rcx, rdx;
};
/* RAX..RDX in and out, as the ABI uses them. */
void hc(struct hc_regs *r);
s64 map_gpa(u64 gpa, u64 bytes);
/* HC_MMIO: the hypercall's RAX; *val gets RBX. */
s64 hc_mmio(u64 gpa, u64 size_flags, u64 wval, u64 *val);
/* HC_VE_INFO into the fields of `ve` below: its RAX. */
s64 ve_info(void);

/* ---- #VE: what the handler does with one, and what it saw ---- */
enum ve_action {
	VE_UNEXPECTED, /* a FAIL: no #VE is expected */
	VE_SKIP,       /* resume at the access's fixup (FIXUP): the instruction is not done */
	VE_TO_PRIVATE, /* convert the page of the reported GPA back to private and return: the access is retried */
	VE_MMIO_READ,  /* do the access (a 4-byte load into EAX) with HC_MMIO, put the value in RAX, skip it */
	VE_RET,	       /* the fetch of a CALL's target: return to the caller as the target's RET would */
	VE_UNREAD,     /* return without HC_VE_INFO: the retried access must end the VM, not bring a second #VE */
};
struct ve_record {
	u32 count;	       /* #VEs since ve_arm() */
	u64 rip;	       /* RIP of the last one (the faulting instruction: #VE is a fault) */
	s64 info;	       /* HC_VE_INFO's RAX in the handler */
	u64 reason, gpa, kind; /* what HC_VE_INFO said */
	s64 fixed;	       /* VE_TO_PRIVATE: HC_MAP_GPA's result; VE_MMIO_READ: HC_MMIO's */
	u64 mmio_val;	       /* VE_MMIO_READ: the value read */
};
extern volatile struct ve_record ve;
extern volatile enum ve_action ve_action;
extern volatile u32 ve_total; /* every #VE since start, for the VM's PRIVATE_VE counter */
void ve_init(void);
void ve_arm(enum ve_action a);
/* After a step that must take exactly one #VE: its reason, gpa and kind, and that it was at `rip` (0: any). */
void want_ve(const char *what, u64 reason, u64 gpa, u64 kind, u64 rip);
void want_no_ve(const char *what);
const char *ve_reason_name(u64 r);

/* ---- accesses whose address is known, for the #VE's RIP: they return the instruction's address ---- */
u64 load8(u64 va, u64 *val);
u64 store8(u64 va, u64 val);

/* ---- the phases in their own files ---- */
void phase_mmio(u64 private_page);
void phase_leak(u64 shared_page, u64 private_page);
void phase_ordinary(void);
void phase_unread(void) __noreturn;

#endif
