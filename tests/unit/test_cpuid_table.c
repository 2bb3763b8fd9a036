/* The per-VM CPUID table (vm/cpuid_table.c) against the policy it is built from: for recorded CPUs, every leaf of
 * each range the guest may ask (and past them), subleaves 0..8 and a few far ones, under varied vCPU state, the
 * table's answer with its state bits applied is the policy's own. Then the state bits themselves against the rules
 * they follow (SDM Vol. 2A CPUID; Vol. 3A 11.4.3 for IA32_APIC_BASE.EN; Vol. 4 table 2-2 for IA32_MISC_ENABLE), the
 * topology and hypervisor leaves, and that a lookup never asks the host. */
#include <string.h>

#include "test.h"
#include "vm/cpuid_table.h"
#include "vm/msr_arch.h"
#include "vm/private_abi.h"

struct rec {
	u32 leaf, sub, r[4];
};

/* A recorded CPU: its answers (a leaf listed once answers every subleaf alike, as the CPU does for a leaf that does
 * not read ECX), its vendor's rule for leaves past the maximum, and an optional lower leaf 0 maximum. */
struct model {
	const char *name;
	const struct rec *recs;
	unsigned int n;
	bool intel;
	u32 max_basic; /* 0: as recorded */
};

/* An Intel Kaby Lake (Core i7-7700K, family 6 model 9EH, the Skylake core) as an AIDA64/instlatx64 dump lists it,
 * with two changes: leaf 7 ECX has PKU and OSPKE, as a Skylake-SP host's has, so that the OSPKE rule is exercised
 * (and the host's OSPKE shown not to leak), and 80000006H/80000007H, which that dump leaves out, hold the usual
 * L2 descriptor and invariant TSC. */
static const struct rec skylake[] = {
	{ 0x0, 0, { 0x00000016, 0x756e6547, 0x6c65746e, 0x49656e69 } },
	{ 0x1, 0, { 0x000906e9, 0x00100800, 0x4ffaebbf, 0xbfebfbff } },
	{ 0x2, 0, { 0x76036301, 0x00f0b5ff, 0x00000000, 0x00c30000 } },
	{ 0x4, 0, { 0x1c004121, 0x01c0003f, 0x0000003f, 0x00000000 } },
	{ 0x4, 1, { 0x1c004122, 0x01c0003f, 0x0000003f, 0x00000000 } },
	{ 0x4, 2, { 0x1c004143, 0x00c0003f, 0x000003ff, 0x00000000 } },
	{ 0x4, 3, { 0x1c03c163, 0x02c0003f, 0x00000fff, 0x00000006 } },
	{ 0x5, 0, { 0x00000040, 0x00000040, 0x00000003, 0x00142120 } },
	{ 0x6, 0, { 0x000027f5, 0x00000002, 0x00000001, 0x00000000 } },
	{ 0x7, 0, { 0x00000000, 0x02946687, 0x00000018, 0x00000000 } },
	{ 0xa, 0, { 0x07300404, 0x00000000, 0x00000000, 0x00000603 } },
	{ 0xb, 0, { 0x00000001, 0x00000002, 0x00000100, 0x00000000 } },
	{ 0xb, 1, { 0x00000004, 0x00000004, 0x00000201, 0x00000000 } },
	{ 0xd, 0, { 0x0000001b, 0x00000440, 0x00000440, 0x00000000 } },
	{ 0xd, 1, { 0x0000000f, 0x000002c0, 0x00000100, 0x00000000 } },
	{ 0x14, 0, { 0x00000001, 0x0000000f, 0x00000007, 0x00000000 } },
	{ 0x14, 1, { 0x02490002, 0x003f3fff, 0x00000000, 0x00000000 } },
	{ 0x15, 0, { 0x00000002, 0x0000012c, 0x00000000, 0x00000000 } },
	{ 0x16, 0, { 0x00000e10, 0x00000e10, 0x00000064, 0x00000000 } },
	{ 0x80000000, 0, { 0x80000008, 0x00000000, 0x00000000, 0x00000000 } },
	{ 0x80000001, 0, { 0x00000000, 0x00000000, 0x00000121, 0x2c100000 } },
	{ 0x80000002, 0, { 0x65746e49, 0x2952286c, 0x6e655020, 0x6d756974 } },
	{ 0x80000003, 0, { 0x20295228, 0x20555043, 0x30363447, 0x20402030 } },
	{ 0x80000006, 0, { 0x00000000, 0x00000000, 0x01006040, 0x00000000 } },
	{ 0x80000007, 0, { 0x00000000, 0x00000000, 0x00000000, 0x00000100 } },
	{ 0x80000008, 0, { 0x00003027, 0x00000000, 0x00000000, 0x00000000 } },
};

