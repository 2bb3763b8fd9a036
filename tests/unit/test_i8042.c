/* Unit tests of the i8042 keyboard controller (vm/dev/i8042.c) and port 0x80 (vm/dev/port80.c): controller commands
 * and keyboard replies as Linux's i8042 and atkbd drivers issue and read them, the IRQ1/IRQ12 edges the PC's wiring
 * produces, and the reset line ending the VM. */
#include <string.h>

#include "test.h"
#include "fake_vm.h"
#include "hv/errno.h"
#include "vm/dev/dev.h"
#include "vm/dev/ioapic.h"

static struct vm vm;

static u8 inb(u16 port)
{
	u64 v = 0xdead;

	CHECK_EQ(io_bus_read(&vm.pio, NULL, port, 1, &v), 0);
	return (u8)v;
}

static void outb(u16 port, u8 val)
{
	CHECK_EQ(io_bus_write(&vm.pio, NULL, port, 1, val), 0);
}

static void setup(void)
{
	fake_vm_destroy(&vm);
	fake_vm_init(&vm, 0);
	CHECK_EQ(i8042_dev_init(&vm), 0);
	CHECK_EQ(port80_dev_init(&vm), 0);
}

/* A controller command and its reply byte, the way Linux's i8042_command does it (polling the status). */
static u8 command_reply(u8 cmd)
{
	outb(0x64, cmd);
	CHECK(inb(0x64) & 0x01);
	return inb(0x60);
}

/* Drain what the keyboard answered to one byte sent to it. */
static int kbd_send(u8 b, u8 *reply, int max)
{
	int n = 0;

	outb(0x60, b);
	while ((inb(0x64) & 0x01) && n < max)
		reply[n++] = inb(0x60);
	return n;
}

TEST(i8042_status_and_self_tests)
{
	setup();
	CHECK_EQ(inb(0x64), 0x14); /* SYS, not inhibited, buffer empty, input buffer always empty */
	CHECK_EQ(command_reply(0xaa), 0x55);
	CHECK_EQ(inb(0x64), 0x1c); /* and the last write was a command */
	CHECK_EQ(inb(0x60), 0x55); /* an empty buffer repeats the last byte */
	CHECK_EQ(command_reply(0xab), 0x00);
	CHECK_EQ(command_reply(0xa9), 0x00);
	CHECK_EQ(command_reply(0xc0), 0x80);
	CHECK_EQ(command_reply(0xe0), 0x00);
	CHECK_EQ(command_reply(0xd0), 0x03); /* output port: not in reset, A20 on */
	CHECK(!vm.ended);
}

TEST(i8042_command_byte_and_port_enables)
{
	setup();
	CHECK_EQ(command_reply(0x20), 0x65); /* translate, mouse off, SYS, keyboard interrupt */
	outb(0x64, 0x60);
	outb(0x60, 0x47);
	CHECK_EQ(command_reply(0x20), 0x47);
	outb(0x64, 0xad);
	CHECK_EQ(command_reply(0x20), 0x57);
	outb(0x64, 0xae);
	outb(0x64, 0xa7);
	CHECK_EQ(command_reply(0x20), 0x67);
	outb(0x64, 0xa8);
	CHECK_EQ(command_reply(0x20), 0x47);
	/* The status register's SYS flag is the command byte's bit 2. */
	outb(0x64, 0x60);
	outb(0x60, 0x40);
	CHECK_EQ(inb(0x64) & 0x04, 0);
	/* Controller RAM beyond the command byte. */
	outb(0x64, 0x7f);
	outb(0x60, 0x99);
	CHECK_EQ(command_reply(0x3f), 0x99);
	/* A command in place of the expected data byte cancels the write. */
	outb(0x64, 0x60);
	outb(0x64, 0xab);
	CHECK_EQ(inb(0x60), 0x00);
	CHECK_EQ(command_reply(0x20), 0x40);
}

TEST(i8042_keyboard_answers_atkbd)
{
	u8 r[8];

	setup();
	CHECK_EQ(kbd_send(0xff, r, 8), 2);
	CHECK_EQ(r[0], 0xfa);
	CHECK_EQ(r[1], 0xaa);
	CHECK_EQ(kbd_send(0xf2, r, 8), 3); /* GETID through the translator */
	CHECK_EQ(r[0], 0xfa);
	CHECK_EQ(r[1], 0xab);
	CHECK_EQ(r[2], 0x41);
	CHECK_EQ(kbd_send(0xed, r, 8), 1); /* SETLEDS and its parameter, each acknowledged */
	CHECK_EQ(r[0], 0xfa);
	CHECK_EQ(kbd_send(0x00, r, 8), 1);
	CHECK_EQ(r[0], 0xfa);
	CHECK_EQ(kbd_send(0xf0, r, 8), 1); /* scan code set 2, asked through the translator */
	CHECK_EQ(kbd_send(0x00, r, 8), 2);
	CHECK_EQ(r[1], 0x41);
	kbd_send(0xf0, r, 8);
	kbd_send(0x03, r, 8);
	kbd_send(0xf0, r, 8);
	kbd_send(0x00, r, 8);
	CHECK_EQ(r[1], 0x3f);
	CHECK_EQ(kbd_send(0xee, r, 8), 1);
	CHECK_EQ(r[0], 0xee);
	CHECK_EQ(kbd_send(0x01, r, 8), 1); /* nonsense: resend */
	CHECK_EQ(r[0], 0xfe);
	CHECK_EQ(kbd_send(0xf4, r, 8), 1);
	CHECK_EQ(r[0], 0xfa);
	/* Without translation, the ID's second byte is set 2's own. */
	outb(0x64, 0x60);
	outb(0x60, 0x05);
	kbd_send(0xf2, r, 8);
	CHECK_EQ(r[2], 0x83);
}

