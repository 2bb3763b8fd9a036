/* stringio: string port I/O (INS/OUTS) as the SDM defines it (Vol. 2B INS/INSB/INSW/INSD, OUTS/OUTSB/OUTSW/OUTSD,
 * REP/REPE/REPNE; Vol. 3A 4.7 for the #PF error code), against two ports with known data paths: the debug console at
 * 0xe9 (the runner checks the lines it prints) and the hypervisor test device's stream port 0x5fe (vm/dev/dev.h),
 * whose IN sequence and OUT hash the guest recomputes. Phases, each a TEST line:
 *   console  REP OUTSB of a line to 0xe9, forwards and with DF=1 from a reversed buffer
 *   ins      INSB/INSW/INSD, with and without REP, DF=0 and 1: every byte lands where the SDM says, RDI and RCX end
 *            where they must
 *   outs     OUTSB/OUTSW/OUTSD the same way: the device saw the elements in the order the SDM gives
 *   seg      OUTS with an FS override (the source is FS:RSI), and INS with one (ignored: ES:RDI)
 *   addr32   the 67 prefix in 64-bit mode: ESI/EDI/ECX, zero-extended
 *   addr16   the 67 prefix in compatibility mode: DI and CX, DI wrapping at 64K, the upper halves kept
 *   pages    a buffer crossing a page boundary onto a page that is not the next physical one, in both directions
 *   fault    REP INSB and REP OUTSB running into a not-present page: #PF with the right error code and CR2, the
 *            registers after the last element done, the device having seen exactly those elements; #GP(0) for
 *            non-canonical addresses, an SS override in 64-bit mode being a null prefix
 *   batch    REP INSB and REP OUTSW of 64 KiB: correct data, and far fewer I/O exits than elements (the hypervisor
 *            batches a REP)
 *   irq      an interrupt taken in the middle of a 64 KiB REP INSB: at the instruction, with RCX and RDI of the
 *            iterations done; the REP then completes */
#include "guest.h"

const char test_name[] = "stringio";

#define PORT_E9	      0xe9
#define STREAM	      TESTDEV_STREAM
#define SEL_STREAM    0x80000000u
#define FNV_BASIS     2166136261u
#define FNV_PRIME     16777619u
#define PF_W	      (1u << 1)

static u8 stream_byte(u32 n)
{
	return (u8)(n ^ (n >> 8) ^ 0xa5);
}

/* Latch the sink (count << 32 | hash) and restart the stream. */
static u64 stream_reset(void)
{
	outl(TESTDEV_INDEX, SEL_STREAM);
	u64 lo = inl(TESTDEV_LO);
	u64 hi = inl(TESTDEV_HI);
	return hi << 32 | lo;
}

static u32 fnv(u32 h, const u8 *p, u64 n)
{
	for (u64 i = 0; i < n; i++)
		h = (h ^ p[i]) * FNV_PRIME;
	return h;
}

struct regs {
	u64 rsi, rdi, rcx;
};

/* One string I/O instruction (encoded by `op`, with or without REP, DF as asked) on `port`; returns the fault's
 * vector + 1 (details in `fault`), or 0. */
#define STRIO(text, r, port, df)                                                                                       \
	({                                                                                                             \
		fault_clear();                                                                                         \
		if (df)                                                                                                \
			asm volatile("std\n" FIXUP(text) "cld"                                                         \
				     : "+S"((r)->rsi), "+D"((r)->rdi), "+c"((r)->rcx)                                  \
				     : "d"(port)                                                                       \
				     : "memory", "cc");                                                                \
		else                                                                                                   \
			asm volatile("cld\n" FIXUP(text) : "+S"((r)->rsi), "+D"((r)->rdi), "+c"((r)->rcx)              \
				     : "d"(port)                                                                       \
				     : "memory", "cc");                                                                \
		(int)fault.taken;                                                                                      \
	})

