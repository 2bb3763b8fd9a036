/* The i8259A master/slave pair (0x20-0x21, 0xa0-0xa1) and its ELCR edge/level registers (0x4d0-0x4d1). Guests probe
 * the PIC by writing IMR and reading it back, reprogram it with ICW1-ICW4 and mask it before they switch to the APIC,
 * so the register state machine is complete; the priority logic follows QEMU's hw/intc/i8259.c. ISA lines arrive
 * through vm->pic_chip (vm_set_irq); the INT output goes to vCPU 0 (its LINT0), which asks pic_dev_has_intr() for it
 * and acknowledges with pic_dev_intack() when it injects. Any vCPU may program the pair. */
#include "vm/dev/dev.h"
#include "hv/errno.h"
#include "hv/platform.h"
#include "hv/spinlock.h"

#define PIC_MASTER 0x20
#define PIC_SLAVE  0xa0
#define PIC_ELCR   0x4d0 /* 0x4d0 master, 0x4d1 slave */

#define ICW1	  0x10 /* a command-port write with bit 4 set starts initialisation */
#define ICW1_IC4  0x01 /* ICW4 follows */
#define ICW1_SNGL 0x02
#define OCW3	  0x08 /* otherwise bit 3 tells OCW3 from OCW2 */
#define OCW3_RIS  0x01
#define OCW3_RR	  0x02
#define OCW3_POLL 0x04
#define OCW3_SMM  0x20
#define OCW3_ESMM 0x40
#define ICW4_AEOI 0x02
#define ICW4_SFNM 0x10

#define CASCADE_IRQ 2

enum pic_init { PIC_READY, PIC_WANT_ICW2, PIC_WANT_ICW3, PIC_WANT_ICW4 };

struct pic_chip {
	u8 irr, imr, isr;
	u8 lines; /* input line levels, to latch edges */
	u8 elcr, elcr_mask;
	u8 irq_base;	 /* ICW2, bits 7:3 */
	u8 priority_add; /* rotation: the IRQ with the highest priority */
	u8 init_state;	 /* enum pic_init */
	bool init4, single, auto_eoi, rotate_on_auto_eoi, sfnm, special_mask, poll, read_isr;
};

struct pic {
	struct vm *vm; /* constant */
	/* Both chips. Taken inside every device's lock (devices drive their lines with theirs held), never together
	 * with the IOAPIC's (vm_set_irq calls the two in turn), and nothing is called with it held that takes a lock.
	 * The __ functions assert it. */
	spinlock_t lock;
	struct pic_chip chip[2]; /* [0] master, [1] slave */
};

/* 0-7 relative to the rotation, or 8 when mask is empty. */
static int pic_priority(const struct pic_chip *c, u8 mask)
{
	int p = 0;

	if (!mask)
		return 8;
	while (!(mask & (1u << ((p + c->priority_add) & 7))))
		p++;
	return p;
}

/* The IRQ this chip would raise now, or -1: the highest-priority unmasked request above everything in service. */
static int pic_get_irq(const struct pic_chip *c, bool master)
{
	int p = pic_priority(c, c->irr & ~c->imr);
	u8 in_service = c->isr;

	if (p == 8)
		return -1;
	if (c->special_mask)
		in_service &= ~c->imr;
	/* Special fully nested mode lets a slave interrupt through while another from the same slave is in service. */
	if (c->sfnm && master)
		in_service &= ~(1u << CASCADE_IRQ);
	return p < pic_priority(c, in_service) ? (p + c->priority_add) & 7 : -1;
}

static void pic_chip_set_line(struct pic_chip *c, unsigned int irq, int level)
{
	u8 m = 1u << irq;

	if (c->elcr & m) {
		c->irr = level ? c->irr | m : c->irr & ~m;
	} else if (level && !(c->lines & m)) {
		c->irr |= m; /* rising edge */
	}
	c->lines = level ? c->lines | m : c->lines & ~m;
}

