/* insnlen: intercepted instructions with odd but valid prefixes, in every paging mode, and RIP must land right after
 * each. On SVM without NRIPS (QEMU -cpu max) the hypervisor finds the length by fetching and decoding the instruction
 * through the guest's paging and CS; VMX reports it in the exit (a sanity run there).
 *
 * Each case runs a generated stub: set EAX/EBX/ECX/EDX/EDI, the instruction under test, then sixteen one-byte SCASBs
 * (each moves EDI by one), then store the registers and RET. A length too long skips SCASBs (EDI short of +16); too
 * short re-executes the instruction's tail as other code (wrong registers, or a fault); 0 ends the VM. The registers
 * must hold what the same instruction gives without prefixes. Prefix rules: SDM Vol. 2A 2.1.1 (legacy prefixes, any
 * order, 15 bytes at most) and 2.2.1 (a REX not right before the opcode is ignored; of several, the last counts);
 * APM Vol. 3 1.2.
 *
 * Phases, one TEST line each: insnlen_long (4-level paging, with the 64-bit-only REX cases), insnlen_nopaging,
 * insnlen_paging32 (4K pages), insnlen_pse (4M pages), insnlen_pae (2M pages, EFER.NXE). Each 32-bit phase also runs
 * an intercepted instruction in a code segment with a base and a limit that ends at its last byte (phase_cs_limit).
 * The three 32-bit paged phases and the long one also run the stale-TLB straddle: an intercepted instruction crossing
 * from page A into page B after the guest cleared B's PTE without INVLPG. SDM Vol. 3A 4.10.4.3 lets the CPU use either
 * the old translation (the stub runs) or the new one (#PF, CR2 = B, error code: not present, I/D where 4.7 reports it);
 * a hypervisor that must refetch the instruction for its length (SVM without NRIPS) sees the new one and injects that
 * #PF; a CPU that completes the instruction may fault on the next fetch, right after it. Each outcome is checked in
 * full. The long phase also remaps a cached instruction's page to other code at the same RIP. 5-level paging is not run
 * here (tests/guests/ptstorm/la57.c runs it, where the CPU has it); the walker's LA57 path, which the length fetch
 * shares with every emulated access, is unit-tested (test_gwalk_la57). */
#include "guest.h"
#include "mode32.h"
#include "user.h"

const char test_name[] = "insnlen";

#define MSR_EFER      0xc0000080
#define MSR_APIC_BASE 0x1b
#define EFER_LME      (1ULL << 8)
#define EFER_LMA      (1ULL << 10)
#define EFER_NXE      (1ULL << 11)
#define CR0_PG	      (1ULL << 31)
#define CR4_PSE	      (1ULL << 4)
#define CR4_PAE	      (1ULL << 5)
#define CR4_PGE	      (1ULL << 7)
#define CR4_PCIDE     (1ULL << 17)
#define CR4_SMEP      (1ULL << 20)
#define CR4_SMAP      (1ULL << 21)
#define CR4_PKE	      (1ULL << 22)
#define EBX_SENTINEL  0x5a5a5a5au
#define EDX_SENTINEL  0xa5a5a5a5u
#define NSCAS	      16
#define STUB_HEAD     26	  /* bytes before the instruction under test */
#define MAP_TOP	      (32u << 20) /* the 32-bit tables identity-map 0..32 MiB (the VM has 32 MiB) */
#define WIN32	      0x40000000u /* the straddle window in the 32-bit tables: page A, then page B */

enum kind { CPUID0, RDMSR_APIC, WBINVD };

struct icase {
	const char *name;
	enum kind kind;
	bool only64; /* REX prefixes: 40-4F are INC/DEC outside 64-bit mode */
	u8 n;
	u8 b[15];
};

/* clang-format off */
#define IC(nm, k, o64, ...) { .name = nm, .kind = k, .only64 = o64, .n = sizeof((u8[]){__VA_ARGS__}), .b = {__VA_ARGS__} }
/* clang-format on */

