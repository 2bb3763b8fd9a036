/* The IOAPIC's register model and pin logic (see ioapic.h). Remote IRR follows KVM's ioapic.c: a level-triggered pin
 * delivers once and waits for the EOI, then delivers again if its line is still up, so a guest that never EOIs gets
 * one interrupt, not a storm. */
#include "vm/dev/ioapic.h"
#include "hv/errno.h"
#include "hv/platform.h"
#include "hv/spinlock.h"
#include "vm/dev/dev.h"

struct ioapic {
	struct vm *vm;		   /* constant */
	ioapic_deliver_fn deliver; /* constant */
	/*
	 * Everything below. Any vCPU drives pins (vm_set_irq, from a device with its own lock held), programs the
	 * redirection table (MMIO) and EOIs (ioapic_eoi from its LAPIC, or the EOI register), all serialised here: a
	 * delivery sees a whole entry, either before or after a concurrent rewrite, and remote IRR is set, cleared and
	 * carried across rewrites by whoever holds the lock. So it nests inside every device's lock and is never held
	 * with the PIC's; deliver runs under it and takes no lock. The __ functions assert it.
	 */
	spinlock_t lock;
	u8 id;	   /* 4 bits */
	u8 regsel; /* one per IOAPIC: guests serialise IOREGSEL-then-IOWIN pairs themselves (Linux's ioapic_lock) */
	u32 lines; /* pin levels as last driven */
	u64 rte[IOAPIC_NR_PINS];
};

static struct ioapic *ioapic_get(struct vm *vm)
{
	return vm->devices[VM_DEV_IOAPIC];
}

/* Send pin's interrupt if its entry lets it: unmasked and, when level-triggered, not already awaiting an EOI. */
static void __ioapic_service(struct ioapic *io, unsigned int pin)
{
	u64 e = io->rte[pin];
	bool level = e & IOAPIC_RTE_LEVEL;
	int accepted;

	assert_spin_held(&io->lock);
	if ((e & IOAPIC_RTE_MASKED) || (level && (e & IOAPIC_RTE_REMOTE_IRR)))
		return;
	accepted = io->deliver(io->vm, (u32)(e >> IOAPIC_RTE_DEST_SHIFT), e & IOAPIC_RTE_LOGICAL,
			       (u8)(e & IOAPIC_RTE_VECTOR), (u8)((e & IOAPIC_RTE_DM) >> IOAPIC_RTE_DM_SHIFT), level);
	if (level && accepted > 0)
		io->rte[pin] |= IOAPIC_RTE_REMOTE_IRR;
}

void ioapic_set_irq(struct vm *vm, unsigned int pin, int level)
{
	struct ioapic *io = ioapic_get(vm);
	u32 bit, old;

	if (!io || pin >= IOAPIC_NR_PINS)
		return;
	bit = 1u << pin;
	spin_lock(&io->lock);
	old = io->lines;
	io->lines = level ? old | bit : old & ~bit;
	if (level && ((io->rte[pin] & IOAPIC_RTE_LEVEL) || !(old & bit)))
		__ioapic_service(io, pin);
	spin_unlock(&io->lock);
}

static void __ioapic_eoi(struct ioapic *io, u8 vector)
{
	assert_spin_held(&io->lock);
	for (unsigned int pin = 0; pin < IOAPIC_NR_PINS; pin++) {
		u64 e = io->rte[pin];

		if ((e & IOAPIC_RTE_VECTOR) != vector || !(e & IOAPIC_RTE_LEVEL) || !(e & IOAPIC_RTE_REMOTE_IRR))
			continue;
		io->rte[pin] &= ~IOAPIC_RTE_REMOTE_IRR;
		if (io->lines & (1u << pin))
			__ioapic_service(io, pin);
	}
}

void ioapic_eoi(struct vm *vm, u8 vector)
{
	struct ioapic *io = ioapic_get(vm);

	if (!io)
		return;
	spin_lock(&io->lock);
	__ioapic_eoi(io, vector);
	spin_unlock(&io->lock);
}

static u32 __ioapic_read_indirect(const struct ioapic *io)
{
	unsigned int reg = io->regsel, pin;

	assert_spin_held(&io->lock);
	switch (reg) {
	case IOAPIC_REG_ID:
	case IOAPIC_REG_ARB:
		return (u32)io->id << 24;
	case IOAPIC_REG_VER:
		return (IOAPIC_NR_PINS - 1) << 16 | IOAPIC_VERSION;
	default:
		pin = (reg - IOAPIC_REG_REDTBL) / 2;
		if (reg < IOAPIC_REG_REDTBL || pin >= IOAPIC_NR_PINS)
			return 0; /* no such register */
		return (u32)(io->rte[pin] >> (reg & 1 ? 32 : 0));
	}
}