/* The slave's output is the master's IRQ 2. */
static void __pic_update(struct pic *p)
{
	assert_spin_held(&p->lock);
	pic_chip_set_line(&p->chip[0], CASCADE_IRQ, pic_get_irq(&p->chip[1], false) >= 0);
}

static void pic_intack_chip(struct pic_chip *c, int irq)
{
	if (c->auto_eoi) {
		if (c->rotate_on_auto_eoi)
			c->priority_add = (irq + 1) & 7;
	} else {
		c->isr |= 1u << irq;
	}
	/* A level-triggered request stays until the device drops the line. */
	if (!(c->elcr & (1u << irq)))
		c->irr &= ~(1u << irq);
}

/* ICW1: everything but ELCR returns to its reset value (QEMU's pic_reset_common; IMR cleared per the datasheet). */
static void pic_icw1(struct pic_chip *c, u8 val)
{
	c->irr &= c->elcr;
	c->lines = 0;
	c->imr = 0;
	c->isr = 0;
	c->priority_add = 0;
	c->irq_base = 0;
	c->auto_eoi = c->rotate_on_auto_eoi = c->sfnm = c->special_mask = c->poll = c->read_isr = false;
	c->init4 = val & ICW1_IC4;
	c->single = val & ICW1_SNGL;
	c->init_state = PIC_WANT_ICW2;
}

static void pic_ocw2(struct pic_chip *c, u8 val)
{
	unsigned int cmd = val >> 5, irq = val & 7;
	int p;

	switch (cmd) {
	case 0: /* clear rotate in automatic EOI */
	case 4: /* set rotate in automatic EOI */
		c->rotate_on_auto_eoi = cmd == 4;
		break;
	case 1: /* non-specific EOI */
	case 5: /* rotate on non-specific EOI */
		p = pic_priority(c, c->isr);
		if (p != 8) {
			irq = (unsigned int)(p + c->priority_add) & 7;
			c->isr &= ~(1u << irq);
			if (cmd == 5)
				c->priority_add = (irq + 1) & 7;
		}
		break;
	case 3: /* specific EOI */
		c->isr &= ~(1u << irq);
		break;
	case 6: /* set priority: irq becomes the lowest */
		c->priority_add = (irq + 1) & 7;
		break;
	case 7: /* rotate on specific EOI */
		c->isr &= ~(1u << irq);
		c->priority_add = (irq + 1) & 7;
		break;
	default: /* 2: no operation */
		break;
	}
}

static void pic_write_data(struct pic_chip *c, u8 val)
{
	switch (c->init_state) {
	case PIC_WANT_ICW2:
		c->irq_base = val & 0xf8;
		c->init_state = !c->single ? PIC_WANT_ICW3 : c->init4 ? PIC_WANT_ICW4 : PIC_READY;
		break;
	case PIC_WANT_ICW3:
		/* The cascade wiring is fixed on a PC; the value only advances the sequence. */
		c->init_state = c->init4 ? PIC_WANT_ICW4 : PIC_READY;
		break;
	case PIC_WANT_ICW4:
		c->auto_eoi = val & ICW4_AEOI;
		c->sfnm = val & ICW4_SFNM;
		c->init_state = PIC_READY;
		break;
	default: /* OCW1 */
		c->imr = val;
		break;
	}
}

static void pic_write_cmd(struct pic_chip *c, u8 val)
{
	if (val & ICW1) {
		pic_icw1(c, val);
	} else if (val & OCW3) {
		if (val & OCW3_POLL)
			c->poll = true;
		if (val & OCW3_RR)
			c->read_isr = val & OCW3_RIS;
		if (val & OCW3_ESMM)
			c->special_mask = val & OCW3_SMM;
	} else {
		pic_ocw2(c, val);
	}
}

