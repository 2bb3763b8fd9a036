UNIT_SRCS_test_mb2_fuzz := boot/mb2.c tests/unit/mb2_fixture.c
