/* Phase pkey (4-level paging, CPUID.(EAX=7,ECX=0):ECX.PKU): protection keys, SDM Vol. 3A 4.6.2 and 4.7.
 *
 * On phase perm's three paths (perm.c: 4 KiB, 2 MiB and 1 GiB leaves, the two entries nearest the page varied), with
 * CR4.PKE = 1, the leaf carries protection key k in bits 62:59 and every table entry above it a decoy key (those bits
 * are ignored in an entry that references a table, SDM 4.5). For U/S and R/W in both varied entries (16 combinations,
 * so that the ordinary rules fault too: supervisor pages, read-only pages), k takes every value 0-15 in turn, and
 * PKRU every AD/WD pair for k with every other key's AD and WD either all clear or all set (they must not matter; the
 * decoy is among them). Each under CR0.WP 0/1 and CR4.SMEP+SMAP off/on, at CPL 0 (EFLAGS.AC 0 and, under SMAP, 1)
 * and CPL 3, read, write and fetch; then a leaf not present and one with a reserved bit, which have no key. rules.c
 * predicts, from the SDM alone, fault or not and the error code with PK; perm_run_case() compares it with the CPU
 * (and CR2, the data, A/D). The CPL 3 stack is a user page too (a fetch probe's CALL pushes there): it gets key
 * k ^ 8, whose bits PKRU always leaves clear.
 *
 * Around the sweep: CPUID.7.0:ECX.OSPKE follows CR4.PKE (0, 1, 0); RDPKRU and WRPKRU raise #UD without CR4.PKE and
 * #GP(0) with ECX (or, for WRPKRU, EDX) not 0; RDPKRU gives back what WRPKRU wrote, also across VM exits (CPUID,
 * port I/O); a WRPKRU applies to a translation the TLB may hold, with no INVLPG (the TLB keeps the key, not the
 * rights it gives: SDM 4.10.2.2); with CR4.PKE = 0 keys are ignored, even under a PKRU that forbids everything. */
#include "ptstorm.h"

#define VEC_UD 6
#define VEC_GP 13

static struct {
	u32 pk;		  /* faults with PK */
	u32 pk_and_plain; /* ... that the ordinary rules alone fault too (the error code has both) */
	u32 immune;	  /* no PK although AD[k] = 1: fetches, supervisor-mode pages, absent or reserved leaves */
	u32 wd_wp0;	  /* CPL 0 writes past WD[k] = 1 with CR0.WP = 0 */
	u32 modes;
} n;

static bool cpuid_ospke(void)
{
	u32 a, b, c, d;
	cpuid(7, 0, &a, &b, &c, &d);
	return c & (1u << 4);
}

static void set_pke(bool on)
{
	u64 cr4 = read_cr4();
	write_cr4(on ? cr4 | CR4_PKE : cr4 & ~CR4_PKE);
	if (!!(read_cr4() & CR4_PKE) != on)
		fail("CR4.PKE did not become %d", on);
	/* CPUID.(EAX=7,ECX=0):ECX.OSPKE [bit 4] reflects CR4.PKE (SDM Vol. 2A, CPUID; 2.7). */
	if (cpuid_ospke() != on)
		fail("CPUID.(EAX=7,ECX=0):ECX.OSPKE is %d with CR4.PKE = %d", !on, on);
}

/* RDPKRU / WRPKRU with the given ECX (and EDX): 0, or the vector + 1 of the fault (trap_fixup records it). */
static int try_rdpkru(u32 ecx, u32 *v)
{
	u32 eax = 0, edx = 0;
	fault_clear();
	asm volatile(FIXUP(".byte 0x0f, 0x01, 0xee") : "+a"(eax), "+d"(edx) : "c"(ecx) : "memory");
	*v = eax;
	return (int)fault.taken;
}

static int try_wrpkru(u32 v, u32 ecx, u32 edx)
{
	fault_clear();
	asm volatile(FIXUP(".byte 0x0f, 0x01, 0xef") : : "a"(v), "c"(ecx), "d"(edx) : "memory");
	return (int)fault.taken;
}

static void want_fault(int f, int vector, const char *what)
{
	const char *want = vector == VEC_UD ? "#UD" : "#GP(0)";
	if (f && f != vector + 1)
		fail("%s: vector %d, want %s", what, f - 1, want);
	if (!f)
		fail("%s: no fault, want %s", what, want);
	if (vector == VEC_GP && fault.error)
		fail("%s: #GP with error 0x%lx, want 0", what, fault.error);
}

