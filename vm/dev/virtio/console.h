/*
 * virtio-console (virtio 1.2, 5.3), one port, no MULTIPORT: receiveq 0 carries typed bytes to the guest (hvc0 in
 * Linux), transmitq 1 carries its output to the VM's console path (vm_console_putc: prefixed per line like the
 * UART's, unless the VM holds the input with console=raw). Made for VMs with virtcon=on (vm/config.h); the UART
 * stays for early boot and for guests that never load the driver: the multiplexer gives input here only once the
 * driver has set DRIVER_OK, and to the UART before that (vm/conmux.c).
 */
#ifndef VM_DEV_VIRTIO_CONSOLE_H
#define VM_DEV_VIRTIO_CONSOLE_H

#include "hv/types.h"

#define VIRTIO_CONSOLE_RXQ 0
#define VIRTIO_CONSOLE_TXQ 1
/* 5.3.4: struct virtio_console_config { le16 cols, rows; le32 max_nr_ports; le32 emerg_wr; } */
#define VIRTIO_CONSOLE_CONFIG_LEN 12

struct vm;
struct virtio_dev;

/* Create the device on the VM's PCI bus (vm->devices[VM_DEV_VIRTIO_CONSOLE]). 0, -ENODEV (no bus), -ENOMEM,
 * -ENOSPC. While the VM is being built. */
int vcon_add(struct vm *vm);
/* A typed byte for the guest: 0 when a receive buffer took it; -EAGAIN when the driver is ready but has no receive
 * buffer posted (the byte waits, flow-controlled); -ENODEV when the VM has no virtio console or its driver is not
 * ready (DRIVER_OK unset, or the device needs a reset): the UART takes it then. */
int vcon_input(struct vm *vm, u8 c);

/* The model itself, on an initialised virtio_dev (ops, vm, mem): for vcon_add and for host unit tests. */
extern const struct virtio_dev_ops vcon_ops;
int vcon_dev_input(struct virtio_dev *d, u8 c);

#endif
