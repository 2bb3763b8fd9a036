/* The guest's view of private memory (`private=on`, vm/private.c): the hypercalls, the #VE it gets for an access
 * the hypervisor will not serve, and how it finds the shared bit. Shared with the test guests (tests/guests/). The
 * model is Intel TDX: a GPA bit selects private or shared, MapGPA converts, #VE reports, TDVMCALL does MMIO.
 *
 * The shared bit: bit MAXPHYADDR - 1 of a guest-physical address, with MAXPHYADDR as CPUID 0x80000008 EAX[7:0]
 * reports it to the guest (39 on the emulators here, which report 40); CPUID 0x40000001 also gives it: EAX has
 * HV_FEATURE_PRIVATE, EBX the bit number. A GPA with the bit clear is the private view of the page, with it set the
 * shared view; guest RAM is private at launch.
 *
 * On AMD CPUs without NRIPS the hypervisor cannot learn an intercepted instruction's length without reading it:
 * there, a private VM must use the plain encodings of CPUID, VMMCALL, RDMSR, WRMSR, HLT (no prefixes).
 *
 * #VE (vector 20) is injected as a fault (RIP at the access, no error code) when the hypervisor will not complete an
 * access: the guest reads why with HC_VE_INFO, fixes it (a conversion, HC_MMIO), and returns to retry or skips the
 * instruction. A #VE that arrives while the previous one's information was not read ends the VM (TDX likewise
 * blocks a second #VE until VEINFO.GET), as does a #VE the guest's IDT cannot deliver (it becomes a #DF). */
#ifndef VM_PRIVATE_ABI_H
#define VM_PRIVATE_ABI_H

#define EXC_VE 20

/* RBX = gpa, 4K-aligned, RCX = bytes (4K multiple, > 0): make [gpa without the shared bit, + RCX) shared when gpa has
 * the shared bit, private when not (TDX's MapGPA). Each page that changes kind is zeroed; one already of that kind
 * keeps its contents. RAX = 0, -EINVAL,
 * -EPERM (not a private VM), -EFAULT (not all guest RAM), -ENOMEM; on an error no page has changed kind. */
#define HC_MAP_GPA 6
/* The information of the last #VE: RAX = 0, RBX = reason (VE_REASON_*), RCX = the guest-physical address of the
 * access (with its shared bit as the guest used it), RDX = the access (VE_ACCESS_*); then it is consumed. RAX =
 * -ENOENT when there is none (TDG.VP.VEINFO.GET). */
#define HC_VE_INFO 7
/* MMIO by hypercall, for what a private VM cannot let the hypervisor decode (TDVMCALL<#VE.RequestMMIO>): RBX = gpa
 * (a GPA with no RAM: LAPIC, HPET, IOAPIC, ...), RCX = size (1, 2, 4, 8) | HC_MMIO_WRITE, RDX = the value to write.
 * RAX = 0 and RBX = the value read (0 for a write), or RAX = -EINVAL (bad size, not naturally aligned, or guest
 * RAM). Any VM may use it. */
#define HC_MMIO 8
#define HC_MMIO_WRITE 0x100

#define VE_REASON_PRIVATE_GPA_SHARED 1 /* a private GPA (shared bit clear) of a page now shared: convert, or use the shared GPA */
#define VE_REASON_SHARED_GPA_PRIVATE 2 /* a shared GPA of a page now private */
#define VE_REASON_MMIO 3               /* a GPA that is not guest RAM: the hypervisor would have to decode the instruction; use HC_MMIO */
#define VE_REASON_INSTRUCTION 4        /* an instruction whose emulation reads or writes guest memory (string I/O, ...) */

#define VE_ACCESS_READ 1
#define VE_ACCESS_WRITE 2
#define VE_ACCESS_FETCH 4

#define HV_FEATURE_PRIVATE (1u << 2)   /* CPUID 0x40000001 EAX: this VM is private; EBX = the shared bit */

#endif