/* An AMD EPYC (family 1AH) virtual CPU, recorded on this project's build machine: leaf 4 is all zero, leaf 7 has a
 * subleaf 1, XSAVE's 0DH has many, and the extended range goes to 80000021H. */
static const struct rec epyc[] = {
	{ 0x0, 0, { 0x0000000d, 0x68747541, 0x444d4163, 0x69746e65 } },
	{ 0x1, 0, { 0x00b00f21, 0x57fe0800, 0xfed83203, 0x178bfbff } },
	{ 0x6, 0, { 0x00000004, 0x00000000, 0x00000000, 0x00000000 } },
	{ 0x7, 0, { 0x00000001, 0xf1bb03a9, 0x18005f42, 0x00000110 } },
	{ 0x7, 1, { 0x00000030, 0x00000000, 0x00000000, 0x00000000 } },
	{ 0xd, 0, { 0x000000e7, 0x00000980, 0x00000980, 0x00000000 } },
	{ 0xd, 1, { 0x00000007, 0x00000980, 0x00000000, 0x00000000 } },
	{ 0xd, 2, { 0x00000100, 0x00000240, 0x00000000, 0x00000000 } },
	{ 0xd, 5, { 0x00000040, 0x00000340, 0x00000000, 0x00000000 } },
	{ 0xd, 6, { 0x00000200, 0x00000380, 0x00000000, 0x00000000 } },
	{ 0xd, 7, { 0x00000400, 0x00000580, 0x00000000, 0x00000000 } },
	{ 0x80000000, 0, { 0x80000021, 0x68747541, 0x444d4163, 0x69746e65 } },
	{ 0x80000001, 0, { 0x00b00f21, 0x40000000, 0x440001f1, 0x25d3fbff } },
	{ 0x80000002, 0, { 0x6469784f, 0x69562065, 0x61757472, 0x7554206c } },
	{ 0x80000003, 0, { 0x2d6e6972, 0x656b696c, 0x6f725020, 0x73736563 } },
	{ 0x80000004, 0, { 0x2020726f, 0x20202020, 0x20202020, 0x00202020 } },
	{ 0x80000005, 0, { 0xff60ff40, 0xff60ff40, 0x300c0140, 0x20080140 } },
	{ 0x80000006, 0, { 0x40802040, 0x60804040, 0x04006140, 0x0fe09140 } },
	{ 0x80000007, 0, { 0x00000000, 0x00000000, 0x00000000, 0x00000100 } },
	{ 0x80000008, 0, { 0x00003030, 0x20000005, 0x00000000, 0x00000000 } },
	{ 0x8000001a, 0, { 0x0000000a, 0x00000000, 0x00000000, 0x00000000 } },
	{ 0x80000021, 0, { 0x411d8c47, 0x00000000, 0x00000000, 0x00000000 } },
};

static const struct model models[] = {
	{ "skylake", skylake, ARRAY_SIZE(skylake), true, 0 },
	{ "epyc", epyc, ARRAY_SIZE(epyc), false, 0 },
	/* The Skylake with leaf 0 reporting 5: leaves 6 and up answer as leaf 5 does, Intel's rule for a leaf past the
	 * maximum, and the policy passes some of that through (leaf 7's whitelist, leaf 4's type field). */
	{ "skylake-max5", skylake, ARRAY_SIZE(skylake), true, 5 },
};

