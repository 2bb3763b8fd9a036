UNIT_SRCS_test_shadow_prefetch = $(MMU_UNIT_SRCS) tests/unit/shadow_fixture.c
