/* A VM's disks: its role=disk modules (vm/config.h) as virtio-blk devices on its PCI bus, vda first. */
#ifndef VM_DISK_H
#define VM_DISK_H

#include "vm/config.h"

struct vm;

/* Create the devices while the VM is built (after its RAM, before its vCPUs run). 0, or a negative errno with the
 * reason logged; vm_disks_destroy frees what was made either way. */
int vm_disks_init(struct vm *vm, const struct vm_config *cfg);
/* When the VM ends: one line a disk with its request counters. */
void vm_disks_report(struct vm *vm);
void vm_disks_destroy(struct vm *vm);

#endif
