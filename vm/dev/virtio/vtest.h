/*
 * The virtio test device (hv.vtest=1, guest tests only): virtio device id VTEST_ID (PCI 1af4:107f), one queue that
 * echoes each chain's readable bytes into its writable ones (at most VTEST_MAX_ECHO; the used length says how many)
 * or, for a chain with nothing readable, fills the writable bytes with vtest_fill_byte(0, 1, ...),
 * and an 8-byte configuration: u32 magic VTEST_MAGIC (read-only), u32 scratch, whose every write is followed by a
 * configuration change interrupt. A malformed chain makes it fail (DEVICE_NEEDS_RESET) like any model.
 */
#ifndef VM_DEV_VIRTIO_VTEST_H
#define VM_DEV_VIRTIO_VTEST_H

#define VTEST_ID       63 /* unassigned in virtio 1.2, 5: no guest driver claims it */
#define VTEST_MAGIC    0x54535456u /* "VTST" */
#define VTEST_MAX_ECHO 65536u

static inline unsigned char vtest_fill_byte(unsigned int i)
{
	return (unsigned char)(i * 7 + 0x5a);
}

struct vm;
/* Create it on the VM's PCI bus. 0, -ENODEV (no bus), -ENOMEM, -ENOSPC. */
int vtest_add(struct vm *vm);

#endif
