/* a * b / c with a 128-bit intermediate, for converting between clock rates (TSC, PIT, PM timer, LAPIC timer)
 * without overflow. The kernel links no libgcc (__udivti3), so the 128-by-64 division is done by hand: one hardware
 * divide when the product fits in 64 bits, long division otherwise. */
#ifndef HV_MULDIV_H
#define HV_MULDIV_H

#include "hv/types.h"

/* Rounded down, or up when round_up; ~0 when the quotient does not fit in 64 bits. c must not be 0. */
static inline u64 mul_div_u64(u64 a, u64 b, u64 c, bool round_up)
{
	unsigned __int128 p = (unsigned __int128)a * b;
	u64 hi = (u64)(p >> 64), lo = (u64)p, q = 0, rem;

	if (hi >= c)
		return ~0ULL;
	if (!hi) {
		q = lo / c;
		rem = lo % c;
	} else {
		for (int i = 0; i < 64; i++) {
			u64 carry = hi >> 63;

			/* (hi:lo) <<= 1; hi < c before, so one subtraction brings it back below c. */
			hi = (hi << 1) | (lo >> 63);
			lo <<= 1;
			q <<= 1;
			if (carry || hi >= c) {
				hi -= c;
				q |= 1;
			}
		}
		rem = hi;
	}
	if (round_up && rem) {
		if (q == ~0ULL)
			return ~0ULL;
		q++;
	}
	return q;
}

#endif
