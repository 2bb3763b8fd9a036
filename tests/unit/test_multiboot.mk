UNIT_SRCS_test_multiboot := vm/loader/multiboot.c tests/unit/fake_vm.c