/* do_ins, do_outs: INS or OUTS of `size` bytes, REP or not, DF as asked. */
#define STRIO_FN(name, op)                                                                                             \
	static int name(int size, bool rep, bool df, struct regs *r, u16 port)                                         \
	{                                                                                                              \
		switch (size * 2 + rep) {                                                                              \
		case 2: return df ? STRIO(op "b", r, port, 1) : STRIO(op "b", r, port, 0);                            \
		case 3: return df ? STRIO("rep " op "b", r, port, 1) : STRIO("rep " op "b", r, port, 0);              \
		case 4: return df ? STRIO(op "w", r, port, 1) : STRIO(op "w", r, port, 0);                            \
		case 5: return df ? STRIO("rep " op "w", r, port, 1) : STRIO("rep " op "w", r, port, 0);              \
		case 8: return df ? STRIO(op "l", r, port, 1) : STRIO(op "l", r, port, 0);                            \
		default: return df ? STRIO("rep " op "l", r, port, 1) : STRIO("rep " op "l", r, port, 0);            \
		}                                                                                                      \
	}
STRIO_FN(do_ins, "ins")
STRIO_FN(do_outs, "outs")

static u8 buf[4096] __attribute__((aligned(4096)));

static void phase_console(void)
{
	static const char line[] = "stringio: rep outsb to port 0xe9 works\n";
	static char rev[64];
	const char *fwd = "stringio: DF=1 rep outsb walks down\n";
	u64 n = strlen(fwd);
	struct regs r;

	r = (struct regs){ .rsi = (u64)line, .rcx = sizeof(line) - 1 };
	if (do_outs(1, true, false, &r, PORT_E9) || r.rcx || r.rsi != (u64)line + sizeof(line) - 1)
		test_fail("console: rep outsb: fault %u rcx %lu", fault.taken, r.rcx);
	/* Reversed in memory, so DF=1 from its last byte prints it forwards. */
	for (u64 i = 0; i < n; i++)
		rev[i] = fwd[n - 1 - i];
	r = (struct regs){ .rsi = (u64)rev + n - 1, .rcx = n };
	if (do_outs(1, true, true, &r, PORT_E9) || r.rcx || r.rsi != (u64)rev - 1)
		test_fail("console: std; rep outsb: fault %u rcx %lu rsi 0x%lx", fault.taken, r.rcx, r.rsi);
	printf("TEST stringio_console PASS\n");
}

/* Element i of a string op that starts at `start` with DF: its address. */
static u64 elem_addr(u64 start, int size, bool df, u64 i)
{
	return df ? start - i * size : start + i * size;
}

static void phase_ins(void)
{
	for (int size = 1; size <= 4; size *= 2)
		for (int rep = 0; rep <= 1; rep++)
			for (int df = 0; df <= 1; df++) {
				u64 count = rep ? 37 : 1, start = (u64)buf + 2048;
				struct regs r = { .rdi = start, .rcx = rep ? count : 0x5555 };

				memset(buf, 0xcc, sizeof(buf));
				stream_reset();
				if (do_ins(size, rep, df, &r, STREAM))
					test_fail("ins: size %d rep %d df %d: fault %u", size, rep, df, fault.taken);
				for (u64 i = 0; i < count; i++)
					for (int b = 0; b < size; b++) {
						u8 got = *(u8 *)(elem_addr(start, size, df, i) + b);
						if (got != stream_byte((u32)(i * size + b)))
							test_fail("ins: size %d rep %d df %d: element %lu byte %d is 0x%x",
								  size, rep, df, i, b, got);
					}
				/* Nothing outside the elements was written. */
				u64 lo = df ? start - (count - 1) * size : start, hi = lo + count * size;
				if (((u8 *)lo)[-1] != 0xcc || *(u8 *)hi != 0xcc)
					test_fail("ins: size %d rep %d df %d wrote outside its elements", size, rep, df);
				if (r.rdi != elem_addr(start, size, df, count) || r.rcx != (rep ? 0 : 0x5555))
					test_fail("ins: size %d rep %d df %d: rdi 0x%lx rcx 0x%lx", size, rep, df, r.rdi,
						  r.rcx);
			}
	printf("TEST stringio_ins PASS\n");
}

