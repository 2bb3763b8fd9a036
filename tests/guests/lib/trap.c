/* The IDT and trap dispatch. An exception is fatal (vector, error code, RIP and CR2 on the console, then a FAIL line
 * and exit) unless the faulting instruction has a fixup: the probe helpers below record the fault in `fault` and
 * resume after the instruction, which is how tests touch addresses that may not exist. */
#include "guest.h"

struct idt_entry {
	u16 off0, sel;
	u8 ist, type;
	u16 off1;
	u32 off2, zero;
} __attribute__((packed));

struct fixup {
	u64 insn, resume;
};

extern char isr_stubs[];
extern const struct fixup __fixup_start[], __fixup_end[];

static struct idt_entry idt[256] __attribute__((aligned(16)));
static trap_handler_t handlers[256];
volatile struct fault_record fault;
volatile u64 spurious_irqs;

static const char *const exc_names[32] = {
    "#DE divide error",
    "#DB debug",
    "NMI",
    "#BP breakpoint",
    "#OF overflow",
    "#BR bound",
    "#UD invalid opcode",
    "#NM no FPU",
    "#DF double fault",
    "coprocessor overrun",
    "#TS invalid TSS",
    "#NP segment not present",
    "#SS stack fault",
    "#GP general protection",
    "#PF page fault",
    "reserved 15",
    "#MF x87 error",
    "#AC alignment check",
    "#MC machine check",
    "#XM SIMD error",
    "#VE virtualization",
    "#CP control protection",
};

void trap_init(void)
{
	for (int i = 0; i < 256; i++) {
		u64 a = (u64)isr_stubs + 16 * (u64)i;
		idt[i] = (struct idt_entry){
		    .off0 = (u16)a, .sel = 0x08, .type = 0x8e, .off1 = (u16)(a >> 16), .off2 = (u32)(a >> 32)};
	}
	struct {
		u16 limit;
		u64 base;
	} __attribute__((packed)) d = {sizeof(idt) - 1, (u64)idt};
	asm volatile("lidt %0" : : "m"(d));
}

void trap_set_handler(u8 vector, trap_handler_t h)
{
	handlers[vector] = h;
}

void trap_set_user_gate(u8 vector)
{
	idt[vector].type |= 0x60; /* DPL 3 */
}

static void __noreturn dump_and_die(struct trap_frame *f, const char *what)
{
	static int dying;
	if (dying++)
		guest_exit(EXIT_EXCEPTION);
	u64 cr2 = read_cr2();
	char irq[24];
	snprintf(irq, sizeof(irq), "interrupt 0x%lx", f->vector);
	const char *name = f->vector >= 32 ? irq : exc_names[f->vector] ? exc_names[f->vector] : "reserved";
	printf("%s: vector %lu (%s) error 0x%lx RIP 0x%lx CR2 0x%lx\n", what, f->vector, name, f->error, f->rip, cr2);
	printf("  RAX %016lx RBX %016lx RCX %016lx RDX %016lx\n", f->rax, f->rbx, f->rcx, f->rdx);
	printf("  RSI %016lx RDI %016lx RBP %016lx RSP %016lx\n", f->rsi, f->rdi, f->rbp, f->rsp);
	printf("  R8  %016lx R9  %016lx R10 %016lx R11 %016lx\n", f->r8, f->r9, f->r10, f->r11);
	printf("  CS %lx RFLAGS %lx CR0 %lx CR3 %lx CR4 %lx\n", f->cs, f->rflags, read_cr0(), read_cr3(), read_cr4());
	printf("TEST %s FAIL %s %lu (%s) error 0x%lx RIP 0x%lx CR2 0x%lx\n", test_name, what, f->vector, name, f->error,
	       f->rip, cr2);
	guest_exit(f->vector < 32 ? EXIT_EXCEPTION : EXIT_BAD_IRQ);
}

bool trap_fixup(struct trap_frame *f)
{
	for (const struct fixup *x = __fixup_start; x < __fixup_end; x++) {
		if (x->insn == f->rip) {
			fault.error = f->error;
			fault.cr2 = f->vector == 14 ? read_cr2() : 0;
			fault.rip = f->rip;
			fault.count++;
			fault.taken = (u32)f->vector + 1;
			f->rip = x->resume;
			return true;
		}
	}
	return false;
}

void trap_fatal(struct trap_frame *f)
{
	dump_and_die(f, f->vector < 32 ? "exception" : "unexpected interrupt");
}

void trap_dispatch(struct trap_frame *f)
{
	u64 v = f->vector;
	if (handlers[v]) {
		handlers[v](f);
		return;
	}
	if (v < 32) {
		if (trap_fixup(f))
			return;
		dump_and_die(f, "exception");
	}
	if (v == 0x27 || v == 0x2f || v == 0xff) {
		spurious_irqs++;
		return;
	}
	dump_and_die(f, "unexpected interrupt");
}

int probe_read(u64 va, int size, u64 *val)
{
	u64 v = 0;
	fault_clear();
	switch (size) {
	case 1:
		asm volatile(FIXUP("movb (%1), %b0") : "+q"(v) : "r"(va) : "memory");
		break;
	case 2:
		asm volatile(FIXUP("movw (%1), %w0") : "+r"(v) : "r"(va) : "memory");
		break;
	case 4:
		asm volatile(FIXUP("movl (%1), %k0") : "+r"(v) : "r"(va) : "memory");
		break;
	default:
		asm volatile(FIXUP("movq (%1), %q0") : "+r"(v) : "r"(va) : "memory");
		break;
	}
	*val = v;
	return (int)fault.taken;
}

int probe_write(u64 va, int size, u64 val)
{
	fault_clear();
	switch (size) {
	case 1:
		asm volatile(FIXUP("movb %b0, (%1)") : : "q"(val), "r"(va) : "memory");
		break;
	case 2:
		asm volatile(FIXUP("movw %w0, (%1)") : : "r"(val), "r"(va) : "memory");
		break;
	case 4:
		asm volatile(FIXUP("movl %k0, (%1)") : : "r"(val), "r"(va) : "memory");
		break;
	default:
		asm volatile(FIXUP("movq %q0, (%1)") : : "r"(val), "r"(va) : "memory");
		break;
	}
	return (int)fault.taken;
}