/* The instructions (SDM Vol. 2B, RDPKRU and WRPKRU), and PKRU kept by the hypervisor across exits. */
static void instructions(void)
{
	u32 v;
	if (read_cr4() & CR4_PKE)
		fail("CR4.PKE = 1 before the phase set it");
	if (cpuid_ospke())
		fail("CPUID.(EAX=7,ECX=0):ECX.OSPKE = 1 with CR4.PKE = 0");
	want_fault(try_rdpkru(0, &v), VEC_UD, "RDPKRU with CR4.PKE = 0");
	want_fault(try_wrpkru(0, 0, 0), VEC_UD, "WRPKRU with CR4.PKE = 0");
	set_pke(true);
	want_fault(try_rdpkru(1, &v), VEC_GP, "RDPKRU with ECX = 1");
	want_fault(try_wrpkru(0, 1, 0), VEC_GP, "WRPKRU with ECX = 1");
	want_fault(try_wrpkru(0, 0, 1), VEC_GP, "WRPKRU with EDX = 1");
	static const u32 values[] = {0, ~0u, 0x55555554, 0xaaaaaaa8, 0x12345678, 0x80000001};
	for (unsigned i = 0; i < ARRAY_SIZE(values); i++) {
		wrpkru(values[i]);
		if (rdpkru() != values[i])
			fail("RDPKRU gave 0x%x after WRPKRU 0x%x", rdpkru(), values[i]);
	}
	/* CPL 0 touches only supervisor pages here, which PKRU never restricts: any value is safe to keep. */
	const u32 kept = 0x3c5a0f96;
	wrpkru(kept);
	u32 a, b, c, d;
	cpuid(0, 0, &a, &b, &c, &d); /* a CPUID exit */
	if ((v = rdpkru()) != kept)
		fail("PKRU 0x%x after a CPUID, was 0x%x", v, kept);
	printf("ptstorm: pkey: PKRU 0x%x across exits\n", kept); /* port I/O exits */
	if ((v = rdpkru()) != kept)
		fail("PKRU 0x%x after serial output, was 0x%x", v, kept);
	wrpkru(0);
}

static void set_stack_key(const struct perm_paths *pp, unsigned key)
{
	u64 e = *pp->user_stack_pte;
	if (pte_pkey(e) == key)
		return;
	*pp->user_stack_pte = (e & ~PTE_PKEY) | pkey_bits(key);
	invlpg(pp->user_stack_page);
}

/* Tally what an access showed, so that the phase can prove it covered each kind of case. */
static void tally(const struct mode *m, const struct rights *r, int cpl, enum access acc, bool ac, u32 want)
{
	if (!m->pke)
		return;
	struct mode plain = *m;
	plain.pke = false;
	u32 adwd = (m->pkru >> (2 * r->pkey)) & 3;
	if (want != PF_NONE && (want & PF_PK)) {
		n.pk++;
		n.pk_and_plain += pf_predict(&plain, r, cpl, acc, ac) != PF_NONE;
	} else if (adwd & PKRU_AD) {
		n.immune++;
	} else if ((adwd & PKRU_WD) && cpl == 0 && acc == ACC_WRITE && !m->wp && r->present && r->user &&
		   want == PF_NONE) {
		n.wd_wp0++;
	}
}

static void accesses(const struct mode *m, struct path *p)
{
	struct rights r = perm_path_rights(m, p);
	for (int acc = ACC_READ; acc <= ACC_FETCH; acc++)
		for (int i = 0; i < 3; i++) {
			int cpl = i == 2 ? 3 : 0;
			bool ac = i == 1;
			if (ac && !m->smap)
				continue;
			tally(m, &r, cpl, (enum access)acc, ac, perm_run_case(m, p, cpl, (enum access)acc, ac));
		}
}

/* PKRU for key k: adwd for k, and every other key but the stack's all clear or all set. */
static u32 pkru_for(unsigned k, u32 adwd, bool others, unsigned stack_key)
{
	u32 rest = others ? ~(pkru_bits(k, 3) | pkru_bits(stack_key, 3)) : 0;
	return pkru_bits(k, adwd) | rest;
}