static bool reads_ecx(u32 leaf)
{
	static const u32 indexed[] = { 4, 7, 0xb, 0xd, 0xf, 0x10, 0x12, 0x14, 0x17, 0x18, 0x1d, 0x1f, 0x20,
				       0x8000001d, 0x80000020, 0x80000026 };

	for (unsigned int i = 0; i < ARRAY_SIZE(indexed); i++)
		if (indexed[i] == leaf)
			return true;
	return false;
}

struct fake_host {
	const struct model *m;
	unsigned long calls;
};

static void model_answer(const struct model *m, u32 leaf, u32 sub, u32 out[4])
{
	memset(out, 0, 4 * sizeof(u32));
	if (!reads_ecx(leaf))
		sub = 0;
	for (unsigned int i = 0; i < m->n; i++) {
		if (m->recs[i].leaf == leaf && m->recs[i].sub == sub) {
			memcpy(out, m->recs[i].r, 4 * sizeof(u32));
			break;
		}
	}
	if (leaf == 0 && m->max_basic)
		out[0] = m->max_basic;
}

static void fake_cpuid(void *ctx, u32 leaf, u32 sub, u32 out[4])
{
	struct fake_host *f = ctx;
	const struct model *m = f->m;
	u32 max[4];

	f->calls++;
	model_answer(m, leaf & 0x80000000, 0, max);
	/* Past the maximum of its range: Intel answers with the highest basic leaf, AMD with zeros (SDM Vol. 2A
	 * CPUID; APM Vol. 3 E.3). */
	if (leaf > max[0] && (leaf < CPUID_HV_BASE || leaf >= CPUID_EXT_BASE)) {
		if (!m->intel) {
			memset(out, 0, 4 * sizeof(u32));
			return;
		}
		model_answer(m, 0, 0, max);
		leaf = max[0];
	}
	model_answer(m, leaf, sub, out);
}

static bool model_has(const struct model *m, u32 leaf, u32 sub, int reg, u32 bit)
{
	struct fake_host f = { .m = m };
	u32 r[4];

	fake_cpuid(&f, leaf, sub, r);
	return r[reg] & bit;
}

static struct cpuid_host host_of(struct fake_host *f, bool la57, unsigned int shared_bit)
{
	u32 r[4];

	fake_cpuid(f, 0, 0, r);
	return (struct cpuid_host){
		.cpuid = fake_cpuid,
		.ctx = f,
		.amd = !f->m->intel,
		.pku = r[0] >= 7 && model_has(f->m, 7, 0, 2, BIT(3)),
		.la57 = la57,
		.shared_bit = shared_bit,
	};
}

/* The policy's answer, as the old per-exit computation gave it: the leaf's policy, then its state bits. */
static void reference(const struct cpuid_host *h, u32 leaf, u32 sub, const struct cpuid_vcpu *s, u32 out[4])
{
	struct cpuid_entry e;

	cpuid_policy_leaf(h, leaf, sub, &e);
	out[0] = e.eax;
	out[1] = e.ebx;
	out[2] = e.ecx;
	out[3] = e.edx;
	cpuid_apply_dyn(e.dyn, sub, s, out);
}

/* As the CPUID exit looks an answer up (vm/vcpu.h: vcpu_cpuid_regs): the rule only where it can change the answer. */
static void lookup(const struct cpuid_table *t, u32 leaf, u32 sub, const struct cpuid_vcpu *s, u32 out[4])
{
	const struct cpuid_entry *e = cpuid_table_get(t, leaf, sub);

	out[0] = e->eax;
	out[1] = e->ebx;
	out[2] = e->ecx;
	out[3] = e->edx;
	if (cpuid_dyn_applies(e->dyn, s->misc_enable))
		cpuid_apply_dyn(e->dyn, sub, s, out);
}

