/* The i8042 keyboard controller (data 0x60, status/command 0x64) with an AT keyboard that answers its commands but is
 * never typed on, and an empty mouse port: enough for Linux's i8042 and atkbd probes to finish at once instead of
 * timing out, and for the reset line (command 0xfe, or the output port's bit 0) to reset the machine. */
#include "vm/dev/dev.h"
#include "hv/errno.h"
#include "hv/platform.h"
#include "hv/spinlock.h"

#define I8042_DATA    0x60
#define I8042_COMMAND 0x64
#define KBD_IRQ	      1
#define AUX_IRQ	      12
#define QUEUE_SIZE    16

#define STR_OBF	   0x01 /* output buffer full */
#define STR_SYS	   0x04 /* system flag: POST passed (from CTR bit 2) */
#define STR_CMD	   0x08 /* the last write went to the command port */
#define STR_UNLOCK 0x10 /* keyboard not inhibited */
#define STR_AUXOBF 0x20 /* the byte waiting came from the mouse port */

#define CTR_KBDINT 0x01
#define CTR_AUXINT 0x02
#define CTR_SYS	   0x04
#define CTR_KBDDIS 0x10
#define CTR_AUXDIS 0x20
#define CTR_XLATE  0x40

#define OUTPORT_RESET 0x01 /* low resets the CPU */
#define OUTPORT_A20   0x02

#define KBD_ACK	   0xfa
#define KBD_RESEND 0xfe
#define KBD_BAT_OK 0xaa

/* Queue entries carry the byte and, in bit 8, whether it came from the mouse port. */
#define FROM_AUX 0x100

struct i8042 {
	struct vm *vm; /* constant */
	/* Everything below. Any vCPU uses the two ports, which are one controller: a guest's CPUs serialise their
	 * command-then-data sequences themselves (Linux's i8042_lock), as on a PC. Taken before the interrupt
	 * controllers' locks (IRQ1 and IRQ12 are driven with it held); the reset line's vm_end and log take none that
	 * nests outside it. The __ functions assert it. */
	spinlock_t lock;
	u8 ram[32]; /* controller RAM; byte 0 is the command byte (CTR) */
	u8 outport;
	u8 pending_cmd; /* a controller command waiting for its data byte, or 0 */
	u8 kbd_pending; /* a keyboard command waiting for its parameter, or 0 */
	u8 scancode_set;
	bool cmd_last;
	u16 queue[QUEUE_SIZE];
	u8 q_head, q_count;
	u8 last;	  /* the last byte read from the data port, which an empty buffer repeats */
	bool popped;	  /* the access being handled took a byte out of the buffer */
	bool irq1, irq12; /* the lines as driven */
	bool warned;	  /* an unknown command was logged once */
};

static void i8042_queue(struct i8042 *k, u16 entry)
{
	if (k->q_count < QUEUE_SIZE) /* a full buffer drops bytes, as a keyboard's would */
		k->queue[(k->q_head + k->q_count++) % QUEUE_SIZE] = entry;
}

static void i8042_kbd_reply(struct i8042 *k, u8 b)
{
	i8042_queue(k, b);
}

/* IRQ1 and IRQ12 follow the output buffer, each enabled by its CTR bit, as the PC wires them. Reading a byte empties
 * the one-byte buffer, so the line drops before the next queued byte raises it again: each byte is its own edge, which
 * Linux needs, since its handler takes one byte per interrupt. */
static void __i8042_update_irqs(struct i8042 *k)
{
	bool full = k->q_count, aux = full && (k->queue[k->q_head] & FROM_AUX);
	bool irq1 = full && !aux && (k->ram[0] & CTR_KBDINT), irq12 = aux && (k->ram[0] & CTR_AUXINT);

	assert_spin_held(&k->lock);
	if (k->popped) {
		k->popped = false;
		if (k->irq1)
			vm_set_irq(k->vm, KBD_IRQ, 0);
		if (k->irq12)
			vm_set_irq(k->vm, AUX_IRQ, 0);
		k->irq1 = k->irq12 = false;
	}

	if (irq1 != k->irq1) {
		k->irq1 = irq1;
		vm_set_irq(k->vm, KBD_IRQ, irq1);
	}
	if (irq12 != k->irq12) {
		k->irq12 = irq12;
		vm_set_irq(k->vm, AUX_IRQ, irq12);
	}
}

