UNIT_SRCS_test_inbox := vm/inbox.c vm/dev/vlapic.c vm/dev/vlapic_ipi.c vm/dev/vlapic_timer.c tests/unit/inbox_fixture.c
