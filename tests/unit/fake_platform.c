/* The platform interface over fake physical memory, for host unit tests. "Physical" address pa is byte pa of one
 * large host buffer, so portable code can build page tables and follow them exactly as in the hypervisor. The fake
 * frame allocator is a plain bitmap, independent of mm/pmm, so tests of other modules do not lean on the code under
 * test elsewhere. fake_mem_frames_in_use() lets tests prove that nothing leaked. */
#include <stdlib.h>
#include <string.h>

#include <sched.h>

#include "fake_platform.h"
#include "hv/platform.h"

#define FAKE_MEM_SIZE (256ULL << 20)
#define FAKE_FRAMES (FAKE_MEM_SIZE >> 12)

static unsigned char *fake_mem;
static unsigned char used[FAKE_FRAMES];
static u64 in_use;
static u64 lowest_free; /* every frame below it is in use */
static u64 fail_after = ~0ULL; /* allocations left before frame_alloc starts failing */

static void fake_mem_init(void)
{
	if (!fake_mem) {
		fake_mem = aligned_alloc(1ULL << 21, FAKE_MEM_SIZE);
		if (!fake_mem)
			abort();
		/* Frame 0 stays reserved, as on real machines, so a zero hpa is never a valid allocation. */
		used[0] = 1;
		lowest_free = 1;
	}
}

void *phys_to_virt(hpa_t pa)
{
	fake_mem_init();
	if (pa >= FAKE_MEM_SIZE)
		abort();
	return fake_mem + pa;
}

hpa_t virt_to_phys(const void *va)
{
	fake_mem_init();
	const unsigned char *p = va;
	if (p < fake_mem || p >= fake_mem + FAKE_MEM_SIZE)
		abort();
	return (hpa_t)(p - fake_mem);
}

bool phys_range_mapped(hpa_t pa, u64 len)
{
	return pa <= FAKE_MEM_SIZE && len <= FAKE_MEM_SIZE - pa;
}

/* Dirty frames are filled with FAKE_DIRTY_BYTE, so a test sees any byte a caller forgot to clear. */
hpa_t frame_alloc_dirty(unsigned int order)
{
	hpa_t pa = frame_alloc(order);

	if (pa != INVALID_HPA)
		memset(fake_mem + pa, FAKE_DIRTY_BYTE, (u64)4096 << order);
	return pa;
}

hpa_t frame_alloc_below(unsigned int order, hpa_t limit)
{
	hpa_t pa = frame_alloc(order);

	if (pa != INVALID_HPA && pa + ((u64)4096 << order) > limit) {
		frame_free(pa, order);
		return INVALID_HPA;
	}
	return pa;
}

/* The frame allocator is called by several threads at once (parallel faults allocate tables under the shared MMU
 * lock), as the real one is behind its own lock. */
static int fake_mem_lock;

void host_spin_relax(unsigned int *spins)
{
	if (++*spins % 64 == 0)
		sched_yield();
	else
		__builtin_ia32_pause();
}

static void fake_mem_lock_take(void)
{
	unsigned int spins = 0;

	while (__atomic_exchange_n(&fake_mem_lock, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&fake_mem_lock, __ATOMIC_RELAXED))
			host_spin_relax(&spins);
}

static void fake_mem_lock_drop(void)
{
	__atomic_store_n(&fake_mem_lock, 0, __ATOMIC_RELEASE);
}

static hpa_t frame_alloc_locked(unsigned int order);

hpa_t frame_alloc(unsigned int order)
{
	hpa_t pa;

	fake_mem_lock_take();
	pa = frame_alloc_locked(order);
	fake_mem_lock_drop();
	return pa;
}

static hpa_t frame_alloc_locked(unsigned int order)
{
	u64 n = 1ULL << order;

	fake_mem_init();
	if (fail_after == 0)
		return INVALID_HPA;
	if (fail_after != ~0ULL)
		fail_after--;
	/* Lowest free frame first, as before, but the scan starts where the frames below are known to be used. */
	for (u64 f = lowest_free & ~(n - 1); f + n <= FAKE_FRAMES; f += n) {
		u64 i;
		for (i = 0; i < n && !used[f + i]; i++)
			;
		if (i < n)
			continue;
		if (f == lowest_free)
			lowest_free += n;
		memset(used + f, 1, n);
		memset(fake_mem + (f << 12), 0, n << 12);
		in_use += n;
		return f << 12;
	}
	return INVALID_HPA;
}

void frame_free(hpa_t pa, unsigned int order)
{
	u64 f = pa >> 12, n = 1ULL << order;

	if ((pa & ((n << 12) - 1)) || f + n > FAKE_FRAMES)
		abort();
	fake_mem_lock_take();
	for (u64 i = 0; i < n; i++) {
		if (!used[f + i])
			abort(); /* double free in the code under test */
		used[f + i] = 0;
	}
	if (f < lowest_free)
		lowest_free = f;
	/* Poison, so a use after free shows up as garbage rather than as the old contents. */
	memset(fake_mem + pa, 0x6b, n << 12);
	in_use -= n;
	fake_mem_lock_drop();
}

/* Heap allocations fail on their own control (fake_kmalloc_fail_after), apart from frames, so a test can reach a
 * kzalloc failure without also starving the frame allocator, and tests that limit frames keep their heap. */
static u64 kmalloc_fail_after = ~0ULL;

static bool kmalloc_may_succeed(void)
{
	if (kmalloc_fail_after == 0)
		return false;
	if (kmalloc_fail_after != ~0ULL)
		kmalloc_fail_after--;
	return true;
}

void *kmalloc(size_t size) { return kmalloc_may_succeed() ? malloc(size) : NULL; }
void *kzalloc(size_t size) { return kmalloc_may_succeed() ? calloc(1, size) : NULL; }
void kfree(void *p) { free(p); }

_Thread_local unsigned int fake_cpu_id;
unsigned int this_cpu_id(void) { return fake_cpu_id; }

u64 fake_mem_frames_in_use(void) { return in_use; }
void fake_mem_fail_after(u64 n) { fail_after = n; }
void fake_kmalloc_fail_after(u64 n) { kmalloc_fail_after = n; }
