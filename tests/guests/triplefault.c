/* triplefault: load an empty IDT and execute int3. The #BP cannot be delivered (vector beyond the IDT limit: #GP),
 * neither can the #GP (#DF), nor the #DF: a triple fault, which must end this VM (the hypervisor reports it) or, on
 * bare QEMU with -no-reboot, stop the emulator. The guest never prints PASS; the runner checks the hypervisor's
 * report and that nothing follows "about to triple fault". `how=stack` instead faults with an unusable stack (RSP in
 * unmapped memory and a #PF that cannot push its frame). */
#include "guest.h"

const char test_name[] = "triplefault";

int test_main(void)
{
	printf("TEST triplefault STARTED\n");
	printf("about to triple fault\n");
	if (cmdline_has("how=stack")) {
		/* Unmap nothing of ours: point RSP into the unmapped window area and fault there. */
		u64 bad = win_va(1, 511) + PAGE_SIZE;
		asm volatile("mov %0, %%rsp; movq $0, (%%rsp); ud2" : : "r"(bad) : "memory");
	} else {
		struct {
			u16 limit;
			u64 base;
		} __attribute__((packed)) empty = {0, 0};
		asm volatile("lidt %0; int3" : : "m"(empty) : "memory");
	}
	printf("TEST triplefault FAIL still running after the triple fault\n");
	return EXIT_FAIL;
}
