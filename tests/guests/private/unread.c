/* A #VE left unread: vm/private_abi.h says a #VE that arrives while the previous one's information was not read
 * with HC_VE_INFO ends the VM, as TDX blocks a second #VE until TDG.VP.VEINFO.GET. The guest converts a page to
 * shared, reads it through its private GPA, and returns from the #VE without asking why: the retried read must end
 * the VM (the runner checks how it ended); a second #VE or the read completing is a FAIL. */
#include "private.h"

void phase_unread(void)
{
	u32 a, b, c, d;

	phase = "unread";
	if (!(cpu.hv_features & HV_FEATURE_PRIVATE))
		fail("not a private VM: CPUID 0x40000001 EAX = 0x%x: private=on?", cpu.hv_features);
	cpuid(0x40000001, 0, &a, &b, &c, &d);
	shared = 1ULL << b;
	u64 gpa = ram_find_free(PAGE_SIZE, PAGE_SIZE, 4 * MiB, boot.ram_top), v = 0;
	if (!gpa)
		fail("no free page");
	*(volatile u64 *)gpa = 1;
	s64 r = map_gpa(gpa | shared, PAGE_SIZE);
	if (r)
		fail("HC_MAP_GPA to shared = %ld", r);
	printf("TEST private_unread STARTED\n");
	printf("private: unread: reading 0x%lx, shared, through its private GPA; the #VE goes unread\n", gpa);
	ve_arm(VE_UNREAD);
	load8(gpa, &v);
	fail("the VM still runs after a #VE left unread (%u #VE, the read got 0x%lx)", ve.count, v);
}
