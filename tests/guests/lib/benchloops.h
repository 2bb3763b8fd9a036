/* The timed loops of the benchmarks, one source of truth: tests/guests/bench.c and benchfault.c time our hypervisor
 * with them, and bench/kvm/guest.c times Linux KVM with the same functions (bench/README.md, "KVM as the peer"). They
 * live out of line in benchloops.c, so every guest links the same machine code and no caller's inlining or constant
 * propagation can change the instructions that are counted. Each returns the rdtsc delta of its loop. */
#ifndef GUEST_BENCHLOOPS_H
#define GUEST_BENCHLOOPS_H

#include "x86.h"

u64 bench_loop_empty(u64 n);				 /* n iterations of nothing but the loop */
u64 bench_loop_cpuid(u64 n);				 /* CPUID leaf 0, n times */
u64 bench_loop_out(u16 port, u64 n);			 /* outl(port, i) for i < n */
u64 bench_loop_hypercall(u64 nr, u64 n);		 /* hypercall(nr, 0): VMCALL or VMMCALL, n times */
u64 bench_loop_write(u64 base, u64 stride, u64 n, u8 v); /* a byte v to base + i * stride for i < n */
u64 bench_loop_mmio_read(u64 base, u64 stride, u64 n);	 /* a u32 read of base + i * stride for i < n */
u64 bench_loop_apic_eoi(u64 apic_base, u64 n);		 /* a u32 MOV store of 0 to the xAPIC EOI register, n times */

/* What bench_loop_mmio_read read: all reads, and those that came back all ones (an unbacked address). */
extern u64 bench_mmio_reads, bench_mmio_ones;

#endif
