/* tswitch: hardware task switching in a 32-bit protected-mode guest (SDM Vol. 3A chapter 8 "Task Management", 8.3
 * "Task Switching"; APM Vol. 2 chapter 12), which VMX and SVM leave to the hypervisor (the task-switch exit and the
 * TASK_SWITCH intercept). tswitch/tswitch32.S drops to protected mode without paging and runs, as the main task:
 *   jmp      JMP to a TSS: the old task's state saved in its TSS, its busy bit cleared, no back-link, NT clear;
 *            JMP back
 *   call     CALL to a TSS: back-link, both busy, NT set in the new task, CR0.TS set; IRET back clears the called
 *            task's busy bit and the NT in its saved EFLAGS image, and restores the caller's registers
 *   gate     CALL through a task gate in the GDT: the same, to the gate's TSS
 *   nmi      an NMI (a self IPI) through a task gate in the IDT: the NMI task runs nested; a second NMI sent from it
 *            is held until its IRET (SDM 6.7.1), then delivered through the gate again
 *   df       a #GP whose IDT gate is not present raises #NP during delivery: a double fault (SDM 6.15, Table 6-5),
 *            delivered through a task gate with error code 0 pushed on the new task's stack
 *   dfts     a #DE through a task gate whose TSS descriptor is too small: #TS before the switch's commit point
 *            while the #DE is delivered, so a double fault too (SDM 6.15, Table 6-5), the main task's EIP at the DIV
 *   invd     INVD at CPL 0 completes; at CPL 3 (a task of its own) it raises #GP(0), here through a task gate
 *   pae      under PAE paging, a JMP to a task with its own CR3 loads that CR3 and its PDPTEs (SDM 4.4.1): the task
 *            reads through a PDPTE only its tables have; the JMP back restores the main task's CR3
 * Each is a TEST line. The number of task switches the hypervisor emulated is printed: an emulator that switches
 * tasks itself without exiting (QEMU's TCG does not intercept them) shows 0. */
#include "guest.h"
#include "tswitch/tswitch.h"
#include "user.h"

const char test_name[] = "tswitch";

u32 ts_res[R_N];
u32 ts_snap[PH_N][SN_N];
u32 ts_back[PH_N][BK_N];
u64 ts_gdt[TS_GDT_N] __attribute__((aligned(16)));
u64 ts_idt[32] __attribute__((aligned(16)));
u64 ts_gate13[4];
u8 ts_tss_main[0x68] __attribute__((aligned(128)));
u8 ts_tss_a[0x68] __attribute__((aligned(128)));
u8 ts_tss_nmi[0x68] __attribute__((aligned(128)));
u8 ts_tss_df[0x68] __attribute__((aligned(128)));
u8 ts_tss_gp[0x68] __attribute__((aligned(128)));
u8 ts_tss_user[0x68] __attribute__((aligned(128)));
u8 ts_tss_pae[0x68] __attribute__((aligned(128)));
u8 ts_tss_trap[0x68] __attribute__((aligned(128)));
u8 ts_tss_np[0x68] __attribute__((aligned(128)));
static u8 stacks[8][4096] __attribute__((aligned(16)));
/* PAE tables: the main task's map the first GiB 1:1; the PAE task's also map the second GiB onto the first. */
static u64 pd0[512] __attribute__((aligned(4096)));
static u64 pdpt_main[4] __attribute__((aligned(32)));
static u64 pdpt_pae[4] __attribute__((aligned(32)));
u32 ts_pae_cr3;
u32 ts_marker = 0x7a5c0de5;

#define BUSY_HI	 (1u << 9) /* the busy bit in a TSS descriptor's high dword */
#define EFL_NT	 (1u << 14)
#define CR0_TS	 (1u << 3)
#define PH_NAMES "jmp", "call", "gate"

static u64 seg_desc(u32 base, u32 limit, u8 access, u8 flags)
{
	return (limit & 0xffff) | (u64)(base & 0xffffff) << 16 | (u64)access << 40 | (u64)((limit >> 16) & 0xf) << 48 |
	       (u64)(flags & 0xf) << 52 | (u64)(base >> 24) << 56;
}

static u64 task_gate(u16 sel)
{
	return (u64)sel << 16 | 0x85ULL << 40;
}

static u64 int_gate(const char *handler)
{
	u64 a = (u64)handler;
	return (a & 0xffff) | (u64)TS_CODE32 << 16 | 0x8eULL << 40 | ((a >> 16) & 0xffff) << 48;
}

