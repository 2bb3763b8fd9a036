UNIT_SRCS_test_pci := vm/io.c vm/dev/pci.c tests/unit/fake_vm.c
