UNIT_SRCS_test_virtio_console := vm/dev/virtio/console.c vm/dev/virtio/virtqueue.c vm/dev/virtio/req.c
