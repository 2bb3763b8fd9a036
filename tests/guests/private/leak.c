/* The private guest tries to make the hypervisor read or write its private memory through a device: string port I/O
 * (OUTS reads its buffer, INS writes it: SDM Vol. 2B OUTS/INS) to the debug console 0xe9 and to the test device's
 * stream port (vm/dev/dev.h: OUT bytes go into a hash and a count, IN gives a known sequence), and HC_WS, which
 * writes a report into guest memory. String I/O is a #VE "instruction" before anything is done (RSI, RDI, RCX
 * unchanged, the device untouched), from or into private memory and, since the hypervisor decodes nothing of a
 * private VM and walks none of its page tables, from or into a shared page too: the guest does it OUT by OUT and
 * IN by IN. HC_WS into a private page fails with the page unchanged. The hypervisor logs its refusals; the runner
 * checks those lines, and that the secret line never reaches the console. */
#include "private.h"

#define PORT_E9	   0xe9
#define STREAM	   TESTDEV_STREAM
#define SEL_STREAM 0x80000000u
#define FNV_BASIS  2166136261u
#define FNV_PRIME  16777619u
#define LEN	   64

struct sio {
	u64 rsi, rdi, rcx;
};

static u64 rep_outsb(u16 port, struct sio *r)
{
	u64 rip;
	asm volatile("cld\nlea 1f(%%rip), %0\n" FIXUP("rep outsb")
		     : "=&r"(rip), "+S"(r->rsi), "+c"(r->rcx)
		     : "d"(port)
		     : "memory", "cc");
	return rip;
}

static u64 rep_insb(u16 port, struct sio *r)
{
	u64 rip;
	asm volatile("cld\nlea 1f(%%rip), %0\n" FIXUP("rep insb")
		     : "=&r"(rip), "+D"(r->rdi), "+c"(r->rcx)
		     : "d"(port)
		     : "memory", "cc");
	return rip;
}

/* Latch the sink (count << 32 | FNV-1a hash) and restart the stream. */
static u64 stream_reset(void)
{
	outl(TESTDEV_INDEX, SEL_STREAM);
	u64 lo = inl(TESTDEV_LO);
	u64 hi = inl(TESTDEV_HI);
	return hi << 32 | lo;
}

static u8 stream_byte(u32 n)
{
	return (u8)(n ^ (n >> 8) ^ 0xa5);
}

static u32 fnv(const volatile u8 *p, u64 n)
{
	u32 h = FNV_BASIS;
	for (u64 i = 0; i < n; i++)
		h = (h ^ p[i]) * FNV_PRIME;
	return h;
}

static u8 secret[LEN] __attribute__((aligned(64)));
static u8 inbuf[LEN] __attribute__((aligned(64)));
static char secret_line[LEN];

/* Built at run time, so that no string the guest prints holds the token the runner forbids. */
static void make_secret(void)
{
	for (u32 i = 0; i < LEN; i++)
		secret[i] = (u8)(0x80 | (i * 37));
	snprintf(secret_line, sizeof(secret_line), "private: %s-%s-%x must never be printed\n", "PRIVATE", "SECRET",
		 0x7f3a);
}

/* One REP OUTSB (out) or REP INSB of LEN bytes at buf: a #VE "instruction" (with the access it would make of memory)
 * before any element is done, whether buf is private or shared: the hypervisor never decodes a private VM's
 * instructions nor walks its (private) page tables, so string I/O is the guest's to unroll, as in TDX. */
static void want_refused_strio(const char *what, bool out, u16 port, u64 buf)
{
	struct sio r = {.rsi = buf, .rdi = buf, .rcx = LEN};
	u64 rip;

	ve_arm(VE_SKIP);
	rip = out ? rep_outsb(port, &r) : rep_insb(port, &r);
	want_ve(what, VE_REASON_INSTRUCTION, ~0ULL, out ? VE_ACCESS_READ : VE_ACCESS_WRITE, rip);
	if (r.rsi != buf || r.rdi != buf || r.rcx != LEN)
		fail("%s: RSI 0x%lx RDI 0x%lx RCX %lu after the #VE, want 0x%lx, 0x%lx, %u (nothing done)", what, r.rsi,
		     r.rdi, r.rcx, buf, buf, LEN);
}

