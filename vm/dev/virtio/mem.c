/*
 * struct virtio_mem for a VM (virtio.h): a device's view of guest memory is the VM's RAM, through its memslots.
 * Writes go through mmu_write_gpa, so write tracking (the shadow MMU's write-protected page tables, protect=) sees a
 * device's DMA as it sees a vCPU's; private pages are refused by mmu_read_gpa / mmu_write_gpa themselves.
 */
#include "hv/errno.h"
#include "mm/memslot.h"
#include "mm/mmu.h"
#include "vm/dev/virtio/virtio.h"
#include "vm/vm.h"

static int vmem_read(void *ctx, u64 gpa, void *buf, u32 len)
{
	struct vm *vm = ctx;
	int r = mmu_read_gpa(&vm->mmu, gpa, buf, len);
	return r ? -EFAULT : 0;
}

static int vmem_write(void *ctx, u64 gpa, const void *buf, u32 len)
{
	struct vm *vm = ctx;
	int r = mmu_write_gpa(&vm->mmu, NULL, gpa, buf, len);
	return r ? -EFAULT : 0;
}

/* Slot by slot, not page by page: a 4 GiB buffer costs one lookup per slot it covers. */
static int vmem_check(void *ctx, u64 gpa, u64 len)
{
	struct vm *vm = ctx;
	u64 first = gpa >> PAGE_SHIFT, last;

	if (!len)
		return 0;
	if (gpa + len < gpa)
		return -EFAULT;
	last = (gpa + len - 1) >> PAGE_SHIFT;
	while (first <= last) {
		struct memslot *s = first < PT_MAX_PFN ? memslot_find(&vm->mmu.slots, first) : NULL;
		if (!s)
			return -EFAULT;
		first = s->base_gfn + s->npages;
	}
	return 0;
}

void virtio_mem_init_vm(struct virtio_mem *m, struct vm *vm)
{
	*m = (struct virtio_mem){ .ctx = vm, .read = vmem_read, .write = vmem_write, .check = vmem_check };
}
