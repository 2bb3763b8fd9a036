/* apiceoi: the xAPIC EOI write, whichever path the hypervisor takes for it (issue 15: the decode-free EOI of
 * vm/lapic_eoi.c with hv.apicv=1, the emulator with hv.apicv=0). Two self-IPIs are put in service nested, the low one
 * (0x50) first, and each is ended by a different encoding of the EOI store:
 *   - EOI retires the highest-priority in-service vector only (SDM Vol. 3 11.8.5): after the EOI in the 0x60
 *     handler, ISR bit 0x60 is clear and 0x50 still set;
 *   - MOV r/m32, r32 (89) ends 0x60, MOV r/m32, imm32 (C7 /0) ends 0x50;
 *   - a byte store to the EOI register first, in the 0x60 handler: the APIC registers are 32 bits wide and must be
 *     written so (SDM Vol. 3 11.4.1); the hypervisor drops other writes as KVM does (our choice, not the SDM's), so
 *     0x60 must still be in service after it;
 *   - an EOI with nothing in service changes nothing (the ISR stays empty, no interrupt appears);
 *   - a self-IPI the TPR holds comes with the MMIO write that lowers the TPR, within a few instructions;
 *   - a one-shot timer armed by a cached MMIO move of the initial count fires as one armed by an emulated write;
 *   - then in x2APIC mode (SDM 11.12): a self-IPI through the SELF IPI MSR, ISR read through its MSR in the handler,
 *     the EOI MSR; under APIC virtualization (path=2) none of the three MSR accesses may exit (SDM 30.5).
 * With the test device the counters must show the path `path=` names: 1 (the default), the decode-free EOI:
 * APIC_EOI_FAST grows by exactly the 3 dword MOV EOIs and MMIO_EXITS by at least the 4 stores; 0, the emulator:
 * APIC_EOI_FAST does not grow; 2, VMX APIC virtualization: the CPU does every access here itself (register reads,
 * the EOIs, the self-IPIs, SDM Vol. 3 30.4 and 30.1.5), so MMIO_EXITS must not grow at all. The byte store is left
 * out there: the CPU virtualizes any write within a register's first dword (SDM 30.4.3.1), and a non-dword APIC
 * write is undefined on hardware. */
#include "guest.h"

const char test_name[] = "apiceoi";

#define APIC_BASE	     ((u64)0xfee00000)
#define APIC_TPR	     0x080
#define APIC_EOI	     0x0b0
#define APIC_SVR	     0x0f0
#define APIC_ISR	     0x100
#define APIC_IRR	     0x200
#define APIC_ICR_LO	     0x300
#define LOW		     0x50
#define HIGH		     0x60
#define X2		     0x70
#define MSR_APIC_BASE_X2APIC (1u << 10)
#define MSR_X2_EOI	     0x80b
#define MSR_X2_ISR	     0x810
#define MSR_X2_SELF_IPI	     0x83f

static volatile u32 *const eoi_reg = (volatile u32 *)(APIC_BASE + APIC_EOI);
static volatile bool in_low, low_done, high_done, x2_done;
static volatile u32 failures;
static u64 path = 1; /* 0 emulated, 1 decode-free EOI, 2 APIC virtualization */

static u32 apic_read(u32 reg)
{
	return *(volatile u32 *)(APIC_BASE + reg);
}

static void apic_write(u32 reg, u32 v)
{
	*(volatile u32 *)(APIC_BASE + reg) = v;
}

static bool vec_bit(u32 base, u8 vec)
{
	return (apic_read(base + (vec / 32) * 0x10) >> (vec % 32)) & 1;
}

static void self_ipi(u8 vec)
{
	apic_write(APIC_ICR_LO, (1u << 18) | vec); /* self shorthand, fixed, edge */
}

static void check(bool ok, const char *what)
{
	if (!ok) {
		printf("apiceoi: FAIL %s (ISR 0x50 %d 0x60 %d)\n", what, vec_bit(APIC_ISR, LOW),
		       vec_bit(APIC_ISR, HIGH));
		failures++;
	}
}

/* The encodings are written out so the compiler cannot pick another form. */
static void eoi_mov_reg(void)
{
	u32 zero = 0;
	asm volatile("movl %1, %0" : "=m"(*eoi_reg) : "r"(zero) : "memory"); /* 89 /r */
}

static void eoi_mov_imm(void)
{
	asm volatile("movl $0, %0" : "=m"(*eoi_reg) : : "memory"); /* C7 /0 id */
}

static void eoi_byte(void)
{
	asm volatile("movb $0, %0" : "=m"(*(volatile u8 *)eoi_reg) : : "memory"); /* C6 /0 ib */
}

static void high_irq(struct trap_frame *f)
{
	(void)f;
	check(in_low, "0x60 arrived outside the 0x50 handler");
	check(vec_bit(APIC_ISR, LOW) && vec_bit(APIC_ISR, HIGH), "both vectors in service in the nested handler");
	if (path != 2) {
		eoi_byte();
		check(vec_bit(APIC_ISR, HIGH), "a byte store to EOI ended 0x60");
	}
	eoi_mov_reg();
	check(!vec_bit(APIC_ISR, HIGH), "EOI (MOV r32) left 0x60 in service");
	check(vec_bit(APIC_ISR, LOW), "EOI (MOV r32) ended 0x50 too, not only the highest");
	high_done = true;
}