static void strio(u64 shared_va)
{
	u64 out = shared_va + 0x100, in = shared_va + 0x200, latch;

	/* OUTS from private memory: refused, the stream's sink saw no byte, the console no character. */
	stream_reset();
	want_refused_strio("rep outsb from a private buffer to the stream port", true, STREAM, (u64)secret);
	if ((latch = stream_reset()) != FNV_BASIS)
		fail("the stream port got %lu bytes (hash 0x%x) of a refused rep outsb from private memory",
		     latch >> 32, (u32)latch);
	want_refused_strio("rep outsb of a private line to port 0xe9", true, PORT_E9, (u64)secret_line);

	/* INS into private memory: refused, the buffer unchanged, the stream not read. */
	memset(inbuf, 0x5a, LEN);
	stream_reset();
	want_refused_strio("rep insb from the stream port into a private buffer", false, STREAM, (u64)inbuf);
	for (u32 i = 0; i < LEN; i++)
		if (inbuf[i] != 0x5a)
			fail("rep insb into private memory: byte %u became 0x%x", i, inbuf[i]);
	u8 first = inb(STREAM);
	if (first != stream_byte(0))
		fail("the stream gives 0x%x after a refused rep insb, want its first byte 0x%x", first, stream_byte(0));

	/* The same through a shared page: refused alike (the hypervisor would have to walk private page tables to
	 * find the buffer), and done by the guest with plain OUT and IN, which carry everything in registers. */
	for (u32 i = 0; i < LEN; i++)
		((volatile u8 *)out)[i] = secret[i];
	memset((void *)in, 0x5a, LEN);
	stream_reset();
	want_refused_strio("rep outsb from a shared page to the stream port", true, STREAM, out);
	want_refused_strio("rep insb from the stream port into a shared page", false, STREAM, in);
	if ((latch = stream_reset()) != FNV_BASIS || ((volatile u8 *)in)[0] != 0x5a)
		fail("refused string I/O through a shared page reached the stream (sink count %lu) or the buffer",
		     latch >> 32);
	ve_arm(VE_UNEXPECTED);
	for (u32 i = 0; i < LEN; i++)
		outb(STREAM, ((volatile u8 *)out)[i]);
	latch = stream_reset();
	if (latch >> 32 != LEN || (u32)latch != fnv((const volatile u8 *)out, LEN))
		fail("OUT by OUT to the stream: sink count %lu hash 0x%x, want %u 0x%x", latch >> 32, (u32)latch, LEN,
		     fnv((const volatile u8 *)out, LEN));
	for (u32 i = 0; i < LEN; i++)
		((volatile u8 *)in)[i] = inb(STREAM);
	for (u32 i = 0; i < LEN; i++)
		if (((volatile u8 *)in)[i] != stream_byte(i))
			fail("IN by IN into a shared page: byte %u is 0x%x, want 0x%x", i, ((volatile u8 *)in)[i],
			     stream_byte(i));
	static const char line[] = "private: string I/O refused; OUT by OUT from a shared page reaches the console\n";
	for (u32 i = 0; i < sizeof(line) - 1; i++)
		outb(PORT_E9, (u8)line[i]);
	want_no_ve("port I/O OUT by OUT and IN by IN");
}

/* HC_WS writes a struct ws_report at RBX: never into a private page, by either of its GPAs. A private VM cannot have
 * ws= (vm/config.c), so here HC_WS answers -ENODEV before it would write anything: the check is that nothing is
 * written, not which refusal comes first (mm/mmu_access.c's is behind it). */
static void ws(u64 shared_page, u64 shared_va, u64 private_page)
{
	u32 crc = crc32((const void *)private_page, PAGE_SIZE);
	s64 r, r2, r3;

	ve_arm(VE_UNEXPECTED);
	r = (s64)hypercall3(HC_WS, private_page, private_page >> 12, 1);
	r2 = (s64)hypercall3(HC_WS, private_page | shared, private_page >> 12, 1);
	if (r >= 0 || r2 >= 0)
		fail("HC_WS into a private page = %ld, into its shared alias = %ld: want refusals", r, r2);
	if (crc32((const void *)private_page, PAGE_SIZE) != crc)
		fail("the private page changed under refused HC_WS");

	/* Into the shared page, by its shared GPA (the hypervisor's view of shared memory, as in TDX). */
	struct ws_report *rep = (struct ws_report *)(shared_va + 0x800);
	memset(rep, 0xff, sizeof(*rep));
	r3 = (s64)hypercall3(HC_WS, (shared_page | shared) + 0x800, private_page >> 12, 1);
	if (r3 == -ENODEV) {
		if (rep->pages != ~0ULL)
			fail("HC_WS answered -ENODEV but wrote the shared page");
	} else {
		u64 sum = rep->young[WS_BUCKETS - 1] + rep->idle + rep->never;
		if (r3 || rep->pages != 1 || sum != 1)
			fail("HC_WS into a shared page = %ld, report pages %lu young+idle+never %lu, want 0, 1, 1", r3,
			     rep->pages, sum);
	}
	printf("private: HC_WS: %ld and %ld into a private page (unchanged), %ld into a shared page\n", r, r2, r3);
	want_no_ve("HC_WS");
}

void phase_leak(u64 shared_page, u64 private_page)
{
	phase = "leak";
	if (!counters_available())
		fail("no test device: the stream port is needed");
	make_secret();
	u64 shared_va = alias_map(SLOT_LEAK, shared_page);
	strio(shared_va);
	ws(shared_page, shared_va, private_page);
	pass();
}
