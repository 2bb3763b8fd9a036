UNIT_SRCS_test_virtio_blk := vm/dev/virtio/blk.c tests/unit/virtio_fake.c tests/unit/virtio_req_stub.c