static void put32(u8 *p, u32 v)
{
	memcpy(p, &v, 4);
}

static void tss_init(u8 *tss, const char *eip, u8 *stack_top, bool user, u64 *cr3)
{
	u16 cs = user ? TS_UCODE : TS_CODE32, ds = user ? TS_UDATA : TS_DATA;
	u16 segs[6] = {ds, cs, ds, ds, ds, ds};

	memset(tss, 0, 0x68);
	put32(tss + 0x1c, (u32)(u64)cr3);
	put32(tss + 0x20, (u32)(u64)eip);
	put32(tss + 0x24, 0x2);
	put32(tss + 0x38, (u32)(u64)stack_top);
	for (int i = 0; i < 6; i++)
		put32(tss + 0x48 + 4 * i, segs[i]);
	put32(tss + 0x64, 0x68u << 16); /* no I/O bitmap */
}

static void build(void)
{
	struct {
		u16 limit;
		u64 base;
	} __attribute__((packed)) d;

	asm volatile("sgdt %0" : "=m"(d));
	memcpy(ts_gdt, (const void *)d.base, 4 * 8); /* null, 64-bit code, data, 32-bit code */
	ts_gdt[TS_UCODE >> 3] = 0x00cffa000000ffffULL;
	ts_gdt[TS_UDATA >> 3] = 0x00cff2000000ffffULL;
	ts_gdt[TS_SEL_MAIN >> 3] = seg_desc((u32)(u64)ts_tss_main, 0x67, 0x89, 0);
	ts_gdt[TS_SEL_A >> 3] = seg_desc((u32)(u64)ts_tss_a, 0x67, 0x89, 0);
	ts_gdt[TS_SEL_NMI >> 3] = seg_desc((u32)(u64)ts_tss_nmi, 0x67, 0x89, 0);
	ts_gdt[TS_SEL_DF >> 3] = seg_desc((u32)(u64)ts_tss_df, 0x67, 0x89, 0);
	ts_gdt[TS_SEL_GP >> 3] = seg_desc((u32)(u64)ts_tss_gp, 0x67, 0x89, 0);
	ts_gdt[TS_SEL_USER >> 3] = seg_desc((u32)(u64)ts_tss_user, 0x67, 0xe9, 0); /* DPL 3: CALLable from anywhere */
	ts_gdt[TS_SEL_GATE >> 3] = task_gate(TS_SEL_A);
	ts_gdt[TS_SEL_PAE >> 3] = seg_desc((u32)(u64)ts_tss_pae, 0x67, 0x89, 0);
	ts_gdt[TS_SEL_TRAP >> 3] = seg_desc((u32)(u64)ts_tss_trap, 0x67, 0x89, 0);
	ts_gdt[TS_SEL_SMALL >> 3] = seg_desc((u32)(u64)ts_tss_a, 0x2b, 0x89, 0);
	ts_gdt[TS_CODE_B >> 3] = 0x00cf9a000000ffffULL;
	ts_gdt[TS_DATA_B >> 3] = 0x00cf92000000ffffULL;
	ts_gdt[TS_DATA_NP >> 3] = 0x00cf12000000ffffULL; /* P clear */
	ts_gdt[TS_SEL_NP >> 3] = seg_desc((u32)(u64)ts_tss_np, 0x67, 0x89, 0);
	for (int i = 0; i < 512; i++)
		pd0[i] = (u64)i << 21 | 0x83; /* P, W, PS */
	pdpt_main[0] = pdpt_pae[0] = pdpt_pae[1] = (u64)pd0 | 1;
	ts_pae_cr3 = (u32)(u64)pdpt_main;
	/* Every task but the PAE one has the main tables (unused while paging is off). */
	tss_init(ts_tss_main, 0, 0, false, pdpt_main); /* filled by the first switch away */
	tss_init(ts_tss_a, ts_task_a, stacks[0] + 4096, false, pdpt_main);
	tss_init(ts_tss_nmi, ts_task_nmi, stacks[1] + 4096, false, pdpt_main);
	tss_init(ts_tss_df, ts_task_df, stacks[2] + 4096, false, pdpt_main);
	tss_init(ts_tss_gp, ts_task_gp, stacks[3] + 4096, false, pdpt_main);
	tss_init(ts_tss_user, ts_task_user, stacks[4] + 4096, true, pdpt_main);
	tss_init(ts_tss_pae, ts_task_pae, stacks[5] + 4096, false, pdpt_pae);
	tss_init(ts_tss_trap, ts_task_trap, stacks[6] + 4096, false, pdpt_main);
	ts_tss_trap[0x64] |= 1; /* T: a #DB with DR6.BT before its first instruction */
	tss_init(ts_tss_np, ts_task_np, stacks[7] + 4096, false, pdpt_main);
	for (int i = 0; i < 6; i++) /* ES CS SS DS FS GS: aliases, so that each is told from the main task's */
		put32(ts_tss_np + 0x48 + 4 * i, i == 1 ? TS_CODE_B : i == 3 ? TS_DATA_NP : TS_DATA_B);
	for (int v = 0; v < 32; v++)
		ts_idt[v] = int_gate(ts_fatal_stubs + 16 * v);
	ts_idt[1] = int_gate(ts_db_handler);
	ts_idt[2] = task_gate(TS_SEL_NMI);
	ts_idt[8] = task_gate(TS_SEL_DF);
	ts_idt[11] = int_gate(ts_np_handler);
	ts_gate13[0] = ts_idt[13];
	ts_gate13[1] = 0; /* not present */
	ts_gate13[2] = task_gate(TS_SEL_GP);
	ts_gate13[3] = task_gate(TS_SEL_SMALL); /* for vector 0 */
}

