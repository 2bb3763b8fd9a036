/* Power off and reset. Power-off tries, in order: QEMU's isa-debug-exit (only when fw_cfg says this is QEMU, so that
 * a test harness gets the status), ACPI S5 through PM1a/PM1b_CNT with the \_S5 sleep types from the DSDT (QEMU,
 * Bochs and real machines), Bochs' "Shutdown" port, and finally halting. Reset tries the FADT reset register, the
 * 8042 pulse, then a triple fault. */
#include "arch/x86/cpu.h"
#include "drivers/acpi.h"
#include "kernel/power.h"
#include "hv/log.h"

#define FW_CFG_PORT_SEL 0x510
#define FW_CFG_PORT_DATA 0x511
#define QEMU_DEBUG_EXIT_PORT 0xf4
#define BOCHS_SHUTDOWN_PORT 0x8900
#define SLP_EN (1u << 13)
#define SCI_EN 1u

static struct {
	bool is_qemu;
	bool have_fadt;
	bool have_s5;
	struct acpi_fadt_info fadt;
	u8 slp_typa, slp_typb;
} pw;

static bool detect_qemu(void)
{
	char sig[4];

	outw(FW_CFG_PORT_SEL, 0); /* FW_CFG_SIGNATURE */
	for (int i = 0; i < 4; i++)
		sig[i] = (char)inb(FW_CFG_PORT_DATA);
	return sig[0] == 'Q' && sig[1] == 'E' && sig[2] == 'M' && sig[3] == 'U';
}

void power_init(void)
{
	pw.is_qemu = detect_qemu();
	pw.have_fadt = acpi_parse_fadt(&pw.fadt) == 0;
	if (pw.have_fadt)
		pw.have_s5 = acpi_find_s5(&pw.slp_typa, &pw.slp_typb) == 0;
	pr_info("hv: power: %s, ACPI S5 %s\n", pw.is_qemu ? "QEMU (fw_cfg)" : "no fw_cfg",
		pw.have_s5 ? "available" : "unavailable");
}

static void acpi_enable_mode(void)
{
	if (!pw.fadt.pm1a_cnt || (inw(pw.fadt.pm1a_cnt) & SCI_EN) || !pw.fadt.smi_cmd || !pw.fadt.acpi_enable)
		return;
	outb(pw.fadt.smi_cmd, pw.fadt.acpi_enable);
	for (int i = 0; i < 1000000 && !(inw(pw.fadt.pm1a_cnt) & SCI_EN); i++)
		cpu_relax();
}

__noreturn void machine_poweroff(u8 status)
{
	cli();
	if (pw.is_qemu)
		outl(QEMU_DEBUG_EXIT_PORT, status);
	if (pw.have_s5 && pw.fadt.pm1a_cnt) {
		acpi_enable_mode();
		outw(pw.fadt.pm1a_cnt, (u16)((pw.slp_typa << 10) | SLP_EN));
		if (pw.fadt.pm1b_cnt)
			outw(pw.fadt.pm1b_cnt, (u16)((pw.slp_typb << 10) | SLP_EN));
		for (int i = 0; i < 10000000; i++)
			cpu_relax();
	}
	for (const char *s = "Shutdown"; *s; s++)
		outb(BOCHS_SHUTDOWN_PORT, (u8)*s);
	log_printf(LOG_EMERG, "hv: power-off failed; halting\n");
	cpu_halt_forever();
}

__noreturn void machine_reboot(void)
{
	cli();
	if (pw.have_fadt && pw.fadt.reset_supported && pw.fadt.reset_reg.space_id == 1)
		outb((u16)pw.fadt.reset_reg.address, pw.fadt.reset_value);
	for (int i = 0; i < 100000 && (inb(0x64) & 2); i++)
		cpu_relax();
	outb(0x64, 0xfe); /* 8042: pulse the reset line */
	for (int i = 0; i < 10000000; i++)
		cpu_relax();
	/* Triple fault: an empty IDT and an exception. */
	struct {
		u16 limit;
		u64 base;
	} __packed empty = { 0, 0 };
	__asm__ __volatile__("lidt %0; int3" ::"m"(empty));
	cpu_halt_forever();
}
