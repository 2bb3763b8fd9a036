/* Local APIC access. x2APIC mode is kept when firmware enabled it (machines with APIC IDs above 255 need it);
 * otherwise the xAPIC page is mapped uncached. Only what the hypervisor itself needs: identity, EOI, and the IPIs
 * of SMP bring-up and panic. */
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/desc.h"
#include "arch/x86/msr_index.h"
#include "hv/errno.h"
#include "kernel/percpu.h"
#include "hv/log.h"
#include "mm/mm.h"


enum {
	APIC_ID = 0x20,
	APIC_EOI = 0xb0,
	APIC_SVR = 0xf0,
	APIC_ICR_LO = 0x300,
	APIC_ICR_HI = 0x310,
	APIC_LVT_TIMER = 0x320,
	APIC_TIMER_INIT = 0x380,
	APIC_TIMER_CUR = 0x390,
	APIC_TIMER_DIV = 0x3e0,
};
#define LVT_MASKED BIT(16)
#define LVT_TSC_DEADLINE (2u << 17)
#define ICR_PENDING BIT(12)
#define ICR_LEVEL_ASSERT BIT(14)
#define ICR_INIT (5u << 8)
#define ICR_STARTUP (6u << 8)
#define ICR_NMI (4u << 8)
#define ICR_ALL_BUT_SELF (3u << 18)
#define ICR_SELF (1u << 18)

static volatile u32 *xapic; /* set once by the BSP before APs start */
static bool x2apic;

static u32 lapic_read(u32 reg)
{
	return x2apic ? (u32)rdmsr(0x800 + (reg >> 4)) : xapic[reg / 4];
}

static void lapic_write(u32 reg, u32 v)
{
	if (x2apic)
		wrmsr(0x800 + (reg >> 4), v);
	else
		xapic[reg / 4] = v;
}

int lapic_init(u64 madt_base)
{
	u64 base = rdmsr(MSR_IA32_APIC_BASE);

	x2apic = (base & APIC_BASE_X2APIC) != 0;
	if (!x2apic) {
		u64 pa = base & GENMASK_ULL(51, 12);
		if (madt_base && madt_base != pa)
			pr_warn("hv: apic: MADT says LAPIC at 0x%llx, IA32_APIC_BASE says 0x%llx; using the MSR\n",
				(unsigned long long)madt_base, (unsigned long long)pa);
		xapic = ioremap(pa, PAGE_SIZE);
		if (!xapic)
			return -ENOMEM;
	}
	return 0;
}

void lapic_enable(void)
{
	u64 base = rdmsr(MSR_IA32_APIC_BASE);
	if (!(base & APIC_BASE_ENABLE))
		wrmsr(MSR_IA32_APIC_BASE, base | APIC_BASE_ENABLE);
	lapic_write(APIC_SVR, BIT(8) | VEC_SPURIOUS);
}

bool lapic_is_x2apic(void)
{
	return x2apic;
}

u32 lapic_id(void)
{
	u32 id = lapic_read(APIC_ID);
	return x2apic ? id : id >> 24;
}

void lapic_eoi(void)
{
	lapic_write(APIC_EOI, 0);
}

static void send_ipi(u32 dest, u32 icr)
{
	if (x2apic) {
		/* A WRMSR to the x2APIC ICR is not serializing: the stores before it (a request, an NMI kick's flag) must
		 * be visible before the IPI can arrive (Linux's weak_wrmsr_fence). */
		__asm__ __volatile__("mfence; lfence" ::: "memory");
		wrmsr(0x830, ((u64)dest << 32) | icr);
		return;
	}
	lapic_write(APIC_ICR_HI, dest << 24);
	lapic_write(APIC_ICR_LO, icr);
	for (int i = 0; i < 1000000 && (lapic_read(APIC_ICR_LO) & ICR_PENDING); i++)
		cpu_relax();
}

void lapic_send_init(u32 apic_id)
{
	send_ipi(apic_id, ICR_INIT | ICR_LEVEL_ASSERT);
}

void lapic_send_sipi(u32 apic_id, u8 vector_page)
{
	send_ipi(apic_id, ICR_STARTUP | vector_page);
}

