UNIT_SRCS_test_devices := vm/io.c vm/dev/uart.c vm/dev/debug_exit.c vm/dev/pic.c vm/dev/fw_cfg.c vm/dev/port_e9.c vm/dev/testdev.c tests/unit/fake_vm.c
