/* Unit tests of the port-I/O device models (vm/dev/): every access goes through the VM's real I/O bus (vm/io.c), the
 * way the exit handler will issue it, and results are checked as a guest sees them (register reads) or as the rest of
 * the hypervisor sees them (console bytes, vm_end arguments, counters read through vm_stat). */
#include <string.h>

#include "test.h"
#include "fake_vm.h"
#include "hv/errno.h"
#include "vm/dev/dev.h"

static struct vm vm;

static u64 in(u16 port, unsigned int size)
{
	u64 v = 0xdead;

	CHECK_EQ(io_bus_read(&vm.pio, NULL, port, size, &v), 0);
	return v;
}

static void out(u16 port, unsigned int size, u64 val)
{
	CHECK_EQ(io_bus_write(&vm.pio, NULL, port, size, val), 0);
}

/* The same, issued by vCPU v (its exit handler passes it to the bus). */
static u64 vin(struct vcpu *v, u16 port, unsigned int size)
{
	u64 val = 0xdead;

	CHECK_EQ(io_bus_read(&vm.pio, v, port, size, &val), 0);
	return val;
}

static void vout(struct vcpu *v, u16 port, unsigned int size, u64 val)
{
	CHECK_EQ(io_bus_write(&vm.pio, v, port, size, val), 0);
}

static u8 inb(u16 port)
{
	return (u8)in(port, 1);
}

static void outb(u16 port, u8 val)
{
	out(port, 1, val);
}

static void setup(void)
{
	fake_vm_destroy(&vm);
	fake_vm_init(&vm, 0);
	vm.mem_bytes = 0x12345678ULL << 12;
	CHECK_EQ(uart_dev_init(&vm), 0);
	CHECK_EQ(pic_dev_init(&vm), 0);
	CHECK_EQ(fw_cfg_dev_init(&vm), 0);
	CHECK_EQ(testdev_dev_init(&vm), 0);
	CHECK_EQ(debug_exit_dev_init(&vm), 0);
	CHECK_EQ(port_e9_dev_init(&vm), 0);
}

/* ---- 16550 UART ---- */

TEST(uart_thr_goes_to_console)
{
	setup();
	for (const char *s = "hi!\n"; *s; s++)
		outb(0x3f8, (u8)*s);
	CHECK_STR(fake_vm.console, "hi!\n");
	CHECK_EQ(inb(0x3fd), 0x60); /* THRE|TEMT, nothing received */
	CHECK_EQ(inb(0x3fa), 0x01); /* no interrupt */
}

TEST(uart_reset_values)
{
	setup();
	CHECK_EQ(inb(0x3f9), 0x00); /* IER */
	CHECK_EQ(inb(0x3fb), 0x00); /* LCR */
	CHECK_EQ(inb(0x3fc), 0x08); /* MCR: OUT2, as QEMU */
	CHECK_EQ(inb(0x3fe), 0xb0); /* MSR: DCD|DSR|CTS */
	CHECK_EQ(inb(0x3ff), 0x00); /* SCR */
	CHECK(!uart_dev_irq_pending(&vm));
}

TEST(uart_register_masks_and_readback)
{
	setup();
	outb(0x3f9, 0xff);
	CHECK_EQ(inb(0x3f9), 0x0f);
	outb(0x3f9, 0);
	outb(0x3fb, 0x1b);
	CHECK_EQ(inb(0x3fb), 0x1b);
	outb(0x3fc, 0xff);
	CHECK_EQ(inb(0x3fc), 0x1f);
	outb(0x3fc, 0x0b);
	outb(0x3ff, 0xa5);
	CHECK_EQ(inb(0x3ff), 0xa5);
	outb(0x3fd, 0x00); /* LSR and MSR are read-only */
	outb(0x3fe, 0x00);
	CHECK_EQ(inb(0x3fd), 0x60);
	CHECK_EQ(inb(0x3fe), 0xb0);
	/* FCR is write-only; enabling the FIFOs shows in IIR bits 7:6. */
	outb(0x3fa, 0xc7);
	CHECK_EQ(inb(0x3fa), 0xc1);
	outb(0x3fa, 0x00);
	CHECK_EQ(inb(0x3fa), 0x01);
}

TEST(uart_dlab_switches_divisor_latch)
{
	setup();
	outb(0x3f9, 0x05); /* IER */
	outb(0x3fb, 0x83); /* DLAB, 8N1 */
	outb(0x3f8, 0x01); /* DLL: 115200 baud */
	outb(0x3f9, 0x02); /* DLM */
	CHECK_EQ(inb(0x3f8), 0x01);
	CHECK_EQ(inb(0x3f9), 0x02);
	CHECK_EQ(fake_vm.console_len, 0); /* a DLL write is not a transmit */
	outb(0x3fb, 0x03);
	CHECK_EQ(inb(0x3f9), 0x05); /* IER back */
	outb(0x3f8, 'x');
	CHECK_STR(fake_vm.console, "x");
	outb(0x3fb, 0x83);
	CHECK_EQ(inb(0x3f8), 0x01); /* the divisor survived */
	CHECK_EQ(inb(0x3f9), 0x02);
}