/* TR back to the 64-bit TSS of lib/user.c (its descriptor is busy since user_init loaded it). */
static void restore_tr(void)
{
	struct {
		u16 limit;
		u64 base;
	} __attribute__((packed)) d;

	asm volatile("sgdt %0" : "=m"(d));
	((u64 *)d.base)[SEL_TSS >> 3] &= ~(1ULL << 41);
	asm volatile("ltr %w0" : : "r"((u16)SEL_TSS) : "memory");
}

static int failures;

#define EXPECT(name, cond, fmt, ...)                                                                                   \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			printf("TEST tswitch_%s FAIL " fmt "\n", name, ##__VA_ARGS__);                                 \
			failures++;                                                                                    \
			return;                                                                                        \
		}                                                                                                      \
	} while (0)

static void check_a(int ph, const char *name, const char *ret, u32 ebx, bool nested)
{
	u32 *s = ts_snap[ph], *b = ts_back[ph];

	EXPECT(name, s[SN_TR] == TS_SEL_A, "TR in the new task 0x%x", s[SN_TR]);
	EXPECT(name, !!(s[SN_EFL] & EFL_NT) == nested, "NT in the new task: EFLAGS 0x%x", s[SN_EFL]);
	EXPECT(name, s[SN_DA] & BUSY_HI, "the new TSS is not busy");
	EXPECT(name, !!(s[SN_DMAIN] & BUSY_HI) == nested, "the old TSS busy bit %d", !!(s[SN_DMAIN] & BUSY_HI));
	if (nested)
		EXPECT(name, s[SN_LINK] == TS_SEL_MAIN, "back-link 0x%x", s[SN_LINK]);
	EXPECT(name, s[SN_MEIP] == (u32)(u64)ret, "old TSS EIP 0x%x, not past the instruction (0x%x)", s[SN_MEIP],
	       (u32)(u64)ret);
	EXPECT(name, s[SN_MEBX] == ebx, "old TSS EBX 0x%x", s[SN_MEBX]);
	EXPECT(name, s[SN_CR0] & CR0_TS, "CR0.TS clear after the switch");
	EXPECT(name, b[BK_EBX] == ebx, "EBX 0x%x after coming back", b[BK_EBX]);
	EXPECT(name, !(b[BK_EFL] & EFL_NT), "NT set in the main task after coming back");
	EXPECT(name, !(b[BK_DA] & BUSY_HI), "the task returned from is still busy");
	EXPECT(name, b[BK_DMAIN] & BUSY_HI, "the main task is not busy");
	if (nested)
		EXPECT(name, !(b[BK_AEFL] & EFL_NT), "IRET left NT in the saved EFLAGS image 0x%x", b[BK_AEFL]);
	printf("TEST tswitch_%s PASS\n", name);
}

static void check_nmi(void)
{
	u32 *r = ts_res;

	EXPECT("nmi", r[R_NMI_COUNT] >= 1, "no NMI through the task gate");
	EXPECT("nmi", r[R_NMI_TR] == TS_SEL_NMI && r[R_NMI_LINK] == TS_SEL_MAIN && (r[R_NMI_EFL] & EFL_NT),
	       "NMI task: TR 0x%x back-link 0x%x EFLAGS 0x%x", r[R_NMI_TR], r[R_NMI_LINK], r[R_NMI_EFL]);
	EXPECT("nmi", r[R_NMI_DURING] == 1, "a second NMI came in before the IRET (count %u)", r[R_NMI_DURING]);
	EXPECT("nmi", !r[R_NMI_TMO] && r[R_NMI_COUNT] == 2, "the held NMI was not delivered after the IRET (count %u)",
	       r[R_NMI_COUNT]);
	printf("TEST tswitch_nmi PASS\n");
}

