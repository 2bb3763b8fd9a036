UNIT_SRCS_test_gwalk := mm/shadow/gwalk.c tests/unit/gwalk_fixture.c
