/* Ending the machine: power off (ACPI S5, with the QEMU debug-exit status first) or reset. */
#ifndef KERNEL_POWER_H
#define KERNEL_POWER_H

#include "hv/compiler.h"

/* Status written to QEMU's isa-debug-exit port; QEMU exits with (status << 1) | 1. */
#define POWEROFF_STATUS_OK 0x00
#define POWEROFF_STATUS_FAIL 0x01
#define POWEROFF_STATUS_PANIC 0x7f

/* Learn how this machine powers off (FADT, \_S5) and whether it is QEMU; call once ACPI is parsed. */
void power_init(void);
__noreturn void machine_poweroff(u8 status);
__noreturn void machine_reboot(void);

#endif
