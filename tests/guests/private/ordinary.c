/* The private guest on an ordinary VM (cmdline `ordinary`, no private=on): the private-memory ABI answers as
 * vm/private_abi.h says it does there. HC_MAP_GPA is -EPERM, no #VE is pending or ever delivered, an xAPIC MMIO load
 * is emulated as usual, and HC_MMIO, which any VM may use, reads the same register. */
#include "private.h"

#define LAPIC_VER 0xfee00030ULL

void phase_ordinary(void)
{
	phase = "ordinary";
	if (cpu.hv_features & HV_FEATURE_PRIVATE)
		fail("CPUID 0x40000001 EAX 0x%x says private on a VM without private=on", cpu.hv_features);
	u64 page = ram_find_free(PAGE_SIZE, PAGE_SIZE, 4 * MiB, boot.ram_top), bit = 1ULL << (cpu.phys_bits - 1), v;
	if (!page)
		fail("no free page");
	*(volatile u64 *)page = 0x600dcafe;
	s64 r = map_gpa(page | bit, PAGE_SIZE), r2 = map_gpa(page, PAGE_SIZE);
	if (r != -EPERM || r2 != -EPERM)
		fail("HC_MAP_GPA to shared = %ld, to private = %ld, want -EPERM (not a private VM)", r, r2);
	if (*(volatile u64 *)page != 0x600dcafe)
		fail("a refused HC_MAP_GPA changed the page");
	if ((r = ve_info()) != -ENOENT)
		fail("HC_VE_INFO = %ld, want -ENOENT", r);
	ve_arm(VE_UNEXPECTED);
	u32 ver = *(volatile u32 *)LAPIC_VER;
	want_no_ve("an xAPIC MMIO load on an ordinary VM");
	if ((ver & 0xff) < 0x10 || (ver & 0xff) > 0x15)
		fail("LAPIC version register 0x%x by a load: not an integrated xAPIC", ver);
	if ((r = hc_mmio(LAPIC_VER, 4, 0, &v)) || v != ver)
		fail("HC_MMIO read of the LAPIC version = %ld, value 0x%lx, want 0 and 0x%x", r, v, ver);
	printf("private: ordinary VM: HC_MAP_GPA -EPERM, LAPIC version 0x%x by a load and by HC_MMIO\n", ver & 0xff);
	pass();
}
