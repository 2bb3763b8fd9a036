/* The console multiplexer (vm/conmux.h): the running VMs, the input's owner, and the poll that hands typed bytes to
 * the owner's UART or to the monitor. The key rules are pure (vm/conmux_key.c); this is their hypervisor side. */
#include "hv/errno.h"
#include "hv/log.h"
#include "kernel/console.h"
#include "vm/conmux.h"
#include "vm/conmux_key.h"
#include "vm/dev/dev.h"
#include "vm/dev/virtio/console.h"
#include "vm/monitor.h"
#include "vm/vm.h"
#include "vm/ws.h"

static struct {
	spinlock_t lock;
	struct vm *vm[CONMUX_MAX_VMS]; /* lock: the running VMs, NULL in free slots */
	int order[CONMUX_MAX_VMS];     /* lock: their configuration numbers, -1 in free slots */
	struct vm *owner;	       /* written under lock, read atomically: the input's VM, NULL for the monitor */
	bool switched;		       /* lock: the user has switched at least once (the input no longer follows
					* the first VM) */
	struct conmux_keys keys;       /* lock */
	struct conmux_held held;       /* lock: bytes for the owner VM that its UART had no room for yet */
} mux = {.order = {[0 ... CONMUX_MAX_VMS - 1] = -1}};

static int slot_of(struct vm *vm)
{
	for (int i = 0; i < CONMUX_MAX_VMS; i++)
		if (mux.vm[i] == vm)
			return i;
	return -1;
}

static u32 nr_vms(void)
{
	u32 n = 0;

	for (int i = 0; i < CONMUX_MAX_VMS; i++)
		n += mux.vm[i] != NULL;
	return n;
}

/* Under lock. Make slot (or CONMUX_MONITOR) the owner and say so. A vCPU 0 that was asleep with nothing to wait for
 * must now poll: kick the new owner's, or every VM's for the monitor. */
static void __set_owner(int slot, bool say)
{
	struct vm *vm = slot == CONMUX_MONITOR ? NULL : mux.vm[slot];

	assert_spin_held(&mux.lock);
	__atomic_store_n(&mux.owner, vm, __ATOMIC_RELEASE);
	mux.held.len = 0; /* bytes held for the old owner were typed for it alone */
	mux.keys.escapes = 0;
	if (vm) {
		if (say)
			log_printf(LOG_NOTICE, "[hv] input: VM %s\n", vm->name);
		vcpu_kick(vm->vcpus[0]);
		return;
	}
	if (say) {
		log_printf(LOG_NOTICE, "[hv] input: monitor\n");
		monitor_enter();
	}
	for (int i = 0; i < CONMUX_MAX_VMS; i++)
		if (mux.vm[i])
			vcpu_kick(mux.vm[i]->vcpus[0]);
}

void conmux_add(struct vm *vm, u32 order)
{
	spin_lock(&mux.lock);
	int slot = slot_of(NULL);
	if (slot < 0) { /* more VMs than CPUs: cannot happen, and only costs this VM its input */
		spin_unlock(&mux.lock);
		return;
	}
	mux.vm[slot] = vm;
	mux.order[slot] = (int)order;
	int cur = mux.owner ? mux.order[slot_of(mux.owner)] : -1;
	if (!mux.switched && (cur < 0 || (int)order < cur))
		__set_owner(slot, true);
	spin_unlock(&mux.lock);
}

void conmux_remove(struct vm *vm)
{
	spin_lock(&mux.lock);
	int slot = slot_of(vm);
	if (slot < 0) {
		spin_unlock(&mux.lock);
		return;
	}
	int order = mux.order[slot];
	mux.vm[slot] = NULL;
	mux.order[slot] = -1;
	if (mux.owner == vm) {
		int next = conmux_next_owner(mux.order, CONMUX_MAX_VMS, mux.switched ? order : CONMUX_MONITOR);
		/* Falling to the monitor with no VM left to poll it says nothing: the next VM to start takes the input.
		 */
		if (next == CONMUX_MONITOR && !nr_vms())
			mux.switched = false;
		__set_owner(next, next != CONMUX_MONITOR || nr_vms());
	}
	spin_unlock(&mux.lock);
}

bool conmux_polls(struct vm *vm)
{
	struct vm *owner = __atomic_load_n(&mux.owner, __ATOMIC_ACQUIRE);

	return owner == vm || !owner;
}

bool conmux_is_raw(struct vm *vm)
{
	return vm->console_raw && __atomic_load_n(&mux.owner, __ATOMIC_RELAXED) == vm;
}

struct vm *conmux_owner(void)
{
	return __atomic_load_n(&mux.owner, __ATOMIC_ACQUIRE);
}

u32 __conmux_vms(struct vm **vms, u32 max)
{
	u32 n = 0;

	assert_spin_held(&mux.lock);
	for (int cur = CONMUX_MONITOR; n < max;) {
		int next = conmux_next_owner(mux.order, CONMUX_MAX_VMS, cur);
		if (next == CONMUX_MONITOR)
			break;
		vms[n++] = mux.vm[next];
		cur = mux.order[next];
	}
	return n;
}

/* Under lock. The next of {VM 1, ..., monitor}. */
static void __switch(void)
{
	struct vm *owner = mux.owner;

	mux.switched = true;
	__set_owner(conmux_next_owner(mux.order, CONMUX_MAX_VMS, owner ? mux.order[slot_of(owner)] : CONMUX_MONITOR),
		    true);
}

/* A typed byte for vm: to its virtio-console once the driver is ready, else to its UART. 0, or -EAGAIN when that
 * input is full (it waits, flow-controlled). A VM without a UART drops it, as a PC with no serial port would. */
static int console_input(struct vm *vm, u8 c)
{
	int r = vcon_input(vm, c);

	if (r != -ENODEV)
		return r;
	r = uart_dev_push_rx(vm, c);

	return r == -EAGAIN ? r : 0;
}

/* Under lock. Give the held bytes to vm; false while some remain (its input is full). */
static bool __drain(struct vm *vm)
{
	int c;

	while ((c = conmux_held_peek(&mux.held)) >= 0) {
		if (console_input(vm, (u8)c) == -EAGAIN)
			return false;
		conmux_held_pop(&mux.held);
	}
	return true;
}

void conmux_poll(struct vm *vm)
{
	int c;

	if (!conmux_polls(vm) || !spin_trylock(&mux.lock))
		return;
	struct vm *owner = mux.owner;
	if ((owner && owner != vm) || slot_of(vm) < 0 || (owner && !__drain(owner)))
		goto out;
	while ((c = console_getc()) >= 0) {
		u8 out[CONMUX_SWITCH_N];
		enum conmux_action a;
		u32 n = conmux_key(&mux.keys, (u8)c, out, &a);

		for (u32 i = 0; i < n; i++) {
			if (owner)
				conmux_held_push(&mux.held, out[i]); /* room: drained before this read */
			else
				monitor_key(out[i]);
		}
		if (a == CONMUX_SWITCH) {
			__switch();
			break; /* the rest is the new owner's to read */
		}
		if (a == CONMUX_WS && owner)
			ws_print(owner); /* Ctrl-A w, the working-set report; silent without ws= */
		if (owner && !__drain(owner))
			break;
		if (__atomic_load_n(&vm->ended, __ATOMIC_ACQUIRE))
			break; /* the monitor ended this VM: its vCPU leaves */
	}
out:
	spin_unlock(&mux.lock);
}