static void set_pkru(struct mode *m, u32 v)
{
	m->pkru = v;
	if (m->pke)
		wrpkru(v);
}

/* One path under one mode. With m->pke = 0, PKRU was set beforehand (to forbid everything) and stays. */
static void sweep(struct mode *m, const struct perm_paths *pp, struct path *p, unsigned *rot)
{
	const u64 UW = PTE_U | PTE_W;
	int up = p->n - 2, lf = p->n - 1;
	u64 keep[4];
	for (int i = 0; i < p->n; i++)
		keep[i] = p->v[i];
	unsigned k = 0;
	for (int c = 0; c < 16; c++) {
		k = (unsigned)(c * 7 + *rot) &
		    15; /* every key once per sweep, paired with other combinations each time */
		unsigned stack_key = k ^ 8, decoy = k ^ 10;
		set_stack_key(pp, stack_key);
		for (int i = 0; i < lf; i++)
			p->v[i] = (keep[i] & ~PTE_PKEY) | pkey_bits(decoy);
		p->v[up] = (p->v[up] & ~UW) | ((c & 1) ? PTE_U : 0) | ((c & 2) ? PTE_W : 0);
		p->v[lf] = (keep[lf] & ~(UW | PTE_PKEY)) | ((c & 4) ? PTE_U : 0) | ((c & 8) ? PTE_W : 0) | pkey_bits(k);
		if (!m->pke) {
			accesses(m, p);
			continue;
		}
		for (u32 adwd = 0; adwd < 4; adwd++)
			for (int others = 0; others < 2; others++) {
				set_pkru(m, pkru_for(k, adwd, others, stack_key));
				accesses(m, p);
			}
	}
	/* A leaf that is absent, or has a reserved bit, gives no translation and so no key: no PK (SDM 4.7). */
	p->v[lf] = (keep[lf] | pkey_bits(k)) & ~PTE_P;
	if (m->pke)
		set_pkru(m, pkru_for(k, PKRU_AD | PKRU_WD, true, k ^ 8));
	accesses(m, p);
	if (feat.phys_bits < 52) {
		p->v[lf] = keep[lf] | pkey_bits(k) | (1ULL << 51);
		p->rsvd = true;
		accesses(m, p);
		p->rsvd = false;
	}
	for (int i = 0; i < p->n; i++)
		p->v[i] = keep[i];
	*rot += 5;
}

/* WRPKRU takes effect at the next access to a translation the TLB may hold (it holds the key, SDM 4.10.2.2; PKRU is
 * consulted at each access, 4.6.2), with no INVLPG in between. */
static void cached(const struct perm_paths *pp)
{
	struct mode m = {.paging = PAGING_4LEVEL, .wp = true, .nxe = feat.nx, .pke = true};
	struct path *p = pp->path[0];
	const unsigned k = 3;
	u64 keep = p->v[p->n - 1], v = 0, addr = p->va + 8, want_v = pat(p->target + 8);
	perm_set_mode(&m);
	set_stack_key(pp, 0);
	p->v[p->n - 1] = (keep & ~PTE_PKEY) | PTE_U | PTE_W | pkey_bits(k);
	for (int i = 0; i < p->n; i++)
		*p->e[i] = p->v[i];
	invlpg(p->va);
	wrpkru(0);
	if (uread(addr, &v) || v != want_v)
		fail("cached: the CPL 3 read with PKRU = 0 failed (vector %d, value 0x%lx)", (int)pf.taken - 1, v);
	wrpkru(pkru_bits(k, PKRU_AD));
	if (uread(addr, &v) != PF_VECTOR + 1 || pf.error != (PF_P | PF_U | PF_PK) || pf.cr2 != addr)
		fail("cached: AD[%u] set by WRPKRU without INVLPG: the CPL 3 read gave %s error 0x%lx, want #PF 0x25",
		     k, pf.taken ? "#PF" : "no fault", pf.taken ? pf.error : 0);
	if (kread(addr, &v, false) != PF_VECTOR + 1 || pf.error != (PF_P | PF_PK))
		fail("cached: AD[%u] set: the CPL 0 read gave %s error 0x%lx, want #PF 0x21", k,
		     pf.taken ? "#PF" : "no fault", pf.taken ? pf.error : 0);
	wrpkru(pkru_bits(k, PKRU_WD));
	if (uread(addr, &v) || v != want_v)
		fail("cached: WD[%u] set: the CPL 3 read failed", k);
	if (uwrite(addr, 0x1234) != PF_VECTOR + 1 || pf.error != (PF_P | PF_W | PF_U | PF_PK))
		fail("cached: WD[%u] set by WRPKRU without INVLPG: the CPL 3 write gave %s error 0x%lx, want #PF 0x27",
		     k, pf.taken ? "#PF" : "no fault", pf.taken ? pf.error : 0);
	wrpkru(0);
	if (uwrite(addr, 0x1234) || *(volatile u64 *)(p->target + 8) != 0x1234)
		fail("cached: PKRU = 0 again: the CPL 3 write failed");
	*(volatile u64 *)(p->target + 8) = want_v;
	p->v[p->n - 1] = keep;
}