static u8 pic_read_chip(struct pic_chip *c, bool master, bool data_port)
{
	int irq;

	/* After an OCW3 poll command the next read of either port is the poll word, and acknowledges the IRQ. */
	if (c->poll) {
		c->poll = false;
		irq = pic_get_irq(c, master);
		if (irq < 0)
			return 0;
		pic_intack_chip(c, irq);
		return 0x80 | (u8)irq;
	}
	if (data_port)
		return c->imr;
	return c->read_isr ? c->isr : c->irr;
}

static u8 __pic_read_byte(void *dev, u64 port)
{
	struct pic *p = dev;
	u8 v;

	assert_spin_held(&p->lock);
	if (port == PIC_ELCR || port == PIC_ELCR + 1)
		return p->chip[port - PIC_ELCR].elcr;
	v = pic_read_chip(&p->chip[port >= PIC_SLAVE], port < PIC_SLAVE, port & 1);
	__pic_update(p);
	return v;
}

static void __pic_write_byte(void *dev, u64 port, u8 val)
{
	struct pic *p = dev;
	struct pic_chip *c;

	assert_spin_held(&p->lock);
	if (port == PIC_ELCR || port == PIC_ELCR + 1) {
		c = &p->chip[port - PIC_ELCR];
		c->elcr = val & c->elcr_mask;
		return;
	}
	c = &p->chip[port >= PIC_SLAVE];
	if (port & 1)
		pic_write_data(c, val);
	else
		pic_write_cmd(c, val);
	__pic_update(p);
}

/* Each of the three ranges is two ports wide; the one holding addr bounds a split access. */
static u64 pic_range_base(u64 addr)
{
	return addr & ~1ULL;
}

static int pic_read(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 *val)
{
	struct pic *p = dev;
	u64 lo = pic_range_base(addr);

	spin_lock(&p->lock);
	*val = dev_split_read(dev, addr, size, lo, lo + 2, __pic_read_byte);
	spin_unlock(&p->lock);
	return 0;
}

/* The master's INT output (pic_dev_has_intr). */
static bool __pic_intr(struct pic *p)
{
	assert_spin_held(&p->lock);
	return pic_get_irq(&p->chip[0], true) >= 0;
}

/*
 * A write can raise INT without any line moving: an IMR unmask or an EOI uncovers a request already in IRR. vm_set_irq
 * kicks vCPU 0 for a line change; for this, the writer does, itself included (a vCPU's kick of itself keeps a fast
 * re-entry from skipping its look at the PIC). (A read only ever lowers INT: a poll acknowledges.)
 */
static int pic_write(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 val)
{
	struct pic *p = dev;
	struct vm *vm = p->vm;
	u64 lo = pic_range_base(addr);
	bool was, raised;

	spin_lock(&p->lock);
	was = __pic_intr(p);
	dev_split_write(dev, addr, size, val, lo, lo + 2, __pic_write_byte);
	raised = !was && __pic_intr(p);
	spin_unlock(&p->lock);
	if (!raised)
		return 0;
	if (vm->nr_vcpus && vm->vcpus[0])
		vcpu_kick(vm->vcpus[0]);
	/* The writer too, if it is not vCPU 0: an IOAPIC pin in ExtINT mode may have routed the PIC to it. */
	if (v && (!vm->nr_vcpus || v != vm->vcpus[0]))
		vcpu_kick(v);
	return 0;
}

static const struct io_handler pic_ops = {.name = "i8259", .read = pic_read, .write = pic_write};

/*
 * The state a guest finds. It has run no BIOS, but multiboot and Linux kernels expect the PIC as a BIOS leaves it, so
 * each chip starts initialised the way SeaBIOS does it (ICW1 0x11: edge, cascade, ICW4 follows; vector bases 0x08 and
 * 0x70; ICW4 8086 mode), with IMR 0xff: all masked, since nothing is delivered yet and a masked PIC is what a guest
 * that never touches it should see. Re-initialising with ICW1 then clears IMR to 0, as the 8259A datasheet specifies
 * and QEMU does. (QEMU's power-on IMR is 0 too, but there the BIOS programs the PIC before any guest code runs.)
 */
