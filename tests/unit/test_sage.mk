UNIT_SRCS_test_sage = $(MMU_UNIT_SRCS) tests/unit/shadow_fixture.c
