UNIT_SRCS_test_stall := vm/stall.c
