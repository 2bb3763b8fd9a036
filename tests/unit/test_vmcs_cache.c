/* Unit tests of the VMCS field cache (arch/x86/vmx/vmcs_cache.h) over a fake VMCS that counts every VMREAD and
 * VMWRITE: a field is read once per exit however often it is used, a write reaches the VMCS exactly once at entry
 * (the last value), a read after a write sees the write without a VMREAD, and an exit forgets everything. */
#include "test.h"
#include "hv/compiler.h"

static u64 fake_vmcs[0x7000];
static unsigned int nr_reads, nr_writes;
static u32 last_write_field;

static u64 vmcs_cache_hw_read(u32 f)
{
	nr_reads++;
	return fake_vmcs[f];
}

static void vmcs_cache_hw_write(u32 f, u64 val)
{
	nr_writes++;
	last_write_field = f;
	fake_vmcs[f] = val;
}

#include "arch/x86/vmx/vmcs_cache.h"

static void reset(struct vmcs_cache *c)
{
	*c = (struct vmcs_cache){0};
	for (unsigned int i = 0; i < ARRAY_SIZE(fake_vmcs); i++)
		fake_vmcs[i] = 0;
	nr_reads = nr_writes = 0;
}

TEST(vmcs_cache_reads_once_per_exit)
{
	struct vmcs_cache c;

	reset(&c);
	fake_vmcs[GUEST_RFLAGS] = 0x202;
	CHECK_EQ(vmcs_cache_read(&c, VMCS_C_RFLAGS), 0x202);
	CHECK_EQ(vmcs_cache_read(&c, VMCS_C_RFLAGS), 0x202);
	CHECK_EQ(vmcs_cache_read(&c, VMCS_C_RFLAGS), 0x202);
	CHECK_EQ(nr_reads, 1);
	/* Another field is its own VMREAD. */
	fake_vmcs[GUEST_RIP] = 0x1000;
	CHECK_EQ(vmcs_cache_read(&c, VMCS_C_RIP), 0x1000);
	CHECK_EQ(nr_reads, 2);
	/* Nothing was written: entry writes nothing. */
	vmcs_cache_flush(&c);
	CHECK_EQ(nr_writes, 0);
}

TEST(vmcs_cache_write_back_exactly_once)
{
	struct vmcs_cache c;

	reset(&c);
	fake_vmcs[GUEST_RIP] = 0x1000;
	/* A skip: read, add, write; then the handler writes again (a second skip, an injection's RIP). */
	vmcs_cache_write(&c, VMCS_C_RIP, vmcs_cache_read(&c, VMCS_C_RIP) + 2);
	vmcs_cache_write(&c, VMCS_C_RIP, vmcs_cache_read(&c, VMCS_C_RIP) + 3);
	CHECK_EQ(nr_reads, 1);
	CHECK_EQ(nr_writes, 0);
	CHECK_EQ(fake_vmcs[GUEST_RIP], 0x1000); /* nothing reaches the VMCS before entry */
	vmcs_cache_flush(&c);
	CHECK_EQ(nr_writes, 1);
	CHECK_EQ(last_write_field, GUEST_RIP);
	CHECK_EQ(fake_vmcs[GUEST_RIP], 0x1005);
	/* A second flush (the dump's, then entry's) writes nothing more. */
	vmcs_cache_flush(&c);
	CHECK_EQ(nr_writes, 1);
}

TEST(vmcs_cache_read_after_write)
{
	struct vmcs_cache c;

	reset(&c);
	fake_vmcs[GUEST_INTERRUPTIBILITY_INFO] = 1;
	/* A write without a read first: the read sees it, with no VMREAD at all. */
	vmcs_cache_write(&c, VMCS_C_INTR_STATE, 8);
	CHECK_EQ(vmcs_cache_read(&c, VMCS_C_INTR_STATE), 8);
	CHECK_EQ(nr_reads, 0);
	/* Two dirty fields: one VMWRITE each, each its last value. */
	vmcs_cache_write(&c, VMCS_C_RFLAGS, 0x2);
	vmcs_cache_write(&c, VMCS_C_RFLAGS, 0x202);
	vmcs_cache_flush(&c);
	CHECK_EQ(nr_writes, 2);
	CHECK_EQ(fake_vmcs[GUEST_INTERRUPTIBILITY_INFO], 8);
	CHECK_EQ(fake_vmcs[GUEST_RFLAGS], 0x202);
}

