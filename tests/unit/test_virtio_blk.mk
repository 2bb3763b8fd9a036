UNIT_SRCS_test_virtio_blk := vm/dev/virtio/blk.c vm/dev/virtio/req.c tests/unit/virtio_fake.c