static const struct icase cases[] = {
    IC("cpuid", CPUID0, false, 0x0f, 0xa2),
    IC("66 cpuid", CPUID0, false, 0x66, 0x0f, 0xa2),
    IC("ten segment/size/rep prefixes cpuid", CPUID0, false, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf2, 0xf3,
       0x0f, 0xa2),
    IC("15-byte cpuid", CPUID0, false, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf2, 0xf3, 0x26, 0x2e, 0x36,
       0x0f, 0xa2),
    IC("ds rdmsr", RDMSR_APIC, false, 0x3e, 0x0f, 0x32),
    IC("67 66 f3 rdmsr", RDMSR_APIC, false, 0x67, 0x66, 0xf3, 0x0f, 0x32),
    IC("cs 66 wbinvd", WBINVD, false, 0x2e, 0x66, 0x0f, 0x09),
    IC("67 rex.w rex cpuid", CPUID0, true, 0x67, 0x48, 0x40, 0x0f, 0xa2),
    IC("rex rex.w rdmsr", RDMSR_APIC, true, 0x40, 0x48, 0x0f, 0x32),
    IC("rex.w 66 cpuid (REX ignored)", CPUID0, true, 0x48, 0x66, 0x0f, 0xa2),
    IC("eight REX cpuid", CPUID0, true, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x0f, 0xa2),
    IC("rex.wrxb f3 cs rex.wrxb rdmsr", RDMSR_APIC, true, 0x4f, 0xf3, 0x2e, 0x4f, 0x0f, 0x32),
    IC("15-byte rex cpuid", CPUID0, true, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf2, 0xf3, 0x48, 0x2e, 0x41,
       0x0f, 0xa2),
};

/* Page 0: the identity-mapped stub; pages 1 and 2: the straddle stub's A and B. */
static u8 code[3][4096] __attribute__((aligned(4096)));
static volatile u32 res[5]; /* EAX EBX ECX EDX EDI as the stub left them */
static u8 scanbuf[64];
static u32 expect_cpuid[4], expect_apic[2];
static unsigned int failures;

