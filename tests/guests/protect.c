/* protect: write protection of guest memory, as this hypervisor offers it. Everything checked here is the project's
 * own ABI (vm/config.h `protect=`, hypercalls HC_MEM_LOCK and HC_TRACK_TEST, the test-device counters), not an SDM
 * or APM rule: no architecture says what a hypervisor does with a guest's write to a page it protects.
 *
 * Phases, each a word of the command line (none: every phase but the two that end the VM), each with its own line
 * `TEST protect_<phase> PASS` or `... FAIL <reason>` (a FAIL ends the run); `TEST protect PASS` closes a run:
 *   log      a MOV to the log range lands; TRACKED_WRITES and PROTECT_LOGGED +1 each
 *   deny     MOVs (first and last qword), LOCK XADD, LOCK OR and XCHG on the deny range leave memory as it was;
 *            PROTECT_DENIED +1 each; execution goes on at the next instruction
 *   lock     HC_MEM_LOCK of a free page, then writes to it are dropped; each error code of the ABI
 *   huge     HC_TRACK_TEST on one 4K gfn inside a 2M TDP leaf: a split, tracked writes, nesting, the collapse back
 *   full     HC_MEM_LOCK until the VM's table of 64 protected ranges is full: -ENOSPC
 *   late     a `:late` range lets writes through until the guest first writes IA32_LSTAR (an exit, with #GP for a
 *            non-canonical value as the SDM's WRMSR says), then drops them; later LSTAR writes no longer exit
 *            (on VMX: SVM keeps them exiting for the canonical check)
 *   kill     `TEST protect_kill STARTED`, then a write to the kill range, which must end the VM
 *   lockkill `TEST protect_lockkill STARTED`, then a write to a page locked with mode 1 (kill): the VM must end
 * SKIP without the test device (plain QEMU): there is nothing to protect memory there.
 *
 * The integration case (tests/integration/suite.py, PROTECT_MODULES) runs it with these module lines, verbatim (the
 * first is one character over the column limit, so clang-format is kept off it): */
/* clang-format off */
/*
 * vm=protect mem=128M protect=0x3000000-0x3001000:log protect=0x3100000-0x3102000:deny protect=0x3300000-0x3301000:deny:late cmdline="log deny lock huge full late"
 * vm=protkill mem=128M protect=0x3200000-0x3201000:kill cmdline="kill"
 * vm=lockkill mem=16M cmdline="lockkill"
 */
/* clang-format on */
#include "guest.h"

const char test_name[] = "protect";

/* The module-line ranges above. The guest must know them: the hypervisor does not tell it. */
#define LOG_START  0x3000000ULL /* protect=0x3000000-0x3001000:log */
#define LOG_END	   0x3001000ULL
#define DENY_START 0x3100000ULL /* protect=0x3100000-0x3102000:deny */
#define DENY_END   0x3102000ULL
#define KILL_START 0x3200000ULL /* protect=0x3200000-0x3201000:kill (VM protkill) */
#define LATE_START 0x3300000ULL /* protect=0x3300000-0x3301000:deny:late */
/* The pages around those ranges too, which the boundary checks write: no other phase takes memory from here. */
#define FIXED_START (LOG_START - PAGE_SIZE)
#define FIXED_END   (LATE_START + PAGE_SIZE)

#define PROTECT_TABLE_SIZE 64 /* the ABI's entries per VM; the module line's ranges take some */
#define MODULE_RANGES	   3  /* log, deny and late, in VM protect */
#define LAPIC_GPA	   0xfee00000ULL

#define PAT 0x5eed0000c0de0001ULL /* xor-ed into a value to get a different one */

/* ---- reporting: one TEST line per phase ---- */

static const char *phase = "setup";

static void __noreturn __printf(1, 2) fail(const char *fmt, ...)
{
	va_list ap;
	printf("TEST protect_%s FAIL ", phase);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	guest_exit(EXIT_FAIL);
}

static void pass(void)
{
	printf("TEST protect_%s PASS\n", phase);
}

/* ---- memory ---- */

static u64 rd64(u64 gpa)
{
	return *(volatile u64 *)gpa;
}

/* One plain MOV, nothing the compiler could split or merge. */
static void mov64(u64 gpa, u64 v)
{
	asm volatile("movq %1, (%0)" : : "r"(gpa), "r"(v) : "memory");
}