void lapic_send_wake(u32 apic_id)
{
	send_ipi(apic_id, VEC_WAKE);
}

void lapic_send_wake_self(void)
{
	send_ipi(0, ICR_SELF | VEC_WAKE);
}

void lapic_send_wake_others(void)
{
	send_ipi(0, ICR_ALL_BUT_SELF | VEC_WAKE);
}

void lapic_send_nmi(u32 apic_id)
{
	send_ipi(apic_id, ICR_NMI | ICR_LEVEL_ASSERT);
}

void lapic_send_nmi_others(void)
{
	send_ipi(0, ICR_NMI | ICR_ALL_BUT_SELF | ICR_LEVEL_ASSERT);
}

/* Host timer. Set up by the BSP before APs start; every CPU programs its own LAPIC. */
static bool tsc_deadline_mode;
static u64 timer_ticks_per_mtsc; /* LAPIC timer ticks (divide 16) per 2^20 TSC cycles, for one-shot mode */

void host_timer_init(void)
{
	tsc_deadline_mode = cpuid(1).ecx & BIT(24);
	if (tsc_deadline_mode) {
		pr_info("hv: apic: host timer in TSC-deadline mode\n");
		return;
	}
	lapic_write(APIC_TIMER_DIV, 3); /* divide by 16 */
	lapic_write(APIC_LVT_TIMER, LVT_MASKED | VEC_HOST_TIMER);
	lapic_write(APIC_TIMER_INIT, 0xffffffffu);
	u64 t0 = rdtsc();
	while (rdtsc() - t0 < (1ULL << 22))
		cpu_relax();
	u32 ticks = 0xffffffffu - lapic_read(APIC_TIMER_CUR);
	lapic_write(APIC_TIMER_INIT, 0);
	timer_ticks_per_mtsc = MAX((u64)ticks >> 2, 1ULL);
	pr_info("hv: apic: host timer in one-shot mode, %llu ticks per 2^20 TSC cycles\n",
		(unsigned long long)timer_ticks_per_mtsc);
}

void host_timer_arm(u64 deadline)
{
	struct percpu *cpu = this_cpu();

	/* The run loop re-arms before every entry; most of the time nothing changed. */
	if (deadline == cpu->host_timer_deadline)
		return;
	cpu->host_timer_deadline = deadline;
	if (tsc_deadline_mode) {
		if (deadline == ~0ULL) {
			wrmsr(MSR_IA32_TSC_DEADLINE, 0);
			return;
		}
		lapic_write(APIC_LVT_TIMER, LVT_TSC_DEADLINE | VEC_HOST_TIMER);
		/* The LVT mode switch must land before the deadline write, or the deadline can be dropped (as in
		 * Linux's __setup_APIC_LVTT). */
		__asm__ __volatile__("mfence" ::: "memory");
		wrmsr(MSR_IA32_TSC_DEADLINE, deadline ? deadline : 1);
		return;
	}
	if (deadline == ~0ULL) {
		lapic_write(APIC_TIMER_INIT, 0);
		return;
	}
	u64 now = rdtsc(), delta = deadline > now ? deadline - now : 1;
	u64 ticks = (delta >> 20) * timer_ticks_per_mtsc + (((delta & 0xfffff) * timer_ticks_per_mtsc) >> 20);
	lapic_write(APIC_LVT_TIMER, VEC_HOST_TIMER);
	lapic_write(APIC_TIMER_INIT, (u32)MIN(MAX(ticks, 1ULL), 0xffffffffULL));
}

void host_idle(u64 deadline)
{
	/* ~0 is "no deadline", not a time in the past. */
	if (deadline != ~0ULL && (s64)(rdtsc() - deadline) >= 0)
		return;
	host_timer_arm(deadline);
	/* STI; HLT: the interrupt that ends the HLT is taken right away and acknowledged. An interrupt that came while
	 * interrupts were off (a wake IPI sent after the caller last looked) ends it at once. */
	__asm__ __volatile__("sti; hlt; cli" ::: "memory");
}

void host_take_pending_interrupt(void)
{
	__asm__ __volatile__("sti; nop; cli" ::: "memory");
}
