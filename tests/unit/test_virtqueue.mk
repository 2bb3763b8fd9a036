UNIT_SRCS_test_virtqueue := vm/dev/virtio/virtqueue.c vm/dev/virtio/req.c