static void i8042_reset_machine(struct i8042 *k)
{
	vm_log(k->vm, LOG_INFO, "i8042: reset line pulsed\n");
	vm_end(k->vm, VM_END_RESET, 0);
}

/* A byte for the keyboard: its command set as far as Linux's atkbd uses it. */
static void i8042_kbd_write(struct i8042 *k, u8 b)
{
	if (k->kbd_pending) {
		u8 cmd = k->kbd_pending;

		k->kbd_pending = 0;
		i8042_kbd_reply(k, KBD_ACK);
		if (cmd == 0xf0) { /* scan code set: 0 asks, 1-3 select */
			if (!b)
				i8042_kbd_reply(k, (k->ram[0] & CTR_XLATE) ? (u8)(0x45 - 2 * k->scancode_set)
									   : k->scancode_set);
			else if (b <= 3)
				k->scancode_set = b;
		}
		return;
	}
	switch (b) {
	case 0xed: /* LEDs */
	case 0xf0: /* scan code set */
	case 0xf3: /* typematic rate */
		k->kbd_pending = b;
		i8042_kbd_reply(k, KBD_ACK);
		break;
	case 0xee: /* echo */
		i8042_kbd_reply(k, 0xee);
		break;
	case 0xf2: /* identify: an MF2 keyboard, 0xab 0x83, or 0xab 0x41 through the translator */
		i8042_kbd_reply(k, KBD_ACK);
		i8042_kbd_reply(k, 0xab);
		i8042_kbd_reply(k, (k->ram[0] & CTR_XLATE) ? 0x41 : 0x83);
		break;
	case 0xf4:	    /* enable */
	case 0xf5:	    /* disable */
	case 0xf6:	    /* defaults */
	case 0xf7 ... 0xfd: /* set-3 key modes */
		i8042_kbd_reply(k, KBD_ACK);
		break;
	case 0xff: /* reset and self test */
		k->scancode_set = 2;
		i8042_kbd_reply(k, KBD_ACK);
		i8042_kbd_reply(k, KBD_BAT_OK);
		break;
	default: /* 0xfe (resend) included: there is never anything to resend */
		i8042_kbd_reply(k, KBD_RESEND);
		break;
	}
}

static void i8042_write_outport(struct i8042 *k, u8 val)
{
	k->outport = val;
	if (!(val & OUTPORT_RESET))
		i8042_reset_machine(k);
}

static void i8042_command(struct i8042 *k, u8 cmd)
{
	k->pending_cmd = 0;
	if (cmd >= 0x20 && cmd <= 0x3f) { /* read controller RAM (0x20: the CTR) */
		i8042_queue(k, k->ram[cmd & 0x1f]);
		return;
	}
	if ((cmd >= 0x60 && cmd <= 0x7f) || cmd == 0xd1 || cmd == 0xd2 || cmd == 0xd3 || cmd == 0xd4) {
		k->pending_cmd = cmd; /* the data byte follows on port 0x60 */
		return;
	}
	if (cmd >= 0xf0) { /* pulse output lines: a clear bit 0 pulses the reset line */
		if (!(cmd & OUTPORT_RESET))
			i8042_reset_machine(k);
		return;
	}
	switch (cmd) {
	case 0xa7:
		k->ram[0] |= CTR_AUXDIS;
		break;
	case 0xa8:
		k->ram[0] &= ~CTR_AUXDIS;
		break;
	case 0xa9: /* mouse port test: the interface is fine, nothing is plugged in */
	case 0xab: /* keyboard port test */
		i8042_queue(k, 0x00);
		break;
	case 0xaa: /* controller self test */
		i8042_queue(k, 0x55);
		break;
	case 0xad:
		k->ram[0] |= CTR_KBDDIS;
		break;
	case 0xae:
		k->ram[0] &= ~CTR_KBDDIS;
		break;
	case 0xc0: /* input port: keyboard not inhibited */
		i8042_queue(k, 0x80);
		break;
	case 0xd0:
		i8042_queue(k, k->outport);
		break;
	case 0xdd: /* A20 off / on (some controllers) */
	case 0xdf:
		k->outport = (u8)((k->outport & ~OUTPORT_A20) | (cmd == 0xdf ? OUTPORT_A20 : 0));
		break;
	case 0xe0: /* test inputs */
		i8042_queue(k, 0x00);
		break;
	default:
		if (!k->warned) {
			k->warned = true;
			vm_log(k->vm, LOG_INFO, "i8042: command %#x ignored\n", cmd);
		}
		break;
	}
}

