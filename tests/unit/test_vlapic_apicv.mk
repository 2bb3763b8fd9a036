UNIT_SRCS_test_vlapic_apicv := vm/dev/vlapic.c vm/dev/vlapic_ipi.c vm/dev/vlapic_timer.c vm/dev/vlapic_apicv.c tests/unit/vlapic_fixture.c
