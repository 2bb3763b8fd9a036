/* mmio: a guest-physical address with nothing behind it (default 0xC0000000, `addr=` to change; it must lie outside
 * every memory-map entry) reads as all ones for 1-, 2-, 4- and 8-byte loads, drops writes of every size, and each
 * access reaches the hypervisor as an MMIO exit (the MMIO_EXITS counter grows by at least the number of accesses).
 * The guest keeps running afterwards. The page is mapped uncached by the boot tables (identity, 3-4 GiB).
 * `unbacked=zero` expects zeros instead of ones: plain QEMU (7.2, TCG, pc and q35) reads unassigned memory as 0.
 * Then the instructions the hypervisor's emulator must also run against such a device (issue 14 item 10): each
 * result below is what the SDM's definition of the instruction gives with every read all ones and every write
 * dropped (REPE CMPSB against RAM, REPNE SCASB past the emulator's REP batch, CMPXCHG8B/16B, CMOVcc, SETcc, shifts
 * by CL, MUL/DIV/IMUL, XLAT, MOVBE, PUSH/POP and JMP through memory, STR, the SSE moves). */
#include "guest.h"

const char test_name[] = "mmio";

static u64 accesses, mismatches;
static bool zero; /* unbacked=zero */

static void expect_unbacked(u64 va, int size, const char *when)
{
	u64 v;
	int f = probe_read(va, size, &v);
	accesses++;
	if (f)
		test_fail("%s: %d-byte read at 0x%lx faulted (vector %d, error 0x%lx)", when, size, va, f - 1,
			  fault.error);
	u64 want = zero ? 0 : ones(size);
	if (v != want) {
		printf("mmio: %s: %d-byte read at 0x%lx gave 0x%lx, want 0x%lx\n", when, size, va, v, want);
		mismatches++;
	}
}

#define FL_CF (1ULL << 0)
#define FL_ZF (1ULL << 6)
#define FL_SF (1ULL << 7)
#define FL_OF (1ULL << 11)

static u64 emu_failures;

static void expect(bool ok, const char *what, u64 got)
{
	if (!ok) {
		printf("mmio: %s: got 0x%lx\n", what, got);
		emu_failures++;
	}
}

/* The string compares, with the batch a REP runs per exit exceeded (the hypervisor's EMU_REP_BATCH is 256). */
static u64 string_compares(u64 m)
{
	static u8 buf[32];
	u64 si = m, di = (u64)buf, cx = sizeof(buf), fl;

	/* REPE CMPSB, device against RAM: equal (all ones) up to buf[20], which differs; SDM CMPS/REPE. */
	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = i == 20 ? 0 : 0xff;
	asm volatile("cld; repe cmpsb; pushfq; popq %[fl]"
		     : "+S"(si), "+D"(di), "+c"(cx), [fl] "=r"(fl)
		     :
		     : "memory", "cc");
	expect(cx == 11 && si == m + 21 && !(fl & FL_ZF), "repe cmpsb stops after the difference: rcx", cx);

	/* REPNE SCASB for a zero byte over 600 device bytes: never found, every byte compared. */
	u64 a = 0;
	di = m;
	cx = 600;
	asm volatile("cld; repne scasb; pushfq; popq %[fl]"
		     : "+D"(di), "+c"(cx), "+a"(a), [fl] "=r"(fl)::"memory", "cc");
	expect(cx == 0 && di == m + 600 && !(fl & FL_ZF), "repne scasb over 600 bytes: rdi offset", di - m);
	return 21 + 600;
}

