UNIT_SRCS_test_crcheck := vm/crcheck.c