/* A MOV store followed by two ADDs to a register: 3 when execution went on with the instruction after the store,
 * 2 if the hypervisor skipped one instruction too many. (Re-running the store would count it twice.) */
static u32 mov64_then_count(u64 gpa, u64 v)
{
	u32 n;
	asm volatile("xorl %0, %0\n\t"
		     "movq %2, (%1)\n\t"
		     "addl $1, %0\n\t"
		     "addl $2, %0"
		     : "=&r"(n)
		     : "r"(gpa), "r"(v)
		     : "memory", "cc");
	return n;
}

/* Whether the memory map has RAM covering [start, end). */
static bool map_is_ram(u64 start, u64 end)
{
	for (u32 i = 0; i < boot.nr_regions; i++)
		if (boot.regions[i].type == MEM_RAM && boot.regions[i].start <= start && end <= boot.regions[i].end)
			return true;
	return false;
}

/* Free RAM for a phase, never the same twice and never near the fixed ranges. */
static u64 next_free;

static u64 alloc_free(u64 size, u64 align)
{
	for (;;) {
		u64 a = ram_find_free(size, align, next_free, 4 * GiB);
		if (!a)
			fail("no free RAM: %lu KiB aligned to %lu KiB above 0x%lx", size / KiB, align / KiB, next_free);
		if (a < FIXED_END && a + size > FIXED_START) {
			next_free = FIXED_END;
			continue;
		}
		next_free = a + size;
		return a;
	}
}

static void need_fixed_ranges(void)
{
	if (!ram_is_free(FIXED_START, FIXED_END))
		fail("0x%llx-0x%llx (the module line's protect= ranges) is not free RAM: give the VM 128M", FIXED_START,
		     FIXED_END);
}

/* ---- counters: only the ones these phases look at are read (each read is three port exits) ---- */

struct counts {
	u64 v[NR_VM_STATS];
};

static const enum vm_stat watched[] = {VM_STAT_TDP_FAULTS,     VM_STAT_TDP_MAPPED_4K,  VM_STAT_TDP_MAPPED_2M,
				       VM_STAT_TDP_SPLITS,     VM_STAT_TRACKED_WRITES, VM_STAT_PROTECT_LOGGED,
				       VM_STAT_PROTECT_DENIED, VM_STAT_TDP_COLLAPSES};

static void counts_read(struct counts *c)
{
	for (unsigned i = 0; i < ARRAY_SIZE(watched); i++)
		c->v[watched[i]] = stat_read(watched[i]);
}

static u64 grew(const struct counts *a, const struct counts *b, enum vm_stat s)
{
	return b->v[s] - a->v[s];
}

static void want_grew(const char *what, const struct counts *a, const struct counts *b, enum vm_stat s, u64 want)
{
	if (grew(a, b, s) != want)
		fail("%s: %s +%lu, want +%lu", what, stat_name(s), grew(a, b, s), want);
}

/* ---- hypercalls ---- */

static const char *err_name(u64 r)
{
	switch ((s64)r) {
	case 0:
		return "0";
	case -EFAULT:
		return "-EFAULT";
	case -EEXIST:
		return "-EEXIST";
	case -EINVAL:
		return "-EINVAL";
	case -ENOSPC:
		return "-ENOSPC";
	case -ERANGE:
		return "-ERANGE";
	case -ENOSYS:
		return "-ENOSYS";
	default:
		return "not an errno of the ABI";
	}
}

static u64 hc(u64 nr, u64 a, u64 b, u64 c)
{
	u64 ret;
	int f = hypercall3_try(nr, a, b, c, &ret);
	if (f)
		fail("hypercall %lu (0x%lx, 0x%lx, 0x%lx) faulted with vector %d", nr, a, b, c, f - 1);
	return ret;
}

/* want is 0 or a negative errno. */
static void want_hc(const char *what, u64 nr, u64 a, u64 b, u64 c, int want)
{
	u64 r = hc(nr, a, b, c);
	if (r != (u64)(s64)want)
		fail("%s: hypercall %lu (0x%lx, 0x%lx, 0x%lx) returned %s (%ld), want %s", what, nr, a, b, c,
		     err_name(r), (s64)r, err_name((u64)(s64)want));
}

static u32 locks_done; /* successful HC_MEM_LOCKs: each takes an entry of the VM's table */

