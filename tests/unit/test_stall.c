/* The stall report's timing (vm/stall.c, vm_stall_check): no report while the console spoke within the silence,
 * the deadline then moved to the silence's end; a report after it, with every vCPU asked for its part and those
 * in the guest kicked by NMI; the next one a silence later; none after STALL_REPORTS; one per deadline however many
 * vCPUs look at once. The per-vCPU part (registers, vLAPIC) is the guest run's to show (qemu-svm-stall). */
#include <string.h>
#include "test.h"
#include "kernel/options.h"
#include "vm/stall.h"

struct hv_options hv_opts;
const struct virt_ops *virt_ops;

static u32 requests, nmi_kicks;

void vm_make_all_vcpus_request(struct vm *vm, enum vcpu_request r, bool wait)
{
	CHECK_EQ(r, VCPU_REQ_STALL_REPORT);
	CHECK(!wait);
	requests++;
}

void vcpu_kick_nmi(struct vcpu *v)
{
	nmi_kicks++;
}

/* Only vcpu_stall_report uses these; it is not called here. */
u64 vlapic_next_deadline(struct vlapic *l) { return ~0ULL; }
u8 vlapic_get_tpr(const struct vlapic *l) { return 0; }
int vlapic_pending_vector(struct vlapic *l) { return -1; }
bool inbox_pending(const struct vcpu_inbox *b) { return false; }
const char *exit_reason_name(int reason) { return "?"; }

#define HZ 1000ULL
static struct vm vm;
static struct vcpu v0, v1;

static void setup(u64 secs)
{
	memset(&vm, 0, sizeof(vm));
	memset(&v0, 0, sizeof(v0));
	memset(&v1, 0, sizeof(v1));
	requests = nmi_kicks = 0;
	hv_opts.stall = secs;
	vm.tsc_hz = HZ;
	vm.nr_vcpus = 2;
	vm.vcpus[0] = &v0;
	vm.vcpus[1] = &v1;
	v0.vm = v1.vm = &vm;
	vm_stall_init(&vm);
	vm.last_output = 100; /* the TSC of the console's last line, as vm_console_flush stores it */
	if (secs)
		vm.stall_next = 100 + secs * HZ;
}

TEST(stall_off_never_reports)
{
	setup(0);
	CHECK_EQ(vm.stall_cycles, 0);
	CHECK_EQ(vm.stall_next, ~0ULL);
}

TEST(stall_reports_after_the_silence_and_moves_on_output)
{
	setup(5);
	/* Before the deadline: nothing. */
	vm_stall_check(&v0, 100 + 5 * HZ - 1);
	CHECK_EQ(requests, 0);
	/* The console spoke at 2000: at 5100 the deadline moves to 7000, no report. */
	vm.last_output = 2000;
	vm_stall_check(&v0, 5100);
	CHECK_EQ(requests, 0);
	CHECK_EQ(vm.stall_next, 7000);
	/* Silent until 7000: a report; v1 is in the guest and gets an NMI kick, v0 is not. */
	v1.run_state = VCPU_IN_GUEST;
	vm_stall_check(&v0, 7000);
	CHECK_EQ(requests, 1);
	CHECK_EQ(nmi_kicks, 1);
	CHECK_EQ(vm.stall_reports, 1);
	CHECK_EQ(vm.stall_next, 7000 + 5 * HZ);
	/* Another vCPU looking at the same moment finds the deadline moved: one report. */
	vm_stall_check(&v1, 7000);
	CHECK_EQ(requests, 1);
}

TEST(stall_reports_at_most_stall_reports_times)
{
	setup(1);
	u64 t = 100;
	for (int i = 0; i < STALL_REPORTS + 3; i++) {
		t += HZ;
		vm_stall_check(&v0, t);
	}
	CHECK_EQ(requests, STALL_REPORTS);
	CHECK_EQ(vm.stall_next, ~0ULL);
}
