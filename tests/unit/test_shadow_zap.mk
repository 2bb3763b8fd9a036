UNIT_SRCS_test_shadow_zap = $(MMU_UNIT_SRCS) tests/unit/shadow_fixture.c
