/* The private guest's MMIO: the hypervisor cannot decode an instruction in private memory, so a plain load or store
 * to MMIO is a #VE (VE_REASON_MMIO) and the guest does the access with HC_MMIO instead, as a TDX guest does with
 * TDVMCALL<#VE.RequestMMIO>. The device is the xAPIC (SDM Vol. 3A 11.4.8, the version register: 0x1X for an
 * integrated APIC, max LVT entry in bits 23:16; 11.8.3.1 TPR), the one place this guest uses xAPIC MMIO. HC_MMIO
 * must refuse guest RAM, so it cannot be turned into a read of private memory either. */
#include "private.h"

#define LAPIC_BASE 0xfee00000ULL
#define LAPIC_VER  (LAPIC_BASE + 0x30)
#define LAPIC_TPR  (LAPIC_BASE + 0x80)

static u64 mmio_reg(const char *what, u64 gpa)
{
	u64 v;
	s64 r = hc_mmio(gpa, 4, 0, &v);
	if (r)
		fail("HC_MMIO read of %s (0x%lx) = %ld, want 0", what, gpa, r);
	return v;
}

static void want_mmio_einval(const char *what, u64 gpa, u64 size_flags, u64 secret)
{
	u64 v;
	s64 r = hc_mmio(gpa, size_flags, 0, &v);
	if (r != -EINVAL)
		fail("HC_MMIO %s (gpa 0x%lx, RCX 0x%lx) = %ld, want -EINVAL", what, gpa, size_flags, r);
	if (secret && v == secret)
		fail("HC_MMIO %s returned the private page's contents in RBX", what);
}

void phase_mmio(u64 private_page)
{
	u64 apic_base = rdmsr(MSR_APIC_BASE), rip, v;
	u32 val = 0xdeadbeef;

	phase = "mmio";
	if ((apic_base & (3u << 10)) != (1u << 11) || (apic_base & ~0xfffULL) != LAPIC_BASE)
		fail("IA32_APIC_BASE 0x%lx: not an enabled xAPIC at 0x%llx", apic_base, LAPIC_BASE);
	ve_arm(VE_MMIO_READ);
	asm volatile("lea 1f(%%rip), %0\n" FIXUP("movl (%2), %%eax")
		     : "=&r"(rip), "+a"(val)
		     : "r"(LAPIC_VER)
		     : "memory");
	want_ve("a load of the LAPIC version register", VE_REASON_MMIO, LAPIC_VER, VE_ACCESS_READ, rip);
	if (ve.fixed)
		fail("the #VE handler's HC_MMIO read of 0x%llx = %ld, want 0", LAPIC_VER, ve.fixed);
	if (val != (u32)ve.mmio_val)
		fail("the load got 0x%x, the handler read 0x%lx", val, ve.mmio_val);
	u32 max_lvt = (val >> 16) & 0xff;
	if ((val & 0xff) < 0x10 || (val & 0xff) > 0x15 || max_lvt < 3)
		fail("LAPIC version register 0x%x: not an integrated xAPIC (version 0x10-0x15, max LVT >= 3)", val);
	printf("private: mmio: #VE for the load of 0x%llx, HC_MMIO read version 0x%x, max LVT %u\n", LAPIC_VER,
	       val & 0xff, max_lvt);

	/* A store is refused the same way and not done: TPR keeps its value. HC_MMIO writes it. */
	u64 tpr = mmio_reg("TPR", LAPIC_TPR);
	ve_arm(VE_SKIP);
	asm volatile("lea 1f(%%rip), %0\n" FIXUP("movl %%eax, (%1)")
		     : "=&r"(rip)
		     : "r"(LAPIC_TPR), "a"(0x30)
		     : "memory");
	want_ve("a store to the LAPIC TPR", VE_REASON_MMIO, LAPIC_TPR, VE_ACCESS_WRITE, rip);
	if ((v = mmio_reg("TPR", LAPIC_TPR)) != tpr)
		fail("TPR 0x%lx after a refused store, want 0x%lx", v, tpr);
	s64 r = hc_mmio(LAPIC_TPR, 4 | HC_MMIO_WRITE, 0x20, &v);
	if (r)
		fail("HC_MMIO write of TPR = %ld, want 0", r);
	if ((v = mmio_reg("TPR", LAPIC_TPR)) != 0x20)
		fail("TPR 0x%lx after an HC_MMIO write of 0x20", v);
	if (hc_mmio(LAPIC_TPR, 4 | HC_MMIO_WRITE, tpr, &v) || mmio_reg("TPR", LAPIC_TPR) != tpr)
		fail("TPR not restored to 0x%lx by HC_MMIO", tpr);

	/* Bad requests; guest RAM above all, private or shared, by either GPA. */
	ve_arm(VE_UNEXPECTED);
	u64 secret = *(volatile u64 *)private_page;
	want_mmio_einval("of size 3", LAPIC_VER, 3, 0);
	want_mmio_einval("of size 16", LAPIC_VER, 16, 0);
	want_mmio_einval("not naturally aligned", LAPIC_VER + 2, 4, 0);
	want_mmio_einval("of a private RAM page", private_page, 8, secret);
	want_mmio_einval("of the shared alias of a private RAM page", private_page | shared, 8, secret);
	want_mmio_einval("write to a private RAM page", private_page, 8 | HC_MMIO_WRITE, 0);
	if (*(volatile u64 *)private_page != secret)
		fail("the private page changed after a refused HC_MMIO write");
	want_no_ve("HC_MMIO");
	pass();
}
