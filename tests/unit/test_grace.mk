UNIT_SRCS_test_grace := mm/grace.c