TEST(i8042_irq1_edge_per_byte)
{
	setup();
	outb(0x60, 0xff); /* two bytes: ACK and BAT */
	CHECK_EQ(fake_vm.irq_rises[1], 1);
	CHECK_EQ(fake_vm.irq_level[1], 1);
	CHECK_EQ(inb(0x60), 0xfa);
	CHECK_EQ(fake_vm.irq_rises[1], 2); /* the line dropped and rose for the next byte */
	CHECK_EQ(inb(0x60), 0xaa);
	CHECK_EQ(fake_vm.irq_level[1], 0);
	CHECK_EQ(inb(0x60), 0xaa);
	CHECK_EQ(fake_vm.irq_rises[1], 2);
	CHECK_EQ(fake_vm.irq_rises[12], 0);
	/* Keyboard interrupt off in the command byte: the byte waits, polled. */
	outb(0x64, 0x60);
	outb(0x60, 0x64);
	outb(0x60, 0xf4);
	CHECK_EQ(inb(0x64) & 0x01, 0x01);
	CHECK_EQ(fake_vm.irq_rises[1], 2);
	/* Turning it back on with the byte still there raises the line. */
	outb(0x64, 0x60);
	outb(0x60, 0x65);
	CHECK_EQ(fake_vm.irq_rises[1], 3);
	CHECK_EQ(inb(0x60), 0xfa);
	CHECK_EQ(fake_vm.irq_level[1], 0);
}

TEST(i8042_mouse_port_loopback_and_no_mouse)
{
	setup();
	outb(0x64, 0x60);
	outb(0x60, 0x47); /* both interrupts, both ports on */
	/* Linux's AUX loopback test: the byte comes back from the mouse side, on IRQ12. */
	outb(0x64, 0xd3);
	outb(0x60, 0x5a);
	CHECK_EQ(inb(0x64) & 0x21, 0x21);
	CHECK_EQ(fake_vm.irq_rises[12], 1);
	CHECK_EQ(fake_vm.irq_rises[1], 0);
	CHECK_EQ(inb(0x60), 0x5a);
	CHECK_EQ(fake_vm.irq_level[12], 0);
	/* A command for the mouse gets "resend": no mouse is plugged in. */
	outb(0x64, 0xd4);
	outb(0x60, 0xf2);
	CHECK_EQ(inb(0x64) & 0x21, 0x21);
	CHECK_EQ(inb(0x60), 0xfe);
	/* 0xd2 injects as the keyboard. */
	outb(0x64, 0xd2);
	outb(0x60, 0x1c);
	CHECK_EQ(inb(0x64) & 0x21, 0x01);
	CHECK_EQ(inb(0x60), 0x1c);
	/* The buffer holds 16 bytes; more are dropped. */
	for (int i = 0; i < 20; i++) {
		outb(0x64, 0xd2);
		outb(0x60, (u8)i);
	}
	for (int i = 0; i < 16; i++)
		CHECK_EQ(inb(0x60), i);
	CHECK_EQ(inb(0x64) & 0x01, 0);
	CHECK_EQ(inb(0x60), 15);
}

TEST(i8042_reset_line_ends_the_vm)
{
	setup();
	outb(0x64, 0xff); /* pulses nothing */
	outb(0x64, 0xd1);
	outb(0x60, 0x03); /* output port with the reset line high */
	CHECK(!vm.ended);
	CHECK_EQ(command_reply(0xd0), 0x03);
	outb(0x64, 0xfe); /* Linux's reboot=k */
	CHECK_EQ(fake_vm.end_calls, 1);
	CHECK_EQ(fake_vm.end_reason, VM_END_RESET);
	outb(0x64, 0xd1);
	outb(0x60, 0x02); /* the reset bit written low */
	CHECK_EQ(fake_vm.end_calls, 2);
	outb(0x64, 0xf0); /* pulse every line, reset included */
	CHECK_EQ(fake_vm.end_calls, 3);
	CHECK_EQ(vm.end_reason, VM_END_RESET);
}

TEST(port80_reads_the_last_write)
{
	u64 v;

	setup();
	CHECK_EQ(inb(0x80), 0x00);
	outb(0x80, 0x42);
	CHECK_EQ(inb(0x80), 0x42);
	CHECK_EQ(io_bus_read(&vm.pio, NULL, 0x80, 2, &v), 0);
	CHECK_EQ(v, 0xff42); /* 0x81 is not decoded */
	CHECK_EQ(io_bus_write(&vm.pio, NULL, 0x80, 4, 0x12345677), 0);
	CHECK_EQ(inb(0x80), 0x77);
	CHECK_EQ(port80_dev_init(&vm), -EEXIST);
	CHECK_EQ(i8042_dev_init(&vm), -EEXIST);
}

static int no_deliver(struct vm *v, u32 dest, bool logical, u8 vector, u8 mode, bool level)
{
	return 0;
}

TEST(legacy_models_take_their_own_devices_slots)
{
	setup();
	CHECK_EQ(ioapic_dev_init(&vm, no_deliver), 0);
	for (size_t i = 0; i < ARRAY_SIZE(vm.devices); i++)
		CHECK((i == VM_DEV_IOAPIC || i == VM_DEV_I8042 || i == VM_DEV_PORT80) == (vm.devices[i] != NULL));
	/* Each keeps its own state: the i8042 and port 0x80 still work next to the IOAPIC. */
	outb(0x80, 0x5a);
	CHECK_EQ(command_reply(0xaa), 0x55);
	CHECK_EQ(inb(0x80), 0x5a);
	/* Teardown frees each slot (fake_vm_destroy, with ASan watching for leaks). */
}
