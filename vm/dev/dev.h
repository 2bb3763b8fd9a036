/* Guest device models on the port-I/O bus: their init functions, the few hooks the rest of the hypervisor calls, and
 * a helper for the byte-wide ISA registers most of them have. Each init allocates the device's state (kzalloc) into
 * vm->devices[VM_DEV_*] and registers its ports on vm->pio; none of them touches hardware. */
#ifndef VM_DEV_DEV_H
#define VM_DEV_DEV_H

#include "vm/vm.h"

/*
 * Every init returns 0, -EEXIST if the device was already initialised, -ENOMEM, or the io_bus_register error. Once
 * allocated, the state belongs to vm->devices[] even when a later registration fails (earlier ranges may already
 * point at it), so the VM's teardown frees it with kfree(vm->devices[i]); a VM whose device init failed must not run.
 */
int uart_dev_init(struct vm *vm);	/* COM1 16550A at 0x3f8-0x3ff, VM_DEV_UART */
int pic_dev_init(struct vm *vm);	/* i8259 pair at 0x20-0x21, 0xa0-0xa1, ELCR 0x4d0-0x4d1, VM_DEV_PIC */
int fw_cfg_dev_init(struct vm *vm);	/* QEMU fw_cfg at 0x510-0x511 (no DMA), VM_DEV_FWCFG */
int testdev_dev_init(struct vm *vm);	/* counters for guest tests at 0x5f0-0x5ff, VM_DEV_TESTDEV */
int debug_exit_dev_init(struct vm *vm); /* isa-debug-exit at 0xf4-0xf7, VM_DEV_DEBUG_EXIT */
int port_e9_dev_init(struct vm *vm);	/* Bochs/QEMU debug console at 0xe9; stateless, no devices[] slot */

/*
 * Test device ABI (guest tests depend on it; keep it stable):
 *   out 0x5f0, 32-bit  select counter N (enum vm_stat in vm/vm.h, whose order is part of this ABI) and latch its
 *                      64-bit value now; N >= NR_VM_STATS latches ~0 (all ones), so a guest can tell "no such
 *                      counter" from a zero count. Before the first select the latch holds ~0.
 *   in  0x5f4, 32-bit  bits 31:0 of the latched value
 *   in  0x5f8, 32-bit  bits 63:32 of the latched value
 *   out 0x5fc          reserved: ignored (it resets nothing)
 * Every other access (other ports of 0x5f0-0x5ff, other sizes) reads all ones and is ignored when written. Reading
 * the two halves after one select is consistent: the latch changes only on the next select.
 */
#define TESTDEV_PORT_BASE     0x5f0
#define TESTDEV_PORTS	      16
#define TESTDEV_PORT_SELECT   0x5f0
#define TESTDEV_PORT_LOW      0x5f4
#define TESTDEV_PORT_HIGH     0x5f8
#define TESTDEV_PORT_RESERVED 0x5fc

/* UART: queue one byte of input for the guest. 0, or -EAGAIN when the receive FIFO is full (keep the byte and offer
 * it again later: input is flow-controlled, not dropped), -ENODEV without a UART. */
int uart_dev_push_rx(struct vm *vm, u8 byte);
/* UART: whether the guest has an interrupt enabled in IER whose condition holds (IIR bit 0 clear). */
bool uart_dev_irq_pending(struct vm *vm);

/* PIC: drive input line irq (0-15) to level (0 or 1). Edge-triggered lines latch IRR on a rising edge, level-triggered
 * ones (ELCR) follow the line. Nothing is delivered to the vCPU yet; the state is what a guest's poll or IRR read
 * sees, and what the interrupt delivery will consume. */
void pic_dev_set_irq(struct vm *vm, unsigned int irq, int level);
/* PIC: the vector the pair would deliver now (interrupt acknowledge: sets ISR, clears an edge IRR), or -1. */
int pic_dev_intack(struct vm *vm);

/*
 * Many ISA devices decode only byte-wide registers. A wider access is a run of byte accesses to consecutive ports,
 * little-endian, as QEMU's memory core splits it for devices with impl.max_access_size = 1 (a 16550, an 8259). Bytes
 * that fall outside [lo, hi), which the bus can hand over because a straddling access goes to the range of its first
 * byte, read as 0xff and drop writes, as an undecoded port would.
 */
typedef u8 (*dev_byte_read_fn)(void *dev, u64 port);
typedef void (*dev_byte_write_fn)(void *dev, u64 port, u8 val);

static inline u64 dev_split_read(void *dev, u64 addr, unsigned int size, u64 lo, u64 hi, dev_byte_read_fn rd)
{
	u64 val = 0;

	for (unsigned int i = 0; i < size; i++) {
		u64 port = addr + i;
		u8 b = port >= lo && port < hi ? rd(dev, port) : 0xff;

		val |= (u64)b << (8 * i);
	}
	return val;
}

static inline void dev_split_write(void *dev, u64 addr, unsigned int size, u64 val, u64 lo, u64 hi,
				   dev_byte_write_fn wr)
{
	for (unsigned int i = 0; i < size; i++) {
		u64 port = addr + i;

		if (port >= lo && port < hi)
			wr(dev, port, (u8)(val >> (8 * i)));
	}
}

#endif
