/* CPU identification, the hypervisor's test device (counters) and hypercalls. */
#include "guest.h"

struct cpu_info cpu;
bool testdev_present;

void cpu_init(void)
{
	u32 a, b, c, d;
	cpuid(0, 0, &a, &b, &c, &d);
	cpu.max_leaf = a;
	memcpy(cpu.vendor + 0, &b, 4);
	memcpy(cpu.vendor + 4, &d, 4);
	memcpy(cpu.vendor + 8, &c, 4);
	cpu.vendor[12] = '\0';
	cpu.is_amd = !strcmp(cpu.vendor, "AuthenticAMD") || !strcmp(cpu.vendor, "HygonGenuine");
	cpuid(1, 0, &a, &b, &c, &d);
	cpu.family = (a >> 8) & 0xf;
	cpu.model = (a >> 4) & 0xf;
	if (cpu.family == 0xf)
		cpu.family += (a >> 20) & 0xff;
	if (cpu.family >= 6)
		cpu.model |= ((a >> 16) & 0xf) << 4;
	cpu.has_apic = d & (1u << 9);
	cpu.has_tsc = d & (1u << 4);
	cpuid(0x80000000, 0, &a, &b, &c, &d);
	cpu.max_ext_leaf = a;
	cpu.phys_bits = 36;
	if (cpu.max_ext_leaf >= 0x80000001) {
		cpuid(0x80000001, 0, &a, &b, &c, &d);
		cpu.has_1g = d & (1u << 26);
		cpu.has_nx = d & (1u << 20);
	}
	if (cpu.max_ext_leaf >= 0x80000008) {
		cpuid(0x80000008, 0, &a, &b, &c, &d);
		cpu.phys_bits = a & 0xff;
	}
	cpuid(1, 0, &a, &b, &c, &d);
	if (c & (1u << 31)) {
		u32 max;
		cpuid(0x40000000, 0, &max, &b, &c, &d);
		memcpy(cpu.hv_signature + 0, &b, 4);
		memcpy(cpu.hv_signature + 4, &c, 4);
		memcpy(cpu.hv_signature + 8, &d, 4);
		cpu.hv_signature[12] = '\0';
		for (int i = 0; i < 12; i++)
			if (cpu.hv_signature[i] < 0x20 || cpu.hv_signature[i] > 0x7e)
				cpu.hv_signature[i] = '.';
		if (!strcmp(cpu.hv_signature, HV_SIGNATURE) && max >= 0x40000001) {
			cpuid(0x40000001, 0, &a, &b, &c, &d);
			cpu.hv_features = a;
		}
	}
}

static u64 stat_read_raw(u32 index)
{
	outl(TESTDEV_INDEX, index);
	u64 lo = inl(TESTDEV_LO);
	u64 hi = inl(TESTDEV_HI);
	return hi << 32 | lo;
}

void testdev_init(void)
{
	testdev_present = stat_read_raw(VM_STAT_EXITS) != ~0ULL;
}

bool counters_available(void)
{
	if (!testdev_present && (cpu.hv_features & HV_FEATURE_TESTDEV))
		test_fail("the hypervisor advertises the test device (CPUID 0x40000001) but it reads all ones");
	return testdev_present;
}

u64 stat_read(enum vm_stat s)
{
	return stat_read_raw(s);
}

const char *stat_name(enum vm_stat s)
{
	static const char *const names[] = {
	    "EXITS",	  "TDP_FAULTS",	 "TDP_MAPPED_4K",  "TDP_MAPPED_2M",  "TDP_MAPPED_1G",  "MMIO_EXITS",
	    "IO_EXITS",	  "CPUID_EXITS", "MSR_EXITS",	   "HYPERCALLS",     "HLT_EXITS",      "INTR_INJECTED",
	    "TDP_SPLITS", "TDP_ZAPPED",	 "TRACKED_WRITES", "PROTECT_LOGGED", "PROTECT_DENIED", "TDP_COLLAPSES",
	    "AGED_LEAVES", "FAST_FAULTS", "ACCESS_TRACK_FAULTS", "TASK_SWITCHES", "TDP_SHARED_FAULTS",
	    "TDP_FAULT_RACES", "TDP_FROZEN_BACKOFFS", "PRIVATE_VE", "PRIVATE_EXTERNAL_SET",
	    "PRIVATE_EXTERNAL_REMOVED", "PRIVATE_REFUSED", "AGE_FLUSHES", "TDP_TABLES", "TDP_CACHE_ZEROED",
	    "EMU_CACHE_HITS", "EMU_CACHE_STALE", "APIC_EOI_FAST",
	};
	_Static_assert(ARRAY_SIZE(names) == NR_VM_STATS, "a name for every counter");
	return (unsigned)s < NR_VM_STATS ? names[s] : "?";
}

u64 hypercall(u64 nr, u64 arg)
{
	if (cpu.is_amd)
		asm volatile("vmmcall" : "+a"(nr), "+b"(arg) : : "memory");
	else
		asm volatile("vmcall" : "+a"(nr), "+b"(arg) : : "memory");
	return nr;
}

int hypercall_try(u64 nr, u64 arg, u64 *ret)
{
	fault_clear();
	if (cpu.is_amd)
		asm volatile(FIXUP("vmmcall") : "+a"(nr), "+b"(arg) : : "memory");
	else
		asm volatile(FIXUP("vmcall") : "+a"(nr), "+b"(arg) : : "memory");
	*ret = nr;
	return (int)fault.taken;
}

u64 hypercall3(u64 nr, u64 a, u64 b, u64 c)
{
	if (cpu.is_amd)
		asm volatile("vmmcall" : "+a"(nr), "+b"(a), "+c"(b), "+d"(c) : : "memory");
	else
		asm volatile("vmcall" : "+a"(nr), "+b"(a), "+c"(b), "+d"(c) : : "memory");
	return nr;
}

int hypercall3_try(u64 nr, u64 a, u64 b, u64 c, u64 *ret)
{
	fault_clear();
	if (cpu.is_amd)
		asm volatile(FIXUP("vmmcall") : "+a"(nr), "+b"(a), "+c"(b), "+d"(c) : : "memory");
	else
		asm volatile(FIXUP("vmcall") : "+a"(nr), "+b"(a), "+c"(b), "+d"(c) : : "memory");
	*ret = nr;
	return (int)fault.taken;
}

/* WRMSR that survives a #GP: the vector + 1 of the fault it took, 0 if none. */
int wrmsr_try(u32 msr, u64 v)
{
	fault_clear();
	asm volatile(FIXUP("wrmsr") : : "c"(msr), "a"((u32)v), "d"((u32)(v >> 32)) : "memory");
	return (int)fault.taken;
}
