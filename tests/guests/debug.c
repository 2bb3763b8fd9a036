/* debug: debug exceptions and the debug registers as the guest sees them, where the hypervisor finishes
 * instructions the CPU left to it (every intercepted CPUID, IN/OUT, RDMSR/WRMSR, hypercall, MMIO access, HLT) or
 * injects the event itself. Each phase names the rule it checks:
 * - debug_dr: MOV to/from DR6/DR7 (SDM Vol. 3B 18.2.3/18.2.4; APM Vol. 2 13.1.1): fixed bits, #GP for bits 63:32 in
 *   64-bit mode, DR4/DR5 aliased to DR6/DR7 with CR4.DE clear and #UD with it set (SDM Vol. 2 "MOV--Move to/from
 *   Debug Registers"), DR7.GD: #DB (a fault, RIP at the MOV) with DR6.BD and GD cleared for the handler.
 * - debug_step: RFLAGS.TF over native and intercepted instructions: exactly one #DB after each, RIP after it,
 *   DR6 = 0xffff4ff0 (BS, SDM 18.3.1.4), RF clear in the frame.
 * - debug_rf: RF (SDM 18.3.1.1): a fault pushes RF = 1, whether the CPU raised it or the hypervisor injected it
 *   (WRMSR to a missing MSR); an instruction that completes clears RF, also when the hypervisor completed it: an
 *   IRET with RF set to a CPUID must not suppress the instruction breakpoint right after the CPUID.
 * - debug_int: INT1 (ICEBP, F1) raises #DB after it (a trap, DR6.B0-3/BS clear), INT3 #BP after it (SDM Vol. 2
 *   "INTn/INTO/INT3/INT1"; SDM Vol. 3C 25.8.3 / APM 15.20 for how a VMM delivers them).
 * - debug_bp: hardware breakpoints (SDM 18.2.4/18.3.1): an instruction breakpoint (fault, RIP at it, B0; RF in the
 *   frame resumes), a data write breakpoint (trap, RIP after, B1), an I/O breakpoint on OUT with CR4.DE (trap, B2),
 *   and a data breakpoint on an emulated MMIO read (trap, B3), which the CPU cannot see because it never did the
 *   access.
 * - debug_hlt: HLT with TF: the single-step #DB comes after the halt ends, at the HLT's next instruction, ahead of
 *   the interrupt that ended it (SDM Vol. 3C 26.3.1.5 allows HLT with a pending single-step).
 * Under plain QEMU (no hypervisor) it also runs, as the reference the emulator itself gives. */
#include "guest.h"

const char test_name[] = "debug";

#define CR4_DE	(1UL << 3)
#define RF	(1UL << 16)
#define TF	(1UL << 8)
#define DR6_BS	(1UL << 14)
#define DR6_BD	(1UL << 13)
#define DR6_FIX 0xffff0ff0UL
#define DR7_GD	(1UL << 13)
#define MMIO_VA 0xc0000000UL /* unbacked: every access exits and is emulated (the mmio guest uses it too) */

static unsigned int phase_failures, failures;
/* `tcg` (QEMU's TCG is the CPU): where the CPU's own behaviour deviates from the SDM/APM, note it, do not fail. */
static bool tcg;
/* `dr6lost` (Bochs' SVM): the CPU checks the #DB intercept before it writes the cause into DR6, so the #DBs the CPU
 * raises reach the guest with DR6 = 0xffff0ff0 (counted and noted, not failed). */
static bool dr6lost;
static unsigned int dr6_lost_count;

static void deviation(const char *what)
{
	printf("debug: note: the CPU itself (QEMU TCG) %s, against the SDM/APM\n", what);
}

