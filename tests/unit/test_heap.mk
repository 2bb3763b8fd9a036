UNIT_SRCS_test_heap := mm/heap.c