TEST(uart_rx_fifo_and_flow_control)
{
	setup();
	CHECK_EQ(uart_dev_push_rx(&vm, 'a'), 0);
	CHECK_EQ(uart_dev_push_rx(&vm, 'b'), -EAGAIN); /* no FIFO: one holding register */
	CHECK_EQ(inb(0x3fd), 0x61);
	CHECK_EQ(inb(0x3f8), 'a');
	CHECK_EQ(inb(0x3fd), 0x60);
	outb(0x3fa, 0x01); /* FIFOs on */
	for (int i = 0; i < 16; i++)
		CHECK_EQ(uart_dev_push_rx(&vm, (u8)('A' + i)), 0);
	CHECK_EQ(uart_dev_push_rx(&vm, '!'), -EAGAIN);
	for (int i = 0; i < 16; i++) {
		CHECK_EQ(inb(0x3fd) & 1, 1);
		CHECK_EQ(inb(0x3f8), 'A' + i);
	}
	CHECK_EQ(inb(0x3fd), 0x60);
	CHECK_EQ(inb(0x3f8), 0); /* empty FIFO reads 0 */
	/* FCR bit 1 empties the receiver. */
	CHECK_EQ(uart_dev_push_rx(&vm, 'z'), 0);
	outb(0x3fa, 0x03);
	CHECK_EQ(inb(0x3fd), 0x60);
}

TEST(uart_loopback_returns_thr_and_modem_lines)
{
	setup();
	/* Linux's autoconfig: loopback with RTS|OUT2 must read back DCD|CTS. */
	outb(0x3fc, 0x10 | 0x0a);
	CHECK_EQ(inb(0x3fe) & 0xf0, 0x90);
	outb(0x3fc, 0x10 | 0x0f);
	CHECK_EQ(inb(0x3fe), 0xf0);
	outb(0x3fc, 0x10 | 0x01);
	CHECK_EQ(inb(0x3fe), 0x20); /* DTR -> DSR */
	outb(0x3f8, 0x5a);
	CHECK_EQ(fake_vm.console_len, 0);
	CHECK_EQ(inb(0x3fd), 0x61);
	CHECK_EQ(inb(0x3f8), 0x5a);
	CHECK_EQ(uart_dev_push_rx(&vm, 'q'), -EAGAIN); /* outside input is cut off in loopback */
	/* A second byte before the first is read overruns the one-byte receiver; OE clears on the LSR read. */
	outb(0x3f8, 1);
	outb(0x3f8, 2);
	CHECK_EQ(inb(0x3fd), 0x63);
	CHECK_EQ(inb(0x3fd), 0x61);
	CHECK_EQ(inb(0x3f8), 1);
	outb(0x3fc, 0x08);
	outb(0x3f8, 'k');
	CHECK_STR(fake_vm.console, "k");
}

TEST(uart_iir_reports_enabled_interrupts)
{
	setup();
	outb(0x3f9, 0x02); /* THRI: THR is empty, so it is pending at once */
	CHECK(uart_dev_irq_pending(&vm));
	CHECK_EQ(inb(0x3fa), 0x02);
	CHECK_EQ(inb(0x3fa), 0x01); /* reading IIR acknowledged it */
	CHECK(!uart_dev_irq_pending(&vm));
	outb(0x3f8, '.'); /* each transmit empties THR again */
	CHECK_EQ(inb(0x3fa), 0x02);
	outb(0x3f9, 0x03);
	CHECK_EQ(uart_dev_push_rx(&vm, 'r'), 0);
	CHECK_EQ(inb(0x3fa), 0x04); /* RX data outranks THR empty */
	CHECK(uart_dev_irq_pending(&vm));
	CHECK_EQ(inb(0x3f8), 'r');
	CHECK_EQ(inb(0x3fa), 0x01);
	outb(0x3f9, 0x00);
	CHECK_EQ(uart_dev_push_rx(&vm, 'r'), 0);
	CHECK_EQ(inb(0x3fa), 0x01); /* data waits, but the interrupt is disabled */
	CHECK(!uart_dev_irq_pending(&vm));
}

