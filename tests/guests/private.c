/* private: a private VM (`private=on`, vm/private_abi.h) seen from inside. Its RAM is private at launch; it converts
 * pages to shared and back with HC_MAP_GPA, reaches shared pages through their shared alias (the GPA with the shared
 * bit S set), and gets a #VE for every access the hypervisor will not serve. The ABI is this project's (modelled on
 * Intel TDX: the shared bit, MapGPA, #VE with VEINFO.GET, TDVMCALL MMIO), not an SDM rule; the #VE itself is the
 * architectural vector 20 delivered as a fault (SDM Vol. 3A 6.15 "Virtualization Exception (#VE)"). Phases, each
 * a `TEST private_<phase>` line; a FAIL ends the run, `TEST private PASS` closes it:
 *   cpuid     CPUID 0x40000001 says private and gives S (= MAXPHYADDR - 1 of CPUID 0x80000008); no #VE pending;
 *             the guest's own (private) code and data work, fresh private pages read zero
 *   alias     a PTE maps GPA P | 1 << S (not a reserved bit: no #PF); a shared page read and written through it
 *   leak      string I/O: #VE "instruction", nothing reaches the port or the buffer (from or into private memory,
 *             and shared: the guest unrolls it); HC_WS into a private page fails, the page unchanged
 *   convert   a private page holding a pattern made shared: zero through its alias, then written through it
 *   privgpa   that page through its private GPA: #VE "private GPA of a shared page" with the gpa and read / write /
 *             fetch; the handler converts it back and the retried access sees zeroes (the write lands on them)
 *   sharedgpa a private page through its shared alias: #VE "shared GPA of a private page", the access not done
 *   mmio      a plain load of the xAPIC version register: #VE MMIO, done by HC_MMIO; HC_MMIO writes; bad HC_MMIO
 *   churn     8 pages converted back and forth 3 times: zero after each conversion, neighbours and the image intact,
 *             the direct-map hooks counted
 *   mixed     a conversion to the kind a page has keeps it as it is; a range of both kinds changes only the others
 *   badinput  HC_MAP_GPA with a misaligned gpa, zero or odd length, beyond RAM, across its end, MMIO: refused,
 *             nothing changed kind
 * cmdline: `ordinary` (not a private VM: HC_MAP_GPA is -EPERM, MMIO is emulated, HC_MMIO works; private/ordinary.c);
 * `unread` (a #VE left unread must end the VM; private/unread.c). */
#include "private/private.h"

const char test_name[] = "private";

u32 shared_bit;
u64 shared;
const char *phase = "setup";

void fail(const char *fmt, ...)
{
	va_list ap;
	printf("TEST private_%s FAIL ", phase);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	guest_exit(EXIT_FAIL);
}

void pass(void)
{
	printf("TEST private_%s PASS\n", phase);
}

/* ---- the memory the phases use: one free run of pages, and private data in the image ---- */
#define NPAGES	     32
#define PG_A	     0 /* convert, privgpa, sharedgpa */
#define PG_SHARED    1 /* alias, then shared for the rest of the run (leak) */
#define PG_PRIV	     2 /* private for the whole run (leak) */
#define PG_BAD	     3 /* badinput */
#define PG_MIX	     4 /* mixed: this page and the next */
#define SLOT_LAST    6 /* badinput: the alias of the last page of RAM */
#define PG_CHURN     8 /* churn: CHURN_N pages, with a private neighbour on either side */
#define CHURN_N	     8
#define CHURN_ROUNDS 3
#define SLOT_CHURN   8 /* window slots 8.. for the churn pages' aliases; slot n < 8 for page n */
#define PAT	     0x5eed0000c0de0001ULL

/* The first of NPAGES free pages. */
static u64 base;
static u8 keep[64 * 1024] __attribute__((aligned(4096))); /* private data the conversions must not touch */

static u64 page(int n)
{
	return base + (u64)n * PAGE_SIZE;
}

static u64 pattern(u64 addr, u64 round)
{
	return PAT ^ addr ^ (round << 56);
}

static void fill(u64 va, u64 round)
{
	for (u64 o = 0; o < PAGE_SIZE; o += 8)
		*(volatile u64 *)(va + o) = pattern(va + o, round);
}

/* The first offset in the page at va where it does not hold `round`'s pattern (relative to `as`), or -1. */
static s64 check_fill(u64 va, u64 as, u64 round)
{
	for (u64 o = 0; o < PAGE_SIZE; o += 8)
		if (*(volatile u64 *)(va + o) != pattern(as + o, round))
			return (s64)o;
	return -1;
}