static void lock(u64 gpa, u64 len, u64 mode)
{
	want_hc("HC_MEM_LOCK of free RAM", HC_MEM_LOCK, gpa, len, mode, 0);
	locks_done++;
}

static void want_lock_err(const char *what, u64 gpa, u64 len, u64 mode, int err)
{
	want_hc(what, HC_MEM_LOCK, gpa, len, mode, -err);
}

static void track(u64 gfn, u64 add, int want)
{
	want_hc(add ? "HC_TRACK_TEST add" : "HC_TRACK_TEST remove", HC_TRACK_TEST, gfn, add, 0, want);
}

/* ---- checks shared by the phases ---- */

/* A write to gpa that must land and count nothing in PROTECT_*: a page next to a protected one, or one unlocked. */
static void want_plain_write(const char *what, u64 gpa)
{
	struct counts a, b;
	u64 v = rd64(gpa) ^ PAT;
	counts_read(&a);
	mov64(gpa, v);
	counts_read(&b);
	if (rd64(gpa) != v)
		fail("%s: the write to 0x%lx did not land: reads 0x%lx, wrote 0x%lx", what, gpa, rd64(gpa), v);
	want_grew(what, &a, &b, VM_STAT_PROTECT_DENIED, 0);
	want_grew(what, &a, &b, VM_STAT_PROTECT_LOGGED, 0);
}

/* A MOV to a denied (or locked, mode deny) gpa: memory unchanged, PROTECT_DENIED +1, and the next instruction runs. */
static void want_denied_mov(const char *what, u64 gpa)
{
	struct counts a, b;
	u64 old = rd64(gpa);
	counts_read(&a);
	u32 n = mov64_then_count(gpa, old ^ PAT);
	counts_read(&b);
	if (rd64(gpa) != old)
		fail("%s: the write to 0x%lx landed: reads 0x%lx, was 0x%lx", what, gpa, rd64(gpa), old);
	if (n != 3)
		fail("%s: after the dropped write the next two instructions counted %u, want 3 (resume at the next "
		     "instruction, once)",
		     what, n);
	want_grew(what, &a, &b, VM_STAT_PROTECT_DENIED, 1);
	want_grew(what, &a, &b, VM_STAT_PROTECT_LOGGED, 0);
}

/* ---- phase log: the write goes through and is counted ---- */

static void phase_log(void)
{
	phase = "log";
	need_fixed_ranges();
	struct counts a, b;
	u64 old = rd64(LOG_START), v = old ^ PAT;
	counts_read(&a);
	mov64(LOG_START, v);
	counts_read(&b);
	if (rd64(LOG_START) != v)
		fail("the write to 0x%llx did not land: reads 0x%lx, wrote 0x%lx (was 0x%lx)", LOG_START,
		     rd64(LOG_START), v, old);
	/* The protect range rests on the write tracker: the write was emulated (TRACKED_WRITES), then logged. */
	want_grew("a MOV to the log range", &a, &b, VM_STAT_TRACKED_WRITES, 1);
	want_grew("a MOV to the log range", &a, &b, VM_STAT_PROTECT_LOGGED, 1);
	want_grew("a MOV to the log range", &a, &b, VM_STAT_PROTECT_DENIED, 0);
	/* END is exclusive: the page after the range is neither logged nor tracked. */
	counts_read(&a);
	want_plain_write("the page after the log range", LOG_END);
	counts_read(&b);
	want_grew("the page after the log range", &a, &b, VM_STAT_TRACKED_WRITES, 0);
	printf("protect: log: 0x%llx 0x%lx -> 0x%lx, TRACKED_WRITES +1, PROTECT_LOGGED +1\n", LOG_START, old, v);
	pass();
}

/* ---- phase deny: the write is dropped, counted, and the guest goes on after the instruction ---- */

enum rmw { RMW_LOCK_XADD, RMW_LOCK_OR, RMW_XCHG };
static const char *const rmw_name[] = {"LOCK XADD", "LOCK OR", "XCHG"};

/* A read-modify-write on a denied qword: memory unchanged, PROTECT_DENIED +1 (one write, dropped). What the
 * instruction's register operand holds afterwards is not part of the ABI, so it is not checked. */