TEST(uart_thre_interrupt_drives_irq4)
{
	setup();
	CHECK_EQ(fake_vm.irq_calls, 0);
	outb(0x3f9, 0x02); /* ETBEI with THR empty: IRQ4 at once (MCR has OUT2 from reset) */
	CHECK_EQ(fake_vm.irq_level[4], 1);
	CHECK_EQ(fake_vm.irq_rises[4], 1);
	CHECK_EQ(inb(0x3fa), 0x02); /* reading IIR acknowledges, and the line drops */
	CHECK_EQ(fake_vm.irq_level[4], 0);
	/* Linux's 8250 sends a burst per interrupt; each THR write re-arms THRE, as on a real 16550. */
	outb(0x3f8, 'a');
	CHECK_EQ(fake_vm.irq_rises[4], 2);
	outb(0x3f8, 'b'); /* still pending: no new edge, no extra call */
	CHECK_EQ(fake_vm.irq_rises[4], 2);
	u32 calls = fake_vm.irq_calls;
	outb(0x3f8, 'c');
	CHECK_EQ(fake_vm.irq_calls, calls);
	/* Its THRE probe: enable, read IIR, disable, enable again: the interrupt is asserted both times. */
	outb(0x3f9, 0x00);
	CHECK_EQ(fake_vm.irq_level[4], 0);
	outb(0x3f9, 0x02);
	CHECK_EQ(inb(0x3fa), 0x02);
	outb(0x3f9, 0x00);
	outb(0x3f9, 0x02);
	CHECK_EQ(inb(0x3fa), 0x02);
	CHECK_EQ(fake_vm.irq_rises[4], 4);
	/* Stopping transmission (ETBEI off) drops a pending THRE. */
	outb(0x3f8, 'd');
	CHECK_EQ(fake_vm.irq_level[4], 1);
	outb(0x3f9, 0x00);
	CHECK_EQ(fake_vm.irq_level[4], 0);
	CHECK_STR(fake_vm.console, "abcd");
}

TEST(uart_rx_interrupt_and_irq4_through_the_pic)
{
	setup();
	outb(0x21, 0xef);  /* unmask IRQ 4 only */
	outb(0x3f9, 0x01); /* ERBFI */
	CHECK_EQ(fake_vm.irq_level[4], 0);
	CHECK(!pic_dev_has_intr(&vm));
	CHECK_EQ(uart_dev_push_rx(&vm, 'k'), 0);
	CHECK_EQ(fake_vm.irq_level[4], 1);
	CHECK(pic_dev_has_intr(&vm));
	CHECK_EQ(pic_dev_intack(&vm), 0x0c);
	CHECK_EQ(inb(0x3fa), 0x04);
	CHECK_EQ(fake_vm.irq_level[4], 1); /* reading IIR does not clear received data */
	CHECK_EQ(inb(0x3f8), 'k');
	CHECK_EQ(fake_vm.irq_level[4], 0);
	/* A full FIFO keeps the line up until the last byte is read. */
	outb(0x3fa, 0x01);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(uart_dev_push_rx(&vm, (u8)('0' + i)), 0);
	CHECK_EQ(fake_vm.irq_rises[4], 2);
	inb(0x3f8);
	inb(0x3f8);
	CHECK_EQ(fake_vm.irq_level[4], 1);
	inb(0x3f8);
	CHECK_EQ(fake_vm.irq_level[4], 0);
	outb(0x20, 0x20);
}

TEST(uart_out2_gates_irq4)
{
	setup();
	outb(0x3fc, 0x03); /* DTR|RTS, OUT2 clear */
	outb(0x3f9, 0x03);
	CHECK(uart_dev_irq_pending(&vm)); /* the UART's own output is up... */
	CHECK_EQ(inb(0x3fa) & 0x0f, 0x02);
	outb(0x3f9, 0x00);
	outb(0x3f9, 0x02);
	CHECK_EQ(fake_vm.irq_level[4], 0); /* ...but the PC's gate keeps it off the line */
	CHECK_EQ(fake_vm.irq_calls, 0);
	outb(0x3fc, 0x0b); /* OUT2: what Linux sets when it enables interrupts */
	CHECK_EQ(fake_vm.irq_level[4], 1);
	outb(0x3fc, 0x1b); /* loopback holds OUT2 inactive */
	CHECK_EQ(fake_vm.irq_level[4], 0);
	outb(0x3fc, 0x0b);
	CHECK_EQ(fake_vm.irq_level[4], 1);
}

TEST(uart_wide_access_is_byte_split)
{
	setup();
	out(0x3fb, 2, 0xeb03); /* LCR = 0x03, MCR = 0xeb & 0x1f */
	CHECK_EQ(inb(0x3fb), 0x03);
	CHECK_EQ(inb(0x3fc), 0x0b);
	CHECK_EQ(in(0x3fe, 4), 0xffff00b0); /* MSR, SCR, then two ports beyond the UART */
}

/* ---- isa-debug-exit ---- */

TEST(debug_exit_status_is_value_times_two_plus_one)
{
	setup();
	CHECK_EQ(in(0xf4, 1), 0xff);
	CHECK_EQ(in(0xf4, 4), 0xffffffff);
	CHECK(!vm.ended);
	outb(0xf4, 0x10);
	CHECK_EQ(fake_vm.end_calls, 1);
	CHECK_EQ(fake_vm.end_reason, VM_END_DEBUG_EXIT);
	CHECK_EQ(fake_vm.end_status, 0x21);
	out(0xf4, 4, 0x80000001);
	CHECK_EQ(fake_vm.end_status, 0x100000003ULL); /* all 32 bits, as QEMU */
	out(0xf6, 2, 0);
	CHECK_EQ(fake_vm.end_status, 1);
	CHECK_EQ(fake_vm.end_calls, 3);
	CHECK_EQ(vm.end_status, 0x21); /* the first end wins in the VM */
}

