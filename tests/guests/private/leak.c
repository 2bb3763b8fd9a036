/* The private guest tries to make the hypervisor read or write its private memory through a device: string port I/O
 * (OUTS reads its buffer, INS writes it: SDM Vol. 2B OUTS/INS) to the debug console 0xe9 and to the test device's
 * stream port (vm/dev/dev.h: OUT bytes go into a hash and a count, IN gives a known sequence), and HC_WS, which
 * writes a report into guest memory. From or into private memory each is refused: a #VE "instruction" before
 * anything is done (RSI, RDI, RCX unchanged, the device untouched), or the hypercall's error with the page
 * unchanged. From or into a shared page, through its alias, each works. The hypervisor logs its refusals; the runner
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

static void want_refused_outs(const char *what, u16 port, u64 buf, u64 len)
{
	struct sio r = {.rsi = buf, .rcx = len};
	ve_arm(VE_SKIP);
	u64 rip = rep_outsb(port, &r);
	want_ve(what, VE_REASON_INSTRUCTION, ~0ULL, 0, rip);
	if (r.rsi != buf || r.rcx != len)
		fail("%s: RSI 0x%lx RCX %lu after the #VE, want 0x%lx %lu (nothing done)", what, r.rsi, r.rcx, buf,
		     len);
}

static void strio(u64 shared_va)
{
	u64 private_buf = (u64)secret, latch;
	struct sio r;

	/* OUTS from private memory: refused, the stream's sink saw no byte. */
	stream_reset();
	want_refused_outs("rep outsb from a private buffer to the stream port", STREAM, private_buf, LEN);
	if ((latch = stream_reset()) != FNV_BASIS)
		fail("the stream port got %lu bytes (hash 0x%x) of a refused rep outsb from private memory",
		     latch >> 32, (u32)latch);
	want_refused_outs("rep outsb of a private line to port 0xe9", PORT_E9, (u64)secret_line, strlen(secret_line));

	/* INS into private memory: refused, the buffer unchanged, the stream not read. */
	private_buf = (u64)inbuf;
	memset(inbuf, 0x5a, LEN);
	stream_reset();
	r = (struct sio){.rdi = private_buf, .rcx = LEN};
	ve_arm(VE_SKIP);
	u64 rip = rep_insb(STREAM, &r);
	want_ve("rep insb from the stream port into a private buffer", VE_REASON_INSTRUCTION, ~0ULL, 0, rip);
	if (r.rdi != private_buf || r.rcx != LEN)
		fail("rep insb into private memory: RDI 0x%lx RCX %lu after the #VE, want 0x%lx %u", r.rdi, r.rcx,
		     private_buf, LEN);
	for (u32 i = 0; i < LEN; i++)
		if (((volatile u8 *)private_buf)[i] != 0x5a)
			fail("rep insb into private memory: byte %u became 0x%x", i, ((volatile u8 *)private_buf)[i]);
	u8 first = inb(STREAM);
	if (first != stream_byte(0))
		fail("the stream gives 0x%x after a refused rep insb, want its first byte 0x%x", first, stream_byte(0));

	/* The same through a shared page: done. */
	ve_arm(VE_UNEXPECTED);
	static const char line[] = "private: rep outsb from a shared page reaches the console\n";
	u64 out = shared_va + 0x100, in = shared_va + 0x200;
	memcpy((void *)out, line, sizeof(line) - 1);
	r = (struct sio){.rsi = out, .rcx = sizeof(line) - 1};
	rep_outsb(PORT_E9, &r);
	if (r.rcx)
		fail("rep outsb from a shared page to 0xe9: RCX %lu left", r.rcx);
	for (u32 i = 0; i < LEN; i++)
		((volatile u8 *)out)[i] = secret[i];
	stream_reset();
	r = (struct sio){.rsi = out, .rcx = LEN};
	rep_outsb(STREAM, &r);
	latch = stream_reset();
	if (r.rcx || latch >> 32 != LEN || (u32)latch != fnv((const volatile u8 *)out, LEN))
		fail("rep outsb from a shared page to the stream: RCX %lu, sink count %lu hash 0x%x, want %u 0x%x",
		     r.rcx, latch >> 32, (u32)latch, LEN, fnv((const volatile u8 *)out, LEN));
	r = (struct sio){.rdi = in, .rcx = LEN};
	rep_insb(STREAM, &r);
	for (u32 i = 0; i < LEN; i++)
		if (((volatile u8 *)in)[i] != stream_byte(i))
			fail("rep insb into a shared page: byte %u is 0x%x, want 0x%x", i, ((volatile u8 *)in)[i],
			     stream_byte(i));
	want_no_ve("string I/O through a shared page");
}

/* HC_WS writes a struct ws_report at RBX: never into a private page, by either of its GPAs. */
static void ws(u64 shared_page, u64 shared_va, u64 private_page)
{
	bool ws_on = cmdline_has("ws");
	u32 crc = crc32((const void *)private_page, PAGE_SIZE);
	s64 r;

	ve_arm(VE_UNEXPECTED);
	r = (s64)hypercall3(HC_WS, private_page, private_page >> 12, 1);
	if (r >= 0 || (ws_on && r == -ENODEV))
		fail("HC_WS into a private page = %ld, want a refusal (a negative errno%s)", r,
		     ws_on ? " other than -ENODEV: the VM has ws=" : "");
	s64 r2 = (s64)hypercall3(HC_WS, private_page | shared, private_page >> 12, 1);
	if (r2 >= 0 || (ws_on && r2 == -ENODEV))
		fail("HC_WS into the shared alias of a private page = %ld, want a refusal", r2);
	if (crc32((const void *)private_page, PAGE_SIZE) != crc)
		fail("the private page changed under refused HC_WS");

	/* Into the shared page, by its shared GPA (the hypervisor's view of shared memory, as in TDX). */
	struct ws_report *rep = (struct ws_report *)(shared_va + 0x800);
	memset(rep, 0xff, sizeof(*rep));
	s64 r3 = (s64)hypercall3(HC_WS, (shared_page | shared) + 0x800, private_page >> 12, 1);
	if (r3 == -ENODEV && !ws_on) {
		if (rep->pages != ~0ULL)
			fail("HC_WS answered -ENODEV but wrote the shared page");
		printf("private: HC_WS: refused into private memory (%ld, %ld), -ENODEV into a shared page (no ws=)\n",
		       r, r2);
	} else {
		u64 sum = rep->young[WS_BUCKETS - 1] + rep->idle + rep->never;
		if (r3 || rep->pages != 1 || sum != 1)
			fail("HC_WS into a shared page = %ld, report pages %lu young+idle+never %lu, want 0, 1, 1", r3,
			     rep->pages, sum);
		printf("private: HC_WS: refused into private memory (%ld, %ld), a report of %lu scans into a shared "
		       "page\n",
		       r, r2, rep->scans);
	}
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
