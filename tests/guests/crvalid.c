/* crvalid: every invalid value a guest can try to put into CR0, CR3, CR4, EFER, XCR0 and the canonical-address MSRs
 * raises #GP (XSETBV without CR4.OSXSAVE #UD) and leaves the register as it was; then valid values are accepted and
 * read back. Each case names the SDM or APM rule it follows; what CPUID hides from the guest (XSAVE, UMIP, LA57, VMX,
 * SVM) is reserved for it, as on a CPU without the feature. Under the hypervisor the checks are vm/crcheck.c's at
 * the intercepts, or the CPU's where a register is the guest's own; a value that slipped through would end the VM
 * at its next entry ("VM entry failed") instead of printing a FAIL.
 * Phases: crvalid_cr0, crvalid_cr4, crvalid_cr3, crvalid_efer, crvalid_msr, crvalid_xsetbv, crvalid_mode32; each a
 * TEST line. With `stuck` on the command line the guest then halts with interrupts off (and, with `pit` too, the
 * PIT ticking into a CPU that cannot take it): nothing can wake its only vCPU, and the VM must end as halted, the same
 * on both backends. */
#include "guest.h"
#include "mode32.h"

const char test_name[] = "crvalid";

#define GP (13 + 1) /* probe results: vector + 1 */
#define UD (6 + 1)

#define CR0_PE	   (1ULL << 0)
#define CR0_MP	   (1ULL << 1)
#define CR0_TS	   (1ULL << 3)
#define CR0_WP	   (1ULL << 16)
#define CR0_AM	   (1ULL << 18)
#define CR0_NW	   (1ULL << 29)
#define CR0_CD	   (1ULL << 30)
#define CR0_PG	   (1ULL << 31)
#define CR4_TSD	   (1ULL << 2)
#define CR4_DE	   (1ULL << 3)
#define CR4_PSE	   (1ULL << 4)
#define CR4_PAE	   (1ULL << 5)
#define CR4_PGE	   (1ULL << 7)
#define CR4_PCE	   (1ULL << 8)
#define CR4_OSXMM  (1ULL << 10)
#define CR4_UMIP   (1ULL << 11)
#define CR4_LA57   (1ULL << 12)
#define CR4_VMXE   (1ULL << 13)
#define CR4_SMXE   (1ULL << 14)
#define CR4_FSGS   (1ULL << 16)
#define CR4_PCIDE  (1ULL << 17)
#define CR4_OSXSAV (1ULL << 18)
#define CR4_PKE	   (1ULL << 22)
#define CR4_CET	   (1ULL << 23)
#define EFER_SCE   (1ULL << 0)
#define EFER_LME   (1ULL << 8)
#define EFER_LMA   (1ULL << 10)
#define EFER_NXE   (1ULL << 11)
#define EFER_SVME  (1ULL << 12)
#define EFER_FFXSR (1ULL << 14)
#define MSR_EFER   0xc0000080

static unsigned int failures;