/* OUTS: the sink's hash over the bytes of each element in the order they were output. */
static void phase_outs(void)
{
	for (u64 i = 0; i < sizeof(buf); i++)
		buf[i] = (u8)(i * 13 + 7);
	for (int size = 1; size <= 4; size *= 2)
		for (int rep = 0; rep <= 1; rep++)
			for (int df = 0; df <= 1; df++) {
				u64 count = rep ? 41 : 1, start = (u64)buf + 2048;
				struct regs r = { .rsi = start, .rcx = rep ? count : 0x7777 };
				u32 h = FNV_BASIS;

				stream_reset();
				if (do_outs(size, rep, df, &r, STREAM))
					test_fail("outs: size %d rep %d df %d: fault %u", size, rep, df, fault.taken);
				for (u64 i = 0; i < count; i++)
					h = fnv(h, (u8 *)elem_addr(start, size, df, i), size);
				u64 sink = stream_reset();
				if ((u32)sink != h || sink >> 32 != count * size)
					test_fail("outs: size %d rep %d df %d: device saw %lu bytes hash 0x%x, want %lu 0x%x",
						  size, rep, df, sink >> 32, (u32)sink, count * size, h);
				if (r.rsi != elem_addr(start, size, df, count) || r.rcx != (rep ? 0 : 0x7777))
					test_fail("outs: size %d rep %d df %d: rsi 0x%lx rcx 0x%lx", size, rep, df, r.rsi,
						  r.rcx);
			}
	printf("TEST stringio_outs PASS\n");
}

#define MSR_FS_BASE 0xc0000100

static void phase_seg(void)
{
	struct regs r;
	u64 old_fs = rdmsr(MSR_FS_BASE);

	for (u64 i = 0; i < 64; i++)
		buf[i] = (u8)(0x40 + i);
	/* fs rep outsw: FS base + RSI. */
	wrmsr(MSR_FS_BASE, (u64)buf + 16);
	stream_reset();
	r = (struct regs){ .rsi = 8, .rcx = 4 };
	fault_clear();
	asm volatile("cld\n" FIXUP("rep outsw %%fs:(%%rsi), (%%dx)")
		     : "+S"(r.rsi), "+D"(r.rdi), "+c"(r.rcx) : "d"(STREAM) : "memory", "cc");
	u64 sink = stream_reset();
	if (fault.taken || (u32)sink != fnv(FNV_BASIS, buf + 24, 8) || sink >> 32 != 8 || r.rsi != 16)
		test_fail("seg: fs rep outsw: fault %u, device %lu bytes hash 0x%x, rsi 0x%lx", fault.taken,
			  sink >> 32, (u32)sink, r.rsi);
	/* An FS override on INS is ignored: ES:RDI (flat). */
	memset(buf, 0, 64);
	r = (struct regs){ .rdi = (u64)buf, .rcx = 4 };
	asm volatile("cld\n" FIXUP(".byte 0x64, 0xf3, 0x6c") /* fs rep insb */
		     : "+S"(r.rsi), "+D"(r.rdi), "+c"(r.rcx) : "d"(STREAM) : "memory", "cc");
	wrmsr(MSR_FS_BASE, old_fs);
	if (fault.taken || buf[0] != stream_byte(0) || buf[3] != stream_byte(3) || buf[16] != 0 || r.rcx)
		test_fail("seg: fs rep insb: fault %u, buf[0] 0x%x buf[16] 0x%x", fault.taken, buf[0], buf[16]);
	stream_reset();
	printf("TEST stringio_seg PASS\n");
}

/* 67 in 64-bit mode: a 32-bit address size takes EDI and ECX, ignores their upper halves, and writes them back
 * zero-extended (SDM Vol. 1 3.3.7, the string instructions' "address size" operand). */