static void want_denied_rmw(enum rmw op, u64 gpa)
{
	struct counts a, b;
	u64 old = rd64(gpa), r = ~old; /* OR and XCHG with ~old change every bit */
	u32 n;
	if (old == ~0ULL)
		fail("%s on 0x%lx: the qword holds all ones, so OR would change nothing", rmw_name[op], gpa);
	counts_read(&a);
	switch (op) {
	case RMW_LOCK_XADD:
		r = 0x1111;
		asm volatile("xorl %1, %1\n\tlock xaddq %0, (%2)\n\taddl $1, %1\n\taddl $2, %1"
			     : "+r"(r), "=&r"(n)
			     : "r"(gpa)
			     : "memory", "cc");
		break;
	case RMW_LOCK_OR:
		asm volatile("xorl %1, %1\n\tlock orq %0, (%2)\n\taddl $1, %1\n\taddl $2, %1"
			     : "+r"(r), "=&r"(n)
			     : "r"(gpa)
			     : "memory", "cc");
		break;
	default:
		/* XCHG with a memory operand is locked with or without the prefix (SDM Vol. 2B, XCHG). */
		asm volatile("xorl %1, %1\n\txchgq %0, (%2)\n\taddl $1, %1\n\taddl $2, %1"
			     : "+r"(r), "=&r"(n)
			     : "r"(gpa)
			     : "memory", "cc");
		break;
	}
	counts_read(&b);
	if (rd64(gpa) != old)
		fail("%s on 0x%lx: the write landed: reads 0x%lx, was 0x%lx", rmw_name[op], gpa, rd64(gpa), old);
	if (n != 3)
		fail("%s on 0x%lx: the next two instructions counted %u, want 3", rmw_name[op], gpa, n);
	want_grew(rmw_name[op], &a, &b, VM_STAT_PROTECT_DENIED, 1);
}

static void phase_deny(void)
{
	phase = "deny";
	need_fixed_ranges();
	struct counts a, b;
	u64 first = DENY_START + 8, last = DENY_END - 8; /* last: the range's final qword */
	u64 old1 = rd64(first), old2 = rd64(last);
	counts_read(&a);
	u32 n1 = mov64_then_count(first, old1 ^ PAT);
	u32 n2 = mov64_then_count(last, old2 ^ PAT);
	counts_read(&b);
	if (rd64(first) != old1 || rd64(last) != old2)
		fail("a write landed: 0x%llx reads 0x%lx (was 0x%lx), 0x%llx reads 0x%lx (was 0x%lx)", DENY_START + 8,
		     rd64(first), old1, DENY_END - 8, rd64(last), old2);
	/* The ABI's choice: a denied write is skipped like a completed one, so the guest resumes after it. */
	if (n1 != 3 || n2 != 3)
		fail("after the dropped writes the next two instructions counted %u and %u, want 3 and 3", n1, n2);
	want_grew("two MOVs to the deny range", &a, &b, VM_STAT_PROTECT_DENIED, 2);
	want_grew("two MOVs to the deny range", &a, &b, VM_STAT_PROTECT_LOGGED, 0);

	want_denied_rmw(RMW_LOCK_XADD, DENY_START + 0x100);
	want_denied_rmw(RMW_LOCK_OR, DENY_START + PAGE_SIZE + 0x200); /* the second page */
	want_denied_rmw(RMW_XCHG, DENY_START + 0x300);

	/* The range is [START, END): the qword before it and the page after it take writes. */
	want_plain_write("the qword before the deny range", DENY_START - 8);
	want_plain_write("the page after the deny range", DENY_END);
	printf("protect: deny: 2 MOVs, LOCK XADD, LOCK OR and XCHG dropped; PROTECT_DENIED +5\n");
	pass();
}

/* ---- phase lock: HC_MEM_LOCK and its errors ---- */

static void fill(u64 page, u64 seed)
{
	for (u64 a = page; a < page + PAGE_SIZE; a += 8)
		mov64(a, a ^ seed);
}

static void want_filled(const char *what, u64 page, u64 seed)
{
	for (u64 a = page; a < page + PAGE_SIZE; a += 8)
		if (rd64(a) != (a ^ seed))
			fail("%s: 0x%lx reads 0x%lx, want 0x%lx", what, a, rd64(a), a ^ seed);
}