static void bad(const char *fmt, ...) __printf(1, 2);
static void bad(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("insnlen: FAIL: ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	failures++;
}

static void phase_end(const char *name, unsigned int before)
{
	if (failures == before)
		printf("TEST insnlen_%s PASS\n", name);
	else
		printf("TEST insnlen_%s FAIL %u case(s)\n", name, failures - before);
}

static u8 *put_imm(u8 *p, u8 op, u32 v)
{
	*p++ = op;
	memcpy(p, &v, 4);
	return p + 4;
}

/* MOV [disp32], reg32 through a SIB with neither base nor index: absolute in 32- and 64-bit mode alike. */
static u8 *put_store(u8 *p, u8 reg, u32 addr)
{
	*p++ = 0x89;
	*p++ = (u8)(reg << 3 | 4);
	*p++ = 0x25;
	memcpy(p, &addr, 4);
	return p + 4;
}

/* The stub at `at` (identity-mapped in every mode: it runs at its own address). */
static void build_stub(u8 *at, const struct icase *c)
{
	u8 *p = at;
	u32 eax = c->kind == CPUID0 ? 0 : 0x1234, ecx = c->kind == RDMSR_APIC ? MSR_APIC_BASE : 0;

	p = put_imm(p, 0xb8, eax);
	p = put_imm(p, 0xb9, ecx);
	p = put_imm(p, 0xbb, EBX_SENTINEL);
	p = put_imm(p, 0xba, EDX_SENTINEL);
	p = put_imm(p, 0xbf, (u32)(u64)scanbuf);
	*p++ = 0xfc; /* CLD */
	memcpy(p, c->b, c->n);
	p += c->n;
	memset(p, 0xae, NSCAS); /* SCASB */
	p += NSCAS;
	static const u8 regs[5] = {0, 3, 1, 2, 7}; /* EAX EBX ECX EDX EDI */
	for (int i = 0; i < 5; i++)
		p = put_store(p, regs[i], (u32)(u64)&res[i]);
	*p = 0xc3; /* RET */
}

static void check_result(const char *mode, const struct icase *c)
{
	u32 want[5] = {0, EBX_SENTINEL, 0, EDX_SENTINEL, (u32)(u64)scanbuf + NSCAS};

	switch (c->kind) {
	case CPUID0:
		memcpy(want, expect_cpuid, sizeof(expect_cpuid));
		break;
	case RDMSR_APIC:
		want[0] = expect_apic[0];
		want[2] = MSR_APIC_BASE;
		want[3] = expect_apic[1];
		break;
	case WBINVD:
		want[0] = 0x1234;
		break;
	}
	if (res[4] != want[4])
		bad("%s: %s: RIP landed %d byte(s) off (EDI moved %d of %d)", mode, c->name, (int)(want[4] - res[4]),
		    (int)(res[4] - (u32)(u64)scanbuf), NSCAS);
	for (int i = 0; i < 4; i++)
		if (res[i] != want[i]) {
			bad("%s: %s: register %d is 0x%x, not 0x%x", mode, c->name, i, res[i], want[i]);
			break;
		}
}

/* ---- 4-level paging, from the 64-bit guest itself ---- */

static volatile bool pf_armed;
static volatile u64 pf_cr2, pf_error, pf_rip;

/* A #PF inside a stub: note it and return from the stub (nothing is pushed on the stack before the fault). */
static void stub_pf(struct trap_frame *f)
{
	if (!pf_armed)
		trap_fatal(f);
	pf_armed = false;
	pf_cr2 = read_cr2();
	pf_error = f->error;
	pf_rip = f->rip;
	f->rip = *(u64 *)f->rsp;
	f->rsp += 8;
}

static void call_stub(u64 at)
{
	asm volatile("call *%0" : : "r"(at) : "rax", "rbx", "rcx", "rdx", "rdi", "memory", "cc");
}

/* The straddle case: the instruction (66 0F A2) has its first two bytes at the end of A, its last at B's start. */
static const struct icase straddle = IC("straddling cs cpuid", CPUID0, false, 0x2e, 0x66, 0x0f, 0xa2);
#define STRADDLE_IN_A 3

static u32 straddle_offset(void)
{
	return 4096 - STUB_HEAD - STRADDLE_IN_A;
}

/* Each outcome of the stale translation, checked in full: the stub ran (results right); or #PF at the instruction
 * with CR2 = B (the new translation, as the refetch for the length sees it); or the instruction completed with the
 * old translation and the next fetch, right after it, took the #PF there (Bochs: its exit dropped the stale entry),
 * which also proves the length. The error code is that of a not-present supervisor fetch. rip 0: not known (the
 * 32-bit script records CR2 only). */
static void check_straddle(const char *mode, bool faulted, u64 cr2, u64 error, u64 rip, u64 a, u64 b, u32 want_ec)
{
	if (!faulted) {
		check_result(mode, &straddle);
		return;
	}
	u64 insn = a + straddle_offset() + STUB_HEAD, end = insn + straddle.n;
	bool at_insn = cr2 == b && (!rip || rip == insn), after = cr2 == end && (!rip || rip == end);
	if ((!at_insn && !after) || error != want_ec)
		bad("%s: straddle: #PF with CR2 0x%llx error 0x%llx at 0x%llx, want error 0x%x and CR2 0x%llx at "
		    "0x%llx "
		    "or CR2 0x%llx after it",
		    mode, (unsigned long long)cr2, (unsigned long long)error, (unsigned long long)rip, want_ec,
		    (unsigned long long)b, (unsigned long long)insn, (unsigned long long)end);
	else
		printf("insnlen: %s: straddle over a stale PTE: #PF %s (CR2 0x%llx error 0x%llx)\n", mode,
		       at_insn ? "at the instruction" : "right after it", (unsigned long long)cr2,
		       (unsigned long long)error);
}

static void phase_long(void)
{
	unsigned int before = failures;

	for (unsigned int i = 0; i < ARRAY_SIZE(cases); i++) {
		memset((void *)res, 0, sizeof(res));
		build_stub(code[0], &cases[i]);
		call_stub((u64)code[0]);
		check_result("long", &cases[i]);
	}

	/* The straddle through 4K windows: A and B adjacent in linear space, pages 1 and 2 of code[] behind them. */
	u64 a = win_map(1, 40, (u64)code[1], PTE_W), b = win_map(1, 41, (u64)code[2], PTE_W);
	u8 *stub_pa = code[1] + straddle_offset();
	if (b != a + 4096)
		test_fail("windows 40 and 41 are not adjacent");
	u64 efer = rdmsr(MSR_EFER);
	wrmsr(MSR_EFER, efer | EFER_NXE); /* so that the #PF error code reports the fetch (SDM 4.7) */
	/* build_stub writes through the identity map: the code pages are contiguous there too. */
	build_stub(stub_pa, &straddle);
	memset((void *)res, 0, sizeof(res));
	call_stub(a + straddle_offset());
	check_result("long, straddle warm-up", &straddle);
	memset((void *)res, 0, sizeof(res));
	*pt_entry(b, 1, false) = 0; /* B not present, and no INVLPG */
	trap_set_handler(14, stub_pf);
	pf_armed = true;
	call_stub(a + straddle_offset());
	bool faulted = !pf_armed;
	pf_armed = false;
	trap_set_handler(14, NULL);
	check_straddle("long", faulted, pf_cr2, pf_error, pf_rip, a, b, 0x10);
	wrmsr(MSR_EFER, efer);
	pt_map(b, (u64)code[2], 1, PTE_W);
	invlpg(b);

	/* Without NRIPS the length comes from a per-vCPU cache keyed by RIP and CR3 (vm/insn_len_cache.c), guarded by
	 * the fetch's paging entries and the bytes. Here the same linear address is remapped to other code while the
	 * old bytes stay as they were: a guard on the bytes alone would step over 2 bytes of a 12-byte instruction. */
	u64 w = win_map(1, 42, (u64)code[1], PTE_W);
	build_stub(code[1], &cases[0]);
	for (int k = 0; k < 3; k++) { /* the first fills the cache, the others hit it */
		memset((void *)res, 0, sizeof(res));
		call_stub(w);
		check_result("long, remap warm-up", &cases[0]);
	}
	build_stub(code[2], &cases[2]);
	pt_map(w, (u64)code[2], 1, PTE_W);
	invlpg(w);
	memset((void *)res, 0, sizeof(res));
	call_stub(w);
	check_result("long, the same RIP remapped to other code", &cases[2]);
	phase_end("long", before);
}

/* ---- 32-bit protected mode: no paging, 32-bit paging with 4K or 4M pages, PAE ---- */

static u32 pd32[1024] __attribute__((aligned(4096)));
static u32 pt32[MAP_TOP >> 22][1024] __attribute__((aligned(4096)));
static u32 ptw32[1024] __attribute__((aligned(4096)));
static u64 pdpt[4] __attribute__((aligned(32)));
static u64 pd_pae[512] __attribute__((aligned(4096)));
static u64 pdw_pae[512] __attribute__((aligned(4096)));
static u64 ptw_pae[512] __attribute__((aligned(4096)));
static struct m32_op ops[4];

enum pmode { NOPAGING, PAGING32, PSE, PAE };

static void build_tables(enum pmode m)
{
	memset(pd32, 0, sizeof(pd32));
	memset(ptw32, 0, sizeof(ptw32));
	memset(pdpt, 0, sizeof(pdpt));
	memset(pd_pae, 0, sizeof(pd_pae));
	memset(pdw_pae, 0, sizeof(pdw_pae));
	memset(ptw_pae, 0, sizeof(ptw_pae));
	switch (m) {
	case PAGING32:
		for (u32 t = 0; t < ARRAY_SIZE(pt32); t++) {
			for (u32 i = 0; i < 1024; i++)
				pt32[t][i] = (t << 22 | i << 12) | 0x3;
			pd32[t] = (u32)(u64)pt32[t] | 0x3;
		}
		break;
	case PSE:
		for (u32 t = 0; t < MAP_TOP >> 22; t++)
			pd32[t] = t << 22 | 0x83; /* P W PS */
		break;
	case PAE:
		/* PDPTEs hold only P and the address (SDM 4.4.1: bits 2:1 and 8:5 reserved). */
		pdpt[0] = (u64)pd_pae | 1;
		pdpt[1] = (u64)pdw_pae | 1;
		for (u32 i = 0; i < MAP_TOP >> 21; i++)
			pd_pae[i] = (u64)i << 21 | 0x83;
		pdw_pae[0] = (u64)ptw_pae | 0x3;
		ptw_pae[0] = (u64)code[1] | 0x3;
		ptw_pae[1] = (u64)code[2] | 0x3;
		break;
	default:
		break;
	}
	if (m == PAGING32 || m == PSE) {
		pd32[WIN32 >> 22] = (u32)(u64)ptw32 | 0x3;
		ptw32[0] = (u32)(u64)code[1] | 0x3;
		ptw32[1] = (u32)(u64)code[2] | 0x3;
	}
}

static bool run32_params(enum pmode m, struct m32_op *script, struct m32_params *p)
{
	u32 cr4 = (u32)(read_cr4() & ~(CR4_PCIDE | CR4_PGE | CR4_PAE | CR4_PSE | CR4_SMEP | CR4_SMAP | CR4_PKE));

	*p = (struct m32_params){0};
	p->cr0 = (u32)read_cr0();
	if (m == NOPAGING)
		p->cr0 &= ~(u32)CR0_PG;
	p->cr3 = m == PAE ? (u32)(u64)pdpt : (u32)(u64)pd32;
	p->cr4 = cr4 | (m == PSE ? CR4_PSE : 0) | (m == PAE ? CR4_PAE : 0);
	p->efer = (u32)(rdmsr(MSR_EFER) & ~(EFER_LME | EFER_LMA | EFER_NXE)) | (m == PAE ? EFER_NXE : 0);
	p->ops = (u32)(u64)script;
	return mode32_run(p);
}

static bool run32(enum pmode m, struct m32_op *script, const char *mode)
{
	struct m32_params p;

	if (run32_params(m, script, &p))
		return true;
	bad("%s: vector %u (error 0x%x) at 0x%x, CR2 0x%x", mode, p.fatal_vector - 1, p.fatal_error, p.fatal_eip,
	    p.fatal_cr2);
	return false;
}

static void phase_cs_limit(enum pmode m, const char *name);

static void phase32(enum pmode m, const char *name)
{
	unsigned int before = failures;

	build_tables(m);
	for (unsigned int i = 0; i < ARRAY_SIZE(cases); i++) {
		if (cases[i].only64)
			continue;
		memset((void *)res, 0, sizeof(res));
		build_stub(code[0], &cases[i]);
		ops[0] = (struct m32_op){.kind = M32_FETCH, .addr = (u32)(u64)code[0]};
		ops[1] = (struct m32_op){.kind = M32_END};
		if (!run32(m, ops, name))
			continue;
		if (ops[0].fault)
			bad("%s: %s: vector %u (error 0x%x, CR2 0x%x)", name, cases[i].name, ops[0].fault - 1,
			    ops[0].error, ops[0].cr2);
		else
			check_result(name, &cases[i]);
	}
	if (m != NOPAGING) {
		/* Warm-up through the window, B's PTE cleared (its low half: P is there in PAE too), then again. */
		u32 a = WIN32, b = WIN32 + 4096;
		u32 pte_b = m == PAE ? (u32)(u64)&ptw_pae[1] : (u32)(u64)&ptw32[1];
		build_stub(code[1] + straddle_offset(), &straddle);
		memset((void *)res, 0, sizeof(res));
		ops[0] = (struct m32_op){.kind = M32_FETCH, .addr = a + straddle_offset()};
		ops[1] = (struct m32_op){.kind = M32_STORE32, .addr = pte_b, .lo = 0};
		ops[2] = (struct m32_op){.kind = M32_FETCH, .addr = a + straddle_offset()};
		ops[3] = (struct m32_op){.kind = M32_END};
		if (run32(m, ops, name)) {
			if (ops[0].fault)
				bad("%s: straddle warm-up: vector %u", name, ops[0].fault - 1);
			/* I/D is reported with PAE and EFER.NXE (set here), never by 32-bit paging without SMEP. */
			check_straddle(name, ops[2].fault != 0, ops[2].cr2, ops[2].error, 0, a, b, m == PAE ? 0x10 : 0);
			if (ops[2].fault && ops[2].fault != 15)
				bad("%s: straddle: vector %u, not #PF", name, ops[2].fault - 1);
		}
	}
	phase_cs_limit(m, name);
	phase_end(name, before);
}

/* ---- CS base and limit (32-bit protected mode) ---- */

/* A code segment whose base is not 0 and whose limit ends at the last byte of an intercepted instruction: the length
 * fetch must read the bytes at CS.base + EIP and must not fault on the bytes past the limit (the instruction does
 * not need them); then the CPU's own fetch of the next instruction is #GP(0) at EIP = limit + 1 (SDM Vol. 3A 5.3),
 * which proves RIP advanced by exactly the length. The stub far-calls into the segment; the #GP ends the script.
 * (INT3s follow the instruction, for QEMU's TCG, which does not check the limit on fetches: its #BP is the proof.) */
#define SEL_LIMITED 0x48
#define LIM_OFF	    0x100 /* EIP of the instruction in the limited segment */
#define LIM_AT	    0x800 /* and its place in code[0] */
static u64 gdt_copy[10] __attribute__((aligned(16)));

struct dtr64 {
	u16 limit;
	u64 base;
} __attribute__((packed));

static void install_limited_cs(u32 base, u32 limit)
{
	struct dtr64 d;

	user_init(); /* the GDT mode32 runs on: copy it and add one descriptor */
	asm volatile("sgdt %0" : "=m"(d));
	if (d.base != (u64)gdt_copy) {
		if ((u32)d.limit + 1 > SEL_LIMITED)
			test_fail("the GDT has %u bytes: no room for a test descriptor", d.limit + 1);
		memcpy(gdt_copy, (const void *)d.base, d.limit + 1);
		d.base = (u64)gdt_copy;
	}
	d.limit = sizeof(gdt_copy) - 1;
	/* 32-bit code, execute/read, DPL 0, present, byte granular. */
	gdt_copy[SEL_LIMITED / 8] = (limit & 0xffff) | (u64)(base & 0xffffff) << 16 | 0x9aULL << 40 |
				    (u64)((limit >> 16) & 0xf) << 48 | 0x4ULL << 52 | (u64)(base >> 24) << 56;
	asm volatile("lgdt %0" : : "m"(d) : "memory");
}

static void phase_cs_limit(enum pmode m, const char *name)
{
	static const struct icase c = IC("cs-limited 66 cs cpuid", CPUID0, false, 0x66, 0x2e, 0x0f, 0xa2);
	u32 base = (u32)(u64)code[0] + LIM_AT - LIM_OFF;
	u8 *p = code[0];
	struct m32_params prm = {0};

	install_limited_cs(base, LIM_OFF + c.n - 1);
	memset(code[0], 0xcc, sizeof(code[0]));
	build_stub(p, &c); /* the same head; the instruction itself is replaced by the far call */
	p += STUB_HEAD;
	*p++ = 0x9a; /* CALL ptr16:32 */
	u32 off = LIM_OFF;
	memcpy(p, &off, 4);
	p[4] = SEL_LIMITED;
	p[5] = 0;
	memcpy(code[0] + LIM_AT, c.b, c.n);
	ops[0] = (struct m32_op){.kind = M32_FETCH, .addr = (u32)(u64)code[0]};
	ops[1] = (struct m32_op){.kind = M32_END};
	build_tables(m);
	bool ran = run32_params(m, ops, &prm);
	if (!ran && prm.fatal_vector == 13 + 1 && prm.fatal_error == 0 && prm.fatal_eip == (u32)(LIM_OFF + c.n))
		return;
	/* QEMU's TCG does not check CS's limit on instruction fetches: it runs the INT3 past the limit, whose #BP
	 * (a trap) reports the EIP after it. Still exactly one byte past the instruction. */
	if (!ran && prm.fatal_vector == 3 + 1 && prm.fatal_eip == (u32)(LIM_OFF + c.n + 1))
		return;
	bad("%s: %s: want #GP(0) at EIP 0x%x past the limit, got %s vector %d error 0x%x at EIP 0x%x", name, c.name,
	    LIM_OFF + c.n, prm.fatal_vector ? "" : "no fault,", (int)prm.fatal_vector - 1, prm.fatal_error,
	    prm.fatal_eip);
}

int test_main(void)
{
	u32 a, b, c, d;

	cpuid(0, 0, &a, &b, &c, &d);
	expect_cpuid[0] = a;
	expect_cpuid[1] = b;
	expect_cpuid[2] = c;
	expect_cpuid[3] = d;
	u64 apic = rdmsr(MSR_APIC_BASE);
	expect_apic[0] = (u32)apic;
	expect_apic[1] = (u32)(apic >> 32);
	if ((u64)code[2] + 4096 > MAP_TOP || (u64)&res[4] > MAP_TOP)
		test_fail("the image is above the 32-bit tables' %u MiB", MAP_TOP >> 20);

	phase_long();
	phase32(NOPAGING, "nopaging");
	phase32(PAGING32, "paging32");
	phase32(PSE, "pse");
	phase32(PAE, "pae");
	if (failures)
		test_fail("%u case(s)", failures);
	test_pass();
}
