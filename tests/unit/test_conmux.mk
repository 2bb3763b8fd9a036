UNIT_SRCS_test_conmux := vm/conmux_key.c