static s64 check_zero(u64 va)
{
	for (u64 o = 0; o < PAGE_SIZE; o += 8)
		if (*(volatile u64 *)(va + o))
			return (s64)o;
	return -1;
}

static void want_zero(const char *what, u64 va)
{
	s64 o = check_zero(va);
	if (o >= 0)
		fail("%s: offset 0x%lx holds 0x%lx, want 0 (pages are zeroed on conversion)", what, o,
		     *(volatile u64 *)(va + o));
}

static void want_map(const char *what, u64 gpa, u64 bytes, s64 want)
{
	s64 r = map_gpa(gpa, bytes);
	if (r != want)
		fail("%s: HC_MAP_GPA(0x%lx, 0x%lx) = %ld, want %ld", what, gpa, bytes, r, want);
}

static u32 keep_crc(void)
{
	u32 c = crc32(keep, sizeof(keep));
	for (int n = 0; n < NPAGES; n++)
		if (n == PG_CHURN - 1 || n == PG_CHURN + CHURN_N || n == PG_PRIV)
			c ^= crc32((const void *)page(n), PAGE_SIZE) + (u32)n;
	return c;
}

/* ---- phases ---- */

static void phase_cpuid(void)
{
	u32 a, b, c, d;

	phase = "cpuid";
	if (!(cpu.hv_features & HV_FEATURE_PRIVATE))
		fail("not a private VM: CPUID 0x40000001 EAX = 0x%x, without HV_FEATURE_PRIVATE (0x%x): private=on?",
		     cpu.hv_features, HV_FEATURE_PRIVATE);
	cpuid(0x40000001, 0, &a, &b, &c, &d);
	shared_bit = b;
	/* vm/private_abi.h: S = MAXPHYADDR - 1, MAXPHYADDR as CPUID 0x80000008 EAX[7:0] gives it to the guest. */
	if (shared_bit != cpu.phys_bits - 1)
		fail("shared bit %u (CPUID 0x40000001 EBX), want MAXPHYADDR - 1 = %u", shared_bit, cpu.phys_bits - 1);
	shared = 1ULL << shared_bit;
	if (boot.ram_top > shared)
		fail("RAM reaches 0x%lx, above the shared bit 0x%lx", boot.ram_top, shared);
	printf("private: shared bit %u (MAXPHYADDR %u), RAM up to 0x%lx\n", shared_bit, cpu.phys_bits, boot.ram_top);
	s64 r = ve_info();
	if (r != -ENOENT)
		fail("HC_VE_INFO before any #VE = %ld (reason %lu gpa 0x%lx), want -ENOENT", r, ve.reason, ve.gpa);

	base = ram_find_free(NPAGES * PAGE_SIZE, SIZE_2M, 4 * MiB, boot.ram_top);
	if (!base)
		fail("no %d free pages", NPAGES);
	ve_arm(VE_UNEXPECTED);
	/* Private memory works like any: the image (this code, its data), and fresh pages, which read zero. */
	for (u64 i = 0; i < sizeof(keep); i += 8)
		*(volatile u64 *)(keep + i) = pattern((u64)keep + i, 7);
	for (u64 i = 0; i < sizeof(keep); i += 8)
		if (*(volatile u64 *)(keep + i) != pattern((u64)keep + i, 7))
			fail("private data in the image at 0x%lx reads back wrong", (u64)keep + i);
	for (int n = 0; n < NPAGES; n++) {
		s64 o = check_zero(page(n));
		if (o >= 0)
			fail("fresh private page 0x%lx: offset 0x%lx is 0x%lx, want 0", page(n), o,
			     *(volatile u64 *)(page(n) + o));
		fill(page(n), 0);
		if ((o = check_fill(page(n), page(n), 0)) >= 0)
			fail("private page 0x%lx: offset 0x%lx does not read back", page(n), o);
	}
	want_no_ve("private code, data and fresh pages");
	pass();
}