static void phase_addr32(void)
{
	struct regs r = { .rdi = 0xdead000000000000ULL | (u64)buf, .rcx = 0xbeef000000000005ULL };

	memset(buf, 0, 16);
	stream_reset();
	fault_clear();
	asm volatile("cld\n" FIXUP(".byte 0x67, 0xf3, 0x6c") /* addr32 rep insb */
		     : "+S"(r.rsi), "+D"(r.rdi), "+c"(r.rcx) : "d"(STREAM) : "memory", "cc");
	if (fault.taken || r.rdi != (u64)buf + 5 || r.rcx != 0 || buf[4] != stream_byte(4) || buf[5] != 0)
		test_fail("addr32: fault %u rdi 0x%lx rcx 0x%lx buf[4] 0x%x", fault.taken, r.rdi, r.rcx, buf[4]);
	r = (struct regs){ .rsi = 0x7777000000000000ULL | (u64)buf, .rcx = 0x1234000000000003ULL };
	asm volatile("cld\n" FIXUP(".byte 0x67, 0xf3, 0x66, 0x6f") /* addr32 rep outsw */
		     : "+S"(r.rsi), "+D"(r.rdi), "+c"(r.rcx) : "d"(STREAM) : "memory", "cc");
	u64 sink = stream_reset();
	if (fault.taken || r.rsi != (u64)buf + 6 || r.rcx != 0 || (u32)sink != fnv(FNV_BASIS, buf, 6))
		test_fail("addr32: outsw: fault %u rsi 0x%lx rcx 0x%lx", fault.taken, r.rsi, r.rcx);
	printf("TEST stringio_addr32 PASS\n");
}

/* A 16-bit address size: 67 in compatibility mode (CS 0x18, flat 32-bit code, CPL 0) makes REP INSB use ES:DI and
 * CX; DI wraps from 0xffff to 0 within ES (flat, base 0) and the upper halves of EDI and ECX stay (SDM Vol. 1 3.6,
 * Vol. 2B INS). Only the low 32 bits of RDI and RCX are compared: their upper halves are undefined across the mode
 * switch (SDM Vol. 1 3.4.1.1). Linear 0xfff0-0xffff and 0-0xf are free: nothing in this guest lives below 1 MiB
 * once the boot information is copied. */
static __attribute__((noinline)) void compat_addr16_rep_insb(struct regs *r)
{
	asm volatile("cld\n"
		     "pushq $0x18\n"
		     "leaq 1f(%%rip), %%rax\n"
		     "pushq %%rax\n"
		     "lretq\n"
		     ".code32\n"
		     "1: .byte 0x67, 0xf3, 0x6c\n" /* addr16 rep insb */
		     "ljmp $0x08, $2f\n"
		     ".code64\n"
		     "2:\n"
		     : "+D"(r->rdi), "+c"(r->rcx) : "d"(STREAM) : "rax", "memory", "cc");
}

static void phase_addr16(void)
{
	struct regs r = { .rdi = 0x1234fff0, .rcx = 0xabcd0020 };
	u64 zero = 0;
	asm("" : "+r"(zero)); /* linear 0 is memory here: keep the compiler from treating it as a null pointer */
	volatile u8 *lo = (volatile u8 *)zero;

	stream_reset();
	compat_addr16_rep_insb(&r);
	if ((u32)r.rdi != 0x12340010 || (u32)r.rcx != 0xabcd0000)
		test_fail("addr16: rep insb left edi 0x%x ecx 0x%x, want 0x12340010 0xabcd0000", (u32)r.rdi, (u32)r.rcx);
	for (u32 i = 0; i < 32; i++) {
		u8 got = i < 16 ? lo[0xfff0 + i] : lo[i - 16];
		if (got != stream_byte(i))
			test_fail("addr16: byte %u of the wrapped buffer is 0x%x", i, got);
	}
	printf("TEST stringio_addr16 PASS\n");
}

/* Two 4K windows side by side in linear memory over two physical pages in the opposite order, a third not present. */
static u64 pa_lo, pa_hi, win;

