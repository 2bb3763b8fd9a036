UNIT_SRCS_test_shadow_la57 = $(MMU_UNIT_SRCS) tests/unit/shadow_fixture.c