static void phase_alias(void)
{
	phase = "alias";
	u64 gpa = page(PG_SHARED), va = alias_map(PG_SHARED, gpa);
	u64 *pte = pt_entry(va, 1, false);
	if (!pte || (*pte & PTE_ADDR) != (gpa | shared) || !(*pte & PTE_P))
		fail("the PTE of 0x%lx is 0x%lx, want 0x%lx present", va, pte ? *pte : 0, gpa | shared);
	want_map("page to shared", gpa | shared, PAGE_SIZE, 0);
	/* Bit S is below MAXPHYADDR: a legal address bit, no reserved-bit #PF (SDM Vol. 3A 4.5, table 4-19). */
	ve_arm(VE_UNEXPECTED);
	u64 v = 1;
	fault_clear();
	load8(va + 0x10, &v);
	if (fault.taken)
		fail("reading the alias 0x%lx (gpa 0x%lx) took fault %u, error 0x%lx", va, gpa | shared,
		     fault.taken - 1, fault.error);
	if (v)
		fail("the shared page reads 0x%lx through its alias, want 0", v);
	store8(va + 0x10, PAT);
	load8(va + 0x10, &v);
	if (fault.taken || v != PAT)
		fail("a write through the alias reads back 0x%lx (fault %u)", v, fault.taken);
	want_no_ve("a shared page through its alias");
	printf("private: page 0x%lx shared, at 0x%lx through gpa 0x%lx\n", gpa, va, gpa | shared);
	pass();
}

static void phase_convert(void)
{
	phase = "convert";
	u64 gpa = page(PG_A), va = alias_map(PG_A, gpa);
	s64 o;

	if ((o = check_fill(gpa, gpa, 0)) >= 0)
		fail("the private page's pattern is gone at 0x%lx before the conversion", o);
	ve_arm(VE_UNEXPECTED);
	want_map("private page to shared", gpa | shared, PAGE_SIZE, 0);
	want_zero("the converted page through its alias", va);
	fill(va, 1);
	if ((o = check_fill(va, va, 1)) >= 0)
		fail("the shared page does not read back through its alias at 0x%lx", o);
	want_no_ve("a converted page through its alias");
	pass();
}

static void fetch_at(u64 va)
{
	asm volatile("call *%0"
		     :
		     : "r"(va)
		     : "memory", "cc", "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11");
}

static void phase_privgpa(void)
{
	phase = "privgpa";
	u64 gpa = page(PG_A), va = alias_map(PG_A, gpa), v = ~0ULL, rip;

	/* A read through the private GPA of the shared page: #VE, the handler converts it back, the read retried
	 * sees the zeroes of the conversion and not what was written through the alias. */
	ve_arm(VE_TO_PRIVATE);
	rip = load8(gpa + 0x238, &v);
	want_ve("a read through the private GPA", VE_REASON_PRIVATE_GPA_SHARED, gpa + 0x238, VE_ACCESS_READ, rip);
	if (v)
		fail("the retried read got 0x%lx, want 0 (the page was zeroed when it went back to private)", v);
	ve_arm(VE_UNEXPECTED);
	want_zero("the page after the #VE handler made it private", gpa);
	want_no_ve("the page back to private");

	/* A write the same way: done once the page is private again, onto zeroes. */
	want_map("the page to shared again", gpa | shared, PAGE_SIZE, 0);
	fill(va, 2);
	ve_arm(VE_TO_PRIVATE);
	rip = store8(gpa + 0x640, PAT);
	want_ve("a write through the private GPA", VE_REASON_PRIVATE_GPA_SHARED, gpa + 0x640, VE_ACCESS_WRITE, rip);
	ve_arm(VE_UNEXPECTED);
	if (*(volatile u64 *)(gpa + 0x640) != PAT)
		fail("the retried write did not land: 0x%lx", *(volatile u64 *)(gpa + 0x640));
	*(volatile u64 *)(gpa + 0x640) = 0;
	want_zero("the page after the retried write (but for it)", gpa);
	want_no_ve("the page back to private");

	/* An instruction fetch: a RET written through the alias, called through the private GPA. The handler returns
	 * to the caller (the fetch is never done, so the page stays shared). */
	want_map("the page to shared for a fetch", gpa | shared, PAGE_SIZE, 0);
	*(volatile u8 *)(va + 0x100) = 0xc3;
	ve_arm(VE_RET);
	fetch_at(gpa + 0x100);
	want_ve("a fetch through the private GPA", VE_REASON_PRIVATE_GPA_SHARED, gpa + 0x100, VE_ACCESS_FETCH,
		gpa + 0x100);
	ve_arm(VE_UNEXPECTED);
	if (*(volatile u8 *)(va + 0x100) != 0xc3)
		fail("the shared page changed after the fetch's #VE");
	want_map("the page back to private", gpa, PAGE_SIZE, 0);
	want_zero("the page back to private", gpa);
	want_no_ve("the page back to private");
	pass();
}