static void map_windows(void)
{
	u64 base = ram_find_free(0x10000, 4096, 0x1000000, 0x4000000);

	if (!base)
		test_fail("no free RAM for the page windows");
	pa_hi = base + 0x8000;
	pa_lo = base;
	win = win_va(1, 0);
	pt_map(win, pa_hi, 1, PTE_W);
	pt_map(win + 4096, pa_lo, 1, PTE_W);
	pt_set_raw(win + 8192, 1, 0);
}

static void phase_pages(void)
{
	u64 start = win + 4096 - 7; /* 7 bytes on the first page, the rest on the second */
	struct regs r = { .rdi = start, .rcx = 10 };

	memset((void *)pa_hi, 0, 4096);
	memset((void *)pa_lo, 0, 4096);
	stream_reset();
	if (do_ins(2, true, false, &r, STREAM))
		test_fail("pages: rep insw: fault %u cr2 0x%lx", fault.taken, fault.cr2);
	for (int i = 0; i < 20; i++) {
		u8 got = i < 7 ? ((u8 *)pa_hi)[4096 - 7 + i] : ((u8 *)pa_lo)[i - 7];
		if (got != stream_byte(i))
			test_fail("pages: rep insw: byte %d is 0x%x", i, got);
	}
	/* Back out, downwards, across the same boundary. */
	stream_reset();
	r = (struct regs){ .rsi = win + 4096 + 2, .rcx = 3 };
	if (do_outs(4, true, true, &r, STREAM))
		test_fail("pages: std; rep outsd: fault %u", fault.taken);
	u8 want[12];
	for (int i = 0; i < 3; i++)
		for (int b = 0; b < 4; b++)
			want[i * 4 + b] = *(u8 *)(win + 4096 + 2 - 4 * i + b);
	u64 sink = stream_reset();
	if ((u32)sink != fnv(FNV_BASIS, want, 12) || sink >> 32 != 12)
		test_fail("pages: std; rep outsd: device saw %lu bytes hash 0x%x", sink >> 32, (u32)sink);
	printf("TEST stringio_pages PASS\n");
}

/* Into the not-present page: the SDM's #PF (Vol. 3A 4.7: P=0, W/R as the access, U/S=0 at CPL 0), CR2 the first
 * byte not mapped, and the instruction left as after its last completed element (RCX and RDI count them), so a
 * handler can map the page and resume. The device took exactly the completed elements. */
