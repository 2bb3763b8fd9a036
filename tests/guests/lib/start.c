/* The 64-bit start of every guest: console, PIC, IDT, CPU facts, boot information, test device; then the test. */
#include "guest.h"

void serial_init(void);
void cpu_init(void);
void mb_init(u32 magic, u32 mbi_phys);
void testdev_init(void);
void guest_start(u32 magic, u32 mbi_phys) __noreturn;

/* Remap the 8259 pair to 0x20-0x2f and mask every line: BIOS leaves it at vector 8 (= #DF) with the timer on. */
static void pic_mask_all(void)
{
	outb(0x20, 0x11);
	outb(0xa0, 0x11);
	outb(0x21, 0x20);
	outb(0xa1, 0x28);
	outb(0x21, 0x04);
	outb(0xa1, 0x02);
	outb(0x21, 0x01);
	outb(0xa1, 0x01);
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
}

void guest_start(u32 magic, u32 mbi_phys)
{
	serial_init();
	trap_init();
	pic_mask_all();
	cpu_init();
	mb_init(magic, mbi_phys);
	testdev_init();
	/* Lines stay under 160 characters: the hypervisor prints guest output per line, split at 160. */
	printf("guest %s: cpu %s family 0x%x model 0x%x, %u phys bits, 1G pages %s\n", test_name, cpu.vendor,
	       cpu.family, cpu.model, cpu.phys_bits, cpu.has_1g ? "yes" : "no");
	printf("guest %s: RAM %lu KiB in %u regions, hypervisor \"%s\" features 0x%x, test device %s\n", test_name,
	       boot.ram_bytes / KiB, boot.nr_regions, cpu.hv_signature, cpu.hv_features,
	       testdev_present ? "present" : "absent");
	if (magic != MB_LOADER_MAGIC)
		printf("guest %s: warning: loader magic 0x%x, not 0x%x: no boot information\n", test_name, magic,
		       MB_LOADER_MAGIC);
	guest_exit((u32)test_main());
}
