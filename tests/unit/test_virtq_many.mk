UNIT_SRCS_test_virtq_many := vm/dev/virtio/virtqueue.c vm/dev/virtio/req.c
