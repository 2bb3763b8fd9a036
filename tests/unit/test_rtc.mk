UNIT_SRCS_test_rtc := vm/io.c vm/vtimer.c vm/dev/rtc.c tests/unit/fake_vm.c
