UNIT_SRCS_test_io := vm/io.c
