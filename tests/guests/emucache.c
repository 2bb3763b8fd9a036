/* emucache: the hypervisor's cache of decoded MMIO instructions (vm/mmio_fast.c) must be invisible to the guest.
 * Each phase runs the same instruction at the same address several times, so that all but the first go through the
 * cache, and checks what the guest sees:
 *   hits   a MOV loop on unbacked MMIO (all ones): every read right, and (under TDP) the cache used;
 *   forms  the moves of the fast path (89, C7, 8A into AH, MOVSX, MOVZX, 66 8B, A1/A3 moffs) on the LAPIC's TPR;
 *   smc    the instruction rewritten in place between two runs, opcode or a displacement byte: the new one runs
 *          (SDM Vol. 3A 8.1.3: a store to code is seen by the instruction fetched after it on the same processor);
 *   remap  the code's linear page remapped to another frame holding another instruction, with INVLPG: the new
 *          frame's instruction runs (SDM Vol. 3A 4.10.4.1: after INVLPG no translation older than the change is
 *          used), though the old frame's bytes never changed.
 * `nocache` (shadow paging, where MMIO exits do not use the cache) drops the counter checks of the cache itself. */
#include "guest.h"

const char test_name[] = "emucache";

#define LAPIC_PA  0xfee00000ULL
#define LAPIC_TPR 0x80
#define LAPIC_VER 0x30
#define RUNS	  3

static u64 unbacked = 0xc0000000;
static bool cache_expected;
static u8 code[2 * PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));

/* Call the snippet at va (its instructions, then RET) with RDI, RAX and RCX set; RAX after it. */
static u64 run(u64 va, u64 rdi, u64 rax, u64 rcx)
{
	asm volatile("call *%[f]" : "+a"(rax), "+c"(rcx) : [f] "r"(va), "D"(rdi) : "memory", "cc");
	return rax;
}

/* After a store to code: CPUID serializes, as SDM Vol. 3A 8.1.3 asks of code that another processor may have
 * fetched (here it is our own, for which the call that follows would do). */
static void serialize(void)
{
	u32 a, b, c, d;

	cpuid(0, 0, &a, &b, &c, &d);
}

/* Put a snippet at p: len bytes, then RET. */
static u64 put(u8 *p, const u8 *bytes, unsigned int len)
{
	for (unsigned int i = 0; i < len; i++)
		((volatile u8 *)p)[i] = bytes[i];
	((volatile u8 *)p)[len] = 0xc3;
	serialize();
	return (u64)p;
}

static u32 tpr(void)
{
	return *(volatile u32 *)(LAPIC_PA + LAPIC_TPR);
}

static void set_tpr(u32 v)
{
	*(volatile u32 *)(LAPIC_PA + LAPIC_TPR) = v;
}

static void expect(const char *phase, const char *what, u64 got, u64 want)
{
	if (got != want)
		test_fail("%s: %s gave 0x%lx, want 0x%lx", phase, what, got, want);
}

static u64 hits(void)
{
	return stat_read(VM_STAT_EMU_CACHE_HITS);
}

static u64 stale(void)
{
	return stat_read(VM_STAT_EMU_CACHE_STALE);
}

static void phase_hits(void)
{
	u64 h = hits(), exits = stat_read(VM_STAT_MMIO_EXITS);

	for (int i = 0; i < 64; i++)
		expect("hits", "mov eax, [unbacked]", *(volatile u32 *)unbacked, 0xffffffff);
	h = hits() - h;
	exits = stat_read(VM_STAT_MMIO_EXITS) - exits;
	printf("emucache: hits: 64 reads, %lu MMIO exits, %lu from the cache\n", exits, h);
	if (exits != 64)
		test_fail("hits: %lu MMIO exits for 64 reads", exits);
	if (cache_expected && h < 63)
		test_fail("hits: only %lu of 64 reads at one RIP came from the cache", h);
	printf("TEST emucache_hits PASS\n");
}