static const u32 subs[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xff, 0x100, 0x101, 0x7fffffff, 0xffffffff };
static const u64 miscs[] = { MISC_RESET, MISC_RESET | MISC_LIMIT_CPUID, MISC_RESET | MISC_XD_DISABLE,
			     MISC_RESET | MISC_LIMIT_CPUID | MISC_XD_DISABLE };
static const u32 ids[] = { 0, 1, 15 };

static void check_leaf(const struct cpuid_table *t, const struct cpuid_host *h, const char *model, u32 leaf)
{
	for (unsigned int si = 0; si < ARRAY_SIZE(subs); si++) {
		for (unsigned int st = 0; st < ARRAY_SIZE(miscs) * ARRAY_SIZE(ids) * 4; st++) {
			struct cpuid_vcpu s = {
				.apic_id = ids[st / 4 % ARRAY_SIZE(ids)],
				.apic_enabled = st & 1,
				.cr4_pke = st & 2,
				.misc_enable = miscs[st / 4 / ARRAY_SIZE(ids)],
			};
			u32 want[4], got[4];

			reference(h, leaf, subs[si], &s, want);
			lookup(t, leaf, subs[si], &s, got);
			for (int r = 0; r < 4; r++)
				if (want[r] != got[r])
					test_fail(__FILE__, __LINE__,
						  "%s leaf %#x sub %#x state %u reg %d: table %#x, policy %#x", model,
						  leaf, subs[si], st, r, got[r], want[r]);
		}
	}
}

/* Every leaf 0..20H, 40000000H..40000100H, 80000000H..80000020H and the ends of the 32-bit space. */
TEST(cpuid_table_answers_as_the_policy)
{
	static const u32 far[] = { 0x3fffffff, 0x400001ff, 0x7fffffff, 0x80000100, 0xbfffffff, 0xffffffff };

	for (unsigned int m = 0; m < ARRAY_SIZE(models); m++) {
		for (int variant = 0; variant < 4; variant++) {
			struct fake_host f = { .m = &models[m] };
			struct cpuid_host h = host_of(&f, variant & 1, variant & 2 ? 39 : 0);
			struct cpuid_table t;

			memset(&t, 0xa5, sizeof(t)); /* nothing of the table is left to chance */
			cpuid_table_build(&t, &h);
			for (u32 leaf = 0; leaf <= 0x20; leaf++)
				check_leaf(&t, &h, models[m].name, leaf);
			for (u32 leaf = CPUID_HV_BASE; leaf <= CPUID_HV_BASE + 0x100; leaf++)
				check_leaf(&t, &h, models[m].name, leaf);
			for (u32 leaf = CPUID_EXT_BASE; leaf <= CPUID_EXT_BASE + 0x20; leaf++)
				check_leaf(&t, &h, models[m].name, leaf);
			for (unsigned int i = 0; i < ARRAY_SIZE(far); i++)
				check_leaf(&t, &h, models[m].name, far[i]);
		}
	}
}

/* The table is the only thing a CPUID exit reads: no host CPUID once it is built. */
TEST(cpuid_table_lookup_asks_no_host)
{
	struct fake_host f = { .m = &models[0] };
	struct cpuid_host h = host_of(&f, false, 0);
	struct cpuid_table t;
	struct cpuid_vcpu s = { .apic_id = 1, .apic_enabled = true };
	u32 out[4];

	cpuid_table_build(&t, &h);
	CHECK(f.calls > 0);
	f.calls = 0;
	for (u32 leaf = 0; leaf <= 0x20; leaf++)
		for (u32 sub = 0; sub < 9; sub++)
			lookup(&t, leaf, sub, &s, out);
	lookup(&t, 0x80000001, 0, &s, out);
	CHECK_EQ(f.calls, 0);
}

