UNIT_SRCS_test_vlapic := vm/dev/vlapic.c vm/dev/vlapic_timer.c