void phase_pkey(void)
{
	if (!feat.pku) {
		skip("no protection keys (CPUID.(EAX=7,ECX=0):ECX.PKU = 0)");
		return;
	}
	const struct perm_paths *pp = perm_build();
	u64 cr0 = read_cr0(), cr4 = read_cr4(), efer = rdmsr(MSR_EFER);
	perm_counts = (struct perm_counts){0};
	instructions();

	unsigned rot = 0;
	int sm_max = feat.smep || feat.smap;
	for (int wp = 0; wp <= 1; wp++)
		for (int sm = 0; sm <= sm_max; sm++) {
			struct mode m = {.paging = PAGING_4LEVEL,
					 .wp = wp,
					 .smep = sm && feat.smep,
					 .smap = sm && feat.smap,
					 .nxe = feat.nx,
					 .pke = true};
			perm_set_mode(&m);
			for (unsigned i = 0; i < ARRAY_SIZE(pp->path); i++)
				if (pp->path[i]->n)
					sweep(&m, pp, pp->path[i], &rot);
			n.modes++;
		}
	u32 keyed = perm_counts.cases, keyed_faults = perm_counts.faults;
	cached(pp);

	/* CR4.PKE = 0: the keys mean nothing (4.6.2), whatever PKRU says; it keeps the value WRPKRU gave it. */
	wrpkru(~0u);
	set_pke(false);
	for (int wp = 0; wp <= 1; wp++) {
		struct mode m = {.paging = PAGING_4LEVEL, .wp = wp, .nxe = feat.nx, .pkru = ~0u};
		perm_set_mode(&m);
		for (unsigned i = 0; i < ARRAY_SIZE(pp->path); i++)
			if (pp->path[i]->n)
				sweep(&m, pp, pp->path[i], &rot);
	}
	u32 v;
	want_fault(try_rdpkru(0, &v), VEC_UD, "RDPKRU after CR4.PKE 1 -> 0");
	set_pke(true);
	wrpkru(0);
	set_pke(false);
	set_stack_key(pp, 0);
	for (unsigned i = 0; i < ARRAY_SIZE(pp->path); i++) {
		struct path *p = pp->path[i];
		for (int j = 0; j < p->n; j++)
			*p->e[j] = p->v[j]; /* no keys left in perm's tables */
		if (p->n)
			invlpg(p->va);
	}
	write_cr0(cr0);
	write_cr4(cr4);
	wrmsr(MSR_EFER, efer);

	if (!n.pk || !n.pk_and_plain || !n.immune || !n.wd_wp0)
		fail("the sweep missed a kind of case: %u PK faults, %u of them with an ordinary fault, %u immune, %u "
		     "WP=0 "
		     "writes past WD",
		     n.pk, n.pk_and_plain, n.immune, n.wd_wp0);
	printf("ptstorm: pkey: %u accesses with CR4.PKE = 1 in %u modes (4K, 2M%s paths, keys 0-15), %u faults as "
	       "predicted, %u with PK\n",
	       keyed, n.modes, pp->path[2]->n ? ", 1G" : "", keyed_faults, n.pk);
	printf("ptstorm: pkey: PK with an ordinary fault %u, immune to AD %u, CPL 0 writes past WD with CR0.WP = 0 %u; "
	       "%u accesses with CR4.PKE = 0\n",
	       n.pk_and_plain, n.immune, n.wd_wp0, perm_counts.cases - keyed);
	pass();
}
