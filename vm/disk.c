/* A VM's disks (vm/disk.h). The image GRUB loaded is the disk itself: its frames are reserved from the frame allocator
 * with every module's (mm/frame.c) and stay the VM's medium until the machine powers off, so nothing a guest writes
 * survives power-off, which the boot log says for each disk. */
#include "vm/disk.h"
#include "hv/errno.h"
#include "hv/log.h"
#include "hv/platform.h"
#include "hv/string.h"
#include "kernel/printf.h"
#include "vm/dev/virtio/blk.h"
#include "vm/vm.h"

_Static_assert(sizeof(((struct vm *)0)->disks) / sizeof(((struct vm *)0)->disks[0]) == VM_CONFIG_MAX_DISKS,
	       "struct vm holds every disk vm/config.h allows");

int vm_disks_init(struct vm *vm, const struct vm_config *cfg)
{
	struct virtio_mem mem;

	virtio_mem_init_vm(&mem, vm); /* the VM's RAM through its memslots, as every device sees it */

	for (u32 i = 0; i < cfg->nr_disks; i++) {
		u64 bytes = cfg->disks[i].end - cfg->disks[i].start;
		struct virtio_blk *b = kzalloc(sizeof(*b));
		char id[8];
		int r;

		if (!b)
			return -ENOMEM;
		hv_snprintf(id, sizeof(id), "vd%c", 'a' + (int)i);
		r = virtio_blk_init(b, vm, &mem, phys_to_virt(cfg->disks[i].start), bytes, cfg->disks[i].ro, id);
		if (r) { /* vm_config_parse checked the size: a broken invariant, but not worth a panic */
			kfree(b);
			vm_log(vm, LOG_ERR, "%s: module %u cannot be a disk (%d)\n", id, cfg->disks[i].index, r);
			return r;
		}
		vm->disks[vm->nr_disks++] = b;
		r = virtio_pci_add(vm, &b->dev);
		if (r) {
			vm_log(vm, LOG_ERR, "%s: no PCI function for virtio-blk (%d)\n", id, r);
			return r;
		}
		vm_log(vm, LOG_INFO, "%s: virtio-blk, %llu sectors (%llu KiB) from module %u, %s\n", id,
		       (unsigned long long)b->sectors, (unsigned long long)(bytes >> 10), cfg->disks[i].index,
		       b->ro ? "read-only"
			     : "read-write, write-through: the disk is host RAM, writes to it are lost at power-off");
	}
	return 0;
}

void vm_disks_report(struct vm *vm)
{
	for (u32 i = 0; i < vm->nr_disks; i++) {
		const struct virtio_blk *b = vm->disks[i];
		const struct virtio_blk_stats *s = &b->stats;

		pr_info("vm %s: %s: %llu reads (%llu KiB), %llu writes (%llu KiB), %llu flushes, %llu discards, %llu "
			"write-zeroes, %llu get-ids; %llu I/O errors, %llu unsupported, %llu broken chains\n",
			vm->name, b->id, (unsigned long long)s->reads, (unsigned long long)(s->read_bytes >> 10),
			(unsigned long long)s->writes, (unsigned long long)(s->write_bytes >> 10),
			(unsigned long long)s->flushes, (unsigned long long)s->discards,
			(unsigned long long)s->write_zeroes, (unsigned long long)s->get_ids,
			(unsigned long long)s->ioerr, (unsigned long long)s->unsupp, (unsigned long long)s->failed);
	}
}

/* After vm_devices_destroy: the PCI functions that pointed at the disks are gone. The disks are this file's, not the
 * bus's (blk.c has no ops->destroy), so that a disk whose function could not be added is freed the same way. */
void vm_disks_destroy(struct vm *vm)
{
	for (u32 i = 0; i < vm->nr_disks; i++) {
		kfree(vm->disks[i]);
		vm->disks[i] = NULL;
	}
	vm->nr_disks = 0;
}