/* CMPXCHG8B/16B: a compare against all ones fails and loads them; the next one matches and writes (dropped). */
static u64 compare_exchanges(u64 m)
{
	u32 eax, ebx, ecx, edx;
	u64 a = 0, d = 0, fl, n = 0;

	asm volatile("lock cmpxchg8b (%[m]); pushfq; popq %[fl]"
		     : "+a"(a), "+d"(d), [fl] "=r"(fl)
		     : "b"(1), "c"(2), [m] "r"(m)
		     : "memory", "cc");
	expect(a == 0xffffffff && d == 0xffffffff && !(fl & FL_ZF), "cmpxchg8b mismatch: edx:eax", d << 32 | a);
	asm volatile("cmpxchg8b (%[m]); pushfq; popq %[fl]"
		     : "+a"(a), "+d"(d), [fl] "=r"(fl)
		     : "b"(1), "c"(2), [m] "r"(m)
		     : "memory", "cc");
	expect(fl & FL_ZF, "cmpxchg8b match: rflags", fl);
	n += 3;
	cpuid(1, 0, &eax, &ebx, &ecx, &edx);
	if (ecx & (1u << 13)) { /* CX16 */
		a = d = 0;
		asm volatile("lock cmpxchg16b (%[m]); pushfq; popq %[fl]"
			     : "+a"(a), "+d"(d), [fl] "=r"(fl)
			     : "b"(1), "c"(2), [m] "r"(m + 0x10)
			     : "memory", "cc");
		expect(a == ~0ULL && d == ~0ULL && !(fl & FL_ZF), "cmpxchg16b mismatch: rax", a);
		n += 2;
	} else {
		printf("mmio: no CMPXCHG16B on this CPU\n");
	}
	return n;
}

/* CMOVcc, SETcc, shifts by CL, multiply and divide, XLAT, MOVBE. */
static u64 integer_ops(u64 m)
{
	u32 eax, ebx, ecx, edx;
	u64 a, d, fl;

	a = 5;
	asm volatile("cmp %%rax, %%rax; cmove (%[m]), %%rax" : "+a"(a) : [m] "r"(m) : "memory", "cc");
	expect(a == ~0ULL, "cmove taken", a);
	a = 5;
	asm volatile("test %%rax, %%rax; cmove (%[m]), %%eax" : "+a"(a) : [m] "r"(m) : "memory", "cc");
	expect(a == 5, "cmove not taken (the source is still read)", a);
	asm volatile("stc; setc (%[m])" ::[m] "r"(m) : "memory", "cc");
	asm volatile("xor %%eax, %%eax; setz 1(%[m])" ::[m] "r"(m) : "rax", "memory", "cc");

	/* shl dword [m], cl with cl = 36 (masked to 4): 0xffffffff << 4; CF is bit 28, SF set, ZF clear. */
	asm volatile("movb $36, %%cl; shll %%cl, (%[m]); pushfq; popq %[fl]"
		     : [fl] "=r"(fl)
		     : [m] "r"(m)
		     : "rcx", "memory", "cc");
	expect((fl & (FL_CF | FL_SF | FL_ZF)) == (FL_CF | FL_SF), "shl dword [mmio], cl: rflags", fl);
	/* sar by cl = 0: no flag changes (ZF stays set from the xor). */
	asm volatile("xor %%ecx, %%ecx; sarq %%cl, (%[m]); pushfq; popq %[fl]"
		     : [fl] "=r"(fl)
		     : [m] "r"(m)
		     : "rcx", "memory", "cc");
	expect(fl & FL_ZF, "sar by 0 keeps the flags: rflags", fl);
	/* rcr word [m], 1 with CF clear: 0x7fff, CF = 1, OF = the top two bits differ = 1. */
	asm volatile("clc; rcrw $1, (%[m]); pushfq; popq %[fl]" : [fl] "=r"(fl) : [m] "r"(m) : "memory", "cc");
	expect((fl & (FL_CF | FL_OF)) == (FL_CF | FL_OF), "rcr word [mmio], 1: rflags", fl);

	/* div dword [m]: 10 / 0xffffffff = 0 rem 10; mul dword [m]: 2 * 0xffffffff = 1:fffffffe, CF = OF = 1. */
	a = 10;
	d = 0;
	asm volatile("divl (%[m])" : "+a"(a), "+d"(d) : [m] "r"(m) : "memory", "cc");
	expect(a == 0 && d == 10, "div: remainder", d);
	a = 2;
	asm volatile("mull (%[m]); pushfq; popq %[fl]" : "+a"(a), "=d"(d), [fl] "=r"(fl) : [m] "r"(m) : "memory", "cc");
	expect(a == 0xfffffffe && d == 1 && (fl & FL_CF) && (fl & FL_OF), "mul: edx", d);
	asm volatile("imul $3, (%[m]), %%eax; pushfq; popq %[fl]"
		     : "=a"(a), [fl] "=r"(fl)
		     : [m] "r"(m)
		     : "memory", "cc");
	expect(a == 0xfffffffd && !(fl & FL_CF), "imul eax, [mmio], 3", a);

	a = 0x1234510;
	asm volatile("xlat" : "+a"(a) : "b"(m) : "memory");
	expect(a == 0x12345ff, "xlat", a);
	cpuid(1, 0, &eax, &ebx, &ecx, &edx);
	if (ecx & (1u << 22)) { /* MOVBE */
		a = 0;
		asm volatile("movbe (%[m]), %%ax" : "+a"(a) : [m] "r"(m) : "memory");
		expect(a == 0xffff, "movbe", a);
	} else {
		printf("mmio: no MOVBE on this CPU\n");
	}
	return 12;
}