/* ---- i8259 ---- */

TEST(pic_starts_initialised_and_masked)
{
	setup();
	CHECK_EQ(inb(0x21), 0xff);
	CHECK_EQ(inb(0xa1), 0xff);
	CHECK_EQ(inb(0x20), 0x00); /* IRR */
	/* The probe Linux does: write a mask, read it back. */
	outb(0x21, 0x5a);
	CHECK_EQ(inb(0x21), 0x5a);
	outb(0xa1, 0xa5);
	CHECK_EQ(inb(0xa1), 0xa5);
	CHECK_EQ(inb(0x21), 0x5a);
	/* Firmware vector bases: an IRQ 0 and an IRQ 8 go to 0x08 and 0x70. */
	outb(0x21, 0xfa);
	outb(0xa1, 0xfc);
	pic_dev_set_irq(&vm, 8, 1);
	CHECK_EQ(pic_dev_intack(&vm), 0x70);
	pic_dev_set_irq(&vm, 9, 1);
	CHECK_EQ(pic_dev_intack(&vm), -1); /* IRQ 8 in service holds off the lower IRQ 9 */
	pic_dev_set_irq(&vm, 0, 1);
	CHECK_EQ(pic_dev_intack(&vm), 0x08); /* but IRQ 0 outranks the cascade (IRQ 2) and nests */
}

TEST(pic_icw_sequence)
{
	setup();
	/* Linux's init_8259A: ICW1 edge+ICW4, ICW2 vector base, ICW3 cascade, ICW4 8086 mode. */
	outb(0x20, 0x11);
	CHECK_EQ(inb(0x21), 0x00); /* ICW1 cleared IMR */
	outb(0x21, 0x30);
	outb(0x21, 0x04);
	outb(0x21, 0x01);
	outb(0xa0, 0x11);
	outb(0xa1, 0x38);
	outb(0xa1, 0x02);
	outb(0xa1, 0x01);
	/* Now the data ports are IMR again. */
	outb(0x21, 0xfb);
	outb(0xa1, 0xff);
	CHECK_EQ(inb(0x21), 0xfb);
	CHECK_EQ(inb(0xa1), 0xff);
	pic_dev_set_irq(&vm, 1, 1);
	CHECK_EQ(pic_dev_intack(&vm), -1); /* masked */
	outb(0x21, 0xf9);
	CHECK_EQ(pic_dev_intack(&vm), 0x31);

	/* Without ICW4 the sequence ends after ICW3; in single mode ICW3 is skipped too. */
	outb(0x20, 0x10);
	outb(0x21, 0x40);
	outb(0x21, 0x04);
	outb(0x21, 0x77);
	CHECK_EQ(inb(0x21), 0x77);
	outb(0x20, 0x13);
	outb(0x21, 0x48);
	outb(0x21, 0x01); /* ICW4 */
	outb(0x21, 0xee); /* IMR */
	CHECK_EQ(inb(0x21), 0xee);
	pic_dev_set_irq(&vm, 4, 1);
	CHECK_EQ(pic_dev_intack(&vm), 0x4c);
}

TEST(pic_ocw3_selects_irr_isr_and_poll)
{
	setup();
	outb(0x21, 0x00);
	pic_dev_set_irq(&vm, 3, 1);
	pic_dev_set_irq(&vm, 5, 1);
	CHECK_EQ(inb(0x20), 0x28); /* IRR is the default */
	outb(0x20, 0x0b);	   /* OCW3: read ISR */
	CHECK_EQ(inb(0x20), 0x00);
	CHECK_EQ(pic_dev_intack(&vm), 0x0b);
	CHECK_EQ(inb(0x20), 0x08); /* ISR: IRQ 3 in service */
	CHECK_EQ(inb(0x20), 0x08); /* the selection sticks */
	outb(0x20, 0x0a);	   /* back to IRR */
	CHECK_EQ(inb(0x20), 0x20);
	CHECK_EQ(inb(0x21), 0x00); /* the data port is IMR whatever OCW3 says */
	/* Poll: IRQ 5 is below IRQ 3 in service, so nothing; after the EOI, 0x80|5, acknowledged. */
	outb(0x20, 0x0c);
	CHECK_EQ(inb(0x20), 0x00);
	outb(0x20, 0x20); /* non-specific EOI */
	outb(0x20, 0x0c);
	CHECK_EQ(inb(0x21), 0x85); /* the poll word comes from either port */
	CHECK_EQ(inb(0x21), 0x00); /* and only once: IMR again */
	outb(0x20, 0x0b);
	CHECK_EQ(inb(0x20), 0x20);
	outb(0x20, 0x65); /* specific EOI for IRQ 5 */
	CHECK_EQ(inb(0x20), 0x00);
}