static void phase_lock(void)
{
	phase = "lock";
	/* Pages: 0 free, 1 locked (deny), 2 free, 3 locked (kill, never written), 4 free, 5 spare for the errors. */
	u64 blk = alloc_free(6 * PAGE_SIZE, PAGE_SIZE);
	u64 below = blk, locked = blk + PAGE_SIZE, between = blk + 2 * PAGE_SIZE, killpg = blk + 3 * PAGE_SIZE;
	u64 spare = blk + 5 * PAGE_SIZE;
	for (u64 i = 0; i < 6; i++)
		fill(blk + i * PAGE_SIZE, PAT);

	lock(locked, PAGE_SIZE, HC_LOCK_DENY);
	want_filled("the locked page, read after the lock", locked, PAT);
	want_denied_mov("a MOV to the page locked in deny mode", locked + 0x10);
	want_plain_write("the page below the locked one", below);
	want_plain_write("the page above the locked one", between);
	lock(killpg, PAGE_SIZE, HC_LOCK_KILL); /* reads only: a write would end the VM (phase lockkill does that) */
	want_filled("the page locked in kill mode", killpg, PAT);

	/* -EINVAL, all on the spare page, which must stay unlocked. */
	want_lock_err("gpa not 4K-aligned", spare + 0x800, PAGE_SIZE, HC_LOCK_DENY, EINVAL);
	want_lock_err("length 0", spare, 0, HC_LOCK_DENY, EINVAL);
	want_lock_err("length not a multiple of 4K", spare, 0x1800, HC_LOCK_DENY, EINVAL);
	want_lock_err("gpa + length wraps (top page + 2 pages)", 0xfffffffffffff000ULL, 2 * PAGE_SIZE, HC_LOCK_DENY,
		      EINVAL);
	want_lock_err("gpa + length wraps (length 2^64 - 4K)", spare, 0 - PAGE_SIZE, HC_LOCK_DENY, EINVAL);
	want_lock_err("mode 7", spare, PAGE_SIZE, 7, EINVAL);

	/* -EFAULT: not guest RAM. The map must end RAM with a hole (this hypervisor's layout) for the first two. */
	u64 top = boot.ram_top;
	if (!map_is_ram(top - PAGE_SIZE, top) || mmap_overlaps(top, top + PAGE_SIZE))
		fail("the memory map does not end RAM at 0x%lx followed by a hole", top);
	want_lock_err("the last page of RAM and the one after it", top - PAGE_SIZE, 2 * PAGE_SIZE, HC_LOCK_DENY,
		      EFAULT);
	want_lock_err("the page after the end of RAM", top, PAGE_SIZE, HC_LOCK_DENY, EFAULT);
	if (mmap_overlaps(LAPIC_GPA, LAPIC_GPA + PAGE_SIZE))
		fail("the memory map has an entry at the LAPIC page 0x%llx", LAPIC_GPA);
	want_lock_err("the LAPIC page in the MMIO hole", LAPIC_GPA, PAGE_SIZE, HC_LOCK_DENY, EFAULT);

	/* -EEXIST: a locked range is never changed, extended or locked again, in any mode. */
	want_lock_err("the locked page again", locked, PAGE_SIZE, HC_LOCK_DENY, EEXIST);
	want_lock_err("the locked page again, mode kill", locked, PAGE_SIZE, HC_LOCK_KILL, EEXIST);
	want_lock_err("the kill-locked page, mode deny", killpg, PAGE_SIZE, HC_LOCK_DENY, EEXIST);
	want_lock_err("the page below and the locked page", below, 2 * PAGE_SIZE, HC_LOCK_DENY, EEXIST);
	want_lock_err("the locked page and the page above", locked, 2 * PAGE_SIZE, HC_LOCK_DENY, EEXIST);
	want_lock_err("three pages around the locked one", below, 3 * PAGE_SIZE, HC_LOCK_DENY, EEXIST);
	/* The module line's ranges (deny, and log: also a protect= range) are in the same table. */
	need_fixed_ranges();
	want_lock_err("the deny range's second page", DENY_START + PAGE_SIZE, PAGE_SIZE, HC_LOCK_DENY, EEXIST);
	want_lock_err("the page before the deny range and its first", DENY_START - PAGE_SIZE, 2 * PAGE_SIZE,
		      HC_LOCK_DENY, EEXIST);
	want_lock_err("the log range", LOG_START, PAGE_SIZE, HC_LOCK_DENY, EEXIST);

	u64 r = hc(0x7777, 0, 0, 0);
	if (r != HC_ENOSYS)
		fail("unknown hypercall 0x7777 returned %s (%ld), want -ENOSYS", err_name(r), (s64)r);

	/* A failed lock locks nothing; the lock stays. */
	want_filled("the spare page", spare, PAT);
	want_plain_write("the spare page after the refused locks", spare);
	if (ram_is_free(top - PAGE_SIZE, top))
		want_plain_write("the last page of RAM after the refused lock", top - PAGE_SIZE);
	want_denied_mov("the locked page after the refused locks", locked + PAGE_SIZE - 8);
	printf("protect: lock: page 0x%lx locked (deny) and 0x%lx (kill); 6 -EINVAL, 3 -EFAULT, -EEXIST, -ENOSYS\n",
	       locked, killpg);
	pass();
}