TEST(vmcs_cache_invalidated_at_exit)
{
	struct vmcs_cache c;

	reset(&c);
	fake_vmcs[GUEST_RIP] = 0x1000;
	fake_vmcs[IDT_VECTORING_INFO_FIELD] = 0x80000b0e;
	CHECK_EQ(vmcs_cache_read(&c, VMCS_C_RIP), 0x1000);
	CHECK_EQ(vmcs_cache_read(&c, VMCS_C_IDT_VECTORING), 0x80000b0e);
	vmcs_cache_flush(&c);
	/* The guest ran: the CPU wrote new values. */
	vmcs_cache_invalidate(&c);
	fake_vmcs[GUEST_RIP] = 0x2000;
	fake_vmcs[IDT_VECTORING_INFO_FIELD] = 0;
	CHECK_EQ(vmcs_cache_read(&c, VMCS_C_RIP), 0x2000);
	CHECK_EQ(vmcs_cache_read(&c, VMCS_C_IDT_VECTORING), 0);
	CHECK_EQ(nr_reads, 4);
}

TEST(vmcs_cache_rules_are_invariants)
{
	struct vmcs_cache c;

	reset(&c);
	/* The exit information is read-only in the VMCS: a write would fail at entry, so it is a bug here. */
	EXPECT_BUG(vmcs_cache_write(&c, VMCS_C_IDT_VECTORING, 0));
	/* Invalidating with a write still pending would lose it. */
	reset(&c);
	vmcs_cache_write(&c, VMCS_C_RIP, 1);
	EXPECT_BUG(vmcs_cache_invalidate(&c));
}

/* The skip fast path against the field-by-field reference, from every mix of fields already read or written since
 * the exit: the same values, the same VMREADs (none of a field the cache holds), the same writes at entry. */
TEST(vmcs_cache_skip_agrees_with_reads_and_writes)
{
	const u32 shadow = 3; /* STI and MOV-SS blocking */

	for (u32 pre = 0; pre < 8; pre++) {
		for (u64 intr = 0; intr < 16; intr++) {
			struct vmcs_cache c, ref;
			unsigned int fast_reads, fast_writes;
			u64 got, want;

			/* The reference: read RIP, write RIP + 3, clear the shadow if set, read RFLAGS. */
			for (int pass = 0; pass < 2; pass++) {
				struct vmcs_cache *p = pass ? &ref : &c;
				reset(p);
				fake_vmcs[GUEST_RIP] = 0x1000;
				fake_vmcs[GUEST_RFLAGS] = 0x10202;
				fake_vmcs[GUEST_INTERRUPTIBILITY_INFO] = intr;
				/* Earlier in the handler: RIP read (bit 0), RFLAGS written (bit 1), the state read (2). */
				if (pre & 1)
					vmcs_cache_read(p, VMCS_C_RIP);
				if (pre & 2)
					vmcs_cache_write(p, VMCS_C_RFLAGS, 0x246);
				if (pre & 4)
					vmcs_cache_read(p, VMCS_C_INTR_STATE);
				if (!pass) {
					got = vmcs_cache_skip(p, 3, shadow);
					fast_reads = nr_reads;
				} else {
					vmcs_cache_write(p, VMCS_C_RIP, vmcs_cache_read(p, VMCS_C_RIP) + 3);
					u64 s = vmcs_cache_read(p, VMCS_C_INTR_STATE);
					if (s & shadow)
						vmcs_cache_write(p, VMCS_C_INTR_STATE, s & ~(u64)shadow);
					want = vmcs_cache_read(p, VMCS_C_RFLAGS);
					CHECK_EQ(nr_reads, fast_reads);
				}
				vmcs_cache_flush(p);
				if (!pass)
					fast_writes = nr_writes;
				CHECK_EQ(fake_vmcs[GUEST_RIP], 0x1003);
				CHECK_EQ(fake_vmcs[GUEST_INTERRUPTIBILITY_INFO], intr & ~(u64)shadow);
				CHECK_EQ(fake_vmcs[GUEST_RFLAGS], (pre & 2) ? 0x246 : 0x10202);
			}
			CHECK_EQ(got, want);
			CHECK_EQ(nr_writes, fast_writes);
			CHECK_EQ(c.avail, ref.avail);
		}
	}
}

TEST(vmcs_cache_reset_read_primes_one_field)
{
	struct vmcs_cache c;

	reset(&c);
	fake_vmcs[GUEST_RIP] = 0x1000;
	CHECK_EQ(vmcs_cache_read(&c, VMCS_C_RIP), 0x1000);
	vmcs_cache_flush(&c);
	/* The exit: the vectoring information is read with the reset, everything else is forgotten. */
	fake_vmcs[GUEST_RIP] = 0x2000;
	fake_vmcs[IDT_VECTORING_INFO_FIELD] = 0x80000b0e;
	CHECK_EQ(vmcs_cache_reset_read(&c, VMCS_C_IDT_VECTORING), 0x80000b0e);
	CHECK_EQ(nr_reads, 2);
	CHECK_EQ(vmcs_cache_read(&c, VMCS_C_IDT_VECTORING), 0x80000b0e);
	CHECK_EQ(nr_reads, 2);
	CHECK_EQ(vmcs_cache_read(&c, VMCS_C_RIP), 0x2000);
	CHECK_EQ(nr_reads, 3);
}
