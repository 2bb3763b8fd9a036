UNIT_SRCS_test_linux_loader_real_kernel := vm/loader/linux.c vm/loader/multiboot.c tests/unit/fake_vm.c tests/unit/linux_loader_fixture.c
