/* The debug registers' architectural rules (see vm/dr.h): pure, so the host unit tests check them row by row. */
#include "vm/dr.h"

#include "hv/errno.h"

u64 dr6_after_db(u64 dr6, u64 payload)
{
	/* B0-B3 report this #DB's matches only; BD, BS and BT stay until software clears them. */
	return ((dr6 & ~DR6_B0_3) | (payload & DR6_WRITABLE) | DR6_RESET) & ~BIT(12);
}

int dr6_from_write(u64 val, u64 *dr6)
{
	if (val >> 32)
		return -EINVAL;
	*dr6 = (val & DR6_WRITABLE) | DR6_RESET;
	return 0;
}

int dr7_from_write(u64 val, u64 *dr7)
{
	if (val >> 32)
		return -EINVAL;
	*dr7 = (val & DR7_WRITABLE) | DR7_RESET;
	return 0;
}

bool exc_is_fault(u8 vector)
{
	switch (vector) {
	case 1:	 /* #DB: by cause (vm/dr.h) */
	case 2:	 /* NMI: an interrupt */
	case 3:	 /* #BP: trap */
	case 4:	 /* #OF: trap */
	case 8:	 /* #DF: abort */
	case 18: /* #MC: abort */
		return false;
	default:
		return vector < 32; /* every other exception, the reserved vectors included, is a fault */
	}
}

/* LENn in bytes: 00b 1, 01b 2, 10b 8 (in IA-32e mode; undefined before), 11b 4. */
static u64 bp_len(u64 dr7, int i)
{
	static const u8 len[4] = {1, 2, 8, 4};

	return len[(dr7 >> (18 + 4 * i)) & 3];
}

static u64 hits(const u64 dr[4], u64 dr7, u64 addr, unsigned int size, unsigned int rw_mask)
{
	u64 b = 0;

	for (int i = 0; i < 4; i++) {
		unsigned int rw = (dr7 >> (16 + 4 * i)) & 3;
		if (!(dr7 & (3ULL << (2 * i))) || !(rw_mask & (1u << rw)))
			continue;
		u64 len = bp_len(dr7, i), start = dr[i] & ~(len - 1);
		/* The ranges [addr, addr + size) and [start, start + len) overlap. */
		if (addr < start + len && start < addr + size)
			b |= BIT(i);
	}
	return b;
}

u64 dr_io_hits(const u64 dr[4], u64 dr7, bool de, u16 port, unsigned int size)
{
	return de ? hits(dr, dr7, port, size, 1u << 2) : 0;
}

u64 dr_data_hits(const u64 dr[4], u64 dr7, u64 addr, unsigned int size, bool write)
{
	return hits(dr, dr7, addr, size, write ? (1u << 1 | 1u << 3) : 1u << 3);
}

static bool exc_is_contributory(u8 vector)
{
	return vector == 0 || (vector >= 10 && vector <= 13); /* #DE, #TS, #NP, #SS, #GP */
}

int exc_merge(u8 first, u8 second)
{
	if (first == 8)
		return -1;
	if (exc_is_contributory(first) && exc_is_contributory(second))
		return 8;
	if (first == 14 && (second == 14 || exc_is_contributory(second)))
		return 8;
	return second;
}
