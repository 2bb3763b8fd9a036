/* Unit tests of the debug registers' rules (vm/dr.c): DR6 after a #DB (SDM Vol. 3B 18.2.3), what MOV to DR6/DR7
 * leaves (fixed bits; #GP for bits 63:32, SDM Vol. 2 MOV DR), which exceptions are faults for RF (SDM 18.3.1.1,
 * Vol. 3A 6.5), and breakpoint matching for the accesses the hypervisor performs (SDM 18.2.4, 18.2.5). */
#include "test.h"
#include "hv/errno.h"
#include "vm/dr.h"

TEST(dr6_after_db_rules)
{
	/* B0-B3 are this #DB's; BS, BD and BT accumulate (a handler that does not clear DR6 sees the older ones). */
	CHECK_EQ(dr6_after_db(DR6_RESET, DR6_BS), 0xffff4ff0);
	CHECK_EQ(dr6_after_db(DR6_RESET | DR6_BS, 0x2), 0xffff4ff2);
	CHECK_EQ(dr6_after_db(DR6_RESET | 0x1, 0x2), 0xffff0ff2);
	CHECK_EQ(dr6_after_db(DR6_RESET | 0x5, DR6_BS), 0xffff4ff0);
	CHECK_EQ(dr6_after_db(DR6_RESET, DR6_BD), 0xffff2ff0);
	CHECK_EQ(dr6_after_db(DR6_RESET, DR6_BT), 0xffff8ff0);
	/* Fixed bits read 1, bit 12 reads 0, whatever was there; a payload carries only active-high bits. */
	CHECK_EQ(dr6_after_db(0, 0), DR6_RESET);
	CHECK_EQ(dr6_after_db(BIT(12), 0), DR6_RESET);
	CHECK_EQ(dr6_after_db(DR6_RESET, ~0ULL), 0xffffefffULL);
}

TEST(dr_write_rules)
{
	u64 v = 0;

	CHECK_EQ(dr6_from_write(0, &v), 0);
	CHECK_EQ(v, DR6_RESET);
	CHECK_EQ(dr6_from_write(0xffffffff, &v), 0);
	CHECK_EQ(v, 0xffffefffULL);
	CHECK_EQ(dr6_from_write(1ULL << 32, &v), -EINVAL);
	CHECK_EQ(dr7_from_write(0, &v), 0);
	CHECK_EQ(v, DR7_RESET);
	/* Bits 11 (RTM, not offered), 12, 14 and 15 read 0; GD and the enables stick. */
	CHECK_EQ(dr7_from_write(0xffffffff, &v), 0);
	CHECK_EQ(v, 0xffff27ffULL);
	CHECK_EQ(dr7_from_write(DR7_GD | 0x3, &v), 0);
	CHECK_EQ(v, DR7_GD | 0x403);
	CHECK_EQ(dr7_from_write(1ULL << 63, &v), -EINVAL);
}

TEST(exc_fault_class)
{
	static const u8 faults[] = {0, 5, 6, 7, 10, 11, 12, 13, 14, 16, 17, 19, 20, 21, 15, 31};
	static const u8 others[] = {1, 2, 3, 4, 8, 18, 32, 255};

	for (unsigned int i = 0; i < sizeof(faults); i++)
		CHECK(exc_is_fault(faults[i]));
	for (unsigned int i = 0; i < sizeof(others); i++)
		CHECK(!exc_is_fault(others[i]));
}

