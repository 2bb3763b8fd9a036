UNIT_SRCS_test_mb2 := boot/mb2.c tests/unit/mb2_fixture.c