/* The vCPU-state bits, each against its rule. */
TEST(cpuid_table_state_bits)
{
	for (unsigned int m = 0; m < 2; m++) {
		const struct model *mo = &models[m];
		struct fake_host f = { .m = mo };
		struct cpuid_host h = host_of(&f, false, 0);
		struct cpuid_table t;
		struct cpuid_vcpu s = { .apic_id = 5, .apic_enabled = true, .misc_enable = MISC_RESET };
		u32 r[4], host[4];

		cpuid_table_build(&t, &h);
		fake_cpuid(&f, 0, 0, host);
		lookup(&t, 0, 0, &s, r);
		CHECK_EQ(r[0], MIN(host[0], 0xdu));
		CHECK_EQ(r[1], host[1]); /* the vendor string is the host's */
		s.misc_enable |= MISC_LIMIT_CPUID;
		lookup(&t, 0, 0, &s, r);
		CHECK_EQ(r[0], mo->intel ? 2 : MIN(host[0], 0xdu)); /* an Intel MSR: AMD has no LIMIT_CPUID */
		s.misc_enable = MISC_RESET;

		/* Leaf 1: the initial APIC ID, one logical processor, and the APIC bit following IA32_APIC_BASE.EN. */
		fake_cpuid(&f, 1, 0, host);
		lookup(&t, 1, 0, &s, r);
		CHECK_EQ(r[0], host[0]);
		CHECK_EQ(r[1] >> 24, 5);
		CHECK_EQ(r[1] >> 16 & 0xff, 1);
		CHECK_EQ(r[1] & 0xffff, host[1] & 0xffff);
		CHECK(r[3] & BIT(9));
		CHECK(r[2] & BIT(31)); /* a hypervisor is present */
		CHECK(r[2] & BIT(21)); /* x2APIC, which the vLAPIC has */
		CHECK(!(r[2] & BIT(5))); /* no VMX */
		s.apic_enabled = false;
		lookup(&t, 1, 0, &s, r);
		CHECK(!(r[3] & BIT(9)));
		s.apic_enabled = true;

		/* Leaf 7.0: PKU as the host has it, OSPKE as the guest's CR4.PKE says, whatever the host's OSPKE. */
		lookup(&t, 7, 0, &s, r);
		CHECK_EQ(!!(r[2] & BIT(3)), h.pku);
		CHECK(!(r[2] & BIT(4)));
		CHECK(!(r[1] & BIT(10))); /* INVPCID stays hidden */
		CHECK(r[1] & BIT(1));     /* IA32_TSC_ADJUST */
		s.cr4_pke = true;
		lookup(&t, 7, 0, &s, r);
		CHECK_EQ(!!(r[2] & BIT(4)), h.pku);
		lookup(&t, 7, 1, &s, r);
		CHECK_EQ(r[0] | r[1] | r[2] | r[3], 0);
		s.cr4_pke = false;

		/* 80000001H: NX, hidden by IA32_MISC_ENABLE.XD_DISABLE on Intel only; MCE and MCA mirrored on AMD. */
		fake_cpuid(&f, 0x80000001, 0, host);
		lookup(&t, 0x80000001, 0, &s, r);
		CHECK_EQ(!!(r[3] & BIT(20)), !!(host[3] & BIT(20)));
		CHECK_EQ(r[3] & (BIT(7) | BIT(14)), mo->intel ? 0 : BIT(7) | BIT(14));
		s.misc_enable |= MISC_XD_DISABLE;
		lookup(&t, 0x80000001, 0, &s, r);
		CHECK_EQ(!!(r[3] & BIT(20)), !mo->intel && (host[3] & BIT(20)));
	}
}

/* Leaf 0BH: one thread per core, one core per package, the x2APIC ID the vCPU's at every level, and ECX[7:0] the
 * input's (SDM Vol. 2A CPUID 0BH), also for a subleaf past 255, whose level type is 0 like any past the last. */