/* A JMP through the device lands at 0xffffffffffffffff (canonical: bit 47 is set, and so are 63:48), where the
 * fetch faults: the #PF comes from the target with RIP and CR2 there, not from the JMP (SDM JMP; Vol. 3 6.15). */
static u64 jmp_resume;
static volatile u64 jmp_fault_rip, jmp_fault_cr2;

static void pf_at_jmp_target(struct trap_frame *f)
{
	if (f->rip != ~0ULL)
		trap_fatal(f);
	jmp_fault_rip = f->rip;
	jmp_fault_cr2 = read_cr2();
	f->rip = jmp_resume;
}

/* PUSH and POP through memory, and a JMP through it. */
static u64 stack_and_branch(u64 m)
{
	u64 a = 0;

	asm volatile("pushq (%[m]); popq %[a]" : [a] "=r"(a) : [m] "r"(m) : "memory");
	expect(a == ~0ULL, "push [mmio]; pop", a);
	asm volatile("pushq $0x1234; popq (%[m])" ::[m] "r"(m) : "memory");
	trap_set_handler(14, pf_at_jmp_target);
	asm volatile("leaq 1f(%%rip), %%rax; movq %%rax, %[resume]; jmp *(%[m]); 1:"
		     : [resume] "=m"(jmp_resume)
		     : [m] "r"(m)
		     : "rax", "memory");
	trap_set_handler(14, NULL);
	expect(jmp_fault_rip == ~0ULL && jmp_fault_cr2 == ~0ULL, "jmp [mmio]: the fetch at the target faults: rip",
	       jmp_fault_rip);
	return 3;
}

/* STR stores to the device; the SSE moves load and store 16 bytes (as 8-byte device accesses). */
static u64 system_and_vector(u64 m)
{
	u64 a = 0;

	/* Not SMSW: under shadow paging on SVM the CR0 read intercept catches it, and that backend does not decode it
	 * yet (an unhandled exit), before any MMIO access. */
	asm volatile("str 2(%[m])" ::[m] "r"(m) : "memory");
	/* SSE on: CR4.OSFXSR and OSXMMEXCPT, CR0.EM clear and MP set. */
	write_cr4(read_cr4() | (1u << 9) | (1u << 10));
	write_cr0((read_cr0() & ~(1ULL << 2)) | (1u << 1));
	asm volatile("pxor %%xmm0, %%xmm0; movdqu 1(%[m]), %%xmm0; movq %%xmm0, %[a]"
		     : [a] "=r"(a)
		     : [m] "r"(m)
		     : "memory");
	expect(a == ~0ULL, "movdqu xmm0, [mmio+1]: low quadword", a);
	asm volatile(
	    "pxor %%xmm1, %%xmm1; movdqa %%xmm1, 0x20(%[m]); movdqa 0x20(%[m]), %%xmm1; movhlps %%xmm1, %%xmm1;"
	    "movq %%xmm1, %[a]"
	    : [a] "=r"(a)
	    : [m] "r"(m)
	    : "memory");
	expect(a == ~0ULL, "movdqa store then load: high quadword", a);
	asm volatile("movd (%[m]), %%xmm2; movq %%xmm2, %[a]" : [a] "=r"(a) : [m] "r"(m) : "memory");
	expect(a == 0xffffffff, "movd xmm2, [mmio] zero-extends", a);
	return 1 + 2 + 2 + 2 + 1;
}