static void phase_sharedgpa(void)
{
	phase = "sharedgpa";
	u64 gpa = page(PG_A), va = alias_map(PG_A, gpa), v = 0x1234, rip;
	s64 o;

	ve_arm(VE_UNEXPECTED);
	fill(gpa, 3); /* private, through its private GPA */
	ve_arm(VE_SKIP);
	rip = load8(va + 0x18, &v);
	want_ve("a read through the shared alias of a private page", VE_REASON_SHARED_GPA_PRIVATE,
		(gpa | shared) + 0x18, VE_ACCESS_READ, rip);
	if (v != 0x1234)
		fail("the skipped read changed its destination to 0x%lx", v);
	ve_arm(VE_SKIP);
	rip = store8(va + 0x20, 0);
	want_ve("a write through the shared alias of a private page", VE_REASON_SHARED_GPA_PRIVATE,
		(gpa | shared) + 0x20, VE_ACCESS_WRITE, rip);
	ve_arm(VE_UNEXPECTED);
	if ((o = check_fill(gpa, gpa, 3)) >= 0)
		fail("the private page changed at offset 0x%lx after a write through its alias was refused", o);
	want_no_ve("the private page after the refused accesses");
	pass();
}

static void phase_churn(void)
{
	phase = "churn";
	u64 gpa = page(PG_CHURN), bytes = CHURN_N * PAGE_SIZE, va[CHURN_N];
	s64 o;

	for (int i = 0; i < CHURN_N; i++)
		va[i] = alias_map(SLOT_CHURN + i, gpa + i * PAGE_SIZE);
	u32 crc = keep_crc();
	u64 set = stat_read(VM_STAT_PRIVATE_EXTERNAL_SET), removed = stat_read(VM_STAT_PRIVATE_EXTERNAL_REMOVED);
	ve_arm(VE_UNEXPECTED);
	for (u64 round = 1; round <= CHURN_ROUNDS; round++) {
		want_map("the range to shared", gpa | shared, bytes, 0);
		for (int i = 0; i < CHURN_N; i++) {
			want_zero("a page of the range made shared", va[i]);
			fill(va[i], round);
		}
		for (int i = 0; i < CHURN_N; i++)
			if ((o = check_fill(va[i], va[i], round)) >= 0)
				fail("round %lu: shared page %d does not read back at 0x%lx", round, i, o);
		want_map("the range to private", gpa, bytes, 0);
		for (int i = 0; i < CHURN_N; i++) {
			want_zero("a page of the range made private", gpa + i * PAGE_SIZE);
			fill(gpa + i * PAGE_SIZE, round + 8);
		}
		if (keep_crc() != crc)
			fail("round %lu: private data outside the range changed", round);
	}
	want_no_ve("the conversions");
	/* Each round takes the pages out of the hypervisor's direct map when they are touched private, and puts them
	 * back (zeroed) when they go shared: the test device's counters of those hooks (mm/private.h). */
	set = stat_read(VM_STAT_PRIVATE_EXTERNAL_SET) - set;
	removed = stat_read(VM_STAT_PRIVATE_EXTERNAL_REMOVED) - removed;
	printf("private: churn: %d pages %d times: %lu frames out of the direct map, %lu scrubbed and back\n", CHURN_N,
	       CHURN_ROUNDS, set, removed);
	if (set < CHURN_N * CHURN_ROUNDS || removed < CHURN_N * CHURN_ROUNDS)
		fail("PRIVATE_EXTERNAL_SET +%lu, PRIVATE_EXTERNAL_REMOVED +%lu: want at least %d each", set, removed,
		     CHURN_N * CHURN_ROUNDS);
	pass();
}

/* A conversion to the kind a page already has leaves it as it is, content and all, and a range of both kinds converts
 * only the pages that change (KVM's memory attributes and TDX's MapGPA likewise): zeroing is the price of a page
 * changing hands, not of asking. */
static void phase_mixed(void)
{
	phase = "mixed";
	u64 a = page(PG_MIX), b = page(PG_MIX + 1), va = alias_map(PG_MIX, a), vb = alias_map(PG_MIX + 1, b);
	s64 o;

	ve_arm(VE_UNEXPECTED);
	want_map("a private page to private", a, PAGE_SIZE, 0);
	if ((o = check_fill(a, a, 0)) >= 0)
		fail("a private page converted to private lost its contents at 0x%lx", o);
	want_map("the first page to shared", a | shared, PAGE_SIZE, 0);
	want_zero("the first page made shared", va);
	fill(va, 5);
	want_map("both pages (shared, private) to shared", a | shared, 2 * PAGE_SIZE, 0);
	if ((o = check_fill(va, va, 5)) >= 0)
		fail("a shared page converted to shared lost its contents at 0x%lx", o);
	want_zero("the private page of the range made shared", vb);
	fill(vb, 5);
	want_map("both pages back to private", a, 2 * PAGE_SIZE, 0);
	want_zero("the first page made private", a);
	want_zero("the second page made private", b);
	want_no_ve("conversions to the kind a page has");
	pass();
}

