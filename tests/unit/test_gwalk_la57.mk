UNIT_SRCS_test_gwalk_la57 := mm/shadow/gwalk.c tests/unit/gwalk_fixture.c
