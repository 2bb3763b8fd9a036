/* The decode caches' key through its memo (vm/dcache_key.h): whatever sequence of fetch states comes, a state
 * revisited, one changed in a single field, RFLAGS bits other than VM, the memo's key and mode are exactly what
 * vcpu_dcache_key builds for the state, and so is its refusal (PAE paging outside long mode). */
#include "test.h"
#include "arch/x86/cpu.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/virt.h"
#include <string.h>
#include "vm/dcache_key.h"

static u64 rng_state = 0x2545f4914f6cdd1dULL;

static u64 rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* A state from a small pool of values per field, so that states repeat and differ in one field at a time. */
static void random_state(struct insn_fetch_state *st)
{
	static const u64 rips[] = {0x401000, 0x401003, 0xffffffff81000000ULL, 0x7c00};
	static const u64 cr0s[] = {CR0_PE, CR0_PE | CR0_PG, CR0_PE | CR0_PG | CR0_WP, 0};
	static const u64 cr4s[] = {0, CR4_PAE, CR4_PAE | CR4_SMEP, CR4_PSE, CR4_PAE | CR4_LA57};
	static const u64 efers[] = {0, EFER_LME | EFER_LMA, EFER_LME | EFER_LMA | EFER_NXE, EFER_NXE};
	static const u16 attrs[] = {0x9b, 0x9b | SEG_ATTR_L, 0x9b | SEG_ATTR_DB, 0xfb | SEG_ATTR_L};

	*st = (struct insn_fetch_state){
	    .rip = rips[rnd() % 4],
	    .rflags =
		0x2 | ((rnd() % 4) ? 0 : RFLAGS_VM) | ((rnd() % 2) ? RFLAGS_IF : 0) | ((rnd() % 2) ? RFLAGS_RF : 0),
	    .cr0 = cr0s[rnd() % 4],
	    .cr3 = (rnd() % 2) ? 0x1000 : 0x5000,
	    .cr4 = cr4s[rnd() % 5],
	    .efer = efers[rnd() % 4],
	    .cs_base = (rnd() % 2) ? 0 : 0x10000,
	    .cs_limit = (rnd() % 2) ? 0xffffffffu : 0xffff,
	    .cs_attr = attrs[rnd() % 4],
	    .cpl = (u8)(rnd() % 4),
	};
}

TEST(memo_gives_the_key_vcpu_dcache_key_builds)
{
	static struct dcache_key_memo memo;
	unsigned int refused = 0, hits_of_other_rflags = 0;

	for (unsigned int i = 0; i < 200000; i++) {
		struct insn_fetch_state st;
		struct emu_dcache_key want, got;
		enum emu_mode want_mode = EMU_MODE_REAL, got_mode = EMU_MODE_REAL;

		random_state(&st);
		memset(&want, 0xa5, sizeof(want));
		memset(&got, 0x5a, sizeof(got));
		bool ok = vcpu_dcache_key(&st, &want, &want_mode);
		CHECK_EQ(vcpu_dcache_key_memo(&memo, &st, &got, &got_mode), ok);
		if (!ok) {
			refused++;
			continue;
		}
		CHECK(!memcmp(&want, &got, sizeof(want)));
		CHECK_EQ(got_mode, want_mode);
		/* The same state with other RFLAGS bits (not VM): the same key, now from the memo. */
		st.rflags ^= RFLAGS_IF | RFLAGS_RF | RFLAGS_CF;
		CHECK(vcpu_dcache_key_memo(&memo, &st, &got, &got_mode));
		CHECK(!memcmp(&want, &got, sizeof(want)));
		hits_of_other_rflags++;
	}
	CHECK(refused > 0); /* the pool holds PAE paging outside long mode */
	CHECK(hits_of_other_rflags > 0);
}

/* Each field the key depends on, changed alone after a memoized state: never the memo's old key. */
TEST(memo_misses_on_every_key_field)
{
	static struct dcache_key_memo memo;
	const struct insn_fetch_state base = {.rip = 0x401000,
					      .rflags = 0x2,
					      .cr0 = CR0_PE | CR0_PG | CR0_WP,
					      .cr3 = 0x1000,
					      .cr4 = CR4_PAE,
					      .efer = EFER_LME | EFER_LMA,
					      .cs_limit = 0xffffffffu,
					      .cs_attr = 0x9b | SEG_ATTR_L};
	struct emu_dcache_key k0, k, want;
	enum emu_mode m0, m, wm;

	CHECK(vcpu_dcache_key_memo(&memo, &base, &k0, &m0));
	for (unsigned int f = 0; f < 10; f++) {
		struct insn_fetch_state st = base;

		switch (f) {
		case 0:
			st.rip += 3;
			break;
		case 1:
			st.cr3 = 0x2000;
			break;
		case 2:
			st.cr0 &= ~CR0_WP;
			break;
		case 3:
			st.cr4 |= CR4_SMEP;
			break;
		case 4:
			st.efer |= EFER_NXE;
			break;
		case 5:
			st.rflags |= RFLAGS_VM;
			break;
		case 6:
			st.cs_base = 0x1000;
			break;
		case 7:
			st.cs_limit = 0xfffff;
			break;
		case 8:
			st.cs_attr = 0x9b | SEG_ATTR_DB;
			break;
		default:
			st.cpl = 3;
			break;
		}
		CHECK(vcpu_dcache_key(&st, &want, &wm));
		CHECK(vcpu_dcache_key_memo(&memo, &st, &k, &m));
		CHECK(!memcmp(&want, &k, sizeof(k)));
		CHECK_EQ(m, wm);
		/* and the base state still gives its own key afterwards */
		CHECK(vcpu_dcache_key_memo(&memo, &base, &k, &m));
		CHECK(!memcmp(&k0, &k, sizeof(k)));
		CHECK_EQ(m, m0);
	}
}
