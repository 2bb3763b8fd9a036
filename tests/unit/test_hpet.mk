UNIT_SRCS_test_hpet := vm/io.c vm/vtimer.c vm/dev/hpet.c tests/unit/fake_vm.c
