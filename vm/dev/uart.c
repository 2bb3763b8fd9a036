/* COM1: a 16550A UART at 0x3f8-0x3ff on IRQ4, modelled as far as multiboot test kernels and Linux's 8250 driver (its
 * probe, its console and its interrupt-driven tty) need. Transmission is instantaneous: THR bytes go straight to the
 * VM's console, so the transmitter always reads empty (LSR THRE|TEMT) and the THR-empty interrupt re-arms after every
 * write. Reset values and register masks follow QEMU's hw/char/serial.c, the interrupt gate the PC's wiring. */
#include "vm/dev/dev.h"
#include "hv/errno.h"
#include "hv/platform.h"
#include "hv/spinlock.h"

#define UART_BASE      0x3f8
#define UART_PORTS     8
#define UART_FIFO_SIZE 16
#define UART_IRQ       4

#define UART_RBR 0 /* read, DLAB=0 */
#define UART_THR 0 /* write, DLAB=0 */
#define UART_DLL 0 /* DLAB=1 */
#define UART_IER 1 /* DLAB=0 */
#define UART_DLM 1 /* DLAB=1 */
#define UART_IIR 2 /* read */
#define UART_FCR 2 /* write */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define IER_RDI	 0x01 /* receive data available */
#define IER_THRI 0x02 /* transmitter holding register empty */
#define IER_RLSI 0x04 /* receiver line status */
#define IER_MASK 0x0f

#define IIR_NO_INT    0x01
#define IIR_THRI      0x02
#define IIR_RDI	      0x04
#define IIR_RLSI      0x06
#define IIR_FIFO_BITS 0xc0 /* both set when the FIFOs are enabled: how Linux tells a 16550A from a 16550 */

#define FCR_FE	     0x01 /* FIFO enable */
#define FCR_CLEAR_RX 0x02
#define FCR_MASK     0xc9 /* FE, DMA mode, trigger level; the clear bits are self-clearing */

#define LCR_DLAB 0x80

#define MCR_DTR	 0x01
#define MCR_RTS	 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1f

#define LSR_DR	 0x01
#define LSR_OE	 0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI	0x40
#define MSR_DCD 0x80

/* Any vCPU reads and writes the registers; uart_dev_push_rx comes from whichever CPU polls the host console. */
struct uart {
	struct vm *vm; /* constant */
	/* Everything below. Taken before the interrupt controllers' locks (IRQ4 is driven with it held) and before
	 * vm->con_lock (a transmitted byte goes to the console with it held). The __ functions assert it. */
	spinlock_t lock;
	u8 ier, fcr, lcr, mcr, scr, dll, dlm;
	bool overrun;	   /* LSR OE, cleared by reading LSR */
	bool thr_ipending; /* THR-empty interrupt condition: set by a transmit, cleared by reading IIR or a THR write */
	bool irq;	   /* IRQ4 as driven */
	u8 rx[UART_FIFO_SIZE];
	u8 rx_head, rx_count;
};

static void uart_reset(struct uart *u)
{
	/* QEMU's serial_reset: OUT2 set, everything else clear; the divisor starts at 0 until the guest programs it. */
	u->ier = 0;
	u->fcr = 0;
	u->lcr = 0;
	u->mcr = MCR_OUT2;
	u->scr = 0;
	u->dll = 0;
	u->dlm = 0;
	u->overrun = false;
	u->thr_ipending = false;
	u->rx_head = 0;
	u->rx_count = 0;
}

/* Without FIFOs the receiver holds one byte (RBR); with them, sixteen. */
static u8 uart_rx_capacity(const struct uart *u)
{
	return (u->fcr & FCR_FE) ? UART_FIFO_SIZE : 1;
}

static bool uart_rx_push(struct uart *u, u8 b)
{
	if (u->rx_count >= uart_rx_capacity(u))
		return false;
	u->rx[(u->rx_head + u->rx_count) % UART_FIFO_SIZE] = b;
	u->rx_count++;
	return true;
}

static u8 uart_rx_pop(struct uart *u)
{
	u8 b;

	if (!u->rx_count)
		return 0;
	b = u->rx[u->rx_head];
	u->rx_head = (u->rx_head + 1) % UART_FIFO_SIZE;
	u->rx_count--;
	return b;
}

/* The interrupt identification, highest priority first (16550 datasheet table 4; modem-status interrupts never fire
 * because the modem lines never change outside loopback). */
static u8 uart_iir_id(const struct uart *u)
{
	if ((u->ier & IER_RLSI) && u->overrun)
		return IIR_RLSI;
	if ((u->ier & IER_RDI) && u->rx_count)
		return IIR_RDI;
	if ((u->ier & IER_THRI) && u->thr_ipending)
		return IIR_THRI;
	return IIR_NO_INT;
}

/* IRQ4 follows the UART's interrupt output through the PC's gate: OUT2 enables the driver onto the ISA line (Linux's
 * 8250 driver sets OUT2 for exactly that), and in loopback the 16550 holds its modem outputs, OUT2 among them,
 * inactive, so nothing reaches the line. Called after every change, with the lock held. */
static void __uart_update_irq(struct uart *u)
{
	bool level = (u->mcr & (MCR_OUT2 | MCR_LOOP)) == MCR_OUT2 && uart_iir_id(u) != IIR_NO_INT;

	assert_spin_held(&u->lock);
	if (level != u->irq) {
		u->irq = level;
		vm_set_irq(u->vm, UART_IRQ, level);
	}
}