TEST(cpuid_table_topology_leaf)
{
	struct fake_host f = { .m = &models[0] };
	struct cpuid_host h = host_of(&f, false, 0);
	struct cpuid_table t;
	struct cpuid_vcpu s = { .apic_id = 9 };
	static const struct {
		u32 sub, ebx, ecx;
	} want[] = { { 0, 1, 0x100 }, { 1, 1, 0x201 }, { 2, 0, 2 }, { 0xff, 0, 0xff }, { 0x100, 0, 0 },
		     { 0x201, 0, 1 }, { 0xffffffff, 0, 0xff } };
	u32 r[4];

	cpuid_table_build(&t, &h);
	for (unsigned int i = 0; i < ARRAY_SIZE(want); i++) {
		lookup(&t, 0xb, want[i].sub, &s, r);
		CHECK_EQ(r[0], 0);
		CHECK_EQ(r[1], want[i].ebx);
		CHECK_EQ(r[2], want[i].ecx);
		CHECK_EQ(r[3], 9);
	}
}

/* Leaf 4: the host's caches with the sharing fields cleared, then null entries for every subleaf past them. */
TEST(cpuid_table_cache_leaf)
{
	struct fake_host f = { .m = &models[0] };
	struct cpuid_host h = host_of(&f, false, 0);
	struct cpuid_table t;
	struct cpuid_vcpu s = { 0 };
	u32 r[4], host[4];

	cpuid_table_build(&t, &h);
	for (u32 sub = 0; sub < 4; sub++) {
		fake_cpuid(&f, 4, sub, host);
		lookup(&t, 4, sub, &s, r);
		CHECK(r[0] & 0x1f);
		CHECK_EQ(r[0], host[0] & 0x3fff);
		CHECK_EQ(r[1], host[1]);
		CHECK_EQ(r[2], host[2]);
		CHECK_EQ(r[3], host[3]);
	}
	for (u32 sub = 4; sub < 40; sub++) {
		lookup(&t, 4, sub, &s, r);
		CHECK_EQ(r[0] | r[1] | r[2] | r[3], 0);
	}
}

/* A host with more cache levels than the table keeps (no CPU has): the first CPUID_LEAF4_SUBS - 1 are exact, and the
 * last one kept answers for those above it. */
static void deep_cache_cpuid(void *ctx, u32 leaf, u32 sub, u32 out[4])
{
	out[0] = leaf == 4 ? (sub + 1) << 5 | 1 : 0x16;
	out[1] = out[2] = out[3] = leaf == 4 ? sub : 0;
}

TEST(cpuid_table_cache_leaf_deep)
{
	struct cpuid_host h = { .cpuid = deep_cache_cpuid };
	struct cpuid_table t;
	struct cpuid_vcpu s = { 0 };
	u32 r[4];

	cpuid_table_build(&t, &h);
	for (u32 sub = 0; sub < 20; sub++) {
		u32 kept = MIN(sub, (u32)CPUID_LEAF4_SUBS - 1);

		lookup(&t, 4, sub, &s, r);
		CHECK_EQ(r[0], (kept + 1) << 5 | 1);
		CHECK_EQ(r[1], kept);
	}
}

/* The hypervisor leaves: the signature and the interface's features, with a private VM's shared bit. */
TEST(cpuid_table_hypervisor_leaves)
{
	for (int priv = 0; priv < 2; priv++) {
		struct fake_host f = { .m = &models[1] };
		struct cpuid_host h = host_of(&f, false, priv ? 47 : 0);
		struct cpuid_table t;
		struct cpuid_vcpu s = { 0 };
		char sig[13] = { 0 };
		u32 r[4];

		cpuid_table_build(&t, &h);
		lookup(&t, CPUID_HV_BASE, 0, &s, r);
		CHECK_EQ(r[0], CPUID_HV_MAX);
		memcpy(sig, &r[1], 12);
		CHECK_STR(sig, "MicroHVisor!");
		lookup(&t, CPUID_HV_BASE + 1, 3, &s, r);
		CHECK_EQ(r[0], 3 | (priv ? HV_FEATURE_PRIVATE : 0));
		CHECK_EQ(r[1], priv ? 47 : 0);
		lookup(&t, CPUID_HV_BASE + 2, 0, &s, r);
		CHECK_EQ(r[0] | r[1] | r[2] | r[3], 0);
	}
}
