UNIT_SRCS_test_gwalk_model := mm/shadow/gwalk.c tests/unit/gwalk_fixture.c tests/unit/gwalk_model.c
