/* Starting application processors: the trampoline page below 1 MiB, the INIT/SIPI/SIPI sequence and the AP's first
 * C code, which loads the BSP's IDT and hands over to the caller's entry. One AP is in flight at a time, because the
 * trampoline holds one set of parameters (stack, entry); an AP checks in once it has read them. */
#include "smp.h"

extern char ap_tramp[], ap_tramp_gdtr[], ap_tramp_end[];
extern u64 ap_boot_stack; /* read by the AP in ap_start64, before it checks in */
extern u32 ap_boot_cr3;	  /* read in ap_start32: 32-bit, as PAE paging takes it */

struct dtr {
	u16 limit;
	u64 base;
} __attribute__((packed));

static struct {
	ap_entry_t entry;
	u64 arg;
	struct dtr idtr;
	volatile u32 checkins; /* CPUs that took the trampoline so far */
	u32 armed_at;	       /* checkins when last armed */
} launch;
static u64 tramp_page;
static int tramp_vector;

void smp_ap_main(void) __noreturn;

void smp_ap_main(void)
{
	ap_entry_t entry = launch.entry;
	u64 arg = launch.arg;
	asm volatile("lidt %0" : : "m"(launch.idtr));
	/* Everything is read: from here the BSP may arm the trampoline for the next AP. */
	__atomic_fetch_add(&launch.checkins, 1, __ATOMIC_RELEASE);
	entry(arg);
	for (;;)
		asm volatile("cli; hlt");
}

void tsc_delay(u64 cycles)
{
	u64 t0 = rdtsc();
	while (rdtsc() - t0 < cycles)
		pause();
}

bool lapic_send_ipi(u32 dest, u32 lo, u64 timeout)
{
	u64 flags;
	asm volatile("pushfq; popq %0; cli" : "=r"(flags) : : "memory");
	lapic_write(LAPIC_ICR_HI, dest << 24);
	lapic_write(LAPIC_ICR_LO, lo);
	bool ok = true;
	u64 t0 = rdtsc();
	while (lapic_read(LAPIC_ICR_LO) & ICR_BUSY) {
		if (rdtsc() - t0 > timeout) {
			ok = false;
			break;
		}
		pause();
	}
	if (flags & (1u << 9))
		sti();
	return ok;
}

/* A low page is usable when the memory map calls it RAM and nothing the loader passed (boot information, strings,
 * the map itself) lies in it. boot.reserved also holds one blanket entry for all of 0-1 MiB: that one is ours to
 * interpret, so it is skipped. */
static bool low_page_usable(u64 p)
{
	bool ram = !boot.nr_regions;
	for (u32 i = 0; i < boot.nr_regions; i++) {
		const struct mem_region *r = &boot.regions[i];
		if (r->type == MEM_RAM && r->start <= p && p + PAGE_SIZE <= r->end)
			ram = true;
	}
	if (!ram)
		return false;
	for (u32 i = 0; i < boot.nr_reserved; i++) {
		const struct mem_region *r = &boot.reserved[i];
		if (r->start == 0 && r->end >= 1 * MiB)
			continue;
		if (p < r->end && p + PAGE_SIZE > r->start)
			return false;
	}
	return true;
}

int smp_init(void)
{
	if (tramp_page)
		return tramp_vector;
	/* 0x8000 is where firmware traditionally puts it (and below the boot information at 0x9000); then any other
	 * page above the real-mode IVT and BIOS data, below the EBDA. */
	u64 page = 0;
	if (low_page_usable(0x8000))
		page = 0x8000;
	for (u64 p = 0x1000; !page && p < 0x9f000; p += PAGE_SIZE)
		if (low_page_usable(p))
			page = p;
	if (!page)
		return -SMP_ENOSPC;
	struct dtr gdtr;
	asm volatile("sgdt %0" : "=m"(gdtr));
	if (gdtr.base + gdtr.limit >= 4 * GiB)
		return -SMP_EINVAL; /* lgdtl in real mode loads a 32-bit base */
	memcpy((void *)page, ap_tramp, (size_t)(ap_tramp_end - ap_tramp));
	u8 *d = (u8 *)page + (ap_tramp_gdtr - ap_tramp);
	memcpy(d, &gdtr.limit, 2);
	u32 base = (u32)gdtr.base;
	memcpy(d + 2, &base, 4);
	tramp_page = page;
	tramp_vector = (int)(page >> 12);
	return tramp_vector;
}

int smp_arm(ap_entry_t entry, u64 arg, u64 stack_top)
{
	int vector = smp_init();
	if (vector < 0)
		return vector;
	if (read_cr3() >= 4 * GiB || (stack_top & 15))
		return -SMP_EINVAL;
	launch.entry = entry;
	launch.arg = arg;
	asm volatile("sidt %0" : "=m"(launch.idtr));
	launch.armed_at = launch.checkins;
	ap_boot_cr3 = (u32)read_cr3();
	ap_boot_stack = stack_top;
	/* Stores are not reordered with each other on x86: all of them are visible before the INIT we send next. */
	barrier();
	return vector;
}

bool smp_send_init_sipi(u32 apic_id, u64 timeout)
{
	if (smp_init() < 0)
		return false;
	if (!lapic_send_ipi(apic_id, ICR_INIT | ICR_LEVEL | ICR_ASSERT, timeout))
		return false;
	/* The de-assert is what pre-Pentium-4 APICs needed; newer ones (and the hypervisor) accept and ignore it. */
	if (!lapic_send_ipi(apic_id, ICR_INIT | ICR_LEVEL, timeout))
		return false;
	tsc_delay(SMP_INIT_DELAY);
	/* Two SIPIs, as the MP specification says: a running AP must ignore the second one. */
	for (int i = 0; i < 2; i++) {
		if (!lapic_send_ipi(apic_id, ICR_STARTUP | (u32)tramp_vector, timeout))
			return false;
		tsc_delay(SMP_SIPI_DELAY);
	}
	return true;
}

bool smp_wait_checkin(u64 timeout)
{
	u64 t0 = rdtsc();
	while (launch.checkins == launch.armed_at) {
		if (rdtsc() - t0 > timeout)
			return false;
		pause();
	}
	return true;
}

int smp_start_ap(u32 apic_id, ap_entry_t entry, u64 arg, u64 stack_top, u64 timeout)
{
	int ret = smp_arm(entry, arg, stack_top);
	if (ret < 0)
		return ret;
	if (!smp_send_init_sipi(apic_id, timeout))
		return -SMP_EBUSY;
	return smp_wait_checkin(timeout) ? 0 : -SMP_ETIMEDOUT;
}
