/*
 * QEMU's TCG delivers an interrupt injected through EVENTINJ twice when its vCPU thread is kicked at the wrong moment
 * (seen with QEMU 7.2; the code is the same upstream). Its VMRUN (target/i386/tcg/sysemu/svm_helper.c, helper_vmrun)
 * delivers a type-INTR event at once, but first stores the vector in cs->exception_index and never clears it. If
 * the vCPU thread's exit_request is then raised before anything else overwrites exception_index (the guest's next
 * exit or exception does), with no interrupt for cpu_handle_interrupt to take, the TCG loop hands that stale
 * "exception" to x86_cpu_do_interrupt: the vector is delivered a second time, as an exception, on top of the
 * first delivery's frame, with IF = 0 in the RFLAGS it pushes and the first handler's entry as its RIP, without any
 * exit and without the LAPIC. Kicks without an interrupt are rare (QEMU's own async work, a monitor stop/cont: a
 * loop of those reproduces it within seconds), which is why `make test` saw it about once in 35 runs, as a guest
 * that counted one IPI too many (issue 14). The second delivery leaves its mark: QEMU writes the event it delivers
 * itself into EVENTINJ as type EXEPT and copies that into EXITINTINFO at the next exit, with V clear.
 *
 * The window opens at the VMRUN and closes at the guest's first exit, so the workaround is KVM's answer to a CPU
 * that may deliver an event wrongly: take the exit at once. Before each VMRUN that injects an external interrupt
 * this CPU sends itself its wake IPI, with interrupts held off by GIF; the VMRUN delivers the event, and the very
 * first interrupt check after it (before any guest instruction, and before QEMU looks at exit_request) exits with the
 * INTR intercept. The exit leaves nothing to re-inject (the delivery completed), and the run loop enters again. It
 * costs one exit per injected interrupt, so it is only done on QEMU's TCG; on hardware VMRUN has no such state.
 */
#include "arch/x86/svm/svm_tcg_quirk.h"

bool svm_tcg_redelivery_quirk;

bool svm_cpu_is_qemu_tcg(bool hypervisor_bit, u32 ebx, u32 ecx, u32 edx)
{
	/* "TCGT" "CGTC" "GTCG", little-endian */
	return hypervisor_bit && ebx == 0x54474354 && ecx == 0x43544743 && edx == 0x47435447;
}