/* ---- phase huge: the raw write tracker against a 2M TDP leaf ---- */

static u64 touch_value(u64 a)
{
	return a * 0x9e3779b97f4a7c15ULL;
}

/* Every page of R but [skip_start, skip_end) still holds what the touch wrote. */
static void want_region(const char *what, u64 r, u64 skip_start, u64 skip_end)
{
	for (u64 a = r; a < r + SIZE_2M; a += PAGE_SIZE)
		if ((a < skip_start || a >= skip_end) && rd64(a) != touch_value(a))
			fail("%s: 0x%lx reads 0x%lx, want 0x%lx", what, a, rd64(a), touch_value(a));
}

/* A write to gpa (through va) that lands; TRACKED_WRITES must grow by `tracked`. */
static void want_write(const char *what, u64 va, u64 gpa, u64 tracked)
{
	struct counts a, b;
	u64 v = rd64(gpa) ^ PAT;
	counts_read(&a);
	mov64(va, v);
	counts_read(&b);
	if (rd64(gpa) != v)
		fail("%s: the write to 0x%lx did not land: reads 0x%lx, wrote 0x%lx", what, gpa, rd64(gpa), v);
	want_grew(what, &a, &b, VM_STAT_TRACKED_WRITES, tracked);
	want_grew(what, &a, &b, VM_STAT_PROTECT_DENIED, 0);
}