static u8 uart_msr(const struct uart *u)
{
	/* In loopback the modem outputs feed the inputs: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD. Linux's probe sets
	 * RTS|OUT2 in loopback and expects DCD|CTS (0x90) here. Otherwise the lines read as a connected terminal. */
	if (u->mcr & MCR_LOOP)
		return (u8)(((u->mcr & MCR_DTR) ? MSR_DSR : 0) | ((u->mcr & MCR_RTS) ? MSR_CTS : 0) |
			    ((u->mcr & MCR_OUT1) ? MSR_RI : 0) | ((u->mcr & MCR_OUT2) ? MSR_DCD : 0));
	return MSR_DCD | MSR_DSR | MSR_CTS;
}

static void uart_transmit(struct uart *u, u8 b)
{
	if (u->mcr & MCR_LOOP) {
		/* The transmitter's output is wired to the receiver's input; a full receiver overruns. */
		if (!uart_rx_push(u, b))
			u->overrun = true;
	} else {
		vm_console_putc(u->vm, (char)b);
	}
	/* The byte left the holding register at once, so THR is empty again. */
	u->thr_ipending = true;
}

static u8 __uart_read_byte(void *dev, u64 port)
{
	struct uart *u = dev;
	bool dlab = u->lcr & LCR_DLAB;
	u8 v;

	assert_spin_held(&u->lock);
	switch (port - UART_BASE) {
	case UART_RBR:
		return dlab ? u->dll : uart_rx_pop(u);
	case UART_IER:
		return dlab ? u->dlm : u->ier;
	case UART_IIR:
		v = uart_iir_id(u);
		/* Reading IIR while it reports THR empty acknowledges that interrupt. */
		if (v == IIR_THRI)
			u->thr_ipending = false;
		return v | ((u->fcr & FCR_FE) ? IIR_FIFO_BITS : 0);
	case UART_LCR:
		return u->lcr;
	case UART_MCR:
		return u->mcr;
	case UART_LSR:
		v = LSR_THRE | LSR_TEMT | (u->rx_count ? LSR_DR : 0) | (u->overrun ? LSR_OE : 0);
		u->overrun = false;
		return v;
	case UART_MSR:
		return uart_msr(u);
	default:
		return u->scr;
	}
}

static void __uart_write_byte(void *dev, u64 port, u8 val)
{
	struct uart *u = dev;
	bool dlab = u->lcr & LCR_DLAB;

	assert_spin_held(&u->lock);
	switch (port - UART_BASE) {
	case UART_THR:
		if (dlab)
			u->dll = val;
		else
			uart_transmit(u, val);
		break;
	case UART_IER:
		if (dlab) {
			u->dlm = val;
		} else {
			u8 changed = (u->ier ^ val) & IER_THRI;

			u->ier = val & IER_MASK;
			/* Enabling the THR-empty interrupt while THR is empty (always, here) raises it at once. */
			if (changed)
				u->thr_ipending = (u->ier & IER_THRI) != 0;
		}
		break;
	case UART_FCR:
		/* Toggling the FIFO enable empties both FIFOs, as does the receiver-clear bit. */
		if (((u->fcr ^ val) & FCR_FE) || (val & FCR_CLEAR_RX)) {
			u->rx_head = 0;
			u->rx_count = 0;
		}
		u->fcr = val & FCR_MASK;
		break;
	case UART_LCR:
		u->lcr = val;
		break;
	case UART_MCR:
		u->mcr = val & MCR_MASK;
		break;
	case UART_LSR:
	case UART_MSR:
		break; /* status registers: read-only, as in QEMU */
	default:
		u->scr = val;
		break;
	}
}

static int uart_read(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 *val)
{
	struct uart *u = dev;

	spin_lock(&u->lock);
	*val = dev_split_read(dev, addr, size, UART_BASE, UART_BASE + UART_PORTS, __uart_read_byte);
	__uart_update_irq(u);
	spin_unlock(&u->lock);
	return 0;
}

static int uart_write(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 val)
{
	struct uart *u = dev;

	spin_lock(&u->lock);
	dev_split_write(dev, addr, size, val, UART_BASE, UART_BASE + UART_PORTS, __uart_write_byte);
	__uart_update_irq(u);
	spin_unlock(&u->lock);
	return 0;
}

static const struct io_handler uart_ops = {.name = "uart", .read = uart_read, .write = uart_write};

int uart_dev_init(struct vm *vm)
{
	struct uart *u;

	if (vm->devices[VM_DEV_UART])
		return -EEXIST;
	u = kzalloc(sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->vm = vm;
	spin_lock_init(&u->lock);
	uart_reset(u);
	vm->devices[VM_DEV_UART] = u;
	return io_bus_register(&vm->pio, UART_BASE, UART_PORTS, &uart_ops, u);
}

int uart_dev_push_rx(struct vm *vm, u8 byte)
{
	struct uart *u = vm->devices[VM_DEV_UART];
	int ret = 0;

	if (!u)
		return -ENODEV;
	spin_lock(&u->lock);
	/* In loopback the receiver hears only the transmitter. */
	if ((u->mcr & MCR_LOOP) || !uart_rx_push(u, byte))
		ret = -EAGAIN;
	__uart_update_irq(u);
	spin_unlock(&u->lock);
	return ret;
}

bool uart_dev_irq_pending(struct vm *vm)
{
	struct uart *u = vm->devices[VM_DEV_UART];
	bool pending;

	if (!u)
		return false;
	spin_lock(&u->lock);
	pending = uart_iir_id(u) != IIR_NO_INT;
	spin_unlock(&u->lock);
	return pending;
}
