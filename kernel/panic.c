/* panic(): stop every CPU, print what is known (message, registers, backtrace) and take the configured action.
 * The first CPU to panic wins; any other that panics or takes the stop NMI just halts. The console lock is
 * bypassed from here on, because the CPU that panicked may have held it. */
#include <stdarg.h>

#include "arch/x86/cpu.h"
#include "arch/x86/desc.h"
#include "kernel/console.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/power.h"
#include "kernel/printf.h"
#include "hv/layout.h"
#include "hv/log.h"
#include "hv/platform.h"

int panic_action = PANIC_HALT;
void (*panic_stop_others)(void);
static u32 panic_cpu = ~0u;

bool panic_in_progress(void)
{
	return __atomic_load_n(&panic_cpu, __ATOMIC_ACQUIRE) != ~0u;
}

static void panic_enter(void)
{
	u32 me = this_cpu_id(), none = ~0u;

	cli();
	if (!__atomic_compare_exchange_n(&panic_cpu, &none, me, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		cpu_halt_forever(); /* another CPU is already reporting; let it speak */
	console_enter_panic();
	if (panic_stop_others)
		panic_stop_others();
}

static bool is_kernel_address(u64 a)
{
	return a >= PHYS_MAP_BASE && a < PHYS_MAP_BASE + (1ULL << 46);
}

void dump_backtrace(u64 rbp)
{
	extern char __text_start[], __text_end[];

	pr_emerg("backtrace (symbolise with: addr2line -f -e build/hv.elf ADDR):\n");
	for (int depth = 0; depth < 24 && rbp; depth++) {
		if ((rbp & 7) || !(is_kernel_address(rbp) || rbp >= KERNEL_VIRT_BASE))
			break;
		u64 ret = ((const u64 *)rbp)[1];
		if (ret < (u64)__text_start || ret >= (u64)__text_end)
			break;
		pr_emerg("  #%d 0x%016llx\n", depth, (unsigned long long)ret);
		rbp = ((const u64 *)rbp)[0];
	}
}

static __noreturn void panic_finish(void)
{
	switch (panic_action) {
	case PANIC_POWEROFF:
		pr_emerg("hv: powering off after panic\n");
		machine_poweroff(POWEROFF_STATUS_PANIC);
	case PANIC_REBOOT:
		pr_emerg("hv: rebooting after panic\n");
		machine_reboot();
	default:
		pr_emerg("hv: system halted\n");
		cpu_halt_forever();
	}
}

static void dump_regs(const struct irq_frame *f)
{
	pr_emerg("RIP %016llx CS %04llx RFLAGS %016llx RSP %016llx SS %04llx\n", (unsigned long long)f->rip,
		 (unsigned long long)f->cs, (unsigned long long)f->rflags, (unsigned long long)f->rsp,
		 (unsigned long long)f->ss);
	pr_emerg("RAX %016llx RBX %016llx RCX %016llx RDX %016llx\n", (unsigned long long)f->rax,
		 (unsigned long long)f->rbx, (unsigned long long)f->rcx, (unsigned long long)f->rdx);
	pr_emerg("RSI %016llx RDI %016llx RBP %016llx R8  %016llx\n", (unsigned long long)f->rsi,
		 (unsigned long long)f->rdi, (unsigned long long)f->rbp, (unsigned long long)f->r8);
	pr_emerg("R9  %016llx R10 %016llx R11 %016llx R12 %016llx\n", (unsigned long long)f->r9,
		 (unsigned long long)f->r10, (unsigned long long)f->r11, (unsigned long long)f->r12);
	pr_emerg("R13 %016llx R14 %016llx R15 %016llx\n", (unsigned long long)f->r13, (unsigned long long)f->r14,
		 (unsigned long long)f->r15);
	pr_emerg("CR0 %016llx CR2 %016llx CR3 %016llx CR4 %016llx\n", (unsigned long long)read_cr0(),
		 (unsigned long long)read_cr2(), (unsigned long long)read_cr3(), (unsigned long long)read_cr4());
}

/* Capture the caller's registers in the same layout an exception would, so one printer serves both. */
#define capture_frame(f)                                                                                               \
	__asm__ __volatile__("movq %%rax, 0x70(%0)\n\tmovq %%rbx, 0x68(%0)\n\tmovq %%rcx, 0x60(%0)\n\t"              \
			     "movq %%rdx, 0x58(%0)\n\tmovq %%rsi, 0x50(%0)\n\tmovq %%rdi, 0x48(%0)\n\t"              \
			     "movq %%rbp, 0x40(%0)\n\tmovq %%r8, 0x38(%0)\n\tmovq %%r9, 0x30(%0)\n\t"                \
			     "movq %%r10, 0x28(%0)\n\tmovq %%r11, 0x20(%0)\n\tmovq %%r12, 0x18(%0)\n\t"              \
			     "movq %%r13, 0x10(%0)\n\tmovq %%r14, 0x08(%0)\n\tmovq %%r15, 0x00(%0)\n\t"              \
			     "leaq 0(%%rip), %%rax\n\tmovq %%rax, 0x88(%0)\n\tmovq %%rsp, 0xa0(%0)\n\t"              \
			     "pushfq\n\tpopq 0x98(%0)\n\tmovw %%cs, 0x90(%0)\n\tmovw %%ss, 0xa8(%0)"                 \
			     :                                                                                         \
			     : "r"(f)                                                                                  \
			     : "rax", "memory")

__noreturn void panic(const char *fmt, ...)
{
	struct irq_frame f = { 0 };
	char msg[256];
	va_list ap;

	capture_frame(&f);
	panic_enter();
	va_start(ap, fmt);
	hv_vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pr_emerg("\nhv: PANIC on CPU %u: %s\n", this_cpu_id(), msg);
	dump_regs(&f);
	dump_backtrace((u64)__builtin_frame_address(0));
	panic_finish();
}

static const char *const exception_names[32] = {
	"#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow", "#BR bound range",
	"#UD invalid opcode", "#NM device not available", "#DF double fault", "coprocessor overrun",
	"#TS invalid TSS", "#NP segment not present", "#SS stack fault", "#GP general protection",
	"#PF page fault", "reserved 15", "#MF x87 error", "#AC alignment check", "#MC machine check",
	"#XM SIMD error", "#VE virtualization exception", "#CP control protection",
};

__noreturn void panic_exception(const struct irq_frame *f)
{
	const char *name = f->vector < 32 && exception_names[f->vector] ? exception_names[f->vector] : "reserved";

	panic_enter();
	pr_emerg("\nhv: EXCEPTION vector %llu (%s) error code 0x%llx on CPU %u\n", (unsigned long long)f->vector, name,
		 (unsigned long long)f->error_code, this_cpu_id());
	pr_emerg("hv: RIP 0x%016llx CR2 0x%016llx\n", (unsigned long long)f->rip, (unsigned long long)read_cr2());
	dump_regs(f);
	pr_emerg("  #- 0x%016llx (faulting RIP)\n", (unsigned long long)f->rip);
	dump_backtrace(f->rbp);
	panic_finish();
}

void bug_report(const char *file, int line, const char *expr)
{
	panic("BUG at %s:%d: %s", file, line, expr);
}

void warn_report(const char *file, int line, const char *expr)
{
	pr_warn("hv: WARNING at %s:%d: %s\n", file, line, expr);
	dump_backtrace((u64)__builtin_frame_address(0));
}
