UNIT_SRCS_test_memslot := vm/memslot.c mm/track/level.c