TEST(pic_cascade_and_rotation)
{
	setup();
	outb(0x21, 0x00);
	outb(0xa1, 0x00);
	pic_dev_set_irq(&vm, 10, 1);
	CHECK_EQ(inb(0x20), 0x04); /* the slave raises master IRQ 2 */
	CHECK_EQ(pic_dev_intack(&vm), 0x72);
	outb(0xa0, 0x0b);
	CHECK_EQ(inb(0xa0), 0x04);
	outb(0x20, 0x0b);
	CHECK_EQ(inb(0x20), 0x04);
	outb(0xa0, 0x20);
	outb(0x20, 0x20);
	CHECK_EQ(inb(0xa0), 0x00);
	CHECK_EQ(inb(0x20), 0x00);
	/* Set priority (OCW2 0xc0|n): IRQ n becomes the lowest, so IRQ 7 now beats IRQ 1 when n = 6. */
	outb(0x20, 0xc6);
	pic_dev_set_irq(&vm, 1, 1);
	pic_dev_set_irq(&vm, 7, 1);
	CHECK_EQ(pic_dev_intack(&vm), 0x0f);
	/* Edge lines latch once per rising edge. */
	pic_dev_set_irq(&vm, 7, 1);
	outb(0x20, 0x67);
	CHECK_EQ(pic_dev_intack(&vm), 0x09);
	outb(0x20, 0x61);
	CHECK_EQ(pic_dev_intack(&vm), -1);
}

TEST(pic_elcr_masks_isa_only_lines)
{
	setup();
	CHECK_EQ(inb(0x4d0), 0x00);
	outb(0x4d0, 0xff);
	outb(0x4d1, 0xff);
	CHECK_EQ(inb(0x4d0), 0xf8);
	CHECK_EQ(inb(0x4d1), 0xde);
	CHECK_EQ(in(0x4d0, 2), 0xdef8);
	/* A level-triggered line stays requested after the acknowledge, until it drops. */
	outb(0x21, 0x00);
	pic_dev_set_irq(&vm, 5, 1);
	CHECK_EQ(pic_dev_intack(&vm), 0x0d);
	CHECK_EQ(inb(0x20), 0x20);
	pic_dev_set_irq(&vm, 5, 0);
	CHECK_EQ(inb(0x20), 0x00);
	/* ICW1 leaves ELCR alone. */
	outb(0x20, 0x11);
	CHECK_EQ(inb(0x4d0), 0xf8);
}

TEST(pic_has_intr_follows_priority_without_acknowledging)
{
	setup();
	CHECK(vm.pic_chip.set_irq == pic_dev_set_irq);
	outb(0x21, 0x00);
	outb(0xa1, 0x00);
	CHECK(!pic_dev_has_intr(&vm));
	vm_set_irq(&vm, 5, 1); /* through the VM's routing */
	CHECK(pic_dev_has_intr(&vm));
	CHECK(pic_dev_has_intr(&vm)); /* asking twice acknowledges nothing */
	CHECK_EQ(inb(0x20), 0x20);
	CHECK_EQ(pic_dev_intack(&vm), 0x0d);
	CHECK(!pic_dev_has_intr(&vm));
	vm_set_irq(&vm, 6, 1); /* lower than IRQ 5 in service: held off */
	CHECK(!pic_dev_has_intr(&vm));
	vm_set_irq(&vm, 3, 1); /* higher: nests */
	CHECK(pic_dev_has_intr(&vm));
	CHECK_EQ(pic_dev_intack(&vm), 0x0b);
	CHECK(!pic_dev_has_intr(&vm));
	outb(0x20, 0x20); /* EOI 3: 6 is still below 5 */
	CHECK(!pic_dev_has_intr(&vm));
	outb(0x20, 0x20); /* EOI 5 */
	CHECK(pic_dev_has_intr(&vm));
	outb(0x21, 0x40); /* masked */
	CHECK(!pic_dev_has_intr(&vm));
	outb(0x21, 0x00);
	CHECK_EQ(pic_dev_intack(&vm), 0x0e);
	outb(0x20, 0x20);
	/* A slave request shows through the cascade; the slave's mask hides it again. */
	vm_set_irq(&vm, 12, 1);
	CHECK(pic_dev_has_intr(&vm));
	/* Masked at the slave after the master latched the cascade edge: INT stays up, and the acknowledge finds the
	 * request gone and yields the slave's spurious IRQ 7, as the 8259A does (and QEMU). */
	outb(0xa1, 0x10);
	CHECK(pic_dev_has_intr(&vm));
	CHECK_EQ(pic_dev_intack(&vm), 0x77);
	outb(0x20, 0x20);
	CHECK(!pic_dev_has_intr(&vm));
	outb(0xa1, 0x00); /* unmasked, the still-pending IRQ 12 comes through */
	CHECK(pic_dev_has_intr(&vm));
	CHECK_EQ(pic_dev_intack(&vm), 0x74);
	/* Special mask mode lets a lower IRQ through while a higher one is in service, if that one is masked. */
	setup();
	outb(0x21, 0x00);
	vm_set_irq(&vm, 1, 1);
	CHECK_EQ(pic_dev_intack(&vm), 0x09);
	vm_set_irq(&vm, 4, 1);
	CHECK(!pic_dev_has_intr(&vm));
	outb(0x21, 0x02);
	outb(0x20, 0x68); /* OCW3: set special mask */
	CHECK(pic_dev_has_intr(&vm));
	CHECK_EQ(pic_dev_intack(&vm), 0x0c);
}