static void __ioapic_write_indirect(struct ioapic *io, u32 val)
{
	unsigned int reg = io->regsel, pin;
	u64 old, e;

	assert_spin_held(&io->lock);
	if (reg == IOAPIC_REG_ID) {
		io->id = (val >> 24) & 0xf;
		return;
	}
	pin = (reg - IOAPIC_REG_REDTBL) / 2;
	if (reg < IOAPIC_REG_REDTBL || pin >= IOAPIC_NR_PINS)
		return; /* version, arbitration and the rest are read-only or absent */
	old = io->rte[pin];
	e = reg & 1 ? (old & 0xffffffffULL) | (u64)val << 32 : (old & ~0xffffffffULL) | val;
	e = (e & IOAPIC_RTE_DEFINED & ~IOAPIC_RTE_READ_ONLY) | (old & IOAPIC_RTE_REMOTE_IRR);
	/* An edge-triggered pin has no remote IRR (KVM clears it the same way). */
	if (!(e & IOAPIC_RTE_LEVEL))
		e &= ~IOAPIC_RTE_REMOTE_IRR;
	io->rte[pin] = e;
	/* A level that was held back by the mask (or by a stale remote IRR) goes out now. */
	if ((e & IOAPIC_RTE_LEVEL) && (io->lines & (1u << pin)))
		__ioapic_service(io, pin);
}

/* Only the dword registers are decoded. A narrower or unaligned read returns the bytes of the register's dword it
 * covers, 0 beyond it; a write must be 32 (or 64, low half) bits at the register, except IOREGSEL, whose low byte is
 * the register, which a byte write sets too. */
static u32 __ioapic_dword(const struct ioapic *io, u64 off)
{
	assert_spin_held(&io->lock);
	switch (off) {
	case IOAPIC_REGSEL:
		return io->regsel;
	case IOAPIC_WINDOW:
		return __ioapic_read_indirect(io);
	default:
		return 0; /* including the write-only EOI register */
	}
}

static int ioapic_mmio_read(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 *val)
{
	struct ioapic *io = dev;
	u64 off = addr - IOAPIC_BASE, shift = (off & 3) * 8;

	spin_lock(&io->lock);
	*val = (u64)__ioapic_dword(io, off & ~3ULL) >> shift;
	spin_unlock(&io->lock);
	return 0;
}

static int ioapic_mmio_write(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 val)
{
	struct ioapic *io = dev;
	u64 off = addr - IOAPIC_BASE;

	spin_lock(&io->lock);
	if (off == IOAPIC_REGSEL)
		io->regsel = (u8)val;
	else if (off == IOAPIC_WINDOW && size >= 4)
		__ioapic_write_indirect(io, (u32)val);
	else if (off == IOAPIC_EOI && size >= 4)
		__ioapic_eoi(io, (u8)val);
	spin_unlock(&io->lock);
	return 0;
}

static const struct io_handler ioapic_ops = {.name = "ioapic", .read = ioapic_mmio_read, .write = ioapic_mmio_write};

int ioapic_send_msi(struct vm *vm, u32 addr, u32 data)
{
	struct ioapic *io = vm->devices[VM_DEV_IOAPIC];

	if (!io)
		return -ENODEV;
	if ((addr >> 20) != 0xfee)
		return -EINVAL;
	return io->deliver(vm, (addr >> 12) & 0xff, addr & BIT(2), (u8)data, (u8)((data >> 8) & 7), data & BIT(15));
}

int ioapic_dev_init(struct vm *vm, ioapic_deliver_fn deliver)
{
	struct ioapic *io;
	int ret;

	if (vm->devices[VM_DEV_IOAPIC])
		return -EEXIST;
	if (!deliver)
		return -EINVAL;
	io = kzalloc(sizeof(*io));
	if (!io)
		return -ENOMEM;
	io->vm = vm;
	io->deliver = deliver;
	spin_lock_init(&io->lock);
	for (unsigned int pin = 0; pin < IOAPIC_NR_PINS; pin++)
		io->rte[pin] = IOAPIC_RTE_MASKED;
	vm->devices[VM_DEV_IOAPIC] = io;
	ret = io_bus_register(&vm->mmio, IOAPIC_BASE, IOAPIC_SIZE, &ioapic_ops, io);
	if (ret)
		return ret;
	vm->ioapic_chip.set_irq = ioapic_set_irq;
	return 0;
}
