/* The timed loops of bench.c, benchfault.c and the KVM peer's guest (benchloops.h). Changing a loop here changes
 * every side of the comparison at once, which is the point. */
#include "guest.h"
#include "benchloops.h"

u64 bench_mmio_reads, bench_mmio_ones;

u64 bench_loop_empty(u64 n)
{
	u64 t0 = rdtsc();
	for (u64 i = 0; i < n; i++)
		barrier();
	return rdtsc() - t0;
}

u64 bench_loop_cpuid(u64 n)
{
	u64 t0 = rdtsc();
	for (u64 i = 0; i < n; i++) {
		u32 a, b, c, d;
		cpuid(0, 0, &a, &b, &c, &d);
	}
	return rdtsc() - t0;
}

u64 bench_loop_out(u16 port, u64 n)
{
	u64 t0 = rdtsc();
	for (u64 i = 0; i < n; i++)
		outl(port, (u32)i);
	return rdtsc() - t0;
}

u64 bench_loop_hypercall(u64 nr, u64 n)
{
	u64 t0 = rdtsc();
	for (u64 i = 0; i < n; i++)
		hypercall(nr, 0);
	return rdtsc() - t0;
}

u64 bench_loop_write(u64 base, u64 stride, u64 n, u8 v)
{
	u64 t0 = rdtsc();
	for (u64 i = 0; i < n; i++)
		*(volatile u8 *)(base + i * stride) = v;
	return rdtsc() - t0;
}

static inline void mmio_read(u64 va)
{
	u32 v = *(volatile u32 *)va;
	bench_mmio_reads++;
	bench_mmio_ones += v == 0xffffffffu;
}

u64 bench_loop_mmio_read(u64 base, u64 stride, u64 n)
{
	u64 t0 = rdtsc();
	for (u64 i = 0; i < n; i++)
		mmio_read(base + i * stride);
	return rdtsc() - t0;
}

/* A plain MOV store, as Linux's native_apic_mem_write makes it. */
u64 bench_loop_apic_eoi(u64 apic_base, u64 n)
{
	volatile u32 *eoi = (volatile u32 *)(apic_base + 0xb0);
	u64 t0 = rdtsc();
	for (u64 i = 0; i < n; i++)
		*eoi = 0;
	return rdtsc() - t0;
}