/* Several vCPUs. The PIC's INT output goes to vCPU 0 (LINT0), and to a vCPU an IOAPIC ExtINT pin names. A write
 * that raises it without a line moving (an unmask, an EOI that uncovers a pending request) kicks vCPU 0 and the
 * writer, as vm_set_irq does for a line change; vCPU 0's write kicks vCPU 0 once, which on its own CPU keeps its fast
 * re-entry from skipping its look at the PIC (vm/vcpu.c: irq_changed). */
TEST(pic_write_raising_int_kicks_vcpu0)
{
	struct vcpu v0 = {.vm = &vm, .id = 0}, v1 = {.vm = &vm, .id = 1};

	setup();
	vm.nr_vcpus = 2;
	vm.vcpus[0] = &v0;
	vm.vcpus[1] = &v1;
	vm_set_irq(&vm, 5, 1); /* latched in IRR, masked (the firmware state) */
	CHECK(!pic_dev_has_intr(&vm));
	CHECK_EQ(fake_vm.kick_calls, 0);
	vout(&v1, 0x21, 1, 0xff); /* changes nothing */
	CHECK_EQ(fake_vm.kick_calls, 0);
	vout(&v1, 0x21, 1, 0xdf); /* unmasks IRQ 5: INT rises */
	CHECK(pic_dev_has_intr(&vm));
	CHECK_EQ(fake_vm.kick_calls, 2);
	CHECK(fake_vm.kicked[0] == &v0 && fake_vm.kicked[1] == &v1);
	vout(&v1, 0x21, 1, 0x00); /* INT was already up: no kick */
	CHECK_EQ(fake_vm.kick_calls, 2);
	CHECK_EQ(pic_dev_intack(&vm), 0x0d);
	vm_set_irq(&vm, 6, 1); /* below IRQ 5 in service */
	CHECK(!pic_dev_has_intr(&vm));
	vout(&v0, 0x20, 1, 0x20); /* vCPU 0's own EOI uncovers IRQ 6: vCPU 0 alone */
	CHECK(pic_dev_has_intr(&vm));
	CHECK_EQ(fake_vm.kick_calls, 3);
	CHECK(fake_vm.kicked[2] == &v0);
	CHECK_EQ(pic_dev_intack(&vm), 0x0e);
	vm_set_irq(&vm, 6, 0);
	vm_set_irq(&vm, 3, 1);
	vout(&v1, 0x21, 1, 0x08); /* IRQ 3 masked */
	vout(&v1, 0x20, 1, 0x20); /* EOI 6: nothing else unmasked */
	CHECK_EQ(fake_vm.kick_calls, 3);
	vout(&v1, 0x21, 1, 0x00);
	CHECK_EQ(fake_vm.kick_calls, 5);
	/* Reads never raise INT, so they never kick. */
	CHECK_EQ(vin(&v1, 0x20, 1), 0x08);
	CHECK_EQ(fake_vm.kick_calls, 5);
	vm.vcpus[0] = vm.vcpus[1] = NULL;
}

/* ---- fw_cfg ---- */

static void fw_cfg_select(u16 key)
{
	out(0x510, 2, key);
}

static u64 fw_cfg_read_le(unsigned int n)
{
	u64 v = 0;

	for (unsigned int i = 0; i < n; i++)
		v |= (u64)inb(0x511) << (8 * i);
	return v;
}

TEST(fw_cfg_signature_and_id)
{
	char sig[5] = {0};

	setup();
	fw_cfg_select(0x0000);
	for (int i = 0; i < 4; i++)
		sig[i] = (char)inb(0x511);
	CHECK_STR(sig, "QEMU");
	CHECK_EQ(inb(0x511), 0); /* past the end */
	CHECK_EQ(inb(0x511), 0);
	fw_cfg_select(0x0000); /* reselecting rewinds */
	CHECK_EQ(inb(0x511), 'Q');
	CHECK_EQ(inb(0x510), 'E'); /* an 8-bit read of the selector port reads data too, as in QEMU */
	fw_cfg_select(0x0001);
	CHECK_EQ(fw_cfg_read_le(4), 1); /* traditional interface, no DMA */
}

TEST(fw_cfg_ram_size_and_cpu_counts)
{
	setup();
	fw_cfg_select(0x0003);
	CHECK_EQ(fw_cfg_read_le(8), 0x12345678ULL << 12);
	CHECK_EQ(inb(0x511), 0);
	fw_cfg_select(0x0005);
	CHECK_EQ(fw_cfg_read_le(2), 1);
	vm.nr_vcpus = 3; /* items are computed from the VM when read */
	fw_cfg_select(0x0005);
	CHECK_EQ(fw_cfg_read_le(2), 3);
	fw_cfg_select(0x000f);
	CHECK_EQ(fw_cfg_read_le(2), VM_MAX_VCPUS);
	fw_cfg_select(0x4003); /* the write-channel bit is ignored */
	CHECK_EQ(fw_cfg_read_le(8), 0x12345678ULL << 12);
}