/* SDM Vol. 3A 6.15, Table 6-5: benign, contributory (#DE #TS #NP #SS #GP) and #PF, first by second. */
TEST(exc_merge_table)
{
	static const u8 contributory[] = {0, 10, 11, 12, 13};
	static const u8 benign[] = {1, 2, 3, 4, 5, 6, 7, 9, 16, 17, 18, 19};

	for (unsigned int i = 0; i < sizeof(contributory); i++) {
		for (unsigned int j = 0; j < sizeof(contributory); j++)
			CHECK_EQ(exc_merge(contributory[i], contributory[j]), 8);
		CHECK_EQ(exc_merge(contributory[i], 14), 14); /* handled serially */
		CHECK_EQ(exc_merge(14, contributory[i]), 8);
		for (unsigned int j = 0; j < sizeof(benign); j++) {
			CHECK_EQ(exc_merge(benign[j], contributory[i]), contributory[i]);
			CHECK_EQ(exc_merge(contributory[i], benign[j]), benign[j]);
		}
	}
	CHECK_EQ(exc_merge(14, 14), 8);
	CHECK_EQ(exc_merge(2, 14), 14); /* an NMI's delivery faulting */
	CHECK_EQ(exc_merge(8, 10), -1); /* the #DF's own delivery: shutdown */
	CHECK_EQ(exc_merge(8, 14), -1);
}

/* DR7 for breakpoint i: enable (L or G), R/W, LEN. */
static u64 bp(int i, bool global, unsigned int rw, unsigned int len)
{
	return (global ? 2ULL : 1ULL) << (2 * i) | (u64)rw << (16 + 4 * i) | (u64)len << (18 + 4 * i);
}

TEST(dr_io_breakpoints)
{
	u64 dr[4] = {0x80, 0x3f8, 0x60, 0xcf8};
	u64 dr7 = bp(0, false, 2, 0) | bp(1, true, 2, 1) | bp(2, false, 1, 0) | bp(3, false, 2, 3);

	CHECK_EQ(dr_io_hits(dr, dr7, true, 0x80, 1), 0x1);
	CHECK_EQ(dr_io_hits(dr, dr7, false, 0x80, 1), 0); /* no I/O breakpoints without CR4.DE */
	CHECK_EQ(dr_io_hits(dr, dr7, true, 0x81, 1), 0);
	CHECK_EQ(dr_io_hits(dr, dr7, true, 0x7f, 2), 0x1);  /* 0x7f-0x80 covers 0x80 */
	CHECK_EQ(dr_io_hits(dr, dr7, true, 0x3f9, 1), 0x2); /* LEN 2: 0x3f8-0x3f9 */
	CHECK_EQ(dr_io_hits(dr, dr7, true, 0x60, 1), 0);    /* breakpoint 2 is a data write breakpoint */
	CHECK_EQ(dr_io_hits(dr, dr7, true, 0xcfc, 4), 0);   /* LEN 4 at 0xcf8: 0xcf8-0xcfb */
	CHECK_EQ(dr_io_hits(dr, dr7, true, 0xcfb, 1), 0x8);
	CHECK_EQ(dr_io_hits(dr, dr7 & ~0xffULL, true, 0x80, 1), 0); /* disabled */
}

TEST(dr_data_breakpoints)
{
	u64 dr[4] = {0x1000, 0x2004, 0x3008, 0xc0000000};
	/* 0: write, 1 byte; 1: read/write, 4 bytes; 2: read/write, 8 bytes (aligned down); 3: execute. */
	u64 dr7 = bp(0, false, 1, 0) | bp(1, false, 3, 3) | bp(2, true, 3, 2) | bp(3, false, 0, 0);

	CHECK_EQ(dr_data_hits(dr, dr7, 0x1000, 1, true), 0x1);
	CHECK_EQ(dr_data_hits(dr, dr7, 0x1000, 1, false), 0); /* a read does not match a write breakpoint */
	CHECK_EQ(dr_data_hits(dr, dr7, 0xffc, 8, true), 0x1); /* a wider access covering it */
	CHECK_EQ(dr_data_hits(dr, dr7, 0x2007, 1, false), 0x2);
	CHECK_EQ(dr_data_hits(dr, dr7, 0x2008, 1, false), 0);
	CHECK_EQ(dr_data_hits(dr, dr7, 0x300f, 1, false), 0x4);
	CHECK_EQ(dr_data_hits(dr, dr7, 0x3000, 8, false), 0);
	CHECK_EQ(dr_data_hits(dr, dr7, 0xc0000000, 4, false), 0); /* execute breakpoints never match data */
}
