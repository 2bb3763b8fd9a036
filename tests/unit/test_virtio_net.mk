UNIT_SRCS_test_virtio_net := vm/dev/virtio/net.c vm/dev/virtio/vswitch.c tests/unit/vnet_fake.c
