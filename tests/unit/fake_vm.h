/* Test doubles for the VM core (vm/vm.c) that device models and loaders call: guest RAM is one host buffer starting at
 * gpa 0, console output lands in a capture buffer, vm_end records its arguments, and vm_stat returns test values. */
#ifndef FAKE_VM_H
#define FAKE_VM_H

#include "vm/vm.h"

struct fake_vm_state {
	u8 *ram; /* guest RAM [0, ram_bytes) */
	u64 ram_bytes;
	char console[8192]; /* every vm_console_putc byte, NUL-terminated */
	u32 console_len;
	u32 end_calls;	/* vm_end calls (each one recorded, not only the first) */
	int end_reason; /* of the last call */
	u64 end_status;
	u64 stats[NR_VM_STATS];
	u32 stat_calls;
};

extern struct fake_vm_state fake_vm;

/* Zero *vm and the fake state, and give the VM ram_bytes of zeroed guest RAM (0 for none). */
void fake_vm_init(struct vm *vm, u64 ram_bytes);
/* Free the guest RAM and every device state in vm->devices[]. */
void fake_vm_destroy(struct vm *vm);
/* Guest RAM at gpa, for tests that read back what a loader wrote; NULL if [gpa, gpa+len) is not RAM. */
void *fake_vm_gpa(u64 gpa, u64 len);

#endif