static void phase_huge(void)
{
	phase = "huge";
	struct counts a, b, m;
	u64 r = alloc_free(SIZE_2M, SIZE_2M);
	/* The guest's own mapping of R is one 2M page (the boot tables), as in hugepages.c. */
	u64 *pde = pt_entry(r, 2, false);
	if (!pde || !(*pde & PTE_PS))
		pt_map(r, r, 2, PTE_W);
	counts_read(&a);
	for (u64 p = r; p < r + SIZE_2M; p += PAGE_SIZE)
		mov64(p, touch_value(p));
	counts_read(&b);
	want_region("R after the first touch", r, 0, 0);
	printf("protect: huge: R 0x%lx-0x%lx touched: TDP_FAULTS +%lu, MAPPED_4K +%lu, MAPPED_2M +%lu\n", r,
	       r + SIZE_2M, grew(&a, &b, VM_STAT_TDP_FAULTS), grew(&a, &b, VM_STAT_TDP_MAPPED_4K),
	       grew(&a, &b, VM_STAT_TDP_MAPPED_2M));
	u64 mapped_2m = grew(&a, &b, VM_STAT_TDP_MAPPED_2M);

	/* Tracking one gfn inside R: it must be mapped 4K and read-only, so the hypervisor splits the 2M leaf. */
	u64 t = r + 5 * PAGE_SIZE, n = r + 6 * PAGE_SIZE, gfn = t >> 12;
	counts_read(&a);
	track(gfn, 1, 0);
	counts_read(&b);
	if (grew(&a, &b, VM_STAT_TDP_SPLITS) < 1)
		fail("HC_TRACK_TEST add on gfn 0x%lx: TDP_SPLITS +0, want >= 1 (the touch of R mapped 2M +%lu)", gfn,
		     mapped_2m);
	want_region("R after the split", r, 0, 0); /* a split keeps every translation */

	want_write("a MOV to the tracked gfn", t, t, 1);
	counts_read(&a);
	(void)rd64(t);
	counts_read(&b);
	want_grew("a read of the tracked gfn", &a, &b, VM_STAT_TRACKED_WRITES, 0);
	want_write("a MOV to the gfn after the tracked one", n, n, 0);
	want_write("a MOV to the gfn before the tracked one", t - PAGE_SIZE, t - PAGE_SIZE, 0);
	/* The tracker follows the gfn, not the guest's mapping of it: a write through a 4K alias is tracked too. */
	u64 alias = win_map(1, 0, t, PTE_W);
	want_write("a MOV to the tracked gfn through a 4K alias", alias, t, 1);

	/* References nest: two adds and one remove leave the gfn tracked. */
	track(gfn, 1, 0);
	track(gfn, 0, 0);
	want_write("a MOV to the gfn with one reference of two left", t, t, 1);

	/* The last remove: untracked, and the 4K table under R may become a 2M leaf again. The collapse is counted
	 * from the remove through the next write, so a hypervisor that collapses on that write's fault passes too. */
	counts_read(&a);
	track(gfn, 0, 0);
	counts_read(&m);
	want_write("a MOV to the gfn after its last reference went", t, t, 0);
	counts_read(&b);
	if (grew(&a, &b, VM_STAT_TDP_COLLAPSES) < 1)
		fail("after the last reference went: TDP_COLLAPSES +0 (at the remove +%lu), want >= 1",
		     grew(&a, &m, VM_STAT_TDP_COLLAPSES));
	want_write("a MOV to the gfn after the collapse, through the alias", alias, t, 0);

	/* Underflow: -ERANGE and nothing changes. Had the count wrapped to 0xffff, the add below would be -ERANGE. */
	track(gfn, 0, -ERANGE);
	track(gfn, 1, 0);
	want_write("a MOV to the gfn tracked again", t, t, 1);
	track(gfn, 0, 0);
	want_write("a MOV to the gfn untracked again", t, t, 0);

	u64 past = boot.ram_top >> 12;
	want_hc("HC_TRACK_TEST add on the gfn after the end of RAM", HC_TRACK_TEST, past, 1, 0, -EFAULT);
	want_hc("HC_TRACK_TEST remove on the gfn after the end of RAM", HC_TRACK_TEST, past, 0, 0, -EFAULT);
	want_hc("HC_TRACK_TEST add on the LAPIC gfn", HC_TRACK_TEST, LAPIC_GPA >> 12, 1, 0, -EFAULT);
	want_hc("HC_TRACK_TEST with RCX = 2", HC_TRACK_TEST, gfn, 2, 0, -EINVAL);
	want_write("a MOV to the gfn after the refused calls", t, t, 0);
	want_region("R at the end", r, t - PAGE_SIZE, n + PAGE_SIZE); /* the three pages written since */
	printf("protect: huge: gfn 0x%lx in a 2M leaf: split, tracked writes, nesting, collapse; -ERANGE, -EFAULT, "
	       "-EINVAL\n",
	       gfn);
	pass();
}

/* ---- phase full: the VM's table of protected ranges has 64 entries ---- */

static void phase_full(void)
{
	phase = "full";
	u32 used = MODULE_RANGES + locks_done, left = PROTECT_TABLE_SIZE - used;
	/* Every other page, so that no two ranges touch (a table could merge neighbours). */
	u64 blk = alloc_free((2 * (u64)left + 2) * PAGE_SIZE, PAGE_SIZE);
	for (u32 i = 0; i < left; i++) {
		u64 gpa = blk + 2 * (u64)i * PAGE_SIZE, ret = hc(HC_MEM_LOCK, gpa, PAGE_SIZE, HC_LOCK_DENY);
		if (ret)
			fail("lock %u of %u at 0x%lx returned %s (%ld); the table holds %u entries, %u in use before "
			     "(%u from the module line)",
			     i + 1, left, gpa, err_name(ret), (s64)ret, PROTECT_TABLE_SIZE, used, MODULE_RANGES);
		locks_done++;
	}
	u64 extra = blk + 2 * (u64)left * PAGE_SIZE;
	want_lock_err("a lock with the table full", extra, PAGE_SIZE, HC_LOCK_DENY, ENOSPC);
	want_plain_write("the page refused with -ENOSPC", extra);
	want_denied_mov("the last page locked", extra - 2 * PAGE_SIZE);
	want_denied_mov("the first page locked", blk);
	printf("protect: full: %u more locks filled the table of %u, then -ENOSPC\n", left, PROTECT_TABLE_SIZE);
	pass();
}

/* ---- phases that end the VM ---- */

