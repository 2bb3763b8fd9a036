UNIT_SRCS_test_shadow_unsync_race = $(MMU_UNIT_SRCS) tests/unit/shadow_fixture.c
