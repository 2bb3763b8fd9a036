UNIT_SRCS_test_vswitch := vm/dev/virtio/vswitch.c
