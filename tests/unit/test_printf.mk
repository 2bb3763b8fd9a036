UNIT_SRCS_test_printf := kernel/printf.c