static void low_irq(struct trap_frame *f)
{
	(void)f;
	in_low = true;
	check(vec_bit(APIC_ISR, LOW) && !vec_bit(APIC_ISR, HIGH), "only 0x50 in service in its handler");
	self_ipi(HIGH);
	sti();
	for (u64 t0 = rdtsc(); !high_done && rdtsc() - t0 < 2000000000ULL;)
		pause();
	cli();
	check(high_done, "0x60 never arrived while 0x50 was in service");
	in_low = false;
	eoi_mov_imm();
	check(!vec_bit(APIC_ISR, LOW), "EOI (MOV imm32) left 0x50 in service");
	low_done = true;
}

static bool x2_isr(u8 vec)
{
	return (rdmsr(MSR_X2_ISR + vec / 32) >> (vec % 32)) & 1;
}

static void x2_irq(struct trap_frame *f)
{
	(void)f;
	check(x2_isr(X2), "x2APIC: 0x70 not in service in its handler (ISR MSR)");
	wrmsr(MSR_X2_EOI, 0);
	check(!x2_isr(X2), "x2APIC: the EOI MSR left 0x70 in service");
	x2_done = true;
}

/* The TPR: a self-IPI it holds back (class 5 under TPR 0xf0) comes as soon as an MMIO write lowers the TPR, before
 * the guest's next instructions. That write is a cached move to the vLAPIC's page (apic_write's store, decoded
 * many times over by now), which must take the run loop's full pass rather than the fast re-entry of a move to a
 * device (vm/mmio_fast.c): a TPR change raises no new request. The loop's bound is far below any timer's period. */
#define TPR_VEC	  0x58
#define TPR_SPINS 16
static volatile u32 tpr_irqs;
static void tpr_irq(struct trap_frame *f)
{
	tpr_irqs++;
	apic_write(APIC_EOI, 0);
}

static void tpr_phase(void)
{
	apic_write(APIC_TPR, 0xf0);
	self_ipi(TPR_VEC);
	sti();
	for (unsigned int i = 0; i < 8; i++)
		pause();
	u32 held = tpr_irqs;
	apic_write(APIC_TPR, 0);
	unsigned int spins = 0;
	while (!tpr_irqs && spins < TPR_SPINS)
		spins++;
	cli();
	check(!held, "tpr: the self-IPI came through TPR 0xf0");
	check(tpr_irqs == 1, "tpr: the self-IPI did not come within the loop after the TPR write lowered it");
	printf("apiceoi: tpr: the interrupt after %u loop turns\n", spins);
}

/* The timer: a one-shot armed by an MMIO write of the initial count fires as the vLAPIC timer should, whichever path
 * the write took. tmict_write's store is its own instruction: its first run is decoded and emulated whole, its second
 * is a cached move (vm/mmio_fast.c), which must not re-enter the guest without the run loop arming the host timer
 * for the new deadline. Each delay is in TSC cycles from the write to the interrupt; the second may not be more than
 * a few times the first (with the host timer left unarmed it would wait for some other deadline, or forever). */
#define APIC_LVT_TIMER 0x320
#define APIC_TMICT     0x380
#define APIC_TDCR      0x3e0
#define TIMER_VEC      0x59
static volatile u32 timer_irqs;
static void timer_irq(struct trap_frame *f)
{
	timer_irqs++;
	apic_write(APIC_EOI, 0);
}

static __attribute__((noinline)) void tmict_write(u32 count)
{
	*(volatile u32 *)(APIC_BASE + APIC_TMICT) = count;
}

static u64 timer_delay(u64 bound)
{
	u32 n = timer_irqs;
	u64 t0 = rdtsc(), t = t0;

	tmict_write(1);
	sti();
	while (timer_irqs == n && (t = rdtsc()) - t0 < bound)
		pause();
	cli();
	return timer_irqs == n ? ~0ULL : t - t0;
}

static void timer_phase(void)
{
	trap_set_handler(TIMER_VEC, timer_irq);
	apic_write(APIC_TDCR, 0xb); /* divide by 1 */
	apic_write(APIC_LVT_TIMER, TIMER_VEC); /* one-shot, unmasked */
	u64 first = timer_delay(4000000000ULL);
	check(first != ~0ULL, "timer: the one-shot armed by the emulated TMICT write never fired");
	u64 again = first == ~0ULL ? 0 : timer_delay(8 * first);
	check(again != ~0ULL, "timer: the one-shot armed by the cached TMICT move did not fire within 8x the first");
	apic_write(APIC_LVT_TIMER, 1u << 16);
	printf("apiceoi: timer: one-shot after %lu, then %lu TSC cycles\n", first, again);
}