/* Each form RUNS times from one address: the first decodes, the others run from the cache. */
static void phase_forms(void)
{
	static const u8 st_reg[] = {0x89, 0x8f, 0x80, 0, 0, 0};		      /* mov [rdi + 0x80], ecx */
	static const u8 st_imm[] = {0xc7, 0x87, 0x80, 0, 0, 0, 0x70, 0, 0, 0}; /* mov dword [rdi + 0x80], 0x70 */
	static const u8 ld_ah[] = {0x8a, 0xa7, 0x80, 0, 0, 0};		      /* mov ah, [rdi + 0x80] */
	static const u8 ld_sx[] = {0x48, 0x0f, 0xbe, 0x87, 0x80, 0, 0, 0};    /* movsx rax, byte [rdi + 0x80] */
	static const u8 ld_zx[] = {0x0f, 0xb7, 0x87, 0x80, 0, 0, 0};	      /* movzx eax, word [rdi + 0x80] */
	static const u8 ld_16[] = {0x66, 0x8b, 0x87, 0x80, 0, 0, 0};	      /* mov ax, [rdi + 0x80] */
	u8 ld_moffs[9] = {0xa1}, st_moffs[9] = {0xa3};			      /* mov eax, [moffs64]; mov [moffs64], eax */
	u64 h = hits(), addr = LAPIC_PA + LAPIC_TPR;

	for (int i = 0; i < 8; i++)
		ld_moffs[1 + i] = st_moffs[1 + i] = (u8)(addr >> (8 * i));
	u64 f_st_reg = put(code, st_reg, sizeof(st_reg)), f_st_imm = put(code + 0x40, st_imm, sizeof(st_imm));
	u64 f_ld_ah = put(code + 0x80, ld_ah, sizeof(ld_ah)), f_ld_sx = put(code + 0xc0, ld_sx, sizeof(ld_sx));
	u64 f_ld_zx = put(code + 0x100, ld_zx, sizeof(ld_zx)), f_ld_16 = put(code + 0x140, ld_16, sizeof(ld_16));
	u64 f_ld_mo = put(code + 0x180, ld_moffs, sizeof(ld_moffs));
	u64 f_st_mo = put(code + 0x1c0, st_moffs, sizeof(st_moffs));

	for (u32 i = 0; i < RUNS; i++) {
		u32 v = 0x40 + 0x10 * i;
		run(f_st_reg, LAPIC_PA, 0, v);
		expect("forms", "mov [tpr], ecx", tpr(), v);
		run(f_st_imm, LAPIC_PA, 0, 0);
		expect("forms", "mov dword [tpr], 0x70", tpr(), 0x70);
		set_tpr(v);
		expect("forms", "mov ah, [tpr]", run(f_ld_ah, LAPIC_PA, 0x1111, 0), 0x11 | (v << 8));
		set_tpr(0xf0 - i);
		expect("forms", "movsx rax, byte [tpr]", run(f_ld_sx, LAPIC_PA, 0, 0), (u64)(s64)(signed char)(0xf0 - i));
		expect("forms", "movzx eax, word [tpr]", run(f_ld_zx, LAPIC_PA, ~0ULL, 0), 0xf0 - i);
		expect("forms", "mov ax, [tpr]", run(f_ld_16, LAPIC_PA, 0xaaaabbbbccccddddULL, 0),
		       0xaaaabbbbcccc0000ULL | (0xf0 - i));
		expect("forms", "mov eax, [moffs64 tpr]", run(f_ld_mo, 0, ~0ULL, 0), 0xf0 - i);
		run(f_st_mo, 0, 0x20 + i, 0);
		expect("forms", "mov [moffs64 tpr], eax", tpr(), 0x20 + i);
	}
	set_tpr(0);
	h = hits() - h;
	printf("emucache: forms: 8 moves x %d runs, %lu from the cache\n", RUNS, h);
	if (cache_expected && h < 8 * (RUNS - 1))
		test_fail("forms: only %lu of %d runs came from the cache", h, 8 * (RUNS - 1));
	printf("TEST emucache_forms PASS\n");
}

