/* The platform heap: kmalloc/kzalloc/kfree over one mm/heap instance. A bad kfree is the hypervisor's own bug. */
#include "hv/bug.h"
#include "hv/platform.h"
#include "hv/string.h"
#include "mm/heap.h"
#include "mm/mm.h"

static struct heap kheap;

void mm_heap_init(void)
{
	heap_init(&kheap);
}

void *kmalloc(size_t size)
{
	return heap_alloc(&kheap, size);
}

void *kzalloc(size_t size)
{
	void *p = heap_alloc(&kheap, size);
	if (p)
		memset(p, 0, size);
	return p;
}

void kfree(void *p)
{
	BUG_ON(heap_free(&kheap, p) != 0);
}
