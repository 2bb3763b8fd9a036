UNIT_SRCS_test_ws := vm/ws_gen.c kernel/printf.c