static void phase_smc(void)
{
	static const u8 ld32[] = {0x8b, 0x07};				 /* mov eax, [rdi] */
	static const u8 ldzx[] = {0x0f, 0xb6, 0x07};			 /* movzx eax, byte [rdi] */
	static const u8 ld_tpr[] = {0x8b, 0x87, LAPIC_TPR, 0, 0, 0};	 /* mov eax, [rdi + 0x80] */
	u8 *p = code + 0x800;
	u64 s = stale(), f = put(p, ld32, sizeof(ld32));
	u32 ver = *(volatile u32 *)(LAPIC_PA + LAPIC_VER);

	for (int i = 0; i < RUNS; i++)
		expect("smc", "mov eax, [unbacked]", run(f, unbacked, 0, 0), 0xffffffff);
	put(p, ldzx, sizeof(ldzx)); /* another opcode at the same RIP */
	for (int i = 0; i < RUNS; i++)
		expect("smc", "movzx eax, byte [unbacked] written over it", run(f, unbacked, 0, 0), 0xff);
	set_tpr(0x50);
	put(p, ld_tpr, sizeof(ld_tpr));
	for (int i = 0; i < RUNS; i++)
		expect("smc", "mov eax, [lapic + 0x80]", run(f, LAPIC_PA, 0, 0), 0x50);
	((volatile u8 *)p)[2] = LAPIC_VER; /* one displacement byte */
	serialize();
	for (int i = 0; i < RUNS; i++)
		expect("smc", "mov eax, [lapic + 0x30] after a displacement write", run(f, LAPIC_PA, 0, 0), ver);
	set_tpr(0);
	s = stale() - s;
	printf("emucache: smc: 3 rewrites of one instruction, %lu stale cache entries caught\n", s);
	if (cache_expected && s < 3)
		test_fail("smc: %lu stale entries caught for 3 rewrites", s);
	printf("TEST emucache_smc PASS\n");
}

static void phase_remap(void)
{
	static const u8 ld_tpr[] = {0x8b, 0x87, LAPIC_TPR, 0, 0, 0}; /* mov eax, [rdi + 0x80] */
	static const u8 ld_ver[] = {0x8b, 0x87, LAPIC_VER, 0, 0, 0}; /* mov eax, [rdi + 0x30] */
	u64 a = ram_find_free(2 * PAGE_SIZE, PAGE_SIZE, 2 * MiB, 3 * GiB), b = a + PAGE_SIZE, s = stale();
	u32 ver = *(volatile u32 *)(LAPIC_PA + LAPIC_VER);

	if (!a)
		test_fail("remap: no two free RAM pages");
	put((u8 *)a + 0x100, ld_tpr, sizeof(ld_tpr));
	put((u8 *)b + 0x100, ld_ver, sizeof(ld_ver));
	set_tpr(0x60);
	for (int round = 0; round < 2; round++) {
		u64 va = win_map(1, 0, a, PTE_W) + 0x100; /* pt_map flushes with INVLPG */
		for (int i = 0; i < RUNS; i++)
			expect("remap", "the first frame's mov eax, [lapic + 0x80]", run(va, LAPIC_PA, 0, 0), 0x60);
		va = win_map(1, 0, b, PTE_W) + 0x100;
		for (int i = 0; i < RUNS; i++)
			expect("remap", "the second frame's mov eax, [lapic + 0x30]", run(va, LAPIC_PA, 0, 0), ver);
	}
	set_tpr(0);
	s = stale() - s;
	printf("emucache: remap: 3 remaps of the code page, %lu stale cache entries caught\n", s);
	if (cache_expected && s < 3)
		test_fail("remap: %lu stale entries caught for 3 remaps", s);
	printf("TEST emucache_remap PASS\n");
}

int test_main(void)
{
	cmdline_u64("addr", &unbacked);
	if (unbacked >= 4 * GiB || (unbacked & 0xfff) || mmap_overlaps(unbacked, unbacked + PAGE_SIZE))
		test_fail("addr=0x%lx: want a page-aligned unbacked address below 4 GiB", unbacked);
	if (!counters_available())
		test_fail("the cache's counters need the test device");
	cache_expected = !cmdline_has("nocache");
	phase_hits();
	phase_forms();
	phase_smc();
	phase_remap();
	test_pass();
}
