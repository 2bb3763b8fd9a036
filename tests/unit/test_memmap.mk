UNIT_SRCS_test_memmap := mm/memmap.c
