/* Guest device models on the port-I/O bus: their init functions, the few hooks the rest of the hypervisor calls, and
 * helpers for the byte-wide ISA registers most of them have and for time. Each init allocates the device's state
 * (kzalloc) into vm->devices[VM_DEV_*] and registers its ports on vm->pio. None of them touches hardware, except
 * rtc_host_epoch_seconds(), which reads the host's clock once per VM. The IOAPIC is in ioapic.h, the HPET (on the
 * MMIO bus) in hpet.h.
 *
 * Any vCPU of the VM may enter any model at any time, concurrently with the others and with vCPU 0 running the
 * device timers. A model with state has its own spinlock, whose rule is written next to the fields it covers (or
 * says why it needs none); functions named __* require it and assert it. Lock order, outermost first:
 *   device lock (uart, pit, rtc, i8042, acpi-pm, fw_cfg, hpet)  ->  PIC or IOAPIC lock (never both)
 *   any of those  ->  vm->timers_lock (inside vtimer_arm/disarm), vm->con_lock (inside vm_console_putc)
 * A model raises its IRQ line with its own lock held (vm_set_irq -> PIC, IOAPIC -> the deliver hook, which posts to
 * vCPUs without a lock), never the other way round. vm_end takes no lock and may be called from anywhere.
 */
#ifndef VM_DEV_DEV_H
#define VM_DEV_DEV_H

#include "hv/errno.h"
#include "hv/platform.h"
#include "hv/muldiv.h"
#include "vm/vm.h"

#ifndef HV_HOST_TEST
#include "arch/x86/cpu.h"
#endif

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
int pit_dev_init(struct vm *vm);	/* i8254 at 0x40-0x43 and port 0x61, IRQ0; VM_DEV_PIT; needs vm->tsc_hz */
int i8042_dev_init(struct vm *vm);	/* keyboard controller at 0x60, 0x64, IRQ1/IRQ12; VM_DEV_I8042 */
int port80_dev_init(struct vm *vm);	/* POST code port 0x80; VM_DEV_PORT80 */
/* CMOS RTC at 0x70-0x71, IRQ8, VM_DEV_RTC; needs vm->tsc_hz. The clock starts at epoch_seconds (seconds since
 * 1970-01-01 00:00:00, read as the RTC's own time scale: UTC or local, whatever the host's RTC keeps). */
int rtc_dev_init(struct vm *vm, u64 epoch_seconds);
/* The host's wall time from its CMOS RTC, for rtc_dev_init: waits out an update in progress and reads until two
 * passes agree. 0 when the RTC reads as absent or invalid. Touches host ports 0x70/0x71 under a global lock; call
 * it outside any guest context (VM creation). */
u64 rtc_host_epoch_seconds(void);
/* The same from any CMOS reader (a fake one in unit tests): read(index) returns the byte at that CMOS index. */
u64 rtc_epoch_from_cmos(u8 (*read)(void *ctx, u8 index), void *ctx);

/*
 * Test device ABI (guest tests depend on it; keep it stable):
 *   out 0x5f0, 32-bit  select counter N (enum vm_stat in vm/vm.h, whose order is part of this ABI) and latch its
 *                      64-bit value now; N >= NR_VM_STATS latches ~0 (all ones), so a guest can tell "no such
 *                      counter" from a zero count. Before the first select the latch holds ~0.
 *   in  0x5f4, 32-bit  bits 31:0 of the latched value
 *   in  0x5f8, 32-bit  bits 63:32 of the latched value
 *   out 0x5fc          reserved: ignored (it resets nothing)
 *   in  0x5fe, 8/16/32-bit   the stream: the next 1, 2 or 4 bytes of the sequence testdev_stream_byte(n),
 *                      n = 0, 1, 2, ... (little-endian: the lowest byte is the earliest)
 *   out 0x5fe, 8/16/32-bit   the stream's sink: each byte, lowest first, goes into an FNV-1a hash and a count
 *   out 0x5f0, TESTDEV_SEL_STREAM  latches the sink (bits 31:0 its FNV-1a hash, 63:32 its byte count) and
 *                      resets the stream: the sequence restarts at n = 0, the hash and count start again
 * The stream gives string port I/O (INS/OUTS) a data path with known contents and order in both directions.
 * Every other access (other ports of 0x5f0-0x5ff, other sizes) reads all ones and is ignored when written. Reading
 * the two halves after one select is consistent: the latch changes only on the next select. Each vCPU has its own
 * latch, so vCPUs may use the device at the same time; the counters are the VM's (summed over its vCPUs).
 */