static void phase_badinput(void)
{
	phase = "badinput";
	u64 gpa = page(PG_BAD), top = ALIGN_DOWN(boot.ram_top, PAGE_SIZE), v;
	bool last_free = ram_is_free(top - PAGE_SIZE, top);
	s64 r, o;

	ve_arm(VE_UNEXPECTED);
	fill(gpa, 4);
	if (last_free)
		fill(top - PAGE_SIZE, 4);
	u32 crc = keep_crc();
	want_map("a misaligned gpa", (gpa | shared) + 0x800, PAGE_SIZE, -EINVAL);
	want_map("zero length", gpa | shared, 0, -EINVAL);
	want_map("a length not a 4K multiple", gpa | shared, 0x800, -EINVAL);
	want_map("a page beyond RAM", top | shared, PAGE_SIZE, -EFAULT);
	want_map("a range across the end of RAM", (top - PAGE_SIZE) | shared, 2 * PAGE_SIZE, -EFAULT);
	want_map("the LAPIC page (MMIO)", 0xfee00000ULL | shared, PAGE_SIZE, -EFAULT);
	/* A length that wraps, and a GPA above the shared bit (beyond the guest's MAXPHYADDR): not RAM either way. */
	if ((r = map_gpa(gpa | shared, ~(PAGE_SIZE - 1))) != -EINVAL && r != -EFAULT)
		fail("a wrapping length: HC_MAP_GPA = %ld, want -EINVAL or -EFAULT", r);
	if ((r = map_gpa(gpa | (shared << 1) | shared, PAGE_SIZE)) != -EINVAL && r != -EFAULT)
		fail("a gpa above MAXPHYADDR: HC_MAP_GPA = %ld, want -EINVAL or -EFAULT", r);
	/* Nothing changed kind: the pages still read through their private GPA, hold their data, and their alias is
	 * still the wrong kind. */
	if ((o = check_fill(gpa, gpa, 4)) >= 0)
		fail("the page changed at 0x%lx after refused conversions", o);
	if (last_free && (o = check_fill(top - PAGE_SIZE, top - PAGE_SIZE, 4)) >= 0)
		fail("the last page of RAM changed at 0x%lx after a refused conversion across the end of RAM", o);
	if (keep_crc() != crc)
		fail("private data changed after refused conversions");
	want_no_ve("the pages after refused conversions");
	ve_arm(VE_SKIP);
	load8(alias_map(PG_BAD, gpa), &v);
	want_ve("the alias of the page after a refused conversion", VE_REASON_SHARED_GPA_PRIVATE, gpa | shared,
		VE_ACCESS_READ, 0);
	if (last_free) {
		ve_arm(VE_SKIP);
		load8(alias_map(SLOT_LAST, top - PAGE_SIZE), &v);
		want_ve("the alias of the last page of RAM after a refused conversion", VE_REASON_SHARED_GPA_PRIVATE,
			(top - PAGE_SIZE) | shared, VE_ACCESS_READ, 0);
	}
	printf("private: badinput: refused, nothing changed (last page of RAM %s)\n", last_free ? "checked" : "in use");
	pass();
}

int test_main(void)
{
	if (!boot.mbi)
		test_fail("no multiboot information");
	ve_init();
	if (cmdline_has("unread"))
		phase_unread();
	if (cmdline_has("ordinary")) {
		phase_ordinary();
		test_pass();
	}
	phase_cpuid();
	phase_alias();
	/* The leak phase first after alias: the hypervisor logs only a VM's first #VEs, and its refusals of string I/O
	 * are the lines the runner looks for. */
	phase_leak(page(PG_SHARED), page(PG_PRIV));
	phase_convert();
	phase_privgpa();
	phase_sharedgpa();
	phase_mmio(page(PG_PRIV));
	phase_churn();
	phase_mixed();
	phase_badinput();
	/* Every #VE the guest took is one the hypervisor counted, and none went missing. */
	u64 counted = stat_read(VM_STAT_PRIVATE_VE);
	if (counted != ve_total)
		test_fail("the VM's PRIVATE_VE counter says %lu #VE, the guest took %u", counted, ve_total);
	printf("private: %u #VE taken and counted\n", ve_total);
	test_pass();
}
