/* Ring 3 for guest tests: a GDT with user segments and a TSS (user_init), a call into CPL 3 that comes back through
 * INT 0x80 (user_call), and the way out of CPL 3 for an exception handler (user_abort). The user code runs at an
 * alias of the page user_page..user_page_end (lib/user.S), which the test maps with U/S = 1 wherever it likes; that
 * page holds small stubs that make one access and return. Only one CPU uses ring 3 at a time (one TSS). */
#ifndef GUEST_USER_H
#define GUEST_USER_H

#include "guest.h"

/* The GDT after user_init(): entry.S's first four entries, then these. */
#define SEL_CODE64  0x08
#define SEL_DATA    0x10
#define SEL_CODE32  0x18
#define SEL_UCODE32 0x23 /* 0x20 | RPL 3: flat 32-bit code, DPL 3 */
#define SEL_UDATA   0x2b /* 0x28 | RPL 3: flat data, DPL 3 */
#define SEL_UCODE64 0x33 /* 0x30 | RPL 3: 64-bit code, DPL 3 */
#define SEL_TSS	    0x38 /* 16-byte 64-bit TSS descriptor */
#define USER_VECTOR 0x80 /* INT 0x80 from CPL 3 returns to user_call's caller */

#define RFLAGS_AC (1ULL << 18)

/* Load the GDT above and the TSS (RSP0 = a stack of its own), open vector 0x80 to CPL 3. Idempotent. */
void user_init(void);

/* IRETQ to CPL 3 at rip with RSP = rsp, RDI = a0, RSI = a1 and RFLAGS = rflags (bit 1 is added); returns RAX as
 * it was at the INT 0x80 that ended the call, or what user_abort() says. */
u64 user_call(u64 rip, u64 rsp, u64 a0, u64 a1, u64 rflags);
/* From an exception handler that interrupted CPL 3: make the frame return to user_call's caller with `ret`. */
void user_abort(struct trap_frame *f, u64 ret);

/* The stubs in user_page (each ends with INT 0x80, RAX its result). 64-bit: read8 returns the qword at RDI;
 * write8 stores RSI there; fetch calls RDI (a RET there comes back). 32-bit ones (for lib/mode32.S): the same with
 * EDI/ESI and a dword read (EDX:EAX = the qword). */
extern const char user_page[], user_page_end[];
extern const char user_read8[], user_write8[], user_fetch[];
extern const char user32_read[], user32_write[], user32_fetch[];
static inline u64 user_page_offset(const char *stub)
{
	return (u64)(stub - user_page);
}

/* The TSS's stack fields: RSP0 in 64-bit format (user_init sets it), or ESP0/SS0 in the 32-bit format over the same
 * bytes (offsets 4 and 8), for CPL 3 in 32-bit protected mode (lib/mode32.S). TR keeps pointing at the same TSS. */
void user_tss_set32(u32 esp0, u16 ss0);
void user_tss_set64(void);

#endif
