UNIT_SRCS_test_virtio_pci := vm/io.c vm/dev/pci.c vm/dev/virtio/virtio_pci.c vm/dev/virtio/virtio_irq.c \
	vm/dev/virtio/virtqueue.c vm/dev/virtio/req.c tests/unit/fake_vm.c
