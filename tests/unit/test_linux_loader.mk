UNIT_SRCS_test_linux_loader := vm/loader/linux.c vm/loader/multiboot.c tests/unit/fake_vm.c
