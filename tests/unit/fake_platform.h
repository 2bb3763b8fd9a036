/* Test-only controls of the fake platform (fake_platform.c). */
#ifndef FAKE_PLATFORM_H
#define FAKE_PLATFORM_H

#include <string.h>

#include "hv/types.h"
#include "test.h"

/* What this_cpu_id() returns. Thread-local, so threads of a stress test act as distinct CPUs (each starts at 0 and
 * sets its own); the frame allocator, though, is not thread-safe: one thread allocates and frees. */
extern _Thread_local unsigned int fake_cpu_id;
extern char test_last_log[1024];
extern int test_log_level_max;

/* The last message the code under test logged contains s. */
#define CHECK_LAST_LOG(s)                                                                                              \
	do {                                                                                                           \
		if (!strstr(test_last_log, (s)))                                                                       \
			test_fail(__FILE__, __LINE__, "last log lacks \"%s\": %s", (s), test_last_log);                \
	} while (0)

/* What frame_alloc_dirty() fills its frames with. */
#define FAKE_DIRTY_BYTE 0xa5

u64 fake_mem_frames_in_use(void);
/* Let n more frame allocations succeed, then fail them all; ~0 restores unlimited. */
void fake_mem_fail_after(u64 n);
/* The same for kmalloc/kzalloc (frames and heap are limited separately). */
void fake_kmalloc_fail_after(u64 n);

#endif
