UNIT_SRCS_test_gwalk_pku := mm/shadow/gwalk.c tests/unit/gwalk_fixture.c tests/unit/gwalk_model.c