static void check_df(void)
{
	u32 *r = ts_res;

	EXPECT("df", r[R_DF_COUNT] >= 1, "%u double faults", r[R_DF_COUNT]);
	EXPECT("df", r[R_DF_ERR] == 0, "error code 0x%x", r[R_DF_ERR]);
	EXPECT("df", r[R_DF_ESP] == (u32)(u64)(stacks[2] + 4096),
	       "the error code was not pushed on the new stack "
	       "(ESP 0x%x after the pop)",
	       r[R_DF_ESP]);
	EXPECT("df", r[R_DF_LINK] == TS_SEL_MAIN, "back-link 0x%x", r[R_DF_LINK]);
	EXPECT("df", r[R_DF_MEIP] == (u32)(u64)ts_df_fault, "saved EIP 0x%x, not the faulting MOV", r[R_DF_MEIP]);
	EXPECT("df", r[R_DF_RESUMED], "the main task did not resume");
	printf("TEST tswitch_df PASS\n");
}

static void check_dfts(void)
{
	u32 *r = ts_res;

	EXPECT("dfts", r[R_DF_COUNT] == 2, "%u double faults in all, want 2 (the #TS alone instead?)", r[R_DF_COUNT]);
	EXPECT("dfts", r[R_DF2_MEIP] == (u32)(u64)ts_de_fault, "saved EIP 0x%x, not the DIV", r[R_DF2_MEIP]);
	EXPECT("dfts", r[R_DF2_RESUMED], "the main task did not resume");
	printf("TEST tswitch_dfts PASS\n");
}

static void check_invd(void)
{
	u32 *r = ts_res;

	EXPECT("invd", r[R_INVD0], "INVD at CPL 0 did not complete");
	EXPECT("invd", (r[R_USER_CS] & 3) == 3, "the user task ran at CPL %u", r[R_USER_CS] & 3);
	EXPECT("invd", r[R_GP_COUNT] == 1 && r[R_GP_ERR] == 0, "INVD at CPL 3: %u #GP, error code 0x%x", r[R_GP_COUNT],
	       r[R_GP_ERR]);
	EXPECT("invd", r[R_GP_LINK] == TS_SEL_USER && r[R_GP_UEIP] == (u32)(u64)ts_user_invd,
	       "#GP task: back-link 0x%x, saved EIP 0x%x", r[R_GP_LINK], r[R_GP_UEIP]);
	EXPECT("invd", r[R_USER_DONE], "the user task did not finish");
	printf("TEST tswitch_invd PASS\n");
}

/* A switch to a TSS with T set raises #DB with DR6.BT before the new task's first instruction (SDM Vol. 3A 8.2.1,
 * Vol. 3B 18.2.3), and every task switch clears DR7's local enables L0-L3 (18.2.4) and LE, as Bochs and KVM do.
 * QEMU's TCG switches tasks itself (no intercept), ignores T and keeps LE: noted there, not failed. */
static void check_trap(bool emulated)
{
	u32 *r = ts_res;

	if (!emulated && !r[R_DB_COUNT]) {
		printf("tswitch: note: the CPU itself (its own task switch) ignored the T bit\n");
	} else {
		EXPECT("trap", r[R_DB_COUNT] == 1, "%u #DBs for the T bit", r[R_DB_COUNT]);
		EXPECT("trap", r[R_DB_EIP] == (u32)(u64)ts_task_trap && r[R_DB_RAN] == 0,
	       "#DB at EIP 0x%x after %u instructions of the task, want 0x%x before any", r[R_DB_EIP], r[R_DB_RAN],
	       (u32)(u64)ts_task_trap);
		EXPECT("trap", r[R_DB_DR6] == 0xffff8ff0, "DR6 0x%x, want 0xffff8ff0 (BT)", r[R_DB_DR6]);
	}
	EXPECT("trap", r[R_TRAP_RAN] == 1, "the trap task ran %u times", r[R_TRAP_RAN]);
	EXPECT("trap", (r[R_TRAP_DR7] & ~0x100u) == 0x608, "DR7 0x%x after the switches, want 0x608 (L0-L3 clear)",
	       r[R_TRAP_DR7]);
	if (r[R_TRAP_DR7] & 0x100) {
		EXPECT("trap", !emulated, "DR7.LE 0x%x kept by the hypervisor's task switch", r[R_TRAP_DR7]);
		printf("tswitch: note: the CPU itself (its own task switch) kept DR7.LE\n");
	}
	printf("TEST tswitch_trap PASS\n");
}