static void i8042_data(struct i8042 *k, u8 val)
{
	u8 cmd = k->pending_cmd;

	k->pending_cmd = 0;
	if (cmd >= 0x60 && cmd <= 0x7f) {
		k->ram[cmd & 0x1f] = val;
		return;
	}
	switch (cmd) {
	case 0xd1:
		i8042_write_outport(k, val);
		break;
	case 0xd2: /* as if from the keyboard */
		i8042_queue(k, val);
		break;
	case 0xd3: /* as if from the mouse: Linux's AUX loopback test */
		i8042_queue(k, FROM_AUX | val);
		break;
	case 0xd4: /* to the mouse, which is not there: "resend", as Linux's psmouse takes it */
		i8042_queue(k, FROM_AUX | KBD_RESEND);
		break;
	default:
		i8042_kbd_write(k, val);
		break;
	}
}

static u8 i8042_status(const struct i8042 *k)
{
	u8 s = STR_UNLOCK | (k->ram[0] & CTR_SYS ? STR_SYS : 0) | (k->cmd_last ? STR_CMD : 0);

	if (k->q_count)
		s |= STR_OBF | (k->queue[k->q_head] & FROM_AUX ? STR_AUXOBF : 0);
	return s;
}

static u8 __i8042_read_byte(void *dev, u64 port)
{
	struct i8042 *k = dev;

	assert_spin_held(&k->lock);
	if (port == I8042_COMMAND)
		return i8042_status(k);
	if (k->q_count) {
		k->last = (u8)k->queue[k->q_head];
		k->q_head = (k->q_head + 1) % QUEUE_SIZE;
		k->q_count--;
		k->popped = true;
	}
	return k->last;
}

static void __i8042_write_byte(void *dev, u64 port, u8 val)
{
	struct i8042 *k = dev;

	assert_spin_held(&k->lock);
	k->cmd_last = port == I8042_COMMAND;
	if (port == I8042_COMMAND)
		i8042_command(k, val);
	else
		i8042_data(k, val);
}

/* The two ports are single ranges a port apart; a wide access is split within its own port only. */
static int i8042_read(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 *val)
{
	struct i8042 *k = dev;

	spin_lock(&k->lock);
	*val = dev_split_read(dev, addr, size, addr, addr + 1, __i8042_read_byte);
	__i8042_update_irqs(k);
	spin_unlock(&k->lock);
	return 0;
}

static int i8042_write(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 val)
{
	struct i8042 *k = dev;

	spin_lock(&k->lock);
	dev_split_write(dev, addr, size, val, addr, addr + 1, __i8042_write_byte);
	__i8042_update_irqs(k);
	spin_unlock(&k->lock);
	return 0;
}

static const struct io_handler i8042_ops = {.name = "i8042", .read = i8042_read, .write = i8042_write};

/* As a BIOS leaves it: self test passed (SYS), keyboard interrupt on, translation on, mouse port off; the A20 gate
 * open (it is not modelled: guest RAM is never wrapped at 1 MiB). */
int i8042_dev_init(struct vm *vm)
{
	struct i8042 *k;
	int ret;

	if (vm->devices[VM_DEV_I8042])
		return -EEXIST;
	k = kzalloc(sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->vm = vm;
	spin_lock_init(&k->lock);
	k->ram[0] = CTR_XLATE | CTR_AUXDIS | CTR_SYS | CTR_KBDINT;
	k->outport = OUTPORT_RESET | OUTPORT_A20;
	k->scancode_set = 2;
	vm->devices[VM_DEV_I8042] = k;
	ret = io_bus_register(&vm->pio, I8042_DATA, 1, &i8042_ops, k);
	if (!ret)
		ret = io_bus_register(&vm->pio, I8042_COMMAND, 1, &i8042_ops, k);
	return ret;
}
