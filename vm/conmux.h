/*
 * The console multiplexer: the hypervisor's serial line is shared by every running VM and the monitor. Output is
 * prefixed per VM ("[NAME] line"), except that of a console=raw VM while it holds the input. Input belongs to one
 * owner of {VM 1, VM 2, ..., monitor} (configuration order); Ctrl-A three times in a row moves it to the next, and
 * a line "[hv] input: VM NAME" or "[hv] input: monitor" says where it went (vm/conmux_key.h has the key rules).
 *
 * Who reads the host UART: vCPU 0 of the owner VM, in its run loop (as before the multiplexer, so a VM's input
 * costs no other CPU anything); no other VM's vCPU takes a byte. While the monitor owns the input, vCPU 0 of every
 * running VM polls, and whichever gets the multiplexer's lock first runs the monitor: every CPU that could run it
 * is running a vCPU (one vCPU per CPU, no idle loop while VMs run), the commands are short, and with no VM running
 * there is nothing for the monitor to show or end.
 */
#ifndef VM_CONMUX_H
#define VM_CONMUX_H

#include "hv/types.h"
#include "hv/spinlock.h"

struct vm;

/* A VM built from configuration number order may now take the input; before its vCPUs run. Until the user first
 * switches, the input follows the running VM first in configuration order (`make run`'s first VM). */
void conmux_add(struct vm *vm, u32 order);
/* The VM's vCPUs have stopped: forget it (before vm_destroy). If it held the input, the input moves on. */
void conmux_remove(struct vm *vm);

/* Whether vCPU 0 of vm is to poll the host serial line (it holds the input, or the monitor does). */
bool conmux_polls(struct vm *vm);
/* vCPU 0's poll: read typed bytes and give them to their owner. */
void conmux_poll(struct vm *vm);
/* Whether vm's console output goes out as it comes, unprefixed: console=raw while it holds the input. */
bool conmux_is_raw(struct vm *vm);

/* For the monitor (vm/monitor.c), which runs under the multiplexer's lock, so no VM it sees is torn down under it.
 * Fills vms with the running VMs in configuration order; their number. */
#define CONMUX_MAX_VMS 64 /* MAX_CPUS: each running VM holds at least one CPU */
u32 __conmux_vms(struct vm **vms, u32 max);
/* The VM holding the input, or NULL (the monitor). */
struct vm *conmux_owner(void);

#endif