static void pic_chip_firmware_state(struct pic_chip *c, u8 irq_base, u8 elcr_mask)
{
	*c = (struct pic_chip){
	    .imr = 0xff,
	    .irq_base = irq_base,
	    .init_state = PIC_READY,
	    .init4 = true,
	    .elcr_mask = elcr_mask,
	};
}

int pic_dev_init(struct vm *vm)
{
	struct pic *p;
	int ret;

	if (vm->devices[VM_DEV_PIC])
		return -EEXIST;
	p = kzalloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->vm = vm;
	spin_lock_init(&p->lock);
	/* ELCR masks: IRQ 0, 1, 2, 8 and 13 are ISA-only and always edge-triggered (PIIX datasheet, as in QEMU). */
	pic_chip_firmware_state(&p->chip[0], 0x08, 0xf8);
	pic_chip_firmware_state(&p->chip[1], 0x70, 0xde);
	vm->devices[VM_DEV_PIC] = p;

	ret = io_bus_register(&vm->pio, PIC_MASTER, 2, &pic_ops, p);
	if (!ret)
		ret = io_bus_register(&vm->pio, PIC_SLAVE, 2, &pic_ops, p);
	if (!ret)
		ret = io_bus_register(&vm->pio, PIC_ELCR, 2, &pic_ops, p);
	if (!ret)
		vm->pic_chip.set_irq = pic_dev_set_irq;
	return ret;
}

void pic_dev_set_irq(struct vm *vm, unsigned int irq, int level)
{
	struct pic *p = vm->devices[VM_DEV_PIC];

	if (!p || irq >= 16)
		return;
	spin_lock(&p->lock);
	pic_chip_set_line(&p->chip[irq >= 8], irq & 7, level != 0);
	__pic_update(p);
	spin_unlock(&p->lock);
}

bool pic_dev_has_intr(struct vm *vm)
{
	struct pic *p = vm->devices[VM_DEV_PIC];
	bool intr;

	if (!p)
		return false;
	/* Asked before every entry of vCPU 0 while LINT0 takes ExtINT (a BIOS's virtual wire): no request unmasked on the
	 * master is the common answer, and needs no lock. A request raised after this racy look kicks vCPU 0
	 * (vm_set_irq, or the writer that unmasked it), which looks again before it enters the guest. */
	if (!(__atomic_load_n(&p->chip[0].irr, __ATOMIC_RELAXED) & ~__atomic_load_n(&p->chip[0].imr, __ATOMIC_RELAXED)))
		return false;
	/* The slave's output is already the master's IRQ 2 (__pic_update after every change), so the master decides. */
	spin_lock(&p->lock);
	intr = __pic_intr(p);
	spin_unlock(&p->lock);
	return intr;
}

int pic_dev_intack(struct vm *vm)
{
	struct pic *p = vm->devices[VM_DEV_PIC];
	int irq, irq2, vector;

	if (!p)
		return -1;
	spin_lock(&p->lock);
	irq = pic_get_irq(&p->chip[0], true);
	if (irq < 0) {
		vector = -1;
	} else if (irq == CASCADE_IRQ) {
		irq2 = pic_get_irq(&p->chip[1], false);
		if (irq2 >= 0)
			pic_intack_chip(&p->chip[1], irq2);
		else
			irq2 = 7; /* the slave's request went away: its spurious IRQ 7, as real hardware gives */
		vector = p->chip[1].irq_base + irq2;
		pic_intack_chip(&p->chip[0], irq);
	} else {
		vector = p->chip[0].irq_base + irq;
		pic_intack_chip(&p->chip[0], irq);
	}
	__pic_update(p);
	spin_unlock(&p->lock);
	return vector;
}
