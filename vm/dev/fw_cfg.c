/* QEMU's fw_cfg, traditional I/O interface only (no DMA): a 16-bit write to 0x510 selects an item, and 8-bit reads
 * stream its bytes. Firmware and guest tests written for QEMU probe it for the signature, the RAM size and the CPU
 * count; the items are computed from the VM on each read, so there is nothing to keep in sync. */
#include "vm/dev/dev.h"
#include "hv/errno.h"
#include "hv/platform.h"
#include "hv/spinlock.h"

#define FW_CFG_PORT_SEL	 0x510
#define FW_CFG_PORT_DATA 0x511
#define FW_CFG_PORTS	 2 /* the DMA address ports 0x514-0x51b stay unclaimed: FW_CFG_ID says there is no DMA */

#define FW_CFG_SIGNATURE 0x0000
#define FW_CFG_ID	 0x0001
#define FW_CFG_RAM_SIZE	 0x0003
#define FW_CFG_NB_CPUS	 0x0005
#define FW_CFG_MAX_CPUS	 0x000f
#define FW_CFG_FILE_DIR	 0x0019

#define FW_CFG_WRITE_CHANNEL 0x4000 /* ignored on select, as QEMU does: items are read-only */
#define FW_CFG_ARCH_LOCAL    0x8000 /* x86-specific items (e820, ACPI tables): we have none */

#define FW_CFG_ID_TRADITIONAL 1 /* bit 0: the I/O interface; bit 1 (DMA) clear */
#define FW_CFG_ITEM_MAX	      8

struct fw_cfg {
	struct vm *vm; /* constant; the items read only its constant fields */
	/* The lock covers key and offset. There is one selector per machine, as in QEMU: guests that use fw_cfg from
	 * several CPUs serialise select-then-read themselves (Linux's driver holds a mutex), and a guest that does not
	 * gets bytes of whichever item was selected last, as it would on QEMU. The lock only makes each access whole,
	 * so the offset never passes the item's end however accesses interleave. It nests inside nothing. */
	spinlock_t lock;
	u16 key;    /* as selected, write-channel bit dropped */
	u32 offset; /* next byte of the item to read; stops at the item's end */
};

static void put_le(u8 *buf, u64 v, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		buf[i] = (u8)(v >> (8 * i));
}

/* The selected item's bytes into buf; returns its length (0 for an item that does not exist). */
static u32 __fw_cfg_item(const struct fw_cfg *f, u8 buf[FW_CFG_ITEM_MAX])
{
	assert_spin_held(&f->lock);
	switch (f->key) {
	case FW_CFG_SIGNATURE:
		buf[0] = 'Q';
		buf[1] = 'E';
		buf[2] = 'M';
		buf[3] = 'U';
		return 4;
	case FW_CFG_ID:
		put_le(buf, FW_CFG_ID_TRADITIONAL, 4);
		return 4;
	case FW_CFG_RAM_SIZE:
		put_le(buf, f->vm->mem_bytes, 8);
		return 8;
	case FW_CFG_NB_CPUS:
		put_le(buf, f->vm->nr_vcpus, 2);
		return 2;
	case FW_CFG_MAX_CPUS:
		put_le(buf, VM_MAX_VCPUS, 2);
		return 2;
	case FW_CFG_FILE_DIR:
		/* struct FWCfgFiles { be32 count; FWCfgFile f[]; } with no files. */
		put_le(buf, 0, 4);
		return 4;
	default:
		return 0; /* arch-local keys land here too: bit 15 makes them differ from every key above */
	}
}

static u8 fw_cfg_read_data(struct fw_cfg *f)
{
	u8 buf[FW_CFG_ITEM_MAX], b = 0;
	u32 len;

	spin_lock(&f->lock);
	len = __fw_cfg_item(f, buf);
	if (f->offset < len) /* past the end (or no such item): zeros, and the offset stays put */
		b = buf[f->offset++];
	spin_unlock(&f->lock);
	return b;
}

/*
 * The port decode follows QEMU's combined I/O region at 0x510-0x511: a 16-bit write at 0x510 selects, an 8-bit read
 * of either port returns the next data byte, and 8-bit writes (the legacy data-write path, ignored by QEMU since 2.4)
 * change nothing. Any other size is not a valid fw_cfg access: reads give all ones, writes are dropped.
 */
static int fw_cfg_read(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 *val)
{
	*val = size == 1 ? fw_cfg_read_data(dev) : ~0ULL;
	return 0;
}

static int fw_cfg_write(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 val)
{
	struct fw_cfg *f = dev;

	if (addr == FW_CFG_PORT_SEL && size == 2) {
		spin_lock(&f->lock);
		f->key = (u16)val & ~FW_CFG_WRITE_CHANNEL;
		f->offset = 0;
		spin_unlock(&f->lock);
	}
	return 0;
}

static const struct io_handler fw_cfg_ops = {.name = "fw_cfg", .read = fw_cfg_read, .write = fw_cfg_write};

int fw_cfg_dev_init(struct vm *vm)
{
	struct fw_cfg *f;

	if (vm->devices[VM_DEV_FWCFG])
		return -EEXIST;
	f = kzalloc(sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->vm = vm;
	spin_lock_init(&f->lock);
	f->key = FW_CFG_SIGNATURE; /* QEMU resets the selector to 0 */
	vm->devices[VM_DEV_FWCFG] = f;
	return io_bus_register(&vm->pio, FW_CFG_PORT_SEL, FW_CFG_PORTS, &fw_cfg_ops, f);
}