static void phase_fault(void)
{
	u64 edge = win + 8192;
	struct regs r = { .rdi = edge - 5, .rcx = 20 };

	stream_reset();
	if (do_ins(1, true, false, &r, STREAM) != 14 + 1)
		test_fail("fault: rep insb into a not-present page: vector %d", (int)fault.taken - 1);
	if (fault.error != PF_W || fault.cr2 != edge || r.rcx != 15 || r.rdi != edge)
		test_fail("fault: rep insb: error 0x%lx cr2 0x%lx rcx %lu rdi 0x%lx (want 0x%x, 0x%lx, 15, 0x%lx)",
			  fault.error, fault.cr2, r.rcx, r.rdi, PF_W, edge, edge);
	if (inb(STREAM) != stream_byte(5)) /* 5 bytes went in: the next one is the sixth */
		test_fail("fault: rep insb: the device was read past the fault");
	/* A word straddling the edge faults as a whole, on its second page, before the port is read. */
	stream_reset();
	r = (struct regs){ .rdi = edge - 1, .rcx = 2 };
	if (do_ins(2, true, false, &r, STREAM) != 14 + 1 || fault.cr2 != edge || r.rcx != 2 || r.rdi != edge - 1)
		test_fail("fault: rep insw across the edge: vector %d cr2 0x%lx rcx %lu", (int)fault.taken - 1,
			  fault.cr2, r.rcx);
	if (inb(STREAM) != stream_byte(0))
		test_fail("fault: rep insw across the edge read the device");
	/* OUTS reading from it: a read fault (W/R = 0), the elements before it on the device. */
	stream_reset();
	for (int i = 0; i < 6; i++)
		*(u8 *)(edge - 6 + i) = (u8)(0x90 + i);
	r = (struct regs){ .rsi = edge - 6, .rcx = 100 };
	if (do_outs(1, true, false, &r, STREAM) != 14 + 1 || fault.error != 0 || fault.cr2 != edge || r.rcx != 94 ||
	    r.rsi != edge)
		test_fail("fault: rep outsb: vector %d error 0x%lx cr2 0x%lx rcx %lu", (int)fault.taken - 1, fault.error,
			  fault.cr2, r.rcx);
	u64 sink = stream_reset();
	if ((u32)sink != fnv(FNV_BASIS, (u8 *)(edge - 6), 6) || sink >> 32 != 6)
		test_fail("fault: rep outsb: device saw %lu bytes", sink >> 32);
	/* A non-canonical RDI: #GP(0), before the port is read (SDM Vol. 2B INS, 64-bit mode exceptions). An SS override
	 * is a null prefix in 64-bit mode (SDM Vol. 1 3.3.7.1), so OUTS still reads DS:RSI and a non-canonical RSI is
	 * #GP(0), not the #SS(0) of an SS reference. */
	u64 noncanon = 0x0000800000000000ULL;
	r = (struct regs){ .rdi = noncanon, .rcx = 3 };
	if (do_ins(1, true, false, &r, STREAM) != 13 + 1 || fault.error != 0 || r.rcx != 3)
		test_fail("fault: rep insb to a non-canonical address: vector %d error 0x%lx", (int)fault.taken - 1,
			  fault.error);
	if (inb(STREAM) != stream_byte(0))
		test_fail("fault: rep insb to a non-canonical address read the device");
	stream_reset();
	r = (struct regs){ .rsi = noncanon, .rcx = 3 };
	fault_clear();
	asm volatile("cld\n" FIXUP("rep outsb %%ss:(%%rsi), (%%dx)")
		     : "+S"(r.rsi), "+D"(r.rdi), "+c"(r.rcx) : "d"(STREAM) : "memory", "cc");
	if (fault.taken != 13 + 1 || fault.error != 0 || r.rcx != 3 || stream_reset() >> 32 != 0)
		test_fail("fault: ss rep outsb from a non-canonical address: vector %d error 0x%lx rcx %lu",
			  (int)fault.taken - 1, fault.error, r.rcx);
	printf("TEST stringio_fault PASS\n");
}

/* 64 KiB each way in one instruction: the data, and the exits. */
static void phase_batch(void)
{
	u64 n = 0x10000;
	u64 big = ram_find_free(2 * n, 4096, 0x2000000, 0x4000000);
	struct regs r = { .rdi = big, .rcx = n };

	if (!big)
		test_fail("no free RAM for 128 KiB");
	stream_reset();
	u64 exits = stat_read(VM_STAT_IO_EXITS);
	if (do_ins(1, true, false, &r, STREAM))
		test_fail("batch: rep insb: fault %u", fault.taken);
	u64 in_exits = stat_read(VM_STAT_IO_EXITS) - exits;
	for (u64 i = 0; i < n; i++)
		if (((u8 *)big)[i] != stream_byte((u32)i))
			test_fail("batch: rep insb of 64K: byte %lu wrong", i);
	stream_reset();
	exits = stat_read(VM_STAT_IO_EXITS);
	r = (struct regs){ .rsi = big, .rcx = n / 2 };
	if (do_outs(2, true, false, &r, STREAM))
		test_fail("batch: rep outsw: fault %u", fault.taken);
	u64 out_exits = stat_read(VM_STAT_IO_EXITS) - exits;
	u64 sink = stream_reset();
	if ((u32)sink != fnv(FNV_BASIS, (u8 *)big, n) || sink >> 32 != n)
		test_fail("batch: rep outsw of 64K: device saw %lu bytes", sink >> 32);
	printf("stringio: 64 KiB rep insb in %lu I/O exits, rep outsw in %lu\n", in_exits, out_exits);
	/* A hypervisor that exits per element takes 65536 and 32768; the stat reads themselves are 3 exits each. */
	if (in_exits > 256 || out_exits > 256)
		test_fail("batch: too many exits (%lu, %lu): the REP is not batched", in_exits, out_exits);
	printf("TEST stringio_batch PASS\n");
}