int test_main(void)
{
	u64 addr = 0xc0000000;
	zero = cmdline_has("unbacked=zero");
	cmdline_u64("addr", &addr);
	if (addr >= 4 * GiB || (addr & 0xfff))
		test_fail("addr=0x%lx: want a page-aligned address below 4 GiB", addr);
	if (mmap_overlaps(addr, addr + PAGE_SIZE))
		test_fail("0x%lx is inside the memory map: not an unbacked address", addr);

	bool counters = counters_available();
	u64 before = counters ? stat_read(VM_STAT_MMIO_EXITS) : 0;
	static const int sizes[] = {1, 2, 4, 8};
	for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++) {
		expect_unbacked(addr, sizes[i], "read");
		expect_unbacked(addr + 0x10 + sizes[i], sizes[i], "read at an offset");
		expect_unbacked(addr + PAGE_SIZE - sizes[i], sizes[i], "read at the page end");
	}
	for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++) {
		int size = sizes[i];
		u64 marker = 0x1122334455667788ULL & ones(size);
		if (probe_write(addr + 0x100, size, marker))
			test_fail("%d-byte write at 0x%lx faulted (vector %u)", size, addr + 0x100, fault.taken - 1);
		accesses++;
		for (unsigned j = 0; j < ARRAY_SIZE(sizes); j++)
			expect_unbacked(addr + 0x100, sizes[j], "read after write");
	}
	/* Still running correctly after the exits: registers and memory hold across them. */
	u64 x = 1;
	for (int i = 0; i < 1000; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		if (i % 100 == 0)
			expect_unbacked(addr + 0x200, 8, "read in a loop");
	}
	if (x != 0xf517ff66df0cbea9ULL)
		test_fail("computation across MMIO exits gave 0x%lx, want 0xf517ff66df0cbea9", x);

	/* The emulator's other instructions, on the all-ones device (not against plain QEMU's zeros). */
	if (!zero) {
		u64 m = addr + 0x400;
		accesses += string_compares(m);
		accesses += compare_exchanges(m + 0x100);
		accesses += integer_ops(m + 0x200);
		accesses += stack_and_branch(m + 0x300);
		accesses += system_and_vector(m + 0x380);
		printf("mmio: %lu emulated-instruction results differed\n", emu_failures);
		if (emu_failures)
			test_fail("%lu emulated instructions gave results hardware would not", emu_failures);
	}

	u64 after = counters ? stat_read(VM_STAT_MMIO_EXITS) : 0;
	printf("mmio: %lu accesses at 0x%lx, %lu not %s\n", accesses, addr, mismatches, zero ? "zeros" : "all ones");
	if (mismatches)
		test_fail("%lu of %lu accesses at 0x%lx did not read as %s", mismatches, accesses, addr,
			  zero ? "zeros" : "all ones");

	if (!counters) {
		printf("mmio: MMIO_EXITS not checked: no test device\n");
		test_pass();
	}
	printf("mmio: MMIO_EXITS %lu -> %lu (+%lu)\n", before, after, after - before);
	if (after - before < accesses)
		test_fail("MMIO_EXITS grew by %lu for %lu accesses", after - before, accesses);
	test_pass();
}
