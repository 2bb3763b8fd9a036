UNIT_SRCS_test_pit := vm/io.c vm/vtimer.c vm/dev/pit.c tests/unit/fake_vm.c