static void bad(const char *fmt, ...) __printf(1, 2);
static void bad(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("debug: FAIL: ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	phase_failures++;
}

static void phase_end(const char *phase)
{
	if (phase_failures)
		printf("TEST debug_%s FAIL %u checks\n", phase, phase_failures);
	else
		printf("TEST debug_%s PASS\n", phase);
	failures += phase_failures;
	phase_failures = 0;
}

#define DEFINE_DR(n)                                                                                                   \
	static inline u64 get_dr##n(void)                                                                              \
	{                                                                                                              \
		u64 v;                                                                                                 \
		asm volatile("mov %%dr" #n ", %0" : "=r"(v));                                                          \
		return v;                                                                                              \
	}                                                                                                              \
	static inline void set_dr##n(u64 v)                                                                            \
	{                                                                                                              \
		asm volatile("mov %0, %%dr" #n ::"r"(v));                                                              \
	}
DEFINE_DR(0)
DEFINE_DR(1)
DEFINE_DR(2)
DEFINE_DR(3)
DEFINE_DR(6)
DEFINE_DR(7)

/* ---- the #DB and #BP handlers: a log of what each delivery pushed and what DR6 held ---- */
#define LOG_MAX 32
struct db_event {
	u64 vector, rip, rflags, dr6;
};
static volatile struct db_event db_log[LOG_MAX];
static volatile unsigned int db_count;
static volatile u64 resume_rf_at; /* an instruction-breakpoint fault here resumes with RF set in the frame */
static volatile bool db_no_dr; /* the DR7.GD phase: the handler must not touch the debug registers itself */
static volatile u64 db_rcx, db_rdi; /* RCX and RDI at the first #DB since log_reset */
static volatile bool db_log_only;   /* INT1 with DR7.GD: the same, and its trap needs no fixup */

static void db_handler(struct trap_frame *f)
{
	unsigned int n = db_count++;
	u64 dr6 = 0;

	if (db_no_dr || db_log_only) {
		if (n < LOG_MAX)
			db_log[n] = (struct db_event){ f->vector, f->rip, f->rflags, 0 };
		if (db_log_only)
			return;
		if (!trap_fixup(f))
			trap_fatal(f);
		return;
	}
	if (f->vector == 1) {
		dr6 = get_dr6();
		set_dr6(0); /* so that the next #DB's bits are its own */
	}
	if (n < LOG_MAX)
		db_log[n] = (struct db_event){ f->vector, f->rip, f->rflags, dr6 };
	if (!n) {
		db_rcx = f->rcx;
		db_rdi = f->rdi;
	}
	if (f->vector == 1 && f->rip == resume_rf_at)
		f->rflags |= RF;
	if (n > 64) { /* runaway: stop stepping and fail */
		f->rflags &= ~TF;
		set_dr7(0x400);
	}
}

static void log_reset(void)
{
	db_count = 0;
	set_dr6(0);
}

static void expect_event(unsigned int i, u64 vector, u64 rip, u64 dr6, const char *what)
{
	if (i >= db_count) {
		bad("%s: no event %u (vector %lu at 0x%lx expected; %u seen)", what, i, vector, rip, db_count);
		return;
	}
	const volatile struct db_event *e = &db_log[i];
	if (dr6lost && vector == 1 && e->vector == 1 && e->rip == rip && e->dr6 == DR6_FIX && dr6 != DR6_FIX) {
		dr6_lost_count++;
		return;
	}
	if (e->vector != vector || e->rip != rip || (vector == 1 && e->dr6 != dr6))
		bad("%s: event %u is vector %lu at 0x%lx DR6 0x%lx, want vector %lu at 0x%lx DR6 0x%lx", what, i,
		    e->vector, e->rip, e->dr6, vector, rip, dr6);
}

/* ---- code the phases run, with a label at every instruction boundary they check ---- */
extern char step_seq[], step_rips[], step_hc[];
extern char rf_cpuid_seq[], rf_cpuid_after[], rf_nop_seq[], rf_nop_after[];
extern char icebp_seq[], icebp_after[], ibp_seq[], ibp_after[], int3_seq[], int3_after[];
extern char hlt_seq[], hlt_after[], hlt_rips[], hlt_insn[];
/* step_rips: a table of the addresses where the single-step #DBs must land, ended by 0. */
asm(".pushsection .text\n"
    ".globl step_seq, step_rips, step_hc\n"
    "step_seq:\n"
    "	push %rbx\n"
    "	pushfq\n"
    "	orq $0x100, (%rsp)\n"
    "	popfq\n" /* sets TF: no trap after it (SDM 18.3.1.4) */
    "s0:	movl $0x1d9, %ecx\n"
    "s1:	rdmsr\n"	       /* IA32_DEBUGCTL: an RDMSR exit */
    "s2:	wrmsr\n"	       /* 0 back: a WRMSR exit */
    "s3:	cpuid\n"	       /* a CPUID exit */
    "s4:	xorl %eax, %eax\n"
    "step_hc: .byte 0x0f, 0x01, 0xc1\n" /* VMCALL (VMMCALL patched in on AMD): HC_NOP */
    "s6:	outb %al, $0x80\n"     /* an OUT exit */
    "s7:	inb $0x80, %al\n"      /* an IN exit */
    "s8:	movl (%rsi), %eax\n" /* an MMIO read, emulated */
    "s9:	nop\n"		       /* native */
    "s10:	pushfq\n"
    "s11:	andq $~0x100, (%rsp)\n"
    "s12:	popfq\n" /* clears TF: still trapped after it, as TF was set when it began */
    "s13:	pop %rbx\n"
    "	ret\n"
    ".popsection\n"
    ".pushsection .data\n"
    ".balign 8\n"
    "step_rips: .quad s1, s2, s3, s4, step_hc, s6, s7, s8, s9, s10, s11, s12, s13, 0\n"
    ".popsection\n");

/* IRETQ to the first instruction with RF set: the instruction after it has an instruction breakpoint (DR0), which
 * must fire because the first instruction's completion cleared RF. */
#define RF_SEQ(name, insn)                                                                                             \
	".globl " name "_seq, " name "_after\n" name "_seq:\n"                                                         \
	"	push %rbx\n"                                                                                           \
	"	movq %rsp, %rax\n"                                                                                     \
	"	movl %ss, %ecx\n"                                                                                      \
	"	pushq %rcx\n"                                                                                          \
	"	pushq %rax\n"                                                                                          \
	"	pushfq\n"                                                                                              \
	"	orq $0x10000, (%rsp)\n"                                                                                \
	"	movl %cs, %ecx\n"                                                                                      \
	"	pushq %rcx\n"                                                                                          \
	"	leaq 1f(%rip), %rcx\n"                                                                                 \
	"	pushq %rcx\n"                                                                                          \
	"	xorl %eax, %eax\n"                                                                                     \
	"	iretq\n"                                                                                               \
	"1:	" insn "\n" name "_after:\n"                                                                            \
	"	nop\n"                                                                                                 \
	"	pop %rbx\n"                                                                                            \
	"	ret\n"
asm(".pushsection .text\n" RF_SEQ("rf_cpuid", "cpuid") RF_SEQ("rf_nop", "nop") ".popsection\n");

asm(".pushsection .text\n"
    ".globl hlt_rips, hlt_insn, icebp_seq, icebp_after, ibp_seq, ibp_after, int3_seq, int3_after, hlt_seq, hlt_after\n"
    "icebp_seq: 1: .byte 0xf1\n"
    "icebp_after: 2: ret\n"
    ".pushsection .fixup_table, \"a\"\n.balign 8\n.quad 1b, 2b\n.popsection\n"
    "ibp_seq: nop\n"
    "ibp_after: ret\n"
    "int3_seq: int3\n"
    "int3_after: ret\n"
    /* IF and TF on (POPF: no trap after it); HLT, woken by the LAPIC timer; TF off again. */
    "hlt_seq:\n"
    "	pushfq\n"
    "	orq $0x300, (%rsp)\n"
    "	popfq\n"
    "hlt_insn: hlt\n"
    "hlt_after:\n"
    "	pushfq\n"
    "h1:	andq $~0x300, (%rsp)\n"
    "h2:	popfq\n"
    "h3:	ret\n"
    ".pushsection .data\n"
    "hlt_rips: .quad hlt_after, hlt_after, h1, h2, h3\n"
    ".popsection\n"
    ".popsection\n");

static void run_step_seq(void)
{
	asm volatile("call step_seq" ::"S"(MMIO_VA) : "rax", "rcx", "rdx", "rdi", "r8", "r9", "r10", "r11", "memory",
		     "cc");
}

/* ---- phases ---- */

static void phase_dr(void)
{
	u64 v;
	int r;

	set_dr6(0);
	if ((v = get_dr6()) != DR6_FIX)
		bad("DR6 written 0 reads 0x%lx, want 0x%lx (bits 4-11 and 16-31 fixed 1s, 12 0)", v, DR6_FIX);
	set_dr6(0xffffffff);
	v = get_dr6();
	if (tcg && v == 0xffffffffULL)
		deviation("keeps DR6 bit 12 as written (it reads 0)");
	else if (v != 0xffffefffULL)
		bad("DR6 written 0xffffffff reads 0x%lx, want 0xffffefff (bit 12 reads 0)", v);
	set_dr7(0);
	if ((v = get_dr7()) != 0x400)
		bad("DR7 written 0 reads 0x%lx, want 0x400", v);
	/* Bits 63:32 of DR6/DR7 are reserved: a MOV writing a 1 there #GPs (SDM Vol. 2 MOV DR, 64-bit mode). */
	fault_clear();
	asm volatile(FIXUP("mov %0, %%dr6") ::"r"(1ULL << 32));
	if (fault.taken != 13 + 1)
		bad("MOV DR6 with bit 32 set: vector+1 %u, want #GP", fault.taken);
	fault_clear();
	asm volatile(FIXUP("mov %0, %%dr7") ::"r"(1ULL << 40 | 0x400));
	if (fault.taken != 13 + 1)
		bad("MOV DR7 with bit 40 set: vector+1 %u, want #GP", fault.taken);
	if ((v = get_dr7()) != 0x400)
		bad("DR7 changed by the refused write: 0x%lx", v);
	/* DR4/DR5 are DR6/DR7 with CR4.DE clear, #UD with it set. */
	u64 cr4 = read_cr4();
	write_cr4(cr4 & ~CR4_DE);
	set_dr6(0);
	v = 0x5a5;
	asm volatile(".byte 0x0f, 0x23, 0xe8" ::"a"(v)); /* mov %rax, %dr5 */
	if ((v = get_dr7()) != 0x5a5)
		bad("MOV DR5 with CR4.DE clear: DR7 0x%lx, want 0x5a5", v);
	asm volatile(".byte 0x0f, 0x21, 0xe0" : "=a"(v)); /* mov %dr4, %rax */
	if (v != DR6_FIX)
		bad("MOV from DR4 with CR4.DE clear: 0x%lx, want DR6 0x%lx", v, DR6_FIX);
	set_dr7(0x400);
	write_cr4(cr4 | CR4_DE);
	fault_clear();
	asm volatile(FIXUP(".byte 0x0f, 0x21, 0xe0") ::: "rax");
	r = (int)fault.taken;
	write_cr4(cr4);
	if (r != 6 + 1)
		bad("MOV from DR4 with CR4.DE set: vector+1 %d, want #UD", r);
	/* DR7.GD: the next MOV DR is a #DB fault with BD; the CPU clears GD so the handler can use the registers. */
	log_reset();
	set_dr7(0x400 | DR7_GD);
	db_no_dr = true;
	asm volatile(FIXUP("mov %%dr0, %0") : "=r"(v));
	db_no_dr = false;
	u64 gd_rip = fault.rip;
	if (tcg && !db_count) {
		deviation("ignores DR7.GD (no #DB on a MOV DR)");
		set_dr7(0x400);
		phase_end("dr");
		return;
	}
	v = get_dr7(); /* a second #DB here, fatal, if GD were still set */
	u64 dr6 = get_dr6();
	if (db_count != 1 || db_log[0].vector != 1 || db_log[0].rip != gd_rip)
		bad("DR7.GD: %u events, first vector %lu at 0x%lx, want one #DB at the MOV 0x%lx", db_count,
		    db_log[0].vector, db_log[0].rip, gd_rip);
	if (v & DR7_GD)
		bad("DR7.GD still set after its #DB: DR7 0x%lx", v);
	if (dr6 != (DR6_FIX | DR6_BD))
		bad("DR7.GD: DR6 0x%lx, want 0x%lx (BD)", dr6, DR6_FIX | DR6_BD);
	set_dr7(0x400);
	phase_end("dr");
}

static void phase_step(void)
{
	const u64 *rips = (const u64 *)step_rips;
	unsigned int n = 0;

	if (cpu.is_amd)
		step_hc[2] = 0xd9; /* VMMCALL */
	log_reset();
	run_step_seq();
	while (rips[n])
		n++;
	if (db_count != n)
		bad("single-step: %u #DBs for %u instructions", db_count, n);
	for (unsigned int i = 0; i < n && i < db_count; i++) {
		expect_event(i, 1, rips[i], DR6_FIX | DR6_BS, "single-step");
		if (db_log[i].rflags & RF)
			bad("single-step: #DB %u pushed RF set", i);
	}
	printf("debug: single-step: %u #DBs over MOV RDMSR WRMSR CPUID XOR VMCALL OUT IN MMIO NOP PUSHF AND POPF\n",
	       db_count);
	phase_end("step");
}

static volatile u64 gp_rflags;
static void gp_handler(struct trap_frame *f)
{
	gp_rflags = f->rflags;
	if (!trap_fixup(f))
		trap_fatal(f);
}

static void phase_rf(void)
{
	/* A fault's frame has RF set: one the hypervisor injects (WRMSR to an MSR nobody has), and one the CPU raises
	 * (a non-canonical load). */
	trap_set_handler(13, gp_handler);
	gp_rflags = 0;
	if (!cpu.hv_features)
		; /* plain QEMU ignores unknown MSRs: only the hypervisor's own #GP is checked */
	else if (wrmsr_try(0x3b9aca07, 0) != 13 + 1)
		bad("WRMSR 0x3b9aca07 did not #GP");
	else if (!(gp_rflags & RF))
		bad("#GP of a refused WRMSR pushed RFLAGS 0x%lx without RF", gp_rflags);
	gp_rflags = 0;
	u64 val;
	if (probe_read(0x8000000000000000ULL, 8, &val) != 13 + 1)
		bad("non-canonical load did not #GP");
	else if (!(gp_rflags & RF) && tcg)
		deviation("pushes RF = 0 with the faults it raises itself");
	else if (!(gp_rflags & RF))
		bad("#GP of a non-canonical load pushed RFLAGS 0x%lx without RF", gp_rflags);
	trap_set_handler(13, NULL);

	/* RF is cleared when an instruction completes: the breakpoint after the first instruction fires. */
	static const struct {
		char *seq, *after;
		const char *what;
	} seqs[] = { { rf_nop_seq, rf_nop_after, "NOP (native)" }, { rf_cpuid_seq, rf_cpuid_after, "CPUID (exit)" } };
	for (unsigned int i = 0; i < 2; i++) {
		log_reset();
		resume_rf_at = (u64)seqs[i].after;
		set_dr0((u64)seqs[i].after);
		set_dr7(0x400 | 1); /* L0, execute, 1 byte */
		asm volatile("call *%0" ::"r"(seqs[i].seq) : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11",
			     "memory", "cc");
		set_dr7(0x400);
		if (db_count != 1)
			bad("RF after %s: %u #DBs, want the breakpoint's one", seqs[i].what, db_count);
		else
			expect_event(0, 1, (u64)seqs[i].after, DR6_FIX | 1, seqs[i].what);
		if (db_count && (db_log[0].rflags & RF))
			bad("instruction breakpoint after %s pushed RF set", seqs[i].what);
	}
	resume_rf_at = 0;
	phase_end("rf");
}

static void phase_int(void)
{
	log_reset();
	fault_clear();
	asm volatile("call icebp_seq" ::: "memory");
	if (tcg && fault.taken == 6 + 1) {
		deviation("raises #UD for INT1 (F1), before the ICEBP intercept");
	} else {
		expect_event(0, 1, (u64)icebp_after, DR6_FIX, "INT1");
		if (db_count && (db_log[0].rflags & RF))
			bad("INT1's #DB (a trap) pushed RF set");
	}
	unsigned int n = db_count;
	asm volatile("call int3_seq" ::: "memory");
	expect_event(n, 3, (u64)int3_after, 0, "INT3");
	if (db_count != n + 1)
		bad("INT3: %u events, want 1", db_count - n);
	/* INT1's #DB clears DR7.GD like any other (SDM Vol. 3B 18.2.4: on entry to the handler), so the handler may use
	 * the registers; a VMM that injects it must clear GD itself (an injected #DB changes no debug register, SDM
	 * Vol. 3C 27.6.1.1). With GD still set, the MOV from DR7 below is a #DB fault first (logged, then retried).
	 * QEMU's TCG ignores GD (phase dr): nothing to see there. */
	if (!tcg) {
		log_reset();
		set_dr7(0x400 | DR7_GD);
		db_log_only = true;
		asm volatile("call icebp_seq" ::: "memory");
		u64 dr7 = get_dr7();
		db_log_only = false;
		if (db_count != 1 || db_log[0].rip != (u64)icebp_after || (dr7 & DR7_GD))
			bad("INT1 with DR7.GD: %u #DBs (first at 0x%lx), DR7 0x%lx after; want one at 0x%lx, GD clear",
			    db_count, db_log[0].rip, dr7, (u64)icebp_after);
		set_dr7(0x400);
	}
	phase_end("int");
}

static volatile u32 watched;

static void phase_bp(void)
{
	u64 cr4 = read_cr4();

	/* Instruction breakpoint: a fault at the instruction (RF=0 pushed); the handler resumes with RF. */
	log_reset();
	resume_rf_at = (u64)ibp_after;
	set_dr0((u64)ibp_after);
	set_dr7(0x400 | 1);
	asm volatile("call ibp_seq" ::: "memory");
	set_dr7(0x400);
	resume_rf_at = 0;
	expect_event(0, 1, (u64)ibp_after, DR6_FIX | 1, "instruction breakpoint");
	if (db_count != 1)
		bad("instruction breakpoint: %u events, want 1", db_count);

	/* Data write breakpoint (R/W1 = 01b, LEN1 = 11b: 4 bytes): a trap after the write, B1. */
	log_reset();
	set_dr1((u64)&watched);
	set_dr7(0x400 | (1 << 2) | (1ULL << 20) | (3ULL << 22));
	u64 rip;
	asm volatile("lea 1f(%%rip), %0\n\tmovl $1, %1\n1:" : "=&r"(rip), "=m"(watched));
	set_dr7(0x400);
	expect_event(0, 1, rip, DR6_FIX | 2, "data write breakpoint");
	if (db_count != 1)
		bad("data write breakpoint: %u events, want 1", db_count);

	/* I/O breakpoint (CR4.DE, R/W2 = 10b) on an OUT the hypervisor completes: a trap after it, B2. */
	log_reset();
	write_cr4(cr4 | CR4_DE);
	set_dr2(0x80);
	set_dr7(0x400 | (1 << 4) | (2ULL << 24));
	asm volatile("lea 1f(%%rip), %0\n\toutb %%al, $0x80\n1:" : "=&r"(rip) : "a"(0));
	set_dr7(0x400);
	write_cr4(cr4);
	expect_event(0, 1, rip, DR6_FIX | 4, "I/O breakpoint on OUT");
	if (db_count != 1)
		bad("I/O breakpoint: %u events, want 1", db_count);

	/* Data breakpoint (R/W3 = 11b: reads and writes) on an MMIO read the hypervisor emulates: trap, B3. */
	log_reset();
	set_dr3(MMIO_VA);
	set_dr7(0x400 | (1 << 6) | (3ULL << 28) | (3ULL << 30));
	u32 val;
	asm volatile("lea 1f(%%rip), %0\n\tmovl (%2), %1\n1:" : "=&r"(rip), "=r"(val) : "r"(MMIO_VA));
	set_dr7(0x400);
	expect_event(0, 1, rip, DR6_FIX | 8, "data breakpoint on an emulated MMIO read");
	if (db_count != 1)
		bad("MMIO data breakpoint: %u events, want 1 (read 0x%x)", db_count, val);

	/* A data breakpoint hit inside a REP: the trap comes after the iteration that hit it (SDM Vol. 3B 18.3.1.2,
	 * "Repeated string instructions"), RIP still at the REP, RCX and RDI counting the iterations done, the rest
	 * run when the handler returns; also where the hypervisor emulates the REP in batches. DR0: R/W0 = 01b
	 * (writes), LEN0 = 00b, on the 5th of 16 bytes REP STOSB writes to MMIO. */
	log_reset();
	set_dr0(MMIO_VA + 4);
	set_dr7(0x400 | 1 | (1ULL << 16));
	u64 cnt = 16, dst = MMIO_VA;
	asm volatile("lea 1f(%%rip), %0\n1:\trep stosb" : "=&r"(rip), "+c"(cnt), "+D"(dst) : "a"(0) : "memory");
	set_dr7(0x400);
	expect_event(0, 1, rip, DR6_FIX | 1, "data breakpoint inside REP STOSB to MMIO");
	if (db_count != 1 || db_rcx != 11 || db_rdi != MMIO_VA + 5 || cnt || dst != MMIO_VA + 16)
		bad("REP STOSB data breakpoint: %u events, at the first RCX %lu RDI 0x%lx (want 11, 0x%lx), after "
		    "them RCX %lu RDI 0x%lx (want 0, 0x%lx)",
		    db_count, db_rcx, db_rdi, MMIO_VA + 5, cnt, dst, MMIO_VA + 16);
	phase_end("bp");
}

#define APIC_BASE	0xfee00000UL
#define APIC_EOI	0xb0
#define APIC_SVR	0xf0
#define APIC_LVT_TIMER	0x320
#define APIC_TIMER_INIT 0x380
#define APIC_TIMER_DIV	0x3e0
#define TIMER_VECTOR	0x40

static void apic_write(u32 reg, u32 v)
{
	*(volatile u32 *)(APIC_BASE + reg) = v;
}

static volatile unsigned int timer_early;

static void timer_handler(struct trap_frame *f)
{
	apic_write(APIC_EOI, 0);
	/* The one-shot expired before the HLT ran (the POPF that set IF opened the window; a busy host delays the
	 * guest, not its timer): arm it again for the HLT, and leave this interrupt out of the log. */
	if (f->rip == (u64)hlt_insn && timer_early++ < 16) {
		apic_write(APIC_TIMER_INIT, 2000000);
		return;
	}
	unsigned int n = db_count++;

	if (n < LOG_MAX)
		db_log[n] = (struct db_event){ f->vector, f->rip, f->rflags, 0 };
}

/* HLT with TF: the halt ends on the timer's interrupt; first comes HLT's single-step #DB (RIP after the HLT, BS),
 * then, once its handler has returned, the interrupt at that same boundary; then the steps of PUSHF, AND, POPF. */
static void phase_hlt(void)
{
	const u64 *rips = (const u64 *)hlt_rips;

	trap_set_handler(TIMER_VECTOR, timer_handler);
	apic_write(APIC_SVR, 0x1ff);
	apic_write(APIC_TIMER_DIV, 0xb); /* divide by 1 */
	apic_write(APIC_LVT_TIMER, TIMER_VECTOR); /* one-shot */
	log_reset();
	apic_write(APIC_TIMER_INIT, 2000000);
	asm volatile("call hlt_seq" ::: "memory");
	cli();
	apic_write(APIC_LVT_TIMER, 1u << 16 | TIMER_VECTOR);
	expect_event(0, 1, rips[0], DR6_FIX | DR6_BS, "HLT's single step");
	expect_event(1, TIMER_VECTOR, rips[1], 0, "the interrupt that ended the halt");
	for (unsigned int i = 2; i < 5; i++)
		expect_event(i, 1, rips[i], DR6_FIX | DR6_BS, "single step after HLT");
	if (db_count != 5)
		bad("HLT with TF: %u events, want 5", db_count);
	phase_end("hlt");
}

int test_main(void)
{
	trap_set_handler(1, db_handler);
	trap_set_handler(3, db_handler);
	tcg = cmdline_has("tcg");
	dr6lost = cmdline_has("dr6lost");
	printf("debug: %s, %s\n", cpu.vendor, cpu.hv_signature[0] ? cpu.hv_signature : "no hypervisor");
	phase_dr();
	if (cpu.hv_features)
		phase_step();
	else
		printf("TEST debug_step SKIP no hypervisor (VMCALL would #UD)\n");
	phase_rf();
	phase_int();
	phase_bp();
	phase_hlt();
	set_dr7(0x400);
	if (dr6_lost_count)
		printf("debug: note: %u #DBs the CPU raised came with no cause in DR6 (the CPU's own deviation)\n",
		       dr6_lost_count);
	if (failures)
		test_fail("%u checks failed", failures);
	test_pass();
}
