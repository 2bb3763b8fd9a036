/* unreal: real mode with a 4 GiB data segment ("unreal" or "big real" mode), as boot loaders and firmware use it to
 * reach memory above 1 MiB without leaving real mode. A real-mode segment load sets the base and nothing else: the
 * limit a protected-mode descriptor gave stays (which is why SDM Vol. 3A 9.9.2 has software load 64 KiB segments
 * before it clears PE), so 32-bit addresses past 64 KiB reach all of
 * memory through DS (and SS), and one past a smaller kept limit (ES: 2 MiB) raises #GP(0) through the real-mode IVT. The
 * switch is tests/guests/unreal/unreal.S: 64-bit code to 32-bit protected mode, 16-bit protected mode, real mode
 * (the accesses), and back. On VMX without unrestricted guest the hypervisor runs real mode in virtual-8086 mode,
 * whose segments are 64 KiB: the accesses past it exit and are emulated with the real limits.
 *
 * Command line: `no_limit_check` only reports the access past ES's limit (QEMU TCG does not check segment limits). */
#include "guest.h"

const char test_name[] = "unreal";

#define UR_PAGE	 0x8000
#define UR_SEG	 (UR_PAGE >> 4)
#define UR_IVT	 (UR_PAGE + 0x800)
#define ES_LIMIT 0x1fffff
#define FAR_ADDR 0x300000 /* past ES's limit; only read, and only if the limit is not checked */
#define ROUNDS	 4

struct ur_params {
	u32 addr, value;   /* in: the dword above 1 MiB (below ES's limit) and what to write there */
	u32 old, back, es; /* out: read before the write, read after it through DS, and through ES */
	u32 far_addr;	   /* in: past ES's limit */
	u32 fault;	   /* out: the vector + 1 of a fault in real mode (0x100: another vector), 0 if none */
	u32 ss;		   /* out: the dword read through SS (base 0x8000, SS kept its 4 GiB limit) */
	u32 msr;	   /* out: KERNEL_GS_BASE read back in real mode after writing `value` there */
	u32 pat;	   /* out: PAT[31:0] read in real mode */
	u32 rdtscp;	   /* in: CPUID 80000001H:EDX.RDTSCP, with which TSC_AUX exists */
	u32 aux, auxp;	   /* out: TSC_AUX read back in real mode after writing `value` there, and RDTSCP's ECX */
	u32 aux_gp;	   /* out: #GPs of that WRMSR and RDMSR */
};

void unreal_run(struct ur_params *p);
extern char ur_tramp[], ur_tramp_end[], ur_vec_gp[], ur_vec_ss[], ur_vec_ud[], ur_vec_other[];

static struct ur_params params;
static volatile u32 buf[1024] __attribute__((aligned(4096)));

/* The low page is RAM the loader left alone (as lib/smp.c checks for its trampoline). */
static bool low_page_usable(u64 p)
{
	bool ram = false;
	for (u32 i = 0; i < boot.nr_regions; i++) {
		const struct mem_region *r = &boot.regions[i];
		if (r->type == MEM_RAM && r->start <= p && p + PAGE_SIZE <= r->end)
			ram = true;
	}
	for (u32 i = 0; ram && i < boot.nr_reserved; i++) {
		const struct mem_region *r = &boot.reserved[i];
		if (r->start == 0 && r->end >= 1 * MiB)
			continue; /* the blanket entry for all of 0-1 MiB */
		if (p < r->end && p + PAGE_SIZE > r->start)
			ram = false;
	}
	return ram;
}

static u32 vec(const char *stub)
{
	return (u32)UR_SEG << 16 | (u32)(stub - ur_tramp);
}