static void x2apic_phase(bool counters)
{
	u32 a, b, c, d;

	cpuid(1, 0, &a, &b, &c, &d);
	if (!(c & (1u << 21))) {
		printf("apiceoi: no x2APIC, phase skipped\n");
		return;
	}
	trap_set_handler(X2, x2_irq);
	wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | MSR_APIC_BASE_X2APIC);
	u64 m0 = counters ? stat_read(VM_STAT_MSR_EXITS) : 0;
	wrmsr(MSR_X2_SELF_IPI, X2);
	sti();
	for (u64 t0 = rdtsc(); !x2_done && rdtsc() - t0 < 2000000000ULL;)
		pause();
	cli();
	check(x2_done, "x2APIC: the self-IPI never arrived");
	if (counters) {
		u64 dm = stat_read(VM_STAT_MSR_EXITS) - m0;
		printf("apiceoi: x2APIC: MSR_EXITS +%lu\n", dm);
		if (path == 2)
			check(dm == 0, "x2APIC: an ISR, EOI or SELF IPI MSR access exited under APIC virtualization");
		else
			check(dm >= 3, "x2APIC: fewer MSR exits than accesses");
	}
}

/* The EOI store from code the guest rewrites in place (vm/lapic_eoi.c takes its decode from the MMIO decode cache,
 * vm/emulate/dcache.h): a cached decode must never outlive the bytes it was made from. The same RIP holds a dword
 * MOV store (89 02: mov %eax,(%rdx)), then a byte store of the same length (88 02: mov %al,(%rdx)), then the dword
 * store again. With nothing in service each EOI is harmless (SDM Vol. 3 11.8.5), so the test device's counter alone
 * tells the path: the byte store must not be taken for the cached dword store, so on path 1 the counter grows by
 * exactly 2 over the three runs. */
static u8 eoi_code[16] __attribute__((aligned(16))) = {0x89, 0x02, 0xc3}; /* mov %eax,(%rdx); ret */

static void eoi_from_code(u8 op)
{
	eoi_code[0] = op;
	barrier();
	asm volatile("call *%0" : : "r"(eoi_code), "a"(0), "d"(APIC_BASE + APIC_EOI) : "memory");
}

static void rewrite_phase(bool counters)
{
	u64 f0 = counters ? stat_read(VM_STAT_APIC_EOI_FAST) : 0;

	eoi_from_code(0x89);
	eoi_from_code(0x88);
	eoi_from_code(0x89);
	check(!vec_bit(APIC_ISR, LOW) && !vec_bit(APIC_ISR, HIGH), "rewrite: ISR not empty");
	if (counters) {
		u64 df = stat_read(VM_STAT_APIC_EOI_FAST) - f0;
		printf("apiceoi: rewritten EOI code: APIC_EOI_FAST +%lu (path=%lu)\n", df, path);
		check(df == (path == 1 ? 2 : 0), "rewrite: the byte store took the cached dword store's fast path");
	}
}

int test_main(void)
{
	bool counters = counters_available();

	cmdline_u64("path", &path);
	if (!cpu.has_apic)
		test_fail("no APIC");
	trap_set_handler(LOW, low_irq);
	trap_set_handler(HIGH, high_irq);
	apic_write(APIC_SVR, 0x100 | 0xff);
	apic_write(APIC_TPR, 0);
	u64 f0 = counters ? stat_read(VM_STAT_APIC_EOI_FAST) : 0;
	u64 m0 = counters ? stat_read(VM_STAT_MMIO_EXITS) : 0;

	/* Nothing in service: harmless. */
	eoi_mov_reg();
	check(!vec_bit(APIC_ISR, LOW) && !vec_bit(APIC_ISR, HIGH), "ISR not empty after an EOI with none in service");

	self_ipi(LOW);
	check(vec_bit(APIC_IRR, LOW), "self-IPI 0x50 not pending in IRR with IF=0");
	sti();
	for (u64 t0 = rdtsc(); !low_done && rdtsc() - t0 < 4000000000ULL;)
		pause();
	cli();
	check(low_done, "0x50 never delivered");
	check(!vec_bit(APIC_ISR, LOW) && !vec_bit(APIC_ISR, HIGH), "ISR not empty at the end");

	if (counters) {
		u64 df = stat_read(VM_STAT_APIC_EOI_FAST) - f0, dm = stat_read(VM_STAT_MMIO_EXITS) - m0;
		printf("apiceoi: APIC_EOI_FAST +%lu, MMIO_EXITS +%lu (path=%lu)\n", df, dm, path);
		check(df == (path == 1 ? 3 : 0), "APIC_EOI_FAST did not count the dword MOV EOIs as path= says");
		if (path == 2)
			check(dm == 0, "an APIC access exited under APIC virtualization");
		else
			check(dm >= 4, "fewer MMIO exits than EOI stores");
	}
	rewrite_phase(counters);
	trap_set_handler(TPR_VEC, tpr_irq);
	tpr_phase();
	timer_phase();
	x2apic_phase(counters);
	if (failures)
		test_fail("%u checks failed", failures);
	test_pass();
}