static void __noreturn phase_kill(void)
{
	phase = "kill";
	printf("TEST protect_kill STARTED\n");
	need_fixed_ranges();
	u64 old = rd64(KILL_START); /* reading is allowed */
	printf("protect: kill: 0x%llx reads 0x%lx; about to write to the kill range at 0x%llx\n", KILL_START, old,
	       KILL_START);
	mov64(KILL_START, old ^ PAT);
	fail("the write to a kill range did not end the VM (0x%llx reads 0x%lx, was 0x%lx)", KILL_START,
	     rd64(KILL_START), old);
}

static void __noreturn phase_lockkill(void)
{
	phase = "lockkill";
	printf("TEST protect_lockkill STARTED\n");
	u64 p = alloc_free(PAGE_SIZE, PAGE_SIZE);
	fill(p, PAT);
	lock(p, PAGE_SIZE, HC_LOCK_KILL);
	want_filled("the page locked in kill mode", p, PAT);
	printf("protect: lockkill: about to write to 0x%lx, locked by HC_MEM_LOCK mode 1 (kill)\n", p);
	mov64(p + 8, PAT);
	fail("the write to a page locked in kill mode did not end the VM (0x%lx reads 0x%lx)", p + 8, rd64(p + 8));
}

/* ---- phase late: armed by the guest's first IA32_LSTAR write ---- */

#define MSR_LSTAR 0xc0000082

static u64 msr_exits_after_wrmsr(u64 v)
{
	u64 before = stat_read(VM_STAT_MSR_EXITS);
	wrmsr(MSR_LSTAR, v);
	return stat_read(VM_STAT_MSR_EXITS) - before;
}

static void phase_late(void)
{
	phase = "late";
	need_fixed_ranges();
	want_plain_write("a write to the late range before any IA32_LSTAR write", LATE_START);
	/* The intercepted write is checked as the CPU checks it: a non-canonical address is #GP(0) (SDM Vol. 4, the
	 * IA32_LSTAR entry; Vol. 2B, WRMSR), and it arms nothing. */
	int f = wrmsr_try(MSR_LSTAR, 0x8000000000000000ULL);
	if (f != 13 + 1)
		fail("WRMSR of a non-canonical IA32_LSTAR took fault %d, want #GP", f - 1);
	want_plain_write("a write to the late range after a refused IA32_LSTAR write", LATE_START + 8);
	u64 lstar = 0xffffffff81234560ULL;
	if (msr_exits_after_wrmsr(lstar) != 1)
		fail("the first IA32_LSTAR write did not exit exactly once");
	if (rdmsr(MSR_LSTAR) != lstar)
		fail("IA32_LSTAR reads 0x%lx after the intercepted write of 0x%lx", rdmsr(MSR_LSTAR), lstar);
	want_denied_mov("a write to the late range once armed", LATE_START + 16);
	/* On SVM every write of an address MSR exits, to be checked for canonical form (arch/x86/svm/svm_vcpu.c). */
	u64 want = cpu.is_amd ? 1 : 0;
	if (msr_exits_after_wrmsr(lstar + 0x40) != want)
		fail("IA32_LSTAR writes after the range was armed: not %lu exit(s) each", want);
	if (rdmsr(MSR_LSTAR) != lstar + 0x40)
		fail("IA32_LSTAR reads 0x%lx, want 0x%lx", rdmsr(MSR_LSTAR), lstar + 0x40);
	printf("protect: late: writes landed until IA32_LSTAR was set (non-canonical: #GP), then dropped; LSTAR "
	       "writes %s\n", cpu.is_amd ? "still exit (SVM checks them)" : "stopped exiting");
	pass();
}

int test_main(void)
{
	if (!boot.mbi)
		test_fail("no multiboot information");
	if (!counters_available())
		test_skip("no test device: not under this hypervisor, so nothing protects memory");
	if (cmdline_has("kill"))
		phase_kill();
	if (cmdline_has("lockkill"))
		phase_lockkill();
	static const char *const words[] = {"log", "deny", "lock", "huge", "full", "late"};
	static void (*const phases[])(void) = {phase_log, phase_deny, phase_lock, phase_huge, phase_full, phase_late};
	bool any = false;
	for (unsigned i = 0; i < ARRAY_SIZE(words); i++)
		any |= cmdline_has(words[i]);
	for (unsigned i = 0; i < ARRAY_SIZE(words); i++)
		if (!any || cmdline_has(words[i]))
			phases[i]();
	test_pass();
}
