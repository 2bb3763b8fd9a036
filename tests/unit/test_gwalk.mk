UNIT_SRCS_test_gwalk := mm/shadow/gwalk.c
