UNIT_SRCS_test_queue := vm/queue.c
