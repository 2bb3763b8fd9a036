/* The private guest's #VE handler and hypercalls (vm/private_abi.h). #VE (vector 20) comes as a fault with RIP at the
 * access and no error code, the way TDX delivers it (Intel TDX Module spec, "Virtualization Exception"; SDM Vol. 3A
 * 6.15 "Interrupt 20" and Vol. 3C 25.5.7 for the architectural #VE); the guest fetches its reason with HC_VE_INFO,
 * which consumes it, then does what the current step armed: skip the access, convert the page back and retry, or do the
 * MMIO by hypercall. */
#include "private.h"

volatile struct ve_record ve;
volatile enum ve_action ve_action;
volatile u32 ve_total;

#define VE_LOOP_LIMIT 4 /* a retried access that keeps faulting: the conversion did not take */

void hc(struct hc_regs *r)
{
	if (cpu.is_amd)
		asm volatile("vmmcall" : "+a"(r->rax), "+b"(r->rbx), "+c"(r->rcx), "+d"(r->rdx) : : "memory");
	else
		asm volatile("vmcall" : "+a"(r->rax), "+b"(r->rbx), "+c"(r->rcx), "+d"(r->rdx) : : "memory");
}

s64 map_gpa(u64 gpa, u64 bytes)
{
	struct hc_regs r = {.rax = HC_MAP_GPA, .rbx = gpa, .rcx = bytes};
	hc(&r);
	return (s64)r.rax;
}

s64 hc_mmio(u64 gpa, u64 size_flags, u64 wval, u64 *val)
{
	struct hc_regs r = {.rax = HC_MMIO, .rbx = gpa, .rcx = size_flags, .rdx = wval};
	hc(&r);
	*val = r.rbx;
	return (s64)r.rax;
}

s64 ve_info(void)
{
	struct hc_regs r = {.rax = HC_VE_INFO, .rbx = ~0ULL, .rcx = ~0ULL, .rdx = ~0ULL};
	hc(&r);
	if (!r.rax) {
		ve.reason = r.rbx;
		ve.gpa = r.rcx;
		ve.kind = r.rdx;
	}
	return (s64)r.rax;
}

const char *ve_reason_name(u64 r)
{
	switch (r) {
	case VE_REASON_PRIVATE_GPA_SHARED:
		return "private GPA of a shared page";
	case VE_REASON_SHARED_GPA_PRIVATE:
		return "shared GPA of a private page";
	case VE_REASON_MMIO:
		return "MMIO";
	case VE_REASON_INSTRUCTION:
		return "instruction";
	default:
		return "?";
	}
}

static void ve_handler(struct trap_frame *f)
{
	u64 v;

	ve.count++;
	ve_total++;
	ve.rip = f->rip;
	if (ve_action == VE_UNREAD) {
		if (ve.count > 1)
			fail("a second #VE (RIP 0x%lx) was delivered while the first's information was unread: the VM "
			     "should have ended",
			     f->rip);
		return; /* retried with the information unread: the hypervisor must end the VM */
	}
	ve.info = ve_info();
	if (ve.info)
		fail("#VE at RIP 0x%lx: HC_VE_INFO returned %ld, want 0", f->rip, ve.info);
	if (ve.count > VE_LOOP_LIMIT)
		fail("#VE %u times at RIP 0x%lx (reason %lu, gpa 0x%lx): the access is never completed", ve.count,
		     f->rip, ve.reason, ve.gpa);
	switch (ve_action) {
	case VE_SKIP:
		if (!trap_fixup(f))
			fail("#VE at RIP 0x%lx, not at the access (no fixup there)", f->rip);
		return;
	case VE_TO_PRIVATE:
		ve.fixed = map_gpa(ve.gpa & ~shared & ~(PAGE_SIZE - 1), PAGE_SIZE);
		if (ve.fixed)
			fail("#VE handler: HC_MAP_GPA of 0x%lx to private returned %ld",
			     ve.gpa & ~shared & ~(PAGE_SIZE - 1), ve.fixed);
		return; /* the access is retried */
	case VE_MMIO_READ:
		ve.fixed = hc_mmio(ve.gpa, 4, 0, &v);
		ve.mmio_val = v;
		f->rax = (u32)v;
		if (!trap_fixup(f))
			fail("#VE at RIP 0x%lx, not at the MMIO load", f->rip);
		return;
	case VE_RET:
		f->rip = *(u64 *)f->rsp;
		f->rsp += 8;
		return;
	default:
		fail("unexpected #VE at RIP 0x%lx: reason %lu (%s), gpa 0x%lx, access %lu", f->rip, ve.reason,
		     ve_reason_name(ve.reason), ve.gpa, ve.kind);
	}
}

void ve_init(void)
{
	trap_set_handler(EXC_VE, ve_handler);
}

void ve_arm(enum ve_action a)
{
	ve = (struct ve_record){0};
	ve.reason = ve.gpa = ve.kind = ~0ULL;
	ve_action = a;
}

static const char *kind_name(u64 k)
{
	return k == VE_ACCESS_READ ? "read" : k == VE_ACCESS_WRITE ? "write" : k == VE_ACCESS_FETCH ? "fetch" : "?";
}

void want_ve(const char *what, u64 reason, u64 gpa, u64 kind, u64 rip)
{
	ve_action = VE_UNEXPECTED;
	if (ve.count != 1)
		fail("%s: %u #VE, want 1", what, ve.count);
	if (ve.reason != reason)
		fail("%s: #VE reason %lu (%s), want %lu (%s)", what, ve.reason, ve_reason_name(ve.reason), reason,
		     ve_reason_name(reason));
	if (gpa != ~0ULL && ve.gpa != gpa)
		fail("%s: #VE gpa 0x%lx, want 0x%lx", what, ve.gpa, gpa);
	if (kind && ve.kind != kind)
		fail("%s: #VE access %lu (%s), want %lu (%s)", what, ve.kind, kind_name(ve.kind), kind,
		     kind_name(kind));
	if (rip && ve.rip != rip)
		fail("%s: #VE at RIP 0x%lx, want 0x%lx (a fault: RIP at the access)", what, ve.rip, rip);
	/* HC_VE_INFO consumed it (TDG.VP.VEINFO.GET): a second read finds none. */
	s64 again = ve_info();
	if (again != -ENOENT)
		fail("%s: HC_VE_INFO after the handler's returned %ld, want -ENOENT", what, again);
}

void want_no_ve(const char *what)
{
	if (ve.count)
		fail("%s: %u #VE (reason %lu %s, gpa 0x%lx), want none", what, ve.count, ve.reason,
		     ve_reason_name(ve.reason), ve.gpa);
}

u64 alias_map(u32 slot, u64 gpa)
{
	return win_map(1, slot, (gpa & ~(PAGE_SIZE - 1)) | shared, PTE_W);
}

u64 load8(u64 va, u64 *val)
{
	u64 rip, v = *val;
	asm volatile("lea 1f(%%rip), %0\n" FIXUP("movq (%2), %1") : "=&r"(rip), "+r"(v) : "r"(va) : "memory");
	*val = v;
	return rip;
}

u64 store8(u64 va, u64 val)
{
	u64 rip;
	asm volatile("lea 1f(%%rip), %0\n" FIXUP("movq %2, (%1)") : "=&r"(rip) : "r"(va), "r"(val) : "memory");
	return rip;
}
