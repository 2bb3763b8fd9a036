UNIT_SRCS_test_shadow_legacy32 = $(MMU_UNIT_SRCS) tests/unit/shadow_fixture.c