/* One selector for the machine, as QEMU has: vCPUs that interleave select-then-read get the bytes of whichever item
 * was selected last, continuing where the other left off, and never a byte past an item's end. */
TEST(fw_cfg_has_one_selector_for_all_vcpus)
{
	struct vcpu a = {.vm = &vm, .id = 0}, b = {.vm = &vm, .id = 1};

	setup();
	vout(&a, 0x510, 2, 0x0000);
	CHECK_EQ(vin(&a, 0x511, 1), 'Q');
	CHECK_EQ(vin(&b, 0x511, 1), 'E');
	vout(&b, 0x510, 2, 0x0005);
	CHECK_EQ(vin(&a, 0x511, 1), 1);
	CHECK_EQ(vin(&b, 0x511, 1), 0);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(vin(i & 1 ? &a : &b, 0x511, 1), 0); /* past the end, from either */
}

TEST(fw_cfg_unknown_items_dir_and_bad_accesses)
{
	setup();
	fw_cfg_select(0x0019);
	CHECK_EQ(fw_cfg_read_le(4), 0); /* file directory: count 0 */
	fw_cfg_select(0x1234);
	CHECK_EQ(fw_cfg_read_le(8), 0);
	fw_cfg_select(0x8000); /* arch-local: none */
	CHECK_EQ(fw_cfg_read_le(4), 0);
	fw_cfg_select(0x0000);
	outb(0x510, 0x03);     /* an 8-bit write does not select */
	out(0x511, 2, 0x0003); /* nor does a 16-bit write to the data port */
	CHECK_EQ(inb(0x511), 'Q');
	CHECK_EQ(in(0x511, 2), 0xffff); /* data reads are 8-bit only */
	CHECK_EQ(inb(0x511), 'E');
	/* The DMA ports are absent. */
	u64 before = vm.pio.unclaimed;
	CHECK_EQ(in(0x514, 4), 0xffffffff);
	CHECK_EQ(in(0x518, 4), 0xffffffff);
	CHECK_EQ(vm.pio.unclaimed, before + 2);
}

/* ---- port 0xe9 ---- */

TEST(port_e9_prints_and_reads_e9)
{
	setup();
	CHECK_EQ(inb(0xe9), 0xe9);
	outb(0xe9, 'o');
	outb(0xe9, 'k');
	out(0xe9, 2, 0x410a); /* only the low byte */
	CHECK_STR(fake_vm.console, "ok\n");
	CHECK_EQ(port_e9_dev_init(&vm), -EEXIST);
}

/* ---- test device ---- */

TEST(testdev_reads_counters)
{
	setup();
	fake_vm.stats[VM_STAT_TDP_FAULTS] = 0x123456789abcdef0ULL;
	fake_vm.stats[VM_STAT_EXITS] = 42;
	CHECK_EQ(in(0x5f4, 4), 0xffffffff); /* nothing selected yet: ~0 */
	out(0x5f0, 4, VM_STAT_TDP_FAULTS);
	CHECK_EQ(in(0x5f4, 4), 0x9abcdef0);
	CHECK_EQ(in(0x5f8, 4), 0x12345678);
	/* The value is latched at select time. */
	fake_vm.stats[VM_STAT_TDP_FAULTS] = 0;
	CHECK_EQ(in(0x5f4, 4), 0x9abcdef0);
	out(0x5f0, 4, VM_STAT_EXITS);
	CHECK_EQ(in(0x5f4, 4), 42);
	CHECK_EQ(in(0x5f8, 4), 0);
	CHECK_EQ(fake_vm.stat_calls, 2);
}

TEST(testdev_bad_index_and_reserved_ports)
{
	setup();
	out(0x5f0, 4, NR_VM_STATS);
	CHECK_EQ(in(0x5f4, 4), 0xffffffff);
	CHECK_EQ(in(0x5f8, 4), 0xffffffff);
	out(0x5f0, 4, 0xffffffff);
	CHECK_EQ(in(0x5f8, 4), 0xffffffff);
	CHECK_EQ(fake_vm.stat_calls, 0);
	fake_vm.stats[VM_STAT_EXITS] = 7;
	out(0x5f0, 4, VM_STAT_EXITS);
	out(0x5fc, 4, 0xffffffff);	   /* reserved: resets nothing */
	out(0x5f0, 1, VM_STAT_TDP_FAULTS); /* not a 32-bit select: ignored */
	CHECK_EQ(in(0x5f4, 4), 7);
	CHECK_EQ(in(0x5f4, 2), 0xffff); /* only 32-bit reads of the two halves */
	CHECK_EQ(in(0x5f0, 4), 0xffffffff);
	CHECK_EQ(in(0x5fc, 4), 0xffffffff);
}

