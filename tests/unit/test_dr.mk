UNIT_SRCS_test_dr := vm/dr.c
