UNIT_SRCS_test_vlapic_regs := vm/dev/vlapic.c vm/dev/vlapic_ipi.c vm/dev/vlapic_timer.c tests/unit/vlapic_fixture.c
