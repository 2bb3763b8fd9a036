UNIT_SRCS_test_ioapic := vm/io.c vm/dev/ioapic.c tests/unit/fake_vm.c