/* A fault while the new task's segments load comes in the new task, at its first instruction, with every segment
 * register holding the new task's selector, the faulting DS and those after it too (SDM Vol. 3A 8.3 steps 12-13,
 * 6.15 #NP: "the processor will load all the state information from the new TSS ... before it generates the
 * exception"). The hidden parts are not checked: the SDM leaves them open. QEMU's TCG, which switches tasks itself
 * (no intercept), reports the fault at the switching LCALL instead: noted there, not failed. */
static void check_segnp(bool emulated)
{
	static const char *const names[5] = {"ES", "SS", "DS", "FS", "GS"};
	u32 *r = ts_res;

	EXPECT("segnp", r[R_NP_COUNT] == 1, "%u #NPs in the new task", r[R_NP_COUNT]);
	EXPECT("segnp", r[R_NP_ERR] == TS_DATA_NP, "#NP error code 0x%x, want 0x%x (DS)", r[R_NP_ERR], TS_DATA_NP);
	EXPECT("segnp", r[R_NP_TR] == TS_SEL_NP, "TR 0x%x in the handler, not the new task's", r[R_NP_TR]);
	if (!emulated && r[R_NP_EIP] == (u32)(u64)ts_np_call)
		printf("tswitch: note: the CPU itself (its own task switch) reported the #NP at the LCALL\n");
	else
		EXPECT("segnp", r[R_NP_CS] == TS_CODE_B && r[R_NP_EIP] == (u32)(u64)ts_task_np,
		       "#NP at %x:%x, want the new task's first instruction %x:%x", r[R_NP_CS], r[R_NP_EIP], TS_CODE_B,
		       (u32)(u64)ts_task_np);
	for (int i = 0; i < 5; i++) {
		u32 want = i == 2 ? TS_DATA_NP : TS_DATA_B;
		EXPECT("segnp", (r[R_NP_SEGS + i] & 0xffff) == want, "%s 0x%x in the handler, want the new task's 0x%x",
		       names[i], r[R_NP_SEGS + i] & 0xffff, want);
	}
	EXPECT("segnp", r[R_NP_RAN] == 1, "the new task ran %u times after its handler", r[R_NP_RAN]);
	printf("TEST tswitch_segnp PASS\n");
}

static void check_pae(void)
{
	u32 *r = ts_res;

	EXPECT("pae", r[R_PAE_CR3] == (u32)(u64)pdpt_pae, "CR3 0x%x in the new task", r[R_PAE_CR3]);
	EXPECT("pae", r[R_PAE_VAL] == ts_marker, "read 0x%x through the new task's PDPTE 1", r[R_PAE_VAL]);
	EXPECT("pae", r[R_PAE_BACK] == (u32)(u64)pdpt_main, "CR3 0x%x after the switch back", r[R_PAE_BACK]);
	printf("TEST tswitch_pae PASS\n");
}

int test_main(void)
{
	u64 before = 0;
	bool hv = counters_available();

	user_init();
	build();
	if (hv)
		before = stat_read(VM_STAT_TASK_SWITCHES);
	ts_run32();
	restore_tr();
	u64 emulated = hv ? stat_read(VM_STAT_TASK_SWITCHES) - before : 0;
	if (hv)
		printf("tswitch: %lu task switches emulated by the hypervisor\n", (unsigned long)emulated);
	if (ts_res[R_FATAL])
		test_fail("unexpected exception %u (EIP or error code 0x%x) in phase %u", ts_res[R_FATAL] - 1,
			  ts_res[R_FATAL_EIP], ts_res[R_PHASE]);
	check_a(PH_JMP, "jmp", ts_jmp_ret, 0x11111111, false);
	check_a(PH_CALL, "call", ts_call_ret, 0x22222222, true);
	check_a(PH_GATE, "gate", ts_gate_ret, 0x33333333, true);
	check_nmi();
	check_df();
	check_dfts();
	check_invd();
	check_pae();
	check_trap(emulated != 0);
	check_segnp(emulated != 0);
	if (failures)
		test_fail("%d phases failed", failures);
	test_pass();
}