#define TESTDEV_PORT_BASE     0x5f0
#define TESTDEV_PORTS	      16
#define TESTDEV_PORT_SELECT   0x5f0
#define TESTDEV_PORT_LOW      0x5f4
#define TESTDEV_PORT_HIGH     0x5f8
#define TESTDEV_PORT_RESERVED 0x5fc
#define TESTDEV_PORT_STREAM   0x5fe
#define TESTDEV_SEL_STREAM    0x80000000u
#define TESTDEV_FNV_BASIS     2166136261u
#define TESTDEV_FNV_PRIME     16777619u
static inline u8 testdev_stream_byte(u32 n)
{
	return (u8)(n ^ (n >> 8) ^ 0xa5);
}

/* UART: queue one byte of input for the guest. 0, or -EAGAIN when the receive FIFO is full (keep the byte and offer
 * it again later: input is flow-controlled, not dropped), -ENODEV without a UART. Any CPU: it takes the UART's lock
 * and may raise IRQ4 with it held (the PIC's and IOAPIC's locks nest inside; the IOAPIC posts to the vCPUs), so the
 * caller holds none of those. */
int uart_dev_push_rx(struct vm *vm, u8 byte);
/* UART: whether the guest has an interrupt enabled in IER whose condition holds (IIR bit 0 clear). Whether it
 * reaches IRQ4 also depends on MCR.OUT2, the PC's interrupt gate; the UART drives IRQ4 itself (vm_set_irq). */
bool uart_dev_irq_pending(struct vm *vm);

/* PIC: drive input line irq (0-15) to level (0 or 1). Edge-triggered lines latch IRR on a rising edge, level-triggered
 * ones (ELCR) follow the line. Devices reach it through vm_set_irq (it is vm->pic_chip.set_irq). */
void pic_dev_set_irq(struct vm *vm, unsigned int irq, int level);
/* PIC: the vector the pair would deliver now (interrupt acknowledge: sets ISR, clears an edge IRR), or -1. */
int pic_dev_intack(struct vm *vm);
/* PIC: whether the master's INT output is asserted (an unmasked request that no in-service IRQ of equal or higher
 * priority blocks), without acknowledging anything. The run loop asks this, then calls pic_dev_intack() when it
 * injects; the two can disagree only if the guest (any of its vCPUs) changed the PIC in between, and then intack
 * returns -1 or the slave's spurious vector, as the hardware would. pic_dev_init registers pic_dev_set_irq as
 * vm->pic_chip.set_irq. The output reaches vCPU 0 (LINT0): a register write by another vCPU that raises it kicks
 * vCPU 0. */
bool pic_dev_has_intr(struct vm *vm);

/*
 * Time. The timekeeping models (PIT, RTC) are functions of the host TSC, the time base of vtimer deadlines and of
 * vm->tsc_hz: the run loop fires their timers with rdtsc() as `now`, and their registers read dev_tsc_now(). Host
 * unit tests supply simulated time instead (tests/unit/fake_vm.c). Device locks are taken before the interrupt
 * controllers' (a model raises its IRQ line with its own lock held), never the other way round.
 * vCPU 0 takes an expired timer off the list and then calls its callback with no lock held, so another vCPU's access
 * can come in between: a callback takes its device's lock and recomputes everything from the registers, never trusting
 * that the expiry it was armed for is still meant, and acts at the later of `now` and dev_tsc_now(), as another vCPU
 * may have seen a later TSC in that window. A device keeps its own copy of the deadline it armed if it needs one: the
 * vtimer's fields belong to vm->timers_lock.
 */
#ifdef HV_HOST_TEST
u64 dev_tsc_now(void);
#else
static inline u64 dev_tsc_now(void)
{
	return rdtsc();
}
#endif

/* a * b / c with a 128-bit intermediate (hv/muldiv.h). */
static inline u64 dev_mul_div(u64 a, u64 b, u64 c, bool round_up)
{
	return mul_div_u64(a, b, c, round_up);
}

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
