UNIT_SRCS_test_shadow_invlpg = $(MMU_UNIT_SRCS) tests/unit/shadow_fixture.c