/* An interrupt that becomes pending during a long REP INSB is taken between iterations, as on the CPU (SDM Vol. 2B
 * REP: the saved RIP is the string instruction's, RCX/RDI count the iterations done), and the REP then finishes:
 * the hypervisor does a batch per exit and re-enters the guest at the same instruction. A TSC-deadline timer is
 * armed a little ahead; tried with growing delays until one lands inside the REP. */
#define IRQ_VECTOR 0x41
#define LAPIC	   0xfee00000ULL
static volatile u64 irq_rip, irq_rcx, irq_rdi;
static volatile u32 irqs;
extern char stringio_rep_insb[];

static void deadline_irq(struct trap_frame *f)
{
	irqs++;
	irq_rip = f->rip;
	irq_rcx = f->rcx;
	irq_rdi = f->rdi;
	*(volatile u32 *)(LAPIC + 0xb0) = 0; /* EOI */
}

static __attribute__((noinline)) void rep_insb_irqs_on(struct regs *r)
{
	asm volatile("cld; sti\n nop\n"
		     ".globl stringio_rep_insb\nstringio_rep_insb: rep insb\n"
		     "cli"
		     : "+D"(r->rdi), "+c"(r->rcx) : "d"(STREAM) : "memory", "cc");
}

static void phase_irq(void)
{
	u64 n = 0x10000, big = ram_find_free(n, 4096, 0x2000000, 0x4000000);
	volatile u32 *svr = (volatile u32 *)(LAPIC + 0xf0), *lvt = (volatile u32 *)(LAPIC + 0x320);
	u32 old_svr = *svr, old_lvt = *lvt;
	bool caught = false;

	trap_set_handler(IRQ_VECTOR, deadline_irq);
	*svr = old_svr | 0x100;
	*lvt = (2u << 17) | IRQ_VECTOR; /* TSC-deadline mode */
	for (u64 delay = 1ULL << 14; delay <= 1ULL << 30 && !caught; delay <<= 2) {
		struct regs r = { .rdi = big, .rcx = n };
		irqs = 0;
		stream_reset();
		wrmsr(0x6e0, rdtsc() + delay);
		rep_insb_irqs_on(&r);
		wrmsr(0x6e0, 0);
		asm volatile("sti; nop; nop; cli"); /* one that fired after the REP */
		if (r.rcx || r.rdi != big + n)
			test_fail("irq: rep insb ended with rcx %lu rdi 0x%lx", r.rcx, r.rdi);
		for (u64 i = 0; i < n; i++)
			if (((u8 *)big)[i] != stream_byte((u32)i))
				test_fail("irq: byte %lu wrong after an interrupt (delay %lu)", i, delay);
		if (irqs == 1 && irq_rip == (u64)stringio_rep_insb && irq_rcx > 0 && irq_rcx < n) {
			if (irq_rdi != big + (n - irq_rcx))
				test_fail("irq: interrupted with rcx %lu but rdi 0x%lx", irq_rcx, irq_rdi);
			printf("stringio: an interrupt %lu cycles ahead came in after %lu of %lu iterations\n", delay,
			       n - irq_rcx, n);
			caught = true;
		}
	}
	*lvt = old_lvt;
	*svr = old_svr;
	if (!caught)
		test_fail("irq: no interrupt was taken inside a 64 KiB rep insb (the REP is not interruptible)");
	printf("TEST stringio_irq PASS\n");
}

int test_main(void)
{
	if (!counters_available())
		test_skip("no test device");
	map_windows();
	phase_console();
	phase_ins();
	phase_outs();
	phase_seg();
	phase_addr32();
	phase_addr16();
	phase_pages();
	phase_fault();
	phase_batch();
	phase_irq();
	test_pass();
}