static void bad(const char *fmt, ...) __printf(1, 2);
static void bad(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("crvalid: FAIL: ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	failures++;
}

static void phase_end(const char *name, unsigned int before)
{
	if (failures == before)
		printf("TEST crvalid_%s PASS\n", name);
	else
		printf("TEST crvalid_%s FAIL %u case(s)\n", name, failures - before);
}

/* MOV to CRn of v: 0, or the vector + 1 of the fault it raised. */
static int cr_write_try(int cr, u64 v)
{
	fault_clear();
	switch (cr) {
	case 0:
		asm volatile(FIXUP("mov %0, %%cr0") : : "r"(v) : "memory");
		break;
	case 3:
		asm volatile(FIXUP("mov %0, %%cr3") : : "r"(v) : "memory");
		break;
	case 4:
		asm volatile(FIXUP("mov %0, %%cr4") : : "r"(v) : "memory");
		break;
	}
	return (int)fault.taken;
}

static u64 cr_read(int cr)
{
	return cr == 0 ? read_cr0() : cr == 3 ? read_cr3() : read_cr4();
}

static u64 rdmsr_v(u32 msr)
{
	return rdmsr(msr);
}

/* A write that must raise #GP and leave the register as it was. */
static void expect_cr_gp(int cr, u64 v, const char *why)
{
	u64 before = cr_read(cr);
	int r = cr_write_try(cr, v);

	if (r != GP)
		bad("mov cr%d <- 0x%lx (%s): %s %d", cr, v, why, r ? "vector" : "no #GP", r - 1);
	if (cr_read(cr) != before)
		bad("mov cr%d <- 0x%lx (%s): cr%d changed 0x%lx -> 0x%lx", cr, v, why, cr, before, cr_read(cr));
}

/* A write that must be accepted and read back as written. */
static void expect_cr_ok(int cr, u64 v, const char *why)
{
	int r = cr_write_try(cr, v);

	if (r)
		bad("mov cr%d <- 0x%lx (%s): vector %d", cr, v, why, r - 1);
	else if (cr_read(cr) != v)
		bad("mov cr%d <- 0x%lx (%s): reads 0x%lx", cr, v, why, cr_read(cr));
}

static void expect_msr_gp(u32 msr, u64 v, const char *why)
{
	u64 before = rdmsr_v(msr);
	int r = wrmsr_try(msr, v);

	if (r != GP)
		bad("wrmsr 0x%x <- 0x%lx (%s): %s %d", msr, v, why, r ? "vector" : "no #GP", r - 1);
	if (rdmsr_v(msr) != before)
		bad("wrmsr 0x%x <- 0x%lx (%s): changed 0x%lx -> 0x%lx", msr, v, why, before, rdmsr_v(msr));
}

static void expect_msr_ok(u32 msr, u64 v, u64 back, const char *why)
{
	int r = wrmsr_try(msr, v);

	if (r)
		bad("wrmsr 0x%x <- 0x%lx (%s): vector %d", msr, v, why, r - 1);
	else if (rdmsr_v(msr) != back)
		bad("wrmsr 0x%x <- 0x%lx (%s): reads 0x%lx, want 0x%lx", msr, v, why, rdmsr_v(msr), back);
}

static u32 l1_ecx, l1_edx, l7_ebx, l7_ecx, l7_edx, x1_ecx, x1_edx;

/* The guest runs 64-bit code (CS.L = 1) with 4-level paging: SDM Vol. 3A 2.5 and the MOV CR page of Vol. 2B. */
static void phase_cr0(void)
{
	unsigned int before = failures;
	u64 cr0 = read_cr0();

	expect_cr_gp(0, cr0 | (1ULL << 32), "bit 32: CR0[63:32] reserved (SDM 2.5)");
	expect_cr_gp(0, cr0 | (1ULL << 63), "bit 63 reserved");
	expect_cr_gp(0, (cr0 | CR0_NW) & ~CR0_CD, "NW = 1 with CD = 0 (MOV CR #GP)");
	expect_cr_gp(0, cr0 & ~CR0_PE, "PG = 1 with PE = 0 (MOV CR #GP)");
	expect_cr_gp(0, cr0 & ~CR0_PG, "PG cleared in 64-bit mode (SDM 10.8.5.4, APM 14.7)");
	expect_cr_gp(0, cr0 & ~(CR0_PG | CR0_PE), "PG and PE cleared in 64-bit mode");
	/* Valid: the bits a kernel toggles; CD with NW together (caches off), then back. */
	expect_cr_ok(0, cr0 ^ CR0_WP, "WP toggled");
	expect_cr_ok(0, cr0 | CR0_TS | CR0_MP, "TS MP");
	asm volatile("clts");
	if (read_cr0() & CR0_TS)
		bad("CLTS left CR0.TS set");
	expect_cr_ok(0, cr0 ^ CR0_AM, "AM toggled");
	expect_cr_ok(0, cr0 | CR0_CD, "CD");
	expect_cr_ok(0, cr0 | CR0_CD | CR0_NW, "CD and NW");
	expect_cr_ok(0, cr0, "back");
	phase_end("cr0", before);
}

static void phase_cr4(void)
{
	unsigned int before = failures;
	u64 cr4 = read_cr4(), cr3 = read_cr3();

	if (!(l1_ecx & (1u << 26)))
		expect_cr_gp(4, cr4 | CR4_OSXSAV, "OSXSAVE without CPUID.1:ECX.XSAVE (SDM 2.5)");
	else
		bad("CPUID offers XSAVE: the hypervisor does not back it");
	if (!(l7_ecx & (1u << 2)))
		expect_cr_gp(4, cr4 | CR4_UMIP, "UMIP without CPUID.7:ECX.UMIP");
	if (!(l1_ecx & (1u << 5)))
		expect_cr_gp(4, cr4 | CR4_VMXE, "VMXE without CPUID.1:ECX.VMX");
	if (!(l7_ecx & (1u << 3)))
		expect_cr_gp(4, cr4 | CR4_PKE, "PKE without CPUID.7:ECX.PKU");
	if (!(l7_ecx & (1u << 7)) && !(l7_edx & (1u << 20)))
		expect_cr_gp(4, cr4 | CR4_CET, "CET without CET in CPUID");
	expect_cr_gp(4, cr4 | CR4_SMXE, "SMXE: no SMX for guests");
	expect_cr_gp(4, cr4 | CR4_LA57, "LA57 changed in IA-32e mode (SDM 4.1.1), or reserved");
	expect_cr_gp(4, cr4 | (1ULL << 15), "bit 15 reserved");
	expect_cr_gp(4, cr4 | (1ULL << 26), "bit 26 reserved");
	expect_cr_gp(4, cr4 | (1ULL << 32), "bit 32 reserved");
	expect_cr_gp(4, cr4 & ~CR4_PAE, "PAE cleared in IA-32e mode (SDM 10.8.5.4)");
	if (l1_ecx & (1u << 17)) {
		/* PCIDE 0 -> 1 needs CR3[11:0] = 0 (SDM 4.10.1): PWT in CR3 makes it #GP. */
		expect_cr_ok(3, cr3 | 0x8, "CR3.PWT");
		expect_cr_gp(4, cr4 | CR4_PCIDE, "PCIDE with CR3[11:0] != 0 (SDM 4.10.1)");
		expect_cr_ok(3, cr3, "CR3 back");
		expect_cr_ok(4, cr4 | CR4_PCIDE, "PCIDE with CR3[11:0] = 0 in IA-32e mode");
		expect_cr_ok(3, cr3 | 5, "PCID 5");
		/* Bit 63 asks the MOV not to flush; it does not stay in CR3 (SDM 4.10.4.1). */
		if (cr_write_try(3, cr3 | 5 | (1ULL << 63)) || read_cr3() != (cr3 | 5))
			bad("mov cr3 with bit 63 under PCIDE: vector %d, reads 0x%lx", (int)fault.taken - 1,
			    read_cr3());
		expect_cr_gp(0, read_cr0() & ~CR0_PG, "PG cleared with PCIDE (MOV CR #GP)");
		expect_cr_ok(3, cr3, "PCID 0");
		expect_cr_ok(4, cr4, "PCIDE off");
	} else {
		expect_cr_gp(4, cr4 | CR4_PCIDE, "PCIDE without CPUID.1:ECX.PCID");
	}
	/* Valid: what a kernel sets. */
	expect_cr_ok(4, cr4 ^ CR4_PGE, "PGE toggled");
	expect_cr_ok(4, cr4 | CR4_TSD | CR4_DE | CR4_PCE | CR4_OSXMM, "TSD DE PCE OSXMMEXCPT");
	if (l7_ebx & 1)
		expect_cr_ok(4, cr4 | CR4_FSGS, "FSGSBASE, which CPUID offers");
	expect_cr_ok(4, cr4, "back");
	phase_end("cr4", before);
}

static void phase_cr3(void)
{
	unsigned int before = failures;
	u64 cr3 = read_cr3();

	/* In IA-32e mode CR3 bits 63:MAXPHYADDR are reserved (SDM 4.5; MOV CR #GP), bit 63 without PCIDE too. */
	expect_cr_gp(3, cr3 | (1ULL << 63), "bit 63 without PCIDE");
	if (cpu.phys_bits < 52) {
		expect_cr_gp(3, cr3 | (1ULL << cpu.phys_bits), "bit MAXPHYADDR");
		expect_cr_gp(3, cr3 | (1ULL << 51), "bit 51");
	}
	expect_cr_gp(3, cr3 | (1ULL << 52), "bit 52");
	expect_cr_ok(3, cr3 | 0x18, "PWT PCD");
	expect_cr_ok(3, cr3, "back");
	phase_end("cr3", before);
}

static void phase_efer(void)
{
	unsigned int before = failures;
	u64 efer = rdmsr(MSR_EFER);

	if (!(efer & EFER_LMA))
		bad("EFER 0x%lx: LMA clear in 64-bit mode", efer);
	/* LME may not change while paging is on (SDM 10.8.5; APM 14.6.1). */
	expect_msr_gp(MSR_EFER, efer & ~EFER_LME, "LME cleared with paging on");
	expect_msr_gp(MSR_EFER, efer & ~(EFER_LME | EFER_LMA), "LME and LMA cleared");
	/* Reserved bits, and bits of features the guest's CPUID hides (SDM Vol. 4 2-2; APM 3.1.7). */
	if (!(x1_ecx & (1u << 2)))
		expect_msr_gp(MSR_EFER, efer | EFER_SVME, "SVME without CPUID 0x80000001:ECX.SVM");
	expect_msr_gp(MSR_EFER, efer | (1ULL << 1), "bit 1 reserved");
	expect_msr_gp(MSR_EFER, efer | (1ULL << 9), "bit 9 reserved");
	expect_msr_gp(MSR_EFER, efer | (1ULL << 63), "bit 63 reserved");
	if (!(x1_edx & (1u << 25)))
		expect_msr_gp(MSR_EFER, efer | EFER_FFXSR, "FFXSR without CPUID 0x80000001:EDX.FFXSR");
	else
		expect_msr_ok(MSR_EFER, efer | EFER_FFXSR, efer | EFER_FFXSR, "FFXSR, which CPUID offers");
	/* LMA is the CPU's: a write of 0 there is ignored, not #GP (KVM; the bit is read-only). */
	expect_msr_ok(MSR_EFER, efer & ~EFER_LMA, efer, "LMA written as 0");
	expect_msr_ok(MSR_EFER, efer ^ EFER_SCE, efer ^ EFER_SCE, "SCE toggled");
	expect_msr_ok(MSR_EFER, efer, efer, "back");
	phase_end("efer", before);
}

/* WRMSR of a non-canonical address to an MSR that holds one is #GP (SDM Vol. 4 table 2-2; APM Vol. 2 4.5.3),
 * and the MSR keeps its value; VM entry would refuse the value (SDM Vol. 3C 28.3.1.1), so it must never get there.
 * Canonical is as wide as the CPU's linear addresses, whatever CR4.LA57 says: 57 bits where CPUID has 5-level
 * paging (Intel, "5-Level Paging and 5-Level EPT", 2.5; as KVM), where bit 47 alone set is canonical and bit 56
 * alone is not. */
static void phase_msr(void)
{
	static const struct {
		u32 msr;
		const char *name;
	} canon[] = {{0xc0000100, "FS_BASE"},
		     {0xc0000101, "GS_BASE"},
		     {0xc0000102, "KERNEL_GS_BASE"},
		     {0xc0000082, "LSTAR"},
		     {0xc0000083, "CSTAR"}};
	unsigned int before = failures;
	bool la57 = l7_ecx & (1u << 16);
	u64 noncanon = la57 ? 0x0100000000000000ULL : 0x0000800000000000ULL;

	for (unsigned int i = 0; i < sizeof(canon) / sizeof(canon[0]); i++) {
		u32 msr = canon[i].msr;
		u64 old = rdmsr(msr);
		expect_msr_gp(msr, noncanon, canon[i].name);
		if (la57)
			expect_msr_ok(msr, 0x0000800000000000ULL, 0x0000800000000000ULL, canon[i].name);
		expect_msr_gp(msr, 0x8000000000000000ULL, canon[i].name);
		expect_msr_ok(msr, 0xffff800012345000ULL, 0xffff800012345000ULL, canon[i].name);
		expect_msr_ok(msr, 0x00007ffffffff000ULL, 0x00007ffffffff000ULL, canon[i].name);
		expect_msr_ok(msr, old, old, canon[i].name);
	}
	/* SYSENTER_ESP/EIP: #GP on Intel; AMD has no 64-bit SYSENTER and takes any value (KVM does both). */
	for (u32 msr = 0x175; msr <= 0x176; msr++) {
		u64 old = rdmsr(msr);
		if (!cpu.is_amd)
			expect_msr_gp(msr, noncanon, msr == 0x175 ? "SYSENTER_ESP" : "SYSENTER_EIP");
		else if (wrmsr_try(msr, noncanon))
			bad("wrmsr 0x%x non-canonical on AMD: vector %d", msr, (int)fault.taken - 1);
		expect_msr_ok(msr, 0xffffffff81000000ULL, 0xffffffff81000000ULL, "SYSENTER canonical");
		expect_msr_ok(msr, old, old, "SYSENTER back");
	}
	/* IA32_PAT: each entry one of UC, WC, WT, WP, WB, UC- (SDM Vol. 3A 12.12.2); 2, 3 and 8+ are #GP, as VMX entry
	 * checks the guest PAT too (SDM Vol. 3C 28.3.1.1). On SVM the PAT MSR is the CPU's own, not entry-checked
	 * state the hypervisor must guard, and QEMU's SVM neither checks the value nor keeps it apart from G_PAT: the
	 * invalid writes are left out there. */
	u64 pat = rdmsr(0x277);
	if (!cpu.is_amd) {
		expect_msr_gp(0x277, (pat & ~0xffULL) | 2, "PAT entry 2 reserved");
		expect_msr_gp(0x277, (pat & ~0xff00000000000000ULL) | (8ULL << 56), "PAT entry 8 reserved");
	}
	expect_msr_ok(0x277, 0x0007010600070106ULL, 0x0007010600070106ULL, "PAT with WC");
	expect_msr_ok(0x277, pat, pat, "PAT back");
	phase_end("msr", before);
}

/* XSETBV with CR4.OSXSAVE = 0 is #UD (SDM Vol. 2D XSETBV), whatever XCR0 value: the guest cannot set OSXSAVE here
 * (phase cr4), so every attempt is #UD; XGETBV too. */
static void phase_xsetbv(void)
{
	unsigned int before = failures;
	u32 lo = 1, hi = 0, idx = 0;

	if (l1_ecx & (1u << 27))
		bad("CPUID.1:ECX.OSXSAVE set with CR4.OSXSAVE clear");
	for (int i = 0; i < 3; i++) {
		lo = i == 0 ? 1 : i == 1 ? 0 : 4; /* x87 (valid); x87 clear; AVX without SSE */
		fault_clear();
		asm volatile(FIXUP("xsetbv") : : "a"(lo), "d"(hi), "c"(idx) : "memory");
		if (fault.taken != UD)
			bad("xsetbv 0x%x with CR4.OSXSAVE = 0: %s %d", lo, fault.taken ? "vector" : "no #UD",
			    (int)fault.taken - 1);
	}
	fault_clear();
	asm volatile(FIXUP("xgetbv") : "=a"(lo), "=d"(hi) : "c"(idx) : "memory");
	if (fault.taken != UD)
		bad("xgetbv with CR4.OSXSAVE = 0: %s %d", fault.taken ? "vector" : "no #UD", (int)fault.taken - 1);
	phase_end("xsetbv", before);
}

/* An instruction the guest's CPUID does not offer raises #UD, as on a CPU without it: INVPCID (CPUID.(7,0):EBX[10]),
 * which VMX runs only with its "enable INVPCID" control (SDM Vol. 3C 25.4.1) and an AMD CPU that has it runs unless
 * the INVPCID intercept is set (APM Vol. 2 15.9). */
static void phase_invpcid(void)
{
	unsigned int before = failures;
	struct { u64 pcid, addr; } d = { 0, 0 };

	if (l7_ebx & (1u << 10))
		return;
	fault_clear();
	asm volatile(FIXUP("invpcid %0, %1") : : "m"(d), "r"(2ULL) : "memory");
	if (fault.taken != UD)
		bad("invpcid with CPUID.(7,0):EBX[10] clear: %s %d", fault.taken ? "vector" : "no #UD",
		    (int)fault.taken - 1);
	phase_end("invpcid", before);
}

/* Outside IA-32e mode, in 32-bit protected mode with 32-bit paging (lib/mode32.S leaves long mode through
 * compatibility mode, which also proves clearing CR0.PG there is accepted): CR4.PCIDE can only be set in IA-32e
 * mode (SDM 4.10.1), OSXSAVE stays reserved, and NW without CD or PG without PE is #GP. A #GP ends the script
 * (fatal_vector), which is the check; a valid write runs to the end. */
static u32 pd32[1024] __attribute__((aligned(4096)));
static struct m32_op ops[2];

static void run32(u32 kind, u32 val, const char *why, bool want_gp)
{
	struct m32_params p = {0};

	ops[0] = (struct m32_op){.kind = kind, .lo = val};
	ops[1] = (struct m32_op){.kind = M32_END};
	p.cr0 = (u32)read_cr0();
	p.cr3 = (u32)(u64)pd32;
	p.cr4 = (u32)(read_cr4() & ~(CR4_PCIDE | CR4_PGE | CR4_PAE)) | CR4_PSE;
	p.efer = (u32)(rdmsr(MSR_EFER) & ~(EFER_LME | EFER_LMA));
	p.ops = (u32)(u64)ops;
	bool done = mode32_run(&p);
	if (want_gp && (done || p.fatal_vector != GP))
		bad("32-bit: %s: %s %u", why, done ? "no #GP" : "vector", p.fatal_vector - 1);
	if (!want_gp && !done)
		bad("32-bit: %s: vector %u at 0x%x", why, p.fatal_vector - 1, p.fatal_eip);
}

static void phase_mode32(void)
{
	unsigned int before = failures;

	/* The low 1 GiB identity-mapped with 4 MiB pages, supervisor only. */
	for (u32 i = 0; i < 256; i++)
		pd32[i] = (i << 22) | 0x83; /* P W PS */
	u32 cr0 = (u32)read_cr0(), cr4 = (u32)(read_cr4() & ~(CR4_PCIDE | CR4_PGE | CR4_PAE)) | CR4_PSE;

	run32(M32_SET_CR4, cr4 | CR4_PGE, "CR4.PGE set, 32-bit", false);
	if (l1_ecx & (1u << 17))
		run32(M32_SET_CR4, cr4 | CR4_PCIDE, "PCIDE outside IA-32e mode (SDM 4.10.1)", true);
	run32(M32_SET_CR4, cr4 | CR4_OSXSAV, "OSXSAVE without XSAVE, 32-bit", true);
	/* MOV CR0 #GP (SDM Vol. 2A, APM Vol. 2 3.1.1). Every CR0 write exits on both backends: under SVM with NPT too,
	 * since QEMU's SVM does not check these two and would fail its next VMRUN instead (svm_vcpu.c). */
	run32(M32_SET_CR0, (cr0 | CR0_NW) & ~CR0_CD, "NW without CD, 32-bit", true);
	run32(M32_SET_CR0, cr0 & ~(u32)CR0_PE, "PG without PE, 32-bit", true);
	phase_end("mode32", before);
}

/* Halt for good: IF = 0, no NMI source. With `pit` the PIT interrupts at 100 Hz into the PIC first, so an
 * interrupt is pending the whole time and the CPU still cannot take it. */
static void __noreturn stuck(void)
{
	if (cmdline_has("pit")) {
		outb(0x43, 0x34); /* channel 0, lobyte/hibyte, rate generator */
		outb(0x40, (u8)(11932 & 0xff));
		outb(0x40, (u8)(11932 >> 8));
		outb(0x21, 0xfe); /* PIC: IRQ0 only */
		printf("crvalid: PIT running, IRQ0 unmasked\n");
	}
	printf("crvalid: halting with interrupts off; the VM must end as halted\n");
	for (;;)
		asm volatile("cli; hlt" ::: "memory");
}

int test_main(void)
{
	u32 a, b;

	cpuid(1, 0, &a, &b, &l1_ecx, &l1_edx);
	cpuid(7, 0, &a, &l7_ebx, &l7_ecx, &l7_edx);
	cpuid(0x80000001, 0, &a, &b, &x1_ecx, &x1_edx);
	printf("crvalid: %s CPU, MAXPHYADDR %u, CPUID.1:ECX 0x%x 7:EBX 0x%x 7:ECX 0x%x\n", cpu.is_amd ? "AMD" : "Intel",
	       cpu.phys_bits, l1_ecx, l7_ebx, l7_ecx);
	phase_cr0();
	phase_cr4();
	phase_cr3();
	phase_efer();
	phase_msr();
	phase_xsetbv();
	phase_invpcid();
	phase_mode32();
	if (failures)
		test_fail("%u case(s)", failures);
	if (cmdline_has("stuck"))
		stuck();
	test_pass();
}