/* Each vCPU has its own latch: a select by one never changes what another's pending read returns. */
TEST(testdev_latch_is_per_vcpu)
{
	struct vcpu a = {.vm = &vm, .id = 0}, b = {.vm = &vm, .id = 1}, c = {.vm = &vm, .id = VM_MAX_VCPUS - 1};

	setup();
	fake_vm.stats[VM_STAT_EXITS] = 0x1111111122222222ULL;
	fake_vm.stats[VM_STAT_HLT_EXITS] = 0x3333333344444444ULL;
	vout(&a, 0x5f0, 4, VM_STAT_EXITS);
	vout(&b, 0x5f0, 4, VM_STAT_HLT_EXITS);
	CHECK_EQ(vin(&c, 0x5f4, 4), 0xffffffff); /* c selected nothing yet */
	CHECK_EQ(vin(&a, 0x5f4, 4), 0x22222222);
	CHECK_EQ(vin(&b, 0x5f4, 4), 0x44444444);
	vout(&c, 0x5f0, 4, NR_VM_STATS);
	CHECK_EQ(vin(&b, 0x5f8, 4), 0x33333333);
	CHECK_EQ(vin(&a, 0x5f8, 4), 0x11111111);
	CHECK_EQ(vin(&c, 0x5f8, 4), 0xffffffff);
	/* An access without a vCPU (host-side) shares vCPU 0's latch. */
	CHECK_EQ(in(0x5f4, 4), 0x22222222);
	CHECK_EQ(fake_vm.stat_calls, 2);
}

TEST(devices_coexist_and_refuse_double_init)
{
	setup();
	CHECK_EQ(vm.pio.n, 8);
	CHECK_EQ(uart_dev_init(&vm), -EEXIST);
	CHECK_EQ(pic_dev_init(&vm), -EEXIST);
	CHECK_EQ(fw_cfg_dev_init(&vm), -EEXIST);
	CHECK_EQ(testdev_dev_init(&vm), -EEXIST);
	CHECK_EQ(debug_exit_dev_init(&vm), -EEXIST);
	CHECK_EQ(vm.pio.n, 8);
	CHECK(vm.devices[VM_DEV_UART] && vm.devices[VM_DEV_PIC] && vm.devices[VM_DEV_FWCFG]);
	CHECK(vm.devices[VM_DEV_TESTDEV] && vm.devices[VM_DEV_DEBUG_EXIT]);
	/* Without the device the hooks are harmless. */
	fake_vm_destroy(&vm);
	fake_vm_init(&vm, 0);
	CHECK_EQ(uart_dev_push_rx(&vm, 'x'), -ENODEV);
	CHECK(!uart_dev_irq_pending(&vm));
	pic_dev_set_irq(&vm, 3, 1);
	CHECK_EQ(pic_dev_intack(&vm), -1);
	CHECK(!pic_dev_has_intr(&vm));
}

/* The stream port (0x5fe): reads give testdev_stream_byte(0), (1), ... little-endian whatever the access size;
 * writes feed the FNV-1a sink; selecting TESTDEV_SEL_STREAM latches (count << 32 | hash) and restarts both. Per
 * vCPU, like the latch. */
TEST(testdev_stream)
{
	struct vcpu a = {.vm = &vm, .id = 0}, b = {.vm = &vm, .id = 1};
	u32 h = TESTDEV_FNV_BASIS;
	static const u8 bytes[] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77};

	setup();
	CHECK_EQ(vin(&a, 0x5fe, 1), testdev_stream_byte(0));
	CHECK_EQ(vin(&a, 0x5fe, 2), testdev_stream_byte(1) | testdev_stream_byte(2) << 8);
	CHECK_EQ(vin(&a, 0x5fe, 4), testdev_stream_byte(3) | testdev_stream_byte(4) << 8 |
					(u32)testdev_stream_byte(5) << 16 | (u32)testdev_stream_byte(6) << 24);
	CHECK_EQ(vin(&b, 0x5fe, 1), testdev_stream_byte(0)); /* b's own stream */
	CHECK_EQ(testdev_stream_byte(0x1234), 0x34 ^ 0x12 ^ 0xa5);
	vout(&a, 0x5fe, 1, 0x11);
	vout(&a, 0x5fe, 2, 0x3322);
	vout(&a, 0x5fe, 4, 0x77665544);
	for (unsigned int i = 0; i < sizeof(bytes); i++)
		h = (h ^ bytes[i]) * TESTDEV_FNV_PRIME;
	vout(&a, 0x5f0, 4, TESTDEV_SEL_STREAM);
	CHECK_EQ(vin(&a, 0x5f4, 4), h);
	CHECK_EQ(vin(&a, 0x5f8, 4), 7);
	CHECK_EQ(vin(&a, 0x5fe, 1), testdev_stream_byte(0)); /* restarted */
	vout(&a, 0x5f0, 4, TESTDEV_SEL_STREAM);
	CHECK_EQ(vin(&a, 0x5f4, 4), TESTDEV_FNV_BASIS); /* nothing written since */
	CHECK_EQ(vin(&a, 0x5f8, 4), 0);
}