int test_main(void)
{
	u64 len = (u64)(ur_tramp_end - ur_tramp);
	bool check_limit = !cmdline_has("no_limit_check");

	if (!low_page_usable(UR_PAGE))
		test_fail("the page at 0x%x is not free RAM", UR_PAGE);
	if (len > 0x800)
		test_fail("trampoline of %lu bytes", len);
	if ((u64)&buf[1023] > ES_LIMIT || (u64)&buf[0] < 1 * MiB)
		test_fail("buffer at 0x%lx: not between 1 MiB and ES's limit", (u64)&buf[0]);
	if (boot.ram_top < FAR_ADDR + PAGE_SIZE)
		test_fail("RAM ends at 0x%lx", boot.ram_top);
	memcpy((void *)UR_PAGE, ur_tramp, len);
	u32 *ivt = (u32 *)UR_IVT;
	for (int i = 0; i < 256; i++)
		ivt[i] = vec(ur_vec_other);
	ivt[6] = vec(ur_vec_ud);
	ivt[12] = vec(ur_vec_ss);
	ivt[13] = vec(ur_vec_gp);

	u32 a, b, c, d;
	cpuid(0x80000001, 0, &a, &b, &c, &d);
	bool rdtscp = d & (1u << 27);
	for (u32 r = 0; r < ROUNDS; r++) {
		u32 i = 17 + r * 211, before = 0x1000 * r + 0x5a;
		buf[i] = before;
		params = (struct ur_params){
		    .addr = (u32)(u64)&buf[i], .value = 0xc0de0000 + r, .far_addr = FAR_ADDR, .rdtscp = rdtscp};
		unreal_run(&params);
		if (params.fault && params.fault != 13 + 1)
			test_fail("round %u: vector %u in real mode before the access past ES's limit", r, params.fault - 1);
		if (params.old != before)
			test_fail("round %u: read 0x%x at 0x%x through DS in real mode, want 0x%x", r, params.old,
				  params.addr, before);
		if (params.back != params.value || buf[i] != params.value)
			test_fail("round %u: wrote 0x%x at 0x%x in real mode, read back 0x%x, memory holds 0x%x", r,
				  params.value, params.addr, params.back, buf[i]);
		if (params.es != params.value)
			test_fail("round %u: read 0x%x through ES (2 MiB limit), want 0x%x", r, params.es, params.value);
		if (params.ss != params.value)
			test_fail("round %u: read 0x%x through SS (4 GiB limit), want 0x%x", r, params.ss, params.value);
		/* RDMSR and WRMSR work in real mode (SDM Vol. 2B: #GP only at CPL > 0 or for a reserved MSR or value):
		 * on the MSRs the guest owns in the CPU as on any other, when the hypervisor emulates them (vm86). */
		if (params.msr != params.value)
			test_fail("round %u: KERNEL_GS_BASE written 0x%x in real mode, read back 0x%x", r, params.value,
				  params.msr);
		/* TSC_AUX exists where RDTSCP does (SDM Vol. 2B RDTSCP, Vol. 4 Table 2-2; KVM likewise): its WRMSR and
		 * RDMSR in real mode reach the guest's value as in any mode, and RDTSCP returns it; without RDTSCP
		 * (Penryn) both are #GP. */
		if (rdtscp && (params.aux_gp || params.aux != params.value || params.auxp != params.value))
			test_fail(
			    "round %u: TSC_AUX written 0x%x in real mode: %u #GP, read back 0x%x, RDTSCP's ECX 0x%x", r,
			    params.value, params.aux_gp, params.aux, params.auxp);
		if (!rdtscp && params.aux_gp != 2)
			test_fail("round %u: TSC_AUX without RDTSCP: %u #GP of its WRMSR and RDMSR, want 2", r,
				  params.aux_gp);
		if (params.pat != 0x00070406)
			test_fail("round %u: PAT[31:0] read 0x%x in real mode, want the reset value 0x00070406", r,
				  params.pat);
		if (params.fault != 13 + 1) {
			if (check_limit)
				test_fail("round %u: real-mode access at 0x%x past ES's limit 0x%x: %s%u, want #GP (vector "
					  "13)", r, FAR_ADDR, ES_LIMIT, params.fault ? "vector " : "no fault",
					  params.fault ? params.fault - 1 : 0);
			if (!r)
				printf("unreal: the access past ES's limit: %s (not checked)\n",
				       params.fault ? "a fault other than #GP" : "no fault");
		}
	}
	printf("unreal: %u rounds in real mode: DS (4 GiB kept) reads and writes above 1 MiB, SS (4 GiB kept) reads, "
	       "ES (2 MiB kept) reads below its limit%s\n", ROUNDS, check_limit ? " and #GP past it" : "");
	printf("unreal: TSC_AUX in real mode: %s\n", rdtscp ? "read back and by RDTSCP" : "#GP (no RDTSCP)");
	test_pass();
}
