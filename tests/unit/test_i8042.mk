UNIT_SRCS_test_i8042 := vm/io.c vm/dev/i8042.c vm/dev/port80.c vm/dev/ioapic.c tests/unit/fake_vm.c
